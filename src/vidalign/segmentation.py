"""Segmentation of a feature folder into action segments with a trained model (``vidalign segment``).

Per video of a feature folder, the action id of every frame from a trained ASOT / VASOT run's prototypes
    (``model.segment``: evaluation OT parameters, whole video), or, on request, k-means with ``K`` clusters on the
    model's embeddings of all videos together. Action ids are unsupervised. When the folder has ground truth,
    each id is named by the class it is matched to (Hungarian matching over all videos' frames, the "full"
    scope of the evaluation); otherwise prototype ``k`` carries the run's ``class_names[k]`` - prototypes are
    k-means initialised and ordered only through the temporal prior, so that name is a guess, flagged as such
    by ``names_from`` in the JSON. :func:`write_segmentation` writes ``segments.json`` and ``timelines.png``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidalign.data.layout import FeatureFolder, read_extractor_record
from vidalign.errors import InputError
from vidalign.frames import FrameSource
from vidalign.inputs import meta_timestamps
from vidalign.labels.kmeans import kmeans_baseline
from vidalign.labels.matching import hungarian_mapping
from vidalign.labels.runs import label_runs
from vidalign.outputs import write_segmentation
from vidalign.representation import Representation

if TYPE_CHECKING:
    from vidalign.models.model import VidalignModel


@dataclass
class Segmentation:
    """Action ids per frame of every video (``labels``), with the folder's ground truth (``ground_truth``,
    class ids of ``class_names``) when it has labels, ``timestamps`` from the videos' meta when known,
    ``names`` (action id -> name) and how they were obtained (``names_from``), and a description of the
    ``segmenter``."""

    labels: dict[str, np.ndarray]
    ground_truth: dict[str, np.ndarray] | None
    timestamps: dict[str, list[float] | None]
    class_names: list[str] | None
    names: dict[int, str]
    names_from: str | None
    segmenter: str
    model: str
    fps: dict[str, float | None] = field(default_factory=dict)
    frame_sources: dict[str, FrameSource] = field(default_factory=dict, repr=False)  # videos whose source is known
    n_actions: int | None = None  # the prototypes' (or k-means') K; fewer may take frames

    @property
    def actions_used(self) -> int:
        """How many distinct action ids took at least one frame."""
        return int(np.unique(np.concatenate([*self.labels.values(), np.zeros(0, np.int64)])).size)

    def segments(self, video_id: str) -> list[dict[str, Any]]:
        """Maximal runs of one action id: ``label``, ``name``, inclusive ``start`` / ``end`` frames, and the
        first / last frame's timestamp ``start_time`` / ``end_time`` (seconds) when known."""
        if video_id not in self.labels:
            known = sorted(self.labels)
            shown = ", ".join(known[:5]) + (f", ... ({len(known)} in all)" if len(known) > 5 else "")
            raise InputError(f"no video {video_id!r} was segmented; the videos: {shown}")
        runs = []
        times = self.timestamps.get(video_id)
        for label, start, stop in zip(*label_runs(self.labels[video_id]), strict=True):
            run = {"label": int(label), "name": self.names.get(int(label)), "start": int(start), "end": int(stop) - 1}
            if times is not None:
                run.update(start_time=times[start], end_time=times[stop - 1])
            runs.append(run)
        return runs

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "segmenter": self.segmenter,
            "n_actions": self.n_actions,
            "actions_used": self.actions_used,
            "names_from": self.names_from,
            "videos": {video_id: self.segments(video_id) for video_id in self.labels},
        }

    def write(
        self, out_dir: str | os.PathLike[str], *, progress: bool = False, viewer: bool = True
    ) -> tuple[Path, ...]:
        """Write ``segments.json``, ``timelines.png`` and the viewer page
        (:func:`vidalign.outputs.write_segmentation`)."""
        return write_segmentation(self, out_dir, progress=progress, viewer=viewer)


def _names(
    labels: dict[str, np.ndarray], folder: FeatureFolder, ground_truth: dict | None, config: dict, by_index: bool
) -> tuple[dict[int, str], str | None]:
    """Action id -> class name: Hungarian-matched to the ground truth, else the run's names by index."""
    if ground_truth:
        ids = list(labels)
        mapping = hungarian_mapping(
            np.concatenate([labels[v] for v in ids]), np.concatenate([ground_truth[v] for v in ids])
        )
        names = {label: folder.class_names[cls] for label, cls in mapping.items()}
        return names, "ground truth (Hungarian matching over all frames of the segmented videos)"
    run_names = config.get("class_names")
    if by_index and run_names:
        names = {k: name for k, name in enumerate(run_names)}
        return names, "the run's class_names by prototype index (unsupervised prototypes: a guess)"
    return {}, None


def segment(
    data: str | os.PathLike[str] | FeatureFolder,
    model: str | os.PathLike[str] | VidalignModel,
    *,
    split: str | None = None,
    kmeans: int | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> Segmentation:
    """Segment every video of ``split`` (all videos when None) of a feature folder with the prototypes of the
    ASOT / VASOT run ``model`` or, with ``kmeans=K``, k-means on the run's embeddings, or on a reference
    representation (``"none"``: the raw features, ``"standardized"``, ``"time"``; module docstring)."""
    folder = data if isinstance(data, FeatureFolder) else FeatureFolder(data)
    trained = Representation(model, device)
    method = trained.model.method if trained.model is not None else None
    if kmeans is None and not trained.segments_with_prototypes:
        what = f"model {model} ({method})" if method else f"the reference representation {model!r}"
        raise InputError(
            f"{what} has no action prototypes; segment with an asot or vasot run, or cluster its embeddings "
            "with --kmeans K (kmeans=K)"
        )
    if kmeans is not None and kmeans < 1:
        raise InputError(f"--kmeans (kmeans=) needs K >= 1, got {kmeans}")
    records = folder.load_split(split)
    if not records:
        raise InputError(f"{folder.root}: no videos" + (f" in split {split!r}" if split else ""))
    kind = "extracted" if read_extractor_record(folder.root) else "features"  # from videos: extract them again
    trained.check_dim(records[0].features.shape[1], f"{folder.root} holds", source=kind)
    if kmeans is None:
        predicted = [trained.segment(r.features) for r in records]
        segmenter = f"{method} prototypes, evaluation OT parameters, whole videos"
        n_actions = trained.model.criterion.n_clusters
    else:
        predicted = kmeans_baseline([trained.embed(r.features) for r in records], kmeans, seed=seed)
        embedded = f"the {method} embeddings" if method else f"the {model!r} reference representation"
        segmenter = f"k-means (K={kmeans}, seed {seed}) on {embedded} of all videos"
        n_actions = kmeans
    labels = {r.video_id: np.asarray(p, dtype=np.int64) for r, p in zip(records, predicted, strict=True)}
    ground_truth = {r.video_id: r.labels for r in records} if folder.has_labels else None
    names, names_from = _names(labels, folder, ground_truth, trained.config, by_index=kmeans is None)
    timestamps = {r.video_id: meta_timestamps(r.meta, len(r.features)) for r in records}
    fps = {r.video_id: r.meta.get("fps") for r in records}
    sources = {r.video_id: found for r in records if (found := FrameSource.from_meta(r.meta)) is not None}
    return Segmentation(
        labels, ground_truth, timestamps, folder.class_names, names, names_from, segmenter, str(model), fps, sources,
        n_actions,
    )  # fmt: skip
