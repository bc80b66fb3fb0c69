"""The valid fixtures patchlens is tested on: real .npz files written by numpy/zipfile with fixed seeds,
what auto-pick must choose in each, and which tensors get expected tiles. Used by make_fixtures.py;
`build_fixture` writes one file, checks it reads back, and writes its `<stem>.<k>.tiles.u8`."""
import shutil
import sys
import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "benches"))

import augreg  # noqa: E402
from archives import EOCD64_SIGNATURE, list_npz, npy_bytes, saturate_eocd, write_npz, zip64_everywhere  # noqa: E402
from tiles import expected_tiles, load_as_kernel  # noqa: E402

SAMPLE = REPO / "www" / "samples" / "dinov2-vits14-patch-embed.npz"
F32_EPS10 = np.float32(10) * np.finfo(np.float32).eps  # sklearn's constant-column threshold for float32
F64_EPS10 = 10 * np.finfo(np.float64).eps


def filters(rng, shape, dtype=np.float32):
    """Weight-like filters: an oriented stripe pattern of random colour per filter plus N(0, 0.02) noise."""
    kh, kw, c, n = shape
    y, x = np.meshgrid(np.linspace(-1, 1, kh), np.linspace(-1, 1, kw), indexing="ij")
    theta, freq, phase = rng.uniform(0, np.pi, n), rng.uniform(0.5, 3, n), rng.uniform(0, 2 * np.pi, n)
    along = x[..., None] * np.cos(theta) + y[..., None] * np.sin(theta)
    wave = np.cos(np.pi * freq * along + phase)  # (kh, kw, n)
    colour = rng.normal(0, 1, (c, n))
    kernel = 0.03 * wave[:, :, None, :] * colour + rng.normal(0, 0.02, shape)
    return kernel.astype(dtype)


def weights(rng, shape, dtype=np.float32):
    return rng.normal(0, 0.02, shape).astype(dtype)


def savez(path, arrays, compressed=False):
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return arrays


# --- valid fixtures: each writes its file and returns {name: array} as meant to be stored ---

def stored_f32(path, rng):
    return savez(path, {
        "cls": weights(rng, (1, 1, 768)),
        "embedding/bias": weights(rng, (768,)),
        "embedding/kernel": filters(rng, (16, 16, 3, 768)),
        "head/bias": weights(rng, (10,)),
        "head/kernel": weights(rng, (768, 10)),
    })


def compressed_f32(path, rng):
    return savez(path, {
        "embedding/bias": weights(rng, (64,)),
        "embedding/kernel": filters(rng, (16, 16, 3, 64)),
        "extra/kernel": filters(rng, (5, 5, 3, 8)),
    }, compressed=True)


def _zip64(path, rng, compression, saturate=False):
    arrays = {
        "cls": weights(rng, (1, 1, 32)),
        "embedding/kernel": filters(rng, (8, 6, 3, 32)),
        "head/kernel": weights(rng, (32, 10)),
    }
    with zip64_everywhere():
        write_npz(path, list(arrays.items()), compression)
    if saturate:
        saturate_eocd(path)
    if EOCD64_SIGNATURE not in path.read_bytes():
        raise AssertionError(f"{path}: no zip64 end-of-central-directory record")
    return arrays


def zip64_stored(path, rng):
    return _zip64(path, rng, zipfile.ZIP_STORED)


def zip64_deflated(path, rng):
    return _zip64(path, rng, zipfile.ZIP_DEFLATED)


def zip64_saturated_eocd(path, rng):
    return _zip64(path, rng, zipfile.ZIP_STORED, saturate=True)


def one_kernel(shape, dtype, *, nan_at=None, fortran=False, byteorder=None):
    def write(path, rng):
        kernel = filters(rng, shape, np.float64)
        if nan_at is not None:
            kernel[nan_at] = np.nan
        kernel = kernel.astype(dtype)
        if byteorder:
            kernel = kernel.astype(kernel.dtype.newbyteorder(byteorder))
        if fortran:
            kernel = np.asfortranarray(kernel)
        return savez(path, {"embedding/kernel": kernel})
    return write


def npy_version(version):
    def write(path, rng):
        arrays = {"embedding/bias": weights(rng, (10,)), "embedding/kernel": filters(rng, (6, 4, 3, 10))}
        write_npz(path, [(name, npy_bytes(a, version=version)) for name, a in arrays.items()])
        for _, written, _ in list_npz(path):
            if written != version:
                raise AssertionError(f"{path}: asked for .npy {version}, numpy wrote {written}")
        return arrays
    return write


def prefixed(prefix, others):
    def write(path, rng):
        arrays = {prefix + "embedding/kernel": filters(rng, (8, 8, 3, 16))}
        for name, shape, dtype in others:
            arrays[name] = weights(rng, shape, dtype)
        return savez(path, dict(sorted(arrays.items())))
    return write


def hybrid(path, rng):
    return savez(path, {
        "block1/unit1/conv1/kernel": weights(rng, (1, 1, 64, 256)),
        "conv_root/kernel": filters(rng, (7, 7, 3, 64)),
        "embedding/kernel": weights(rng, (1, 1, 1024, 768)),
    })


def fallback(path, rng):
    return savez(path, {
        "block1/conv/kernel": filters(rng, (3, 3, 16, 32)),
        "stem/conv/kernel": filters(rng, (3, 3, 3, 32)),
        "head/kernel": weights(rng, (32, 10)),
    })


def non_float(path, rng):
    return savez(path, {
        "counts": rng.integers(0, 255, (2, 2, 3, 4), dtype=np.uint8),
        "quant/kernel": rng.integers(-128, 128, (4, 4, 3, 16), dtype=np.int32),
        "stem/conv/kernel": filters(rng, (3, 3, 3, 8)),
    })


def no_drawable(path, rng):
    return savez(path, {"head/bias": weights(rng, (10,)), "head/kernel": weights(rng, (32, 10))})


def special(dtype):
    """Filters that probe the scaler's edge cases; the rest are ordinary."""
    def write(path, rng):
        f = np.dtype(dtype)
        threshold = F32_EPS10 if f == np.float32 else F64_EPS10
        n = 48  # kh * kw * c
        kernel = filters(rng, (4, 4, 3, 12), np.float64).astype(f).reshape(n, 12)
        kernel[5, 0] = np.nan                                              # one NaN, ignored by nanmin/nanmax
        kernel[:, 1] = 0.25                                                # constant: range 0 -> scale 1
        kernel[:, 2] = f.type(0.01) + (rng.normal(0, 1, n) * float(threshold) / 20).astype(f)  # range < 10 eps
        kernel[:, 3] = np.nan                                              # all NaN: NaN scale -> all 0
        kernel[:, 4] = rng.choice([-1, 1], n) * np.finfo(f).max * f.type(0.9)  # range overflows to inf -> scale 0
        kernel[:, 5] = np.linspace(0, threshold, n, dtype=f)               # range == 10 eps: not constant
        kernel[:, 6] = np.linspace(0, np.nextafter(threshold, f.type(0)), n, dtype=f)  # just below: constant
        kernel[:, 7] = -0.5                                                # negative constant
        kernel[:, 8] = rng.uniform(0, 1, n).astype(f) * np.finfo(f).smallest_subnormal * 1000  # subnormals
        if not (np.ptp(kernel[:, 5]) == threshold and np.ptp(kernel[:, 6]) < threshold
                and np.ptp(kernel[:, 2]) < threshold):
            raise AssertionError("boundary filters missed the threshold")
        return savez(path, {"embedding/kernel": kernel.reshape(4, 4, 3, 12)})
    return write


def dinov2_sample(path, rng):
    if not SAMPLE.exists():
        raise FileNotFoundError(f"{SAMPLE} missing: run tests/reference/make_sample.py first")
    shutil.copyfile(SAMPLE, path)
    with np.load(path) as z:
        return {name: z[name] for name in z.files}


# The default tensors below encode this auto-pick rule (archive order = central-directory order):
#   1. `embedding/kernel`, bare or after a prefix ("params/", "opt/target/", "params/img/"), if it is a
#      4-D float kernel with 1 or 3 input channels (axis 2);
#   2. else `conv_root/kernel` (R50+ViT hybrids, whose embedding/kernel is (1, 1, 1024, D));
#   3. else the first 4-D float tensor with 3 input channels; 4. else none (null).
# (file, writer, seed, default tensor, tensors with expected tiles, note)
FIXTURES = [
    ("stored_f32.npz", stored_f32, 1, "embedding/kernel", ["embedding/kernel"],
     "np.savez, stored; AugReg-like (16,16,3,768) patch embedding among other entries, sorted keys"),
    ("compressed_f32.npz", compressed_f32, 2, "embedding/kernel", ["embedding/kernel", "extra/kernel"],
     "np.savez_compressed (deflate); extra/kernel is a second drawable tensor a user may pick"),
    ("zip64_stored.npz", zip64_stored, 3, "embedding/kernel", ["embedding/kernel"],
     "zipfile force_zip64 + zip64 central-directory extras and zip64 end record/locator, stored"),
    ("zip64_deflated.npz", zip64_deflated, 4, "embedding/kernel", ["embedding/kernel"],
     "as zip64_stored, deflated"),
    ("zip64_saturated_eocd.npz", zip64_saturated_eocd, 5, "embedding/kernel", ["embedding/kernel"],
     "as zip64_stored, end record count/size/offset set to 0xFFFF/0xFFFFFFFF: only the zip64 record is right"),
    ("f64.npz", one_kernel((8, 8, 3, 24), np.float64), 6, "embedding/kernel", ["embedding/kernel"],
     "float64 kernel, scaled in float64"),
    ("f16.npz", one_kernel((8, 8, 3, 24), np.float16, nan_at=(2, 3, 1, 5)), 7, "embedding/kernel",
     ["embedding/kernel"], "float16 kernel (one NaN), widened to float32 before scaling"),
    ("bf16.npz", one_kernel((8, 8, 3, 24), ml_dtypes.bfloat16, nan_at=(0, 0, 0, 0)), 8, "embedding/kernel",
     ["embedding/kernel"], "ml_dtypes bfloat16 kernel (one NaN), saved by numpy with descr '<V2'"),
    ("big_endian_f32.npz", one_kernel((8, 8, 3, 16), np.float32, byteorder=">"), 9, "embedding/kernel",
     ["embedding/kernel"], "descr '>f4'"),
    ("fortran_f32.npz", one_kernel((7, 5, 3, 12), np.float32, fortran=True), 10, "embedding/kernel",
     ["embedding/kernel"], "np.asfortranarray: fortran_order True, non-square (7,5) filters"),
    ("fortran_big_endian_f64.npz", one_kernel((5, 7, 3, 6), np.float64, fortran=True, byteorder=">"), 11,
     "embedding/kernel", ["embedding/kernel"], "fortran_order True and descr '>f8'"),
    ("npy_v2.npz", npy_version((2, 0)), 12, "embedding/kernel", ["embedding/kernel"],
     ".npy format 2.0 members (4-byte header length), np.lib.format.write_array(version=(2,0))"),
    ("npy_v3.npz", npy_version((3, 0)), 13, "embedding/kernel", ["embedding/kernel"],
     ".npy format 3.0 members (utf-8 header), write_array(version=(3,0)) on plain arrays"),
    ("prefix_opt_target.npz",
     prefixed("opt/target/", [("opt/target/cls", (1, 1, 16), np.float32), ("opt/state/step", (), np.int32)]),
     14, "opt/target/embedding/kernel", ["opt/target/embedding/kernel"],
     "flax optimizer checkpoint layout; opt/state/step is a 0-d array"),
    ("prefix_params.npz",
     prefixed("params/", [("params/cls", (1, 1, 16), np.float32), ("params/head/kernel", (16, 10), np.float32)]),
     15, "params/embedding/kernel", ["params/embedding/kernel"], "params/ prefix"),
    ("prefix_params_img.npz",
     prefixed("params/img/", [("params/txt/Embed_0/embedding", (100, 16), np.float32),
                              ("params/t", (1,), np.float32)]),
     16, "params/img/embedding/kernel", ["params/img/embedding/kernel"], "LiT/SigLIP-like image tower prefix"),
    ("hybrid.npz", hybrid, 17, "conv_root/kernel", ["conv_root/kernel"],
     "R50+ViT hybrid: embedding/kernel is (1,1,1024,768), the pixels meet conv_root/kernel"),
    ("fallback.npz", fallback, 18, "stem/conv/kernel", ["stem/conv/kernel"],
     "no embedding/kernel: first 4-D float tensor with 3 input channels (axis 2), after a 16-channel one"),
    ("grayscale.npz", one_kernel((5, 5, 1, 20), np.float32), 19, "embedding/kernel", ["embedding/kernel"],
     "1 input channel: tiles are (5,5,1)"),
    ("non_float.npz", non_float, 20, "stem/conv/kernel", ["stem/conv/kernel"],
     "uint8 and int32 4-D tensors are listed but not drawable"),
    ("no_drawable.npz", no_drawable, 21, None, [], "only 1-D and 2-D tensors: nothing to auto-pick"),
    ("special_f32.npz", special(np.float32), 22, "embedding/kernel", ["embedding/kernel"],
     "filters: 0 one NaN, 1 constant, 2 range < 10 eps, 3 all NaN, 4 range overflows to inf, "
     "5 range == 10 eps, 6 range just below, 7 negative constant, 8 subnormals, 9-11 ordinary"),
    ("special_f64.npz", special(np.float64), 23, "embedding/kernel", ["embedding/kernel"],
     "as special_f32 in float64 (threshold 10 * float64 eps)"),
    ("dinov2_vits14.npz", dinov2_sample, 0, "embedding/kernel", ["embedding/kernel"],
     "copy of www/samples/dinov2-vits14-patch-embed.npz: real DINOv2 ViT-S/14 weights"),
]


def dtype_name(descr):
    return load_as_kernel(np.empty(0, np.dtype(descr))).dtype.newbyteorder("=").name


def describe(path):
    """The manifest's "tensors" list, from each member's .npy header as written."""
    return [{"name": name, "dtype": dtype_name(h["descr"]), "shape": list(h["shape"]), "descr": h["descr"],
             "fortran_order": h["fortran_order"], "npy_version": list(version)}
            for name, version, h in list_npz(path)]


def same_bytes(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and \
        np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def build_fixture(outdir, file, writer, seed, default, tiled, note):
    path = outdir / file
    meant = writer(path, np.random.default_rng(seed))
    tensors = describe(path)
    if [t["name"] for t in tensors] != list(meant):
        raise AssertionError(f"{file}: archive order {[t['name'] for t in tensors]} != {list(meant)}")
    tiles = []
    with np.load(path, allow_pickle=False) as z:
        for name, array in meant.items():
            if not same_bytes(load_as_kernel(z[name]), array):
                raise AssertionError(f"{file}: {name} reads back differently from what was written")
        for k, name in enumerate(tiled):
            kernel = load_as_kernel(z[name])
            tile_file = f"{path.stem}.{k}.tiles.u8"
            (outdir / tile_file).write_bytes(expected_tiles(kernel).tobytes())
            tiles.append({"tensor": name, "kernel_shape": list(kernel.shape), "file": tile_file})
    return {"file": file, "default_tensor": default, "tensors": tensors, "tiles": tiles, "note": note}


def fixture_entry(outdir, file, default, tensors, tiled, note, **extra):
    """A manifest entry for a fixture of any format. `tensors` is [{"name", "dtype", "shape"}] in the order
    patchlens must list them, read back from the file by the format's own library; `tiled` is
    [(tensor name, kernel as (kh, kw, c, n))] — a PyTorch-layout (n, c, kh, kw) weight transposed with
    (2, 3, 1, 0) first, as the notebook does. Writes each `<stem>.<k>.tiles.u8`."""
    stem = Path(file).name.replace(".", "_")
    tiles = []
    for k, (name, kernel) in enumerate(tiled):
        tile_file = f"{stem}.{k}.tiles.u8"
        (outdir / tile_file).write_bytes(expected_tiles(kernel).tobytes())
        tiles.append({"tensor": name, "kernel_shape": list(kernel.shape), "file": tile_file})
    return {"file": file, "default_tensor": default, "tensors": tensors, "tiles": tiles, "note": note, **extra}


def build_big(outdir, variant, seed):
    file = f"augreg_{variant.replace('/', '').lower()}.npz"
    shapes = augreg.write_augreg(outdir / file, variant, seed)
    tensors = describe(outdir / file)
    if [t["name"] for t in tensors] != list(shapes):
        raise AssertionError(f"{file}: archive order differs from the AugReg tree")
    kernel_shape = shapes["embedding/kernel"]
    return {"file": file, "default_tensor": "embedding/kernel", "tensors": tensors, "tiles": [], "big": True,
            "kernel_bytes": int(np.prod(kernel_shape)) * 4,
            "note": f"benches/augreg.py AugReg ViT-{variant} parameter tree, float32, seed {seed}"}
