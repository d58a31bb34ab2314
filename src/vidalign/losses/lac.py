"""LAC: local-alignment contrastive learning (``docs/methods.md``, LAC; Oei et al. 2024).

Two augmented temporal crops of one video with frame embeddings ``e_i`` (view 1) and ``e'_j`` (view 2) at source
frame positions ``s_i``, ``s'_j``:

- contrastive term: Gaussian targets ``G_ij ∝ exp(-(s_i - s'_j)^2 / (2 sigma^2))`` (sigma^2 = 10) against
  ``P_ij = softmax_j(e_i . e'_j / tau)``; ``sum_i KL(G_i || P_i)`` averaged over frames. ``"ours"`` takes it in
  both directions (``contrastive="symmetric"``: view 1 -> 2 and 2 -> 1, weighted by their frame counts, CARL's SCL
  term, :class:`vidalign.losses.scl.SCLLoss`), as the two views are exchangeable and the published code's alignment
  term is taken both ways too; the published contrastive term is one-directional (``"one_way"``: view 1 -> 2);
- local-alignment term: the soft Smith-Waterman score (three-state Gotoh recursion, smoothed max at
  ``sw_temperature``) of similarities ``S_ij`` with learnable gap penalties, divided by the shorter view's length.

``formulation="ours"`` (default): ``S_ij = e_i . e'_j - margin`` and ``loss = contrastive - alpha * score``
(``alignment_sign="reward"``, the paper's intent: reward a good local alignment; ``"published"`` adds it). The
gap penalties follow ``gap_model``:

- ``"transitions"`` (default): the penalties are the log-probabilities of a normalised transition model, so the
  score of an alignment is a log-likelihood and the gap parameters have a finite optimum. From a match the next
  step opens a gap with probability ``delta`` in each direction or matches again with ``1 - 2 delta``; a gap
  extends with ``epsilon`` or closes with ``1 - epsilon``. In score units (``tau`` = ``sw_temperature``, paths
  weigh ``exp(score / tau)``) every match pays ``-tau log(1 - 2 delta)`` (folded into ``S``), every gap opening
  ``-tau (log delta + log(1 - epsilon))`` (its closing folded in: a local alignment ends on a match, so every
  gap closes), every extension ``-tau log epsilon``. The score is monotone in free penalties
  (``d score / d go = -E[#openings] <= 0``), so the reward drives free penalties to 0 and the published sign to
  infinity; here raising ``delta`` makes every match dearer, and the optimum ``delta* = E[#openings] /
  (2 (E[#matches] + E[#openings]))`` is finite (likewise ``epsilon* = E[#ext] / (E[#openings] + E[#ext])``).
  ``delta = 0.5 sigmoid(.)`` and ``epsilon = sigmoid(.)`` are learned, initialised where the penalties equal
  ``gap_open`` / ``gap_extend``.
- ``"free"``: two positive scalars (softplus), learned - the degenerate parameterisation, kept for comparison.

``formulation="official"`` is the published code's loss (``keynekassapa13/LAC`` ``model/lac.py``): one
temperature for the contrastive logits and the Smith-Waterman smooth max, ``S_ij = 1 / ||e_i - e'_j||^2`` (always
positive, so a local alignment is never preferred to a longer one), per-position gap matrices ``[F, F]``
(``n_frames``) initialised at ``gap_open`` / ``gap_extend``, unconstrained, with their own learning rate
(``gap_lr``), and ``loss = sum_i KL_i / F^2 + 0.01 (sw_12 + sw_21)`` - the raw scores of both directions, added.
The published code's extra cross-entropy on the DP table receives no gradient there (its backward drops it), so
it is left out: the gradient is the same. Unlike the published code, the gradient flows through the whole DP table
(:func:`vidalign.ops.smith_waterman.soft_smith_waterman`, explicit backward).
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

from vidalign.errors import ConfigError
from vidalign.losses.base import LossOutput, PairLoss, frame_indices, full_mask
from vidalign.ops.smith_waterman import soft_smith_waterman

FORMULATIONS = ("ours", "official")
CONTRASTIVE = ("symmetric", "one_way")
GAP_MODELS = ("transitions", "free")
OFFICIAL_ALIGNMENT_WEIGHT = 0.01  # model/lac.py: l_loss = 0.01 * (CE + sw_12 + sw_21)


def gaussian_targets(pos_a: torch.Tensor, pos_b: torch.Tensor, variance: float, mask_b: torch.Tensor) -> torch.Tensor:
    """``G_ij ∝ exp(-(s_i - s'_j)^2 / (2 variance))`` normalised over the real frames j of view 2."""
    logits = -((pos_a[:, :, None] - pos_b[:, None, :]) ** 2) / (2.0 * variance)
    return torch.softmax(logits.masked_fill(~mask_b[:, None, :], float("-inf")), dim=-1)


def gaussian_kl(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    pos_a: torch.Tensor,
    pos_b: torch.Tensor,
    mask_b: torch.Tensor,
    *,
    variance: float,
    temperature: float,
) -> torch.Tensor:
    """``[B, N]``: ``KL(G_i || softmax_j(z_a_i . z_b_j / temperature))`` of every frame i of view 1 (CARL/LAC)."""
    target = gaussian_targets(pos_a, pos_b, variance, mask_b)
    logits = (z_a @ z_b.transpose(1, 2) / temperature).masked_fill(~mask_b[:, None, :], float("-inf"))
    log_p = torch.log_softmax(logits, dim=-1).masked_fill(~mask_b[:, None, :], 0.0)
    log_t = torch.log(target.clamp_min(1e-30))
    return (target * (log_t - log_p)).sum(-1)


def gaussian_contrastive(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    pos_a: torch.Tensor,
    pos_b: torch.Tensor,
    mask_a: torch.Tensor,
    mask_b: torch.Tensor,
    *,
    variance: float,
    temperature: float,
    symmetric: bool = False,
) -> torch.Tensor:
    """Mean over real frames i of ``KL(G_i || softmax_j(z_a_i . z_b_j / temperature))`` (CARL/LAC targets);
    ``symmetric=True`` adds view 2 -> 1 and averages over the real frames of both views (CARL's SCL)."""
    kl = gaussian_kl(z_a, z_b, pos_a, pos_b, mask_b, variance=variance, temperature=temperature)
    total, count = (kl * mask_a).sum(), mask_a.sum()
    if symmetric:
        back = gaussian_kl(z_b, z_a, pos_b, pos_a, mask_a, variance=variance, temperature=temperature)
        total, count = total + (back * mask_b).sum(), count + mask_b.sum()
    return total / count.clamp_min(1)


def inverse_squared_distance(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """``1 / ||z_a_i - z_b_j||^2`` ``[B, N, M]`` (the published LAC similarity; clamped away from division by 0)."""
    return 1.0 / (torch.cdist(z_a, z_b) ** 2).clamp_min(1e-6)


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


class LACLoss(PairLoss):
    pairing = "two_views"

    def __init__(
        self,
        variance: float = 10.0,
        temperature: float = 0.1,
        alpha: float = 1.0,
        sw_temperature: float = 0.1,
        margin: float = 0.5,
        gap_open: float = 1.0,
        gap_extend: float = 1.0,
        alignment_sign: str = "reward",
        gap_model: str = "transitions",
        formulation: str = "ours",
        n_frames: int = 64,
        gap_lr: float | None = None,
        contrastive: str = "symmetric",
    ):
        super().__init__()
        if alignment_sign not in ("reward", "published"):
            raise ConfigError(
                "alignment_sign must be 'reward' (loss - alpha*score) or 'published' (loss + alpha*score)"
            )
        if gap_model not in GAP_MODELS:
            raise ConfigError(f"gap_model must be one of {GAP_MODELS}, got {gap_model!r}")
        if formulation not in FORMULATIONS:
            raise ConfigError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
        if contrastive not in CONTRASTIVE:
            raise ConfigError(f"contrastive must be one of {CONTRASTIVE}, got {contrastive!r}")
        if formulation == "official":
            given = {"alpha": alpha, "margin": margin, "gap_model": gap_model, "contrastive": contrastive}
            defaults = inspect.signature(LACLoss.__init__).parameters
            unused = sorted(key for key, value in given.items() if value != defaults[key].default)
            if unused:
                raise ConfigError(
                    f"formulation='official' has no {', '.join(unused)} (the published loss: contrastive + "
                    f"{OFFICIAL_ALIGNMENT_WEIGHT} x alignment); leave them unset"
                )
        self.contrastive = contrastive
        self.variance, self.temperature, self.alpha = variance, temperature, alpha
        self.sw_temperature, self.margin, self.alignment_sign = sw_temperature, margin, alignment_sign
        self.gap_model, self.formulation, self.gap_lr = gap_model, formulation, gap_lr
        if formulation == "official":  # per-position matrices, unconstrained, as published
            self.gap_open_matrix = nn.Parameter(torch.full((n_frames, n_frames), float(gap_open)))
            self.gap_extend_matrix = nn.Parameter(torch.full((n_frames, n_frames), float(gap_extend)))
        elif gap_model == "free":
            self.raw_gap_open = nn.Parameter(torch.tensor(_inverse_softplus(gap_open)))
            self.raw_gap_extend = nn.Parameter(torch.tensor(_inverse_softplus(gap_extend)))
        else:
            tau = sw_temperature
            extend = math.exp(-gap_extend / tau)  # -tau log(epsilon) = gap_extend
            delta = math.exp(-gap_open / tau) / (1.0 - extend)  # -tau (log delta + log(1 - epsilon)) = gap_open
            self.raw_delta = nn.Parameter(torch.tensor(_logit(min(2.0 * delta, 0.999))))
            self.raw_epsilon = nn.Parameter(torch.tensor(_logit(extend)))
        if alpha == 0:  # the contrastive term alone: the gaps take no part, so they are not trained (nor left
            for gap in self.parameters():  # without a gradient, which DistributedDataParallel refuses)
                gap.requires_grad_(False)

    def param_lrs(self) -> dict[str, float]:
        """Parameters trained with their own learning rate (the published gap matrices: ``gap_lr``)."""
        if self.gap_lr is None or self.formulation != "official":
            return {}
        return {"gap_open_matrix": self.gap_lr, "gap_extend_matrix": self.gap_lr}

    def transition_probabilities(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(delta, epsilon)`` of ``gap_model="transitions"``."""
        return 0.5 * torch.sigmoid(self.raw_delta), torch.sigmoid(self.raw_epsilon)

    def penalties(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(match_cost, gap_open, gap_extend)`` in score units: ``match_cost`` is subtracted from every ``S_ij``
        (0 unless ``gap_model="transitions"``)."""
        if self.formulation == "official":
            zero = self.gap_open_matrix.new_zeros(())
            return zero, self.gap_open_matrix, self.gap_extend_matrix
        if self.gap_model == "free":
            return self.raw_gap_open.new_zeros(()), F.softplus(self.raw_gap_open), F.softplus(self.raw_gap_extend)
        tau = self.sw_temperature
        delta, epsilon = self.transition_probabilities()
        match = -tau * torch.log1p(-2.0 * delta)
        return match, -tau * (torch.log(delta) + torch.log1p(-epsilon)), -tau * torch.log(epsilon)

    @property
    def gaps(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (open, extend) gap penalties in score units."""
        _, gap_open, gap_extend = self.penalties()
        return gap_open, gap_extend

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        pos_a, pos_b = frame_indices(z_a, idx_a), frame_indices(z_b, idx_b)
        if self.formulation == "official":
            return self._official(z_a, z_b, mask_a, mask_b, pos_a, pos_b)
        contrastive = gaussian_contrastive(
            z_a, z_b, pos_a, pos_b, mask_a, mask_b, variance=self.variance, temperature=self.temperature,
            symmetric=self.contrastive == "symmetric",
        )  # fmt: skip
        logs = {"contrastive": float(contrastive.detach())}
        if self.alpha == 0:
            return LossOutput(contrastive, logs)
        match, gap_open, gap_extend = self.penalties()
        sim = z_a @ z_b.transpose(1, 2) - self.margin - match
        score = soft_smith_waterman(
            sim, gap_open, gap_extend, temperature=self.sw_temperature, mask_a=mask_a, mask_b=mask_b
        )
        shorter = torch.minimum(mask_a.sum(-1), mask_b.sum(-1)).to(score.dtype)
        alignment = (score / shorter).mean()
        sign = -1.0 if self.alignment_sign == "reward" else 1.0
        logs.update(self._gap_logs(alignment, gap_open, gap_extend))
        return LossOutput(contrastive + sign * self.alpha * alignment, logs)

    def _gap_logs(self, alignment, gap_open, gap_extend) -> dict[str, float]:
        logs = {
            "sw_score": float(alignment.detach()),
            "gap_open": float(gap_open.detach().mean()),
            "gap_extend": float(gap_extend.detach().mean()),
        }
        if self.formulation == "ours" and self.gap_model == "transitions":
            delta, epsilon = self.transition_probabilities()
            logs.update({"gap_delta": float(delta.detach()), "gap_epsilon": float(epsilon.detach())})
        return logs

    def _official(self, z_a, z_b, mask_a, mask_b, pos_a, pos_b) -> LossOutput:
        """The published loss (module docstring), per video, averaged over the batch."""
        kl = gaussian_kl(z_a, z_b, pos_a, pos_b, mask_b, variance=self.variance, temperature=self.temperature)
        n_a, n_b = mask_a.sum(-1).to(kl.dtype), mask_b.sum(-1).to(kl.dtype)
        contrastive = ((kl * mask_a).sum(-1) / (n_a * n_b)).mean()
        n, m = z_a.shape[1], z_b.shape[1]
        rows = max(n, m)
        if rows > self.gap_open_matrix.shape[0]:
            raise ConfigError(
                f"official LAC gap matrices are {self.gap_open_matrix.shape[0]} frames; views have {rows}"
            )
        gap_open, gap_extend = self.gap_open_matrix, self.gap_extend_matrix
        options = dict(temperature=self.sw_temperature)
        sw_12 = soft_smith_waterman(
            inverse_squared_distance(z_a, z_b), gap_open[:n, :m], gap_extend[:n, :m], mask_a=mask_a, mask_b=mask_b,
            **options,
        )  # fmt: skip
        sw_21 = soft_smith_waterman(
            inverse_squared_distance(z_b, z_a), gap_open[:m, :n], gap_extend[:m, :n], mask_a=mask_b, mask_b=mask_a,
            **options,
        )  # fmt: skip
        alignment = (sw_12 + sw_21).mean()
        sign = -1.0 if self.alignment_sign == "reward" else 1.0
        logs = {"contrastive": float(contrastive.detach()), **self._gap_logs(alignment, gap_open, gap_extend)}
        return LossOutput(contrastive + sign * OFFICIAL_ALIGNMENT_WEIGHT * alignment, logs)
