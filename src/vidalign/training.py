"""The training loop shared by every method (``docs/data.md``, Run directory).

- Seeded and reproducible: batches depend only on (seed, epoch, rank) (:class:`~vidalign.data.sampling.PairSampler`),
  model init and dropout on the torch seed; a resumed run continues bit-for-bit like an uninterrupted one on CPU.
- Writes the run directory through :class:`vidalign.run_dir.RunDir` (the rebuild record, the latest weights, a
  checkpoint and a log row after every epoch); re-running the same command resumes from the last checkpoint, and a
  directory of other settings is refused.
- ``--epochs 0`` writes the untrained model (the reference row of every table).
- The epoch loop (:func:`fit`) is shared with fine-tuning the backbone (:mod:`vidalign.finetuning`).
- Under ``torchrun`` (``WORLD_SIZE`` > 1) it wraps the model in DistributedDataParallel (gloo on CPU, NCCL on CUDA);
  ranks draw disjoint anchors of the same epoch order; rank 0 writes the files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import inspect
import math
import numbers
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

import vidalign
from vidalign.atomic import exclusive_use
from vidalign.confidence import matched_similarity
from vidalign.data.augment import AugmentConfig
from vidalign.data.layout import TRAIN_SPLIT, FeatureFolder, read_extractor_record
from vidalign.data.sampling import PairBatch, PairSampler, SamplingConfig, gather_frames
from vidalign.device import seeded_rng, torch_device
from vidalign.errors import (
    CollapseWarning,
    ConfigError,
    DataError,
    DivergedError,
    unknown_keys_message,
    user_stacklevel,
)
from vidalign.evaluation.spread import collapse_message, embedding_spread, is_collapsed
from vidalign.losses import loss_class
from vidalign.models.heads import EncoderConfig
from vidalign.models.model import VidalignModel
from vidalign.run_dir import RunDir


@dataclasses.dataclass
class TrainConfig:
    """A training run. Saved to ``config.json``; nested sections are dataclasses or plain dicts."""

    method: str
    data: str
    out: str
    split: str = TRAIN_SPLIT
    epochs: int = 50
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float | None = 5.0
    seed: int = 0
    device: str = "cpu"
    preset: str | None = None
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    sampling: SamplingConfig = dataclasses.field(default_factory=SamplingConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    loss: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def sections(cls) -> dict[str, type]:
        """The nested sections and their dataclasses (a subclass adds its own)."""
        return {"encoder": EncoderConfig, "sampling": SamplingConfig, "augment": AugmentConfig}

    @classmethod
    def section_defaults(cls) -> dict[str, dict]:
        """Every section's settings at their defaults (what a run written before a setting existed had)."""
        return {key: dataclasses.asdict(kind()) for key, kind in cls.sections().items()}

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Build from a settings dict, validated first (:func:`check_settings`): one-line ConfigError on any
        unknown key or mistyped value, before any data is read."""
        check_settings(d, cls)
        d = dict(d)
        for key, kind in cls.sections().items():
            if isinstance(d.get(key), dict):
                d[key] = kind(**d[key])
        return cls(**d)


def _check_section(kind: str, given: dict, fields: dict[str, object]) -> None:
    """Unknown keys of ``given`` (``fields``: name -> default) and values whose type cannot be the default's."""
    unknown = set(given) - set(fields)
    if unknown:
        raise ConfigError(unknown_keys_message(kind, unknown, fields))
    for key, value in given.items():
        default = fields[key]
        numeric = isinstance(default, int | float) and not isinstance(default, bool)
        if value is None or default is None or isinstance(default, dict | list):
            continue
        wrong = (
            (isinstance(default, bool) and not isinstance(value, bool))
            or (numeric and (isinstance(value, bool) or not isinstance(value, int | float)))
            or (isinstance(default, str) and not isinstance(value, str))
        )
        if wrong:
            raise ConfigError(f"{kind} key {key!r} takes a {type(default).__name__}, got {value!r}")


def _dataclass_defaults(kind: type) -> dict[str, object]:
    out = {}
    for f in dataclasses.fields(kind):
        has_factory = f.default_factory is not dataclasses.MISSING
        out[f.name] = f.default_factory() if has_factory else (None if f.default is dataclasses.MISSING else f.default)
    return out


def loss_parameters(loss: type) -> dict[str, object]:
    """Constructor parameters of a loss class with their defaults (None when required)."""
    parameters = inspect.signature(loss.__init__).parameters
    return {n: (None if p.default is p.empty else p.default) for n, p in parameters.items() if n != "self"}


def _integer(minimum: int):
    """The range test of an integer setting: an int (not a float or a bool) of at least ``minimum``."""
    return lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum


# Settings whose values have a range: (section or None, key) -> (test, what it needs); None values pass.
RANGES = {
    (None, "epochs"): (_integer(0), "an integer >= 0"),
    (None, "lr"): (lambda v: 0 < v < math.inf, "a finite number > 0"),
    (None, "weight_decay"): (lambda v: 0 <= v < math.inf, "a finite number >= 0"),
    (None, "grad_clip"): (lambda v: 0 < v < math.inf, "a finite number > 0 (or null: no clipping)"),
    **{("encoder", key): (_integer(1), "an integer >= 1")
       for key in ("out_dim", "hidden", "n_layers", "kernel_size", "n_heads", "max_frames")},
    ("encoder", "dropout"): (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    ("encoder", "projection"): (_integer(0), "an integer >= 0"),
}  # fmt: skip


def _passes(ok, value) -> bool:
    try:
        return bool(ok(value))
    except TypeError:  # text where a number belongs
        return False


def _check_ranges(d: dict) -> None:
    """One-line ConfigError for a setting of :data:`RANGES` outside its range, or a loss ``temperature`` (a
    softmax's) that is not positive (before any data is read)."""
    for (section, key), (ok, needs) in RANGES.items():
        value = (d.get(section) if section else d) or {}
        value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not _passes(ok, value):
            raise ConfigError(f"{section + '.' if section else ''}{key} must be {needs}, got {value!r}")
    losses = d.get("loss") if isinstance(d.get("loss"), dict) else {}
    for part, values in [("loss", losses)] + [(f"loss.{k}", v) for k, v in losses.items() if isinstance(v, dict)]:
        for key, value in values.items():
            if key == "temperature" and isinstance(value, int | float) and not value > 0:  # a softmax's
                raise ConfigError(f"{part}.{key} must be > 0, got {value!r}")


def check_settings(d: dict, config: type[TrainConfig] = TrainConfig) -> None:
    """Validate a training settings dict against ``config`` (:class:`TrainConfig` or a subclass), its sections
    and the method's loss signature (VASOT: its ``asot`` and ``vaot`` sub-sections against those losses)."""
    _check_section("training", d, _dataclass_defaults(config))
    for key, kind in config.sections().items():
        if isinstance(d.get(key), dict):
            _check_section(key, d[key], _dataclass_defaults(kind))
    _check_ranges(d)
    method = d.get("method")
    if method is None or not isinstance(d.get("loss"), dict):
        return
    loss = loss_class(method)
    _check_section(f"{method} loss", d["loss"], loss_parameters(loss))
    for name, part in getattr(loss, "SECTIONS", {}).items():
        if isinstance(d["loss"].get(name), dict):
            _check_section(f"{method} loss.{name}", d["loss"][name], loss_parameters(part))


DIST_TIMEOUT = datetime.timedelta(hours=3)  # how long a rank waits for the others (init_distributed)


@dataclasses.dataclass
class DistEnv:
    """Process-group facts read from torchrun's environment variables."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> DistEnv:
        return cls(
            int(os.environ.get("RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)),
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, env: DistEnv) -> torch.device:
    """The training device; under DDP a plain ``cuda`` means this rank's GPU."""
    return torch_device(name, local_rank=env.local_rank if env.world_size > 1 else None)


def init_model(config: TrainConfig, train_features: list[np.ndarray], n_classes: int | None) -> VidalignModel:
    """Build encoder + criterion, fit the input standardisation, and initialise prototypes for segmentation losses."""
    encoder_config = dataclasses.replace(config.encoder, in_dim=int(train_features[0].shape[1]))
    loss_params = dict(config.loss)
    if loss_class(config.method).segmentation and "n_clusters" not in loss_params:
        if n_classes is None:
            raise ConfigError(
                f"{config.method} needs the number of actions: give loss.n_clusters or a dataset with mapping.txt"
            )
        loss_params["n_clusters"] = n_classes
    if loss_class(config.method).segmentation:
        loss_params.setdefault("dim", encoder_config.out_dim)
    config.encoder, config.loss = encoder_config, loss_params
    model = VidalignModel(config.method, encoder_config, loss_params)
    model.encoder.fit_input_stats([torch.from_numpy(f) for f in train_features])
    init = getattr(model.criterion, "init_prototypes", None)
    if init is not None:
        with torch.no_grad():
            frames = np.concatenate([model.embed(f) for f in train_features])
        init(frames, seed=config.seed)
    return model


def parameter_groups(model: VidalignModel, lr: float) -> list[dict]:
    """Optimizer groups: every parameter at ``lr`` except those the criterion trains at their own rate
    (:meth:`~vidalign.losses.base.PairLoss.param_lrs`, e.g. the published LAC gap matrices at 0.1)."""
    own = {f"criterion.{name}": rate for name, rate in model.criterion.param_lrs().items()}
    named = dict(model.named_parameters())
    groups = [{"params": [p for name, p in named.items() if name not in own], "lr": lr}]
    return groups + [{"params": [named[name]], "lr": rate} for name, rate in own.items()]


class PairForward(torch.nn.Module):
    """Encoder + criterion as a single module so DDP sees one forward per step. ``frontend`` (fine-tuning: the
    trainable frame backbone, :class:`vidalign.finetuning.backbone.FrameFrontend`) turns each side's inputs into
    features first; without one the inputs are the features."""

    def __init__(self, model: VidalignModel, frontend: torch.nn.Module | None = None):
        super().__init__()
        self.model = model
        self.frontend = frontend

    def embed_side(self, side) -> torch.Tensor:
        x = side.x if self.frontend is None else self.frontend(side.x, side.mask)
        return gather_frames(self.model.encoder(x, side.mask, project=True), side)

    def forward(self, batch: PairBatch):
        z_a, z_b = self.embed_side(batch.a), self.embed_side(batch.b)
        return self.model.criterion(
            z_a, z_b, batch.a.select_mask, batch.b.select_mask, idx_a=batch.a.idx, idx_b=batch.b.idx
        )


def run_record(
    config: TrainConfig, class_names: list[str] | None, train_ids: list[str], extraction: dict | None = None
) -> dict:
    """The run's ``config.json``: what :func:`vidalign.models.model.load_model` rebuilds the model from, how it
    was trained, and ``extraction``: the training folder's ``extractor.json`` (the backbone and sampling videos
    given to the model get; kept in the run, so that neither a relative ``--data`` nor a moved folder loses it)."""
    return {
        "method": config.method,
        "encoder": config.encoder.to_dict(),
        "loss": config.loss,
        "class_names": class_names,
        "train_videos": train_ids,
        "train": config.to_dict(),
        **({"extraction": extraction} if extraction else {}),
        "threads": torch.get_num_threads(),  # the sums of another thread count differ in the last bits (docs/data.md)
        "versions": {
            "vidalign": vidalign.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }


SPREAD_COLUMNS = ("within", "across", "effective_rank")
LOWER_THE_RATE = "lower the learning rate (--lr, lr=) or check the features"
MONITORED_VIDEOS = 8


class SpreadMonitor:
    """The collapse check of every epoch (:mod:`vidalign.evaluation.spread`) on the first
    :data:`MONITORED_VIDEOS` training videos, each embedded whole by ``embed`` as at inference, and how closely
    they match one another (``matched``: :func:`vidalign.confidence.matched_similarity`, the reference of
    alignment confidence's ``match_ratio``)."""

    def __init__(self, videos: list, embed: Callable[[object], np.ndarray]):
        self.videos, self.embed = videos[:MONITORED_VIDEOS], embed

    def measure(self, epoch: int) -> dict:
        embedded = [self.embed(video) for video in self.videos]
        if not all(np.isfinite(e).all() for e in embedded):
            raise DivergedError(f"non-finite embeddings after epoch {epoch}; {LOWER_THE_RATE}")
        spread = embedding_spread(embedded)
        numbers = {k: None if math.isnan(v) else round(v, 4) for k, v in spread.items()}  # NaN: one video
        matched = matched_similarity(embedded)
        return {"epoch": epoch, **numbers, "collapsed": is_collapsed(spread),
                "matched": None if matched is None else round(matched, 4)}  # fmt: skip


@dataclasses.dataclass
class Fitting:
    """What the epoch loop (:func:`fit`) runs: ``module`` holds every trained parameter (checkpointed),
    ``forward`` maps a batch of ``sampler`` to the criterion's output, ``write_weights`` saves the model files,
    ``record`` is the run's ``config.json``."""

    module: torch.nn.Module
    forward: PairForward
    sampler: PairSampler
    optimizer: torch.optim.Optimizer
    monitor: SpreadMonitor
    write_weights: Callable[[], None]
    record: dict


@dataclasses.dataclass
class TrainedRun:
    """What :func:`train` returns: the run directory, the trained model (this process's copy) and its config;
    ``backbone``: the fine-tuned frame backbone of :func:`vidalign.finetuning.finetune` (None otherwise)."""

    path: Path
    model: VidalignModel
    config: TrainConfig
    backbone: torch.nn.Module | None = None


def init_distributed(device: str) -> DistEnv:
    """torchrun's process group, joined once (gloo on CPU; NCCL on CUDA, this rank's GPU made current first); the
    single-process env otherwise. Its collectives wait :data:`DIST_TIMEOUT` for a peer, not the default 10
    (NCCL) or 30 (gloo) minutes: before fine-tuning the other ranks wait while rank 0 decodes every video."""
    env = DistEnv.from_env()
    if env.world_size > 1 and not dist.is_initialized():
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(resolve_device(device, env))
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=DIST_TIMEOUT)
    return env


def summed_over_ranks(sums: dict[str, float], n: int, device: torch.device) -> tuple[dict[str, float], int]:
    """Every rank's per-step sums of the logged values and its step count, added up (the epoch's log row is the
    mean over all ranks' steps, not rank 0's alone)."""
    keys = sorted(sums)
    totals = torch.tensor([sums[key] for key in keys] + [float(n)], dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    return dict(zip(keys, totals[:-1].tolist(), strict=True)), int(totals[-1])


def all_finite(loss: torch.Tensor, env: DistEnv) -> bool:
    """Whether the loss is finite on every rank (checked before the backward pass, so that a rank whose loss is
    NaN stops every rank before the averaged gradients carry it into the weights rank 0 saves)."""
    finite = torch.isfinite(loss.detach()).to(torch.float32).reshape(1)
    if env.world_size > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


def held_run(run: RunDir, env: DistEnv) -> contextlib.AbstractContextManager:
    """The run directory held for this training (rank 0; :func:`vidalign.atomic.exclusive_use`): a second process
    training into it is refused."""
    return exclusive_use(run.path, what="training into it") if env.is_main else contextlib.nullcontext()


def train(config: TrainConfig, *, progress: bool = True) -> TrainedRun:
    """Train ``config.method`` on ``config.data``/``config.split`` into ``config.out``."""
    env = init_distributed(config.device)
    device = resolve_device(config.device, env)
    run = RunDir(config.out)
    folder = FeatureFolder(config.data)
    records = folder.load_split(config.split)
    if not records:
        raise DataError(f"{folder.root}: split {config.split!r} has no videos")
    features = [r.features for r in records]

    with held_run(run, env), seeded_rng(config.seed, device):
        model = init_model(config, features, len(folder.class_names) if folder.class_names else None)
        model.to(device)
        sampler = PairSampler(
            features,
            loss_class(config.method).pairing,
            config.sampling,
            config.augment,
            seed=config.seed,
            max_frames=config.encoder.max_frames,
            rank=env.rank,
            world_size=env.world_size,
        )
        fitting = Fitting(
            module=model,
            forward=PairForward(model),
            sampler=sampler,
            optimizer=torch.optim.AdamW(
                parameter_groups(model, config.lr), lr=config.lr, weight_decay=config.weight_decay
            ),  # fmt: skip
            monitor=SpreadMonitor(features, lambda video: model.embed(video, device)),
            write_weights=lambda: run.write_weights(model),
            record=run_record(
                config, folder.class_names, [r.video_id for r in records], read_extractor_record(folder.root)
            ),
        )
        fit(fitting, config, run, env, device, progress=progress)
        return TrainedRun(run.path, model, config)


def fit(fitting: Fitting, config: TrainConfig, run: RunDir, env: DistEnv, device: torch.device, *,
        progress: bool) -> None:  # fmt: skip
    """The epoch loop of every run: claim (or resume) ``run``, then per epoch the batches of ``fitting.sampler``
    (optimizer step, gradient clipping, a non-finite loss stops the run), a log row with the spread, the weights
    and a checkpoint; warn at the end when the model collapsed. Rank 0 writes the files; the caller holds the
    directory (:func:`held_run`)."""
    model, optimizer, record = fitting.module, fitting.optimizer, fitting.record
    resume = run.claim(config.to_dict(), defaults=config.section_defaults())
    start_epoch = run.load_checkpoint(model, optimizer) if resume else 0
    if start_epoch > config.epochs:  # its config.json would name epochs its weights do not have
        raise ConfigError(f"{run.path} holds a model trained {start_epoch} epochs; {config.epochs} need a fresh run "
                          "directory (another --out)")  # fmt: skip
    if env.is_main:
        held = (run.read_config().get("spread") or {}) if resume else {}
        held = held if isinstance(held, dict) else {}  # a damaged record: measured again
        run.truncate_log(start_epoch)  # a run (re)started from epoch 0 too: rows of a try before its checkpoint
        if held.get("epoch") != start_epoch:  # a fresh run, or one stopped before its checkpoint: measured again
            fitting.write_weights()
            held = fitting.monitor.measure(start_epoch)
        elif run.weights_after_config():  # stopped between an epoch's weights and its record: the checkpoint's
            fitting.write_weights()
        record["spread"] = held
        run.write_config(record)
    if start_epoch >= config.epochs:
        return

    forward = fitting.forward
    if env.world_size > 1:
        forward = torch.nn.parallel.DistributedDataParallel(
            forward, device_ids=[device.index] if device.type == "cuda" else None
        )
    sampler = fitting.sampler
    set_progress = getattr(fitting.forward.model.criterion, "set_progress", None)
    total_steps = max(1, config.epochs * sampler.batches_per_epoch())
    bar = tqdm(
        total=(config.epochs - start_epoch) * sampler.batches_per_epoch(),
        desc=f"train {config.method}",
        disable=not (progress and env.is_main),
        unit="step",
    )
    for epoch in range(start_epoch, config.epochs):
        model.train()
        started, sums, n = time.perf_counter(), {}, 0
        for step, batch in enumerate(sampler.epoch(epoch)):
            if set_progress is not None:  # annealed schedules (VAVA's prior weight)
                set_progress((epoch * sampler.batches_per_epoch() + step) / total_steps)
            out = forward(batch.to(device))
            if not all_finite(out.loss, env):
                raise DivergedError(f"non-finite loss at epoch {epoch + 1}; {LOWER_THE_RATE}")
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            for key, value in {"loss": float(out.loss.detach()), **out.logs}.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            n += 1
            bar.update()
            bar.set_postfix(epoch=epoch + 1, loss=f"{float(out.loss.detach()):.4f}")
        if env.world_size > 1:
            sums, n = summed_over_ranks(sums, n, device)
        if env.is_main:
            row = {"epoch": epoch + 1, **{k: v / max(n, 1) for k, v in sums.items()}}
            row["seconds"] = round(time.perf_counter() - started, 3)
            record["spread"] = fitting.monitor.measure(epoch + 1)
            row.update({key: record["spread"][key] for key in SPREAD_COLUMNS})
            fitting.write_weights()
            run.write_config(record)  # after the weights: its spread's epoch never names weights not yet written
            run.append_log(row)  # before the checkpoint: a resume truncates rows past it
            run.save_checkpoint(model, optimizer, epoch + 1)
    bar.close()
    if env.is_main and (record.get("spread") or {}).get("collapsed"):
        warnings.warn(CollapseWarning(collapse_message(f"the {config.method} model of {run.path}", record["spread"])),
                      stacklevel=user_stacklevel())  # fmt: skip
    if env.world_size > 1:
        dist.barrier()
