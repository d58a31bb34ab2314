"""Crash-safe file writes: a reader sees either the old file or the complete new one, never a partial file.

Every writer follows the same protocol: write the bytes to a temporary file in the target's directory,
flush and ``fsync`` it, ``os.replace`` it onto the target (atomic on POSIX and Windows within one file
system), then ``fsync`` the directory so the rename itself survives a power cut. Temporary names are
``.<name>.tmp-<random hex>``: hidden, and never ending in the target's extension, so a killed process leaves
nothing that looks like a valid output (``features/*.npy`` globs, for instance, never match them).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["atomic_save_npy", "atomic_write_json", "atomic_write_text", "temporary_name"]


def temporary_name(target: Path) -> Path:
    """Return a fresh temporary path next to ``target`` (``.<name>.tmp-<8 hex digits>``)."""
    return target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")


def _fsync_directory(directory: Path) -> None:
    """Persist a rename inside ``directory`` (POSIX only; Windows cannot open directories)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Run ``write`` on a temporary file, make it durable, then rename it onto ``path``.

    The temporary file is created with ``O_EXCL`` and mode 0o666 (so the process umask applies, as for an
    ordinary ``open``); it is removed if anything fails before the rename, including ``KeyboardInterrupt``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def atomic_save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` to ``path`` in ``.npy`` format (no pickled objects) atomically."""
    array = np.asarray(array)
    _atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    data = text.encode("utf-8")
    _atomic_write(path, lambda handle: handle.write(data))


def _to_json_native(value: Any) -> Any:
    """``json.dumps`` fallback for NumPy scalars and arrays (converted to Python numbers and lists)."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serialisable")


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as standard JSON (indented, keys in given order) to ``path`` atomically.

    NumPy scalars/arrays and paths are converted; a NaN or infinity raises ``ValueError`` because it is not
    valid JSON (callers store missing values as ``None``).
    """
    text = json.dumps(obj, indent=2, allow_nan=False, default=_to_json_native) + "\n"
    atomic_write_text(path, text)
