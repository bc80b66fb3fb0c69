"""The Jupyter widget: the page's panel in a notebook, drawn by the same wasm module in the front end.

The front end asks for byte ranges (`{"type": "read", "id", "ranges": [[file, offset, length], ...]}`) and
this side answers with exactly those bytes as message buffers; no file is ever sent whole."""

from __future__ import annotations

import os
import pathlib
from typing import Any, Dict, List, Optional

import anywidget
import traitlets

from ._sources import RangeFile, files_of

_STATIC = pathlib.Path(__file__).parent / "_static"
_NOT_BUILT = "The widget's front end was not built; run `bash scripts/build-widget.sh`."

# One reply carries at most this many bytes: the front end asks by 64 KiB blocks, and a kernel should
# never be asked to hold a big share of a checkpoint in one message.
MAX_REPLY_BYTES = 256 * 1024 * 1024
VIEWS = ("filters", "pca", "positions", "difference")
# What `Widget(..., **options)` takes: the settings below, by the CLI's names.
OPTIONS = ("view", "normalize", "channels", "order", "count", "columns", "zoom", "gap", "components", "mode", "tensor", "selected")


class FrontEndMissing(RuntimeError):
    """The bundled front end (`_static/widget.js`, `_static/patchlens_bg.wasm`) is not there."""


def _front_end() -> tuple:
    try:
        return (_STATIC / "widget.js").read_text(encoding="utf-8"), (_STATIC / "patchlens_bg.wasm").read_bytes()
    except FileNotFoundError:
        raise FrontEndMissing(_NOT_BUILT) from None


def _choice(name: str, choices: tuple, default: str) -> traitlets.Enum:
    return traitlets.Enum(choices, default_value=default, help=f"{name}: one of {', '.join(choices)}").tag(sync=True)


def _count(help: str) -> traitlets.Int:
    return traitlets.Int(None, allow_none=True, help=help).tag(sync=True)


class Widget(anywidget.AnyWidget):
    """`Widget(*sources, hub=None, **options)`: each source is one checkpoint — a path (a folder, an index and its
    shards), a list of paths that are one checkpoint, a URL or hub model id (`hub` names another hub), a file's
    bytes, or an object in memory (an array, a tensor, a state dict, a model) — shown side by side with shared
    settings. Options are the traitlets below."""

    _esm = traitlets.Unicode("").tag(sync=True)
    _module = traitlets.Bytes(b"").tag(sync=True)  # the wasm module: notebook front ends serve no package files
    files = traitlets.List(traitlets.Dict(), help="[{checkpoint, name, size}] of every file").tag(sync=True)
    view = _choice("view", VIEWS, "filters")
    normalize = _choice("normalize", ("filter", "global", "symmetric"), "filter")
    channels = traitlets.Bool(False, help="draw R, G and B apart, as grey tiles").tag(sync=True)
    order = _choice("order", ("file", "norm"), "file")
    count = _count("filters drawn (None: the module's default)")
    columns = _count("tiles per row (None: the module's default)")
    zoom = traitlets.Int(4, help="pixels per weight").tag(sync=True)
    gap = _count("pixels between tiles (None: the module's default)")
    components = traitlets.Int(28, help="principal components drawn in the pca view").tag(sync=True)
    mode = _choice("mode", ("cosine", "dot"), "cosine")
    tensor: traitlets.List[Optional[str]] = traitlets.List(help="the tensor drawn, per checkpoint (None: its patch embedding)").tag(sync=True)
    selected = traitlets.Dict(None, allow_none=True, help="{checkpoint, filter} last clicked").tag(sync=True)
    hovered = traitlets.Dict(None, allow_none=True, help="{checkpoint, filter} under the pointer").tag(sync=True)
    bytes_served = traitlets.Int(0, help="bytes sent to the front end so far").tag(sync=False)

    def __init__(self, *sources: Any, hub: Optional[str] = None, **options: Any) -> None:
        if not sources:
            raise TypeError("Widget needs at least one checkpoint: Widget('model.npz') or Widget(a, b).")
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise TypeError(f"Widget has no option {', '.join(map(repr, unknown))}; the options are {', '.join(OPTIONS)}.")
        esm, module = _front_end()
        opened: List[List[RangeFile]] = []
        try:
            for source in sources:
                opened.append(files_of(source, hub))
        except BaseException:
            _close_all(opened)
            raise
        self._sources = opened
        listed = [{"checkpoint": c, "name": f.name, "size": f.size} for c, files in enumerate(opened) for f in files]
        tensor = options.pop("tensor", None)
        if tensor is None or isinstance(tensor, str):
            tensor = [tensor] * len(opened)
        try:
            super().__init__(_esm=esm, _module=module, files=listed, tensor=list(tensor), **options)
        except BaseException:  # an option out of its range: the files open for nothing are closed
            _close_all(opened)
            raise
        self.on_msg(self._on_message)

    @traitlets.validate("tensor")
    def _tensor_per_checkpoint(self, proposal: Dict[str, Any]) -> List[Optional[str]]:
        value = list(proposal["value"])
        wanted = len(getattr(self, "_sources", value))
        if len(value) != wanted or not all(t is None or isinstance(t, str) for t in value):
            raise traitlets.TraitError(f"tensor is a list of {wanted} names (or None), one per checkpoint.")
        return value

    @traitlets.validate("view")
    def _difference_of_two(self, proposal: Dict[str, Any]) -> str:
        shown = len(getattr(self, "_sources", []))
        if proposal["value"] == "difference" and shown != 2:
            raise traitlets.TraitError(f"The difference view needs two checkpoints; this widget shows {shown}.")
        return proposal["value"]

    @traitlets.validate("count", "columns", "gap", "zoom", "components")
    def _whole_number(self, proposal: Dict[str, Any]) -> Optional[int]:
        value, name = proposal["value"], proposal["trait"].name
        least = 0 if name == "gap" else 1
        if value is not None and value < least:
            raise traitlets.TraitError(f"{name} must be at least {least}, not {value}.")
        return value

    def _on_message(self, _widget: Any, content: Dict[str, Any], _buffers: List[Any]) -> None:
        if isinstance(content, dict) and content.get("type") == "read":
            reply, buffers = self.serve(content)
            self.send(reply, buffers)

    def serve(self, request: Dict[str, Any]) -> tuple:
        """The reply to one read request: `({"type": "bytes", "id", "ok", "message"?}, [bytes per range])`."""
        reply: Dict[str, Any] = {"type": "bytes", "id": request.get("id"), "ok": True}
        flat = [f for files in self._sources for f in files]
        buffers: List[bytes] = []
        total = 0
        try:
            for entry in request.get("ranges", []):
                index, offset, length = (int(v) for v in entry)
                if not 0 <= index < len(flat):
                    raise ValueError(f"There is no file {index} in this widget.")
                total += length
                if total > MAX_REPLY_BYTES:
                    raise ValueError(f"One read asked for more than {MAX_REPLY_BYTES} bytes.")
                buffers.append(flat[index].read(offset, length))
        except (OSError, ValueError, TypeError) as error:
            return {**reply, "ok": False, "message": _sentence(error)}, []
        self.bytes_served += total
        return reply, buffers

    def close(self) -> None:
        """Closes the widget and its files."""
        _close_all(getattr(self, "_sources", []))
        super().close()


def _close_all(sources: List[List[RangeFile]]) -> None:
    """Closes every file that can be closed (`close` is optional: an in-memory file has nothing to close)."""
    for files in sources:
        for file in files:
            close = getattr(file, "close", None)
            if close is not None:
                close()


def _sentence(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if text.endswith(".") else text + "."
