"""Objects already in the process — a NumPy array, a ``torch.Tensor``, a JAX array, a state dict or any mapping
of names to arrays (nested ones joined with ``/``, as Flax names them), an ``nn.Module`` — handed to the native
module as named, typed, shaped byte ranges. Nothing is copied until the native side reads it, and then only the
slices drawn: a tensor on a GPU comes to the CPU when it is drawn, not before.

torch and jax are never imported here: their objects are recognised by what they have, so neither is a
dependency."""

from __future__ import annotations

import bisect
import sys
from collections.abc import Mapping
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from . import _native
from .errors import UnsupportedError

#: (name, dtype, shape, byte length, read(offset, length) -> bytes), as ``_native.from_arrays`` takes them.
Entry = Tuple[str, str, List[int], int, Callable[[int, int], bytes]]

# Names of torch's dtypes NumPy has no type for, as patchlens spells them.
_TORCH_DTYPES = {
    "torch.float32": "float32",
    "torch.float16": "float16",
    "torch.bfloat16": "bfloat16",
    "torch.float64": "float64",
    "torch.float8_e4m3fn": "float8_e4m3fn",
    "torch.float8_e5m2": "float8_e5m2",
}


def is_torch_tensor(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "torch" and hasattr(obj, "detach") and hasattr(obj, "element_size")


def is_module(obj: Any) -> bool:
    """A torch ``nn.Module`` (or anything else whose ``state_dict()`` gives the weights)."""
    return callable(getattr(obj, "state_dict", None)) and not isinstance(obj, Mapping)


def is_array(obj: Any) -> bool:
    return isinstance(obj, np.ndarray) or is_torch_tensor(obj) or hasattr(obj, "__array__")


def is_in_memory(obj: Any) -> bool:
    return is_array(obj) or is_module(obj) or isinstance(obj, Mapping)


def _bytes_of(flat: Callable[[], "np.ndarray"]) -> Callable[[int, int], bytes]:
    """A reader over a flat uint8 view made on the first read (the one copy to the CPU, if any)."""
    made: List[np.ndarray] = []

    def read(offset: int, length: int) -> bytes:
        if not made:
            made.append(flat())
        return made[0][offset : offset + length].tobytes()

    return read


def _torch_entry(name: str, tensor: Any) -> Entry:
    dtype = _TORCH_DTYPES.get(str(tensor.dtype), str(tensor.dtype).replace("torch.", ""))
    shape = [int(d) for d in tensor.shape]
    length = int(tensor.numel()) * int(tensor.element_size())

    def flat() -> np.ndarray:
        import torch  # only reached with a torch tensor in hand, so torch is there

        cpu = tensor.detach().to("cpu").contiguous().reshape(-1)
        return cpu.view(torch.uint8).numpy()

    return name, dtype, shape, length, _bytes_of(flat)


def _array_entry(name: str, array: Any) -> Entry:
    # A JAX array (or any array with dtype and shape) stays where it is until read; others become NumPy now.
    if not (hasattr(array, "dtype") and hasattr(array, "shape") and isinstance(getattr(array, "dtype"), np.dtype)):
        array = np.asarray(array)
    dtype: np.dtype = array.dtype
    shape = [int(d) for d in array.shape]
    length = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize

    def flat() -> np.ndarray:
        host = np.asarray(array)
        if host.dtype.byteorder == ">" or (host.dtype.byteorder == "=" and sys.byteorder == "big"):
            host = host.astype(host.dtype.newbyteorder("<"))
        return np.ascontiguousarray(host).reshape(-1).view(np.uint8)

    return name, dtype.name, shape, length, _bytes_of(flat)


def _entry(name: str, value: Any) -> Entry:
    return _torch_entry(name, value) if is_torch_tensor(value) else _array_entry(name, value)


def _flatten(mapping: Mapping, prefix: str, out: List[Tuple[str, Any]]) -> None:
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, f"{name}/", out)
        elif is_array(value) and not isinstance(value, (str, bytes)):
            out.append((name, value))
        # Anything else in a state dict (an epoch number, a config string, _extra_state) is not a tensor.


def describe(obj: Any) -> str:
    """What the object is, as a label: ``VisionTransformer (a module)``, ``OrderedDict of 152 entries``,
    ``ndarray 14×14×3×384``."""
    kind = type(obj).__name__
    if is_module(obj):
        return f"{kind} (a module)"
    if isinstance(obj, Mapping):
        return f"{kind} of {len(obj)} {'entry' if len(obj) == 1 else 'entries'}"
    return f"{kind} {'×'.join(str(int(d)) for d in getattr(obj, 'shape', ()))}".strip()


def entries_of(obj: Any) -> Tuple[List[Entry], str]:
    """The object's arrays as entries, and their convention (``torch`` or ``arrays``); raises UnsupportedError
    for anything that holds none."""
    source = obj.state_dict() if is_module(obj) else obj
    if isinstance(source, Mapping):
        named: List[Tuple[str, Any]] = []
        _flatten(source, "", named)
    elif is_array(source):
        named = [("array", source)]
    else:
        raise UnsupportedError(
            f"patchlens cannot draw a {type(obj).__name__}: give a path, URL or hub id, a file's bytes, an array or "
            "tensor, a mapping of names to them, or a model with a state_dict()."
        )
    entries = [_entry(name, value) for name, value in named]
    torch_like = any(is_torch_tensor(value) for _, value in named)
    return entries, "torch" if torch_like else "arrays"


def checkpoint_of(obj: Any, label: Optional[str] = None) -> "_native.NativeCheckpoint":
    """The native checkpoint over an in-memory object; raises UnsupportedError for anything else."""
    entries, convention = entries_of(obj)
    return _native.from_arrays(entries, convention, label or describe(obj))


class MemoryFile:
    """An in-memory object as a safetensors file read by ranges (``.name``, ``.size``, ``.read``), for the
    widget: the header is laid out by the core (``safetensors_plan``), each tensor's bytes are read from the
    tensor itself when asked for — nothing is copied whole, and a tensor not drawn is never touched."""

    def __init__(self, obj: Any) -> None:
        entries, convention = entries_of(obj)
        planned = [(name, dtype, shape, length) for name, dtype, shape, length, _ in entries]
        self._header, offsets, self.size = _native.safetensors_plan(planned, convention)
        self._regions = sorted(
            (offset, length, read) for (_, _, _, length, read), offset in zip(entries, offsets) if offset is not None
        )
        self._starts = [start for start, _, _ in self._regions]
        self.name = f"{describe(obj)} (in memory).safetensors"

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError(f"The range {offset}+{length} is outside {self.name} ({self.size} bytes).")
        out = []
        end = offset + length
        at = offset
        if at < len(self._header):
            out.append(self._header[at : min(end, len(self._header))])
            at = min(end, len(self._header))
        i = max(bisect.bisect_right(self._starts, at) - 1, 0)
        while at < end and i < len(self._regions):
            start, size, read = self._regions[i]
            if at < start:  # tensors are back to back after the header: there is no gap to fill
                raise ValueError(f"Offset {at} of {self.name} is in no tensor.")
            upto = min(end, start + size)
            if upto > at:
                out.append(read(at - start, upto - at))
                at = upto
            i += 1
        data = b"".join(out)
        if len(data) != length:
            raise ValueError(f"The range {offset}+{length} of {self.name} came back {len(data)} bytes long.")
        return data

    def __repr__(self) -> str:
        return f"MemoryFile({self.name!r}, size={self.size})"
