"""VAOT: video alignment by fused Gromov-Wasserstein optimal transport pseudo-labels (``docs/methods.md``, VAOT).

For two videos with L2-normalised frame embeddings ``x_i``, ``y_j``:

1. cost ``C_ij = 1 - x_i . y_j``, plus the temporal prior ``rho |i/N - j/M|``, plus a dummy row/column of
   cost ``zeta`` where unmatched frames can send their mass. ``prior="dtw"`` (ours, the ``video`` preset section)
   centres the prior on the DTW path of ``C`` instead of the diagonal (:func:`vidalign.ops.fgw.path_prior`):
   ``rho |j - c_i| / M``, ``c_i`` the mean column the path matches to frame ``i``;
2. plan ``T*`` computed without gradient by one of two solvers (``solver``):

   * ``"mirror_descent"`` (default, the paper's text, VAOT eqs. 5-7): balanced fused GW, structure weight
     ``alpha``, entropy ``eps``, structure radius ``r``, 25 mirror-descent iterations
     (:func:`vidalign.ops.fgw.fused_gw`);
   * ``"published"`` (the official code's balanced branch): each outer iteration rebuilds the plan as ONE
     Sinkhorn sweep of ``exp(-grad / eps)`` started from ``b = 1`` and discards the mirror step; its structure
     radius ``int(r N)`` is 0 at the official 20 + 1 frames, so the gradient is the constant ``(1 - alpha) C``
     and the plan is a single sweep of ``exp(-(1 - alpha) C / eps)`` (columns exact, rows 0.5-1.6x uniform).
     Rows then weigh in the loss by their mass, as in the official ``-(T* log P).sum(-1).mean()``;

3. prediction ``P = softmax_j(x_i . y_j / temperature)``;
4. loss = cross-entropy of ``P`` against the rows of ``T*`` (:func:`plan_cross_entropy`);
5. plus ``idm`` times LAV's Contrastive-IDM of each video's own loss frames (:func:`vidalign.losses.lav.temporal_idm`,
   as a mean over frame pairs; window ``idm_sigma`` frames, margin ``idm_margin``): the regulariser the VAOT
   authors' follow-up (RGWOT, Mahmood et al. 2025) adds to the same fused-GW pseudo-label loss because it "may lead
   to degenerate solutions, where all frames are mapped to a small cluster". ``idm = 0`` is the paper and its code.
   ``idm_unit`` says what the window counts: ``"source_frames"`` (default, as LAV: frames of the recording) or
   ``"loss_frames"`` (ours, VASOT's choice: the sampled frames' ranks, so the window is a share of the sampled
   span; ``docs/methods.md``, VASOT: the regulariser's window).

Why the loss alone collapses (``docs/methods.md``, "Collapse of VAOT"): the balanced plan ignores any constant added
to a column of the cost, the row softmax does not, so the cross-entropy pushes down each frame's *average*
similarity to the other video (a column effect). When the person and the room dominate the features, that column
effect is first order in a clip's within-clip variation while the frame-to-frame content is second order, and at 8
loss frames the plan is near one-hot and set by the prior and the structure term, not by the content: shrinking
every clip to one point is then the fastest descent, and its loss ``log N`` the best a content-blind target allows.

Defaults are the paper's (alpha 0.3, eps 0.07, r 0.02, rho 0.35, zeta 0.5, temperature 0.1, no regulariser; the
preset adds ``idm: 0.5``, see ``presets/vaot.yaml``). Unlike the published code the structure radius never rounds
to 0 (``R >= 1``, with the weight ``N / R`` that keeps the term's scale independent of N) and the dummy is stripped
from the end it was appended to (both in :func:`vidalign.ops.fgw.fused_gw`).
"""

from __future__ import annotations

import warnings

import torch

from vidalign.errors import ConfigError
from vidalign.losses.base import LossOutput, PairLoss, frame_indices, full_mask, lengths
from vidalign.losses.lav import temporal_idm
from vidalign.losses.pseudo_labels import plan_cross_entropy
from vidalign.ops.fgw import fused_gw, path_prior, temporal_prior
from vidalign.ops.sinkhorn import sinkhorn

SOLVERS = ("mirror_descent", "published")
IDM_UNITS = ("source_frames", "loss_frames")
PRIORS = ("diagonal", "dtw")


def published_plan(
    cost: torch.Tensor, mask_a: torch.Tensor, mask_b: torch.Tensor, *, alpha: float, eps: float, rho: float,
    dummy: float | None,
) -> torch.Tensor:  # fmt: skip
    """The official VAOT pseudo-label (module docstring, solver "published"): one Sinkhorn sweep from ``b = 1``
    of ``exp(-(1 - alpha)(C + rho R) / eps)`` with the dummy row/column, uniform marginals over ``n + 1`` and
    ``m + 1``; returns the ``[B, N, M]`` plan without the dummy."""
    batch, n, m = cost.shape
    cost = cost + rho * temporal_prior(lengths(mask_a), lengths(mask_b), n, m, cost)
    if dummy is not None:  # appended after any padding; the masks mark it real
        cost = torch.nn.functional.pad(cost, (0, 1, 0, 1), value=float(dummy))
        mask_a = torch.nn.functional.pad(mask_a, (0, 1), value=True)
        mask_b = torch.nn.functional.pad(mask_b, (0, 1), value=True)
    plan = sinkhorn((1.0 - alpha) * cost, eps=eps, n_iters=1, mask_a=mask_a, mask_b=mask_b)
    plan = plan * (mask_a[:, :, None] & mask_b[:, None, :])
    return plan[:, :n, :m]


def warn_if_structured(radius: float, frames: int) -> None:
    """Warn when the official code would have had a structure term: its radius ``int(r (N + 1))`` (with the dummy)
    is 0 only below ``1 / r - 1`` loss frames (19 at 20 frames, r 0.02), and ``solver="published"`` always leaves
    the term out (``docs/methods.md``, VAOT: two solvers)."""
    if int(radius * (frames + 1)) >= 1:
        warnings.warn(
            f"solver='published' leaves out the structure term, as the official code does below {1 / radius - 1:.0f} "
            f"loss frames; at {frames} it would have one (radius int({radius} * {frames + 1}) >= 1), so this is not "
            "the official pseudo-label: use fewer loss frames (the official preset: 20) or solver='mirror_descent'",
            stacklevel=3,
        )


class VAOTLoss(PairLoss):
    pairing = "cross_video"

    def __init__(
        self,
        alpha: float = 0.3,
        eps: float = 0.07,
        radius: float = 0.02,
        rho: float = 0.35,
        dummy: float | None = 0.5,
        temperature: float = 0.1,
        n_iters: int = 25,
        unbalanced: str = "none",
        lam: float = 0.05,
        solver: str = "mirror_descent",
        cx_weight: str = "length",
        idm: float = 0.0,
        idm_sigma: float = 10.0,
        idm_margin: float = 2.0,
        idm_unit: str = "source_frames",
        prior: str = "diagonal",
    ):
        super().__init__()
        if solver not in SOLVERS:
            raise ConfigError(f"VAOT solver must be one of {SOLVERS}, got {solver!r}")
        if prior not in PRIORS:
            raise ConfigError(f"VAOT prior must be one of {PRIORS}, got {prior!r}")
        if solver == "published" and unbalanced != "none":
            raise ConfigError("solver='published' is the official *balanced* branch: use unbalanced='none'")
        self.alpha, self.eps, self.radius, self.rho = alpha, eps, radius, rho
        self.dummy, self.temperature, self.n_iters = dummy, temperature, n_iters
        self.unbalanced, self.lam, self.solver, self.cx_weight = unbalanced, lam, solver, cx_weight
        if idm < 0:
            raise ConfigError(f"VAOT idm weight must be >= 0, got {idm}")
        if idm_unit not in IDM_UNITS:
            raise ConfigError(f"VAOT idm_unit must be one of {IDM_UNITS}, got {idm_unit!r}")
        self.idm, self.idm_sigma, self.idm_margin, self.idm_unit = idm, idm_sigma, idm_margin, idm_unit
        self.prior = prior

    def pseudo_labels(self, sim: torch.Tensor, mask_a: torch.Tensor, mask_b: torch.Tensor) -> torch.Tensor:
        """The plan ``[B, N, M]`` for similarities ``sim`` (no gradient), by the configured solver."""
        with torch.no_grad():
            cost = 1.0 - sim.detach()
            rho = self.rho
            if self.prior == "dtw" and rho:  # the prior goes into the cost here, not as the diagonal one
                cost, rho = cost + rho * path_prior(cost, mask_a, mask_b), 0.0
            if self.solver == "published":
                warn_if_structured(self.radius, max(cost.shape[1:]))
                return published_plan(cost, mask_a, mask_b, alpha=self.alpha, eps=self.eps, rho=rho, dummy=self.dummy)
            return fused_gw(
                cost,
                alpha=self.alpha,
                eps=self.eps,
                radius=self.radius,
                rho=rho,
                dummy=self.dummy,
                unbalanced=self.unbalanced,
                lam=self.lam,
                n_iters=self.n_iters,
                mask_a=mask_a,
                mask_b=mask_b,
                structure="alignment",
                return_trace=False,
                cx_weight=self.cx_weight,
            ).plan

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        sim = z_a @ z_b.transpose(1, 2)
        plan = self.pseudo_labels(sim, mask_a, mask_b)
        clamp = self.solver != "published"
        loss = plan_cross_entropy(plan, sim / self.temperature, mask_a, mask_b, clamp_weights=clamp)
        matched = (plan.sum(-1) * mask_a.sum(-1, keepdim=True)).clamp(max=1.0)[mask_a].mean()
        logs = {"matched_fraction": float(matched)}
        if self.idm > 0:
            regulariser = self.regulariser(z_a, mask_a, idx_a) + self.regulariser(z_b, mask_b, idx_b)
            loss = loss + self.idm * regulariser.mean()
            logs["idm"] = float(regulariser.detach().mean())
        return LossOutput(loss, logs)

    def regulariser(self, z: torch.Tensor, mask: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
        """Contrastive-IDM of each item's real frames, averaged over its frame pairs ``[B]`` (module docstring)."""
        pos = frame_indices(z, idx if self.idm_unit == "source_frames" else None).masked_fill(~mask, 0.0)
        total = temporal_idm(z, pos, mask, sigma=self.idm_sigma, margin=self.idm_margin)
        return total / (mask.sum(1).to(total.dtype) ** 2).clamp_min(1.0)
