"""Fixtures of the extraction tests: a tiny rendered synthetic dataset (3 videos of 16-24 frames, 32x32, 10 fps)
and a reference feature folder extracted from it with the ``pixel`` backbone."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from vidalign.data.render import render_dataset
from vidalign.data.synthetic import SyntheticConfig
from vidalign.extraction import extract_videos

TINY = SyntheticConfig(n_videos=3, n_phases=2, min_frames=16, max_frames=24, background=(1, 2), seed=5)
SIZE, FPS = 32, 10.0


@pytest.fixture(scope="session")
def tiny():
    """``tiny.config``, ``tiny.size``, ``tiny.fps``: what :func:`rendered` renders."""
    return SimpleNamespace(config=TINY, size=SIZE, fps=FPS)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """The label folder written by ``render_dataset(TINY)``: ``videos/``, ``groundTruth/``, ``truth/``, ..."""
    return render_dataset(TINY, tmp_path_factory.mktemp("render") / "raw", size=SIZE, fps=FPS)


@pytest.fixture(scope="session")
def reference(rendered, tmp_path_factory):
    """A complete, uninterrupted pixel extraction of the rendered videos (compare resumed runs with it)."""
    out = tmp_path_factory.mktemp("reference") / "data"
    extract_videos([rendered / "videos"], out, backbone="pixel", progress=False)
    return out


@pytest.fixture
def videos_copy(rendered, tmp_path):
    """A private copy of the rendered videos folder (tests add broken files to it)."""
    return shutil.copytree(rendered / "videos", tmp_path / "videos")
