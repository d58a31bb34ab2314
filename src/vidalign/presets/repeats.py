"""Whether the recordings of a feature folder repeat a movement: what adds a method's ``repeated`` section to its
preset when no preset is named (``docs/presets.md``).

A recording repeats a movement when the cosine self-similarity of its own frames rises again at a lag, as the
alignment-confidence check measures it (:func:`vidalign.confidence.frame_repetition`); the folder's recordings
repeat when the median of that periodicity over (up to :data:`SAMPLED_RECORDINGS` of) them reaches
:data:`vidalign.confidence.MIN_PERIODICITY`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidalign.confidence import MIN_PERIODICITY, frame_repetition
from vidalign.data.layout import DatasetError, FeatureFolder

REPEATED = "repeated"  # the section name
SAMPLED_RECORDINGS = 64  # recordings read, evenly spaced over the split


def median_periodicity(data: str | Path, split: str) -> float | None:
    """The median frame periodicity of ``split``'s recordings in the feature folder ``data``; None when they
    cannot be read (training reports why)."""
    try:
        folder = FeatureFolder(data, strict=False)
        ids = folder.video_ids(split)
        picked = ids[:: -(-len(ids) // SAMPLED_RECORDINGS)] if ids else []
        values = [frame_repetition(folder.load(video_id).features)[1] for video_id in picked]
    except DatasetError:
        return None
    return float(np.median(values)) if values else None


def repeats(periodicity: float | None) -> bool:
    """Whether a median periodicity says the recordings repeat a movement."""
    return periodicity is not None and periodicity >= MIN_PERIODICITY


def preset_line(label: str, method: str | None = None) -> str:
    """The line ``train`` prints for a run's preset ``label`` (``pose+repeated``) of ``method``, saying why
    ``repeated`` is in it."""
    repeated = REPEATED in label.split("+")
    line = f"{method} preset: {label}" if method else f"preset: {label}"
    return line + (" (the recordings repeat a movement: docs/presets.md)" if repeated else "")
