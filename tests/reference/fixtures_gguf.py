"""GGUF fixtures: files written by the gguf package's GGUFWriter (CLIP/LLaVA projector naming, f16/bf16/f64
kernels, Q8_0/Q4_0 tensors from gguf.quants, custom alignment, big-endian, an LLM-like file with a 200k-string
tokenizer), and broken copies of real files. Run directly, it writes the fuzz seeds:
`fixtures_gguf.py fuzz/seeds/gguf`."""
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFEndian, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from fixtures import fixture_entry, weights
from fixtures_safetensors import as_hwcn, torch_kernel

DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64",
               "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64"}


def write(path, arch, tensors, kvs=(), alignment=None, big_endian=False):
    """tensors: [(name, array, raw type or None)]; kvs: [(method name, key, value)]."""
    endian = GGUFEndian.BIG if big_endian else GGUFEndian.LITTLE
    writer = GGUFWriter(path, arch, endianess=endian)
    if alignment:
        writer.add_custom_alignment(alignment)
    for method, key, value in kvs:
        getattr(writer, method)(key, value)
    for name, array, raw in tensors:
        if raw in (T.BF16, T.Q8_0, T.Q4_0):
            writer.add_tensor(name, quantize(array.astype(np.float32), raw), raw_dtype=raw)
        else:
            writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def read_back(path):
    """([{"name", "dtype", "shape"}] in tensor-info order, shape reversed to PyTorch order; {name: float array})."""
    reader = GGUFReader(path)
    listed, floats = [], {}
    for t in reader.tensors:
        kind = t.tensor_type.name
        listed.append({"name": t.name, "dtype": DTYPE_NAMES.get(kind, kind), "shape": [int(d) for d in t.shape[::-1]]})
        if kind in ("F32", "F16", "F64"):
            floats[t.name] = np.array(t.data)
        elif kind == "BF16":
            floats[t.name] = dequantize(t.data, t.tensor_type)  # bf16 -> f32 is exact
    return listed, floats


def clip_kvs(image_size=224, patch_size=14):
    return [("add_bool", "clip.has_vision_encoder", True), ("add_string", "clip.projector_type", "mlp"),
            ("add_uint32", "clip.vision.image_size", image_size), ("add_uint32", "clip.vision.patch_size", patch_size),
            ("add_uint32", "clip.vision.embedding_length", 32),
            ("add_array", "clip.vision.image_mean", [0.48145466, 0.4578275, 0.40821073]),
            ("add_string", "general.name", "patchlens test projector")]


def projector(rng, kernel, n=32, dtype=np.float32):
    """A CLIP/LLaVA projector's vision tensors around `kernel`, in the order llama.cpp's converter writes."""
    return [("v.class_embd", weights(rng, (n,), dtype), None), ("v.patch_embd.weight", kernel, None),
            ("v.position_embd.weight", weights(rng, (17, n), dtype), None),
            ("v.blk.0.attn_q.weight", weights(rng, (n, n), dtype), None),
            ("v.blk.0.attn_q.bias", weights(rng, (n,), np.float32), None),
            ("v.blk.0.ln1.weight", weights(rng, (n,), np.float32), None),
            ("mm.0.weight", weights(rng, (64, n), dtype), None)]


def clip_f32(path, rng):
    write(path, "clip", projector(rng, torch_kernel(rng, 32, 3, 14, 14)), clip_kvs())


def clip_f16(path, rng):
    kernel = torch_kernel(rng, 32, 3, 14, 14, np.float16)
    kernel[7, 2, 0, 3] = np.nan
    write(path, "clip", projector(rng, kernel, dtype=np.float16), clip_kvs(336))


def clip_bf16(path, rng):
    tensors = projector(rng, torch_kernel(rng, 32, 3, 14, 14))
    tensors[1] = ("v.patch_embd.weight", tensors[1][1], T.BF16)
    write(path, "clip", tensors, clip_kvs())


def quantized(path, rng):
    """Q8_0 and Q4_0 matrices (listed, not drawable) beside a float kernel, as quantized projectors ship."""
    tensors = projector(rng, torch_kernel(rng, 32, 3, 14, 14))
    tensors[3] = ("v.blk.0.attn_q.weight", tensors[3][1], T.Q8_0)
    tensors[6] = ("mm.0.weight", tensors[6][1], T.Q4_0)
    write(path, "clip", tensors, clip_kvs())


def aligned_64(path, rng):
    write(path, "clip", projector(rng, torch_kernel(rng, 32, 3, 16, 16)), clip_kvs(224, 16), alignment=64)


def big_endian(path, rng):
    write(path, "clip", projector(rng, torch_kernel(rng, 32, 3, 14, 14)), clip_kvs(), big_endian=True)


def conv_f64_ints(path, rng):
    write(path, "resnet", [
        ("conv1.weight", torch_kernel(rng, 8, 3, 7, 7, np.float64), None),
        ("bn1.num_batches_tracked", np.array([42], np.int64), None),
        ("quant.weight", rng.integers(-128, 128, (8, 3, 3, 3), dtype=np.int8), None),
        ("quant.offsets", rng.integers(-1000, 1000, (8,), dtype=np.int16), None),
        ("quant.index", rng.integers(0, 1000, (8,), dtype=np.int32), None),
    ])


def llm_tokenizer(path, rng, vocab=200_000):
    """An LLM-like file: 200k tokenizer strings (walked), scores and types (skipped by length), a conv kernel."""
    tokens = [f"tok{i}" for i in range(vocab)]
    write(path, "llama", [
        ("token_embd.weight", weights(rng, (64, 16)), None),
        ("v.patch_embd.weight", torch_kernel(rng, 16, 3, 14, 14), None),
        ("output_norm.weight", weights(rng, (16,)), None),
    ], [("add_string", "tokenizer.ggml.model", "gpt2"), ("add_array", "tokenizer.ggml.tokens", tokens),
        ("add_array", "tokenizer.ggml.scores", [0.0] * vocab), ("add_array", "tokenizer.ggml.token_type", [1] * vocab),
        ("add_string", "general.name", "patchlens test LLM")])


KERNEL = "v.patch_embd.weight"
# (file, writer, seed, default tensor, tiled names, note)
FIXTURES = [
    ("clip_projector_f32.gguf", clip_f32, 201, KERNEL, [KERNEL],
     "GGUFWriter, arch clip, llama.cpp projector names, f32 (32, 3, 14, 14) kernel (ne [14, 14, 3, 32])"),
    ("clip_projector_f16.gguf", clip_f16, 202, KERNEL, [KERNEL], "as clip_projector_f32, float16, one NaN"),
    ("clip_projector_bf16.gguf", clip_bf16, 203, KERNEL, [KERNEL], "kernel stored BF16 via gguf.quants.quantize"),
    ("clip_projector_q8_q4.gguf", quantized, 204, KERNEL, [KERNEL],
     "v.blk.0.attn_q.weight Q8_0 and mm.0.weight Q4_0 (gguf.quants.quantize) beside an f32 kernel"),
    ("clip_projector_align64.gguf", aligned_64, 205, KERNEL, [KERNEL], "general.alignment = 64, (32, 3, 16, 16)"),
    ("clip_projector_big_endian.gguf", big_endian, 206, KERNEL, [KERNEL], "GGUFWriter endianess=BIG"),
    ("conv_f64_ints.gguf", conv_f64_ints, 207, "conv1.weight", ["conv1.weight"],
     "F64 conv1.weight beside I64/I8/I16/I32 tensors (listed, not drawable)"),
    ("llm_tokenizer.gguf", llm_tokenizer, 208, KERNEL, [KERNEL],
     "arch llama, tokenizer.ggml.tokens with 200000 strings, scores and token types; reads counted in tests"),
]


# --- broken copies of a real file: each returns (stage, note) ---

def small_clip(path):
    clip_f32(path, np.random.default_rng(9))
    return GGUFReader(path)


TYPE_PART, OFFSET_PART = 4, 5  # a tensor info's parts: name length, name, n_dims, dims, type, offset


def tensor_field_pos(reader, name, part):
    """File position where part `part` of tensor `name`'s info starts."""
    t = next(t for t in reader.tensors if t.name == name)
    return int(t.field.offset) + sum(int(p.nbytes) for p in t.field.parts[:part])


def patch(path, pos, fmt, value):
    raw = bytearray(path.read_bytes())
    struct.pack_into(fmt, raw, pos, value)
    path.write_bytes(bytes(raw))


def truncated(path):
    small_clip(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    return "open", "GGUFWriter file cut at two thirds: the last tensors' data runs past the end"


def truncated_header(path):
    small_clip(path)
    path.write_bytes(path.read_bytes()[:300])
    return "open", "GGUFWriter file cut 300 bytes in, inside the metadata"


def lying_tensor_count(path):
    small_clip(path)
    patch(path, 8, "<Q", 2**40)
    return "open", "tensor_count set to 2**40"


def lying_kv_count(path):
    small_clip(path)
    patch(path, 16, "<Q", 2**40)
    return "open", "metadata kv_count set to 2**40"


def offset_past_end(path):
    reader = small_clip(path)
    patch(path, tensor_field_pos(reader, "mm.0.weight", OFFSET_PART), "<Q", 1 << 30)
    return "open", "mm.0.weight's data offset set to 1 GiB (aligned) in a small file"


def unaligned_offset(path):
    reader = small_clip(path)
    pos = tensor_field_pos(reader, KERNEL, OFFSET_PART)
    (offset,) = struct.unpack_from("<Q", path.read_bytes(), pos)
    patch(path, pos, "<Q", offset + 4)
    return "open", "the kernel's data offset moved 4 bytes off the 32-byte alignment"


def unknown_type(path):
    reader = small_clip(path)
    patch(path, tensor_field_pos(reader, KERNEL, TYPE_PART), "<I", 99)
    return "draw", "the kernel's ggml type set to 99 (no such type): listed as unknown, nothing drawable"


def version_1(path):
    small_clip(path)
    patch(path, 4, "<I", 1)
    return "open", "version field set to 1 (GGUF v1 used 32-bit counts)"


ERRORS = [truncated, truncated_header, lying_tensor_count, lying_kv_count, offset_past_end, unaligned_offset,
          unknown_type, version_1]


def build(outdir, big):
    outdir = Path(outdir)
    fixtures = []
    for file, writer, seed, default, tiled, note in FIXTURES:
        writer(outdir / file, np.random.default_rng(seed))
        tensors, floats = read_back(outdir / file)
        fixtures.append(fixture_entry(outdir, file, default, tensors,
                                      [(name, as_hwcn(floats[name])) for name in tiled], note))
    errors = []
    for damage in ERRORS:
        file = f"broken_{damage.__name__}.gguf"
        stage, note = damage(outdir / file)
        errors.append({"file": file, "stage": stage, "reason": note})
    return fixtures, errors


def write_seeds(seed_dir):
    """Small valid files for the fuzzer's seed corpus (each well under 64 KiB)."""
    seed_dir = Path(seed_dir)
    seed_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    small = lambda kernel: projector(rng, kernel, n=4)  # noqa: E731
    write(seed_dir / "clip_f32.gguf", "clip", small(torch_kernel(rng, 4, 3, 4, 4)), clip_kvs())
    write(seed_dir / "clip_f16_align64.gguf", "clip", small(torch_kernel(rng, 4, 3, 4, 4, np.float16)),
          clip_kvs(), alignment=64)
    write(seed_dir / "big_endian.gguf", "clip", small(torch_kernel(rng, 4, 3, 4, 4)), big_endian=True)
    write(seed_dir / "quantized.gguf", "clip", [("v.patch_embd.weight", torch_kernel(rng, 4, 3, 4, 4), None),
                                                ("q8", weights(rng, (2, 32)), T.Q8_0),
                                                ("q4", weights(rng, (2, 32)), T.Q4_0),
                                                ("bf16", weights(rng, (4, 3, 2, 2)), T.BF16)])
    write(seed_dir / "tokenizer.gguf", "llama", [("conv1.weight", torch_kernel(rng, 2, 3, 3, 3, np.float64), None)],
          [("add_array", "tokenizer.ggml.tokens", [f"t{i}" for i in range(200)]),
           ("add_array", "tokenizer.ggml.scores", [0.5] * 200)])
    for path in seed_dir.iterdir():
        if path.stat().st_size >= 64 << 10:
            raise AssertionError(f"{path} is too big for a seed")


if __name__ == "__main__":
    write_seeds(sys.argv[1])
