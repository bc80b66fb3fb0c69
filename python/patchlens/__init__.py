"""patchlens: see what a vision model's first layer learned — its patch-embedding filters as a grid.

>>> import patchlens
>>> patchlens.grid("ViT-B_16.npz")                 # shown inline in Jupyter
>>> patchlens.grid(model)                          # a torch nn.Module, a state dict, an array
>>> ckpt = patchlens.open("hf-audio/…" or "https://…/model.safetensors" or "weights.pth")
>>> ckpt.tensors, ckpt.default
>>> ckpt.render(view="pca", components=28).save("pca.png")

The formats, the patch-embedding choice, the scaling (each filter min–max scaled on its own, as the reference
notebook's ``MinMaxScaler`` on ``kernel.reshape(-1, n)``) and every pixel are the patchlens Rust core's: a grid
here is byte for byte the PNG ``patchlens render`` writes with the same options. Only the bytes drawn are read,
from files, URLs (HTTP ranges) and in-memory objects alike.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
import html
import os
import threading
import warnings
from typing import TYPE_CHECKING, Any, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _memory, _native, errors
from .errors import (
    InvalidOptionError,
    MalformedError,
    NetworkError,
    NoSuchTensorError,
    NotDrawableError,
    PatchlensError,
    PatchlensWarning,
    ReadError,
    TooLargeError,
    TruncatedError,
    UnknownFormatError,
    UnsupportedError,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .widget import Widget

__version__: str = _native.__version__

__all__ = [
    "open",
    "open_all",
    "grid",
    "plot",
    "Checkpoint",
    "Grid",
    "TensorInfo",
    "TileStats",
    "Adjustment",
    "Widget",
]
__all__ += errors.__all__

#: A checkpoint to open: a path, URL or hub model id (``owner/name``), a file's bytes, or an object in memory
#: (a NumPy/JAX array, a ``torch.Tensor``, a mapping of names to arrays, an ``nn.Module``).
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]

# The CLI's render options, by their Python names; `compare` is the difference view's second checkpoint.
_OPTIONS = (
    "tensor",
    "layout",
    "count",
    "columns",
    "zoom",
    "gap",
    "gap_color",
    "normalize",
    "channels",
    "order",
    "components",
    "mode",
    "extra_tokens",
    "position_grid",
)


class TensorInfo(NamedTuple):
    """One tensor of a checkpoint, as ``patchlens list --all`` shows it."""

    name: str
    #: NumPy-style name (``float32``, ``bfloat16``, ``Q4_K``, ``int64``); ``None`` if its header could not be read.
    dtype: Optional[str]
    shape: Optional[Tuple[int, ...]]
    #: Whether the filters view can draw it.
    drawable: bool
    #: Why it cannot be drawn, in a phrase; ``None`` when it can.
    reason: Optional[str]
    #: How a 4-D tensor's axes are read: ``hwio`` (kh, kw, in, out), ``oihw`` or ``ohwi``.
    layout: Optional[str]
    #: True when the file does not say and the shape decided the layout.
    layout_inferred: bool
    #: What a known first-layer name means (``timm / DINO / … patch embedding``).
    recognized: Optional[str]


@dataclass(frozen=True)
class TileStats:
    """One drawn filter's raw numbers: its index in the file, min and max (NaNs ignored), mean and L2 norm."""

    index: int
    min: float
    max: float
    mean: float
    norm: float


class Adjustment(NamedTuple):
    """An option that was out of range for this checkpoint, the value used instead, and why."""

    option: str
    value: int
    note: str


def _is_path(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike))


def _opened(sources: Sequence[Source], hub: Optional[str]) -> List["Checkpoint"]:
    """Every checkpoint among the sources: the paths/URLs together (shards, companions), each object alone."""
    if not sources:
        raise InvalidOptionError("Give a checkpoint: a path, URL or hub id, a file's bytes, or an object in memory.")
    checkpoints: List[Checkpoint] = []
    paths = [str(os.fspath(s)) for s in sources if _is_path(s)]
    if paths:
        found, skipped = _native.open(paths, hub)
        if skipped:
            warnings.warn(f"skipped {', '.join(skipped)} (not checkpoints)", PatchlensWarning, stacklevel=3)
        checkpoints.extend(Checkpoint(o.take()) for o in found)
    for source in sources:
        if _is_path(source):
            continue
        if isinstance(source, (bytes, bytearray, memoryview)):
            checkpoints.append(Checkpoint(_native.open_bytes(bytes(source), "bytes")))
        elif isinstance(source, Checkpoint):
            checkpoints.append(source)
        else:
            checkpoints.append(Checkpoint(_memory.checkpoint_of(source)))
    return checkpoints


def open_all(*sources: Source, hub: Optional[str] = None) -> List["Checkpoint"]:
    """Every checkpoint among ``sources``, as ``patchlens list`` finds them: files given together are grouped
    (the shards of one checkpoint, a TensorFlow index and its data files, an ONNX model and its external data), a
    folder stands for its files. Raises the first checkpoint's error if one cannot be opened."""
    return _opened(sources, hub)


def open(source: Source, *more: Source, hub: Optional[str] = None) -> "Checkpoint":
    """Opens one checkpoint, reading only its index: a path (``.npz``, ``.pth``, ``.safetensors``, Keras, TF,
    TFLite, Flax, GGUF, ONNX, …), a folder, a URL or a Hugging Face model id (read by HTTP ranges; ``hub`` names
    another hub), a file's bytes, or an object in memory. ``more`` are files that belong with it: shards, a
    TensorFlow checkpoint's data files, an ONNX model's external data."""
    checkpoints = _opened((source,) + more, hub)
    if len(checkpoints) != 1:
        labels = ", ".join(c.label for c in checkpoints)
        raise InvalidOptionError(
            f"These files hold {len(checkpoints)} checkpoints ({labels}); open draws one at a time (open_all gives each)."
        )
    return checkpoints[0]


def grid(source: Source, *more: Source, hub: Optional[str] = None, view: str = "filters", **options: Any) -> "Grid":
    """Opens ``source`` (see :func:`open`) and draws it: ``patchlens.grid("ViT-B_16.npz")`` is the reference
    notebook's figure (the first 128 filters, 16 to a row, each scaled on its own). Options as
    :meth:`Checkpoint.render`; ``compare=other`` draws the difference of two checkpoints."""
    return open(source, *more, hub=hub).render(view=view, **options)


def plot(source: Source, *more: Source, hub: Optional[str] = None, titles: bool = False, **options: Any) -> "Figure":
    """:func:`grid` as a matplotlib figure laid out as the notebook's: one axis per tile (see :meth:`Grid.figure`)."""
    return grid(source, *more, hub=hub, **options).figure(titles=titles)


class Checkpoint:
    """An opened checkpoint. Only its index has been read; :meth:`render` reads the tensor it draws."""

    def __init__(self, native: "_native.NativeCheckpoint") -> None:
        self._native_checkpoint = native
        self._thread = threading.get_ident()

    @property
    def _native(self) -> "_native.NativeCheckpoint":
        # The native checkpoint reads through reference-counted buffers and Python callables that belong to the
        # thread that opened it; from another thread it would abort the call, so say why instead.
        if threading.get_ident() != self._thread:
            raise UnsupportedError(
                "This checkpoint was opened in another thread; open it again in this one (a checkpoint stays in "
                "the thread that opened it)."
            )
        return self._native_checkpoint

    @property
    def label(self) -> str:
        """The file's name, the shards' common name, or what the in-memory object is."""
        return self._native.label

    @property
    def files(self) -> List[str]:
        """The files it is made of (empty for an object in memory)."""
        return self._native.files

    @property
    def format(self) -> str:
        """The format, as patchlens names it: ``npz``, ``PyTorch zip``, ``safetensors``, ``Keras HDF5``, …"""
        return self._native.format

    @property
    def notes(self) -> List[str]:
        """Things to know about the file as a whole, one sentence each (metadata, refused pickle globals, …)."""
        return self._native.notes

    @property
    def tensors(self) -> List[TensorInfo]:
        """Every tensor in file order, with whether and how it can be drawn."""
        return [
            TensorInfo(name, dtype, tuple(shape) if shape is not None else None, reason is None, reason, layout,
                       inferred, recognized)
            for name, dtype, shape, reason, layout, inferred, recognized in self._native.tensors()
        ]

    @property
    def default(self) -> Optional[str]:
        """The tensor drawn by default: the patch embedding (or first conv layer), if one is found."""
        return self._native.default

    @property
    def default_reason(self) -> Optional[str]:
        """Why :attr:`default` was chosen, in a phrase."""
        return self._native.default_reason

    @property
    def position_embedding(self) -> Optional[str]:
        """The tensor the position view draws by default, if one is found."""
        return self._native.default_position_embedding

    @property
    def file_size(self) -> int:
        return self._native.file_size

    @property
    def bytes_read(self) -> int:
        """Distinct bytes of the file(s) read so far: how little of a checkpoint patchlens looks at."""
        return self._native.bytes_read

    @property
    def requests(self) -> Optional[int]:
        """HTTP requests made so far for a URL or hub id; ``None`` for anything else."""
        return self._native.requests

    def listing(self, all: bool = False) -> str:
        """The text ``patchlens list`` prints (``all``: every tensor, with why it cannot be drawn)."""
        return self._native.listing(all=all)

    def render(self, view: str = "filters", tensor: Optional[str] = None, **options: Any) -> "Grid":
        """Draws the checkpoint; the options are the CLI's, with the same defaults and the same sentences when
        a value is wrong (:class:`InvalidOptionError`).

        view:       ``filters`` (default), ``pca`` (principal components), ``positions`` (position-embedding
                    similarity), ``difference`` (with ``compare``: A − B, least similar filters first)
        tensor:     the tensor to draw (default: the patch embedding; :attr:`tensors` lists the names)
        layout:     ``hwio``, ``oihw`` or ``ohwi``, to read a 4-D tensor's axes otherwise than the file says
        count, columns, zoom, gap: the grid (defaults 128, 16, 4, 2); ``gap_color``: ``#rrggbb``
        normalize:  ``filter`` (each on its own, the notebook's), ``global`` or ``symmetric``
        channels:   True draws each filter's R, G and B as three grey tiles
        order:      ``file`` or ``norm`` (largest L2 norm first)
        components: pca: how many (default 28)
        mode, extra_tokens, position_grid: positions: ``cosine`` or ``dot``; leading non-position tokens;
                    (rows, columns) of a grid that is not square
        compare:    a second checkpoint (or anything :func:`open` takes) for ``view="difference"``

        Out-of-range values are brought into range, as the page does, with a :class:`PatchlensWarning` saying so.
        """
        unknown = sorted(set(options) - set(_OPTIONS) - {"compare"})
        if unknown:
            names = ", ".join(_OPTIONS + ("compare",))
            raise InvalidOptionError(f"There is no option {unknown[0]}; the options are view, {names}.")
        compare = options.pop("compare", None)
        if compare is not None:
            compare = compare if isinstance(compare, Checkpoint) else open(compare)
            if view == "filters":
                view = "difference"
        native = self._native.render(
            view=view, tensor=tensor, compare=compare._native if compare is not None else None, **options
        )
        drawn = Grid(native, self, dict(options, view=view, tensor=tensor, compare=compare))
        for adjustment in drawn.adjustments_given:
            warnings.warn(f"{adjustment.option}: {adjustment.note}.", PatchlensWarning, stacklevel=2)
        return drawn

    def __repr__(self) -> str:
        default = f", default={self.default!r}" if self.default else ""
        return f"<patchlens.Checkpoint {self.label!r} ({self.format}, {len(self._native.tensors())} tensors{default})>"


class Grid:
    """A drawn grid: ``pixels`` (H × W × 4 uint8), what it shows, and ways out — :meth:`save` (PNG),
    :meth:`figure` (matplotlib), and an inline image in Jupyter."""

    def __init__(self, native: "_native.NativeGrid", checkpoint: Checkpoint, options: dict) -> None:
        self._native = native
        self._info = dict(native.info)
        self._checkpoint = checkpoint
        self._options = options
        self._pixels: Optional[np.ndarray] = None

    @property
    def pixels(self) -> np.ndarray:
        """The image as an H × W × 4 uint8 array (RGBA, alpha 255): the same bytes as the CLI's PNG."""
        if self._pixels is None:
            pixels = np.frombuffer(self._native.rgba, dtype=np.uint8).reshape(self.height, self.width, 4)
            pixels.flags.writeable = False
            self._pixels = pixels
        return self._pixels

    def __getattr__(self, name: str) -> Any:
        info = self.__dict__.get("_info", {})
        if name in info:
            return info[name]
        raise AttributeError(f"'Grid' object has no attribute {name!r}")

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self._info))

    @property
    def width(self) -> int:
        return self._info["width"]

    @property
    def height(self) -> int:
        return self._info["height"]

    @property
    def view(self) -> str:
        """``filters``, ``pca``, ``positions`` or ``difference``."""
        return self._info["view"]

    @property
    def summary(self) -> str:
        """What the grid shows, in a line (the CLI's): tensor, dtype, shape, layout, how many of how many."""
        return self._info["summary"]

    @property
    def tiles(self) -> List[TileStats]:
        """Each drawn filter's index in the file and its raw min, max, mean and L2 norm (filters and difference
        views)."""
        return [TileStats(*t) for t in self._info.get("tiles", [])]

    @property
    def adjustments(self) -> List[Adjustment]:
        """Options that were out of range and the values used instead."""
        return [Adjustment(option, value, note) for option, value, note, _ in self._info["adjustments"]]

    @property
    def adjustments_given(self) -> List[Adjustment]:
        """The :attr:`adjustments` of options the caller gave (the default count of 128 for 32 filters is none)."""
        return [Adjustment(option, value, note) for option, value, note, given in self._info["adjustments"] if given]

    @property
    def bytes_read(self) -> int:
        """Distinct bytes of the checkpoint read so far."""
        return self._checkpoint.bytes_read

    def png(self) -> bytes:
        """The grid as a PNG file's bytes (what ``patchlens render`` writes)."""
        return self._native.png()

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the grid as a PNG."""
        with builtins_open(path, "wb") as out:
            out.write(self.png())

    def tile_images(self) -> List[np.ndarray]:
        """Each tile at one pixel per value, in drawing order (H × W × 3 uint8; the three channels side by side
        with ``channels=True``): the grid drawn again at zoom 1 without gaps, cut into its cells."""
        options = {k: v for k, v in self._options.items() if k not in ("view", "tensor", "compare")}
        options.update(zoom=1, gap=0)
        if self.view in ("filters", "difference", "pca"):
            options.update(count=self.filters_shown, columns=self.columns)
        flat = self._checkpoint.render(
            view=self.view, tensor=self._options.get("tensor"), compare=self._options.get("compare"), **options
        )
        columns, rows = flat.columns, flat.rows
        tile_h, tile_w = flat.height // rows, flat.width // columns
        pixels = flat.pixels[:, :, :3]
        return [
            np.ascontiguousarray(pixels[(i // columns) * tile_h : (i // columns + 1) * tile_h,
                                        (i % columns) * tile_w : (i % columns + 1) * tile_w])
            for i in range(flat.filters_shown)
        ]

    def figure(self, titles: bool = False, size: float = 1.0) -> "Figure":
        """A matplotlib figure in the reference notebook's layout: rows × columns of axes, one tile each, axes
        off; ``titles`` puts each filter's index (from 0, as in the file) over its tile; ``size`` is inches per
        tile. The pixels are patchlens's (:meth:`tile_images`), drawn without smoothing."""
        import matplotlib.pyplot as plt

        tiles = self.tile_images()
        rows, columns = self.rows, self.columns
        figure, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size), squeeze=False)
        labels = [t.index for t in self.tiles] if self.tiles else list(range(len(tiles)))
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < len(tiles):
                ax.imshow(tiles[i], interpolation="nearest")
                if titles:
                    ax.set_title(str(labels[i]), fontsize=8)
        plt.close(figure)  # shown by Jupyter as the cell's value, not twice
        return figure

    def _repr_png_(self) -> bytes:
        return self.png()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png()).decode("ascii")
        caption = html.escape(self.summary)
        return (
            f'<figure style="margin:0"><img src="data:image/png;base64,{data}" width="{self.width}" '
            f'height="{self.height}" alt="{caption}" style="image-rendering:pixelated;max-width:100%;height:auto">'
            f'<figcaption style="font:12px sans-serif;opacity:.75">{caption}</figcaption></figure>'
        )

    def __repr__(self) -> str:
        return f"<patchlens.Grid {self.width}×{self.height}: {self.summary}>"


def __getattr__(name: str) -> Any:
    # The widget needs anywidget; importing patchlens must not.
    if name == "Widget":
        from .widget import Widget

        return Widget
    raise AttributeError(f"module 'patchlens' has no attribute {name!r}")


import builtins as _builtins  # noqa: E402  (`open` above shadows the builtin inside this module)

builtins_open = _builtins.open
