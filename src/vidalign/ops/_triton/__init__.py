"""GPU fast paths (Triton) of the dynamic programs and of the fused-GW iteration (issue 5).

Modules: :mod:`.soft_smith_waterman`, :mod:`.soft_dtw` (one program per pair, the anti-diagonal loop inside the
kernel, DP tables in a packed anti-diagonal layout, explicit backward kernel), :mod:`.fgw` (the mirror-descent step
and the Sinkhorn sweep fused into two kernels per iteration). They are imported lazily, on first use: importing
Triton costs time, and a kernel is compiled or interpreted according to ``TRITON_INTERPRET`` *when its module is
imported* (Triton reads the variable when ``@triton.jit`` runs).

Availability: the kernels are **opt-in** with ``backend="triton"`` until they have been verified on a GPU (issue 5:
they are tested here only under Triton's CPU interpreter, ``TRITON_INTERPRET=1``, numpy semantics, and compiled to
PTX). ``backend="auto"`` keeps CUDA tensors on the torch reference path. Set ``VIDALIGN_TRITON=1`` to let
``"auto"`` pick them for float32/float64 CUDA tensors.
"""

from __future__ import annotations

import functools
import os

import torch
from torch import Tensor

from vidalign.errors import ConfigError, InputError

DTYPES = (torch.float32, torch.float64)


@functools.lru_cache(maxsize=1)
def triton_importable() -> bool:
    """Whether ``import triton`` succeeds (it ships with the CUDA builds of PyTorch)."""
    try:
        import triton  # noqa: F401
    except Exception:  # a missing or broken installation: the torch path takes over
        return False
    return True


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET``, read as Triton reads it)."""
    import triton

    return bool(triton.knobs.runtime.interpret)


def use_triton(backend: str, x: Tensor) -> bool:
    """Whether an op on ``x`` runs its Triton kernels.

    ``"auto"``: float32/float64 CUDA tensors when ``VIDALIGN_TRITON=1`` and Triton is importable (opt-in until the
    kernels are verified on a GPU). ``"triton"``: always, after checking that
    it can run (CUDA tensor, or any tensor under the interpreter; float32/float64); raises ``ValueError`` or
    ``TypeError`` otherwise. Any other backend: False.
    """
    if backend == "auto":
        opted_in = os.environ.get("VIDALIGN_TRITON") == "1"
        return opted_in and x.device.type == "cuda" and x.dtype in DTYPES and triton_importable()
    if backend != "triton":
        return False
    if not triton_importable():
        raise ConfigError("the triton backend needs the triton package (shipped with CUDA builds of PyTorch)")
    if x.device.type != "cuda" and not interpreting():
        raise InputError("the triton backend runs on CUDA tensors (or on CPU tensors under TRITON_INTERPRET=1)")
    if x.dtype not in DTYPES:
        raise TypeError(f"the triton backend supports float32/float64, got {x.dtype}")
    return True
