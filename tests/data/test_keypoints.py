"""Pose keypoints users bring (vidalign.data.keypoints): each skeleton lands on the Penn Action joints, every file
format reads the same recording, missing joints stay missing, and the files align and convert from the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from vidalign.cli import main
from vidalign.data.keypoints import convert_keypoints, keypoint_features, read_keypoints
from vidalign.data.layout import FeatureFolder, read_dataset_info
from vidalign.data.penn_action import JOINT_NAMES, pose_features
from vidalign.errors import DataError, InputError

# Joint indices from each format's own documentation (COCO keypoints, MediaPipe Pose landmarks, OpenPose output).
LIMBS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
OPENPOSE_ARMS = {
    "head": 0,
    "right_shoulder": 2,
    "right_elbow": 3,
    "right_wrist": 4,
    "left_shoulder": 5,
    "left_elbow": 6,
    "left_wrist": 7,
}  # fmt: skip (the same in both OpenPose body models)
SPECS = {
    "coco17": (
        17,
        {"head": 0}
        | {f"{s}_{limb}": 5 + 2 * k + (s == "right") for k, limb in enumerate(LIMBS) for s in ("left", "right")},
    ),  # fmt: skip
    "mediapipe33": (
        33,
        {
            "head": 0,
            "left_shoulder": 11,
            "right_shoulder": 12,
            "left_elbow": 13,
            "right_elbow": 14,
            "left_wrist": 15,
            "right_wrist": 16,
            "left_hip": 23,
            "right_hip": 24,
            "left_knee": 25,
            "right_knee": 26,
            "left_ankle": 27,
            "right_ankle": 28,
        },
    ),  # fmt: skip
    "body25": (
        25,
        OPENPOSE_ARMS
        | {"right_hip": 9, "right_knee": 10, "right_ankle": 11, "left_hip": 12, "left_knee": 13, "left_ankle": 14},
    ),  # fmt: skip
    "coco18": (
        18,
        OPENPOSE_ARMS
        | {"right_hip": 8, "right_knee": 9, "right_ankle": 10, "left_hip": 11, "left_knee": 12, "left_ankle": 13},
    ),  # fmt: skip
}


def _motion(n_frames: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x, y [T, 13] of a moving stick figure (pixels)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(100, 300, size=(2, 13))
    t = np.linspace(0, 2 * np.pi, n_frames)[:, None]
    return base[0] + 20 * np.sin(t + np.arange(13)), base[1] + 20 * np.cos(t + 0.5 * np.arange(13))


def _in_skeleton(x: np.ndarray, y: np.ndarray, skeleton: str, seed: int = 1) -> np.ndarray:
    """[T, J, 3] of the skeleton: the Penn joints where the spec puts them, noise elsewhere, confidence 0.9."""
    n_joints, spec = SPECS[skeleton]
    array = np.random.default_rng(seed).uniform(0, 500, size=(len(x), n_joints, 3))
    array[..., 2] = 0.9
    for k, name in enumerate(JOINT_NAMES):
        array[:, spec[name], 0], array[:, spec[name], 1] = x[:, k], y[:, k]
    return array


@pytest.mark.parametrize("skeleton", sorted(SPECS))
def test_every_skeleton_lands_on_the_penn_joints(skeleton, tmp_path):
    x, y = _motion()
    np.save(tmp_path / "k.npy", _in_skeleton(x, y, skeleton))
    keypoints = read_keypoints(tmp_path / "k.npy")
    assert keypoints.skeleton == skeleton and keypoints.present.all()
    np.testing.assert_allclose(keypoints.x, x)
    np.testing.assert_allclose(keypoints.y, y)
    expected, _ = pose_features(x, y, np.ones_like(x, dtype=bool))  # the Penn Action features of the same pose
    np.testing.assert_allclose(keypoint_features(keypoints), expected, rtol=1e-6)


def test_every_file_format_reads_the_same_recording(tmp_path):
    x, y = _motion(seed=3)
    array = _in_skeleton(x, y, "coco17")
    (tmp_path / "k.json").write_text(json.dumps({"keypoints": array.tolist(), "fps": 25}))
    (tmp_path / "bare.json").write_text(json.dumps(array[..., :2].tolist()))
    with (tmp_path / "k.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"{axis}_{j}" for j in range(17) for axis in "xyc"])
        writer.writerows(array.reshape(len(array), -1).tolist())
    openpose = tmp_path / "openpose"
    openpose.mkdir()
    for t, frame in enumerate(array):
        other = {"pose_keypoints_2d": (frame * [1, 1, 0.2]).ravel().tolist()}  # a second, less confident person
        people = [other, {"pose_keypoints_2d": frame.ravel().tolist()}]
        (openpose / f"clip_{t:012d}_keypoints.json").write_text(json.dumps({"people": people}))
    reference = keypoint_features(read_keypoints(tmp_path / "k.json"))
    assert read_keypoints(tmp_path / "k.json").fps == 25
    for source in ("bare.json", "k.csv", "openpose"):
        np.testing.assert_allclose(keypoint_features(read_keypoints(tmp_path / source)), reference, rtol=1e-6)


def test_openpose_follows_one_person_through_frames_numbered_without_padding(tmp_path):
    """Two people in view, the other one more confident in every second frame: the person first seen most
    confident is followed; files ``f2`` ... ``f10`` are read in frame order, not as text."""
    x, y = _motion(n_frames=12, seed=4)
    person = _in_skeleton(x, y, "body25")
    other = person.copy()
    other[..., 0] += 400.0  # someone else, further right
    openpose = tmp_path / "openpose"
    openpose.mkdir()
    for t in range(12):
        confident = 0.95 if t % 2 else 0.5  # the other person wins the confidence contest in odd frames
        people = [{"pose_keypoints_2d": (person[t] * [1, 1, 0.6 / 0.9]).ravel().tolist()},
                  {"pose_keypoints_2d": (other[t] * [1, 1, confident / 0.9]).ravel().tolist()}]  # fmt: skip
        (openpose / f"f{t}_keypoints.json").write_text(json.dumps({"people": people}))
    keypoints = read_keypoints(openpose)
    np.testing.assert_allclose(keypoints.x, x)  # always the first person, in frame order


def _openpose_dir(path, frames):
    """An OpenPose output directory: ``frames`` is a list of each frame's people ``[J, 3]``."""
    path.mkdir()
    for t, people in enumerate(frames):
        record = {
            "version": 1.3,
            "people": [{"person_id": [-1], "pose_keypoints_2d": p.ravel().tolist()} for p in people],
        }
        (path / f"clip_{t:012d}_keypoints.json").write_text(json.dumps(record))
    return path


def test_a_frame_that_misses_the_followed_person_does_not_hand_the_track_to_another(tmp_path):
    """Person A in every frame but frame 2, person B, less confident, 1000 pixels to the right in all: B was
    taken in frame 2 and kept to the end. Now frame 2 has nobody, A is taken again from frame 3; once A is gone
    for good, B is taken after a few frames (the allowance grows with the frames since A was seen)."""
    x, y = _motion(n_frames=16, seed=6)
    a = _in_skeleton(x, y, "body25")
    a[:, [j for j in range(25) if j not in SPECS["body25"][1].values()], 2] = 0.0  # only the body's joints found
    b = a.copy()
    b[..., 0] += 1000.0
    b[..., 2] = np.where(a[..., 2] > 0, 0.5, 0.0)
    frames = [[b[t]] if t == 2 or t >= 10 else [a[t], b[t]] for t in range(16)]
    keypoints = read_keypoints(_openpose_dir(tmp_path / "op", frames))
    assert not keypoints.present[2].any() and keypoints.present[[0, 1, *range(3, 10)]].all()
    np.testing.assert_allclose(keypoints.x[3:10], x[3:10])
    assert not keypoints.present[10].any() and keypoints.present[15].all()
    np.testing.assert_allclose(keypoints.x[15], x[15] + 1000.0)


def test_tracking_starts_from_a_person_with_joints_and_follows_a_pose_first_seen_with_few(tmp_path):
    """A first person with no joint found (confidences 0.05) locked the track (never near anyone); a first
    detection of the nose alone gave a reach of 1 pixel per frame, and a walking person was lost."""
    x, y = _motion(n_frames=12, seed=11)
    person = _in_skeleton(x, y, "coco18")
    faint = person[0] * [1, 1, 0.05 / 0.9]
    nose_only = person[1].copy()
    nose_only[1:, 2] = 0.0
    walking = person.copy()
    walking[:, :, 0] += 5.0 * np.arange(12)[:, None]  # 5 pixels a frame
    frames = [[faint], [nose_only], *[[walking[t]] for t in range(2, 12)]]
    keypoints = read_keypoints(_openpose_dir(tmp_path / "op", frames))
    assert not keypoints.present[0].any() and keypoints.present[2:].all()
    np.testing.assert_allclose(keypoints.x[2:], x[2:] + 5.0 * np.arange(2, 12)[:, None])


def test_a_recording_without_anybody_says_so(tmp_path):
    with pytest.raises(DataError, match="no person in any of its 3 keypoint files"):
        read_keypoints(_openpose_dir(tmp_path / "op", [[], [], []]))


def _write_csv(path, header, rows, encoding="utf-8"):
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerows(([header] if header else []) + rows)
    return path


def test_a_csv_with_a_frame_column_is_read_without_it(tmp_path):
    """BODY_25 x, y after a frame column (51 columns) was read as COCO-17 x, y, c: the frame number became the
    nose's x; COCO-17 x, y, c after pandas' index column (52) was refused as 26 joints."""
    x, y = _motion(seed=7)
    body25 = _in_skeleton(x, y, "body25")[..., :2].reshape(len(x), -1)
    frames = np.arange(len(x))[:, None]
    header = ["frame"] + [f"{axis}_{j}" for j in range(25) for axis in "xy"]
    read = read_keypoints(_write_csv(tmp_path / "b.csv", header, np.hstack([frames, body25]).tolist()))
    assert read.skeleton == "body25"
    np.testing.assert_allclose(read.x, x)
    coco = _in_skeleton(x, y, "coco17").reshape(len(x), -1)
    header = [""] + [f"{axis}_{j}" for j in range(17) for axis in "xyc"]  # pandas' to_csv
    read = read_keypoints(_write_csv(tmp_path / "c.csv", header, np.hstack([frames, coco]).tolist()))
    assert read.skeleton == "coco17"
    np.testing.assert_allclose(read.y, y)
    with pytest.raises(DataError, match="29 columns are neither"):
        read_keypoints(_write_csv(tmp_path / "odd.csv", None, np.ones((3, 29)).tolist()))


def test_csv_files_as_pandas_and_spreadsheets_write_them(tmp_path):
    """pandas' default column names (0, 1, 2, ...) with and without its index column; a comma at the end of every
    row; confidences above 1 where the column count fits one layout only; one clear line for ragged rows or a cell
    that is no number (it used to be dropped as a header)."""
    x, y = _motion(n_frames=6, seed=12)
    coco = _in_skeleton(x, y, "coco17").reshape(6, -1)
    coco[:, 2::3] = 1.2  # a pose tool's scores, not in [0, 1]
    names = [str(k) for k in range(51)]
    index = np.arange(6)[:, None]
    for name, header, rows in (("indexed.csv", ["", *names], np.hstack([index, coco]).tolist()),
                               ("plain.csv", names, coco.tolist())):  # fmt: skip
        read = read_keypoints(_write_csv(tmp_path / name, header, rows))
        assert read.x.shape == (6, 13) and read.skeleton == "coco17"
        np.testing.assert_allclose(read.x, x)
    (tmp_path / "trailing.csv").write_text("\n".join(",".join(map(str, r)) + "," for r in coco.tolist()))
    np.testing.assert_allclose(read_keypoints(tmp_path / "trailing.csv").y, y)
    (tmp_path / "ragged.csv").write_text("1,2,3\n1,2\n")
    with pytest.raises(DataError, match="of the same length; got lengths"):
        read_keypoints(tmp_path / "ragged.csv")
    bad = [["None", *map(str, coco[0, 1:])], *[list(map(str, r)) for r in coco[1:]]]
    with pytest.raises(DataError, match="not a keypoint CSV of numbers .*None"):
        read_keypoints(_write_csv(tmp_path / "none.csv", None, bad))


def test_an_excel_csv_keeps_its_first_frame_and_another_encoding_is_one_line(tmp_path):
    x, y = _motion(n_frames=10, seed=8)
    rows = _in_skeleton(x, y, "coco17").reshape(10, -1).tolist()
    assert read_keypoints(_write_csv(tmp_path / "bom.csv", None, rows, encoding="utf-8-sig")).x.shape == (10, 13)
    (tmp_path / "latin.csv").write_bytes("x_0 caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="latin.csv: not a UTF-8 text file"):
        read_keypoints(tmp_path / "latin.csv")


def test_a_joint_at_the_origin_without_a_confidence_is_missing(tmp_path):
    x, y = _motion(seed=9)
    array = _in_skeleton(x, y, "coco17")[..., :2]
    array[:4, [9, 10]] = 0.0  # the wrists not found, written as (0, 0)
    (tmp_path / "k.json").write_text(json.dumps(array.tolist()))
    keypoints = read_keypoints(tmp_path / "k.json")
    wrists = [JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("right_wrist")]
    assert not keypoints.present[:4, wrists].any() and keypoints.present.sum() == 13 * 30 - 8


def test_files_that_are_no_keypoint_arrays_are_one_line_errors(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="objects.npy: not a keypoint array"):
        read_keypoints(tmp_path / "objects.npy")
    (tmp_path / "nokey.json").write_text(json.dumps({"poses": [[[1, 2]]], "fps": 30}))
    with pytest.raises(DataError, match='needs its array under "keypoints"'):
        read_keypoints(tmp_path / "nokey.json")


def test_align_names_the_recording_whose_features_cannot_be_computed(tmp_path, capsys):
    x, y = _motion(seed=10)
    (tmp_path / "good.json").write_text(json.dumps(_in_skeleton(x, y, "coco17").tolist()))
    one_joint = np.zeros((5, 17, 3))
    one_joint[:, 0] = [100.0, 100.0, 0.9]
    (tmp_path / "one.json").write_text(json.dumps(one_joint.tolist()))
    assert main(["align", str(tmp_path / "good.json"), str(tmp_path / "one.json"), "--out", str(tmp_path / "al")]) == 2
    assert "one.json: no frame with at least 2 annotated joints" in capsys.readouterr().err


def test_normalised_coordinates_are_refused_unless_the_image_size_is_given(tmp_path):
    x, y = _motion(seed=5)
    pixels = _in_skeleton(x, y, "mediapipe33")
    width, height = 1920.0, 1080.0
    normalised = pixels / [width, height, 1.0]
    (tmp_path / "n.json").write_text(json.dumps(normalised.tolist()))
    with pytest.raises(DataError, match=r"the coordinates lie in \[0, 1\]"):
        read_keypoints(tmp_path / "n.json")
    out_of_view = normalised.copy()  # MediaPipe gives landmarks out of view just outside [0, 1]: the feet cut off
    out_of_view[:, [27, 28], 1] = 1.08
    (tmp_path / "feet.json").write_text(json.dumps(out_of_view.tolist()))
    with pytest.raises(DataError, match=r"the coordinates lie in \[0, 1\]"):
        read_keypoints(tmp_path / "feet.json")
    (tmp_path / "sized.json").write_text(json.dumps({"keypoints": normalised.tolist(), "image_size": [width, height]}))
    (tmp_path / "p.json").write_text(json.dumps(pixels.tolist()))
    expected = keypoint_features(read_keypoints(tmp_path / "p.json"))
    np.testing.assert_allclose(keypoint_features(read_keypoints(tmp_path / "sized.json")), expected, rtol=1e-6)


@pytest.mark.parametrize("fps", ["30", -30, 0])
def test_a_frame_rate_that_is_no_positive_number_is_refused(fps, tmp_path):
    x, y = _motion()
    (tmp_path / "k.json").write_text(json.dumps({"keypoints": _in_skeleton(x, y, "coco17").tolist(), "fps": fps}))
    with pytest.raises(DataError, match="fps must be a positive number"):
        read_keypoints(tmp_path / "k.json")


def test_a_depth_channel_is_not_taken_for_a_confidence(tmp_path):
    x, y = _motion()
    array = _in_skeleton(x, y, "mediapipe33")
    array[..., 2] = np.random.default_rng(0).uniform(-0.3, 0.1, size=array.shape[:2])  # MediaPipe's z
    np.save(tmp_path / "k.npy", array)
    with pytest.raises(DataError, match="a depth"):
        read_keypoints(tmp_path / "k.npy")
    array[..., 2] = 0.9
    array[:3, :5, 2] = -1.0  # a "missing" mark, not a depth
    np.save(tmp_path / "k.npy", array)
    assert not read_keypoints(tmp_path / "k.npy").present[:3, 0].any()


def test_convert_checks_every_recording_before_writing_any(tmp_path):
    x, y = _motion()
    clips = tmp_path / "clips"
    clips.mkdir()
    np.save(clips / "a.npy", _in_skeleton(x, y, "coco17"))
    np.save(clips / "b.npy", np.zeros((30, 17, 3)))  # no joint seen
    with pytest.raises(DataError, match="b.npy: no visible joint"):
        convert_keypoints([clips], tmp_path / "out")
    assert not (tmp_path / "out" / "features").exists()


def test_convert_skips_hidden_files_and_names_what_it_refuses(tmp_path):
    """macOS's ``._a.npy`` was converted (and refused as a name starting with '.'); two files of one name were
    "two recordings" without saying which; a name too long for the files written for it broke off halfway."""
    x, y = _motion()
    clips = tmp_path / "clips"
    clips.mkdir()
    np.save(clips / "a.npy", _in_skeleton(x, y, "coco17"))
    (clips / "._a.npy").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    assert FeatureFolder(convert_keypoints([clips], tmp_path / "out")).video_ids() == ["a"]
    (clips / "a.json").write_text(json.dumps(_in_skeleton(x, y, "coco17").tolist()))
    with pytest.raises(InputError, match="a.json and .*a.npy have the same name 'a'|a.npy and .*a.json have"):
        convert_keypoints([clips], tmp_path / "out2")
    long = tmp_path / "long"
    long.mkdir()
    np.save(long / f"{'M' * 240}.npy", _in_skeleton(x, y, "coco17"))
    with pytest.raises(InputError, match="240 bytes long; at most 200"):
        convert_keypoints([long], tmp_path / "out3")
    assert not (tmp_path / "out3").exists()  # refused before anything is written


def test_missing_joints_stay_missing(tmp_path):
    x, y = _motion()
    array = _in_skeleton(x, y, "coco17")
    array[:5, 9, 2] = 0.0  # left wrist not detected in the first frames
    array[7, 10, 0] = np.nan  # right wrist without a coordinate
    np.save(tmp_path / "k.npy", array)
    keypoints = read_keypoints(tmp_path / "k.npy")
    wrist_l, wrist_r = JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("right_wrist")
    assert not keypoints.present[:5, wrist_l].any() and keypoints.present[5:, wrist_l].all()
    assert not keypoints.present[7, wrist_r] and keypoints.present.sum() == 13 * 30 - 6
    features = keypoint_features(keypoints)
    assert (features[:5, [wrist_l, 13 + wrist_l]] == 0).all() and np.isfinite(features).all()


def test_a_frame_without_a_person_takes_the_features_of_the_frame_before(tmp_path):
    x, y = _motion()
    array = _in_skeleton(x, y, "coco17")
    array[[0, 12, 13], :, 2] = 0.0  # nobody found in frames 0, 12 and 13
    np.save(tmp_path / "k.npy", array)
    features = keypoint_features(read_keypoints(tmp_path / "k.npy"))
    found = np.ones(len(x), dtype=bool)
    found[[0, 12, 13]] = False
    present = np.repeat(found[:, None], 13, axis=1)
    expected, _ = pose_features(x, y, present, annotated=present)  # with the body scale of the found frames
    np.testing.assert_allclose(features[found], expected[found], rtol=1e-6)
    np.testing.assert_array_equal(features[[0, 12, 13]], features[[1, 11, 11]])


def test_an_unknown_skeleton_is_refused(tmp_path):
    np.save(tmp_path / "k.npy", np.zeros((4, 11, 2)))
    with pytest.raises(InputError, match="11 joints match no known skeleton"):
        read_keypoints(tmp_path / "k.npy")


def test_a_skeleton_that_does_not_fit_the_joint_count_is_refused(tmp_path):
    """``--skeleton body25`` on a COCO-17 file read BODY_25's joint indices from COCO's order (wrong joints,
    silently); ``mediapipe33`` crashed with an IndexError."""
    np.save(tmp_path / "coco.npy", np.random.default_rng(0).uniform(10, 200, (4, 17, 2)))
    for skeleton, joints in (("body25", 25), ("mediapipe33", 33), ("penn13", 13)):
        with pytest.raises(InputError, match=f"17 joints, but the skeleton {skeleton} has {joints}"):
            read_keypoints(tmp_path / "coco.npy", skeleton=skeleton)
    assert read_keypoints(tmp_path / "coco.npy", skeleton="coco17").skeleton == "coco17"


@pytest.mark.parametrize(
    ("name", "content"),
    [("ragged.json", [[[1, 2], [3]]]), ("text.json", {"keypoints": "abc"}),
     ("frames", {"people": [{"pose_keypoints_2d": [1.0, 2.0]}]})],
)  # fmt: skip
def test_malformed_keypoint_content_is_a_data_error(name, content, tmp_path):
    """Ragged arrays, text and an OpenPose frame whose values are not x, y, c triples raised numpy's errors."""
    path = tmp_path / name
    if name == "frames":
        path.mkdir()
        (path / "clip_000000000000_keypoints.json").write_text(json.dumps(content))
    else:
        path.write_text(json.dumps(content))
    with pytest.raises(DataError, match=str(path)):
        read_keypoints(path)


def test_keypoint_files_align_and_convert_from_the_cli(tmp_path):
    for name, seed in (("a", 0), ("b", 0)):
        x, y = _motion(n_frames=30 if name == "a" else 40, seed=seed)
        array = _in_skeleton(x, y, "mediapipe33")
        (tmp_path / "clips").mkdir(exist_ok=True)
        (tmp_path / "clips" / f"{name}.json").write_text(json.dumps(array.tolist()))
    clips = tmp_path / "clips"
    assert main(["align", str(clips / "a.json"), str(clips / "b.json"), "--out", str(tmp_path / "al")]) == 0
    record = json.loads((tmp_path / "al" / "alignment.json").read_text())
    assert record["a"]["n_frames"] == 30 and record["b"]["n_frames"] == 40 and record["a"]["kind"] == "features"
    assert main(["convert", "keypoints", str(clips), "--out", str(tmp_path / "poses")]) == 0
    folder = FeatureFolder(tmp_path / "poses")
    assert folder.video_ids("all") == ["a", "b"] and read_dataset_info(tmp_path / "poses")["feature_family"] == "pose"
    np.testing.assert_allclose(
        folder.load_split("all")[0].features, keypoint_features(read_keypoints(clips / "a.json"))
    )
    assert convert_keypoints  # the CLI's converter is the module's
