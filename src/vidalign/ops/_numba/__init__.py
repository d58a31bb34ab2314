"""Compiled CPU fast paths (numba) of the dynamic-programming kernels.

Each module holds plain ``@njit(cache=True)`` functions over numpy arrays; the torch-facing modules in
``vidalign.ops`` wrap them in ``torch.autograd.Function`` objects and choose between them and the torch references.
"""

from vidalign.errors import ConfigError, InputError

BACKENDS = ("auto", "numba", "torch")


def use_numba(backend: str, device_type: str) -> bool:
    """Whether an op runs its compiled path: ``"numba"`` forces it (CPU only), ``"torch"`` forces the reference,
    ``"auto"`` picks numba for CPU tensors and the torch reference elsewhere (CUDA)."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba" and device_type != "cpu":
        raise InputError("the numba backend runs on CPU tensors only")
    return backend == "numba" or (backend == "auto" and device_type == "cpu")
