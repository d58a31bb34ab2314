"""Collapse within clips (issue 12, item 1; docs/methods.md "Collapse of VAOT").

On appearance-dominated video features of a repeated exercise (``vidalign.data.exercise``, modelled on the
``efficientnet_lite0`` features of real push-up clips), VAOT's cross-entropy against its fused-GW pseudo-label maps
every frame of a clip to nearly one point; the preset's Contrastive-IDM regulariser (``loss.idm``) prevents it.
``loss.idm=0`` with the default section's 8 loss frames, temporal prior ``rho = 0.35``, the family's global input
scaling and the temperature 0.1 (the video section now takes 64 frames, a prior along the DTW path, ``eps`` 0.04,
per-recording scaling and 0.2) is the old behaviour (the paper and its code).
"""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest
import torch

import vidalign as va
from vidalign.data.exercise import ExerciseConfig, generate_exercise, write_exercise_dataset
from vidalign.data.layout import FeatureFolder
from vidalign.evaluation.repetition import repetition_phase_error
from vidalign.evaluation.spread import COLLAPSED_WITHIN, embedding_spread
from vidalign.losses.vaot import VAOTLoss

EPOCHS = 10  # the old behaviour is collapsed (within > 0.99) from epoch ~7 on; ~6 s a run on one CPU thread


@pytest.fixture(scope="module")
def exercise(tmp_path_factory):
    return write_exercise_dataset(tmp_path_factory.mktemp("exercise") / "pushups", ExerciseConfig(seed=1))


def train_vaot(data, out, *assignments):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the collapse warning of the old behaviour
        run = va.train(data, "vaot", out, assignments=list(assignments), split="all", epochs=EPOCHS)
    videos = FeatureFolder(data).load_split("all")
    spread = embedding_spread([run.model.embed(v.features) for v in videos])
    with open(run.path / "log.csv") as f:
        last = list(csv.DictReader(f))[-1]
    return spread, float(last["loss"])


def test_exercise_features_look_like_the_real_clips():
    """Raw features: frames of one clip alike (~0.9), clips of different people ~0.5 apart on average (over ten
    processes: one process's ten clips vary, 0.46-0.59 between the 10th and 90th percentile of 60)."""
    spreads = [embedding_spread([v.features for v in generate_exercise(ExerciseConfig(seed=s))]) for s in range(10)]
    assert 0.86 <= np.mean([s["within"] for s in spreads]) <= 0.95
    assert 0.45 <= np.mean([s["across"] for s in spreads]) <= 0.6
    videos = generate_exercise(ExerciseConfig(seed=1))
    again = generate_exercise(ExerciseConfig(seed=1))
    assert all(np.array_equal(a.features, b.features) for a, b in zip(videos, again, strict=True))
    assert {v.n_reps for v in videos} != {videos[0].n_reps}  # clips differ in their number of repetitions


def test_vaot_without_the_regulariser_collapses_within_each_clip(exercise, tmp_path):
    spread, loss = train_vaot(exercise, tmp_path / "old", "loss.idm=0", "sampling.loss_frames=8", "loss.rho=0.35",
                              "encoder.standardize=global", "loss.temperature=0.1")  # fmt: skip
    assert spread["within"] > COLLAPSED_WITHIN
    assert abs(loss - math.log(8)) < 0.05  # the uniform prediction over the preset's 8 loss frames


def test_vaot_default_does_not_collapse(exercise, tmp_path):
    spread, _ = train_vaot(exercise, tmp_path / "new")
    assert spread["within"] < 0.8 < COLLAPSED_WITHIN


def test_the_video_section_spreads_the_clips_of_a_faint_movement(tmp_path):
    """A fainter, noisier movement (``benchmarks/exercise_phase.py --harder``, dev seed 1): with the family's global
    input scaling (the video section before: ``idm`` 0.5, 30 epochs, temperature 0.1, ``eps`` 0.07, no temporal
    prior) a clip's frames stay nearly together; the video section's per-recording inputs spread them
    (``benchmarks/COLLAPSE.md``: within 0.80 and 0.03)."""
    data = write_exercise_dataset(tmp_path / "faint", ExerciseConfig(seed=1, motion=0.12, noise=0.3))
    videos = FeatureFolder(data).load_split("all")
    within = {}
    for name, assignments, epochs in (
        (
            "global",
            ["encoder.standardize=global", "loss.idm=0.5", "loss.temperature=0.1", "loss.eps=0.07", "loss.rho=0"],
            30,
        ),
        ("video section", [], None),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = va.train(data, "vaot", tmp_path / name, assignments=assignments, split="all", epochs=epochs)
        within[name] = embedding_spread([run.model.embed(v.features) for v in videos])["within"]
    assert within["global"] > 0.7 and within["video section"] < 0.2, within


def test_vasot_on_video_features_aligns_the_repetitions(tmp_path):
    """VASOT on the faint movement of the harder clips (dev seed 1, K = 4): with the default section, as video
    features got it before (here: the ``fisher`` family's section plus the video family's global input scaling),
    its DTW alignments match a repetition's phase no better than chance (error 0.25; measured 0.20), and its
    clips stay close together (within 0.76); the ``video`` section (VAOT's video values for the alignment half and
    both halves' inputs, beta 2) aligns them (0.07). ``docs/methods.md``, VASOT on video features."""
    config = ExerciseConfig(seed=1, motion=0.12, noise=0.3)
    data = write_exercise_dataset(tmp_path / "faint", config)
    clips = generate_exercise(config)
    found = {}
    for name, preset, assignments in (
        ("default section", "fisher", ["encoder.standardize=global", "loss.n_clusters=4"]),
        ("video section", None, ["loss.n_clusters=4"]),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = va.train(data, "vasot", tmp_path / name, preset=preset, assignments=assignments, split="all")
            aligner = va.Aligner(run.path)
            errors = [
                repetition_phase_error(a.psi, b.psi, aligner(a.features, b.features).a_to_b)
                for a, b in zip(clips, clips[1:] + clips[:1], strict=True)
            ]
        found[name] = (float(np.mean(errors)), embedding_spread([run.model.embed(c.features) for c in clips])["within"])
    assert found["default section"][0] > 0.17 and found["video section"][0] < 0.11, found
    assert found["video section"][1] < 0.2 < found["default section"][1], found


def test_the_regulariser_penalises_a_collapsed_clip_and_not_a_spread_one():
    """Contrastive-IDM (mean over frame pairs): frames more than ``idm_sigma`` source frames apart must be at least
    ``idm_margin`` apart in squared distance; one point per clip pays for every such pair, orthogonal frames none."""
    loss = VAOTLoss(idm=1.0)
    idx = torch.arange(8.0)[None] * 20  # 8 loss frames 20 source frames apart: every pair is a negative
    mask = torch.ones(1, 8, dtype=torch.bool)
    collapsed = torch.nn.functional.normalize(torch.ones(1, 8, 8), dim=-1)
    spread = torch.eye(8)[None]
    assert float(loss.regulariser(spread, mask, idx)) == pytest.approx(0.0)
    weights = ((idx[0, :, None] - idx[0, None, :]).abs() / 141.0) ** 2 + 1.0  # W_ik = (gap / length)^2 + 1
    expected = float((2.0 * weights * (1 - torch.eye(8))).sum() / 64)
    assert float(loss.regulariser(collapsed, mask, idx)) == pytest.approx(expected, rel=1e-5)
    z = collapsed.clone().requires_grad_(True)
    out = loss(z, spread, mask, mask, idx_a=idx, idx_b=idx)
    assert out.logs["idm"] == pytest.approx(expected, rel=1e-5)
    (grad,) = torch.autograd.grad(out.loss, z)
    assert float(grad.norm()) > 0
    assert float(VAOTLoss()(collapsed, spread, mask, mask, idx_a=idx, idx_b=idx).loss) < float(out.loss.detach())
