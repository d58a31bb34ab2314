"""Features -> what is aligned, segmented or scored: raw features, time only, or a trained model's embeddings.

One object used by ``vidalign eval`` (:mod:`vidalign.evaluation.folder`) and by inference (:mod:`vidalign.api`,
``align`` / ``segment``):

- a run directory of ``vidalign train`` (or a loaded :class:`~vidalign.models.model.VidalignModel`): its encoder's
  embeddings (at the frame rate it was trained at), and its prototypes' segmentation for ASOT / VASOT;
- ``none``: the raw features;
- ``standardized``: the raw features standardised per recording (:func:`standardize_recording`: each channel less
  its mean over the recording, over its standard deviation there), which removes what stays constant through a
  recording - the person, the room, the camera (``docs/methods.md``, Raw features of videos of people);
- ``time``: the normalised frame position ``t / T`` alone - the time-leakage reference row (``docs/methods.md``,
  Time leakage).

Videos reach a model through the frame backbone its features came from, sampled as its training frames were
(:func:`video_frontend`).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidalign.data.layout import read_extractor_record
from vidalign.errors import (
    CollapseWarning,
    ConfigError,
    DataError,
    InputError,
    UnfinishedRunWarning,
    user_stacklevel,
)
from vidalign.evaluation.spread import collapse_message

if TYPE_CHECKING:
    from vidalign.models.model import VidalignModel

REFERENCE_MODELS = ("none", "standardized", "time")
DEFAULT_BACKBONE = "efficientnet_lite0"  # embeds videos when nothing says which backbone (offline, docs/data.md)


def time_features(n_frames: int) -> np.ndarray:
    """The time-only representation ``[t / T]`` of a video (``docs/methods.md`` "Time leakage")."""
    return (np.arange(n_frames, dtype=np.float32) / n_frames)[:, None]


def training_extraction(config: dict) -> dict:
    """The ``extractor.json`` of the folder a run was trained on (``vidalign extract``: backbone, weights, dim,
    sampling), as the run recorded it when it was trained; for a run trained before runs recorded it, read from
    the folder's path (relative paths against the current directory); empty when there is none (a folder of
    converted or synthetic features, or one that has moved)."""
    recorded = config.get("extraction")
    if isinstance(recorded, dict):
        return recorded
    data = (config.get("train") or {}).get("data")
    try:
        return read_extractor_record(data) if isinstance(data, str) else {}
    except (OSError, DataError):
        return {}


def training_backbone(config: dict) -> str | None:
    """The frame backbone a run's features came from: a fine-tuned run's own (``vidalign finetune``), else the one
    in the ``extractor.json`` of the folder it was trained on, else ``pose`` for a run on pose features (converted
    keypoints, Penn Action: the pose backbone gives videos the same features); None when none is known."""
    tuned = config.get("backbone")
    if tuned:
        return tuned["name"]
    extracted = training_extraction(config).get("backbone")
    if extracted:
        return extracted
    family = str((config.get("train") or {}).get("preset") or "").split("+")[0]  # PresetChoice.label: family first
    return "pose" if family == "pose" else None


def training_sampling(config: dict) -> tuple[int | None, float | None]:
    """``(stride, fps)`` of the frames a run was trained on: a fine-tuned run's own, else the sampling recorded
    in its training folder's ``extractor.json``; ``(None, None)`` (every frame) when neither is known. A temporal
    encoder must see videos at the rate it was trained at (``docs/methods.md``, Frame rate)."""
    sampling = config.get("frames") if config.get("backbone") else training_extraction(config).get("sampling")
    if not isinstance(sampling, dict):
        return None, None
    return sampling.get("stride"), sampling.get("fps")


def frontend_of(
    config: dict, run: str | Path | None, *, backbone: str | None = None, weights: str | Path = "default",
    stride: int | None = None, fps: float | None = None,
) -> dict:  # fmt: skip
    """How videos are embedded for the run ``run`` with ``config.json`` ``config`` (``{}`` and None for raw
    features): ``{"backbone", "weights", "stride", "target_fps"}``. A fine-tuned run's own backbone and weights
    unless ``weights`` is given; else ``backbone``, else the one its training features came from
    (:func:`training_backbone`), else :data:`DEFAULT_BACKBONE`. ``stride`` / ``fps`` when either is given, else the
    sampling of the run's training frames (:func:`training_sampling`), else every frame."""
    tuned = config.get("backbone")
    if tuned and str(weights) == "default" and run is not None:
        backbone, weights = tuned["name"], Path(run) / tuned["weights"]
    if stride is None and fps is None:
        stride, fps = training_sampling(config)
    backbone = backbone or training_backbone(config) or DEFAULT_BACKBONE
    return {"backbone": backbone, "weights": weights, "stride": stride, "target_fps": fps}


def video_frontend(model: str | Path | None, **options) -> dict:
    """:func:`frontend_of` for ``model`` (a run directory, a reference name or None), reading the run's
    ``config.json`` without loading the model; ``options`` as there."""
    if model is None or str(model) in REFERENCE_MODELS or not Path(model).is_dir():
        return frontend_of({}, None, **options)
    from vidalign.run_dir import RunDir

    return frontend_of(RunDir(model).read_config(), model, **options)


def standardize_recording(features: np.ndarray) -> np.ndarray:
    """``[T, D]`` features, each channel less its mean over the ``T`` frames and over its standard deviation
    there (a channel constant through the recording becomes 0); statistics in float64, the result in the
    features' float type (float32 for others), so a long recording costs no more than its features."""
    features = np.asarray(features)
    dtype = features.dtype if np.issubdtype(features.dtype, np.floating) else np.dtype(np.float32)
    spread = features.std(axis=0, dtype=np.float64)
    scale = np.divide(1.0, spread, out=np.zeros_like(spread), where=spread > 1e-12)
    mean = features.mean(axis=0, dtype=np.float64)
    return (features.astype(dtype, copy=False) - mean.astype(dtype)) * scale.astype(dtype)


def _is_model(model: object) -> bool:
    """Whether ``model`` is a loaded :class:`~vidalign.models.model.VidalignModel` (none can exist before its
    module, and torch, are imported: the references ``none`` / ``standardized`` / ``time`` never load them)."""
    module = sys.modules.get("vidalign.models.model")
    return module is not None and isinstance(model, module.VidalignModel)


class Representation:
    """``model``: a run directory, a loaded model, ``"none"`` (raw features), ``"standardized"`` (raw features
    standardised per recording) or ``"time"`` (time only);
    ``config`` is the run's ``config.json`` (empty for the references and for a model given as an object)."""

    def __init__(self, model: str | Path | VidalignModel, device: str = "cpu"):
        self.device = device
        self.model: VidalignModel | None = None
        self.config: dict = {}
        if model is None:  # as align, compare and retrieve read it: the raw features
            model = "none"
        if _is_model(model):
            self.name, self.model = f"{model.method} model", model.to(device).eval()
        else:
            self.name = str(model)
            if self.name not in REFERENCE_MODELS:
                from vidalign.models.model import load_model  # torch: loaded for a trained model only

                self.model, self.config = load_model(model, device)
                spread = self.config.get("spread") or {}
                if spread.get("collapsed"):
                    warnings.warn(
                        CollapseWarning(collapse_message(f"model {self.name}", spread)), stacklevel=user_stacklevel()
                    )
                trained, planned = spread.get("epoch"), (self.config.get("train") or {}).get("epochs")
                if isinstance(trained, int) and isinstance(planned, int) and trained < planned:
                    message = (f"model {self.name} stopped after {trained} of its {planned} epochs (interrupted?): "
                               "the command that trained it, run again, finishes it")  # fmt: skip
                    warnings.warn(UnfinishedRunWarning(message), stacklevel=user_stacklevel())

    @property
    def in_dim(self) -> int | None:
        """The feature dimension a trained model takes (None for the references)."""
        return None if self.model is None else self.model.encoder.config.in_dim

    def check_dim(self, dim: int, origin: str, *, source: str = "features") -> None:
        """One-line InputError when ``origin`` (e.g. ``"a.npy holds"``) gives features the model cannot take. When
        the model's training features came from a known backbone (:func:`training_backbone`), the remedy follows
        ``source``: ``"backbone"`` (videos embedded now: ``--backbone``), ``"extracted"`` (a folder extracted from
        videos: extract them again with it), ``"features"`` (feature files of that kind)."""
        if self.in_dim is None or dim == self.in_dim:
            return
        trained_on = training_backbone(self.config)
        if trained_on and source == "backbone":
            hint = f"use --backbone {trained_on}"
        elif trained_on and source == "extracted":
            hint = f"extract its videos with --backbone {trained_on} (vidalign extract), or give such features"
        else:
            hint = f"give features of the kind it was trained on{f' ({trained_on})' if trained_on else ''}"
        raise InputError(f"model {self.name} takes {self.in_dim}-d features but {origin} {dim}-d; {hint}")

    def embed(self, features: np.ndarray) -> np.ndarray:
        """``[T, D]`` features -> ``[T, d]`` representation."""
        if self.name == "none":
            return features
        if self.name == "standardized":
            return standardize_recording(features)
        if self.name == "time":
            return time_features(len(features))
        self.check_dim(features.shape[1], "the input holds")
        return self.model.embed(features, self.device)

    @property
    def segments_with_prototypes(self) -> bool:
        return self.model is not None and getattr(self.model.criterion, "segmentation", False)

    def segment(self, features: np.ndarray) -> np.ndarray:
        """Per-frame action ids from the model's prototypes, decoded on the whole video."""
        if not self.segments_with_prototypes:
            raise ConfigError(f"{self.name} has no action prototypes to segment with")
        self.check_dim(features.shape[1], "the input holds")
        return self.model.segment(features, self.device)
