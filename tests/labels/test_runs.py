"""Runs of equal labels (vidalign.labels.runs) against a plain loop."""

from __future__ import annotations

import numpy as np
import pytest

from vidalign.labels.runs import label_runs


def test_segments_drop_background_runs():
    labels, starts, ends = label_runs(np.array([9, 9, 1, 1, 1, 9, 2, 1]), background=9)
    np.testing.assert_array_equal(labels, [1, 2, 1])
    np.testing.assert_array_equal(starts, [2, 6, 7])
    np.testing.assert_array_equal(ends, [5, 7, 8])


@pytest.mark.parametrize("seed", range(5))
def test_runs_match_a_plain_loop_and_rebuild_the_labels(seed):
    labels = np.random.default_rng(seed).integers(0, 3, size=int(np.random.default_rng(seed).integers(1, 40)))
    expected = []
    for t, value in enumerate(labels):
        if expected and expected[-1][0] == value:
            expected[-1][2] = t + 1
        else:
            expected.append([value, t, t + 1])
    values, starts, ends = label_runs(labels)
    assert [list(x) for x in zip(values, starts, ends, strict=True)] == expected
    np.testing.assert_array_equal(np.repeat(values, ends - starts), labels)


def test_no_frames_no_runs():
    assert all(part.size == 0 for part in label_runs(np.array([], dtype=np.int64)))
