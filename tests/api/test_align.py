"""``vidalign.align`` (:mod:`vidalign.alignment`) on tiny feature arrays whose correct alignment is known by
construction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidalign import align, compare
from vidalign.alignment import AlignResult, OTOptions, SWOptions, cosine_similarity
from vidalign.api import standardizes_by_default
from vidalign.confidence import MIN_PERIODICITY
from vidalign.data.layout import write_dataset_info, write_video
from vidalign.errors import InputError
from vidalign.models.model import load_model
from vidalign.representation import standardize_recording

DESIGN_KEYS = ["pairs", "a_to_b", "score", "matched_a", "matched_b"]


def distinct_frames(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    """``n`` random frames: nearly orthogonal in high dimension, so only a frame and its copies are similar."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def noisy(frames: np.ndarray, seed: int, scale: float = 0.05) -> np.ndarray:
    return frames + scale * np.random.default_rng(seed).standard_normal(frames.shape).astype(np.float32)


def test_cosine_similarity_matches_a_direct_computation():
    a, b = distinct_frames(5, 7, seed=1), distinct_frames(4, 7, seed=2)
    expected = [[x @ y / np.linalg.norm(x) / np.linalg.norm(y) for y in b.astype(float)] for x in a.astype(float)]
    np.testing.assert_allclose(cosine_similarity(a, b), expected, rtol=1e-12)


def test_dtw_recovers_a_time_warp_exactly():
    base = distinct_frames(12)
    warp_a = [0, 0, 1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11]  # both show every base frame, holding some
    warp_b = [0, 1, 1, 1, 2, 3, 4, 5, 5, 6, 7, 7, 7, 7, 8, 9, 10, 11]
    result = align(base[warp_a], base[warp_b], method="dtw")
    assert result.score == pytest.approx(0.0, abs=1e-5)
    assert [warp_b[j] for j in result.a_to_b] == warp_a  # zero frame error
    # a frame of A shown once while B holds it for 3 frames points at the middle of B's three
    assert result.a_to_b[2] == 2 and result.a_to_b[10] == 11  # B holds base frame 7 at j = 10..13
    assert (result.matched_a, result.matched_b) == ((0, 15), (0, 17))
    assert (result.n_unmatched_a, result.n_unmatched_b) == (0, 0)
    pairs = result.pairs
    assert pairs[0].tolist() == [0, 0] and pairs[-1].tolist() == [15, 17]
    assert (np.diff(pairs, axis=0) >= 0).all() and (np.diff(pairs, axis=0).sum(axis=1) >= 1).all()


def test_sw_finds_a_inside_b_between_unrelated_frames():
    a = distinct_frames(20, seed=1)
    before, after = distinct_frames(9, seed=2), distinct_frames(13, seed=3)
    b = np.concatenate([before, noisy(a, seed=4), after])
    result = align(a, b, method="sw")
    assert result.matched_a == (0, 19) and result.matched_b == (9, 28)
    assert result.a_to_b == list(range(9, 29))
    assert (result.n_unmatched_a, result.n_unmatched_b) == (0, 22)
    assert result.score_kind == "sw_score" and result.score > 0


def test_sw_leaves_frames_of_a_in_a_gap_unmatched():
    base = distinct_frames(20, seed=1)
    inserted = distinct_frames(5, seed=5)
    a = np.concatenate([base[:10], inserted, base[10:]])
    result = align(a, noisy(base, seed=6), method="sw")
    assert result.a_to_b == list(range(10)) + [None] * 5 + list(range(10, 20))
    assert (result.matched_a, result.matched_b) == ((0, 24), (0, 19))
    assert (result.n_unmatched_a, result.n_unmatched_b) == (5, 0)


def test_sw_threshold_options():
    a, b = distinct_frames(6, seed=1), distinct_frames(8, seed=2)
    sim = cosine_similarity(a, b)
    assert align(a, b, method="sw").parameters["threshold_value"] == pytest.approx(np.median(sim))
    assert align(a, b, method="sw", sw=SWOptions("mean")).parameters["threshold_value"] == pytest.approx(sim.mean())
    # a threshold below every similarity makes every pair worth matching: the whole diagonal band is used
    everything = align(a, b, method="sw", sw=SWOptions(threshold=-2.0))
    assert everything.n_unmatched_a == 0 and len(everything.pairs) == 6
    nothing = align(a, b, method="sw", sw=SWOptions(threshold=2.0))  # no pair is worth matching
    assert (nothing.score, nothing.matched_a, nothing.matched_b, nothing.pairs.shape) == (0.0, None, None, (0, 2))
    assert nothing.a_to_b == [None] * 6 and (nothing.n_unmatched_a, nothing.n_unmatched_b) == (6, 8)
    with pytest.raises(InputError, match="threshold"):
        align(a, b, method="sw", sw=SWOptions(threshold="max"))


def test_ot_marks_an_inserted_unrelated_block_unmatched():
    base = distinct_frames(30, seed=1)
    block = distinct_frames(8, seed=7)
    a = np.concatenate([base[:15], block, base[15:]])
    result = align(a, noisy(base, seed=8), method="ot")
    truth = list(range(15)) + [None] * 8 + list(range(15, 30))
    assert [j is None for j in result.a_to_b] == [j is None for j in truth]
    errors = [abs(j - t) for j, t in zip(result.a_to_b, truth, strict=True) if t is not None]
    assert max(errors) == 0
    assert (result.n_unmatched_a, result.n_unmatched_b) == (8, 0)
    assert (result.matched_a, result.matched_b) == ((0, 37), (0, 29))
    assert result.score_kind == "fgw_objective" and np.isfinite(result.score)
    matched_rows = {i for i, _ in result.pairs.tolist()}
    assert matched_rows == {i for i, j in enumerate(truth) if j is not None}


def test_ot_that_leaves_most_of_the_shorter_recording_unmatched_is_not_trusted():
    """Standardised raw features of two people have cosines below OT's dummy cost: OT matched 38 of the intel
    clips' 120 key events (raw features 115) and said the alignments were trusted."""
    base = distinct_frames(40, seed=1)
    unlike = align(base, distinct_frames(40, seed=2), method="ot")  # cosines near 0: costs near 1 > zeta 0.5
    assert unlike.n_unmatched_a > 20 and not unlike.confidence.trusted
    assert any(reason.startswith("ot matched only") for reason in unlike.confidence.reasons)
    inserted = np.concatenate([distinct_frames(80, seed=3)[:40], base[:20], distinct_frames(80, seed=3)[40:]])
    inside = align(base[:20], noisy(inserted, seed=4), method="ot")  # a clip found inside a longer recording
    assert inside.n_unmatched_a == 0 and inside.n_unmatched_b > 50
    assert not any(reason.startswith("ot matched only") for reason in inside.confidence.reasons)


def test_ot_without_dummy_matches_every_frame():
    base = distinct_frames(10, seed=1)
    result = align(base, noisy(base, seed=2), method="ot", ot=OTOptions(dummy=None, n_iters=50))
    assert result.a_to_b == list(range(10)) and result.parameters["dummy"] is None


def test_json_has_the_design_keys_first_and_is_valid_json():
    a, b = distinct_frames(6, seed=1), distinct_frames(7, seed=2)
    for method in ("dtw", "sw", "ot"):
        result = align(a, b, method=method)
        assert isinstance(result, AlignResult) and result.similarity.shape == (6, 7)
        payload = json.loads(json.dumps(result.to_json(), allow_nan=False))
        assert list(payload)[:5] == DESIGN_KEYS
        assert {"method", "score_kind", "n_unmatched_a", "n_unmatched_b", "model", "backbone"} <= set(payload)
        assert "similarity" not in payload and payload["method"] == method
        assert len(payload["a_to_b"]) == 6 and all(len(pair) == 2 for pair in payload["pairs"])
        assert sum(j is None for j in payload["a_to_b"]) <= payload["n_unmatched_a"]


def test_a_trained_model_aligns_its_embeddings(tiny_folder, vaot_run):
    model, _ = load_model(vaot_run)
    features = np.load(tiny_folder / "features" / "video_000.npy")
    other = np.load(tiny_folder / "features" / "video_001.npy")
    with_model = align(features, other, method="dtw", model=model)
    by_hand = align(model.embed(features), model.embed(other), method="dtw")
    assert with_model.a_to_b == by_hand.a_to_b and with_model.score == pytest.approx(by_hand.score)
    with pytest.raises(InputError, match="takes 16-d features but the input holds 5-d"):
        align(features[:, :5], other[:, :5], model=model)


@pytest.mark.parametrize(
    ("a", "b", "method", "message"),
    [
        (np.zeros((4, 3)), np.zeros((5, 3)), "fast", "unknown method 'fast'"),
        (np.zeros((4, 3)), np.zeros((5, 2)), "dtw", "A has 3-d features but B has 2-d"),
        (np.zeros(4), np.zeros((5, 3)), "dtw", r"A: expected features \[T, D\]"),
        (np.zeros((4, 3)), np.full((5, 3), np.nan), "dtw", "B: features hold NaN"),
    ],
)
def test_bad_inputs_raise_one_line_errors(a, b, method, message):
    with pytest.raises(InputError, match=message) as error:
        align(a, b, method=method)
    assert "\n" not in str(error.value)


def test_an_alignment_reports_its_confidence_and_warns_when_it_cannot_be_trusted(tmp_path, capsys, monkeypatch):
    from matplotlib.figure import Figure

    from vidalign.cli import main
    from vidalign.errors import UntrustedAlignmentWarning

    rng = np.random.default_rng(0)
    process = np.cumsum(rng.normal(size=(60, 16)), axis=0)
    related = align(process, process[np.sort(rng.integers(0, 60, 75))] + 0.3 * rng.normal(size=(75, 16)))
    assert related.confidence.trusted and related.to_json()["confidence"]["trusted"] is True
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.normal(size=(60, 16)).astype(np.float32))  # two recordings without a shared order
    np.save(b, rng.normal(size=(75, 16)).astype(np.float32))
    with pytest.warns(UntrustedAlignmentWarning, match="cannot be trusted"):
        unrelated = align(str(a), str(b))
    record = unrelated.to_json()["confidence"]
    assert record["trusted"] is False
    assert {"contrast", "order_margin", "order_evidence", "path_margin", "reasons"} <= set(record)
    labels = []
    real_colorbar = Figure.colorbar

    def colorbar(self, *args, **kwargs):
        labels.append(kwargs["label"])
        return real_colorbar(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "colorbar", colorbar)
    assert main(["align", str(a), str(b), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().err.count("vidalign align: warning: this alignment cannot be trusted") == 1
    saved = json.loads((tmp_path / "out" / "alignment.json").read_text())["confidence"]
    assert saved == record
    assert len(labels) == 1 and labels[0].startswith("similarity (colours span ")
    shown = [float(x) for x in labels[0][len("similarity (colours span ") : -1].split(" to ")]
    assert shown == pytest.approx(saved["similarity_range"], abs=1e-3)


def _waiting_recordings():
    """B waits 60 frames on A's first frame, then plays A: a path far from the scaled diagonal at the start."""
    rng = np.random.default_rng(3)
    base = np.cumsum(rng.normal(size=(200, 6)), axis=0)
    return base, base[np.r_[np.zeros(60, int), np.arange(200)]]


def test_band_option_of_align_and_its_edge_warning(capsys):
    from vidalign.errors import BandEdgeWarning

    a, b = _waiting_recordings()
    unbanded = align(a, b)
    wide = align(a, b, band=0.5)  # 130 frames either side: the whole path fits
    assert wide.score == unbanded.score and wide.a_to_b == unbanded.a_to_b
    assert wide.parameters == {"band": 0.5, "band_radius": 130.0, "band_edge": False, "band_edge_pairs": 0}
    assert wide.to_json()["parameters"]["band_edge"] is False
    with pytest.warns(BandEdgeWarning, match="touches the edge of the band"):
        narrow = align(a, b, band=6, progress=True)
    assert narrow.parameters["band_edge"] is True and narrow.score > unbanded.score
    assert capsys.readouterr().err == ""  # no progress bar for a small matrix
    with pytest.raises(InputError, match="band"):
        align(a, b, band=-1)
    with pytest.raises(InputError, match="ot has no band"):
        align(a, b, method="ot", band=10)


def test_a_model_s_alignment_is_checked_against_the_recordings_own_frames(vaot_run, repeated_pair):
    """align and compare with a model read the recordings' own repetition (vidalign.confidence.with_frames);
    without a model the representation is the frames themselves, and there is nothing to check it against."""
    a, b = repeated_pair
    assert align(a, b).confidence.frame_periodicity is None
    assert align(a, b, model=vaot_run).confidence.frame_periodicity >= MIN_PERIODICITY
    assert compare(a, b, model=vaot_run).alignment.confidence.frame_periodicity >= MIN_PERIODICITY


def _offset_recordings(seed: int):
    """A process in two recordings, each with its own large constant offset (the person and the room of a video),
    B a warped copy of A: A's frame ``i`` is shown by B's frames ``{j: warp[j] == i}``."""
    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.normal(size=(80, 16)), axis=0)
    base = (base - base.mean(axis=0)) / base.std()
    warp = np.sort(rng.integers(0, 80, 100))
    warp[0], warp[-1] = 0, 79
    a = base + 6 * rng.normal(size=16)
    b = base[warp] + 6 * rng.normal(size=16) + 0.1 * rng.normal(size=(100, 16))
    return a, b, warp


def _frames_off(a_to_b: list, warp: np.ndarray) -> float:
    """Mean distance, in frames of A, between each A frame and the A frame its matched B frame shows."""
    return float(np.mean(np.abs(warp[np.asarray(a_to_b)] - np.arange(len(a_to_b)))))


@pytest.mark.parametrize("seed", range(3))
def test_standardized_raw_features_see_past_each_recording_s_offset(seed):
    a, b, warp = _offset_recordings(seed)
    raw, standardized = align(a, b), align(a, b, standardize=True)
    assert _frames_off(standardized.a_to_b, warp) < 0.5
    assert _frames_off(raw.a_to_b, warp) > 1.0  # the offsets' cross terms pull the raw path off
    assert standardized.inputs["a"]["standardized"] and "standardized" not in raw.inputs["a"]


def test_standardize_is_for_raw_features(vaot_run):
    features = standardize_recording(np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]]))
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(features.std(axis=0), [1.0, 0.0, 1.0])  # a constant channel becomes 0
    with pytest.raises(InputError, match="standardize applies to raw features"):
        align(np.zeros((4, 16)), np.zeros((5, 16)), model=vaot_run, standardize=True)


def test_raw_features_of_videos_and_poses_are_standardised_by_default_in_a_global_alignment(tmp_path, vaot_run):
    files = {"clip": tmp_path / "clip.mp4", "keypoints": tmp_path / "pose.json", "bare": tmp_path / "x.npy"}
    for family in ("video", "pose", "synthetic"):  # a feature file in a folder: its family decides
        write_video(tmp_path / family, "x", np.eye(4, dtype=np.float32))
        write_dataset_info(tmp_path / family, feature_family=family)
        files[family] = tmp_path / family / "features" / "x.npy"
    write_video(tmp_path / "unknown", "x", np.eye(4, dtype=np.float32))  # a folder without dataset.json
    files["unknown"] = tmp_path / "unknown" / "features" / "x.npy"

    def default(a, b, model=None, method="dtw") -> bool:
        return standardizes_by_default(files.get(a, a), files.get(b, b), model=model, method=method)

    assert default("clip", "keypoints") and default("video", "pose")
    assert not default("clip", "clip", method="sw")  # local: a clip found in a longer recording, raw
    assert not default("clip", "clip", method="ot")  # most frames standardised fall below OT's dummy cost
    assert not default("clip", "video", model=vaot_run)  # a model scales its own inputs
    for other in ("synthetic", "unknown", "bare"):
        assert not default("clip", other) and not default(other, other)
    arrays = np.zeros((4, 3)), np.zeros((5, 3))
    assert not standardizes_by_default(*arrays, model=None, method="dtw")


def test_standardized_features_keep_their_float_type():
    features = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32) + 100.0
    standardized = standardize_recording(features)
    expected = (features - features.mean(axis=0)) / features.std(axis=0, dtype=np.float64)
    assert standardized.dtype == np.float32
    np.testing.assert_allclose(standardized, expected, atol=1e-4)


def test_arrays_take_the_layout_given():
    """``layout="dt"`` applied to files only: ``[D, T]`` arrays were aligned along their channels."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(30, 8)), rng.normal(size=(40, 8))
    assert align(a.T, b.T, layout="dt").a_to_b == align(a, b).a_to_b
    with pytest.raises(InputError, match="layout must be one of"):
        align(a, b, layout="tdd")


def test_an_unknown_option_is_one_line_naming_the_valid_ones(tiny_folder):
    """``va.align(..., foo=1)`` raised a TypeError naming ``Aligner.__init__``."""
    import vidalign as va

    a, b = np.zeros((5, 4)), np.ones((6, 4))
    with pytest.raises(InputError, match=r"va.align: unknown option key 'bnad' \(did you mean 'band'\?\); valid keys"):
        align(a, b, bnad=3)
    with pytest.raises(InputError, match="va.compare: unknown option key 'x'"):
        va.compare(a, b, x=1)
    with pytest.raises(InputError, match=r"va.evaluate: unknown option key 'protocl' \(did you mean 'protocol'\?\)"):
        va.evaluate(tiny_folder, "none", protocl="tcc")
