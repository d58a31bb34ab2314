"""Synthetic process generator: determinism, ground truth, configured structure, correspondence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vidalign.data.layout import FeatureFolder
from vidalign.data.synthetic import (
    SyntheticConfig,
    class_names,
    generate_videos,
    ground_truth_correspondence,
    write_synthetic_dataset,
)

SMALL = {"n_videos": 6, "min_frames": 40, "max_frames": 70}


def runs(values: np.ndarray) -> list[int]:
    """Values of consecutive runs, e.g. [0, 0, 1, 1, 0] -> [0, 1, 0]."""
    return [int(v) for v, _ in itertools.groupby(values.tolist())]


def folder_bytes(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_different_seeds_differ(tmp_path):
    config = SyntheticConfig(**SMALL, background=(1, 3), seed=3)
    first = folder_bytes(write_synthetic_dataset(tmp_path / "a", config))
    second = folder_bytes(write_synthetic_dataset(tmp_path / "b", SyntheticConfig(**SMALL, background=(1, 3), seed=3)))
    assert first == second
    other = generate_videos(SyntheticConfig(**SMALL, background=(1, 3), seed=4))
    same = generate_videos(config)
    assert all(not np.array_equal(a.features, b.features) for a, b in zip(same, other, strict=True))


def test_video_does_not_depend_on_n_videos():
    few = generate_videos(SyntheticConfig(**(SMALL | {"n_videos": 2})))
    many = generate_videos(SyntheticConfig(**SMALL))
    for a, b in zip(few, many, strict=False):
        assert a.video_id == b.video_id
        np.testing.assert_array_equal(a.features, b.features)


@pytest.mark.parametrize(
    "config",
    [
        SyntheticConfig(**SMALL),
        SyntheticConfig(**SMALL, background=(2, 5), p_missing_phase=0.3, p_repeated_phase=0.3, seed=1),
    ],
    ids=["default", "background-missing-repeated"],
)
def test_ground_truth_fields_are_consistent(config):
    for video in generate_videos(config):
        n_frames = len(video.features)
        assert config.min_frames <= n_frames <= config.max_frames
        assert video.features.shape == (n_frames, config.dim) and video.features.dtype == np.float32
        assert video.latent.shape == (n_frames, config.latent_dim)
        assert video.drift.shape == (n_frames, config.dim - config.latent_dim)
        assert video.labels.dtype == np.int64 and video.appearance.shape == (config.n_appearance,)
        assert np.all((video.appearance >= 0) & (video.appearance <= 1))
        background = video.phase == -1
        np.testing.assert_array_equal(video.labels, np.where(background, config.n_phases, video.phase))
        assert np.isnan(video.progress[background]).all() and np.isnan(video.canonical_time[background]).all()
        progress = video.progress[~background]
        assert np.all((progress > 0) & (progress < 1))
        np.testing.assert_allclose(video.canonical_time[~background], video.phase[~background] + progress)
        assert runs(video.phase[~background]) == runs(np.array(video.phase_sequence))
        for k, group in itertools.groupby(range(n_frames), key=lambda t: int(video.phase[t])):
            frames = list(group)
            if k >= 0:  # a repeated phase is one run whose progress restarts once per repetition
                repetitions = video.phase_sequence.count(k)
                assert len(frames) >= 2 * repetitions
                assert np.sum(np.diff(video.progress[frames]) <= 0) == repetitions - 1


def test_phases_in_order_without_options():
    config = SyntheticConfig(**SMALL)
    for video in generate_videos(config):
        assert video.phase_sequence == tuple(range(config.n_phases))
        assert np.all(np.diff(video.canonical_time) > 0)
        assert -1 not in video.phase
    assert class_names(config) == [f"phase_{k}" for k in range(config.n_phases)]


def test_background_frames_at_both_ends():
    config = SyntheticConfig(**SMALL, background=(2, 5))
    assert class_names(config)[-1] == "background"
    for video in generate_videos(config):
        head = np.argmax(video.phase >= 0)
        tail = np.argmax(video.phase[::-1] >= 0)
        assert 2 <= head <= 5 and 2 <= tail <= 5
        assert np.all(video.phase[head : len(video.phase) - tail] >= 0)
        assert np.all(video.labels[:head] == config.n_phases)


def test_missing_phases_as_configured():
    sometimes = generate_videos(SyntheticConfig(**(SMALL | {"n_videos": 12}), p_missing_phase=0.4, seed=2))
    lengths = [len(v.phase_sequence) for v in sometimes]
    assert min(lengths) >= 1 and min(lengths) < 5
    assert all(list(v.phase_sequence) == sorted(set(v.phase_sequence)) for v in sometimes)
    always = generate_videos(SyntheticConfig(**SMALL, p_missing_phase=1.0))
    assert all(len(v.phase_sequence) == 1 for v in always)


def test_repeated_phases_as_configured():
    config = SyntheticConfig(**SMALL, p_repeated_phase=1.0)
    for video in generate_videos(config):
        assert video.phase_sequence == tuple(k for k in range(config.n_phases) for _ in range(2))
        assert np.sum(np.diff(video.canonical_time) < 0) == config.n_phases  # a jump back per repeat


def _brute_force_correspondence(a, b) -> np.ndarray:
    """Distance |canonical_a - canonical_b| of the best same-phase frame of b, NaN where there is none."""
    best = np.full(len(a.phase), np.nan)
    for i in range(len(a.phase)):
        if a.phase[i] < 0:
            continue
        same = [j for j in range(len(b.phase)) if b.phase[j] == a.phase[i]]
        if same:
            best[i] = min(abs(a.canonical_time[i] - b.canonical_time[j]) for j in same)
    return best


def test_correspondence_matches_brute_force():
    config = SyntheticConfig(**SMALL, background=(1, 4), p_missing_phase=0.3, p_repeated_phase=0.3, seed=5)
    videos = generate_videos(config)
    for a, b in itertools.permutations(videos[:4], 2):
        match = ground_truth_correspondence(a, b)
        expected = _brute_force_correspondence(a, b)
        np.testing.assert_array_equal(match == -1, np.isnan(expected))
        matched = match >= 0
        np.testing.assert_array_equal(b.phase[match[matched]], a.phase[matched])
        np.testing.assert_allclose(np.abs(a.canonical_time - b.canonical_time[match])[matched], expected[matched])
        missing_in_b = ~np.isin(a.phase, b.phase)
        assert np.all(match[(a.phase < 0) | missing_in_b] == -1)


def test_correspondence_monotone_within_shared_phases_and_identity_on_itself():
    videos = generate_videos(SyntheticConfig(**SMALL, background=(1, 3)))
    for a, b in itertools.permutations(videos[:3], 2):
        match = ground_truth_correspondence(a, b)
        phase_frames = match >= 0
        assert np.all(np.diff(match[phase_frames]) >= 0)
        assert np.all(match[~phase_frames] == -1) and np.all(a.phase[~phase_frames] == -1)
    a = videos[0]
    match = ground_truth_correspondence(a, a)
    np.testing.assert_array_equal(match[a.phase >= 0], np.flatnonzero(a.phase >= 0))


def _nearest_neighbour_phase_agreement(videos, embed) -> float:
    scores = []
    for a, b in itertools.permutations(videos, 2):
        za, zb = embed(a), embed(b)
        nearest = ((za[:, None, :] - zb[None, :, :]) ** 2).sum(-1).argmin(axis=1)
        scores.append(np.mean(a.labels == b.labels[nearest]))
    return float(np.mean(scores))


def test_learning_matters_raw_features_align_only_moderately():
    """Raw nearest neighbours often land in the wrong phase; a linear map to the phase state, fitted on other
    videos (what a learned embedding can do), aligns almost perfectly."""
    videos = generate_videos(SyntheticConfig(seed=0))
    train, held_out = videos[:16], videos[16:22]
    design = np.concatenate([np.c_[v.features, np.ones(len(v.features))] for v in train])
    weights, *_ = np.linalg.lstsq(design, np.concatenate([v.latent for v in train]), rcond=None)
    raw = _nearest_neighbour_phase_agreement(held_out, lambda v: v.features)
    probe = _nearest_neighbour_phase_agreement(
        held_out, lambda v: np.c_[v.features, np.ones(len(v.features))] @ weights
    )
    assert raw < 0.6
    assert probe > 0.85


def test_written_dataset_reads_back(tmp_path):
    config = SyntheticConfig(**(SMALL | {"n_videos": 10}), background=(1, 2))
    root = write_synthetic_dataset(tmp_path / "synthetic", config)
    folder = FeatureFolder(root)
    assert folder.class_names == class_names(config) and folder.mapping_source == "file"
    splits = {name: folder.video_ids(name) for name in ("train", "val", "test")}
    assert [len(splits[name]) for name in ("train", "val", "test")] == [6, 2, 2]
    assert sorted(sum(splits.values(), [])) == folder.video_ids()
    videos = {v.video_id: v for v in generate_videos(config)}
    for record in folder.load_split():
        video = videos[record.video_id]
        np.testing.assert_array_equal(record.features, video.features)
        np.testing.assert_array_equal(record.labels, video.labels)
        times = np.array([np.nan if t is None else t for t in record.meta["canonical_time"]])
        np.testing.assert_allclose(times, video.canonical_time, atol=1e-6)
        assert record.meta["config"]["seed"] == config.seed
    with pytest.raises(FileExistsError):
        write_synthetic_dataset(root, config)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_videos": 0},
        {"latent_dim": 40},
        {"min_frames": 80, "max_frames": 70},
        {"min_frames": 19, "max_frames": 70},
        {"background": (3, 2)},
        {"p_missing_phase": 1.5},
        {"noise": -0.1},
    ],
)
def test_invalid_config(kwargs):
    with pytest.raises(ValueError, match="invalid SyntheticConfig"):
        SyntheticConfig(**kwargs)
