"""The one backend selector of the ops (``docs/methods.md``, Kernels): every op asks :func:`select_backend` which
of its solvers runs.

Names: ``"torch"`` (the readable reference, any device), ``"numba"`` (compiled CPU kernels, ``ops/_numba``),
``"triton"`` (GPU kernels, ``ops/_triton``) and ``"auto"``. The ``"auto"`` rule, the same for every op:

1. a float32/float64 CPU tensor runs ``"numba"`` when the op has a numba path;
2. a float32/float64 CUDA tensor runs ``"triton"`` when the op has a Triton path, ``VIDALIGN_TRITON=1`` is set
   and ``triton`` is importable (opt-in until the kernels are verified on a GPU; see ``ops/_triton``);
3. anything else runs ``"torch"``.

An explicit name is checked, never silently replaced: an unknown name or one the op does not have is a
:class:`~vidalign.errors.ConfigError` (as is ``"triton"`` without the package), a tensor on a device the backend
cannot run on is an :class:`~vidalign.errors.InputError` (numba: CPU; Triton: CUDA, or any device under
``TRITON_INTERPRET=1``), an unsupported dtype a ``TypeError`` (numba and Triton: float32/float64).

The module does not import torch: the exact ops (:func:`vidalign.ops.dtw`, :func:`vidalign.ops.smith_waterman`)
select their backend for a numpy matrix (a CPU array) without it, so that ``vidalign align`` of feature files never
loads torch (:func:`is_tensor`, :func:`cpu_matrix`).
"""

from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING, Literal

import numpy as np

from vidalign.errors import ConfigError, InputError

if TYPE_CHECKING:
    from torch import Tensor

Backend = Literal["auto", "torch", "numba", "triton"]
NAMES = ("auto", "torch", "numba", "triton")
COMPILED_DTYPES = ("float32", "float64")  # torch.float32 / torch.float64 (or numpy's), by name


def is_tensor(x: object) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch (no tensor can exist before torch is imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def cpu_matrix(x: Tensor | np.ndarray, name: str) -> np.ndarray:
    """The one ``[N, M]`` matrix of the exact ops (:func:`vidalign.ops.dtw`, :func:`vidalign.ops.smith_waterman`)
    as a C-contiguous float32/float64 numpy array (other dtypes become float64)."""
    values = x.detach().cpu().numpy() if is_tensor(x) else np.asarray(x)
    if values.ndim != 2 or values.size == 0:
        raise InputError(f"{name} must be a non-empty [N, M] matrix, got shape {values.shape}")
    return np.ascontiguousarray(values if values.dtype in (np.float32, np.float64) else values.astype(np.float64))


def _device_type(x: Tensor | np.ndarray) -> str:
    return "cpu" if isinstance(x, np.ndarray) else x.device.type


def _compiled(x: Tensor | np.ndarray) -> bool:
    return str(x.dtype).removeprefix("torch.") in COMPILED_DTYPES


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


def _auto(x: Tensor | np.ndarray, available: tuple[str, ...]) -> str:
    if _compiled(x):
        if "numba" in available and _device_type(x) == "cpu":
            return "numba"
        opted_in = os.environ.get("VIDALIGN_TRITON") == "1"
        if "triton" in available and _device_type(x) == "cuda" and opted_in and triton_importable():
            return "triton"
    return "torch"


def select_backend(requested: str, x: Tensor | np.ndarray, *, available: tuple[str, ...], op: str) -> str:
    """The backend (``"torch"``, ``"numba"`` or ``"triton"``) that runs ``op`` on ``x`` (a tensor, or a numpy
    array: a CPU array).

    ``requested``: ``"auto"`` (module docstring) or a name in ``available``, the backends ``op`` has; explicit
    names and the result of ``"auto"`` pass the same checks (module docstring for the errors).
    """
    if requested not in NAMES:
        raise ConfigError(f"{op}: unknown backend {requested!r}; valid names: {', '.join(NAMES)}")
    chosen = _auto(x, available) if requested == "auto" else requested
    if chosen not in available:
        valid = ", ".join(("auto", *available))
        raise ConfigError(f"{op} has no {chosen!r} backend; valid names for it: {valid}")
    if chosen == "numba" and _device_type(x) != "cpu":
        raise InputError(f"{op}: the numba backend runs on CPU tensors only, got a {_device_type(x)} tensor")
    if chosen == "triton":
        if not triton_importable():
            raise ConfigError("the triton backend needs the triton package (shipped with CUDA builds of PyTorch)")
        if _device_type(x) != "cuda" and not interpreting():
            raise InputError(f"{op}: the triton backend runs on CUDA tensors (or on any under TRITON_INTERPRET=1)")
    if chosen != "torch" and not _compiled(x):
        raise TypeError(f"{op}: the {chosen} backend supports float32/float64, got {x.dtype}")
    return chosen
