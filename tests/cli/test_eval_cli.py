"""`vidalign eval`: JSON keys of DESIGN.md, reference representations, protocol guards, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidalign.cli import main
from vidalign.data.layout import write_mapping, write_split, write_video
from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset
from vidalign.evaluate import time_features

ALIGNMENT_KEYS = {"phase_classification", "phase_progression", "kendall_tau", "ap@5", "ap@10", "ap@15"}
SEGMENTATION_KEYS = {"mof", "f1@10", "f1@25", "f1@50", "edit", "miou", "f1_sampled"}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    config = SyntheticConfig(n_videos=10, n_phases=3, dim=8, latent_dim=3, min_frames=30, max_frames=50, seed=2)
    return write_synthetic_dataset(tmp_path_factory.mktemp("cli") / "syn", config)


def test_alignment_json_has_the_design_keys(synthetic, tmp_path, capsys):
    out = tmp_path / "raw.json"
    assert main(["eval", "--data", str(synthetic), "--model", "none", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert ALIGNMENT_KEYS <= set(result)
    assert set(result["phase_classification"]) == {"0.1", "0.5", "1.0"}
    assert -1 <= result["kendall_tau"] <= 1 and result["null_reasons"] == {}
    assert "kendall_tau" in capsys.readouterr().out


def test_time_only_reference_scores_near_perfect_tau(synthetic, tmp_path):
    out = tmp_path / "time.json"
    main(["eval", "--data", str(synthetic), "--model", "time", "--json", str(out)])
    assert json.loads(out.read_text())["kendall_tau"] > 0.95
    np.testing.assert_allclose(time_features(4)[:, 0], [0, 0.25, 0.5, 0.75])


def test_segmentation_json_has_full_and_per_for_every_metric(synthetic, tmp_path):
    out = tmp_path / "seg.json"
    assert (
        main(["eval", "--data", str(synthetic), "--model", "none", "--task", "segmentation", "--json", str(out)]) == 0
    )
    result = json.loads(out.read_text())
    for key in SEGMENTATION_KEYS:
        assert set(result[key]) == {"full", "per"} and 0 <= result[key]["full"] <= 1
    assert "k-means" in result["segmenter"]


def test_overlapping_fit_and_scored_splits_are_refused(synthetic, capsys):
    assert main(["eval", "--data", str(synthetic), "--model", "none", "--train-split", "val"]) == 2
    err = capsys.readouterr().err.strip()
    assert "never see scored videos" in err and len(err.splitlines()) == 1


def test_labels_absent_gives_nulls_with_reasons(tmp_path):
    root = tmp_path / "unlabelled"
    rng = np.random.default_rng(0)
    for i in range(4):
        write_video(root, f"v{i}", rng.standard_normal((20, 3)).astype(np.float32))
    write_split(root, "train", ["v0", "v1"])
    write_split(root, "val", ["v2", "v3"])
    out = tmp_path / "r.json"
    main(["eval", "--data", str(root), "--model", "none", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["kendall_tau"] is not None and result["ap@5"] is None
    assert "labels missing" in result["null_reasons"]["ap@5"]


def test_bad_data_is_one_line_naming_the_file(tmp_path, capsys):
    root = tmp_path / "bad"
    write_video(root, "a", np.zeros((5, 2), dtype=np.float32), labels=["x"] * 5)
    write_mapping(root, ["x"])
    (root / "groundTruth" / "a.txt").write_text("x\ny\nx\nx\nx\n")
    write_split(root, "val", ["a"])
    assert main(["eval", "--data", str(root), "--model", "none", "--task", "segmentation", "--eval-split", "val"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a.txt" in err and "'y'" in err
