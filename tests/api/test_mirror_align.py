"""``align`` / ``compare`` with ``mirror="auto"``: a recording that is the other's mirror image (a person waving with
the other hand) is aligned mirrored, and only then recovers the true timing; recordings of the same side, and
inputs that are not known to be poses, are aligned as recorded (vidalign.orientation, docs/methods.md, Mirror
images of poses)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vidalign as va
from vidalign.cli import main
from vidalign.data.keypoints import keypoint_features, read_keypoints
from vidalign.data.penn_action import JOINT_NAMES
from vidalign.errors import InputError

WIDTH = 640.0
JOINT = {name: k for k, name in enumerate(JOINT_NAMES)}


def _waving(times: np.ndarray, seed: int) -> np.ndarray:
    """Penn-13 keypoints ``[T, 13, 3]`` in pixels of a person facing the camera who raises the right arm (on the
    image's left), waves and lowers it, at motion times ``times`` in [0, 1]; the left arm hangs still."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0.85, 1.15)
    rest = {"head": (320, 100), "left_shoulder": (350, 140), "right_shoulder": (290, 140), "left_elbow": (355, 190),
            "right_elbow": (285, 190), "left_wrist": (358, 235), "right_wrist": (282, 235), "left_hip": (340, 250),
            "right_hip": (300, 250), "left_knee": (342, 320), "right_knee": (298, 320), "left_ankle": (344, 390),
            "right_ankle": (296, 390)}  # fmt: skip
    xy = np.tile(np.array([rest[name] for name in JOINT_NAMES], dtype=float), (len(times), 1, 1))
    raised = np.clip(np.minimum(times / 0.25, (1 - times) / 0.25), 0, 1)  # up over the first quarter, down the last
    angle = np.pi * (1 - raised)[:, None]  # arm angle from straight up (0) to hanging (pi)
    wave = 0.5 * raised * np.sin(2 * np.pi * 4 * times)  # four waves while the arm is up
    shoulder = xy[:, JOINT["right_shoulder"]]
    for joint, length, swing in (("right_elbow", 50, 0.0), ("right_wrist", 95, 1.0)):
        theta = angle[:, 0] + swing * wave
        xy[:, JOINT[joint]] = shoulder + length * np.stack([-np.sin(theta), -np.cos(theta)], axis=1)
    xy = 320 + size * (xy - 320) + rng.normal(0, 1.0, xy.shape)
    return np.concatenate([xy, np.ones((*xy.shape[:2], 1))], axis=2)


def _mirrored_picture(keypoints: np.ndarray) -> np.ndarray:
    """The keypoints a pose estimator finds in the horizontally flipped video: x reflected, left and right swapped."""
    out = keypoints.copy()
    out[..., 0] = WIDTH - out[..., 0]
    for k, name in enumerate(JOINT_NAMES):
        if name.startswith("left_"):
            other = JOINT["right_" + name[5:]]
            out[:, [k, other]] = out[:, [other, k]]
    return out


@pytest.fixture
def waving_pair(tmp_path):
    """A (60 frames) and B (another person, 75 frames, warped in time), and B's mirror image, as keypoint files;
    and the motion time of every frame."""
    times_a = np.linspace(0, 1, 60)
    times_b = np.linspace(0, 1, 75) ** 1.3
    b = _waving(times_b, seed=2)
    paths = {}
    for name, keypoints in (("a", _waving(times_a, seed=1)), ("b", b), ("b_mirrored", _mirrored_picture(b))):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps({"keypoints": keypoints.tolist(), "fps": 30}))
    return paths, times_a, times_b


def _timing_error(result, times_a, times_b) -> float:
    pairs = np.asarray(result.pairs)
    return float(np.mean(np.abs(times_a[pairs[:, 0]] - times_b[pairs[:, 1]])))


@pytest.mark.filterwarnings("ignore::vidalign.errors.TrustWarning")
def test_the_other_hand_is_aligned_mirrored_and_then_keeps_time(waving_pair):
    paths, times_a, times_b = waving_pair
    same_side = va.align(paths["a"], paths["b"])
    mirrored = va.align(paths["a"], paths["b_mirrored"])
    as_recorded = va.align(paths["a"], paths["b_mirrored"], mirror="off")
    assert same_side.inputs["b"]["mirror"]["mirrored"] is False
    choice = mirrored.inputs["b"]["mirror"]
    assert choice["mirrored"] is True
    assert choice["path_similarity"]["mirrored"] > choice["path_similarity"]["as_recorded"]
    assert "mirror" not in as_recorded.inputs["b"]
    errors = [_timing_error(r, times_a, times_b) for r in (same_side, mirrored, as_recorded)]
    assert errors[1] == pytest.approx(errors[0], abs=1e-9)  # mirrored back, B is the same-side recording
    assert errors[1] < 0.03 and errors[2] > 2 * errors[1]


@pytest.mark.filterwarnings("ignore::vidalign.errors.TrustWarning")
def test_the_cli_says_so_and_the_json_and_page_record_it(waving_pair, tmp_path, capsys):
    paths, _, _ = waving_pair
    assert main(["align", str(paths["a"]), str(paths["b_mirrored"]), "--out", str(tmp_path / "al"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "B is the mirror image of A" in out and "--mirror off" in out
    record = json.loads((tmp_path / "al" / "alignment.json").read_text())
    assert record["b"]["mirror"]["mirrored"] is True and "mirror" not in record["a"]
    assert "B mirrored left-right" in (tmp_path / "al" / "data.js").read_text()
    assert main(["compare", str(paths["a"]), str(paths["b_mirrored"]), "--out", str(tmp_path / "cmp"), "--quiet"]) == 0
    assert "the query is the mirror image of the reference" in capsys.readouterr().out
    assert main(["align", str(paths["a"]), str(paths["b_mirrored"]), "--out", str(tmp_path / "off"), "--quiet",
                 "--mirror", "off"]) == 0  # fmt: skip
    assert "mirror image" not in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::vidalign.errors.TrustWarning")
def test_inputs_not_known_to_be_poses_are_taken_as_recorded(waving_pair):
    paths, _, _ = waving_pair
    a, b = (keypoint_features(read_keypoints(paths[k])) for k in ("a", "b_mirrored"))
    result = va.align(a, b, standardize=True)  # arrays: their kind is unknown
    assert "mirror" not in result.inputs["b"]
    with pytest.raises(InputError, match="mirror must be one of"):
        va.Aligner(mirror="always")


def test_retrieve_searches_each_recording_of_a_pose_folder_in_its_own_orientation(waving_pair, tmp_path, capsys):
    paths, times_a, times_b = waving_pair
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("b", "b_mirrored"):
        (clips / f"{name}.json").write_text(paths[name].read_text())
    assert main(["convert", "keypoints", str(clips), "--out", str(tmp_path / "poses")]) == 0
    frame = 9  # the arm on its way up: a moment no other frame repeats
    found = va.retrieve(paths["a"], frame, tmp_path / "poses", k=1)
    assert found.recordings["b"]["mirror"]["mirrored"] is False
    assert found.recordings["b_mirrored"]["mirror"]["mirrored"] is True
    for name in ("b", "b_mirrored"):
        assert abs(times_b[found.matches[name][0].frame] - times_a[frame]) < 0.03
    assert "mirror" not in va.retrieve(paths["a"], frame, tmp_path / "poses", mirror="off").recordings["b"]
    argv = ["retrieve", str(paths["a"]), "--frame", str(frame), "--in", str(tmp_path / "poses"), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "found")]) == 0
    out = capsys.readouterr().out
    assert "b_mirrored (mirrored):" in out and "b (mirrored)" not in out
    written = json.loads((tmp_path / "found" / "retrieval.json").read_text())
    assert {name: choice["mirrored"] for name, choice in written["mirror"].items()} == {"b": False, "b_mirrored": True}
    match = written["matches"]["b"][0]  # the converted folder records only a frame rate: times from it
    assert match["time"] == pytest.approx(
        match["frame"] / json.loads((tmp_path / "poses" / "meta" / "b.json").read_text())["fps"]
    )


def test_a_model_trained_on_pose_features_embeds_videos_with_the_pose_backbone(waving_pair, tmp_path):
    """A run on converted keypoints (or Penn Action) embedded videos with efficientnet_lite0 and stopped on the
    dimension; the pose backbone gives videos the same 26-d features."""
    from vidalign.representation import training_backbone, video_frontend

    paths, _, _ = waving_pair
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a", "b", "b_mirrored"):
        (clips / f"{name}.json").write_text(paths[name].read_text())
    assert main(["convert", "keypoints", str(clips), "--out", str(tmp_path / "poses")]) == 0
    run = va.train(tmp_path / "poses", "vaot", tmp_path / "run", split="all", epochs=0)
    assert (
        run.config.preset.startswith("pose")
        and training_backbone(json.loads((run.path / "config.json").read_text())) == "pose"
    )
    assert video_frontend(run.path)["backbone"] == "pose"
