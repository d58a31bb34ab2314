"""Penn Action conversion: pose features against a brute-force reference, splits, odd files, real files."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from vidalign.data.layout import DatasetError, FeatureFolder
from vidalign.data.penn_action import (
    REQUIRED_FIELDS,
    carve_validation,
    convert_penn_action,
    pose_features,
    read_penn_action_mat,
)

N_JOINTS = 13
pytestmark = pytest.mark.filterwarnings("ignore:.*no official test videos:UserWarning")


def write_penn_mat(path: Path, *, action="golf_swing", train=1, n_frames=8, seed=0, drop=(), **override):
    """A .mat shaped like the official files (char arrays, int32 train flag, uint16 dimensions)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(50.0, 400.0, (n_frames, N_JOINTS))
    y = rng.uniform(30.0, 250.0, (n_frames, N_JOINTS))
    visibility = (rng.random((n_frames, N_JOINTS)) > 0.25).astype(np.uint8)
    x[1, 4] = y[1, 4] = 0.75  # a joint without any position: the corner placeholder
    visibility[1, 4] = 0
    fields = {
        "action": action,
        "pose": "front",
        "x": x,
        "y": y,
        "visibility": visibility,
        "train": np.array([[train]], dtype=np.int32),
        "bbox": np.tile([10.0, 10.0, 400.0, 260.0], (n_frames, 1)),
        "dimensions": np.array([[270, 480, n_frames]], dtype=np.uint16),
        "nframes": np.array([[n_frames]], dtype=np.uint16),
    } | override
    for name in drop:
        del fields[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, fields)
    return path


def reference_features(x: np.ndarray, y: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """Frame-by-frame, joint-by-joint restatement of the documented normalisation."""
    n_frames = x.shape[0]
    annotated = [
        [bool(visibility[t, j]) or not (x[t, j] < 2.0 and y[t, j] < 2.0) for j in range(N_JOINTS)]
        for t in range(n_frames)
    ]
    centres, radii = [], []
    for t in range(n_frames):
        joints = [j for j in range(N_JOINTS) if annotated[t][j]]
        cx = sum(x[t, j] for j in joints) / len(joints) if joints else 0.0
        cy = sum(y[t, j] for j in joints) / len(joints) if joints else 0.0
        centres.append((cx, cy))
        if len(joints) >= 2:
            radii.append(np.sqrt(np.mean([(x[t, j] - cx) ** 2 + (y[t, j] - cy) ** 2 for j in joints])))
    scale = statistics.median(radii)
    out = np.zeros((n_frames, 3 * N_JOINTS))
    for t in range(n_frames):
        for j in range(N_JOINTS):
            if annotated[t][j]:
                out[t, j] = (x[t, j] - centres[t][0]) / scale
                out[t, N_JOINTS + j] = (y[t, j] - centres[t][1]) / scale
            out[t, 2 * N_JOINTS + j] = visibility[t, j]
    return out


def test_pose_features_match_reference(tmp_path):
    video = read_penn_action_mat(write_penn_mat(tmp_path / "0001.mat"))
    features, scale = pose_features(video.x, video.y, video.visibility, visibility_channel=True)
    assert features.dtype == np.float32 and features.shape == (8, 39) and scale > 0
    np.testing.assert_allclose(features, reference_features(video.x, video.y, video.visibility), atol=1e-5)
    assert features[1, 4] == 0.0 and features[1, N_JOINTS + 4] == 0.0  # placeholder joint zeroed
    occluded = (video.visibility == 0) & (video.x > 2.0)
    assert np.abs(features[:, :N_JOINTS][occluded]).sum() > 0  # occluded estimates are kept
    coordinates, _ = pose_features(video.x, video.y, video.visibility)  # default: coordinates only
    np.testing.assert_array_equal(coordinates, features[:, : 2 * N_JOINTS])


def test_pose_features_invariant_to_position_and_size():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(50, 300, (6, N_JOINTS)), rng.uniform(50, 300, (6, N_JOINTS))
    visibility = rng.random((6, N_JOINTS)) > 0.3
    base, scale = pose_features(x, y, visibility)
    moved, moved_scale = pose_features(2.5 * x + 40.0, 2.5 * y + 7.0, visibility)
    np.testing.assert_allclose(moved, base, atol=1e-5)
    assert moved_scale == pytest.approx(2.5 * scale)


def test_pose_features_refuse_videos_without_observations():
    x = y = np.full((4, N_JOINTS), 100.0)
    with pytest.raises(ValueError, match="no visible joint"):
        pose_features(x, y, np.zeros((4, N_JOINTS), dtype=bool))
    with pytest.raises(ValueError, match="body scale 0"):
        pose_features(x, y, np.ones((4, N_JOINTS), dtype=bool))


def make_labels_dir(root: Path, flags: dict[str, list[int]]) -> Path:
    """One .mat per entry: {action: [train flag per video]}; ids numbered in order."""
    index = 0
    for action, video_flags in flags.items():
        for flag in video_flags:
            index += 1
            write_penn_mat(root / f"{index:04d}.mat", action=action, train=flag, seed=index, n_frames=5 + index)
    return root


def test_convert_writes_folders_splits_and_meta(tmp_path):
    labels = make_labels_dir(tmp_path / "labels", {"golf_swing": [1] * 10 + [-1] * 3, "squat": [1, 1, -1]})
    folders = convert_penn_action(labels, tmp_path / "out", visibility_channel=True)
    assert sorted(folders) == ["golf_swing", "squat"]
    golf = FeatureFolder(folders["golf_swing"])
    assert golf.splits() == ["test", "train", "train_sub", "val"]
    assert not golf.has_labels and not (folders["golf_swing"] / "groundTruth").exists()
    train, test = golf.video_ids("train"), golf.video_ids("test")
    assert len(train) == 10 and test == ["0011", "0012", "0013"]
    train_sub, val = golf.video_ids("train_sub"), golf.video_ids("val")
    assert len(val) == 2 and sorted(train_sub + val) == train and not set(train_sub) & set(val)
    record = golf.load("0001")
    assert record.features.shape == (6, 39)
    assert record.meta["source_file"] == "0001.mat" and record.meta["official_split"] == "train"
    assert record.meta["dimensions"] == {"height": 270, "width": 480, "frames": 6}
    assert record.meta["unannotated_joints"] == 1 and "visibility" in record.meta["features"]
    squat = FeatureFolder(folders["squat"])
    assert squat.video_ids("val") and len(squat.video_ids("train_sub")) == 1
    assert "train_sub --eval-split val" in (folders["squat"] / "README.md").read_text()


def test_carve_is_seeded_and_independent_of_other_actions(tmp_path):
    labels = make_labels_dir(tmp_path / "labels", {"golf_swing": [1] * 10, "squat": [1] * 4})
    full = convert_penn_action(labels, tmp_path / "a")
    subset = convert_penn_action(labels, tmp_path / "b", actions=["golf_swing"])
    assert list(subset) == ["golf_swing"]
    val = (full["golf_swing"] / "splits" / "val.txt").read_text()
    assert (subset["golf_swing"] / "splits" / "val.txt").read_text() == val
    train_ids = FeatureFolder(full["golf_swing"]).video_ids("train")
    carves = {tuple(carve_validation(train_ids, 0.2, seed, "golf_swing")[1]) for seed in range(5)}
    assert len(carves) > 1


def test_carve_validation_sizes():
    ids = [f"{i:04d}" for i in range(7)]
    assert [len(part) for part in carve_validation(ids, 0.2, 0, "a")] == [6, 1]
    assert [len(part) for part in carve_validation(ids, 0.5, 0, "a")] == [3, 4]  # round half to even
    assert carve_validation(ids[:2], 0.01, 0, "a")[1] != []  # at least one when possible
    assert carve_validation(ids[:1], 0.5, 0, "a") == (ids[:1], [])
    assert carve_validation(ids, 0.0, 0, "a") == (ids, [])
    with pytest.raises(ValueError, match="val_fraction"):
        carve_validation(ids, 1.0, 0, "a")


def test_only_train_videos_give_an_empty_test_split(tmp_path):
    labels = make_labels_dir(tmp_path / "labels", {"bowl": [1, 1, 1]})
    with pytest.warns(UserWarning, match=r"no official test videos; splits/test.txt is empty"):
        folders = convert_penn_action(labels, tmp_path / "out")
    folder = FeatureFolder(folders["bowl"])
    assert folder.video_ids("test") == [] and folder.load_split("test") == []
    assert len(folder.video_ids("train")) == 3


def test_only_test_videos_give_empty_train_splits(tmp_path):
    labels = make_labels_dir(tmp_path / "labels", {"bowl": [-1, -1]})
    with pytest.warns(UserWarning, match="no official train videos"):
        folders = convert_penn_action(labels, tmp_path / "out")
    folder = FeatureFolder(folders["bowl"])
    assert [folder.video_ids(s) for s in ("train", "train_sub", "val")] == [[], [], []]
    assert folder.video_ids("test") == ["0001", "0002"]


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_missing_field_names_the_file(tmp_path, field):
    labels = make_labels_dir(tmp_path / "labels", {"bowl": [1, 1]})
    bad = write_penn_mat(labels / "0003.mat", action="bowl", drop=(field,))
    with pytest.raises(DatasetError, match=f"missing field.*{field}") as error:
        convert_penn_action(labels, tmp_path / "out")
    assert str(bad) in str(error.value)
    assert not (tmp_path / "out").exists()  # validated before anything is written


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"y": np.zeros((7, N_JOINTS))}, "shapes differ"),
        ({"x": np.zeros((8, 12))}, r"\[T, 13\]"),
        ({"visibility": np.full((8, N_JOINTS), 2, dtype=np.uint8)}, "only 0 and 1"),
        ({"x": np.full((8, N_JOINTS), np.nan)}, "NaN"),
        ({"nframes": np.array([[9]], dtype=np.uint16)}, "nframes 9"),
        ({"train": np.array([[5]], dtype=np.int32)}, "train must be"),
        ({"action": "../escape"}, "plain name"),
    ],
)
def test_malformed_fields_name_the_file(tmp_path, override, message):
    bad = write_penn_mat(tmp_path / "labels" / "0001.mat", **override)
    with pytest.raises(DatasetError, match=message) as error:
        convert_penn_action(tmp_path / "labels", tmp_path / "out")
    assert str(bad) in str(error.value) and "\n" not in str(error.value)


def test_unreadable_mat_names_the_file(tmp_path):
    bad = tmp_path / "labels" / "0001.mat"
    bad.parent.mkdir()
    bad.write_bytes(b"MATLAB garbage")
    with pytest.raises(DatasetError, match="cannot read") as error:
        convert_penn_action(tmp_path / "labels", tmp_path / "out")
    assert str(bad) in str(error.value)


def test_bad_arguments(tmp_path):
    labels = make_labels_dir(tmp_path / "labels", {"bowl": [1, 1]})
    with pytest.raises(DatasetError, match=r"no videos of action\(s\) squat \(available: bowl\)"):
        convert_penn_action(labels, tmp_path / "out", actions=["squat"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no .mat files"):
        convert_penn_action(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(DatasetError, match="not a directory"):
        convert_penn_action(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(ValueError, match="val_fraction"):
        convert_penn_action(labels, tmp_path / "out", val_fraction=-0.1)
    convert_penn_action(labels, tmp_path / "done")
    with pytest.raises(FileExistsError):
        convert_penn_action(labels, tmp_path / "done")


def test_video_without_visible_joints_is_skipped_and_listed(tmp_path):
    labels = make_labels_dir(tmp_path / "labels", {"bowl": [1, 1]})
    write_penn_mat(labels / "0003.mat", action="bowl", visibility=np.zeros((8, N_JOINTS), dtype=np.uint8))
    with pytest.warns(UserWarning, match=r"0003.mat: skipped \(no visible joint in any frame\)"):
        folders = convert_penn_action(labels, tmp_path / "out")
    assert FeatureFolder(folders["bowl"]).video_ids() == ["0001", "0002"]
    assert "- 0003.mat: no visible joint in any frame" in (folders["bowl"] / "README.md").read_text()


REAL_FILES = ["0002.mat", "0003.mat", "0004.mat", "1354.mat", "1355.mat", "1516.mat", "1865.mat"]


def test_real_files(tmp_path, shared_data):
    labels = tmp_path / "labels"
    labels.mkdir()
    for name in REAL_FILES:
        shutil.copy(shared_data / "penn_action" / "labels" / name, labels / name)
    with pytest.warns(UserWarning) as caught:
        folders = convert_penn_action(labels, tmp_path / "out", visibility_channel=True)
    messages = [str(w.message) for w in caught]
    assert any("1516.mat: skipped (no visible joint in any frame)" in m for m in messages)
    assert sorted(folders) == ["baseball_pitch", "pushup", "squat"]

    pitch = FeatureFolder(folders["baseball_pitch"])
    assert pitch.video_ids("train") == ["0002", "0003", "0004"] and pitch.video_ids("test") == []
    assert FeatureFolder(folders["pushup"]).video_ids() == ["1354", "1355"]
    record = pitch.load("0002")
    mat = scipy.io.loadmat(labels / "0002.mat")
    assert record.features.shape == (int(mat["nframes"][0, 0]), 39)
    np.testing.assert_allclose(record.features, reference_features(mat["x"], mat["y"], mat["visibility"]), atol=1e-5)
    assert record.meta["action"] == "baseball_pitch" and record.meta["pose"] == "back"
    squat = FeatureFolder(folders["squat"]).load("1865")  # its bbox has one row fewer than its frames
    assert squat.meta["bbox_frames"] == 72 and squat.meta["n_frames"] == 73


def test_the_cli_prints_the_converter_s_warnings_as_one_line(tmp_path, capsys):
    """`convert penn-action` printed a raw Python warning (file, line number, source line) for an empty split."""
    import warnings

    from vidalign.cli import main

    labels = make_labels_dir(tmp_path / "labels", {"bowl": [1, 1, 1]})
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["convert", "penn-action", str(labels), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "vidalign convert: warning: " in err and "no official test videos" in err and "UserWarning" not in err
