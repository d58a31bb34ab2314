"""Embedding spread: the collapse check of a trained model (``docs/evaluation.md``, "Collapse").

A model has collapsed within videos when it maps every frame of a video to (nearly) one point: the embedding then
says *which video* a frame comes from and not *where in the process* it is, and any alignment of two videos is
close to arbitrary. Three statistics over a set of videos' embeddings:

- ``within``: mean cosine similarity of two different frames of the same video (1 = collapsed within videos);
- ``across``: mean cosine similarity of frames of two different videos;
- ``effective_rank``: ``exp`` of the entropy of the normalised singular values of all frames, centred
  (Roy & Vetterli 2007): about 1 when every frame lies on one line, up to the dimension when spread evenly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COLLAPSED_WITHIN = 0.95  # a within-video similarity above this is reported as a collapse


def _unit(embedding: np.ndarray) -> np.ndarray:
    z = np.asarray(embedding, dtype=np.float64)
    return z / np.linalg.norm(z, axis=1, keepdims=True).clip(1e-12)


def embedding_spread(embeddings: Sequence[np.ndarray]) -> dict[str, float]:
    """``within``, ``across`` and ``effective_rank`` (module docstring) of ``[T_v, D]`` embeddings, one per video;
    ``across`` is NaN for a single video, ``within`` ignores videos of one frame."""
    units = [_unit(e) for e in embeddings]
    sums = [u.sum(0) for u in units]
    within = [(s @ s - len(u)) / (len(u) * (len(u) - 1)) for u, s in zip(units, sums, strict=True) if len(u) > 1]
    pairs = [(sums[a] @ sums[b]) / (len(units[a]) * len(units[b])) for a in range(len(units)) for b in range(a)]
    frames = np.concatenate([np.asarray(e, dtype=np.float64) for e in embeddings])
    singular = np.linalg.svd(frames - frames.mean(0), compute_uv=False)
    p = singular / max(singular.sum(), 1e-300)
    rank = float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum())) if singular.sum() > 0 else 1.0
    return {
        "within": float(np.mean(within)) if within else float("nan"),
        "across": float(np.mean(pairs)) if pairs else float("nan"),
        "effective_rank": rank,
    }


def is_collapsed(spread: dict[str, float]) -> bool:
    """Whether ``within`` (mean within-video similarity) is above :data:`COLLAPSED_WITHIN`."""
    return bool(spread["within"] > COLLAPSED_WITHIN)


def _shown(value: float | None, digits: int) -> str:
    """A statistic for a message: ``-`` when there is none (``across`` of one video: NaN, ``null`` in JSON)."""
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def collapse_message(name: str, spread: dict[str, float]) -> str:
    """One line saying that model ``name`` collapsed, with the numbers and what it means for its alignments."""
    return (
        f"{name} collapsed within videos: its frames of one video have mean cosine similarity "
        f"{_shown(spread['within'], 3)} (> {COLLAPSED_WITHIN}; across videos {_shown(spread['across'], 3)}, "
        f"effective rank {_shown(spread['effective_rank'], 1)}), so its embeddings tell videos apart, not positions "
        "in the process; alignments and segments made with it cannot be trusted (docs/evaluation.md, Collapse)"
    )
