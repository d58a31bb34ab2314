"""`vidalign eval`: the documented JSON keys, reference representations, protocol guards, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidalign.cli import main
from vidalign.data.layout import FeatureFolder, write_mapping, write_split, write_video
from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset
from vidalign.representation import time_features

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
    captured = capsys.readouterr()
    assert "kendall_tau" in captured.out
    assert all(bar in captured.err for bar in ("Kendall's tau", "AP@K", "phase classification"))  # its long loops


def test_time_only_reference_scores_near_perfect_tau(synthetic, tmp_path):
    out = tmp_path / "time.json"
    main(["eval", "--data", str(synthetic), "--model", "time", "--json", str(out)])
    assert json.loads(out.read_text())["kendall_tau"] > 0.95
    np.testing.assert_allclose(time_features(4)[:, 0], [0, 0.25, 0.5, 0.75])


def test_standardized_reference_is_scored(synthetic, tmp_path):
    out = tmp_path / "standardized.json"
    assert main(["eval", "--data", str(synthetic), "--model", "standardized", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["model"] == "standardized"


def test_segmentation_json_has_full_and_per_for_every_metric(synthetic, tmp_path):
    out = tmp_path / "seg.json"
    assert (
        main(["eval", "--data", str(synthetic), "--model", "none", "--task", "segmentation", "--json", str(out)]) == 0
    )
    result = json.loads(out.read_text())
    for key in SEGMENTATION_KEYS:
        assert set(result[key]) == {"full", "per"} and 0 <= result[key]["full"] <= 1
    assert "k-means" in result["segmenter"] and result["seed"] == 0  # the restarts' seed moves the score


def test_the_segmentation_table_names_the_background_it_left_out(synthetic, capsys):
    background = FeatureFolder(synthetic).class_names[0]
    argv = ["eval", "--data", str(synthetic), "--model", "none", "--task", "segmentation"]
    assert main([*argv, "--background", background]) == 0
    assert f"background: {background!r} frames left out of the matching and the scores" in capsys.readouterr().out
    assert main([*argv, "--background", "none"]) == 0
    assert "background:" not in capsys.readouterr().out


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
    reason = result["null_reasons"]["phase_classification"]  # named the role as a split: "2 train videos"
    assert reason == "labels missing for 2 of the 2 fitted-on videos"


def test_bad_data_is_one_line_naming_the_file(tmp_path, capsys):
    root = tmp_path / "bad"
    write_video(root, "a", np.zeros((5, 2), dtype=np.float32), labels=["x"] * 5)
    write_mapping(root, ["x"])
    (root / "groundTruth" / "a.txt").write_text("x\ny\nx\nx\nx\n")
    write_split(root, "val", ["a"])
    assert main(["eval", "--data", str(root), "--model", "none", "--task", "segmentation", "--eval-split", "val"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a.txt" in err and "'y'" in err


def test_protocol_tcc_end_to_end_equals_a_direct_fit(synthetic, tmp_path, capsys):
    from sklearn.svm import SVC

    from vidalign.data.layout import FeatureFolder
    from vidalign.evaluation.alignment import kendall_tau

    out = tmp_path / "tcc.json"
    assert main(["eval", "--data", str(synthetic), "--model", "none", "--protocol", "tcc", "--json", str(out)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.endswith("| protocol tcc")
    result = json.loads(out.read_text())
    protocol = result["protocol"]
    assert (protocol["name"], protocol["classifier"], protocol["stride"]) == ("tcc", "svm_rbf_ovo", 5)
    assert result["fit_on_scored"] is False and "warning" not in result
    folder = FeatureFolder(synthetic)
    train, val = folder.load_split("train"), folder.load_split("val")
    val_x, val_y = np.concatenate([r.features for r in val]), np.concatenate([r.labels for r in val])
    for key, fraction in (("0.1", 0.1), ("0.5", 0.5), ("1.0", 1.0)):
        used = train[: max(1, int(fraction * len(train)))]
        model = SVC(decision_function_shape="ovo").fit(
            np.concatenate([r.features for r in used]), np.concatenate([r.labels for r in used])
        )
        assert result["phase_classification"][key] == pytest.approx(np.mean(model.predict(val_x) == val_y))
    assert result["kendall_tau"] == pytest.approx(kendall_tau([r.features for r in val], stride=5)["value"])


def test_vaot_protocol_needs_fit_on_scored_and_then_warns(synthetic, tmp_path, capsys):
    argv = ["eval", "--data", str(synthetic), "--model", "none", "--protocol", "vaot"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--fit-on-scored" in err
    out = tmp_path / "vaot.json"
    assert main([*argv, "--fit-on-scored", "--json", str(out), "--quiet"]) == 0  # --quiet: no progress bars
    captured = capsys.readouterr()
    assert captured.err.startswith("vidalign eval: warning:") and len(captured.err.strip().splitlines()) == 1
    assert "protocol vaot" in captured.out.splitlines()[0] and "WARNING" in captured.out
    result = json.loads(out.read_text())
    assert result["fit_on_scored"] is True and "not held-out" in result["warning"]
    assert result["protocol"]["stride"] == 4 and result["protocol"]["ap_average"] == "frame"
    assert (result["train_split"], result["fit_split"]) == (None, "val")


def test_fit_on_scored_is_refused_for_protocols_fitting_on_train(synthetic, capsys):
    assert main(["eval", "--data", str(synthetic), "--model", "none", "--protocol", "tcc", "--fit-on-scored"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fits on the train split" in err


def test_stride_and_classifier_override_the_protocol(synthetic, tmp_path):
    out = tmp_path / "carl.json"
    argv = ["eval", "--data", str(synthetic), "--model", "none", "--protocol", "carl", "--stride", "5"]
    assert main([*argv, "--classifier", "svm_linear", "--json", str(out)]) == 0
    protocol = json.loads(out.read_text())["protocol"]
    assert (protocol["stride"], protocol["ap_stride"], protocol["classifier"]) == (5, 5, "svm_linear")
    assert protocol["overrides"] == {
        "kendall_stride": {"protocol": 2, "used": 5},
        "classifier": {"protocol": "logreg", "used": "svm_linear"},
    }


def test_every_registered_protocol_is_a_cli_choice():
    from vidalign.cli import build_parser
    from vidalign.evaluation.protocols import PROTOCOLS

    parser = build_parser()
    for name in PROTOCOLS:
        assert parser.parse_args(["eval", "--data", "d", "--model", "none", "--protocol", name]).protocol == name
    default = parser.parse_args(["eval", "--data", "d", "--model", "none"])
    assert (default.protocol, default.stride, default.classifier, default.fit_on_scored) == ("ours", None, None, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "--data", "d", "--model", "none", "--protocol", "nope"])


def test_options_of_the_other_task_are_refused(synthetic, capsys):
    """``--background`` meant nothing to the alignment task, ``--stride`` and ``--classifier`` nothing to the
    segmentation task; each was accepted and ignored."""
    base = ["eval", "--data", str(synthetic), "--model", "none"]
    for extra, expected in (
        (["--background", "nosuch"], "--background applies to the segmentation task only"),
        (["--task", "segmentation", "--stride", "0"], "apply to the alignment task only"),
        (["--task", "segmentation", "--classifier", "logreg"], "apply to the alignment task only"),
    ):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1


def test_a_folder_without_a_fit_split_is_scored_by_what_fits_nothing(tmp_path, capsys):
    """An extracted folder holds one split, ``all``: every fit split overlapped it, and the only way out was a
    protocol that fits on the scored videos, with a warning about classifiers that were never fitted."""
    root = tmp_path / "extracted"
    rng = np.random.default_rng(1)
    for i in range(3):
        write_video(root, f"v{i}", rng.standard_normal((25, 4)).astype(np.float32))
    write_split(root, "all", ["v0", "v1", "v2"])
    out = tmp_path / "r.json"
    argv = ["eval", "--data", str(root), "--model", "none", "--eval-split", "all", "--json", str(out)]
    assert main([*argv, "--train-split", "none"]) == 0
    result = json.loads(out.read_text())
    assert result["kendall_tau"] is not None and (result["train_split"], result["fit_split"]) == (None, None)
    assert (
        result["phase_classification"] is None
        and "no fitted-on video" in result["null_reasons"]["phase_classification"]
    )
    assert "warning" not in result
