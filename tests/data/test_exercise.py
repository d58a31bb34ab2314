"""The synthetic exercise clips (:mod:`vidalign.data.exercise`): seeding, repetition markers, splits."""

import numpy as np
import pytest

from vidalign.data.exercise import ExerciseConfig, generate_exercise, write_exercise_dataset
from vidalign.data.layout import FeatureFolder
from vidalign.errors import ConfigError


def test_no_clip_shares_the_process_stream(monkeypatch):
    """Clip 0 once drew from ``default_rng([seed, 0])``, the process's own stream (a trailing 0 adds no entropy),
    so its durations and appearance were entries of the factor loading every clip uses."""
    make, states = np.random.default_rng, []

    def recording_rng(seed=None):
        rng = make(seed)
        states.append(rng.bit_generator.state["state"]["state"])
        return rng

    monkeypatch.setattr(np.random, "default_rng", recording_rng)
    generate_exercise(ExerciseConfig(n_videos=4, seed=3))
    assert len(states) == 5 and len(set(states)) == 5  # the process and four clips, all different


def test_clip_v_does_not_depend_on_the_number_of_clips():
    few, many = generate_exercise(ExerciseConfig(n_videos=3)), generate_exercise(ExerciseConfig(n_videos=6))
    for a, b in zip(few, many[:3], strict=True):
        np.testing.assert_array_equal(a.features, b.features)


def test_a_frame_on_a_repetition_boundary_starts_the_next_repetition():
    """Four equal repetitions of 22.5 frames: the centres of frames 22 and 67 lie on boundaries."""
    config = ExerciseConfig(n_videos=3, tempo_jitter=0.0, frames=(90, 90), rest=(0, 0), reps=(4, 4))
    for clip in generate_exercise(config):
        assert clip.psi.min() >= 0 and clip.psi.max() < 1
        assert (clip.rep[22], clip.psi[22]) == (1, 0.0) and (clip.rep[67], clip.psi[67]) == (3, 0.0)
        assert clip.labels[22] == "top"


@pytest.mark.parametrize("jitter", [0.25, 1.0, 2.0])
def test_every_repetition_has_at_least_four_frames(jitter):
    """At the configuration check's edge (8 repetitions in 32 frames) and with a wild tempo."""
    config = ExerciseConfig(n_videos=20, frames=(32, 40), rest=(0, 0), reps=(8, 8), tempo_jitter=jitter)
    for clip in generate_exercise(config):
        counts = np.bincount(clip.rep[clip.rep >= 0], minlength=clip.n_reps)
        assert len(counts) == clip.n_reps and counts.min() >= 4


def test_durations_are_kept_where_no_repetition_is_short():
    """The blend toward equal durations touches only clips that need it: at the defaults the repetitions keep
    their jittered lengths (no clip has all repetitions within a frame of each other)."""
    for clip in generate_exercise(ExerciseConfig(n_videos=10, reps=(3, 3), frames=(150, 150), rest=(0, 0))):
        counts = np.bincount(clip.rep)
        assert counts.max() - counts.min() > 1


@pytest.mark.parametrize(
    "options",
    [
        {"n_videos": 2},
        {"val_fraction": 1.0},
        {"val_fraction": -0.1},
        {"n_videos": 4, "val_fraction": 0.9},
        {"val_fraction": float("inf")},
        {"val_fraction": float("nan")},
    ],
)
def test_a_configuration_without_training_clips_is_refused(options):
    with pytest.raises(ConfigError, match="val"):
        ExerciseConfig(**options)


def test_the_splits_leave_training_clips(tmp_path):
    folder = FeatureFolder(write_exercise_dataset(tmp_path / "three", ExerciseConfig(n_videos=3)))
    train, val = folder.video_ids("train"), folder.video_ids("val")
    assert len(train) == 1 and len(val) == 2 and not set(train) & set(val)
