"""Whether one pose recording is the mirror image of the other (``docs/methods.md``, Mirror images of poses).

Two people doing the same movement, one filmed from their left and one from their right (a push-up, a squat), or
one waving with the right hand and one with the left, give pose features that are mirror images of each other
(:mod:`vidalign.data.mirror`): their x coordinates run the other way and their left and right joints trade places,
so the recordings look alike only in their y coordinates. :func:`choose_mirror` aligns A with B as recorded and
with B mirrored, in the representation the alignment uses (a model's embeddings, or the raw features as they are
or standardised), and keeps the orientation whose DTW path is the more similar on average: the mean cosine
similarity along the path, of the recordings strided to at most :data:`MIRROR_FRAMES` frames each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidalign.confidence import dtw_path_mean
from vidalign.data.mirror import mirror_pose_features
from vidalign.similarity import cosine_similarity

__all__ = ["MIRROR_FRAMES", "MirrorChoice", "choose_mirror"]

MIRROR_FRAMES = 512


@dataclass(frozen=True)
class MirrorChoice:
    """The orientation chosen for B: ``mirrored`` and the mean similarity along the DTW path with B as recorded
    (``as_recorded``) and mirrored (``as_mirrored``)."""

    mirrored: bool
    as_recorded: float
    as_mirrored: float

    def to_json(self) -> dict[str, Any]:
        return {
            "mirrored": self.mirrored,
            "path_similarity": {"as_recorded": round(self.as_recorded, 6), "mirrored": round(self.as_mirrored, 6)},
        }


def _path_similarity(emb_a: np.ndarray, emb_b: np.ndarray) -> float:
    stride_a, stride_b = (-(-len(e) // MIRROR_FRAMES) for e in (emb_a, emb_b))
    return dtw_path_mean(cosine_similarity(emb_a[::stride_a], emb_b[::stride_b]))


def choose_mirror(embed: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray) -> MirrorChoice:
    """Whether pose recording ``b`` aligns with ``a`` better mirrored (module docstring). ``embed``: pose features
    ``[T, D]`` -> the representation the alignment uses ``[T, E]``."""
    emb_a = embed(a)
    as_recorded, as_mirrored = (_path_similarity(emb_a, embed(x)) for x in (b, mirror_pose_features(b)))
    return MirrorChoice(as_mirrored > as_recorded, as_recorded, as_mirrored)
