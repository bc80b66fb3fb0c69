"""HDF5 fixtures written by h5py (in the CI venv): libver earliest (superblock v0, version 1 headers,
symbol-table groups) and latest (superblock v3, OHDR headers, link messages, dense groups), contiguous,
compact, chunked and chunked + gzip + shuffle datasets, float16/32/64 and big-endian, Keras-style groups,
track_order groups, dense attributes with vlen and fixed strings, a user block; broken copies; and with
`big` two 300 MB files (contiguous, chunked + gzip) for the bytes-read test. The listing order is h5py's
own: a group's members as `Group.keys()` gives them (creation order when tracked, else name order)."""
from pathlib import Path

import h5py
import numpy as np

from fixtures import filters, fixture_entry, weights

# Bytes of the filler dataset in each big file: the file must be ≥ 300 MB.
BIG_FILLER_ROWS = 300 * 256  # × 1024 float32 = 300 MiB


def listing(path):
    """[{"name", "dtype", "shape"}] depth-first, members in h5py's iteration order."""
    out = []

    def walk(group, prefix):
        for name in group.keys():
            obj = group.get(name, getlink=False)
            if isinstance(obj, h5py.Dataset):
                out.append({"name": prefix + name, "dtype": obj.dtype.name if obj.dtype.kind in "fiub" else "?",
                            "shape": list(obj.shape)})
            elif isinstance(obj, h5py.Group):
                walk(obj, prefix + name + "/")

    with h5py.File(path, "r") as f:
        walk(f, "")
    return out


def read_back(path, name):
    with h5py.File(path, "r") as f:
        return f[name][()]


# --- valid fixtures: writer(path, rng) -> {tensor name: kernel as (kh, kw, c, n)} to tile ---

def keras_earliest(path, rng):
    """Keras 2 `save_weights(h5)`-like layout: layer groups, `kernel:0` names, fixed-string name lists."""
    kernel = filters(rng, (7, 7, 3, 16))
    with h5py.File(path, "w", libver="earliest") as f:
        f.attrs["layer_names"] = np.array([b"conv1", b"bn", b"dense"])
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        g = f.create_group("conv1/conv1")
        f["conv1"].attrs["weight_names"] = np.array([b"conv1/kernel:0", b"conv1/bias:0"])
        g["kernel:0"] = kernel
        g["bias:0"] = weights(rng, (16,))
        f.create_group("bn").attrs["weight_names"] = np.array([], "S1")
        f.create_dataset("dense/dense/kernel:0", data=weights(rng, (64, 10)), chunks=(16, 10),
                         compression="gzip", shuffle=True)
        f["dense/dense/bias:0"] = weights(rng, (10,), np.float64)
    return {"conv1/conv1/kernel:0": kernel}


def latest_layouts(path, rng):
    """libver latest: every storage layout, float16/64, big-endian, a track_order group, a torch-layout weight."""
    gz = filters(rng, (4, 4, 3, 24), np.float64)
    half = filters(rng, (3, 3, 3, 8), np.float16)
    big_endian = filters(rng, (5, 5, 1, 6)).astype(">f4")
    torch = filters(rng, (5, 5, 3, 8))  # stored as (n, c, kh, kw): the layout is inferred
    with h5py.File(path, "w", libver="latest") as f:
        m = f.create_group("model", track_order=True)
        m.create_dataset("patch/gzip_shuffle", data=gz, chunks=(2, 4, 3, 8), compression="gzip", shuffle=True)
        m.create_dataset("half", data=half, chunks=(3, 3, 3, 8))
        m["big_endian"] = big_endian
        m["torch_style/weight"] = np.ascontiguousarray(torch.transpose(3, 2, 0, 1))
        m.create_dataset("bias", data=weights(rng, (24,)), chunks=(7,))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        small = weights(rng, (4, 3))
        h5py.h5d.create(m.id, b"compact", h5py.h5t.IEEE_F32LE, h5py.h5s.create_simple(small.shape),
                        dcpl=dcpl).write(h5py.h5s.ALL, h5py.h5s.ALL, small)
        m["steps"] = np.arange(5, dtype=np.int64)
    return {"model/patch/gzip_shuffle": gz, "model/half": half, "model/big_endian": big_endian,
            "model/torch_style/weight": torch}


def dense_group(path, rng):
    """200 datasets in one libver-latest group (dense links: fractal heap + name index), many attributes."""
    kernel = filters(rng, (3, 3, 3, 16))
    with h5py.File(path, "w", libver="latest") as f:
        g = f.create_group("layers")
        for i in range(200):
            g[f"w{i:03d}"] = np.full((2,), i, np.float32)
        g["stem/conv/kernel"] = kernel
        for i in range(40):
            f.attrs[f"attr{i:02d}"] = f"value {i}" if i % 2 else np.array([f"v{i}".encode()])
    return {"layers/stem/conv/kernel": kernel}


def dense_tracked(path, rng):
    """A track_order group past the compact limit: dense links listed by the creation-order index."""
    kernel = filters(rng, (2, 2, 3, 12))
    with h5py.File(path, "w", libver="latest") as f:
        g = f.create_group("ordered", track_order=True)
        for i in range(30):
            g[f"n{(i * 7919) % 1000:03d}"] = np.zeros((1,), np.float32)
        g["kernel"] = kernel
    return {"ordered/kernel": kernel}


def user_block(path, rng):
    """A 1024-byte user block before the superblock (addresses are relative to the base address)."""
    kernel = filters(rng, (3, 3, 1, 4))
    with h5py.File(path, "w", userblock_size=1024) as f:
        f["embedding/kernel"] = kernel
    with open(path, "r+b") as raw:
        raw.write(b"user block text")
    return {"embedding/kernel": kernel}


# (file, writer, seed, default tensor, note)
FIXTURES = [
    ("hdf5_keras_earliest.h5", keras_earliest, 51, "conv1/conv1/kernel:0",
     "h5py libver earliest: superblock v0, v1 headers, symbol tables; Keras 2 weight-file groups"),
    ("hdf5_latest_layouts.h5", latest_layouts, 52, "model/patch/gzip_shuffle",
     "h5py libver latest: v3 superblock, OHDR; chunked gzip+shuffle f64, f16, big-endian, compact, torch layout"),
    ("hdf5_dense_group.h5", dense_group, 53, "layers/stem/conv/kernel",
     "h5py libver latest: 201 links in one group (dense: fractal heap + v2 B-tree), 40 dense attributes"),
    ("hdf5_dense_tracked.h5", dense_tracked, 54, "ordered/kernel",
     "h5py libver latest, track_order: dense links in creation order"),
    ("hdf5_user_block.h5", user_block, 55, "embedding/kernel", "h5py with a 1024-byte user block"),
]


# --- broken files: each returns (stage, note) ---

def broken_cut(path):
    src = path.parent / "hdf5_keras_earliest.h5"
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return "open", "hdf5_keras_earliest.h5 cut to its first third: headers point past the end"


def broken_superblock(path):
    data = bytearray((path.parent / "hdf5_user_block.h5").read_bytes()[1024:])
    data[8] = 9  # superblock version
    path.write_bytes(bytes(data))
    return "open", "superblock version 9"


def broken_lzf(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("embedding/kernel", data=np.ones((3, 3, 3, 4), np.float32), chunks=(3, 3, 3, 2),
                         compression="lzf")
    return "draw", "the only kernel is LZF-compressed: listed, refused by name when drawn"


def broken_unlimited(path):
    with h5py.File(path, "w", libver="latest") as f:
        f.create_dataset("embedding/kernel", data=np.ones((3, 3, 3, 4), np.float32), maxshape=(3, 3, 3, None),
                         chunks=(3, 3, 3, 2))
    return "draw", "the kernel has an unlimited dimension (extensible array chunk index), not read yet"


ERRORS = [broken_cut, broken_superblock, broken_lzf, broken_unlimited]


def build_big(outdir, name, chunked):
    """A ≥ 300 MB file: 100 Keras-like layer groups, the kernel among them, a 300 MiB filler dataset."""
    path = outdir / name
    rng = np.random.default_rng(61)
    kernel = filters(rng, (16, 16, 3, 768))
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([f"layer{i:03d}".encode() for i in range(100)])
        for i in range(100):
            g = f.create_group(f"layer{i:03d}/layer{i:03d}")
            g["bias:0"] = np.zeros((8,), np.float32)
            if i == 0:
                if chunked:
                    g.create_dataset("kernel:0", data=kernel, chunks=(16, 16, 3, 128), compression="gzip",
                                     compression_opts=1)
                else:
                    g["kernel:0"] = kernel
        filler = f.create_dataset("optimizer/filler", shape=(BIG_FILLER_ROWS, 1024), dtype=np.float32)
        block = rng.normal(0, 1, (8192, 1024)).astype(np.float32)
        for start in range(0, BIG_FILLER_ROWS, 8192):
            filler[start:start + 8192] = block[: BIG_FILLER_ROWS - start]
    if path.stat().st_size < 300_000_000:
        raise AssertionError(f"{path}: only {path.stat().st_size} bytes")
    if not np.array_equal(read_back(path, "layer000/layer000/kernel:0"), kernel):
        raise AssertionError(f"{path}: the kernel reads back differently")
    return fixture_entry(outdir, name, "layer000/layer000/kernel:0", listing(path), [],
                         f"h5py, 100 layer groups and a 300 MiB filler; kernel {'chunked+gzip' if chunked else 'contiguous'}",
                         big=True, kernel_bytes=kernel.nbytes)


def build(outdir, big):
    outdir = Path(outdir)
    fixtures = []
    for file, writer, seed, default, note in FIXTURES:
        path = outdir / file
        kernels = writer(path, np.random.default_rng(seed))
        tiled = []
        for name, kernel in kernels.items():
            back = read_back(path, name)
            stored = back.transpose(2, 3, 1, 0) if name.endswith("torch_style/weight") else back
            if not np.array_equal(stored, kernel):
                raise AssertionError(f"{file} {name}: reads back differently")
            tiled.append((name, stored.astype(stored.dtype.newbyteorder("="))))
        fixtures.append(fixture_entry(outdir, file, default, listing(path), tiled, note))
    errors = []
    for write in ERRORS:
        file = f"broken_{write.__name__.removeprefix('broken_')}.h5"
        stage, note = write(outdir / file)
        errors.append({"file": file, "stage": stage, "reason": note})
    if big:
        fixtures.append(build_big(outdir, "hdf5_big_contiguous.h5", chunked=False))
        fixtures.append(build_big(outdir, "hdf5_big_gzip.h5", chunked=True))
    return fixtures, errors
