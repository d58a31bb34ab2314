"""Helpers of the tests that spawn torchrun-like process groups (imported as ``ddp_helpers``: ``tests/`` is on
the path of every test module)."""

from __future__ import annotations

import hashlib
import socket

import torch


def params_digest(model: torch.nn.Module) -> str:
    """A digest of every tensor of ``model``'s state dict (equal digests: equal weights)."""
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a test's process group)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
