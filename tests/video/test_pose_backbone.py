"""The ``pose`` backbone: MediaPipe Pose on video frames -> the Penn Action pose features of a keypoint file.

Truth: the keypoint-file reader (:mod:`vidalign.data.keypoints`) for the features, and the BIISC waving clips'
events marked by eye (``benchmarks/biisc_waving_events.csv``) for what the tracker finds on real people."""

from __future__ import annotations

import csv
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import vidalign as va
from vidalign.data.keypoints import keypoint_features, read_keypoints
from vidalign.data.penn_action import JOINT_NAMES
from vidalign.extraction import embed_video, extract_videos
from vidalign.models.backbones import Backbone, BackboneError, build_backbone

pytest.importorskip("mediapipe", reason="the pose backbone's optional dependency (vidalign[pose])")

WAVING_EVENTS = Path(__file__).resolve().parents[2] / "benchmarks" / "biisc_waving_events.csv"


@pytest.fixture(scope="module")
def pose():
    return build_backbone("pose")


def _landmarks(n_frames: int, seed: int) -> np.ndarray:
    """MediaPipe-like rows ``[T, 33 * 3]``: a body drifting and waving, x, y in pixels, visibility in 0-1."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None]
    x = 300 + rng.normal(0, 40, (1, 33)) + 2.0 * t + 15 * np.sin(t / 3 + rng.uniform(0, 6, (1, 33)))
    y = 200 + rng.normal(0, 60, (1, 33)) + 10 * np.cos(t / 4 + rng.uniform(0, 6, (1, 33)))
    visibility = rng.uniform(0.5, 1.0, (n_frames, 33))
    return np.stack([x, y, visibility], axis=-1).reshape(n_frames, -1)


def test_the_features_are_those_of_the_same_landmarks_read_from_a_keypoint_file(pose, tmp_path):
    rows = _landmarks(40, seed=1)
    rows[[0, 1, 17], :] = np.nan  # no person found in these frames
    keypoints = rows.reshape(40, 33, 3)
    (tmp_path / "k.json").write_text(json.dumps({"keypoints": np.nan_to_num(keypoints, nan=-1.0).tolist()}))
    from_file = keypoint_features(read_keypoints(tmp_path / "k.json"))  # -1 visibility: a missing joint there
    features = pose.video_features(rows.astype(np.float32))
    assert features.shape == (40, pose.dim) == (40, 26)
    np.testing.assert_allclose(features, from_file, atol=1e-4)
    np.testing.assert_array_equal(features[[0, 1]], features[[2, 2]])  # before the first person: the first one
    np.testing.assert_array_equal(features[17], features[16])  # a frame without a person: the one before


def test_embed_video_starts_every_recording_afresh(make_video):
    """A backbone that follows a recording gets ``start_video`` before each recording's first frame, and its
    ``video_features`` see all the recording's frames at once."""

    class Recorder(Backbone):
        name, dim = "recorder", 1

        def __init__(self):
            super().__init__("none", "cpu")
            self.calls = []

        def preprocess(self, batch):
            return batch

        def features(self, inputs):
            self.calls.append(("frames", len(inputs)))
            return inputs.float().mean(dim=(1, 2, 3))[:, None]

        def start_video(self):
            self.calls.append(("start", 0))

        def video_features(self, frame_rows):
            self.calls.append(("video", len(frame_rows)))
            return frame_rows - frame_rows.mean()

    recorder = Recorder()
    for name in ("a.mp4", "b.mp4"):
        video = embed_video(make_video(name, "libx264", n_frames=20), recorder, batch_size=8)
        assert video.features.shape == (20, 1) and abs(video.features.mean()) < 1e-4
    per_video = [("start", 0), ("frames", 8), ("frames", 8), ("frames", 4), ("video", 20)]
    assert recorder.calls == per_video * 2


def test_a_video_without_a_person_is_a_failed_video_not_a_crash(make_video, tmp_path):
    summary = extract_videos([make_video("empty.mp4", "libx264", n_frames=12)], tmp_path / "out", backbone="pose")
    assert summary.extracted == [] and len(summary.failed) == 1
    assert summary.failed[0][1] == "MediaPipe found no person in any frame"


def test_weights_device_and_a_missing_mediapipe_are_one_line_errors(monkeypatch):
    with pytest.raises(BackboneError, match="models shipped with MediaPipe"):
        build_backbone("pose", weights="none")
    with pytest.raises(BackboneError, match="runs on the CPU"):
        build_backbone("pose", device="cuda")
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import fails as when it is not installed
    with pytest.raises(BackboneError, match=r"pip install 'vidalign\[pose\]'") as caught:
        build_backbone("pose")
    assert "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def waving_poses(shared_data, tmp_path_factory):
    """The 8 BIISC clips extracted as poses (`vidalign extract --backbone pose`), and their rows of events marked
    by eye."""
    out = tmp_path_factory.mktemp("biisc") / "pose"
    summary = extract_videos([shared_data / "biisc"], out, backbone="pose", progress=False)
    assert len(summary.extracted) == 8 and not summary.failed
    with WAVING_EVENTS.open() as f:
        return out, list(csv.DictReader(f))


def test_on_real_people_waving_the_wrist_rises_above_the_elbow_between_the_marked_events(waving_poses):
    """A pose folder, a person in every frame, and a wrist above its elbow in the frames between "hand up" and
    "hand down" marked by eye, in none before the arm leaves the body; the higher wrist is the waving hand's."""
    out, rows = waving_poses
    assert json.loads((out / "dataset.json").read_text())["feature_family"] == "pose"
    joint = {name: i for i, name in enumerate(JOINT_NAMES)}
    for row in rows:
        features = np.load(out / "features" / f"{Path(row['clip']).stem}.npy")
        y = features[:, 13:]  # image y grows downwards
        raised = np.minimum(*(y[:, joint[f"{s}_wrist"]] - y[:, joint[f"{s}_elbow"]] for s in ("left", "right")))
        up, down, leaves = int(row["hand_up"]), int(row["hand_down"]), int(row["arm_leaves"])
        assert np.mean(raised[up:down] < 0) >= 0.9, row["clip"]
        assert np.mean(raised[:leaves] < 0) <= 0.1, row["clip"]
        higher = min(("left", "right"), key=lambda s: y[up:down, joint[f"{s}_wrist"]].mean())
        assert higher == row["waving_hand"], row["clip"]  # the tracker's left and right are the person's


@pytest.mark.filterwarnings("ignore::vidalign.errors.TrustWarning")
def test_a_person_waving_with_the_other_hand_is_aligned_mirrored(waving_poses):
    """Each clip aligned with every other as pose files of the folder (``mirror="auto"``): mirrored exactly when
    the two people wave with different hands (marked by eye), and the marked events then land closer."""
    out, rows = waving_poses
    path = {row["clip"]: out / "features" / f"{Path(row['clip']).stem}.npy" for row in rows}
    event_names = ("arm_leaves", "hand_up", "hand_down", "arm_back")
    errors = {"auto": [], "off": []}
    for a, b in itertools.permutations(rows, 2):
        other_hand = a["waving_hand"] != b["waving_hand"]
        for mode in errors:
            result = va.align(path[a["clip"]], path[b["clip"]], mirror=mode)
            if mode == "auto":
                assert result.inputs["b"]["mirror"]["mirrored"] is other_hand, (a["clip"], b["clip"])
            if other_hand:
                pairs = np.asarray(result.pairs)
                carried = [pairs[pairs[:, 0] == int(a[e]), 1].mean() for e in event_names]
                errors[mode].append(np.abs(np.array(carried) - [int(b[e]) for e in event_names]).mean())
    assert len(errors["auto"]) == 14  # S002 waves with the left hand, the others with the right
    assert np.mean(errors["auto"]) < 0.5 * np.mean(errors["off"])
