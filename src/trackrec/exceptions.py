"""Typed errors. The library raises these; the CLI turns them into one-line messages and exit
codes, the service into 4xx responses. Every message names what was wrong and what was expected."""

from __future__ import annotations

__all__ = [
    "TrackrecError",
    "DataError",
    "TrainingError",
    "NotFittedError",
    "ModelFormatError",
    "UnknownTrackError",
    "ModelUnavailableError",
]


class TrackrecError(Exception):
    """Base class of every error trackrec raises on purpose."""


class DataError(TrackrecError, ValueError):
    """Input data is unusable: missing file or column, unparseable value, empty file...

    The message already names the file, the column and the line (1-based, counting the header
    as line 1) where they apply.
    """

    def __init__(self, message: str, *, path: str | None = None, column: str | None = None,
                 line: int | None = None):
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)
        self.path, self.column, self.line = path, column, line


class TrainingError(TrackrecError, ValueError):
    """Training cannot proceed (too few samples, a single class, no positives...)."""


class NotFittedError(TrackrecError, AttributeError):
    """A model was used before ``fit``."""


class ModelFormatError(TrackrecError):
    """A saved model is missing, truncated, tampered with, or of an unsupported format version."""


class UnknownTrackError(TrackrecError, KeyError):
    """A request named a track id that the model or catalogue does not know."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown track"


class ModelUnavailableError(TrackrecError):
    """A strategy cannot run on this data (e.g. a content model without a catalogue)."""
