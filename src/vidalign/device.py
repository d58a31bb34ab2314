"""The one place a device name becomes a ``torch.device``: unknown names and devices this machine lacks are a
one-line :class:`~vidalign.errors.DeviceError` instead of a traceback from deep inside torch."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from vidalign.errors import DeviceError


def torch_device(name: str | torch.device, *, local_rank: int | None = None) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a ``torch.device``; ``local_rank`` (DDP) picks the GPU of a
    ``"cuda"`` request."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {str(name)!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {str(name)!r} requested but torch sees no CUDA device")
        if local_rank is not None and device.index is None:
            device = torch.device("cuda", local_rank)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {str(name)!r} requested but torch sees {torch.cuda.device_count()} GPU(s)")
    elif device.type != "cpu":
        raise DeviceError(f"device {str(name)!r} is not supported; use cpu, cuda or cuda:N")
    return device


@contextlib.contextmanager
def seeded_rng(seed: int | None, device: torch.device | None = None) -> Iterator[None]:
    """torch's generators seeded with ``seed`` (None: as they are) inside the block, and the caller's states given
    back after it, those of the CPU and of ``device``: a library call neither reseeds nor advances its user's
    generators (``torch.random.fork_rng``)."""
    devices = []
    if device is not None and device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(seed)
        yield
