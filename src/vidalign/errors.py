"""The errors vidalign raises for problems a user can fix; the CLI prints them as one line (``vidalign CMD:
error: ...``) and keeps the traceback of anything else, which is a bug.

Every class is a ``ValueError`` (existing ``except ValueError`` code keeps working):

- :class:`DataError` - a file or folder's content: a feature folder, a video, a label file, a run directory
  (:class:`MissingFileError`: a run directory's file that does not exist; also a ``FileNotFoundError``);
- :class:`ConfigError` - settings: a method, preset, protocol, hyper-parameter or option that does not exist or
  does not fit (:class:`BackboneError`: a frame backbone that cannot be built);
- :class:`InputError` - arguments that do not fit each other: shapes, feature dimensions, a frame index out of
  range, a metric undefined on the given videos;
- :class:`DeviceError` - a requested device that this machine does not have;
- :class:`DivergedError` - training produced a non-finite loss or embedding (a learning rate too high, a
  temperature of 0, features with huge values); also a ``FloatingPointError``.

Results that exist but should not be trusted are :class:`TrustWarning` warnings (the CLI prints them as one line):
:class:`CollapseWarning` for a model whose embeddings collapsed within videos (``docs/evaluation.md``,
"Collapse"), :class:`UntrustedAlignmentWarning` for an alignment that does not stand out from chance
(``docs/methods.md``, "Alignment confidence"), :class:`BandEdgeWarning` for a banded alignment that runs along the
band's edge (``docs/methods.md``, "Band").
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable


class VidalignError(ValueError):
    """Base class: a problem the user can fix, stated in one line."""


class DataError(VidalignError):
    """A file or folder's content is missing or wrong (the message names the file)."""


class MissingFileError(DataError, FileNotFoundError):
    """A file the user named (a run directory's files) does not exist; also a ``FileNotFoundError``."""


class ConfigError(VidalignError):
    """A setting or option that does not exist or does not fit."""


class BackboneError(ConfigError):
    """A frame backbone cannot be built (unknown name, weights or an optional package unavailable); one line."""


class InputError(VidalignError):
    """Arguments that do not fit each other or the task."""


class DeviceError(VidalignError, RuntimeError):
    """The requested device is not available."""


class DivergedError(VidalignError, FloatingPointError):
    """Training produced a non-finite loss or embedding; the message says at which epoch and what to try."""


class UnfinishedExtractionWarning(UserWarning):
    """A feature folder lacks videos its last ``vidalign extract`` was given: it was stopped before them."""


class TrustWarning(UserWarning):
    """A result was computed but cannot be trusted; the message says why and what to do."""


class CollapseWarning(TrustWarning):
    """A trained model maps the frames of a video to (nearly) one point (``docs/evaluation.md``, "Collapse")."""


class UnfinishedRunWarning(TrustWarning):
    """A training run stopped before its last epoch (interrupted, killed): its weights are those of an earlier
    epoch (``docs/data.md``, Run directory)."""


class UntrustedAlignmentWarning(TrustWarning):
    """An alignment whose frames are indistinguishable or whose matches do not stand out (``docs/methods.md``,
    "Alignment confidence")."""


class BandEdgeWarning(TrustWarning):
    """A banded alignment touches the band's edge: the band, not the recordings, may have shaped it
    (``docs/methods.md``, "Band")."""


def one_line(text: object) -> str:
    """An exception text (possibly multi-line) collapsed to one line."""
    return " ".join(str(text).split())


def unknown_keys_message(kind: str, unknown: Iterable[str], valid: Iterable[str]) -> str:
    """``unknown loss key 'epss' (did you mean 'eps'?); valid keys: alpha, eps, ...`` - one line."""
    unknown, valid = sorted(unknown), sorted(valid)
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    plural = "s" if len(unknown) > 1 else ""
    return f"unknown {kind} key{plural} {', '.join(hints)}; valid keys: {', '.join(valid)}"


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that names the first line outside vidalign: the user's call, however
    deep in the library the warning is decided."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1  # the function that warns
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level
