"""Fine-tuning the frame backbone end to end with a method's loss (``docs/finetune.md``; issue "Real videos of
people", item 2b).

:func:`finetune` trains, on video files and without labels, the last blocks of an EfficientNet-Lite0 backbone
(:class:`~vidalign.finetuning.backbone.TrainableBackbone`) together with the method's temporal encoder and loss,
on views augmented in space and time as the seeds train (:class:`~vidalign.finetuning.sampler.FramePairSampler`).
Frames are decoded once into a cache (:mod:`vidalign.finetuning.frame_cache`). It runs the epoch loop of
``vidalign train`` (:func:`vidalign.training.fit`): the same resume, log, spread check and torchrun / DDP path,
with bfloat16 autocast of the backbone on CUDA.

The run directory is a ``vidalign train`` run (``model.safetensors``, ``config.json``, ``log.csv``, checkpoint)
whose encoder takes the backbone's features, plus ``backbone.safetensors``: the fine-tuned network, which
``config.json`` names under ``"backbone"`` with the frame sampling under ``"frames"``. ``vidalign align/compare
--model RUN`` on videos embed them with it; ``vidalign extract --weights RUN/backbone.safetensors`` writes its
features.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from vidalign.atomic import atomic_save_tensors
from vidalign.device import seeded_rng
from vidalign.errors import ConfigError
from vidalign.extraction import sampling_record
from vidalign.finetuning.backbone import FrameFrontend, TrainableBackbone
from vidalign.finetuning.clip_augment import ClipAugmentConfig
from vidalign.finetuning.frame_cache import cache_frames
from vidalign.finetuning.sampler import FramePairSampler
from vidalign.losses import loss_class
from vidalign.models.backbones import Backbone, backbone_class, build_backbone
from vidalign.run_dir import RunDir
from vidalign.training import (
    Fitting,
    PairForward,
    SpreadMonitor,
    TrainConfig,
    TrainedRun,
    fit,
    held_run,
    init_distributed,
    init_model,
    parameter_groups,
    resolve_device,
    run_record,
)

__all__ = ["BACKBONE_FILE", "FINETUNE_EPOCHS", "FINETUNE_MAX_FRAMES", "FinetuneConfig", "finetune", "finetune_settings"]

BACKBONE_FILE = "backbone.safetensors"
FRAME_CACHE = "frames"
FINETUNE_MAX_FRAMES = 32  # frames the encoder (and the backbone's backward pass) sees per view
# ours: the most epochs a fine-tuning run takes unless told (the presets' epochs are for extracted features, LAC's and
# SCL's 100 about 1.5 h on a 2-core CPU for six clips): the budget of about 10 minutes a set of clips on a
# CPU (docs/finetune.md, Measured on real clips: 10 epochs 7-10 min; VAOT's video section trains 4, as well)
FINETUNE_EPOCHS = 10
MONITORED_VIDEOS = 4  # the spread check embeds these whole through the trained part after every epoch


@dataclasses.dataclass
class FinetuneConfig(TrainConfig):
    """A fine-tuning run: :class:`~vidalign.training.TrainConfig` (``data`` is the frame cache, default
    ``OUT/frames``) plus the videos, the backbone and its trained part, frame sizes, sampling and the spatial
    augmentation ``clip``."""

    videos: list[str] = dataclasses.field(default_factory=list)
    backbone: str = "efficientnet_lite0"
    weights: str = "default"  # what the backbone starts from: "default", "none" or a local state-dict file
    train_blocks: int = 2  # last MBConv blocks trained (with the head convolution); 0 = only the head conv
    backbone_lr: float = 1e-4
    frame_size: int = 256  # cached frames' shorter side
    input_size: int = 224  # side of the square augmented crops the backbone trains on (the grid backbone's: their
    # shorter side, the frame's layout kept; Backbone.input_shape)
    stride: int | None = None
    target_fps: float | None = None
    amp: bool = True  # bfloat16 autocast of the backbone on CUDA
    clip: ClipAugmentConfig = dataclasses.field(default_factory=ClipAugmentConfig)

    @classmethod
    def sections(cls) -> dict[str, type]:
        return {**super().sections(), "clip": ClipAugmentConfig}


def finetune_settings(method: str, videos: list[str], out: str | Path, *, preset: str | list[str] | None = None,
                      overrides: list[str] | tuple[str, ...] = (), **explicit) -> dict:  # fmt: skip
    """Settings of a fine-tuning run: the method's preset for video features (:func:`vidalign.presets.
    train_settings`) with at most :data:`FINETUNE_EPOCHS` epochs and the encoder's ``max_frames`` at
    :data:`FINETUNE_MAX_FRAMES`, no horizontal flips for a backbone whose features keep the frame's layout
    (``docs/finetune.md``, Augmentation), then ``overrides`` (``"KEY=VALUE"``) and ``explicit`` fields."""
    from vidalign.presets import deep_merge, parse_override, train_settings

    cache = explicit.pop("data", None) or str(Path(out) / FRAME_CACHE)
    settings = train_settings(method, cache, out, preset=preset, videos=[str(v) for v in videos])
    settings["epochs"] = min(settings["epochs"], FINETUNE_EPOCHS)
    settings = deep_merge(settings, {"encoder": {"max_frames": FINETUNE_MAX_FRAMES}})
    given: dict = {}
    for text in overrides:
        given = deep_merge(given, parse_override(text))
    given = deep_merge(given, {k: v for k, v in explicit.items() if v is not None})
    if backbone_class(given.get("backbone", FinetuneConfig.backbone)).keeps_layout:
        settings = deep_merge(settings, {"clip": {"flip": 0.0}})
    return deep_merge(settings, given)


def training_shape(backbone: Backbone, frames: list[np.ndarray], size: int) -> tuple[int, int]:
    """The crops' ``(height, width)`` for the whole run (batches stack them): the backbone's for the most common
    frame shape of the cached videos (``docs/finetune.md``, Augmentation)."""
    shapes = Counter(clip.shape[1:3] for clip in frames)
    return backbone.input_shape(*shapes.most_common(1)[0][0], size)


def finetune(config: FinetuneConfig, *, progress: bool = True) -> TrainedRun:
    """Fine-tune ``config.backbone`` with ``config.method`` on ``config.videos`` into ``config.out`` (module
    docstring). Returns the run like :func:`vidalign.training.train`."""
    if len(config.videos) < 1:
        raise ConfigError("fine-tuning needs videos")
    env = init_distributed(config.device)
    device = resolve_device(config.device, env)
    run = RunDir(config.out)
    with held_run(run, env):  # a second process into it is refused before decoding anything
        cache_dir = config.data or str(Path(config.out) / FRAME_CACHE)
        sampling = {"size": config.frame_size, "stride": config.stride, "target_fps": config.target_fps}
        if env.is_main:  # a folder of other settings is refused before decoding into it; one rank decodes
            run.claim(config.to_dict(), defaults=config.section_defaults(), unsettled=("encoder", "loss"))
            cache_frames(config.videos, cache_dir, progress=progress, **sampling)
        if env.world_size > 1:
            dist.barrier()
        videos = cache_frames(config.videos, cache_dir, **sampling)
        frames = [video.frames for video in videos]

        with seeded_rng(config.seed, device):
            backbone = TrainableBackbone(build_backbone(config.backbone, config.weights, device), config.train_blocks)
            monitored = [backbone.frozen_activations(clip) for clip in frames[:MONITORED_VIDEOS]]  # once per run
            initial = [backbone.features_from(frozen) for frozen in monitored]
            model = init_model(config, initial + [backbone.embed(clip) for clip in frames[MONITORED_VIDEOS:]], None)
            model.to(device)
            module = nn.ModuleDict({"model": model, "backbone": backbone})
            trained = [p for p in backbone.parameters() if p.requires_grad]
            groups = parameter_groups(model, config.lr) + [{"params": trained, "lr": config.backbone_lr}]
            sampler = FramePairSampler(
                frames,
                loss_class(config.method).pairing,
                config.sampling,
                config.augment,
                config.clip,
                input_shape=training_shape(backbone.backbone, frames, config.input_size),
                seed=config.seed,
                max_frames=config.encoder.max_frames,
                rank=env.rank,
                world_size=env.world_size,
            )
            record = run_record(config, None, [video.video_id for video in videos])
            origin = backbone.backbone.weights_id
            record["backbone"] = {"name": config.backbone, "weights": BACKBONE_FILE, "trained_from": origin,
                                  "train_blocks": config.train_blocks}  # fmt: skip
            record["frames"] = sampling_record(config.stride, config.target_fps)

            def write_weights() -> None:
                run.write_weights(model)
                atomic_save_tensors(run.path / BACKBONE_FILE, backbone.net.state_dict())

            monitor = SpreadMonitor(monitored, lambda frozen: model.embed(backbone.features_from(frozen), device))
            fitting = Fitting(
                module=module,
                forward=PairForward(model, FrameFrontend(backbone, config.amp)),
                sampler=sampler,
                optimizer=torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay),
                monitor=monitor,
                write_weights=write_weights,
                record=record,
            )
            fit(fitting, config, run, env, device, progress=progress)
            return TrainedRun(run.path, model, config, backbone)
