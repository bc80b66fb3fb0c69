"""Position-embedding fixtures: checkpoints in each family's layout (AugReg and big_vision .npz, timm and
Hugging Face CLIP .safetensors, DeiT with a distillation token, a llama.cpp GGUF), written by numpy,
safetensors and gguf, and the colour-map index matplotlib gives every pixel of the two similarity images:
  cosine: tile (r, c) of g × g pixels shows cos(p[r, c], p[i, j]) at (i, j), 1-px gaps,
          `matplotlib.colormaps["viridis"](Normalize(-1, 1)(cos), bytes=True)`;
  dot:    the Gram matrix P·Pᵀ (extra tokens dropped), `colormaps["inferno"]` over its finite min and max.
Index files are u16 little-endian per pixel: the table entry drawn (0–255; under and over take the end
entries), 256 for bad (NaN, drawn transparent), 65535 for a gap."""
import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, Normalize

from fixtures import describe, filters, fixture_entry, savez
from fixtures_gguf import read_back as gguf_read_back
from fixtures_gguf import write as gguf_write
from fixtures_safetensors import as_hwcn, listing, save, torch_kernel
import ml_dtypes

GAP = 1
BAD, GAP_INDEX = 256, 0xFFFF
N = 256
# A map whose entry k is min((k + 0.5) / 255, 1) in red, so `bytes=True` hands back k itself (matplotlib
# truncates `lut * 255`), and whose under / over / bad colours are told apart by green and blue: the index
# comes out of matplotlib's own Colormap.__call__ rather than a copy of its rule.
RED = np.minimum((np.arange(N) + 0.5) / 255, 1.0)
INDEX_MAP = ListedColormap(np.stack([RED, np.zeros(N), np.zeros(N), np.ones(N)], axis=1)) \
    .with_extremes(under=(0, 1, 0, 1), over=(0, 0, 1, 1), bad=(1, 1, 1, 1))


def colormap_index(cmap_name, normalized):
    """(entry drawn 0–255 or BAD, matplotlib's slot: 0–255, 256 under, 257 over, 258 bad), checking the real
    colour map's bytes against its table."""
    rgba = INDEX_MAP(normalized, bytes=True)
    red, green, blue = rgba[..., 0].astype(np.uint16), rgba[..., 1], rgba[..., 2]
    slot = np.where((green == 255) & (blue == 255), 258,
                    np.where(green == 255, 256, np.where(blue == 255, 257, red)))
    drawn = np.where(slot == 256, 0, np.where(slot == 257, N - 1, np.where(slot == 258, BAD, slot)))
    real = matplotlib.colormaps[cmap_name](normalized, bytes=True)
    table = lut(cmap_name)
    want = np.where((drawn == BAD)[..., None], 0, np.concatenate([table[np.minimum(drawn, N - 1)],
                                                                   np.full(drawn.shape + (1,), 255)], axis=-1))
    if not np.array_equal(real, want.astype(np.uint8)):
        raise AssertionError(f"{cmap_name}: the index map and the colour map disagree")
    return drawn.astype(np.uint16), slot


def lut(cmap_name):
    return matplotlib.colormaps[cmap_name](np.arange(N), bytes=True)[:, :3]


def cosine_matrix(p):
    unit = p / np.linalg.norm(p, axis=1, keepdims=True)
    return unit @ unit.T


def tiled(index, rows, cols, gap=GAP):
    """The cosine image: tile (r, c) is row r * cols + c of the N × N index matrix, as rows × cols pixels."""
    image = np.full((rows * rows + (rows - 1) * gap, cols * cols + (cols - 1) * gap), GAP_INDEX, np.uint16)
    for a in range(rows * cols):
        r, c = divmod(a, cols)
        y, x = r * (rows + gap), c * (cols + gap)
        image[y:y + rows, x:x + cols] = index[a].reshape(rows, cols)
    return image


def expected_images(outdir, stem, embedding, extra, rows, cols):
    """Writes `<stem>.cosine.u16` and `<stem>.dot.u16` from the embedding as stored (any float dtype)."""
    p = np.asarray(embedding, np.float64).reshape(-1, embedding.shape[-1])[extra:]
    if p.shape[0] != rows * cols:
        raise AssertionError(f"{stem}: {p.shape[0]} positions, not {rows} × {cols}")
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = cosine_matrix(p)
    cosine, _ = colormap_index("viridis", Normalize(-1, 1)(cos))
    gram = p @ p.T
    finite = gram[np.isfinite(gram)]
    dot, _ = colormap_index("inferno", Normalize(float(finite.min()), float(finite.max()))(gram))
    files = {"cosine": f"{stem}.cosine.u16", "dot": f"{stem}.dot.u16"}
    image = tiled(cosine, rows, cols)
    (outdir / files["cosine"]).write_bytes(image.astype("<u2").tobytes())
    (outdir / files["dot"]).write_bytes(dot.astype("<u2").tobytes())
    return {**files, "cosine_size": [image.shape[1], image.shape[0]], "dot_size": [rows * cols, rows * cols],
            "gap": GAP, "dot_range": [float(finite.min()), float(finite.max())]}


def sincos(rng, rows, cols, width, extra, noise=0.15):
    """A trained-looking position embedding: 2-D sine-cosine features (MAE's fixed embedding) plus noise,
    then `extra` random leading tokens, so similarities span [-1, 1] with nearby positions alike."""
    quarter = width // 4
    omega = 1.0 / 10000 ** (np.arange(quarter) / max(quarter, 1))
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    parts = [f(axis.reshape(-1, 1) * omega) for axis in (r, c) for f in (np.sin, np.cos)]
    grid = np.concatenate(parts, axis=1)
    grid = np.pad(grid, ((0, 0), (0, width - grid.shape[1])))
    grid = grid + rng.normal(0, noise, grid.shape)
    return np.concatenate([rng.normal(0, 0.02, (extra, width)), grid])


def entry(outdir, file, tensors, patch_default, position, extra, rows, cols, note, embedding):
    stem = file.replace(".", "_")
    images = expected_images(outdir, stem, embedding, extra, rows, cols)
    return fixture_entry(outdir, file, patch_default, tensors, [], note,
                         positions={"tensor": position, "extra_tokens": extra, "rows": rows, "cols": cols, **images})


def augreg_npz(outdir, rng):
    file = "positions_augreg.npz"
    pos = sincos(rng, 14, 14, 64, 1)[None].astype(np.float32)  # (1, 197, 64)
    arrays = {"Transformer/encoder_norm/bias": rng.normal(0, 0.02, (64,)).astype(np.float32),
              "Transformer/posembed_input/pos_embedding": pos, "cls": pos[:, :1].copy(),
              "embedding/kernel": filters(rng, (16, 16, 3, 64))}
    savez(outdir / file, arrays)
    return entry(outdir, file, describe(outdir / file), "embedding/kernel", "Transformer/posembed_input/pos_embedding",
                 1, 14, 14, "AugReg .npz (1, 197, 64) float32 among the patch embedding, a class token and a bias", pos)


def siglip_npz(outdir, rng):
    file = "positions_siglip.npz"
    pos = np.asfortranarray(sincos(rng, 16, 16, 48, 0)[None].astype(np.float32))  # (1, 256, 48), no class token
    txt = rng.normal(0, 0.02, (1, 64, 48)).astype(np.float32)  # 8 × 8: square, but the text tower's
    arrays = {"params/txt/pos_embedding": txt, "params/img/pos_embedding": pos,
              "params/img/embedding/kernel": filters(rng, (16, 16, 3, 48))}
    savez(outdir / file, arrays)
    return entry(outdir, file, describe(outdir / file), "params/img/embedding/kernel", "params/img/pos_embedding", 0,
                 16, 16, "big_vision SigLIP .npz: (1, 256, 48) Fortran-order, no class token; the text tower's "
                 "(1, 64, 48) comes first and is passed over", pos)


def timm_f16(outdir, rng):
    file = "positions_dino_f16.safetensors"
    teacher = sincos(rng, 24, 24, 40, 1).astype(np.float16)[None]  # (1, 577, 40): width not a multiple of 8
    student = sincos(rng, 24, 24, 40, 1).astype(np.float16)[None]
    path = outdir / file
    save(path, {"student.backbone.pos_embed": student, "teacher.backbone.pos_embed": teacher,
                "teacher.backbone.cls_token": teacher[:, :1].copy(),
                "teacher.backbone.patch_embed.proj.weight": torch_kernel(rng, 40, 3, 14, 14, np.float16)})
    return entry(outdir, file, listing(path), "teacher.backbone.patch_embed.proj.weight",
                 "teacher.backbone.pos_embed", 1, 24, 24,
                 "timm / DINO .safetensors float16 (1, 577, 40), teacher and student copies", teacher)


def clip_bf16(outdir, rng):
    file = "positions_clip_bf16.safetensors"
    pos = sincos(rng, 7, 7, 32, 1).astype(ml_dtypes.bfloat16)  # (50, 32): ViT-B/32 at 224
    path = outdir / file
    save(path, {"text_model.embeddings.position_embedding.weight": rng.normal(0, 0.02, (77, 32)).astype(ml_dtypes.bfloat16),
                "vision_model.embeddings.patch_embedding.weight": torch_kernel(rng, 32, 3, 32, 32).astype(ml_dtypes.bfloat16),
                "vision_model.embeddings.position_embedding.weight": pos})
    return entry(outdir, file, listing(path), "vision_model.embeddings.patch_embedding.weight",
                 "vision_model.embeddings.position_embedding.weight", 1, 7, 7,
                 "Hugging Face CLIP .safetensors bfloat16 (50, 32) beside the text model's (77, 32)", pos)


def deit_f64(outdir, rng):
    file = "positions_deit_f64.safetensors"
    pos = sincos(rng, 14, 14, 24, 2)[None]  # (1, 198, 24) float64: class and distillation tokens
    pos[0, 2 + 5 * 14 + 3] = 0.0  # one position all zeros: its cosines are NaN, drawn as bad
    path = outdir / file
    save(path, {"cls_token": pos[:, :1].copy(), "dist_token": pos[:, 1:2].copy(), "pos_embed": pos,
                "patch_embed.proj.weight": torch_kernel(rng, 24, 3, 16, 16)})
    return entry(outdir, file, listing(path), "patch_embed.proj.weight", "pos_embed", 2, 14, 14,
                 "DeiT .safetensors float64 (1, 198, 24): class + distillation tokens; position (5, 3) is zero", pos)


def llava_gguf(outdir, rng):
    file = "positions_clip.gguf"
    pos = sincos(rng, 12, 12, 32, 1).astype(np.float32)  # (145, 32)
    path = outdir / file
    gguf_write(path, "clip", [("v.patch_embd.weight", torch_kernel(rng, 32, 3, 14, 14), None),
                              ("v.position_embd.weight", pos, None)])
    listed, floats = gguf_read_back(path)
    if not np.array_equal(floats["v.position_embd.weight"].reshape(pos.shape), pos):
        raise AssertionError(f"{file}: the position embedding reads back differently")
    return entry(outdir, file, listed, "v.patch_embd.weight", "v.position_embd.weight", 1, 12, 12,
                 "llama.cpp CLIP .gguf float32 (145, 32), dims stored reversed", pos)


def colormap_tables(outdir):
    for name in ("viridis", "inferno"):
        (outdir / f"colormap.{name}.u8").write_bytes(lut(name).tobytes())


def build(outdir, big=False):
    rng = np.random.default_rng(77)
    colormap_tables(outdir)
    fixtures = [augreg_npz(outdir, rng), siglip_npz(outdir, rng), timm_f16(outdir, rng), clip_bf16(outdir, rng),
                deit_f64(outdir, rng), llava_gguf(outdir, rng)]
    return fixtures, []
