"""``vidalign bench``: the suites run and report what they measure (speed itself is never asserted here)."""

import importlib.util

from vidalign.bench import format_table, long, run_suites


def test_long_suite_outputs_are_finite_and_hard_alignments_fit_the_budget():
    rows = long.run(quick=True)
    assert [r.op for r in rows] == ["smith_waterman (hard)", "dtw (hard)", "soft_smith_waterman", "soft_dtw"]
    for row in rows:
        assert row.note.startswith("finite"), row
        assert row.ours_ms > 0 and row.peak_mem_mb is not None
    # the traceback (2000 x 2000) dominates the hard alignments: one byte per cell for SW, 2 bits for DTW
    sw, dtw = rows[:2]
    assert 3.5 < sw.peak_mem_mb < long.BUDGET_MB and 0.9 < dtw.peak_mem_mb < long.BUDGET_MB


def test_dp_suite_rows_carry_a_same_run_reference(capsys):
    rows = run_suites(["dp"], quick=True)
    assert {r.op for r in rows} >= {"soft_smith_waterman", "soft_dtw"}
    assert all(r.speedup is not None and r.speedup > 0 for r in rows)
    table = format_table(rows)
    assert "torch autograd ref" in table and "N=M=64" in table
    # the plain compiled soft Smith-Waterman computes the same score (its note: the largest difference)
    (plain,) = [r for r in rows if r.reference == "plain numba ref"]
    assert plain.op == "soft_smith_waterman" and float(plain.note.split()[-1]) < 1e-4


def test_frames_suite_reports_frames_per_second_of_extraction_and_fine_tuning():
    rows = run_suites(["frames"], quick=True)
    pose = ["pose"] if importlib.util.find_spec("mediapipe") is not None else []  # the optional vidalign[pose]
    backbones = ["efficientnet_lite0", "efficientnet_lite0_grid", *pose]
    assert [r.op for r in rows] == [*backbones, "efficientnet_lite0 inference copy", "finetune efficientnet_lite0"]
    for row in rows:
        assert row.speedup is not None and row.speedup > 0
        assert f"{1e3 * 8 / row.ours_ms:.1f} frames/s" in row.note
    references = {"resnet50 (random init)", "the network as loaded, batch resized at once", "every block trained"}
    assert {r.reference for r in rows} == references


def test_eval_suite_times_ap_at_k_against_whole_sorted_rows_with_the_same_result():
    (row,) = run_suites(["eval"], quick=True)
    assert row.op == "AP@K (eval)" and row.note == "same precision per frame" and row.speedup > 0
