"""Plots and the side-by-side video: files are written, readable, and show what they should."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from vidalign.data.video import SampledFrames, probe, read_frames
from vidalign.similarity import preview_of
from vidalign.viz import plot_alignment, plot_timelines, write_side_by_side


def _assert_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100
        image.load()


def test_plot_alignment_writes_png(tmp_path):
    sim = torch.rand(30, 45, dtype=torch.float64)  # tensors accepted as well as arrays
    pairs = [(i, i + 5) for i in range(3, 20)] + [(0, 40), (1, 41)]  # two local alignments
    out = plot_alignment(sim, pairs, tmp_path / "a.png", title="t", matched_a=[(3, 19)], matched_b=[(8, 24)])
    _assert_png(out)
    _assert_png(plot_alignment(np.eye(5), np.empty((0, 2)), tmp_path / "empty.png"))
    with pytest.raises(ValueError, match=r"\[N, M\]"):
        plot_alignment(np.zeros(5), [], tmp_path / "bad.png")


def test_plot_alignment_draws_a_long_matrix_from_its_block_means(tmp_path):
    """A matrix of more than 1,024 frames a side is drawn from its preview, over the frames' coordinates: the same
    picture as from the preview itself."""
    rows, cols = np.meshgrid(np.arange(1500), np.arange(1100), indexing="ij")
    sim = np.cos((rows - cols * 1500 / 1100) / 200.0)
    pairs = np.stack([np.arange(1500), np.arange(1500) * 1100 // 1500], 1)
    whole = plot_alignment(sim, pairs, tmp_path / "whole.png")
    preview = plot_alignment(preview_of(sim), pairs, tmp_path / "preview.png")
    _assert_png(whole)
    with Image.open(whole) as first, Image.open(preview) as second:
        assert np.array_equal(np.asarray(first), np.asarray(second))


def test_plot_timelines_writes_png(tmp_path):
    predicted = {"v1": [0] * 10 + [1] * 15 + [-1] * 3, "v2": np.array([2] * 8 + [0] * 12)}
    truth = {"v1": [0] * 12 + [1] * 16}
    _assert_png(plot_timelines(predicted, ["pour", "stir", "wait"], tmp_path / "t.png", ground_truth=truth))
    _assert_png(plot_timelines({"v": [0, 0, 25, 25]}, None, tmp_path / "many.png"))  # more classes than names


def _solid(colour, height, width):
    return np.broadcast_to(np.array(colour, np.uint8), (height, width, 3)).copy()


def test_side_by_side_frames_sizes_and_placeholders(tmp_path):
    colours_a = [(40 + 20 * i, 30, 30) for i in range(7)]
    colours_b = [(30, 40 + 30 * j, 200) for j in range(5)]
    frames_b = np.stack([_solid(c, 60, 40) for c in colours_b])  # taller than A: resized to A's height
    a_to_b = [0, 1, -1, 2, None, 4, 4]
    out = write_side_by_side(
        (_solid(c, 48, 64) for c in colours_a),
        frames_b,
        a_to_b,
        tmp_path / "sbs.mp4",
        fps=10,
        labels=("x", "y"),
    )
    info = probe(out)
    assert (info.n_frames, info.height, info.width) == (7, 48, 64 + 4 + 32)  # 40 * 48 / 60 = 32
    frames, timestamps, _ = read_frames(out)
    np.testing.assert_allclose(timestamps, np.arange(7) / 10)
    for i, j in enumerate(a_to_b):
        left = frames[i, 30:, 8:56].reshape(-1, 3).mean(axis=0)  # below the drawn frame number
        right = frames[i, 38:, 72:96].reshape(-1, 3).mean(axis=0)  # below the "unmatched" text
        np.testing.assert_allclose(left, colours_a[i], atol=8)
        expected_right = (96, 96, 96) if j is None or j < 0 else colours_b[j]
        np.testing.assert_allclose(right, expected_right, atol=8)
        assert np.abs(frames[i, 20:, 64:68].astype(int)).mean() < 20  # dark separator


def test_side_by_side_streams_b_from_a_video_file(tmp_path, make_video, code):
    path_b = make_video("b.mp4", "libx264", n_frames=12)
    a_to_b = [11, 10, 3, 2, 1, 0]  # backwards through B: the lookup restarts decoding
    out = write_side_by_side(
        (code.frame(i) for i in range(6)), SampledFrames(path_b, window=2), a_to_b, tmp_path / "s.mp4", fps=5
    )
    frames = read_frames(out)[0]
    assert len(frames) == 6
    assert [code.index(frame[24:, 68:]) for frame in frames] == a_to_b  # below the label


def test_side_by_side_length_mismatch(tmp_path):
    with pytest.raises(ValueError):
        write_side_by_side([_solid((0, 0, 0), 8, 8)] * 3, [_solid((0, 0, 0), 8, 8)], [0, 0], tmp_path / "x.mp4", 5)


def test_dollar_signs_in_names_are_drawn_as_written(tmp_path):
    """A file name like ``x $^^$ y.mp4`` was parsed as mathtext: a ParseSyntaxException, and no plot."""
    import matplotlib

    from vidalign.viz import contact_sheet, plot_retrieval

    name = "x $^^$ y"
    sim = np.random.default_rng(0).random((12, 9))
    plot_alignment(sim, [(i, min(i, 8)) for i in range(12)], tmp_path / "a.png", a_label=name, b_label=name,
                   title=f"{name}.mp4")  # fmt: skip
    plot_retrieval({name: np.linspace(0, 1, 9)}, {name: [3]}, tmp_path / "r.png", title=name)
    frame = np.zeros((8, 8, 3), np.uint8)
    contact_sheet([(name, [frame], [f"{name} #1"])], tmp_path / "c.png", title=name)
    assert all(Image.open(tmp_path / f"{p}.png").size > (10, 10) for p in "arc")
    assert matplotlib.rcParams["text.parse_math"]  # the caller's setting is left as it was
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was a "Glyph ... missing from font" warning per character
        plot_retrieval({"日本語": np.linspace(0, 1, 9)}, {"日本語": [3]}, tmp_path / "j.png", title="日本語")
