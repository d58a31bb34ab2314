"""Synthetic videos rendered to real files: determinism, frame count and timing, labels, and that the frames
carry the phase state (DTW on pixel features recovers the ground-truth correspondence)."""

from __future__ import annotations

import dataclasses
import json

import av
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from vidalign.data.layout import read_mapping
from vidalign.data.render import iter_rendered_frames, pose, render_dataset, render_video
from vidalign.data.synthetic import (
    SyntheticConfig,
    class_names,
    generate_videos,
    ground_truth_correspondence,
    write_synthetic_dataset,
)
from vidalign.data.video import _encoder_available, probe, read_frames
from vidalign.errors import ConfigError
from vidalign.ops.dtw import dtw


def test_rendering_is_deterministic_and_depends_on_appearance(tiny, tmp_path):
    size, fps = tiny.size, tiny.fps
    video = generate_videos(tiny.config)[0]
    first = np.stack(list(iter_rendered_frames(video, size=size)))
    assert first.shape == (len(video.phase), size, size, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, np.stack(list(iter_rendered_frames(video, size=size))))
    recoloured = dataclasses.replace(video, appearance=1.0 - video.appearance)
    assert not np.array_equal(first, np.stack(list(iter_rendered_frames(recoloured, size=size))))
    # x264 does not give the same bitstream every time (other encodes in the process, both cores busy), and with
    # lossy encoding one differing packet changes every later frame of its group: the renders are lossless, so
    # every encode decodes to the rendered frames themselves, after the yuv420p conversion
    names = ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    encodes = [render_video(video, tmp_path / name, size=2 * size, fps=fps) for name in names]
    rendered = np.stack(list(iter_rendered_frames(video, size=2 * size)))
    in_yuv420p = np.stack([_yuv420p_round_trip(frame) for frame in rendered])
    for path in encodes:
        decoded = read_frames(path)[0]
        if _encoder_available("libx264"):
            np.testing.assert_array_equal(decoded, in_yuv420p)
        else:  # the lossy mpeg4 fallback
            assert np.abs(decoded.astype(float) - in_yuv420p).mean() < 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary files left


def _yuv420p_round_trip(frame: np.ndarray) -> np.ndarray:
    """What a lossless yuv420p encoding of an RGB frame decodes to."""
    return av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p").to_ndarray(format="rgb24")


def test_frame_count_timing_and_content_survive_encoding(tiny, tmp_path):
    size, fps = tiny.size, tiny.fps
    video = generate_videos(tiny.config)[1]
    frames = np.stack(list(iter_rendered_frames(video, size=size)))
    path = render_video(video, tmp_path / "clip.mkv", size=size, fps=fps)
    info = probe(path)
    decoded, timestamps, source = read_frames(path)
    assert (info.width, info.height, info.fps) == (size, size, fps)
    assert len(decoded) == len(video.phase)
    np.testing.assert_allclose(timestamps, np.arange(len(video.phase)) / fps, atol=1e-6)
    assert source.tolist() == list(range(len(video.phase)))
    assert np.abs(decoded.astype(float) - frames).mean() < 8  # lossy H.264, same picture


def test_background_frames_show_the_rest_pose(tiny):
    videos = generate_videos(tiny.config)
    rest = [pose(v.latent[v.phase < 0]) for v in videos]
    moving = pose(videos[0].latent[videos[0].phase >= 0])
    np.testing.assert_allclose(np.concatenate(rest), np.broadcast_to(rest[0][0], (sum(map(len, rest)), 8)))
    assert np.abs(moving - rest[0][0]).max(axis=1).min() > 0.01


def test_render_dataset_writes_labels_truth_and_the_synthetic_splits(tiny, rendered, tmp_path):
    config = tiny.config
    videos = generate_videos(config)
    names = class_names(config)
    assert read_mapping(rendered / "mapping" / "mapping.txt") == names
    for video in videos:
        labels = (rendered / "groundTruth" / f"{video.video_id}.txt").read_text().splitlines()
        assert labels == [names[c] for c in video.labels]
        truth = json.loads((rendered / "truth" / f"{video.video_id}.json").read_text())
        assert truth["phase"] == video.phase.tolist() and (truth["fps"], truth["size"]) == (tiny.fps, tiny.size)
        expected = [None if np.isnan(t) else pytest.approx(t, abs=1e-6) for t in video.canonical_time]
        assert truth["canonical_time"] == expected
        assert probe(rendered / "videos" / f"{video.video_id}.mp4").n_frames == len(video.phase)
    features_folder = write_synthetic_dataset(tmp_path / "features", config)
    for split in ("train", "val", "test"):
        assert (rendered / "splits" / f"{split}.txt").read_text() == (
            features_folder / "splits" / f"{split}.txt"
        ).read_text()
    with pytest.raises(ConfigError, match="fps: 10.0 held, 12.0 asked"):
        render_dataset(config, rendered, size=tiny.size)
    unrecorded = tmp_path / "unrecorded"
    (unrecorded / "videos").mkdir(parents=True)
    (unrecorded / "videos" / "other.mp4").write_bytes(b"")
    with pytest.raises(FileExistsError, match="already holds videos"):
        render_dataset(config, unrecorded)


def test_an_interrupted_render_resumes_where_it_stopped(tiny, monkeypatch, tmp_path):
    """The demo's first step: a render killed after its first video is finished by a rerun of the same call,
    which keeps the finished video and writes the rest."""
    import vidalign.data.render as render_module

    calls = []

    def render_once(video, path, **options):
        if calls:
            raise KeyboardInterrupt
        calls.append(video.video_id)
        return render_video(video, path, **options)

    monkeypatch.setattr(render_module, "render_video", render_once)
    out = tmp_path / "raw"
    with pytest.raises(KeyboardInterrupt):
        render_dataset(tiny.config, out, size=tiny.size, fps=tiny.fps)
    first = out / "videos" / f"{calls[0]}.mp4"
    assert [p.name for p in (out / "videos").iterdir()] == [first.name] and not (out / "splits").exists()
    kept = first.stat().st_mtime_ns
    monkeypatch.setattr(render_module, "render_video", render_video)
    render_dataset(tiny.config, out, size=tiny.size, fps=tiny.fps)
    assert first.stat().st_mtime_ns == kept
    for video in generate_videos(tiny.config):
        assert probe(out / "videos" / f"{video.video_id}.mp4").n_frames == len(video.phase)
    assert sorted(p.name for p in (out / "splits").iterdir()) == ["test.txt", "train.txt", "val.txt"]


def test_pose_alone_lets_dtw_on_pixel_features_recover_the_correspondence():
    """Two videos rendered with the same appearance and no drift differ only by the phase state, so DTW on the
    raw pixel features must follow the ground truth within about a frame (the time warps differ a lot)."""
    from vidalign.models.backbones import build_backbone

    a, b = generate_videos(SyntheticConfig(n_videos=2, min_frames=50, max_frames=70, seed=2))
    a = dataclasses.replace(a, drift=np.zeros_like(a.drift))
    b = dataclasses.replace(b, appearance=a.appearance, drift=np.zeros_like(b.drift))
    pixel = build_backbone("pixel")
    fa, fb = (pixel.embed(np.stack(list(iter_rendered_frames(v, size=64)))) for v in (a, b))
    path = dtw(cdist(fa, fb)).path
    truth = ground_truth_correspondence(a, b)
    errors = [abs(np.median(path[path[:, 0] == i, 1]) - truth[i]) for i in np.flatnonzero(truth >= 0)]
    uniform = np.arange(len(a.phase)) * (len(b.phase) - 1) / (len(a.phase) - 1)
    uniform_error = np.abs(uniform - truth)[truth >= 0].mean()
    assert np.mean(errors) < 1.5 and np.mean(errors) < uniform_error / 3
