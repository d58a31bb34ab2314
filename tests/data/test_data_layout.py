"""Feature-folder reader/writer: round trips, the [D, T] layout, and one clear error per bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from vidalign.data.layout import (
    DatasetError,
    FeatureFolder,
    check_name,
    read_mapping,
    read_matlab,
    refuse_existing_features,
    write_mapping,
    write_planned_videos,
    write_split,
    write_video,
)
from vidalign.errors import DataError, UnfinishedExtractionWarning

CLASSES = ["pour", "stir", "background"]


def make_folder(root: Path, n_videos: int = 3, n_frames: int = 6, dim: int = 4) -> dict[str, np.ndarray]:
    """A valid labelled folder with videos v0..v{n-1}; returns the features written."""
    rng = np.random.default_rng(0)
    written = {}
    for i in range(n_videos):
        features = rng.standard_normal((n_frames + i, dim)).astype(np.float32)
        labels = [CLASSES[t % len(CLASSES)] for t in range(n_frames + i)]
        write_video(root, f"v{i}", features, labels, meta={"fps": 25, "index": i})
        written[f"v{i}"] = features
    write_mapping(root, CLASSES)
    write_split(root, "train", ["v0", "v1"])
    write_split(root, "val", [f"v{n_videos - 1}"])
    return written


def assert_names(error: pytest.ExceptionInfo, path: Path) -> None:
    """A dataset error is one line and names the offending file."""
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message


def test_round_trip(tmp_path):
    written = make_folder(tmp_path)
    folder = FeatureFolder(tmp_path)
    assert folder.video_ids() == ["v0", "v1", "v2"]
    assert folder.splits() == ["train", "val"]
    assert folder.video_ids("train") == ["v0", "v1"]
    assert folder.class_names == CLASSES and folder.mapping_source == "file" and folder.has_labels
    records = folder.load_split()
    for record in records:
        np.testing.assert_array_equal(record.features, written[record.video_id])
        assert record.features.dtype == np.float32 and record.labels.dtype == np.int64
        np.testing.assert_array_equal(record.labels, np.arange(len(record.features)) % len(CLASSES))
    assert records[1].meta == {"fps": 25, "index": 1}
    assert [r.video_id for r in folder.load_split("val")] == ["v2"]
    assert folder.skipped == []


def test_unlabelled_folder_and_empty_split(tmp_path):
    write_video(tmp_path, "a", np.zeros((3, 2)))
    write_split(tmp_path, "test", [])
    folder = FeatureFolder(tmp_path)
    assert not folder.has_labels and folder.class_names is None and folder.mapping_source is None
    record = folder.load("a")
    assert record.labels is None and record.meta == {} and record.features.dtype == np.float32
    assert folder.video_ids("test") == [] and folder.load_split("test") == []


def test_dt_layout_read_only_when_asked(tmp_path):
    features_td = np.arange(20, dtype=np.float32).reshape(5, 4)
    (tmp_path / "features").mkdir()
    np.save(tmp_path / "features" / "ms.npy", features_td.T)  # MS-TCN stores [D, T]
    (tmp_path / "groundTruth").mkdir()
    (tmp_path / "groundTruth" / "ms.txt").write_text("a\n" * 5)

    record = FeatureFolder(tmp_path, layout="dt").load("ms")
    np.testing.assert_array_equal(record.features, features_td)
    with pytest.raises(DatasetError, match="5 labels but features/ms.npy has 4 frames") as error:
        FeatureFolder(tmp_path).load("ms")
    assert_names(error, tmp_path / "groundTruth" / "ms.txt")
    with pytest.raises(ValueError, match="layout"):
        FeatureFolder(tmp_path, layout="auto")


def test_a_folder_records_its_layout_so_train_eval_and_align_read_it(tmp_path):
    """MS-TCN / ASOT features stored [D, T]: ``"layout": "dt"`` in ``dataset.json`` is read by every command
    (``train`` and ``eval`` have no ``--layout``); an explicit layout still wins; an unknown one is refused."""
    from vidalign.api import evaluate, load_features, train

    rng = np.random.default_rng(1)
    written = {}
    for i in range(6):
        features = rng.standard_normal((12 + i, 5)).astype(np.float32)
        write_video(tmp_path, f"v{i}", features, [CLASSES[t * 3 // (12 + i)] for t in range(12 + i)])
        np.save(tmp_path / "features" / f"v{i}.npy", features.T)  # as MS-TCN stores them
        written[f"v{i}"] = features
    write_split(tmp_path, "train", ["v0", "v1", "v2", "v3"])
    write_split(tmp_path, "val", ["v4", "v5"])
    (tmp_path / "dataset.json").write_text(json.dumps({"feature_family": "synthetic", "layout": "dt"}))

    folder = FeatureFolder(tmp_path)
    assert folder.layout == "dt"
    np.testing.assert_array_equal(folder.load("v2").features, written["v2"])
    np.testing.assert_array_equal(load_features(tmp_path / "features" / "v2.npy"), written["v2"])
    with pytest.raises(DatasetError, match="frames"):
        FeatureFolder(tmp_path, layout="td").load("v2")
    run = train(tmp_path, "vaot", tmp_path / "run", epochs=0)
    as_dt = evaluate(tmp_path, run.path).result
    for video_id, features in written.items():  # the same folder stored [T, D]
        np.save(tmp_path / "features" / f"{video_id}.npy", features)
    (tmp_path / "dataset.json").write_text(json.dumps({"feature_family": "synthetic"}))
    as_td = evaluate(tmp_path, run.path).result
    for key in ("kendall_tau", "phase_classification", "ap@5"):
        assert as_dt[key] == as_td[key] and as_dt[key] is not None, key
    (tmp_path / "dataset.json").write_text(json.dumps({"layout": "DT"}))
    with pytest.raises(DatasetError, match="unknown layout 'DT'"):
        FeatureFolder(tmp_path)


def test_derived_mapping_and_extensionless_labels(tmp_path):
    write_video(tmp_path, "a", np.zeros((3, 2)), ["stir", "pour", "stir"])
    write_video(tmp_path, "b", np.ones((2, 2)))
    (tmp_path / "groundTruth" / "b").write_text("cut\r\nstir\r\n\r\n")  # CRLF, trailing blank line
    folder = FeatureFolder(tmp_path)
    assert folder.mapping_source == "derived"
    assert folder.class_names == ["cut", "pour", "stir"]
    np.testing.assert_array_equal(folder.load("a").labels, [2, 1, 2])
    np.testing.assert_array_equal(folder.load("b").labels, [0, 2])


def test_ms_tcn_split_entries_with_extension(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "splits" / "bundle.txt").write_text("v1.txt\nv0.npy\n\n")
    assert FeatureFolder(tmp_path).video_ids("bundle") == ["v1", "v0"]


def test_read_mapping_accepts_any_line_order_and_spaces(tmp_path):
    path = tmp_path / "mapping.txt"
    path.write_text("1 take cup\n\n0 SIL\n")
    assert read_mapping(path) == ["SIL", "take cup"]


def _corrupt_npy(root: Path, array: np.ndarray) -> Path:
    path = root / "features" / "v1.npy"
    np.save(path, array)
    return path


BAD_FEATURES = {
    "nan": (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN/inf"),
    "inf": (np.array([[0.0, 1.0], [np.inf, 2.0]], dtype=np.float32), "NaN/inf"),
    "float32 overflow": (np.array([[1e300, 0.0], [0.0, 0.0]]), "NaN/inf"),
    "empty": (np.zeros((0, 4), dtype=np.float32), "0 frame"),
    "one frame": (np.zeros((1, 4), dtype=np.float32), "1 frame"),
    "zero dim": (np.zeros((5, 0), dtype=np.float32), "dimension is 0"),
    "1-D": (np.zeros(6, dtype=np.float32), "2-D"),
    "3-D": (np.zeros((2, 3, 4), dtype=np.float32), "2-D"),
    "integer": (np.zeros((6, 4), dtype=np.int64), "floating"),
    "complex": (np.zeros((6, 4), dtype=np.complex64), "floating"),
}


@pytest.mark.parametrize("case", sorted(BAD_FEATURES))
def test_bad_features_name_the_file(tmp_path, case):
    make_folder(tmp_path)
    array, message = BAD_FEATURES[case]
    path = _corrupt_npy(tmp_path, array)
    with pytest.raises(DatasetError, match=message) as error:
        FeatureFolder(tmp_path).load("v1")
    assert_names(error, path)


@pytest.mark.parametrize("content", [b"not a numpy file", b"\x93NUMPY\x01\x00garbage", b""])
def test_unreadable_npy_names_the_file(tmp_path, content):
    make_folder(tmp_path)
    path = tmp_path / "features" / "v1.npy"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match="cannot read") as error:
        FeatureFolder(tmp_path).load("v1")
    assert_names(error, path)


def test_pickled_object_array_is_refused(tmp_path):
    make_folder(tmp_path)
    path = tmp_path / "features" / "v1.npy"
    np.save(path, np.array([[None, 1]], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="cannot read") as error:
        FeatureFolder(tmp_path).load("v1")
    assert_names(error, path)


def test_missing_features_directory(tmp_path):
    (tmp_path / "groundTruth").mkdir()
    with pytest.raises(DatasetError, match="missing features/") as error:
        FeatureFolder(tmp_path)
    assert_names(error, tmp_path)


def test_label_count_differs_from_frames(tmp_path):
    make_folder(tmp_path)
    path = tmp_path / "groundTruth" / "v1.txt"
    path.write_text("pour\n" * 3)
    with pytest.raises(DatasetError, match="3 labels but features/v1.npy has 7 frames") as error:
        FeatureFolder(tmp_path).load("v1")
    assert_names(error, path)


def test_label_absent_from_mapping(tmp_path):
    make_folder(tmp_path)
    path = tmp_path / "groundTruth" / "v0.txt"
    path.write_text("pour\n" * 5 + "whisk\n")
    with pytest.raises(DatasetError, match="line 6: label 'whisk' is not in mapping/mapping.txt") as error:
        FeatureFolder(tmp_path).load("v0")
    assert_names(error, path)


def test_blank_label_line_inside_file(tmp_path):
    make_folder(tmp_path)
    path = tmp_path / "groundTruth" / "v0.txt"
    path.write_text("pour\n\n" + "pour\n" * 4)
    with pytest.raises(DatasetError, match="line 2: empty label") as error:
        FeatureFolder(tmp_path).load("v0")
    assert_names(error, path)


def test_missing_label_file_when_folder_has_labels(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "groundTruth" / "v2.txt").unlink()
    with pytest.raises(DatasetError, match="missing groundTruth") as error:
        FeatureFolder(tmp_path).load("v2")
    assert_names(error, tmp_path / "groundTruth" / "v2.txt")


def test_ambiguous_label_files(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "groundTruth" / "v0").write_text("pour\n" * 6)
    with pytest.raises(DatasetError, match="ambiguous") as error:
        FeatureFolder(tmp_path).load("v0")
    assert_names(error, tmp_path / "groundTruth")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 a\n2 b\n", r"exactly 0\.\.1"),
        ("1 a\n2 b\n", r"exactly 0\.\.1"),
        ("0 a\n0 b\n", "duplicate class id"),
        ("0 a\n1 a\n", "duplicate class name"),
        ("zero a\n", "expected '<int id> <name>'"),
        ("0\n", "expected '<int id> <name>'"),
        ("\n\n", "no classes"),
    ],
)
def test_bad_mapping(tmp_path, text, message):
    make_folder(tmp_path)
    path = tmp_path / "mapping" / "mapping.txt"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message) as error:
        FeatureFolder(tmp_path)
    assert_names(error, path)


def test_split_naming_unknown_or_repeated_video(tmp_path):
    make_folder(tmp_path)
    path = tmp_path / "splits" / "val.txt"
    path.write_text("v0\nghost\n")
    with pytest.raises(DatasetError, match="line 2: unknown video 'ghost'") as error:
        FeatureFolder(tmp_path).video_ids("val")
    assert_names(error, path)
    path.write_text("v0\nv1\nv0\n")
    with pytest.raises(DatasetError, match="line 3: duplicate video 'v0'"):
        FeatureFolder(tmp_path).load_split("val")


def test_missing_split_lists_available(tmp_path):
    make_folder(tmp_path)
    with pytest.raises(DatasetError, match=r"split 'test' not found \(available: train, val; 'all': every") as error:
        FeatureFolder(tmp_path).video_ids("test")
    assert_names(error, tmp_path / "splits" / "test.txt")
    with pytest.raises(ValueError, match="path separator"):
        FeatureFolder(tmp_path).video_ids("../train")


def test_a_folder_of_videos_is_not_a_feature_folder_and_says_what_to_do(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match="missing features/ directory \\(it holds videos: extract their features"):
        FeatureFolder(tmp_path)
    (tmp_path / "clips" / "a.mp4").unlink()
    with pytest.raises(DatasetError, match="missing features/ directory$"):
        FeatureFolder(tmp_path)


def test_split_all_is_every_video_unless_the_folder_defines_it(tmp_path):
    make_folder(tmp_path)
    folder = FeatureFolder(tmp_path)
    assert folder.video_ids("all") == folder.video_ids() and len(folder.video_ids()) > 1
    (tmp_path / "splits" / "all.txt").write_text(folder.video_ids()[0] + "\n")
    assert FeatureFolder(tmp_path).video_ids("all") == folder.video_ids()[:1]


@pytest.mark.parametrize(("text", "message"), [("{not json", "invalid JSON"), ("[1, 2]", "JSON object")])
def test_bad_meta(tmp_path, text, message):
    make_folder(tmp_path)
    path = tmp_path / "meta" / "v0.json"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message) as error:
        FeatureFolder(tmp_path).load("v0")
    assert_names(error, path)


def test_feature_dimension_mismatch_in_split(tmp_path):
    make_folder(tmp_path)
    write_video(tmp_path, "v1", np.zeros((7, 9)), ["pour"] * 7)
    with pytest.raises(DatasetError, match="feature dimension 9 differs from 4") as error:
        FeatureFolder(tmp_path).load_split()
    assert_names(error, tmp_path / "features" / "v1.npy")


def test_unknown_video_id(tmp_path):
    make_folder(tmp_path)
    with pytest.raises(DatasetError, match="unknown video 'v9'"):
        FeatureFolder(tmp_path).load("v9")


def test_lenient_mode_skips_and_lists_bad_videos(tmp_path):
    make_folder(tmp_path, n_videos=5)
    np.save(tmp_path / "features" / "v1.npy", np.full((7, 4), np.nan, dtype=np.float32))
    (tmp_path / "groundTruth" / "v3.txt").write_text("pour\n")
    (tmp_path / "splits" / "val.txt").write_text("v4\nghost\nv1\n")

    folder = FeatureFolder(tmp_path, strict=False)
    assert [r.video_id for r in folder.load_split()] == ["v0", "v2", "v4"]
    assert [video_id for video_id, _ in folder.skipped] == ["v1", "v3"]
    assert "v1.npy" in folder.skipped[0][1] and "NaN" in folder.skipped[0][1]
    assert "v3.txt" in folder.skipped[1][1]

    assert [r.video_id for r in folder.load_split("val")] == ["v4"]
    assert [video_id for video_id, _ in folder.skipped] == ["v1", "v3", "ghost"]
    folder.load_split("val")  # a second pass records nothing twice
    assert len(folder.skipped) == 3
    with pytest.raises(DatasetError):  # load() of a bad video raises in lenient mode too
        folder.load("v1")


def test_hidden_and_temporary_files_are_ignored(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "features" / ".v9.npy").write_bytes(b"partial")
    (tmp_path / "features" / ".v0.npy.tmp-1a2b3c4d").write_bytes(b"partial")
    assert FeatureFolder(tmp_path).video_ids() == ["v0", "v1", "v2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": np.full((3, 2), np.nan)}, "NaN/inf"),
        ({"features": np.zeros((1, 2))}, "1 frame"),
        ({"features": np.zeros((3, 2), dtype=int)}, "floating"),
        ({"labels": ["a", "b"]}, "2 labels for 3 frames"),
        ({"labels": ["a", "b c", " c"]}, "whitespace"),
        ({"labels": ["a", "b", "c\nd"]}, "line break"),
        ({"labels": ["a", "", "b"]}, "non-empty"),
        ({"video_id": "../escape"}, "path separator"),
        ({"video_id": ".hidden"}, "must not start with '.'"),
        ({"meta": [1, 2]}, "meta must be a dict"),
    ],
)
def test_writer_refuses_what_the_reader_rejects(tmp_path, kwargs, message):
    arguments = {"video_id": "v", "features": np.zeros((3, 2)), "labels": None, "meta": None} | kwargs
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path, **arguments)
    assert not (tmp_path / "features").exists()


def test_writer_mapping_and_split_validation(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        write_mapping(tmp_path, ["a", "b", "a"])
    with pytest.raises(ValueError, match="empty"):
        write_mapping(tmp_path, [])
    with pytest.raises(ValueError, match="duplicate"):
        write_split(tmp_path, "train", ["a", "a"])
    with pytest.raises(ValueError, match="path separator"):
        write_split(tmp_path, "a/b", ["a"])
    assert list(tmp_path.iterdir()) == []


def test_writer_file_formats(tmp_path):
    write_video(tmp_path, "v", np.zeros((2, 3), dtype=np.float64), ["a", "b"], {"fps": 30.0})
    write_mapping(tmp_path, ["a", "b"])
    write_split(tmp_path, "train", ["v"])
    saved = np.load(tmp_path / "features" / "v.npy")
    assert saved.dtype == np.float32 and saved.shape == (2, 3)
    assert (tmp_path / "groundTruth" / "v.txt").read_text() == "a\nb\n"
    assert (tmp_path / "mapping" / "mapping.txt").read_text() == "0 a\n1 b\n"
    assert (tmp_path / "splits" / "train.txt").read_text() == "v\n"
    assert json.loads((tmp_path / "meta" / "v.json").read_text()) == {"fps": 30.0}


def test_refuse_existing_features(tmp_path):
    refuse_existing_features(tmp_path / "new")
    make_folder(tmp_path)
    with pytest.raises(FileExistsError, match="already holds"):
        refuse_existing_features(tmp_path)


def test_videos_an_extraction_was_given_but_lacks_are_named(tmp_path):
    """A stopped `vidalign extract` left a folder that read as complete: `--split all` trained on part of it, and
    a split naming a missing video said only "unknown video"."""
    write_video(tmp_path, "v0", np.ones((4, 3), np.float32))
    write_planned_videos(tmp_path, ["v0", "v1"])
    write_split(tmp_path, "train", ["v0", "v1"])
    with pytest.warns(UnfinishedExtractionWarning, match="1 of the 2 videos .* no features .v1."):
        folder = FeatureFolder(tmp_path)
    assert folder.video_ids() == ["v0"] and folder.unextracted == ["v1"]
    with pytest.raises(DatasetError, match="line 2: video 'v1' not extracted yet .no features/v1.npy; run `vidalign"):
        folder.load_split("train")
    write_video(tmp_path, "v1", np.ones((4, 3), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert FeatureFolder(tmp_path).unextracted == []


def test_a_short_mat_file_is_a_dataset_error_on_older_scipy(tmp_path, monkeypatch):
    """scipy < 1.15 (the floor is 1.10) raises IndexError on a file too short to be a .mat: was a traceback."""
    import scipy.io

    def short_file(*args, **kwargs):
        raise IndexError("index 0 is out of bounds for axis 0 with size 0")

    monkeypatch.setattr(scipy.io, "loadmat", short_file)
    with pytest.raises(DatasetError, match="cannot read .mat"):
        read_matlab(tmp_path / "short.mat")


def test_a_split_names_a_video_in_the_other_unicode_form(tmp_path):
    """A file name from macOS is decomposed (U + combining diaeresis); a split typed by hand is composed."""
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Übung 1")
    write_video(tmp_path, decomposed, np.ones((4, 3), np.float32))
    write_split(tmp_path, "mine", [unicodedata.normalize("NFC", "Übung 1")])
    assert [r.video_id for r in FeatureFolder(tmp_path).load_split("mine")] == [decomposed]


def test_a_video_id_too_long_for_its_files_is_refused():
    check_name("video id", "M" * 200, file_name=True)
    with pytest.raises(DataError, match="201 bytes long; at most 200"):
        check_name("video id", "M" * 201, file_name=True)
    with pytest.raises(DataError, match="bytes long"):
        check_name("video id", "日" * 70, file_name=True)  # 210 bytes in UTF-8
