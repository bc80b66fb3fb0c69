"""What can go wrong, as exceptions: one class per kind of failure, each carrying the one-sentence message the
page and the CLI show for it (``str(error)`` is that sentence). Catch :class:`PatchlensError` for all of them;
the kinds that are also a built-in kind derive from it too (a :class:`ReadError` is an ``OSError``, an
:class:`InvalidOptionError` a ``ValueError``)."""

from __future__ import annotations

__all__ = [
    "PatchlensError",
    "ReadError",
    "TruncatedError",
    "UnknownFormatError",
    "MalformedError",
    "UnsupportedError",
    "TooLargeError",
    "NoSuchTensorError",
    "NotDrawableError",
    "InvalidOptionError",
    "NetworkError",
    "PatchlensWarning",
]


class PatchlensError(Exception):
    """A checkpoint could not be opened or drawn; ``str(error)`` says why in one sentence."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ReadError(PatchlensError, OSError):
    """The bytes could not be read: no such file, no permission, a read that failed."""


class TruncatedError(PatchlensError):
    """The file ends before a structure it promises (a download cut short)."""


class UnknownFormatError(PatchlensError):
    """The bytes are in no format patchlens reads."""


class MalformedError(PatchlensError):
    """The file claims a known format, but something inside it is inconsistent."""


class UnsupportedError(PatchlensError):
    """A well-formed feature, or an object, that patchlens does not read."""


class TooLargeError(PatchlensError):
    """A tensor or allocation larger than patchlens reads at once."""


class NoSuchTensorError(PatchlensError, LookupError):
    """The tensor asked for is not in the checkpoint."""


class NotDrawableError(PatchlensError):
    """The tensor exists but cannot be drawn as the view asks (not 4-D, not float, …)."""


class InvalidOptionError(PatchlensError, ValueError):
    """An option's value is not one patchlens takes (``normalize="max"``, ``count=-1``)."""


class NetworkError(PatchlensError, ConnectionError):
    """A server could not be reached or stopped answering; trying again may work."""


class PatchlensWarning(UserWarning):
    """An option was out of range for the checkpoint and another value was used (``count=5000`` for 384 filters)."""
