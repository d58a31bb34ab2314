"""The one place a device name becomes a ``torch.device``: unknown names and devices this machine lacks are a
one-line :class:`~vidalign.errors.DeviceError` instead of a traceback from deep inside torch."""

from __future__ import annotations

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
