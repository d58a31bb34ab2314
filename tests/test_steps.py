"""Step-level findings (vidalign.steps): missing, extra and reordered steps and durations, against brute force,
and through va.compare with the labels of a feature folder."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import vidalign as va
from vidalign.data.layout import write_mapping, write_video
from vidalign.steps import (
    MAX_PERFORMANCES,
    MAX_STEP_FRAMES,
    longest_common_subsequence,
    step_findings,
    step_order,
    step_performances,
)


def _is_subsequence(small: tuple, big: list) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@pytest.mark.parametrize("seed", range(6))
def test_the_longest_common_subsequence_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.permutation(6)[: rng.integers(2, 7)].tolist() for _ in range(2))
    common = longest_common_subsequence(a, b)
    assert _is_subsequence(tuple(common), a) and _is_subsequence(tuple(common), b)
    longest = max(len(c) for n in range(len(a) + 1) for c in itertools.combinations(a, n) if _is_subsequence(c, b))
    assert len(common) == longest


def test_step_order_counts_every_run_of_a_step_once():
    order, frames = step_order(np.array([9, 0, 0, 1, 1, 1, 0, 9, 2]), background=9)
    assert order == [0, 1, 2] and frames == {0: 3, 1: 3, 2: 1}


def test_missing_extra_reordered_and_durations():
    reference = np.repeat([0, 1, 2, 3], [10, 10, 10, 10])
    query = np.repeat([0, 2, 1, 4], [5, 10, 30, 10])  # 3 missing, 4 extra, 1 and 2 swapped, 0 twice as fast
    found = step_findings(reference, query, names={0: "a", 1: "b", 2: "c", 3: "d", 4: "e"}, fps=(10.0, 10.0))
    assert found["missing"] == ["d"] and found["extra"] == ["e"]
    assert len(found["out_of_order"]) == 1 and found["out_of_order"][0] in {"b", "c"}
    ratios = {d["step"]: d["ratio"] for d in found["durations"]}
    assert ratios == {"a": 0.5, "b": 3.0, "c": 1.0}
    assert found["query_segments"] == [
        {"step": "a", "start": 0, "end": 5},
        {"step": "c", "start": 5, "end": 15},
        {"step": "b", "start": 15, "end": 45},
        {"step": "e", "start": 45, "end": 55},
    ]
    assert [s["end"] - s["start"] for s in found["reference_segments"]] == [10, 10, 10, 10]


def _movement(progress: np.ndarray, step: int = 0, noise: int = 0) -> np.ndarray:
    """Frame embeddings of a movement through one step (``step`` seeds its curve, ``noise`` the frame noise): a
    smooth random curve of the progress in [0, 1]."""
    basis = np.random.default_rng(step).normal(size=(4, 32))
    curve = np.stack([np.sin(np.pi * (k + 1) * progress) for k in range(2)] + [progress, 1 - progress], axis=1)
    return curve @ basis + 0.05 * np.random.default_rng([step, noise]).normal(size=(len(progress), 32))


@pytest.mark.parametrize(
    "speeds", [(1.0,), (0.5,), (1.6,), (1.0, 1.0), (1.2, 1.2, 1.2), (0.6, 0.6), (1.0, 0.7), (1.0, 1.4)], ids=str
)
def test_a_repeated_step_is_told_from_a_slowed_one(speeds):
    """The query performs the step once per entry of ``speeds``, at that pace (0.5: twice as slow): a slowed or
    hurried step is one performance, a repeated one as many as it has, the second from where it starts."""
    reference = _movement(np.linspace(0, 1, 30))
    performances = [np.linspace(0, 1, int(round(30 / speed))) for speed in speeds]
    query = _movement(np.concatenate(performances), noise=1)
    found, intervals, scores = step_performances(reference, query)
    assert found == len(speeds)
    assert len(scores) == MAX_PERFORMANCES - 1
    if len(speeds) == 1:
        assert intervals == []
    else:  # the frames of performances 2.., within a frame or two of where they start
        assert len(intervals) == 1 and intervals[0][1] == len(query) - 1
        assert abs(intervals[0][0] - len(performances[0])) <= 2


def test_the_length_test_compares_durations_when_the_frame_rates_differ():
    """A reference step of 60 frames at 30 fps (2 s) performed twice in 40 frames at 10 fps (4 s): two
    performances; the same 40 frames at 30 fps (1.3 s, half the reference's time per performance) are too short."""
    reference = _movement(np.linspace(0, 1, 60))
    query = _movement(np.concatenate([np.linspace(0, 1, 20), np.linspace(0, 1, 20)]), noise=1)
    assert step_performances(reference, query, rate_ratio=10 / 30)[0] == 2
    assert step_performances(reference, query)[0] == 1
    steps_r, steps_q = np.zeros(60, dtype=int), np.zeros(40, dtype=int)
    found = step_findings(steps_r, steps_q, fps=(30.0, 10.0), features=(reference, query))
    assert [(r["times"], r["query_intervals"][0][1]) for r in found["repeated"]] == [(2, 39)]


def test_a_long_repeated_step_is_scored_on_strided_frames():
    """Steps of thousands of frames (an hour-long recording) are strided to at most MAX_STEP_FRAMES first: the
    same answer, the second performance's start within one stride."""
    reference = _movement(np.linspace(0, 1, 1000))
    query = _movement(np.concatenate([np.linspace(0, 1, 1100), np.linspace(0, 1, 900)]), noise=1)
    stride = -(-len(query) // MAX_STEP_FRAMES)
    assert stride > 1
    found, intervals, _ = step_performances(reference, query)
    assert found == 2 and intervals[0][1] == len(query) - 1
    assert abs(intervals[0][0] - 1100) <= stride
    assert step_performances(reference, _movement(np.linspace(0, 1, 2000), noise=1))[0] == 1  # slowed


@pytest.mark.parametrize("seed", range(5))
def test_a_still_step_is_not_a_repetition(seed):
    """The query holds one pose of the step (frame noise only) for twice the reference's time: its lag
    similarities rise and fall with the noise alone, which is no periodicity."""
    reference = _movement(np.linspace(0, 1, 30))
    query = _movement(np.full(60, 0.5), noise=seed)
    assert step_performances(reference, query)[0] == 1


def test_a_step_of_two_strokes_is_not_a_repetition():
    """A step that is itself two strokes (hammering twice) is periodic in the reference too: a query doing it is
    no repeat, though the same query frames against a one-stroke reference are."""
    stroke = np.linspace(0, 1, 30)
    query = _movement(np.concatenate([np.linspace(0, 1, 32)] * 2), noise=1)
    assert step_performances(_movement(np.concatenate([stroke, stroke])), query)[0] == 1
    assert step_performances(_movement(stroke), query)[0] == 2


def test_repeated_steps_in_the_findings_need_frame_features():
    labels_r, labels_q = np.repeat([0, 1, 2], 20), np.repeat([0, 1, 2], [20, 40, 20])
    progress = np.linspace(0, 1, 20)
    emb_r = np.concatenate([_movement(progress, step) for step in (2, 3, 4)])
    emb_q = np.concatenate(
        [_movement(progress, 2, 1), _movement(np.tile(progress, 2), 3, 1), _movement(progress, 4, 1)]
    )
    assert step_findings(labels_r, labels_q)["repeated"] is None
    found = step_findings(labels_r, labels_q, names={0: "a", 1: "b", 2: "c"}, features=(emb_r, emb_q))
    assert found["repeated"] == [{"step": "b", "times": 2, "query_intervals": [(40, 59)]}]


def test_compare_reports_the_steps_of_labelled_recordings(tmp_path):
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(4, 16)) * 3
    write_mapping(tmp_path, ["reach", "grasp", "lift", "place"])
    for video, order in (("ref", [0, 1, 2, 3]), ("trainee", [0, 2, 1])):
        steps = np.repeat(order, 20)
        features = prototypes[steps] + 0.3 * rng.normal(size=(len(steps), 16))
        names = ["reach", "grasp", "lift", "place"]
        write_video(tmp_path, video, features.astype(np.float32), labels=[names[s] for s in steps])
    result = va.compare(tmp_path / "features" / "ref.npy", tmp_path / "features" / "trainee.npy", steps="labels")
    assert result.steps["missing"] == ["place"] and result.steps["extra"] == []
    assert len(result.steps["out_of_order"]) == 1
    assert result.to_json()["steps"] == result.steps


def test_a_model_with_prototypes_gives_steps_and_one_without_refuses(tiny_folder, asot_run, vaot_run):
    from vidalign.errors import InputError
    from vidalign.models.model import load_model

    ids = sorted(p.stem for p in (tiny_folder / "features").glob("*.npy"))[:2]
    a, b = (tiny_folder / "features" / f"{v}.npy" for v in ids)
    result = va.compare(a, b, model=asot_run)
    model, _ = load_model(asot_run)
    features = (np.load(a), np.load(b))  # repetitions: in the recordings' own features, not the embeddings
    expected = step_findings(model.segment(features[0]), model.segment(features[1]), features=features)
    assert result.steps == expected and result.steps["reference_order"]
    assert va.compare(a, b, model=vaot_run).steps is None  # no prototypes, none asked for
    with pytest.raises(InputError, match="no action prototypes"):
        va.compare(a, b, model=vaot_run, steps="model")
