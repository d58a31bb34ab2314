"""Named alignment protocols (vidalign.evaluation.protocols): direct scikit-learn fits, the floor rule, frame- vs
video-averaged AP@K, the fit-on-scored guard, and what the JSON records."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset
from vidalign.evaluation.alignment import (
    ap_at_k,
    evaluate_alignment,
    kendall_tau,
    phase_progression,
)
from vidalign.evaluation.folder import evaluate_folder
from vidalign.evaluation.protocols import (
    PROTOCOLS,
    FitOnScoredWarning,
    get_protocol,
    label_fraction_count,
)

NAMES = ("tcc", "carl", "lav", "vaot", "lac", "ours")
CHOICES = {"classifier", "fractions", "fraction_rule", "fit_split", "kendall_stride", "ap", "progression"}
MEANS = np.random.default_rng(321).normal(size=(3, 4)) * 1.5


def _videos(rng: np.random.Generator, n: int, noise: float = 1.3):
    """Videos of 3 ordered phases of random lengths: noisy phase centres plus a progress ramp."""
    embeddings, labels = [], []
    for _ in range(n):
        lab = np.repeat(np.arange(3), rng.integers(6, 14, size=3))
        progress = np.arange(lab.size)[:, None] / lab.size
        embeddings.append(MEANS[lab] + progress + noise * rng.normal(size=(lab.size, MEANS.shape[1])))
        labels.append(lab)
    return embeddings, labels


def _pairs(embeddings, labels):
    return list(zip(embeddings, labels, strict=True))


def _reference_model(name: str):
    """The model each paper's evaluation script builds, written out directly."""
    if name in ("tcc", "lav", "vaot"):
        return SVC(decision_function_shape="ovo")
    if name in ("carl", "lac"):
        return LogisticRegression(max_iter=100000, solver="lbfgs")
    return SVC(kernel="linear")


def _direct_accuracy(model, fit_emb, fit_lab, n_used, val_emb, val_lab) -> float:
    model.fit(np.concatenate(fit_emb[:n_used]), np.concatenate(fit_lab[:n_used]))
    return float(np.mean(model.predict(np.concatenate(val_emb)) == np.concatenate(val_lab)))


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(3)
    train = _videos(rng, 19, noise=1.8)
    val = _videos(rng, 5, noise=1.8)
    return train, val


def test_registry_names_and_one_line_error_for_unknown_names():
    assert set(PROTOCOLS) == set(NAMES)
    assert get_protocol(PROTOCOLS["vaot"]) is PROTOCOLS["vaot"]
    with pytest.raises(ValueError) as info:
        get_protocol("tcc2")
    message = str(info.value)
    assert "\n" not in message and all(name in message for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_protocols_are_frozen_and_name_a_source_for_every_choice(name):
    protocol = PROTOCOLS[name]
    with pytest.raises(dataclasses.FrozenInstanceError):
        protocol.kendall_stride = 1
    with pytest.raises(TypeError):
        protocol.sources["classifier"] = "elsewhere"
    assert CHOICES <= set(protocol.sources) and all(protocol.sources[c] for c in CHOICES)
    record = json.loads(json.dumps(protocol.to_dict(), allow_nan=False))
    assert record["name"] == name and record["sources"] == dict(protocol.sources)


@pytest.mark.parametrize(
    ("name", "classifier", "kendall", "ap_stride", "average", "fit_on_scored"),
    [
        ("tcc", "svm_rbf_ovo", 5, 5, "video", False),
        ("carl", "logreg", 2, 2, "video", False),
        ("lac", "logreg", 5, 5, "video", False),
        ("lav", "svm_rbf_ovo", 5, 1, "video", True),
        ("vaot", "svm_rbf_ovo", 4, 1, "frame", True),
        ("ours", "svm_linear", 5, 1, "video", False),
    ],
)
def test_protocol_values(name, classifier, kendall, ap_stride, average, fit_on_scored):
    protocol = PROTOCOLS[name]
    assert (protocol.classifier, protocol.kendall_stride, protocol.effective_ap_stride) == (
        classifier,
        kendall,
        ap_stride,
    )
    assert (protocol.ap_average, protocol.fit_on_scored, protocol.C) == (average, fit_on_scored, 1.0)
    assert protocol.fractions == (0.1, 0.5, 1.0) and protocol.fraction_rule == "floor"
    assert (protocol.ap_candidates == "other_videos") == (name != "lav")


def test_floor_rule_equals_the_official_int_rule():
    assert label_fraction_count(0.1, 19) == 1
    assert label_fraction_count(0.5, 5) == 2
    assert label_fraction_count(0.5, 19) == 9
    for n in range(1, 500):
        for fraction in (0.1, 0.5, 1.0):
            assert label_fraction_count(fraction, n) == max(1, int(fraction * n)), (fraction, n)


@pytest.mark.parametrize("name", NAMES)
def test_each_protocol_classifier_equals_a_direct_sklearn_fit(name, split):
    (train_emb, train_lab), (val_emb, val_lab) = split
    protocol = PROTOCOLS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitOnScoredWarning)
        result = evaluate_alignment(
            _pairs(train_emb, train_lab),
            _pairs(val_emb, val_lab),
            protocol=name,
            fit_on_scored=protocol.fit_on_scored,
        )
    # lav / vaot fit on the first floor(f * 5) scored videos; the others on the first floor(f * 19) train videos.
    fit_emb, fit_lab = (val_emb, val_lab) if protocol.fit_on_scored else (train_emb, train_lab)
    counts = {"0.1": 1, "0.5": 2, "1.0": 5} if protocol.fit_on_scored else {"0.1": 1, "0.5": 9, "1.0": 19}
    assert result["details"]["phase_classification_train_videos"] == counts
    expected = {
        key: _direct_accuracy(_reference_model(name), fit_emb, fit_lab, n, val_emb, val_lab)
        for key, n in counts.items()
    }
    assert result["phase_classification"] == pytest.approx(expected, abs=1e-12)


def test_the_direct_fits_discriminate_classifiers_and_fraction_rules(split):
    # The test above could fail: on these frames the three models disagree, and ceil(0.5 * 19) = 10 videos give
    # another accuracy than floor's 9.
    (train_emb, train_lab), (val_emb, val_lab) = split
    full = {
        name: _direct_accuracy(_reference_model(name), train_emb, train_lab, 19, val_emb, val_lab) for name in NAMES
    }
    assert len({full["tcc"], full["carl"], full["ours"]}) == 3
    nine = _direct_accuracy(_reference_model("tcc"), train_emb, train_lab, 9, val_emb, val_lab)
    ten = _direct_accuracy(_reference_model("tcc"), train_emb, train_lab, 10, val_emb, val_lab)
    assert nine != ten


def _hand_ap_case():
    # K = 1. A = [0, 10] labels [0, 1]; B = [0, 1, 10, 11] labels [0, 0, 1, 0].
    # A queries B: 0 -> B0 (0) hit, 10 -> B2 (1) hit: A's precision 1.
    # B queries A: 0 -> A0 hit, 1 -> A0 hit, 10 -> A1 hit, 11 -> A1 (label 1 != 0) miss: B's precision 3/4.
    # Per-video mean (1 + 3/4) / 2 = 7/8; frame mean (2 + 3) / 6 = 5/6.
    a = np.array([[0.0], [10.0]])
    b = np.array([[0.0], [1.0], [10.0], [11.0]])
    return [a, b], [np.array([0, 1]), np.array([0, 0, 1, 0])]


def test_frame_and_video_averaged_ap_differ_on_a_hand_case():
    embeddings, labels = _hand_ap_case()
    assert ap_at_k(embeddings, labels, ks=(1,), average="video") == {1: pytest.approx(7 / 8)}
    assert ap_at_k(embeddings, labels, ks=(1,), average="frame") == {1: pytest.approx(5 / 6)}
    ours = evaluate_alignment([], _pairs(embeddings, labels), protocol="ours", ks=(1,))
    with pytest.warns(FitOnScoredWarning):
        vaot = evaluate_alignment([], _pairs(embeddings, labels), protocol="vaot", fit_on_scored=True, ks=(1,))
    assert ours["ap@1"] == pytest.approx(7 / 8) and vaot["ap@1"] == pytest.approx(5 / 6)
    assert vaot["details"]["ap_query_frames_per_video"] == [2, 4]


def test_frame_averaged_ap_against_a_brute_force_double_loop():
    rng = np.random.default_rng(4)
    embeddings, labels = _videos(rng, 4, noise=2.0)
    k = 5
    scores = []
    for i, (query, query_labels) in enumerate(zip(embeddings, labels, strict=True)):
        pool = [(c, lab) for j in range(4) if j != i for c, lab in zip(embeddings[j], labels[j], strict=True)]
        for q, q_label in zip(query, query_labels, strict=True):
            ranked = sorted(range(len(pool)), key=lambda n: (float(np.sum((pool[n][0] - q) ** 2)), n))
            scores.append(np.mean([pool[n][1] == q_label for n in ranked[:k]]))
    assert ap_at_k(embeddings, labels, ks=(k,), average="frame")[k] == pytest.approx(np.mean(scores))


def _opposite_videos(rng, sign: float, n: int):
    """Phase 0 at x = -sign, phase 1 at x = +sign (first channel), second channel noise."""
    lab = np.repeat([0, 1], 20)
    embeddings = [np.c_[sign * (2.0 * lab - 1) + 0.1 * rng.normal(size=40), rng.normal(size=40)] for _ in range(n)]
    return embeddings, [lab.copy() for _ in range(n)]


def test_fit_on_scored_is_refused_in_one_line_unless_explicit():
    rng = np.random.default_rng(5)
    train, val = _pairs(*_opposite_videos(rng, 1.0, 4)), _pairs(*_opposite_videos(rng, -1.0, 3))
    for name in ("lav", "vaot"):
        with pytest.raises(ValueError) as info:
            evaluate_alignment(train, val, protocol=name)
        assert "\n" not in str(info.value) and "--fit-on-scored" in str(info.value)
    with pytest.raises(ValueError, match="only applies") as info:
        evaluate_alignment(train, val, protocol="tcc", fit_on_scored=True)
    assert "\n" not in str(info.value)


def test_fit_on_scored_fits_on_the_scored_videos_and_says_so():
    # Train maps the phases one way, val the other: held out (tcc) is always wrong, fitted on val (vaot) right.
    rng = np.random.default_rng(6)
    train, val = _pairs(*_opposite_videos(rng, 1.0, 4)), _pairs(*_opposite_videos(rng, -1.0, 3))
    held_out = evaluate_alignment(train, val, protocol="tcc", ks=(5,))
    with pytest.warns(FitOnScoredWarning, match="not held-out"):
        leaky = evaluate_alignment(train, val, protocol="vaot", fit_on_scored=True, ks=(5,))
    assert held_out["phase_classification"]["1.0"] < 0.05 and leaky["phase_classification"]["1.0"] > 0.95
    assert held_out["fit_on_scored"] is False and "warning" not in held_out
    assert leaky["fit_on_scored"] is True and "not held-out" in leaky["warning"]
    assert leaky["protocol"]["fit_on_scored"] is True and leaky["protocol"]["fit_split"].startswith("val")
    val_emb, val_lab = [e for e, _ in val], [lab for _, lab in val]
    assert leaky["phase_progression"] == pytest.approx(phase_progression(val_emb, val_lab, val_emb, val_lab))
    # The train split is ignored (counted): without it the result is the same.
    with pytest.warns(FitOnScoredWarning):
        alone = evaluate_alignment([], val, protocol="vaot", fit_on_scored=True, ks=(5,))
    assert alone["phase_classification"] == leaky["phase_classification"]
    assert leaky["details"]["ignored_train_videos"] == 4 and "ignored_train_videos" not in alone["details"]
    json.dumps(leaky, allow_nan=False)


def test_json_records_the_protocol_strides_and_overrides(split):
    (train_emb, train_lab), (val_emb, val_lab) = split
    train, val = _pairs(train_emb, train_lab), _pairs(val_emb, val_lab)
    carl = evaluate_alignment(train, val, protocol="carl")
    record = carl["protocol"]
    assert (record["name"], record["classifier"], record["stride"], record["ap_stride"]) == ("carl", "logreg", 2, 2)
    assert record["sources"] == dict(PROTOCOLS["carl"].sources) and record["overrides"] == {}
    assert record["fraction_rule"] == "floor" and "floor" in record["fraction_videos"]
    assert record["ap_average"] == "video" and record["fit_on_scored"] is False
    assert carl["kendall_tau"] == pytest.approx(kendall_tau(val_emb, stride=2)["value"])
    assert carl["ap@10"] == pytest.approx(ap_at_k(val_emb, val_lab, stride=2)[10])
    # --stride overrides the Kendall stride; CARL ties AP@K's stride to it, ours does not.
    carl5 = evaluate_alignment(train, val, protocol="carl", stride=5)
    assert (carl5["protocol"]["stride"], carl5["protocol"]["ap_stride"]) == (5, 5)
    assert carl5["protocol"]["overrides"] == {"kendall_stride": {"protocol": 2, "used": 5}}
    assert carl5["ap@10"] == pytest.approx(ap_at_k(val_emb, val_lab, stride=5)[10])
    ours = evaluate_alignment(train, val, protocol="ours", stride=3)
    assert (ours["protocol"]["stride"], ours["protocol"]["ap_stride"]) == (3, 1)
    assert ours["kendall_tau"] == pytest.approx(kendall_tau(val_emb, stride=3)["value"])
    # A classifier override is recorded and used.
    tcc = evaluate_alignment(train, val, protocol="tcc", classifier="logreg")
    assert tcc["protocol"]["overrides"]["classifier"] == {"protocol": "svm_rbf_ovo", "used": "logreg"}
    assert tcc["phase_classification"] == carl["phase_classification"]
    json.dumps(carl5, allow_nan=False)


def test_lav_reports_ap_as_null_with_the_reason(split):
    _, (val_emb, val_lab) = split
    with pytest.warns(FitOnScoredWarning):
        lav = evaluate_alignment(None, _pairs(val_emb, val_lab), protocol="lav", fit_on_scored=True)
    for k in (5, 10, 15):
        assert lav[f"ap@{k}"] is None and "own video" in lav["null_reasons"][f"ap@{k}"]
    assert lav["kendall_tau"] == pytest.approx(kendall_tau(val_emb, stride=5)["value"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    config = SyntheticConfig(n_videos=10, n_phases=3, dim=6, latent_dim=3, min_frames=30, max_frames=45, seed=3)
    return write_synthetic_dataset(tmp_path_factory.mktemp("protocols") / "syn", config)


def test_evaluate_folder_refuses_vaot_unless_fit_on_scored(folder):
    with pytest.raises(ValueError) as info:
        evaluate_folder(folder, "none", "alignment", protocol="vaot")
    assert "\n" not in str(info.value) and "fit_on_scored=True" in str(info.value)
    with pytest.warns(FitOnScoredWarning):
        result = evaluate_folder(folder, "none", "alignment", protocol="vaot", fit_on_scored=True)
    assert result["fit_on_scored"] is True and isinstance(result["warning"], str)
    assert (result["train_split"], result["fit_split"]) == (None, "val")
    assert result["protocol"]["name"] == "vaot" and result["details"]["n_train_videos"] == 0
    # Protocols that fit on train keep the disjoint-splits guard.
    with pytest.raises(ValueError, match="never see scored videos"):
        evaluate_folder(folder, "none", "alignment", protocol="carl", train_split="val")
    with pytest.raises(ValueError, match="alignment task only"):
        evaluate_folder(folder, "none", "segmentation", protocol="tcc")


def test_a_model_trained_on_the_scored_videos_is_noted_in_the_table(folder, tmp_path):
    """Self-supervised on the scored videos (Penn Action's default ``train`` holds ``val``): the JSON counted them,
    but nothing a reader sees said so."""
    import vidalign as va
    from vidalign.evaluation.folder import format_result

    seen = va.train(folder, "vaot", tmp_path / "all", split="all", epochs=0).path
    result = evaluate_folder(folder, str(seen), "alignment")
    assert result["encoder_trained_on_eval_videos"] == len(va.load_features(folder).video_ids("val")) > 0
    assert "NOTE: the model was trained (without labels) on" in format_result(result)
    assert "train it on videos outside split 'val'" in format_result(result)  # was "e.g. train_sub" anywhere
    held_out = va.train(folder, "vaot", tmp_path / "train", split="train", epochs=0).path
    assert "NOTE" not in format_result(evaluate_folder(folder, str(held_out), "alignment"))
