"""Alignment metrics (vidalign.evaluation.alignment): hand cases, brute force, sklearn and scipy oracles."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import kendalltau
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from vidalign.evaluation import alignment
from vidalign.evaluation.alignment import (
    ap_at_k,
    evaluate_alignment,
    kendall_tau,
    label_fraction_count,
    phase_classification,
    phase_progression,
    phase_progression_report,
)

ALIGNMENT_KEYS = {"phase_classification", "phase_progression", "kendall_tau", "ap@5", "ap@10", "ap@15"}
MEANS = np.random.default_rng(123).normal(size=(3, 4)) * 2  # phase centres shared by train and val videos


def _phase_videos(rng: np.random.Generator, n_videos: int, noise: float = 0.6, means: np.ndarray = MEANS):
    """Videos of 3 ordered phases with random lengths; embeddings = noisy phase means plus a progress ramp."""
    dim = means.shape[1]
    embeddings, labels = [], []
    for _ in range(n_videos):
        lengths = rng.integers(6, 14, size=3)
        lab = np.repeat(np.arange(3), lengths)
        progress = np.arange(lab.size)[:, None] / lab.size
        embeddings.append(means[lab] + progress + noise * rng.normal(size=(lab.size, dim)))
        labels.append(lab)
    return embeddings, labels


def _brute_force_nearest(query: np.ndarray, candidates: np.ndarray) -> list[int]:
    nearest = []
    for q in query:
        distances = [float(sum((a - b) ** 2 for a, b in zip(q, c, strict=True))) for c in candidates]
        nearest.append(min(range(len(distances)), key=lambda j: (distances[j], j)))
    return nearest


def _brute_force_tau_b(y: list[int]) -> float:
    """Kendall tau-b of (0..n-1, y): (concordant - discordant) / sqrt(n0 * (n0 - ties in y))."""
    concordant = discordant = ties = 0
    for i, j in combinations(range(len(y)), 2):
        if y[i] == y[j]:
            ties += 1
        elif y[j] > y[i]:
            concordant += 1
        else:
            discordant += 1
    n0 = len(y) * (len(y) - 1) // 2
    return (concordant - discordant) / np.sqrt(n0 * (n0 - ties))


def test_kendall_tau_against_brute_force_and_scipy():
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(int(rng.integers(12, 30)), 3)) + np.arange(3) for _ in range(4)]
    stride = 3
    taus = []
    for i in range(4):
        for j in range(4):
            if i == j:
                continue
            nearest = _brute_force_nearest(videos[i][::stride], videos[j][::stride])
            taus.append(_brute_force_tau_b(nearest))
            assert taus[-1] == pytest.approx(kendalltau(np.arange(len(nearest)), nearest).statistic)
    result = kendall_tau(videos, stride=stride)
    assert result["n_pairs"] == 12 and result["n_dropped"] == 0
    assert result["value"] == pytest.approx(np.mean(taus))


def test_kendall_tau_hand_cases_and_dropped_pairs():
    # A and B are the same increasing ramp -> every NN is the same frame -> tau = 1 both ways. C is constant:
    # A->C and B->C give constant NN sequences (first index), C->A and C->B too (identical query frames) ->
    # 4 NaN pairs dropped.
    ramp = np.arange(10, dtype=float)[:, None]
    result = kendall_tau([ramp, ramp.copy(), np.zeros((10, 1))], stride=1)
    assert result["value"] == pytest.approx(1.0)
    assert (result["n_pairs"], result["n_dropped"]) == (2, 4)
    # A reversed copy gives tau = -1.
    assert kendall_tau([ramp, ramp[::-1]], stride=2)["value"] == pytest.approx(-1.0)


def test_ap_at_k_hand_case():
    # A = B = [0, 1, 10, 11]; labels A [0,0,1,1], B [0,1,1,1]. K = 2:
    # A queries B: frame 0 -> B{0,1} labels {0,1}: 1/2; frame 1 -> B{1,0}: 1/2; frames 2,3 -> B{10,11}: 1.
    # B queries A: frame 0 (label 0) -> A{0,1} labels {0,0}: 1; frame 1 (label 1) -> A{1,0}: 0; frames 2,3: 1.
    # Both videos average 0.75.
    emb = np.array([[0.0], [1.0], [10.0], [11.0]])
    result = ap_at_k([emb, emb.copy()], [np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])], ks=(2,))
    assert result == {2: pytest.approx(0.75)}


def test_ap_at_k_against_brute_force_double_loop():
    rng = np.random.default_rng(1)
    embeddings, labels = _phase_videos(rng, 4, noise=2.0)
    ks = (1, 5, 10)
    expected = {k: [] for k in ks}
    for i, (query, query_labels) in enumerate(zip(embeddings, labels, strict=True)):
        pool = [(c, lab) for j in range(4) if j != i for c, lab in zip(embeddings[j], labels[j], strict=True)]
        per_k = {k: [] for k in ks}
        for q, q_label in zip(query, query_labels, strict=True):
            ranked = sorted(range(len(pool)), key=lambda n: (float(np.sum((pool[n][0] - q) ** 2)), n))
            for k in ks:
                per_k[k].append(np.mean([pool[n][1] == q_label for n in ranked[:k]]))
        for k in ks:
            expected[k].append(np.mean(per_k[k]))
    result = ap_at_k(embeddings, labels, ks=ks)
    for k in ks:
        assert result[k] == pytest.approx(np.mean(expected[k]))


def test_ap_at_k_blocked_distances_give_the_same_result(monkeypatch):
    # Force distance blocks of a single query row and compare with the one-block computation.
    rng = np.random.default_rng(11)
    embeddings, labels = _phase_videos(rng, 3, noise=2.0)
    whole = ap_at_k(embeddings, labels)
    monkeypatch.setattr(alignment, "_MAX_DISTANCE_ENTRIES", 1)
    assert ap_at_k(embeddings, labels) == whole


def test_label_fraction_count():
    # floor (every official script: max(1, int(f * n))), with the float product rounded first.
    assert label_fraction_count(0.1, 30) == 3
    assert label_fraction_count(0.1, 5) == 1  # max(1, floor(0.5))
    assert label_fraction_count(0.5, 5) == 2  # floor(2.5); the former ceil rule gave 3
    assert label_fraction_count(0.5, 5, "ceil") == 3
    assert label_fraction_count(0.29, 100) == 29  # int(0.29 * 100) would be 28 (float artefact)
    assert label_fraction_count(1.0, 7) == 7
    assert label_fraction_count(0.01, 7) == 1
    with pytest.raises(ValueError):
        label_fraction_count(0.0, 7)


@pytest.mark.parametrize("standardize", [False, True])
def test_phase_classification_equals_direct_sklearn_fit(standardize):
    rng = np.random.default_rng(2)
    train_emb, train_lab = _phase_videos(rng, 10, noise=1.5)
    val_emb, val_lab = _phase_videos(rng, 4, noise=1.5)
    result = phase_classification(train_emb, train_lab, val_emb, val_lab, standardize=standardize)
    assert list(result) == ["0.1", "0.5", "1.0"]
    for key, n_used in (("0.1", 1), ("0.5", 5), ("1.0", 10)):
        model = SVC(kernel="linear", C=1.0)
        model = make_pipeline(StandardScaler(), model) if standardize else model
        model.fit(np.concatenate(train_emb[:n_used]), np.concatenate(train_lab[:n_used]))
        accuracy = np.mean(model.predict(np.concatenate(val_emb)) == np.concatenate(val_lab))
        assert result[key] == pytest.approx(accuracy)


@pytest.mark.parametrize("classifier", ["svm_rbf", "svm_rbf_ovo", "logreg"])
def test_other_classifiers_separate_clean_phases(classifier):
    # Phase centres about 2 apart, noise 0.05: every sensible classifier labels every val frame right.
    rng = np.random.default_rng(3)
    train_emb, train_lab = _phase_videos(rng, 6, noise=0.05)
    val_emb, val_lab = _phase_videos(rng, 3, noise=0.05)
    result = phase_classification(train_emb, train_lab, val_emb, val_lab, classifier=classifier)
    assert result == {"0.1": pytest.approx(1.0), "0.5": pytest.approx(1.0), "1.0": pytest.approx(1.0)}


def test_phase_classification_never_fits_on_val():
    # Train: phase 0 at x = -1, phase 1 at x = +1. Val: the opposite mapping. An honest classifier (fitted on
    # train only) is always wrong on val; one fitted on the scored val videos would be always right.
    rng = np.random.default_rng(4)

    lab = np.repeat([0, 1], 20)

    def videos(sign: float, n: int):
        """n videos whose first channel is sign * (+-1) by phase, second channel pure noise."""
        embeddings = [np.c_[sign * (2.0 * lab - 1) + 0.1 * rng.normal(size=40), rng.normal(size=40)] for _ in range(n)]
        return embeddings, [lab.copy() for _ in range(n)]

    train_emb, train_lab = videos(1.0, 4)
    val_emb, val_lab = videos(-1.0, 3)
    honest = phase_classification(train_emb, train_lab, val_emb, val_lab, fractions=(1.0,))["1.0"]
    leaky_model = SVC(kernel="linear").fit(np.concatenate(val_emb), np.concatenate(val_lab))
    leaky = np.mean(leaky_model.predict(np.concatenate(val_emb)) == np.concatenate(val_lab))
    assert honest < 0.05 and leaky > 0.95


def test_phase_classification_predictions_ignore_val_labels():
    # Whatever labels the val videos carry (true, shuffled, constant), the score is the agreement of the SAME
    # train-fitted predictions with them: val labels are only compared with, never learnt from.
    rng = np.random.default_rng(5)
    train_emb, train_lab = _phase_videos(rng, 5, noise=1.0)
    val_emb, val_lab = _phase_videos(rng, 3, noise=1.0)
    predictions = (
        SVC(kernel="linear").fit(np.concatenate(train_emb), np.concatenate(train_lab)).predict(np.concatenate(val_emb))
    )
    for relabel in (lambda y: y, lambda y: rng.permutation(y), lambda y: np.zeros_like(y)):
        new_val_lab = [relabel(y) for y in val_lab]
        score = phase_classification(train_emb, train_lab, val_emb, new_val_lab, fractions=(1.0,))["1.0"]
        assert score == pytest.approx(np.mean(predictions == np.concatenate(new_val_lab)))


def _brute_force_targets(labels: np.ndarray) -> np.ndarray:
    """(t - t_e) / T with t_e the last frame before each label change, by explicit loops."""
    last_frames = [t for t in range(len(labels) - 1) if labels[t + 1] != labels[t]]
    return np.array([[(t - te) / len(labels) for te in last_frames] for t in range(len(labels))])


def test_phase_progression_equals_per_boundary_sklearn_regressions():
    rng = np.random.default_rng(6)
    train_emb, train_lab = _phase_videos(rng, 6)
    val_emb, val_lab = _phase_videos(rng, 3)
    y_train = np.concatenate([_brute_force_targets(lab) for lab in train_lab])
    y_val = np.concatenate([_brute_force_targets(lab) for lab in val_lab])
    r2 = [
        LinearRegression().fit(np.concatenate(train_emb), y_train[:, e]).score(np.concatenate(val_emb), y_val[:, e])
        for e in range(2)
    ]
    report = phase_progression_report(train_emb, train_lab, val_emb, val_lab)
    assert report["r2_per_boundary"] == pytest.approx(r2)
    assert phase_progression(train_emb, train_lab, val_emb, val_lab) == pytest.approx(np.mean(r2))


def test_phase_progression_is_one_for_a_linear_embedding():
    # Embedding [t/T, t_e/T for each boundary] makes every target (t - t_e)/T an exact linear function.
    rng = np.random.default_rng(7)
    _, train_lab = _phase_videos(rng, 4)
    _, val_lab = _phase_videos(rng, 2)

    def embed(lab):
        targets = _brute_force_targets(lab)
        time = np.arange(lab.size)[:, None] / lab.size
        return np.c_[time, time - targets]

    value = phase_progression([embed(lab) for lab in train_lab], train_lab, [embed(lab) for lab in val_lab], val_lab)
    assert value == pytest.approx(1.0)


def test_phase_progression_skips_and_counts_other_phase_sequences():
    rng = np.random.default_rng(8)
    train_emb, train_lab = _phase_videos(rng, 5)
    val_emb, val_lab = _phase_videos(rng, 3)
    odd_emb, odd_lab = rng.normal(size=(20, 4)), np.repeat([0, 2], 10)  # another phase sequence: skipped
    report = phase_progression_report(
        train_emb + [odd_emb], train_lab + [odd_lab], val_emb + [odd_emb], val_lab + [odd_lab]
    )
    assert (report["n_train_skipped"], report["n_val_skipped"]) == (1, 1)
    assert report["phase_sequence"] == [0, 1, 2]
    assert report["value"] == pytest.approx(phase_progression(train_emb, train_lab, val_emb, val_lab))
    with pytest.raises(ValueError, match="no phase boundary"):
        phase_progression(train_emb, [np.zeros(e.shape[0], int) for e in train_emb], val_emb, val_lab)


def test_evaluate_alignment_keys_values_and_json():
    rng = np.random.default_rng(9)
    train_emb, train_lab = _phase_videos(rng, 6)
    val_emb, val_lab = _phase_videos(rng, 4)
    result = evaluate_alignment(list(zip(train_emb, train_lab, strict=True)), list(zip(val_emb, val_lab, strict=True)))
    assert set(result) == ALIGNMENT_KEYS | {"null_reasons", "details", "protocol", "fit_on_scored"}
    assert result["null_reasons"] == {} and result["fit_on_scored"] is False
    assert result["protocol"]["name"] == "ours" and result["protocol"]["classifier"] == "svm_linear"
    assert result["phase_classification"] == phase_classification(train_emb, train_lab, val_emb, val_lab)
    assert result["phase_progression"] == pytest.approx(phase_progression(train_emb, train_lab, val_emb, val_lab))
    assert result["kendall_tau"] == pytest.approx(kendall_tau(val_emb)["value"])
    ap = ap_at_k(val_emb, val_lab)
    assert [result[f"ap@{k}"] for k in (5, 10, 15)] == pytest.approx([ap[5], ap[10], ap[15]])
    assert result["protocol"]["standardize"] is False and result["protocol"]["stride"] == 5
    assert result["details"]["phase_classification_train_videos"] == {"0.1": 1, "0.5": 3, "1.0": 6}
    json.dumps(result, allow_nan=False)


def test_evaluate_alignment_nulls_with_reasons_without_labels():
    rng = np.random.default_rng(10)
    train_emb, _ = _phase_videos(rng, 3)
    val_emb, val_lab = _phase_videos(rng, 3)
    result = evaluate_alignment([(e, None) for e in train_emb], [(e, None) for e in val_emb])
    assert result["kendall_tau"] is not None
    for key in ALIGNMENT_KEYS - {"kendall_tau"}:
        assert result[key] is None
        assert "labels missing" in result["null_reasons"][key]
    # Val labels present, train labels absent: retrieval works, fitted metrics are null.
    partial = evaluate_alignment([(e, None) for e in train_emb], list(zip(val_emb, val_lab, strict=True)))
    assert partial["ap@5"] is not None and partial["phase_classification"] is None
    assert set(partial["null_reasons"]) == {"phase_classification", "phase_progression"}
    # A single val video: tau and AP are undefined and say why.
    single = evaluate_alignment([], [(val_emb[0], val_lab[0])])
    assert single["kendall_tau"] is None and "at least 2 videos" in single["null_reasons"]["kendall_tau"]
    json.dumps(single, allow_nan=False)


def test_the_k_nearest_are_the_stable_sorts_first_k_ties_included():
    """AP@K took a stable argsort of every candidate row (N^2.5 in the videos); the partition keeps its order."""
    from vidalign.evaluation.alignment import _k_smallest

    rng = np.random.default_rng(0)
    for distances in (rng.random((40, 57)), np.round(rng.random((40, 57)), 1), np.zeros((3, 9))):
        distances[:, 5:9] = np.inf  # the query's own frames, as AP@K marks them
        for k in (1, 5, 15, 53):
            np.testing.assert_array_equal(_k_smallest(distances, k), np.argsort(distances, 1, kind="stable")[:, :k])


def test_ap_at_k_refuses_embeddings_that_are_not_finite():
    """A NaN row has no order of neighbours (the partition then crashed; the sort of before picked at random)."""
    from vidalign.errors import InputError
    from vidalign.evaluation.alignment import retrieval_precision_per_frame

    frames = [np.ones((6, 2)), np.arange(12.0).reshape(6, 2)]
    frames[0][2, 1] = np.nan
    with pytest.raises(InputError, match="video 0: embeddings that are not finite"):
        retrieval_precision_per_frame(frames, [np.zeros(6, int), np.zeros(6, int)], ks=(5,))
