"""The training run directory (``docs/data.md``, Run directory): the one module that writes and reads its files.

    RUN/settings.json           the claim: the TrainConfig it was trained with (epochs, out, device may differ)
    RUN/config.json             format ``vidalign-run/1``: everything needed to rebuild the model
    RUN/model.safetensors       the latest weights (``encoder.*``, ``criterion.*``)
    RUN/checkpoint.safetensors  model + optimizer + RNG after the last finished epoch (:mod:`vidalign.checkpoint`)
    RUN/log.csv                 one row per finished epoch

Every file but the log is replaced atomically (:mod:`vidalign.atomic`); the log is only appended to, and cut back
to the checkpoint's epoch when a run resumes.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from vidalign.atomic import atomic_save_tensors, atomic_write_json, atomic_write_text, claim_folder
from vidalign.checkpoint import load_checkpoint, save_checkpoint
from vidalign.errors import DataError, MissingFileError, one_line

__all__ = ["RUN_FORMAT", "RunDir"]

RUN_FORMAT = "vidalign-run/1"


class RunDir:
    """The files of one run directory ``path`` (module docstring)."""

    SETTINGS, CONFIG, WEIGHTS, CHECKPOINT, LOG = (
        "settings.json",
        "config.json",
        "model.safetensors",
        "checkpoint.safetensors",
        "log.csv",
    )

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def claim(
        self, settings: dict[str, Any], defaults: dict[str, Any] | None = None, *, unsettled: tuple[str, ...] = ()
    ) -> bool:
        """Claim the directory for a run of ``settings`` (:func:`vidalign.atomic.claim_folder`; a directory of
        other settings is refused, the epochs, the directory's own path and the device aside: a run resumes with
        more epochs, after being moved, and on another device; settings a run made by an earlier version lacks are
        taken from ``defaults``; data kept inside the directory, as fine-tuning's frame cache, moves with it);
        True when it holds a checkpoint to resume from. ``unsettled``: keys not known yet (the model's sizes before
        the data is read), left out of the comparison; only a directory claimed before can be checked so."""
        if unsettled and not (self.path / self.SETTINGS).is_file():
            return False
        ignore = ("epochs", "out", "device", *unsettled) + (("data",) if self._holds(settings.get("data")) else ())
        claim_folder(self.path, self.SETTINGS, settings, what="a run", ignore=ignore, defaults=defaults)
        return (self.path / self.CHECKPOINT).is_file()

    def _holds(self, path: Any) -> bool:
        """Whether ``path`` lies inside this directory."""
        return isinstance(path, str) and Path(path).resolve().is_relative_to(self.path.resolve())

    def write_config(self, record: dict[str, Any]) -> None:
        atomic_write_json(self.path / self.CONFIG, {"format": RUN_FORMAT, **record})

    def read_config(self) -> dict[str, Any]:
        path = self._existing(self.CONFIG)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: not a run's config.json ({one_line(error)})") from error
        if not isinstance(config, dict):
            raise DataError(f"{path}: not a run's config.json (a JSON {type(config).__name__}, not an object)")
        return config

    def write_weights(self, model: nn.Module) -> None:
        atomic_save_tensors(self.path / self.WEIGHTS, model.state_dict())

    def weights_after_config(self) -> bool:
        """Whether ``model.safetensors`` was written after ``config.json``: an epoch's weights without its record
        (each epoch writes the weights, then the record)."""
        weights, config = self.path / self.WEIGHTS, self.path / self.CONFIG
        if not (weights.is_file() and config.is_file()):
            return False
        return weights.stat().st_mtime_ns > config.stat().st_mtime_ns

    def read_weights(self) -> dict[str, torch.Tensor]:
        return load_file(str(self._existing(self.WEIGHTS)))

    def save_checkpoint(self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        save_checkpoint(self.path / self.CHECKPOINT, model, optimizer, {"epoch": epoch})

    def load_checkpoint(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
        """Restore model, optimizer and RNG from the checkpoint; returns the number of finished epochs."""
        path = self.path / self.CHECKPOINT
        try:
            epoch = load_checkpoint(path, model, optimizer)["epoch"]
            if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
                raise ValueError(f"epoch {epoch!r}")
            return epoch
        except (SafetensorError, KeyError, ValueError, RuntimeError, TypeError, AttributeError) as error:
            # TypeError / AttributeError: metadata missing, or JSON of another shape (a list for an object)
            raise DataError(f"{path}: unreadable ({one_line(error)}); delete it to train the run from the start, "
                            "or give another --out") from error  # fmt: skip

    def append_log(self, row: dict[str, Any]) -> None:
        path = self.path / self.LOG
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def read_log(self) -> list[dict[str, str]]:
        """The rows of ``log.csv`` (one per finished epoch, values as written), [] before the first epoch."""
        path = self.path / self.LOG
        if not path.exists():
            return []
        with path.open(newline="") as f:
            return list(csv.DictReader(f))

    def truncate_log(self, last_epoch: int) -> None:
        """Drop log rows written after the checkpoint a run resumes from (a crash between log and checkpoint)."""
        rows = self.read_log()
        kept = [r for r in rows if int(r["epoch"]) <= last_epoch]
        if len(kept) == len(rows):
            return
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(self.path / self.LOG, text.getvalue())  # a crash here keeps the whole log, never none

    def _existing(self, name: str) -> Path:
        path = self.path / name
        if not path.is_file():
            raise MissingFileError(f"{path}: not found (is {self.path} a `vidalign train` run directory?)")
        return path
