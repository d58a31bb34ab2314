"""Pickle-free training checkpoints: one ``.safetensors`` file holding the model, the optimizer's tensors and the
torch RNG state (the CPU generator's and, when CUDA is in use, the current GPU's), with everything else (epoch,
optimizer hyper-parameters) as JSON in the file's metadata.

Written atomically (:func:`vidalign.atomic.atomic_save_tensors`), so a crash leaves either the previous checkpoint or
the new one, never half of one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from vidalign.atomic import atomic_save_tensors


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into named tensors and a JSON-able remainder."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, pstate in state["state"].items():
        scalars[str(pid)] = {}
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[str(pid)][key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, info: dict) -> None:
    """Atomically write model + optimizer + torch RNG state + ``info`` (must be JSON-able) to ``path``."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_tensors, optim_meta = _optimizer_tensors(optimizer)
    tensors.update(optim_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_initialized():  # dropout and augmentation on a GPU draw from its own generator
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    metadata = {"info": json.dumps(info), "optimizer": json.dumps(optim_meta)}
    atomic_save_tensors(path, tensors, metadata)


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore model, optimizer and torch RNG state from :func:`save_checkpoint`'s file; returns its ``info``."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no items()
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    optim_meta = json.loads(metadata["optimizer"])
    state: dict[int, dict] = {}
    for pid, scalars in optim_meta["scalars"].items():
        state[int(pid)] = dict(scalars)
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": optim_meta["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():  # the current device's, as it was saved
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return json.loads(metadata["info"])
