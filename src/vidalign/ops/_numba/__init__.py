"""Compiled CPU fast paths (numba) of the dynamic-programming kernels and of the fused-GW iteration.

Each module holds plain ``@njit(cache=True)`` functions over numpy arrays; the torch-facing modules in
``vidalign.ops`` wrap them in ``torch.autograd.Function`` objects, and :func:`vidalign.ops.backends.select_backend`
chooses between them and the torch references.
"""
