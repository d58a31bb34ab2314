"""Recordings that repeat a movement pick the ``repeated`` section by themselves (``vidalign.presets.repeats``;
docs/presets.md, docs/methods.md "Repeated movements").

The clips: 2-D keypoints of people squatting 3-6 times at their own tempo (a generator of this module), as the
pose features of ``vidalign convert keypoints``, with every frame's phase in the repetition known.
"""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest

import vidalign as va
from vidalign.cli import main
from vidalign.confidence import MIN_PERIODICITY
from vidalign.data.layout import write_dataset_info, write_mapping, write_split, write_video
from vidalign.data.penn_action import JOINT_NAMES, pose_features
from vidalign.evaluation.repetition import repetition_phase_error
from vidalign.evaluation.spread import COLLAPSED_WITHIN, embedding_spread
from vidalign.presets import resolve_preset, train_settings
from vidalign.presets.repeats import median_periodicity, preset_line

JOINT = {name: k for k, name in enumerate(JOINT_NAMES)}
STANDING = {"head": (0, -170), "left_shoulder": (15, -140), "right_shoulder": (-15, -140), "left_elbow": (18, -95),
            "right_elbow": (-18, -95), "left_wrist": (20, -50), "right_wrist": (-20, -50), "left_hip": (10, -50),
            "right_hip": (-10, -50), "left_knee": (12, 25), "right_knee": (-12, 25), "left_ankle": (12, 100),
            "right_ankle": (-12, 100)}  # fmt: skip
# how far each joint moves at the bottom of a squat, (x, y) in the units of STANDING (facing right, y down)
AT_BOTTOM = {"head": (-25, 60), "shoulder": (-25, 60), "elbow": (5, 40), "wrist": (35, 15), "hip": (-25, 60),
             "knee": (30, 20), "ankle": (0, 0)}  # fmt: skip


def squats(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pose features ``[T, 26]`` of one person squatting 3-6 times at their own tempo, and each frame's phase in
    [0, 1) (0: standing, 0.5: the bottom)."""
    rng = np.random.default_rng(seed)
    period = int(rng.integers(18, 34))
    n_frames = int(rng.integers(3, 7)) * period + int(rng.integers(0, period))
    phase = (np.arange(n_frames) / period + rng.uniform(0, 1)) % 1.0
    depth = 0.5 * (1 - np.cos(2 * np.pi * phase)) * rng.uniform(0.8, 1.0)
    xy = np.tile(np.array([STANDING[name] for name in JOINT_NAMES], dtype=float), (n_frames, 1, 1))
    for name in JOINT_NAMES:
        xy[:, JOINT[name]] += depth[:, None] * np.array(AT_BOTTOM[name.split("_")[-1]])
    xy = xy * rng.uniform(0.8, 1.2) + rng.uniform(200, 400, 2) + rng.normal(0, 1.5, xy.shape)
    present = np.ones((n_frames, len(JOINT_NAMES)), dtype=bool)
    features, _ = pose_features(xy[..., 0], xy[..., 1], present, annotated=present)
    return features.astype(np.float32), phase


@pytest.fixture(scope="module")
def squatting(tmp_path_factory):
    """A pose feature folder of 8 people squatting (split ``all``) and their ``id -> (features, phase)``."""
    out = tmp_path_factory.mktemp("squats") / "data"
    clips = {f"person_{k}": squats(k) for k in range(8)}
    for video_id, (features, _) in clips.items():
        write_video(out, video_id, features, ["squat"] * len(features), {})
    write_mapping(out, ["squat"])
    write_dataset_info(out, feature_family="pose")
    write_split(out, "all", list(clips))
    return out, clips


def test_the_squats_repeat_and_the_synthetic_processes_do_not(squatting, tmp_path):
    data, _ = squatting
    assert median_periodicity(data, "all") >= MIN_PERIODICITY
    processes = va.synthetic_dataset(tmp_path / "processes", videos=8)
    assert median_periodicity(processes, "train") < MIN_PERIODICITY
    assert median_periodicity(processes, "no_such_split") is None


def test_the_section_is_added_by_itself_and_only_when_no_preset_is_named(squatting):
    data, _ = squatting
    resolved = resolve_preset("vaot", None, data, "all")
    assert resolved.label == "pose+repeated" and resolved.periodicity >= MIN_PERIODICITY
    assert resolved.settings["sampling"]["loss_frames"] == 64 and resolved.settings["loss"]["prior"] == "dtw"
    assert resolve_preset("vaot", "pose", data, "all").label == "pose"  # a named preset: no check
    assert resolve_preset("lac", None, data, "all").periodicity is None  # no such section: no check
    assert preset_line("pose+repeated").endswith("(the recordings repeat a movement: docs/presets.md)")
    assert preset_line("pose") == "preset: pose"


def test_a_split_given_as_an_override_is_the_split_checked(squatting, tmp_path):
    """``--set split=all`` names the trained split as ``--split all`` does (the folder has no ``train`` split)."""
    data, _ = squatting
    settings = train_settings("vaot", data, tmp_path / "run", overrides=["split=all"])
    assert settings["split"] == "all" and settings["preset"] == "pose+repeated"
    assert train_settings("vaot", data, tmp_path / "run", overrides=["split=all"], split="x")["preset"] == "pose"


def test_train_says_why_it_took_the_section(squatting, tmp_path, capsys):
    data, _ = squatting
    main(["train", "--data", str(data), "--split", "all", "--method", "vaot", "--epochs", "0",
          "--out", str(tmp_path / "run")])  # fmt: skip
    assert "preset: pose+repeated (the recordings repeat a movement: docs/presets.md)" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["preset"] == "pose+repeated"


def _trained(data, clips, preset, out):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the collapse warning of the pose default
        run = va.train(data, "vasot", out, preset=preset, split="all", loss={"n_clusters": 4})
        aligner = va.Aligner(run.path)
        errors = [repetition_phase_error(clips[a][1], clips[b][1], aligner(clips[a][0], clips[b][0]).a_to_b)
                  for a, b in itertools.permutations(sorted(clips)[:4], 2)]  # fmt: skip
    within = embedding_spread([run.model.embed(features) for features, _ in clips.values()])["within"]
    return run.config.preset, float(np.mean(errors)), within


def test_vasot_collapses_on_repeated_poses_with_the_pose_default_and_not_with_the_repeated_section(squatting, tmp_path):
    """VASOT with the pose default maps each clip of repeated squats to one point (within 1.00; Penn Action clips
    played 3-6 times: the same, docs/methods.md); the section picked by itself spreads them (0.17) and aligns
    them by their phase (error 0.06; chance 0.25)."""
    data, clips = squatting
    label, _, within = _trained(data, clips, "pose", tmp_path / "default")
    assert label == "pose" and within > COLLAPSED_WITHIN
    label, error, within = _trained(data, clips, None, tmp_path / "auto")
    assert label == "pose+repeated" and within < 0.5 and error < 0.1, (error, within)
