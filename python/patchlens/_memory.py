"""Objects already in the process — a NumPy array, a ``torch.Tensor``, a JAX array, a state dict or any mapping
of names to arrays (nested ones joined with ``/``, as Flax names them), an ``nn.Module`` — handed to the native
module as named, typed, shaped byte ranges. Nothing is copied until the native side reads it, and then only the
slices drawn: a tensor on a GPU comes to the CPU when it is drawn, not before.

torch and jax are never imported here: their objects are recognised by what they have, so neither is a
dependency."""

from __future__ import annotations

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
    """What the object is, as a label: ``VisionTransformer (a torch module)``, ``a state dict of 152 tensors``."""
    kind = type(obj).__name__
    if is_module(obj):
        return f"{kind} (a module)"
    if isinstance(obj, Mapping):
        return f"a {kind} of {len(obj)}"
    return f"{kind} {'×'.join(str(int(d)) for d in getattr(obj, 'shape', ()))}".strip()


def checkpoint_of(obj: Any, label: Optional[str] = None) -> "_native.NativeCheckpoint":
    """The native checkpoint over an in-memory object; raises UnsupportedError for anything else."""
    label = label or describe(obj)
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
    return _native.from_arrays(entries, "torch" if torch_like else "arrays", label)
