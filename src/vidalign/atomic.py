"""Crash-safe outputs, the project's one home for them: a reader sees either the old file or the complete new one,
never a partial file, and of concurrent runs that claim one output folder exactly one wins.

Every writer follows the same protocol: write the bytes to a temporary file in the target's directory,
flush and ``fsync`` it, ``os.replace`` it onto the target (atomic on POSIX and Windows within one file
system), then ``fsync`` the directory so the rename itself survives a power cut. Temporary names are
``.<name>.tmp-<random hex>``: hidden, and never ending in the target's extension, so a killed process leaves
nothing that looks like a valid output (``features/*.npy`` globs, for instance, never match them).
:func:`atomic_path` serves writers that need a path (video encoders pick the container from the extension): its
temporary name keeps the extension and is removed on any failure.

:func:`claim_folder` records what an output folder holds (a JSON record, created with an exclusive hard link) and
refuses to mix outputs of other settings into it: the training run directory, the demo's folder and a feature
extraction folder all use it. :func:`exclusive_use` keeps a second process out of a folder one is writing to (a
training run: two processes appending one log).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from vidalign.errors import ConfigError, VidalignError

__all__ = [
    "atomic_path",
    "atomic_save_npy",
    "atomic_save_tensors",
    "atomic_write_json",
    "atomic_write_text",
    "claim_folder",
    "exclusive_use",
    "temporary_name",
]


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


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path for a writer that only takes a path; when the block ends without an error, make the
    file durable and rename it onto ``path``. The temporary name is ``.<stem>.tmp-<hex><suffix>`` (the extension
    is kept for writers that choose the format from it); it is removed if the block fails."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp-{secrets.token_hex(4)}{target.suffix}")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(target.parent)


def atomic_save_tensors(path: str | os.PathLike[str], tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Write torch ``tensors`` (moved to CPU, made contiguous) and string ``metadata`` as a ``.safetensors`` file
    to ``path`` atomically (no pickle)."""
    from safetensors.torch import save

    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)
    _atomic_write(path, lambda handle: handle.write(data))


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


def claim_folder(
    folder: str | os.PathLike[str],
    record_name: str,
    record: dict[str, Any],
    *,
    what: str,
    ignore: Collection[str] = (),
    defaults: dict[str, Any] | None = None,
    before_claim: Callable[[], None] | None = None,
    error: type[VidalignError] = ConfigError,
) -> bool:
    """Claim ``folder`` for outputs described by ``record`` (a JSON object stored as ``folder/record_name``).

    An unclaimed folder gets the record (``before_claim`` runs first, e.g. to refuse stale outputs); the record is
    written completely under a temporary name and hard-linked into place, so of concurrent first runs exactly one
    creates it. A claimed folder must hold an equal record, keys in ``ignore`` aside (settings that may differ, such
    as the number of epochs of a resumed run); otherwise ``error`` names ``what`` the folder holds and each differing
    key with the value held and the value asked for. ``defaults`` (key -> value, or section -> {key: value}) stand
    in for what a record written before a setting existed lacks, so an older folder still matches a record that asks
    for the new setting's default. Returns True when this call claimed the folder, False when it was claimed before.
    """
    folder = Path(folder)
    path = folder / record_name
    claimed = False
    if not path.exists():
        if before_claim is not None:
            before_claim()
        draft = temporary_name(path)
        atomic_write_json(draft, record)
        try:
            os.link(draft, path)
            claimed = True
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a plain atomic rename (no concurrency guard)
            os.replace(draft, path)
            claimed = True
        finally:
            draft.unlink(missing_ok=True)
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: unreadable ({exc}); is {folder} an output folder of vidalign?") from exc
    if not isinstance(held, dict):
        raise error(f"{path}: not a record of {what} (expected a JSON object)")
    held = _with_defaults(held, json.loads(json.dumps(defaults or {}, default=_to_json_native)))
    asked = json.loads(json.dumps(record, default=_to_json_native))
    differing = [k for k in sorted((set(held) | set(asked)) - set(ignore)) if held.get(k) != asked.get(k)]
    if differing:
        changes = "; ".join(change for k in differing for change in _changes(k, held.get(k), asked.get(k)))
        raise error(f"{folder}: holds {what} with different settings ({changes}); choose another output folder")
    return claimed


def _changes(key: str, held: Any, asked: Any) -> list[str]:
    """``key: held value held, asked value asked``, per differing entry when both values are sections (dicts)."""
    if isinstance(held, dict) and isinstance(asked, dict):
        names = sorted(n for n in set(held) | set(asked) if held.get(n) != asked.get(n))
        return [f"{key}.{n}: {_short(held.get(n))} held, {_short(asked.get(n))} asked" for n in names]
    return [f"{key}: {_short(held)} held, {_short(asked)} asked"]


def _with_defaults(held: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``held`` with the keys it lacks taken from ``defaults``, one section level deep."""
    merged = dict(held)
    for key, value in defaults.items():
        if key not in merged:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = {**value, **merged[key]}
    return merged


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."


@contextlib.contextmanager
def exclusive_use(
    folder: str | os.PathLike[str], *, what: str, error: type[VidalignError] = ConfigError
) -> Iterator[None]:
    """Hold ``folder`` for this process inside the block: another process asking for it meanwhile gets ``error``
    (naming ``what`` it is busy with). An advisory ``flock`` on ``folder/.lock``, dropped by the system when the
    process ends however it ends, so a killed run never leaves a stale lock; where the platform (Windows) or the
    file system (some cluster mounts) has no ``flock`` the block runs unguarded."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise error(f"{folder}: another process is {what} right now; wait for it, or choose another output "
                        "folder") from None  # fmt: skip
        except OSError as unsupported:  # a file system without flock (Lustre without -o flock, NFS nolock)
            if unsupported.errno not in (errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP):
                raise
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
