"""Npz archive helpers for the fixture writers: write zips the way np.savez does (with a chosen .npy
version, compression or zip64 layout), read back each entry's .npy header as written, and damage files."""
import ast
import contextlib
import io
import struct
import zipfile

import numpy as np

EOCD_SIGNATURE = b"PK\x05\x06"
EOCD64_SIGNATURE = b"PK\x06\x06"
EOCD64_LOCATOR_SIGNATURE = b"PK\x06\x07"


def npy_bytes(array, version=None):
    """The .npy file numpy writes for `array` (version None lets numpy pick, as np.save does)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), version=version)
    return buf.getvalue()


def npy_header_bytes(header, version=(1, 0)):
    """A .npy magic + header for a hand-made header dict, padded and aligned by numpy itself."""
    buf = io.BytesIO()
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue()


@contextlib.contextmanager
def zip64_everywhere():
    """Makes zipfile treat every size and offset as 'too large': it then writes zip64 extra fields in the
    central directory (0xFFFFFFFF in the 32-bit slots) and the zip64 end record + locator, the layout of
    a >2 GiB archive, in a small file. zipfile reads the module global at call time."""
    saved = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 0
    try:
        yield
    finally:
        zipfile.ZIP64_LIMIT = saved


def write_npz(path, entries, compression=zipfile.ZIP_STORED):
    """Writes [(name, array or raw .npy bytes)] exactly as np.savez / np.savez_compressed do:
    one `name.npy` member each, opened with force_zip64=True (numpy gh-10776), dated 1980-01-01."""
    with zipfile.ZipFile(path, mode="w", compression=compression, allowZip64=True) as zf:
        for name, value in entries:
            data = value if isinstance(value, bytes) else npy_bytes(value)
            with zf.open(name + ".npy", "w", force_zip64=True) as fid:
                fid.write(data)


def read_npy_header(fp):
    """(version, header dict) of the .npy stream at fp, parsed from the bytes as written."""
    magic = fp.read(8)
    if magic[:6] != b"\x93NUMPY":
        raise ValueError(f"not a .npy stream: {magic!r}")
    version = (magic[6], magic[7])
    if version == (1, 0):
        (length,) = struct.unpack("<H", fp.read(2))
    else:
        (length,) = struct.unpack("<I", fp.read(4))
    text = fp.read(length).decode("utf-8" if version >= (3, 0) else "latin1")
    return version, ast.literal_eval(text)


def list_npz(path):
    """[(name without .npy, npy version, header dict)] for every member, in central-directory order."""
    out = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with zf.open(info) as fp:
                version, header = read_npy_header(fp)
            name = info.filename[: -len(".npy")] if info.filename.endswith(".npy") else info.filename
            out.append((name, version, header))
    return out


def central_directory_offset(path):
    with zipfile.ZipFile(path) as zf:
        return zf.start_dir


def truncate(path, length):
    with open(path, "r+b") as f:
        f.truncate(length)


def saturate_eocd(path):
    """Sets the classic end record's count/size/offset to 0xFFFF/0xFFFFFFFF, as writers do when the real
    values only fit the zip64 end record (>65535 entries or >4 GiB); readers must then use zip64."""
    with open(path, "r+b") as f:
        data = f.read()
        at = data.rfind(EOCD_SIGNATURE)
        if at < 0 or data.rfind(EOCD64_LOCATOR_SIGNATURE) < 0:
            raise ValueError(f"{path}: needs a zip64 end record before its end record is saturated")
        f.seek(at + 8)  # after signature, disk number, disk with central directory
        f.write(struct.pack("<HHII", 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
