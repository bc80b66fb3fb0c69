"""Broken inputs for patchlens' error paths: real files (np.savez, zipfile, a PNG) damaged on purpose.
Each writer returns its manifest entry; "stage" says when the failure must show at the latest:
"open" = opening/listing the file fails, "draw" = it may list, but picking or drawing a tensor fails."""
import struct
import zipfile
import zlib

import numpy as np

from archives import central_directory_offset, npy_header_bytes, truncate, write_npz


def _kernel(rng, shape=(8, 8, 3, 16)):
    return (rng.normal(0, 0.02, shape)).astype(np.float32)


def truncated_mid(path, rng):
    np.savez(path, **{"embedding/bias": _kernel(rng, (16,)), "embedding/kernel": _kernel(rng)})
    truncate(path, path.stat().st_size // 2)
    return "open", "npz cut in the middle of the kernel's data: no central directory, no end record"


def truncated_central_directory(path, rng):
    np.savez(path, **{"embedding/bias": _kernel(rng, (16,)), "embedding/kernel": _kernel(rng)})
    truncate(path, central_directory_offset(path) + 20)  # inside the first central-directory record
    return "open", "npz cut 20 bytes into its central directory: the end record is missing"


def truncated_end_record(path, rng):
    np.savez(path, **{"embedding/kernel": _kernel(rng)})
    truncate(path, path.stat().st_size - 10)  # the end record is 22 bytes
    return "open", "npz with its last 10 bytes cut off: the end-of-central-directory record is incomplete"


def _short_data_npy(rng):
    """A .npy whose header claims (8, 8, 3, 16) float32 but which carries only half of that data."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (8, 8, 3, 16)}
    return npy_header_bytes(header) + _kernel(rng, (8, 8, 3, 8)).tobytes()


def shape_size_mismatch_npz(path, rng):
    write_npz(path, [("embedding/bias", _kernel(rng, (16,))), ("embedding/kernel", _short_data_npy(rng))])
    return "draw", "embedding/kernel.npy header says (8, 8, 3, 16) float32 = 12288 bytes, the entry holds 6144"


def shape_size_mismatch_npy(path, rng):
    path.write_bytes(_short_data_npy(rng))
    return "draw", "bare .npy whose header says (8, 8, 3, 16) float32 = 12288 bytes of data, the file holds 6144"


def shape_overflow(path, rng):
    header = {"descr": "<f4", "fortran_order": False, "shape": (2**40, 2**40, 3, 768)}
    write_npz(path, [("embedding/kernel", npy_header_bytes(header) + _kernel(rng).tobytes())])
    return "draw", "embedding/kernel.npy header shape (2**40, 2**40, 3, 768): element count overflows u64"


def complex_kernel(path, rng):
    kernel = _kernel(rng) + 1j * _kernel(rng)
    np.savez(path, **{"embedding/kernel": kernel.astype(np.complex64)})
    return "draw", "only tensor is complex64 ('<c8'): no drawable float tensor"


def object_kernel(path, rng):
    kernel = np.empty((2, 2, 3, 4), dtype=object)
    kernel[...] = 0.5
    np.savez(path, **{"embedding/kernel": kernel})  # allow_pickle defaults to True when saving
    return "draw", "embedding/kernel has descr '|O': its data is a Python pickle, which must never be run"


def zip_without_npy(path, rng):
    with zipfile.ZipFile(path, "w") as zf:
        # a ZipInfo keeps its fixed 1980 date; a plain name would be stamped with the current time
        zf.writestr(zipfile.ZipInfo("README.txt"), "a zip archive, but not an npz: no .npy members\n")
    return "draw", "valid zip whose only member is README.txt: no tensors"


def png_image(path, rng):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + rng.integers(0, 256, 12, dtype=np.uint8).tobytes() for _ in range(4))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))  # 4 x 4 RGB, 8 bits
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )
    return "open", "a PNG image, not a checkpoint"


def text_file(path, rng):
    path.write_text("embedding/kernel = [[0.1, 0.2], [0.3, 0.4]]\n")
    return "open", "a plain text file, not a checkpoint"


def empty_file(path, rng):
    path.write_bytes(b"")
    return "open", "empty file (0 bytes)"


# (file, writer, seed)
ERRORS = [
    ("truncated_mid.npz", truncated_mid, 101),
    ("truncated_central_directory.npz", truncated_central_directory, 102),
    ("truncated_end_record.npz", truncated_end_record, 103),
    ("shape_size_mismatch.npz", shape_size_mismatch_npz, 104),
    ("shape_size_mismatch.npy", shape_size_mismatch_npy, 105),
    ("shape_overflow.npz", shape_overflow, 106),
    ("complex_kernel.npz", complex_kernel, 107),
    ("object_kernel.npz", object_kernel, 108),
    ("zip_without_npy.zip", zip_without_npy, 109),
    ("image.png", png_image, 110),
    ("notes.txt", text_file, 111),
    ("empty.npz", empty_file, 112),
]


def write_errors(outdir):
    """Writes every broken file into outdir; returns the manifest's "errors" list."""
    entries = []
    for file, writer, seed in ERRORS:
        stage, reason = writer(outdir / file, np.random.default_rng(seed))
        entries.append({"file": file, "stage": stage, "reason": reason})
    return entries
