"""mocap6 conversion: real file against its truelabels/*.txt, and malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from vidalign.data.layout import DatasetError, FeatureFolder
from vidalign.data.mocap6 import convert_mocap6

ACTIONS = ["Walk", "Jump", "Spin"]


def write_mocap_mat(path: Path, sequences: list[tuple[str, np.ndarray, np.ndarray]], **override) -> Path:
    """A .mat shaped like mocap6.mat: a struct array DataBySeq plus cell arrays of names."""
    data = np.zeros((len(sequences), 1), dtype=[("X", "O"), ("TrueZ", "O"), ("filename", "O")])
    for i, (filename, features, labels) in enumerate(sequences):
        data[i, 0] = (features, labels.reshape(-1, 1).astype(np.uint8), filename)
    fields = {
        "DataBySeq": data,
        "ActionNames": np.array(ACTIONS, dtype=object).reshape(1, -1),
        "ChannelNames": np.array(["a", "b"], dtype=object).reshape(1, -1),
    } | override
    scipy.io.savemat(path, fields)
    return path


def sequence(filename: str, labels: list[int], seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    features = np.random.default_rng(seed).standard_normal((len(labels), 2))
    return filename, features, np.array(labels)


def test_real_mocap6_matches_truelabels(tmp_path, shared_data):
    source = shared_data / "mocap6"
    root = convert_mocap6(source / "mocap6.mat", tmp_path / "mocap6")
    folder = FeatureFolder(root)
    mat = scipy.io.loadmat(source / "mocap6.mat")
    action_names = [str(cell[0]) for cell in mat["ActionNames"].ravel()]
    assert folder.class_names == action_names and len(action_names) == 12
    ids = ["13_29", "13_30", "13_31", "14_06", "14_14", "14_20"]
    assert folder.video_ids("all") == ids and folder.video_ids("train") == ids
    for entry in mat["DataBySeq"].ravel():
        video_id = str(entry["filename"].ravel()[0].ravel()[0])
        record = folder.load(video_id)
        np.testing.assert_array_equal(record.features, entry["X"].astype(np.float32))
        truelabels = np.loadtxt(source / "truelabels" / f"{video_id}.txt", dtype=np.int64)
        # truelabels/*.txt carry one extra leading label (consumed by Xprev): TrueZ == truelabels[1:]
        assert len(truelabels) == len(record.features) + 1
        np.testing.assert_array_equal(record.labels, truelabels[1:] - 1)
        gt_names = (root / "groundTruth" / f"{video_id}.txt").read_text().split()
        assert gt_names == [action_names[z - 1] for z in truelabels[1:]]
        assert record.meta["fps"] == 10.0 and len(record.meta["channels"]) == 12
    assert "ASOT" in (root / "README.md").read_text()


def test_synthetic_mat_round_trip(tmp_path):
    mat = write_mocap_mat(tmp_path / "m.mat", [sequence("01_01", [1, 1, 3, 3, 2]), sequence("01_02", [2, 2, 1])])
    folder = FeatureFolder(convert_mocap6(mat, tmp_path / "out"))
    assert folder.class_names == ACTIONS
    np.testing.assert_array_equal(folder.load("01_01").labels, [0, 0, 2, 2, 1])
    assert folder.load("01_02").meta["subject"] == "01"


@pytest.mark.parametrize(
    ("sequences", "override", "message"),
    [
        ([sequence("01_01", [1, 4, 2])], {}, r"TrueZ must be integers in 1\.\.3"),
        ([sequence("01_01", [0, 1, 2])], {}, r"TrueZ must be integers in 1\.\.3"),
        ([sequence("01_01", [1, 2]), sequence("01_01", [1, 2])], {}, "duplicate sequence filenames"),
        ([sequence("../x", [1, 2])], {}, "not a plain name"),
        ([sequence("01_01", [1])], {}, ">= 2 frames"),
        ([sequence("01_01", [1, 2])], {"ActionNames": np.array(["A", "A"], dtype=object)}, "distinct"),
    ],
)
def test_malformed_mat_names_the_file(tmp_path, sequences, override, message):
    mat = write_mocap_mat(tmp_path / "m.mat", sequences, **override)
    with pytest.raises(DatasetError, match=message) as error:
        convert_mocap6(mat, tmp_path / "out")
    assert str(mat) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_missing_fields_and_unreadable_file(tmp_path):
    mat = tmp_path / "m.mat"
    scipy.io.savemat(mat, {"DataBySeq": np.zeros(1)})
    with pytest.raises(DatasetError, match="missing field.*ActionNames"):
        convert_mocap6(mat, tmp_path / "out")
    mat.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="cannot read"):
        convert_mocap6(mat, tmp_path / "out")
