"""``vidalign segment`` / :func:`vidalign.segment`: segments cover every frame once and agree with the
model's own per-frame decision; names, timestamps, k-means, video folders and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidalign import cli, segment
from vidalign.data.layout import FeatureFolder, write_video
from vidalign.errors import InputError
from vidalign.extraction import feature_folder_for
from vidalign.models.model import load_model


def run_cli(*argv) -> int:
    return cli.main([str(arg) for arg in argv])


def frame_labels(segments: list[dict], n_frames: int) -> list[int]:
    """Per-frame labels of a segment list, asserting the segments tile ``0..n_frames-1`` in order, once each."""
    assert segments[0]["start"] == 0 and segments[-1]["end"] == n_frames - 1
    for previous, current in zip(segments, segments[1:], strict=False):
        assert current["start"] == previous["end"] + 1 and current["label"] != previous["label"]
    return [s["label"] for s in segments for _ in range(s["start"], s["end"] + 1)]


def test_segments_cover_every_frame_once_with_the_models_labels(tiny_folder, asot_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli("segment", "--data", tiny_folder, "--model", asot_run, "--out", out, "--quiet") == 0
    written = ["data.js", "index.html", "segments.json", "timelines.png", "viewer.css", "viewer.js"]
    assert sorted(p.name for p in out.iterdir()) == written  # no media/: the folder has no source videos
    result = json.loads((out / "segments.json").read_text())
    folder = FeatureFolder(tiny_folder)
    model, config = load_model(asot_run)
    assert sorted(result["videos"]) == folder.video_ids()
    assert result["names_from"].startswith("ground truth")
    for video_id, segments in result["videos"].items():
        features = folder.load(video_id).features
        assert frame_labels(segments, len(features)) == model.segment(features).tolist()
        assert all(s["name"] is None or s["name"] in folder.class_names for s in segments)
        assert all(0 <= s["label"] < config["loss"]["n_clusters"] and "start_time" not in s for s in segments)
    used = {s["label"] for segments in result["videos"].values() for s in segments}
    assert (result["n_actions"], result["actions_used"]) == (config["loss"]["n_clusters"], len(used))
    printed = capsys.readouterr().out
    assert "segments.json" in printed
    assert f"({len(used)} of {config['loss']['n_clusters']} actions used)" in printed


def test_a_split_and_a_folder_without_labels_named_by_prototype_index(tiny_folder, asot_run, tmp_path):
    result = segment(tiny_folder, asot_run, split="val")
    assert sorted(result.labels) == sorted(FeatureFolder(tiny_folder).video_ids("val"))

    unlabelled = tmp_path / "unlabelled"
    features = np.load(tiny_folder / "features" / "video_000.npy")
    times = [round(0.25 * t, 2) for t in range(len(features))]
    write_video(unlabelled, "clip", features, meta={"frame_timestamps": times})
    result = segment(unlabelled, asot_run)
    _, config = load_model(asot_run)
    assert result.names_from.startswith("the run's class_names by prototype index")
    segments = result.segments("clip")
    frame_labels(segments, len(features))
    with pytest.raises(InputError, match="no video 'clap' was segmented; the videos: clip"):  # was a KeyError
        result.segments("clap")
    for s in segments:
        assert s["name"] == config["class_names"][s["label"]]
        assert (s["start_time"], s["end_time"]) == (times[s["start"]], times[s["end"]])


def test_a_model_without_prototypes_needs_kmeans(tiny_folder, vaot_run, tmp_path, capsys):
    assert run_cli("segment", "--data", tiny_folder, "--model", vaot_run, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert "has no action prototypes" in err and "--kmeans" in err and "\n" not in err
    out = tmp_path / "kmeans"
    assert run_cli("segment", "--data", tiny_folder, "--model", vaot_run, "--kmeans", "3", "--out", out) == 0
    result = json.loads((out / "segments.json").read_text())
    assert result["segmenter"].startswith("k-means (K=3, seed 0)")
    for video_id, segments in result["videos"].items():
        labels = frame_labels(segments, len(np.load(tiny_folder / "features" / f"{video_id}.npy")))
        assert set(labels) <= {0, 1, 2}


def test_raw_features_are_clustered_with_kmeans(tiny_folder, tmp_path, capsys):
    """``--model none`` (as ``vidalign eval`` takes it) used to fail with an AttributeError."""
    from vidalign.labels.kmeans import kmeans_baseline

    assert run_cli("segment", "--data", tiny_folder, "--model", "none", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert "reference representation 'none' has no action prototypes" in err and "\n" not in err
    out = tmp_path / "raw"
    assert run_cli("segment", "--data", tiny_folder, "--model", "none", "--kmeans", "3", "--out", out) == 0
    result = json.loads((out / "segments.json").read_text())
    assert "raw" in result["segmenter"] or "'none'" in result["segmenter"]
    folder = FeatureFolder(tiny_folder)
    ids = folder.video_ids()
    expected = kmeans_baseline([folder.load(v).features for v in ids], 3, seed=0)
    for video_id, labels in zip(ids, expected, strict=True):
        assert frame_labels(result["videos"][video_id], len(labels)) == list(labels)


def test_a_folder_of_videos_is_extracted_first(clips, tmp_path):
    folder = feature_folder_for(clips.a.parent, tmp_path / "out", backbone="pixel", stride=2, progress=False)
    assert folder == tmp_path / "out" / "extracted"
    assert FeatureFolder(folder).video_ids() == ["a", "b"]
    assert len(FeatureFolder(folder).load("a").features) == 10
    assert feature_folder_for(folder, tmp_path / "elsewhere") == folder  # a feature folder is used as it is
    with pytest.raises(InputError, match="neither a feature folder"):
        feature_folder_for(tmp_path / "out", tmp_path / "x")


def test_a_model_for_other_features_is_a_one_line_error(clips, asot_run, tmp_path, capsys):
    argv = ["segment", "--data", clips.a.parent, "--model", asot_run, "--backbone", "pixel", "--out", tmp_path]
    assert run_cli(*argv, "--quiet") == 2
    err = capsys.readouterr().err.strip()
    assert "takes 16-d features but" in err and "240-d" in err and "\n" not in err
    assert "give features of the kind it was trained on" in err  # trained on features of no known backbone


def test_a_feature_folder_of_other_features_is_not_told_to_use_a_backbone(tiny_folder, asot_run, capsys):
    """The hint was '--backbone ...' for a folder of features, which segment does not extract."""
    from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset

    other = write_synthetic_dataset(tiny_folder.parent / "other-dim", SyntheticConfig(n_videos=3, dim=7, seed=1))
    assert run_cli("segment", "--data", other, "--model", asot_run, "--kmeans", "2", "--quiet") == 2
    err = capsys.readouterr().err.strip()
    assert "takes 16-d features but" in err and "give features of the kind it was trained on" in err
    assert "--backbone" not in err
