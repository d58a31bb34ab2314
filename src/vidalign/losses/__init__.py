"""One ``nn.Module`` per method, all with the signature of :class:`vidalign.losses.base.PairLoss`."""

from __future__ import annotations

import importlib

from vidalign.errors import ConfigError
from vidalign.losses.base import LossOutput, PairLoss

# method name -> "module:Class"; imported lazily so one method's dependencies never slow the others.
LOSSES: dict[str, str] = {
    "vaot": "vidalign.losses.vaot:VAOTLoss",
    "asot": "vidalign.losses.asot:ASOTLoss",
    "vasot": "vidalign.losses.vasot:VASOTLoss",
    "lac": "vidalign.losses.lac:LACLoss",
    "tcc": "vidalign.losses.tcc:TCCLoss",
    "lav": "vidalign.losses.lav:LAVLoss",
    "vava": "vidalign.losses.vava:VAVALoss",
    "scl": "vidalign.losses.scl:SCLLoss",
}


def loss_class(name: str) -> type[PairLoss]:
    """The loss class registered under ``name``."""
    try:
        target = LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; choose one of {sorted(LOSSES)}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def build_loss(name: str, **params) -> PairLoss:
    """Instantiate method ``name`` with its hyper-parameters (see ``vidalign/presets``)."""
    return loss_class(name)(**params)


__all__ = ["LOSSES", "LossOutput", "PairLoss", "build_loss", "loss_class"]
