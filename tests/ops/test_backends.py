"""The one backend selector (``vidalign.ops.backends``): its "auto" rule, its errors, and that every op uses it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from vidalign.errors import ConfigError, InputError
from vidalign.ops import (
    backends,
    dtw,
    fgw_mirror_descent,
    fused_gw,
    sinkhorn,
    smith_waterman,
    soft_dtw,
    soft_smith_waterman,
)

ALL = ("torch", "numba", "triton")
SIM = torch.rand(2, 4, 3, dtype=torch.float64)

# Every public op, called on a small valid problem with the given backend.
OPS = {
    "soft_dtw": lambda backend: soft_dtw(SIM, 0.1, backend=backend),
    "soft_smith_waterman": lambda backend: soft_smith_waterman(SIM, 1.0, 0.5, backend=backend),
    "smith_waterman": lambda backend: smith_waterman(SIM[0], 1.0, 0.5, backend=backend),
    "dtw": lambda backend: dtw(SIM[0], backend=backend),
    "sinkhorn": lambda backend: sinkhorn(SIM, eps=0.1, n_iters=2, backend=backend),
    "fused_gw": lambda backend: fused_gw(SIM, alpha=0.3, eps=0.1, radius=0.3, n_iters=2, backend=backend),
    "fgw_mirror_descent": lambda backend: fgw_mirror_descent(
        SIM, torch.zeros(4, 4), torch.zeros(3, 3), alpha=0.3, eps=0.1, n_iters=2, backend=backend
    ),
}
# The backends each op has (the rest must be refused).
HAS = {
    "soft_dtw": ALL,
    "soft_smith_waterman": ALL,
    "smith_waterman": ("numba",),
    "dtw": ("numba",),
    "sinkhorn": ("torch",),
    "fused_gw": ALL,
    "fgw_mirror_descent": ("torch",),
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_unknown_backend_is_a_config_error_listing_the_names(op):
    with pytest.raises(ConfigError, match="unknown backend 'cuda'.*auto, torch, numba, triton"):
        OPS[op]("cuda")


@pytest.mark.parametrize(
    ("op", "backend"), [(op, backend) for op in sorted(OPS) for backend in ALL if backend not in HAS[op]]
)
def test_a_backend_the_op_lacks_is_a_config_error(op, backend):
    with pytest.raises(ConfigError, match=f"{op} has no '{backend}' backend"):
        OPS[op](backend)


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_runs_with_auto_and_each_cpu_backend_it_has(op):
    for backend in ("auto", *(name for name in HAS[op] if name != "triton")):
        OPS[op](backend)


def test_the_exact_smith_waterman_score_has_no_triton_kernel():
    with pytest.raises(ConfigError, match="has no 'triton' backend"):
        soft_smith_waterman(SIM, 1.0, 0.5, hard=True, backend="triton")


def _tensor(device: str, dtype: torch.dtype) -> SimpleNamespace:
    """What the selector reads of a tensor (a CUDA device is named without needing a GPU)."""
    return SimpleNamespace(device=torch.device(device), dtype=dtype)


@pytest.mark.parametrize(
    ("device", "dtype", "opted_in", "importable", "available", "expected"),
    [
        ("cpu", torch.float32, False, True, ALL, "numba"),
        ("cpu", torch.float64, True, True, ALL, "numba"),
        ("cpu", torch.float16, False, True, ALL, "torch"),  # no compiled kernel for the dtype
        ("cpu", torch.float64, True, True, ("torch", "triton"), "torch"),  # no numba path
        ("cuda", torch.float32, True, True, ALL, "triton"),
        ("cuda", torch.float64, True, True, ALL, "triton"),
        ("cuda", torch.float32, False, True, ALL, "torch"),  # not opted in
        ("cuda", torch.float32, True, False, ALL, "torch"),  # triton missing
        ("cuda", torch.bfloat16, True, True, ALL, "torch"),
        ("cuda", torch.float32, True, True, ("torch", "numba"), "torch"),  # no Triton path
        ("cpu", torch.float32, False, True, ("numba",), "numba"),
    ],
)
def test_auto_rule(monkeypatch, device, dtype, opted_in, importable, available, expected):
    monkeypatch.setattr(backends, "triton_importable", lambda: importable)
    if opted_in:
        monkeypatch.setenv("VIDALIGN_TRITON", "1")
    else:
        monkeypatch.delenv("VIDALIGN_TRITON", raising=False)
    assert backends.select_backend("auto", _tensor(device, dtype), available=available, op="op") == expected


@pytest.mark.parametrize(
    ("requested", "device", "dtype", "importable", "interpreting", "error", "message"),
    [
        ("numba", "cuda", torch.float32, True, False, InputError, "CPU tensors only"),
        ("numba", "cpu", torch.float16, True, False, TypeError, "float32/float64"),
        ("triton", "cpu", torch.float32, True, False, InputError, "CUDA tensors"),
        ("triton", "cuda", torch.float16, True, False, TypeError, "float32/float64"),
        ("triton", "cuda", torch.float32, False, False, ConfigError, "needs the triton package"),
    ],
)
def test_explicit_backends_are_checked(monkeypatch, requested, device, dtype, importable, interpreting, error, message):
    monkeypatch.setattr(backends, "triton_importable", lambda: importable)
    monkeypatch.setattr(backends, "interpreting", lambda: interpreting)
    with pytest.raises(error, match=message):
        backends.select_backend(requested, _tensor(device, dtype), available=ALL, op="op")


def test_explicit_backends_pass_when_they_can_run(monkeypatch):
    monkeypatch.setattr(backends, "triton_importable", lambda: True)
    monkeypatch.setattr(backends, "interpreting", lambda: True)
    cpu = _tensor("cpu", torch.float32)
    assert [backends.select_backend(name, cpu, available=ALL, op="op") for name in ALL] == list(ALL)
    assert backends.select_backend("torch", _tensor("cuda", torch.float16), available=ALL, op="op") == "torch"
