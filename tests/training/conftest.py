from __future__ import annotations

import pytest

from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small synthetic feature folder (8 videos of 30-45 frames, 16-d, 3 phases) shared by training tests."""
    root = tmp_path_factory.mktemp("data") / "tiny"
    config = SyntheticConfig(n_videos=8, n_phases=3, dim=16, latent_dim=4, min_frames=30, max_frames=45, seed=1)
    return write_synthetic_dataset(root, config)
