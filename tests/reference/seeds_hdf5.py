"""Writes the hdf5 fuzz seeds (and the unit tests' h5py files) into OUTDIR: small files h5py writes
with libver earliest and latest, covering symbol tables, compact and dense links and attributes,
contiguous, compact and chunked (+gzip +shuffle) datasets. Usage: seeds_hdf5.py fuzz/seeds/hdf5"""
import sys
from pathlib import Path

import h5py
import numpy as np


def kernel(shape, dtype="<f4", seed=0):
    """Values seed + 0.25 * i in C order, so the unit tests can state them."""
    return (seed + 0.25 * np.arange(np.prod(shape))).reshape(shape).astype(dtype)


def write(outdir):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    # libver earliest: superblock v0, version 1 headers, symbol-table groups, layout v3.
    with h5py.File(outdir / "earliest.h5", "w", libver="earliest") as f:
        f.attrs["layer_names"] = np.array([b"conv", b"dense"])
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["count"] = np.int64(-3)
        f.attrs["scale"] = np.array([0.5, 2.0], "<f4")
        g = f.create_group("conv").create_group("conv")
        g.create_dataset("kernel:0", data=kernel((2, 2, 3, 2)))
        g.create_dataset("bias:0", data=kernel((2,), "<f8", 1))
        f.create_dataset("dense/kernel", data=kernel((3, 2), ">f4", 2), chunks=(2, 1), compression="gzip", shuffle=True)
        f.create_dataset("steps", data=np.arange(4, dtype="<i4"))
    # libver latest: superblock v3, OHDR headers, link messages, layout v4 chunk indexes.
    with h5py.File(outdir / "latest.h5", "w", libver="latest") as f:
        f.attrs["note"] = "latest"
        g = f.create_group("model", track_order=True)
        g.create_dataset("z_kernel", data=kernel((2, 2, 3, 2), "<f2", 3))
        g.create_dataset("a_single", data=kernel((3, 3), "<f4", 4), chunks=(3, 3), compression="gzip")
        g.create_dataset("fixed", data=kernel((5, 4), "<f4", 5), chunks=(2, 3), compression="gzip", shuffle=True)
        g.create_dataset("array", data=kernel((4, 4), "<f8", 6), chunks=(2, 2))
        g.create_dataset("single", data=kernel((2, 3), "<f4", 7), chunks=(2, 3))
        # Implicit index: unfiltered chunks allocated when the dataset is created.
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((2, 2))
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        h5py.h5d.create(g.id, b"implicit", h5py.h5t.IEEE_F32LE, h5py.h5s.create_simple((3, 4)), dcpl=dcpl).write(
            h5py.h5s.ALL, h5py.h5s.ALL, kernel((3, 4), "<f4", 8))
        # Compact: small enough to live in the header.
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple((3,))
        h5py.h5d.create(g.id, b"compact", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl).write(
            h5py.h5s.ALL, h5py.h5s.ALL, np.array([1.0, 2.0, 3.0], "<f4"))
    # A hard link from a group to its ancestor: the group graph has a cycle.
    with h5py.File(outdir / "cycle.h5", "w", libver="earliest") as f:
        a = f.create_group("a")
        a.create_group("b")["w"] = kernel((2,), "<f4", 10)
        a["b"]["up"] = a
    # What is refused, by name: an extensible-array index (unlimited dimension), LZF, Fletcher32, and
    # datasets never written (no storage allocated).
    with h5py.File(outdir / "refused.h5", "w", libver="latest") as f:
        f.create_dataset("growable", data=kernel((4, 2)), maxshape=(None, 2), chunks=(2, 2))
        f.create_dataset("lzf", data=kernel((4, 2)), chunks=(2, 2), compression="lzf")
        f.create_dataset("checksummed", data=kernel((4, 2)), chunks=(2, 2), fletcher32=True)
        f.create_dataset("plain", data=kernel((2,), "<f4", 9))
        f.create_dataset("unwritten", shape=(3, 3, 3, 4), dtype="<f4")
        f.create_dataset("unwritten_chunks", shape=(3, 3, 3, 4), dtype="<f4", chunks=(3, 3, 3, 2))
    # Dense links and attributes: more than 8 of each in libver latest.
    with h5py.File(outdir / "dense.h5", "w", libver="latest") as f:
        for i in range(12):
            f.create_dataset(f"w{i:02d}", data=np.full((2,), i, "<f4"))
            f.attrs[f"attr{i:02d}"] = f"value {i}"
        f.attrs["names"] = np.array([b"a", b"bb", b"ccc"])
        t = f.create_group("ordered", track_order=True)
        for name in ["zeta", "alpha", "mid", "beta", "eta", "theta", "iota", "kappa", "lambda", "mu"]:
            t.create_dataset(name, data=np.zeros((1,), "<f4"))
            t.attrs[name] = len(name)


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "fuzz/seeds/hdf5")
