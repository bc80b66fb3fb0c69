"""safetensors fixtures: files written by safetensors.numpy.save_file in the naming of the models that ship
as safetensors (HF ViT, DINOv2, CLIP/SigLIP, open_clip, FP8 checkpoints), the real DINOv2 sample, broken
copies of real files, and with `big` a ViT-L/16-shaped 1.2 GB file. Run directly, it writes the fuzz seeds:
`fixtures_safetensors.py fuzz/seeds/safetensors`."""
import json
import shutil
import struct
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import safetensors
from safetensors import safe_open
from safetensors.numpy import save_file

from fixtures import REPO, filters, fixture_entry, weights

# The real DINOv2 sample lives beside the repository (REPO.parent / "shared" / "samples" in CI); a git
# worktree one level deeper finds it one more level up.
SAMPLE_NAME = "dinov2-small-patch-embed.safetensors"
SAMPLE_DIRS = [REPO.parent / "shared" / "samples", REPO.parents[1] / "shared" / "samples"]

# safetensors dtype codes -> the numpy-style names patchlens lists.
DTYPE_NAMES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
    "I64": "int64", "U64": "uint64", "I32": "int32", "U32": "uint32", "I16": "int16", "U16": "uint16",
    "I8": "int8", "U8": "uint8", "BOOL": "bool", "C64": "complex64",
}
NUMPY_TYPES = {"BF16": ml_dtypes.bfloat16, "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2}


def torch_kernel(rng, n, c, kh, kw, dtype=np.float32):
    """A PyTorch-layout (n, c, kh, kw) conv weight with the stripe filters of fixtures.filters."""
    return np.ascontiguousarray(filters(rng, (kh, kw, c, n), np.float64).transpose(3, 2, 0, 1)).astype(dtype)


def as_hwcn(weight):
    return weight.transpose(2, 3, 1, 0)


def listing(path):
    """[{"name", "dtype", "shape"}] in data-offset order, as the safetensors library reads the file."""
    with safe_open(path, "np") as f:
        return [{"name": k, "dtype": DTYPE_NAMES.get(f.get_slice(k).get_dtype(), f.get_slice(k).get_dtype()),
                 "shape": list(f.get_slice(k).get_shape())} for k in f.offset_keys()]


def read_back(path):
    """{name: array} through the library's own deserializer (numpy itself has no float8 to hand back)."""
    out = {}
    for name, view in safetensors.deserialize(Path(path).read_bytes()):
        dtype = NUMPY_TYPES.get(view["dtype"]) or np.dtype(DTYPE_NAMES[view["dtype"]])
        out[name] = np.frombuffer(bytes(view["data"]), dtype).reshape(view["shape"])
    return out


def save(path, arrays, metadata=None):
    save_file(arrays, path, metadata=metadata)
    back = read_back(path)
    for name, array in arrays.items():
        if back[name].dtype != array.dtype or back[name].tobytes() != np.ascontiguousarray(array).tobytes():
            raise AssertionError(f"{path}: {name} reads back differently from what was written")
    return arrays


# --- valid fixtures: (file, writer(path, rng) -> {name: array}, seed, default tensor, tiled names, note) ---
# Their kernels are PyTorch's (out, in, kh, kw), but for these files, whose writer keeps (kh, kw, in, out):
HWIO_FILES = {"flax_vit_hwio.safetensors"}

def hf_vit(path, rng, n=32):
    p = "vit.embeddings."
    return save(path, {
        p + "cls_token": weights(rng, (1, 1, n)),
        p + "position_embeddings": weights(rng, (1, 5, n)),
        p + "patch_embeddings.projection.weight": torch_kernel(rng, n, 3, 16, 16),
        p + "patch_embeddings.projection.bias": weights(rng, (n,)),
        "vit.encoder.layer.0.attention.attention.query.weight": weights(rng, (n, n)),
        "vit.encoder.layer.0.layernorm_before.weight": weights(rng, (n,)),
        "vit.layernorm.weight": weights(rng, (n,)),
        "classifier.weight": weights(rng, (10, n)),
        "classifier.bias": weights(rng, (10,)),
    }, metadata={"format": "pt"})


def dinov2_named(path, rng, n=24):
    kernel = torch_kernel(rng, n, 3, 14, 14, np.float16)
    kernel[3, 1, 2, 5] = np.nan
    return save(path, {
        "embeddings.cls_token": weights(rng, (1, 1, n), np.float16),
        "embeddings.mask_token": weights(rng, (1, n), np.float16),
        "embeddings.position_embeddings": weights(rng, (1, 17, n), np.float16),
        "embeddings.patch_embeddings.projection.weight": kernel,
        "embeddings.patch_embeddings.projection.bias": weights(rng, (n,), np.float16),
        "encoder.layer.0.layer_scale1.lambda1": weights(rng, (n,), np.float16),
        "layernorm.weight": weights(rng, (n,), np.float16),
    }, metadata={"format": "pt"})


def dinov2_sample(path, rng):
    sample = next((d / SAMPLE_NAME for d in SAMPLE_DIRS if (d / SAMPLE_NAME).exists()), None)
    if sample is None:
        raise FileNotFoundError(f"{SAMPLE_NAME} not found in {[str(d) for d in SAMPLE_DIRS]}")
    shutil.copyfile(sample, path)
    return read_back(path)


def clip_bf16(path, rng, n=32):
    v, t = "vision_model.", "text_model."
    return save(path, {
        v + "embeddings.class_embedding": weights(rng, (n,), ml_dtypes.bfloat16),
        v + "embeddings.patch_embedding.weight": torch_kernel(rng, n, 3, 14, 14, ml_dtypes.bfloat16),
        v + "embeddings.position_embedding.weight": weights(rng, (17, n), ml_dtypes.bfloat16),
        v + "pre_layrnorm.weight": weights(rng, (n,), ml_dtypes.bfloat16),
        t + "embeddings.token_embedding.weight": weights(rng, (100, n), ml_dtypes.bfloat16),
        "logit_scale": np.array(4.6, ml_dtypes.bfloat16),
    })


def open_clip_f64(path, rng, n=16):
    return save(path, {
        "visual.class_embedding": weights(rng, (n,), np.float64),
        "visual.conv1.weight": torch_kernel(rng, n, 3, 8, 8, np.float64),
        "visual.positional_embedding": weights(rng, (5, n), np.float64),
        "token_embedding.weight": weights(rng, (50, n), np.float64),
        "logit_scale": np.array(4.6, np.float64),
    }, metadata={"format": "pt", "open_clip": "ViT-B-32 layout, float64"})


def float8(dtype, name):
    """An FP8 checkpoint's kernel with its per-tensor scale beside it, as FP8-quantised exports store them."""
    def write(path, rng, n=16):
        kernel = (torch_kernel(rng, n, 3, 8, 8, np.float64) * 40).astype(dtype)
        return save(path, {name: kernel, name.replace(".weight", ".weight_scale"): np.array([0.025], np.float32)})
    return write


def flax_vit(path, rng, n=16):
    """A Flax ViT's parameters saved with `format: flax`, kernels in Flax's own (kh, kw, in, out) layout."""
    p = "vit/embeddings/"
    return save(path, {
        p + "cls_token": weights(rng, (1, 1, n)),
        p + "position_embeddings": weights(rng, (1, 5, n)),
        p + "patch_embeddings/projection/kernel": filters(rng, (16, 16, 3, n), np.float32),
        p + "patch_embeddings/projection/bias": weights(rng, (n,)),
        "classifier/kernel": weights(rng, (n, 10)),
    }, metadata={"format": "flax"})


def ints_beside(path, rng):
    return save(path, {
        "bn1.num_batches_tracked": np.array(1234, np.int64),
        "bn1.weight": weights(rng, (8,)),
        "conv1.weight": torch_kernel(rng, 8, 3, 7, 7),
        "quant.conv.weight": rng.integers(-128, 128, (8, 3, 3, 3), dtype=np.int8),
        "quant.zero_point": rng.integers(0, 255, (8,), dtype=np.uint8),
        "quant.scale_index": rng.integers(0, 1000, (8,), dtype=np.int32),
        "quant.offsets": rng.integers(0, 1000, (4,), dtype=np.int16),
        "mask": rng.integers(0, 2, (4, 4)).astype(bool),
    })


FIXTURES = [
    ("hf_vit_f32.safetensors", hf_vit, 101, "vit.embeddings.patch_embeddings.projection.weight",
     ["vit.embeddings.patch_embeddings.projection.weight"],
     "HF ViTForImageClassification names, float32 (32, 3, 16, 16) kernel; __metadata__ format = pt"),
    ("dinov2_f16.safetensors", dinov2_named, 102, "embeddings.patch_embeddings.projection.weight",
     ["embeddings.patch_embeddings.projection.weight"], "HF Dinov2Model names, float16 (24, 3, 14, 14), one NaN"),
    ("dinov2_small_patch_embed.safetensors", dinov2_sample, 0, "embeddings.patch_embeddings.projection.weight",
     ["embeddings.patch_embeddings.projection.weight"],
     "copy of shared/samples/dinov2-small-patch-embed.safetensors: real DINOv2 ViT-S/14 weights, float16"),
    ("clip_bf16.safetensors", clip_bf16, 103, "vision_model.embeddings.patch_embedding.weight",
     ["vision_model.embeddings.patch_embedding.weight"], "HF CLIP/SigLIP vision_model names, ml_dtypes bfloat16"),
    ("open_clip_f64.safetensors", open_clip_f64, 104, "visual.conv1.weight", ["visual.conv1.weight"],
     "open_clip names (visual.conv1.weight), float64, scaled in float64"),
    ("f8_e4m3.safetensors", float8(ml_dtypes.float8_e4m3fn, "patch_embed.proj.weight"), 105,
     "patch_embed.proj.weight", ["patch_embed.proj.weight"], "F8_E4M3 (float8_e4m3fn) timm-named kernel + f32 scale"),
    ("f8_e5m2.safetensors", float8(ml_dtypes.float8_e5m2, "conv1.weight"), 106, "conv1.weight", ["conv1.weight"],
     "F8_E5M2 kernel + f32 scale"),
    ("flax_vit_hwio.safetensors", flax_vit, 108, "vit/embeddings/patch_embeddings/projection/kernel",
     ["vit/embeddings/patch_embeddings/projection/kernel"],
     "__metadata__ format = flax: a Flax ViT's (kh, kw, in, out) kernel, read by its shape as in an .npz"),
    ("ints_beside.safetensors", ints_beside, 107, "conv1.weight", ["conv1.weight"],
     "int64/int32/int16/int8/uint8/bool tensors listed beside a float32 conv1; the int8 4-D one is not drawable"),
]


# --- broken copies of real files: each returns (stage, note) ---

def split(path):
    """(header dict, data bytes) of a safetensors file as the library wrote it."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join(path, header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + data)


def small_vit(path):
    return hf_vit(path, np.random.default_rng(7), n=8)


def header_length_huge(path):
    small_vit(path)
    raw = bytearray(path.read_bytes())
    raw[:8] = struct.pack("<Q", 2**32 - 1)
    path.write_bytes(bytes(raw))
    return "open", "header length field 2**32 - 1: over the 100 MB limit the safetensors crate enforces"


def header_length_past_end(path):
    small_vit(path)
    raw = bytearray(path.read_bytes())
    raw[:8] = struct.pack("<Q", len(raw))
    path.write_bytes(bytes(raw))
    return "open", "header length field = the file's size: the header would run past the end"


def invalid_json(path):
    small_vit(path)
    raw = bytearray(path.read_bytes())
    raw[9:11] = b"\x00;"  # inside the first key's string
    path.write_bytes(bytes(raw))
    return "open", "two bytes of the JSON header replaced by a NUL and a semicolon"


def _edit(path, change, note):
    small_vit(path)
    header, data = split(path)
    change(header, data)
    join(path, header, data)
    return "open", note


def offsets_overlap(path):
    def change(header, data):
        name = "vit.embeddings.patch_embeddings.projection.weight"
        start, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = [start - 16, end - 16]
    return _edit(path, change, "the kernel's data_offsets moved 16 bytes back, over the previous tensor")


def offsets_past_end(path):
    def change(header, data):
        last = max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])
        start, end = header[last]["data_offsets"]
        header[last]["data_offsets"] = [start, end + 4096]
        header[last]["shape"] = [(end + 4096 - start) // 4]
    return _edit(path, change, "last tensor's range (and shape) extended 4096 bytes past the end of the file")


def shape_mismatch(path):
    def change(header, data):
        header["vit.embeddings.patch_embeddings.projection.weight"]["shape"] = [8, 3, 16, 17]
    return _edit(path, change, "kernel shape (8, 3, 16, 17) float32 but its data range holds (8, 3, 16, 16)")


def truncated_data(path):
    small_vit(path)
    raw = path.read_bytes()
    _, data = split(path)
    path.write_bytes(raw[: len(raw) - len(data) // 2])
    return "open", "file cut halfway through the tensor data"


def truncated_header(path):
    small_vit(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:200])
    return "open", "file cut 200 bytes in, inside the JSON header"


ERRORS = [header_length_huge, header_length_past_end, invalid_json, offsets_overlap, offsets_past_end,
          shape_mismatch, truncated_data, truncated_header]


# --- the big bytes-read fixture: HF ViT-L/16 (ViTForImageClassification) tensor list, float32 ---

def vit_l16_tensors(d=1024, mlp=4096, layers=24, tokens=197, classes=1000):
    p = "vit."
    shapes = {p + "embeddings.cls_token": (1, 1, d), p + "embeddings.position_embeddings": (1, tokens, d),
              p + "embeddings.patch_embeddings.projection.weight": (d, 3, 16, 16),
              p + "embeddings.patch_embeddings.projection.bias": (d,)}
    for i in range(layers):
        layer = f"{p}encoder.layer.{i}."
        for part in ("query", "key", "value"):
            shapes[f"{layer}attention.attention.{part}.weight"] = (d, d)
            shapes[f"{layer}attention.attention.{part}.bias"] = (d,)
        shapes[layer + "attention.output.dense.weight"] = (d, d)
        shapes[layer + "attention.output.dense.bias"] = (d,)
        shapes[layer + "intermediate.dense.weight"] = (mlp, d)
        shapes[layer + "intermediate.dense.bias"] = (mlp,)
        shapes[layer + "output.dense.weight"] = (d, mlp)
        shapes[layer + "output.dense.bias"] = (d,)
        for norm in ("layernorm_before", "layernorm_after"):
            shapes[f"{layer}{norm}.weight"] = (d,)
            shapes[f"{layer}{norm}.bias"] = (d,)
    shapes[p + "layernorm.weight"] = (d,)
    shapes[p + "layernorm.bias"] = (d,)
    shapes["classifier.weight"] = (classes, d)
    shapes["classifier.bias"] = (classes,)
    return shapes


def build_big(outdir):
    file = "hf_vit_l16.safetensors"
    shapes = vit_l16_tensors()
    largest = max(int(np.prod(s)) for s in shapes.values())
    # Fast deterministic fill: every tensor is a view of one shared ramp (the writer copies each out).
    ramp = (np.arange(largest, dtype=np.float32) % 997) * np.float32(1e-4)
    kernel_name = "vit.embeddings.patch_embeddings.projection.weight"
    kernel = torch_kernel(np.random.default_rng(16), *shapes[kernel_name])
    arrays = {name: ramp[: int(np.prod(s))].reshape(s) for name, s in shapes.items()}
    arrays[kernel_name] = kernel
    save_file(arrays, outdir / file, metadata={"format": "pt"})
    with safe_open(outdir / file, "np") as f:
        if not np.array_equal(f.get_tensor(kernel_name), kernel):
            raise AssertionError(f"{file}: the kernel reads back differently")
    return fixture_entry(outdir, file, kernel_name, listing(outdir / file), [],
                         "HF ViT-L/16 (ViTForImageClassification) tensor list, float32, ramp fill; bytes-read test",
                         big=True, kernel_bytes=kernel.nbytes)


def build(outdir, big):
    outdir = Path(outdir)
    fixtures = []
    for file, writer, seed, default, tiled, note in FIXTURES:
        path = outdir / file
        arrays = writer(path, np.random.default_rng(seed))
        tensors = listing(path)
        fixtures.append(fixture_entry(outdir, file, default, tensors,
                                      [(name, arrays[name] if file in HWIO_FILES else as_hwcn(arrays[name]))
                                       for name in tiled], note))
    errors = []
    for write in ERRORS:
        file = f"broken_{write.__name__}.safetensors"
        stage, note = write(outdir / file)
        errors.append({"file": file, "stage": stage, "reason": note})
    if big:
        fixtures.append(build_big(outdir))
    return fixtures, errors


def write_seeds(seed_dir):
    """Small valid files for the fuzzer's seed corpus (each well under 64 KiB)."""
    seed_dir = Path(seed_dir)
    seed_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    hf_vit(seed_dir / "hf_vit_f32.safetensors", rng, n=4)
    dinov2_named(seed_dir / "dinov2_f16.safetensors", rng, n=4)
    clip_bf16(seed_dir / "clip_bf16.safetensors", rng, n=4)
    float8(ml_dtypes.float8_e4m3fn, "patch_embed.proj.weight")(seed_dir / "f8_e4m3.safetensors", rng, n=4)
    ints_beside(seed_dir / "ints_beside.safetensors", rng)
    flax_vit(seed_dir / "flax_vit_hwio.safetensors", rng, n=4)
    for path in seed_dir.iterdir():
        if path.stat().st_size >= 64 << 10:
            raise AssertionError(f"{path} is too big for a seed")


if __name__ == "__main__":
    write_seeds(sys.argv[1])
