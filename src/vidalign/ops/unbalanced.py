"""The unbalanced relaxation, named the same way by :func:`vidalign.ops.sinkhorn` and :func:`vidalign.ops.fused_gw`
(``docs/methods.md``, Kernels).

``unbalanced`` says which marginals are relaxed: ``"none"`` (both exact, the default), ``"a"`` (rows, the first
video), ``"b"`` (columns: ASOT's action side) or ``"both"``; ``lam`` (a float or ``(lam_a, lam_b)``, default
0.05) is the weight of the KL penalty on each relaxed side and is ignored on an exact side. Each op's module
docstring writes the penalty it adds (Sinkhorn: the generalised KL ``sum(m log(m / p) - m + p)`` of Chizat et al.
2018; fused GW: ASOT's ``sum(m log(m / p))``).
"""

from __future__ import annotations

from typing import Literal

from vidalign.errors import ConfigError

Unbalanced = Literal["none", "a", "b", "both"]
RELAXED_CODE = {"none": 0, "a": 1, "b": 2, "both": 3}  # the kernels' integer code of ``unbalanced``
DEFAULT_LAM = 0.05
MASS_FLOOR = 1e-30  # marginal masses are clamped here inside log(m / p) (the fused-GW KL terms)


def kl_weights(unbalanced: str, lam: float | tuple[float, float]) -> tuple[float, float]:
    """``(lam_a, lam_b)`` after checking ``unbalanced`` and that the weights are positive."""
    if unbalanced not in RELAXED_CODE:
        raise ConfigError(f"unbalanced must be one of {', '.join(map(repr, RELAXED_CODE))}, got {unbalanced!r}")
    weights = (float(lam), float(lam)) if isinstance(lam, (int, float)) else (float(lam[0]), float(lam[1]))
    if min(weights) <= 0:
        raise ConfigError(f"lam must be > 0, got {lam}")
    return weights


def fixed_sides(unbalanced: str) -> tuple[bool, bool]:
    """Whether the rows and the columns are exact constraints."""
    return unbalanced in ("none", "b"), unbalanced in ("none", "a")
