"""Decoding, sampling, error policy and encoding of vidalign.data.video against videos built with PyAV."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest

from vidalign.cli import main
from vidalign.data import video
from vidalign.data.video import (
    PartialDecodeWarning,
    SampledFrames,
    ToneMappingWarning,
    VideoError,
    iter_frames,
    probe,
    read_frames,
)

CONTAINERS = [("clip.mp4", "libx264", "h264"), ("clip.avi", "mpeg4", "mpeg4"), ("clip.avi", "mjpeg", "mjpeg")]
CONTAINERS += [("clip.mkv", "libx264", "h264")]


def brute_force_nearest(timestamps: np.ndarray, target_fps: float) -> list[int]:
    """For every grid point t0 + m / f up to half the last frame interval after the last timestamp, the nearest
    frame (first one on ties)."""
    end = timestamps[-1] + (timestamps[-1] - timestamps[-2]) / 2 if len(timestamps) > 1 else timestamps[-1]
    grid = timestamps[0] + np.arange(0, int((end - timestamps[0]) * target_fps + 1e-6) + 1) / target_fps
    return sorted({int(np.argmin(np.abs(timestamps - g) - 1e-9 * (timestamps <= g))) for g in grid})


@pytest.mark.parametrize(("name", "codec", "decoded_codec"), CONTAINERS)
def test_read_all_frames_in_order_with_timestamps(make_video, code, name, codec, decoded_codec):
    path = make_video(name, codec, n_frames=24, fps=24)
    frames, timestamps, source = read_frames(path)
    assert frames.shape == (24, *code.shape) and frames.dtype == np.uint8
    assert [code.index(image) for image in frames] == list(range(24))
    np.testing.assert_array_equal(source, np.arange(24))
    np.testing.assert_allclose(timestamps, np.arange(24) / 24, atol=1e-3)  # mkv keeps milliseconds
    info = probe(path)
    assert (info.width, info.height, info.codec, info.fps) == (
        code.shape[1],
        code.shape[0],
        decoded_codec,
        24.0,
    )
    assert info.n_frames in (24, None)  # Matroska does not store a frame count
    assert info.duration == pytest.approx(1.0, abs=0.05)


def test_stride_keeps_every_kth_source_frame(make_video, code):
    path = make_video("clip.mp4", "libx264", n_frames=24, fps=24)
    frames = list(iter_frames(path, stride=5))
    assert [f.source_index for f in frames] == [0, 5, 10, 15, 20]
    assert [f.index for f in frames] == list(range(5))
    assert [code.index(f.image) for f in frames] == [0, 5, 10, 15, 20]
    np.testing.assert_allclose([f.timestamp for f in frames], np.array([0, 5, 10, 15, 20]) / 24, atol=1e-9)


@pytest.mark.parametrize("target_fps", [5, 7.5, 10, 16, 24, 30, 60])
def test_target_fps_picks_nearest_frames_and_never_upsamples(make_video, target_fps):
    path = make_video("clip.mp4", "libx264", n_frames=24, fps=24)
    _, all_timestamps, _ = read_frames(path)
    _, timestamps, source = read_frames(path, target_fps=target_fps)
    assert source.tolist() == brute_force_nearest(all_timestamps, target_fps)
    np.testing.assert_array_equal(timestamps, all_timestamps[source])
    if target_fps >= 24:
        assert source.tolist() == list(range(24))


def test_a_rate_far_above_the_videos_gives_every_frame_at_once_and_an_infinite_one_is_refused(make_video):
    """``--fps 1e9`` walked a billion grid points a second of video (it never finished); ``inf`` too."""
    path = make_video("clip.mp4", "libx264", n_frames=24, fps=24)
    _, _, source = read_frames(path, target_fps=1e9)
    assert source.tolist() == list(range(24))
    with pytest.raises(ValueError, match="finite"):
        read_frames(path, target_fps=float("inf"))


@pytest.mark.parametrize("target_fps", [4, 10, 12, 25])
def test_target_fps_on_variable_frame_rate_uses_real_timestamps(make_video, code, target_fps):
    pts_ms = [0, 30, 70, 100, 180, 200, 260, 300, 390, 400, 480, 610]
    path = make_video("vfr.mkv", "libx264", n_frames=len(pts_ms), pts_ms=pts_ms)
    frames, timestamps, source = read_frames(path, target_fps=target_fps)
    assert source.tolist() == brute_force_nearest(np.array(pts_ms) / 1000, target_fps)
    np.testing.assert_allclose(timestamps, np.array(pts_ms)[source] / 1000)
    assert [code.index(image) for image in frames] == source.tolist()


def test_max_frames_stops_early(make_video):
    path = make_video("clip.avi", "mpeg4", n_frames=24)
    assert read_frames(path, max_frames=4)[2].tolist() == [0, 1, 2, 3]
    assert read_frames(path, stride=3, max_frames=2)[2].tolist() == [0, 3]


def test_sampling_arguments_are_validated(make_video):
    path = make_video("clip.avi", "mpeg4", n_frames=4)
    for kwargs in ({"stride": 2, "target_fps": 5}, {"stride": 0}, {"target_fps": -1}, {"max_frames": 0}):
        with pytest.raises(ValueError):
            read_frames(path, **kwargs)


def _assert_one_line_error(path, match):
    with pytest.raises(VideoError, match=match) as caught:
        read_frames(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert isinstance(caught.value, ValueError)


def test_missing_file(tmp_path):
    _assert_one_line_error(tmp_path / "nope.mp4", "file not found")
    with pytest.raises(VideoError, match="file not found"):
        probe(tmp_path / "nope.mp4")


def test_a_still_image_is_not_a_video(tmp_path):
    """FFmpeg opens a PNG as a one-frame video: align embedded it, then said '1 sampled frame(s)'."""
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "frame.png")
    _assert_one_line_error(tmp_path / "frame.png", "a still image, not a video")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "frame.jpg")
    _assert_one_line_error(tmp_path / "frame.jpg", "a still image, not a video")
    frames = [Image.fromarray(np.full((16, 16, 3), 20 * k, np.uint8)) for k in range(6)]
    frames[0].save(tmp_path / "animated.png", save_all=True, append_images=frames[1:], duration=100)
    assert len(read_frames(tmp_path / "animated.png")[0]) == 6  # an animated PNG is a recording


def test_random_bytes_and_empty_file(tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    _assert_one_line_error(noise, "cannot open")
    _assert_one_line_error(empty, "cannot open")


def test_mp4_truncated_to_half_is_an_error(make_video):
    path = make_video("clip.mp4", "libx264", n_frames=24)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # the moov index at the end is lost
    _assert_one_line_error(path, "cannot open")


def test_truncated_avi_returns_decoded_frames_with_a_warning(make_video, code):
    path = make_video("clip.avi", "mjpeg", n_frames=24)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.warns(PartialDecodeWarning, match="clip.avi") as caught:
        frames, _, source = read_frames(path)
    assert 0 < len(frames) < 24 and "\n" not in str(caught[0].message)
    assert [code.index(image) for image in frames] == source.tolist() == list(range(len(frames)))


def test_zero_frame_file(tmp_path):
    path = tmp_path / "zero.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height = 64, 48
        container.start_encoding()
    _assert_one_line_error(path, "no decodable video frames")


def test_audio_only_file(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    _assert_one_line_error(path, "no video stream")
    with pytest.raises(VideoError, match="no video stream"):
        probe(path)


def test_sampled_frames_random_access(make_video, code):
    path = make_video("clip.mkv", "libx264", n_frames=20)
    lookup = SampledFrames(path, stride=2, window=3)
    for index in [0, 1, 4, 3, 9, 2, 9, 0]:  # forward, inside the window, and back past it
        assert code.index(lookup[index]) == 2 * index
    with pytest.raises(IndexError):
        lookup[10]


def _stored_landscape(path, degrees: int, hflip: bool) -> np.ndarray:
    """Write 3 frames of a 32 x 64 (landscape) image with one white corner block under a display matrix that
    rotates it ``degrees`` counter-clockwise and then mirrors it (PyAV's documented meaning, as a phone writes
    a portrait recording); returns the stored image."""
    image = np.zeros((32, 64, 3), np.uint8)
    image[:8, :16] = 255
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv444p"
        stream.set_display_rotation(degrees, hflip=hflip)
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return image


@pytest.mark.parametrize(("transfer", "name"), [(18, "HLG"), (16, "PQ")])
def test_an_hdr_video_warns_that_it_is_decoded_without_tone_mapping(tmp_path, transfer, name, tagged_video):
    tagged_video(tmp_path / "hdr.mp4", transfer)
    with pytest.warns(
        ToneMappingWarning, match=f"an HDR video \\({name}\\), decoded without tone mapping.*zscale"
    ) as caught:
        frames, _, _ = read_frames(tmp_path / "hdr.mp4")
    assert len(frames) == 3 and len(caught) == 1  # once per video, not per frame
    tagged_video(tmp_path / "sdr.mp4", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_frames(tmp_path / "sdr.mp4")


def test_extraction_prints_and_records_the_hdr_warning(tmp_path, capsys, tagged_video):
    tagged_video(tmp_path / "hdr.mp4", 18)
    assert main(["extract", str(tmp_path / "hdr.mp4"), "--backbone", "pixel", "--out", str(tmp_path / "f")]) == 0
    assert "warning: " in capsys.readouterr().out  # the summary's line for the video
    (message,) = json.loads((tmp_path / "f" / "meta" / "hdr.json").read_text())["decode_warnings"]
    assert "an HDR video (HLG)" in message


def test_align_says_each_warning_once_though_it_decodes_a_video_three_times(tmp_path, capsys, tagged_video):
    """Embedding, the side-by-side video and the page each decode the two videos: the HDR warning was printed
    three times a video."""
    tagged_video(tmp_path / "a.mp4", 18)
    tagged_video(tmp_path / "b.mp4", 16)
    main(
        [
            "align",
            str(tmp_path / "a.mp4"),
            str(tmp_path / "b.mp4"),
            "--backbone",
            "pixel",
            "--out",
            str(tmp_path / "al"),
        ]
    )
    err = capsys.readouterr().err
    assert (tmp_path / "al" / "side_by_side.mp4").exists()
    assert err.count("a.mp4: an HDR video (HLG)") == 1 and err.count("b.mp4: an HDR video (PQ)") == 1


ORIENTATIONS = [(degrees, hflip) for degrees in (0, 90, 180, -90) for hflip in (False, True)]


@pytest.mark.parametrize(("degrees", "hflip"), ORIENTATIONS)
def test_frames_are_decoded_upright_as_a_player_shows_them(tmp_path, degrees, hflip):
    stored = _stored_landscape(tmp_path / "phone.mp4", degrees, hflip)
    shown = np.rot90(stored, degrees // 90)
    shown = shown[:, ::-1] if hflip else shown
    frames, _, _ = read_frames(tmp_path / "phone.mp4")
    assert frames.shape == (3, *shown.shape)
    assert np.abs(frames.astype(int) - shown).max() < 40  # lossy chroma at the block's edge
    assert SampledFrames(tmp_path / "phone.mp4")[2].shape == shown.shape
    info = probe(tmp_path / "phone.mp4")
    assert (info.height, info.width) == shown.shape[:2]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the FFmpeg command line is the oracle")
@pytest.mark.parametrize(("degrees", "hflip"), ORIENTATIONS)
def test_the_upright_frame_is_what_the_ffmpeg_command_line_shows(tmp_path, degrees, hflip):
    _stored_landscape(tmp_path / "phone.mp4", degrees, hflip)
    frames, _, _ = read_frames(tmp_path / "phone.mp4")
    command = ["ffmpeg", "-v", "error", "-i", str(tmp_path / "phone.mp4"), "-frames:v", "1"]
    raw = subprocess.run([*command, "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], capture_output=True, check=True)
    np.testing.assert_array_equal(np.frombuffer(raw.stdout, np.uint8).reshape(frames.shape[1:]), frames[0])


def test_non_square_pixels_are_stretched_to_the_shown_aspect(tmp_path):
    """A 64 x 48 stream of 4:3 pixels is shown 85 x 48 (16:9); its left quarter stays its left quarter."""
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :16] = 255
    with av.open(str(tmp_path / "anamorphic.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        stream.sample_aspect_ratio = Fraction(4, 3)
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    frames, _, _ = read_frames(tmp_path / "anamorphic.mp4")
    assert frames.shape == (3, 48, 85, 3)
    assert ((frames[:, :, :, 0] > 128).sum(axis=2) == 21).all()  # round(16 * 4 / 3)
    assert (probe(tmp_path / "anamorphic.mp4").width, probe(tmp_path / "anamorphic.mp4").height) == (85, 48)


def test_the_recording_is_decoded_not_a_one_frame_stream_before_it(tmp_path):
    """Cover art stored as an ordinary first video stream (one frame) used to be all that was read."""
    with av.open(str(tmp_path / "cover_first.mkv"), "w") as container:
        cover = container.add_stream("libx264", rate=10)
        cover.width, cover.height, cover.pix_fmt = 16, 16, "yuv420p"
        video = container.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        container.mux(cover.encode(av.VideoFrame.from_ndarray(np.full((16, 16, 3), 200, np.uint8), format="rgb24")))
        container.mux(cover.encode())
        for level in range(10):
            still = np.full((24, 32, 3), 20 * level, np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(still, format="rgb24")))
        container.mux(video.encode())
    frames, _, _ = read_frames(tmp_path / "cover_first.mkv")
    assert frames.shape == (10, 24, 32, 3)
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), 20 * np.arange(10), atol=3)
    assert probe(tmp_path / "cover_first.mkv").width == 32


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the FFmpeg command line trims the clip")
def test_a_clip_trimmed_by_an_edit_list_is_not_called_truncated(make_video, tmp_path):
    """``ffmpeg -ss 0.45 -c copy`` keeps the frames from the key frame before the cut and hides the first ones
    with an edit list: the container declares more frames than a player shows, and every one shown is read."""
    path = make_video("long.mp4", "libx264", n_frames=20, fps=10)
    trimmed = tmp_path / "trimmed.mp4"
    command = ["ffmpeg", "-v", "error", "-ss", "0.45", "-i", str(path), "-c", "copy", str(trimmed)]
    subprocess.run(command, check=True)
    shown = subprocess.run(  # how many frames FFmpeg's command line decodes from it
        ["ffmpeg", "-v", "error", "-i", str(trimmed), "-f", "null", "-", "-progress", "pipe:1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with warnings.catch_warnings():
        warnings.simplefilter("error", PartialDecodeWarning)
        frames, _, _ = read_frames(trimmed)
    assert len(frames) == int([line for line in shown.splitlines() if line.startswith("frame=")][-1][6:])
    assert len(frames) < probe(trimmed).n_frames  # the declared count includes the hidden frames


def test_write_video_round_trip_pads_odd_sizes(tmp_path):
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(30, 220, (5, 5, 8, 3), dtype=np.uint8), np.ones((1, 8, 8, 1), np.uint8))
    frames = smooth[:, :39, :37]  # odd height and width
    path = tmp_path / "out.mp4"
    codec = video.write_video(path, iter(frames), fps=12.5)
    info = probe(path)
    assert (codec, info.codec, info.width, info.height, info.n_frames) == ("libx264", "h264", 38, 40, 5)
    assert info.fps == 12.5
    decoded, timestamps, _ = read_frames(path)
    np.testing.assert_allclose(timestamps, np.arange(5) / 12.5)
    error = np.abs(decoded[:, 1:38, 1:36].astype(float) - frames[:, 1:38, 1:36]).mean()
    assert error < 6  # lossy, but the content is there (pad is at the bottom/right edge)


def test_written_video_says_which_colour_matrix_made_it(tmp_path):
    """Its YUV is FFmpeg's BT.601 conversion; untagged, a player shows HD video as BT.709 (shifted colours)."""
    video.write_video(tmp_path / "out.mp4", iter([np.full((720, 1280, 3), (200, 40, 0), np.uint8)] * 2), fps=10)
    with av.open(str(tmp_path / "out.mp4")) as container:
        context = container.streams.video[0].codec_context
        tags = [int(context.colorspace), int(context.color_primaries), int(context.color_trc)]
        assert tags == [6, 6, 6] and int(context.color_range) == 1  # SMPTE 170M (BT.601), limited range


def test_write_video_falls_back_to_mpeg4_without_h264(tmp_path, monkeypatch, code):
    available = video._encoder_available
    monkeypatch.setattr(video, "_encoder_available", lambda name: name != "libx264" and available(name))
    path = tmp_path / "fallback.mp4"
    assert video.write_video(path, [code.frame(i) for i in range(6)], fps=24) == "mpeg4"
    assert probe(path).codec == "mpeg4"
    assert [code.index(image) for image in read_frames(path)[0]] == list(range(6))


def test_write_video_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        video.write_video(tmp_path / "a.mp4", [], fps=10)
    with pytest.raises(ValueError, match="uint8"):
        video.write_video(tmp_path / "b.mp4", np.zeros((2, 8, 8, 3), np.float32), fps=10)
    with pytest.raises(ValueError, match="after uint8 frames"):
        video.write_video(tmp_path / "c.mp4", [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], 10)


def test_biisc_clips_decode(shared_data):
    clips = sorted((shared_data / "biisc").glob("*.avi"))
    if not clips:
        pytest.skip("no biisc clips")
    for clip in clips:
        info = probe(clip)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a complete file decodes without a partial-decode warning
            frames, timestamps, _ = read_frames(clip)
        assert frames.shape == (info.n_frames, 290, 480, 3)
        assert (info.fps, info.codec) == (10.0, "mpeg4")
        np.testing.assert_allclose(timestamps, np.arange(len(frames)) / 10.0, atol=1e-9)
