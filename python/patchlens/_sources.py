"""What a checkpoint's bytes come from, for the widget: a source (a local path, several paths that are one
checkpoint, a file's bytes, an object in memory) becomes a list of files, each read by ranges, never whole."""

from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence, Union

from . import _memory, _native

Source = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


class RangeFile:
    """One file read by ranges: `.name`, `.size` and `.read(offset, length)`."""

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        try:
            self._fd: Optional[int] = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as error:
            raise OSError(f"Could not open {self.path} ({error.strerror}).") from None
        try:
            self.size = os.fstat(self._fd).st_size
        except OSError:
            os.close(self._fd)
            raise

    def read(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes from `offset`; a short read (a file that shrank) is an error."""
        if self._fd is None:
            raise OSError(f"{self.name} is closed (the widget was closed).")
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError(f"The range {offset}+{length} is outside {self.name} ({self.size} bytes).")
        chunks = []
        done = 0
        while done < length:
            chunk = _pread(self._fd, length - done, offset + done)
            if not chunk:
                raise OSError(f"{self.name} ended before offset {offset + length}; the file may have changed.")
            chunks.append(chunk)
            done += len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __repr__(self) -> str:
        return f"RangeFile({self.path!r}, size={self.size})"


def _pread(fd: int, length: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows has no pread
    return os.read(fd, length)


class BytesFile:
    """A checkpoint file's bytes already in memory, read by ranges."""

    def __init__(self, data: Union[bytes, bytearray, memoryview], name: str = "bytes") -> None:
        self._data = memoryview(data).cast("B")
        self.name = name
        self.size = len(self._data)

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError(f"The range {offset}+{length} is outside {self.name} ({self.size} bytes).")
        return self._data[offset : offset + length].tobytes()


def files_of(source: Any, hub: Optional[str] = None) -> List[Any]:
    """The files of one checkpoint, each with `.name`, `.size` and `.read(offset, length)`: a path (a folder, a
    shard index and a TensorFlow index bring their other files, as `patchlens.open` finds them), a list/tuple of
    paths, a URL or hub model id (read by HTTP ranges; `hub` names another hub), a file's bytes, or an object in
    memory (an array, a tensor, a mapping of them, a model: laid out as a safetensors file, see
    `_memory.MemoryFile`)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return [BytesFile(source)]
    if not isinstance(source, (str, os.PathLike, list, tuple)) and _memory.is_in_memory(source):
        return [_memory.MemoryFile(source)]
    if isinstance(source, str) and _native.is_remote(source, hub):
        remote, _model = _native.remote_files(source, hub)
        return list(remote)
    paths = list(source) if isinstance(source, (list, tuple)) else [source]
    if not paths:
        raise ValueError("A checkpoint given as a list needs at least one file.")
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"A checkpoint is a path (str or os.PathLike), a list of paths, a URL or hub id, a file's bytes or an "
                f"object in memory (an array, a tensor, a mapping of them, a model), not {type(path).__name__}."
            )
    files: List[RangeFile] = []
    try:
        for path in _native.local_files([str(os.fspath(p)) for p in paths]):
            files.append(RangeFile(path))
    except BaseException:
        for file in files:
            file.close()
        raise
    return files
