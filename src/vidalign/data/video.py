"""Video decoding, frame sampling and encoding with PyAV (wheels bundle FFmpeg).

Decoding
    ``probe`` reads container/stream metadata; ``iter_frames`` streams RGB frames with their presentation
    timestamps (``pts * time_base`` of the video stream, in seconds, as FFmpeg reports them: not shifted to
    start at zero); ``read_frames`` collects them into arrays; ``SampledFrames`` gives index access to the
    sampled frames of a long video while holding only a small window in memory.

Sampling (at most one of ``stride`` / ``target_fps``)
    * ``stride=k`` keeps source frames ``0, k, 2k, ...`` (by decode-order index).
    * ``target_fps=f`` lays a grid ``t0 + m / f`` from the first frame's timestamp ``t0`` to half the last
      frame interval after the last timestamp (the grid points nearer the last frame than the frame that would
      follow it) and keeps, for every grid point, the decoded frame whose timestamp is nearest (ties go to
      the earlier frame). A frame is kept at most once, so the result **never upsamples**: with ``f`` above
      the source rate every source frame is returned once and the effective rate stays the source rate.
      Variable-frame-rate streams are handled because the choice uses the real timestamps.

Shown as a player shows it
    The decoded stream is the container's best video stream (FFmpeg's choice: a cover picture or a one-frame
    stream is passed over for the recording). Phones store a portrait recording as landscape pixels plus a
    display matrix (rotation and mirror) that players apply; some cameras store non-square pixels (a sample
    aspect ratio, e.g. 1440 x 1080 shown as 1920 x 1080). Every decoded image here is as a player shows it:
    stretched to square pixels (width ``round(w * sar)``), then turned (``_upright``: the first frame's matrix,
    a rotation by a multiple of 90 degrees and a mirror, applied to every frame), and ``probe`` reports that
    width and height. A rotation by another angle is left as stored (FFmpeg's command line rotates by it).

High dynamic range
    A video with an HDR transfer (PQ, as HDR10 and Dolby Vision store it, or HLG, a phone's "HDR video") is
    decoded without tone mapping: its BT.2020 colours and HDR levels are read as SDR ones, so its frames look flat
    and unlike an SDR recording of the same scene. Reading it emits one :class:`ToneMappingWarning` that says so
    and gives an FFmpeg command that converts the file to SDR first (FFmpeg's ``zscale`` filter, which the FFmpeg
    inside PyAV lacks, takes it to linear light for ``tonemap``; ``mobius`` keeps the levels an SDR display shows
    and compresses the highlights above them: an HLG video made from an SDR one of colour bars came back 11 of 255
    off per channel on average, against 58 decoded without it; measured once, by hand, with Debian's FFmpeg 5.1).

Errors
    Every failure to read a video raises :class:`VideoError` (a ``ValueError``) whose message is one line
    naming the file and the cause: missing file, not a media file / corrupt header, no video stream,
    decoder errors before the first frame, zero decodable frames. FFmpeg's own log lines are captured
    while a file is opened (PyAV >= 13 also keeps FFmpeg logging off unless the application enables it).

Truncated files (decision)
    A file that decodes partially returns the frames decoded so far and emits one
    :class:`PartialDecodeWarning` naming the file, the number of frames decoded and the cause (a decoder
    error, or fewer frames than the container declares while the last one ends more than a frame interval
    before the stream's declared end: a clip trimmed by an edit list declares its uncut frames but ends where it
    should). Only a decode yielding zero frames is an error. Many truncated files fail earlier, at open time
    (e.g. an MP4 whose ``moov`` index was cut off), and then raise :class:`VideoError`.

Encoding
    ``write_video`` streams frames into H.264 (``libx264``, CRF quality) and falls back to MPEG-4 Part 2
    (``mpeg4``, fixed quantiser 3) when the H.264 encoder is not available in the FFmpeg build. Odd frame
    sizes are padded (edge pixels repeated) to even width/height, which 4:2:0 chroma needs.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.logging
import numpy as np

from vidalign.errors import ConfigError, DataError, InputError, one_line

__all__ = [
    "DECODE_WARNINGS",
    "VIDEO_EXTENSIONS",
    "Frame",
    "PartialDecodeWarning",
    "SampledFrames",
    "ToneMappingWarning",
    "VideoError",
    "VideoInfo",
    "iter_frames",
    "probe",
    "holds_videos",
    "read_frames",
    "write_video",
]

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ogv", ".3gp", ".ts"}
)

_BT601 = 6  # AVCOL_SPC / AVCOL_PRI / AVCOL_TRC_SMPTE170M (libavutil/pixfmt.h)
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
_HDR_TRANSFERS = {16: "PQ", 18: "HLG"}  # AVCOL_TRC_SMPTE2084, AVCOL_TRC_ARIB_STD_B67 (libavutil/pixfmt.h)
_TO_SDR = ("ffmpeg -i IN -vf zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=mobius:desat=0,"
           "zscale=t=bt709:m=bt709:r=tv,format=yuv420p OUT.mp4")  # fmt: skip
_GRID_TOLERANCE_S = 1e-6  # timestamps within this of a grid point count as on it (float pts rounding)
_FALLBACK_CODEC = "mpeg4"
_QSCALE_CODECS = {"mpeg4", "mjpeg"}  # encoders driven by a fixed quantiser instead of CRF
_FALLBACK_QSCALE = 3
_FF_QP2LAMBDA = 118  # FFmpeg's scale between a quantiser and `global_quality`


def holds_videos(directory: Path) -> bool:
    """Whether the folder ``directory`` (or one below it) holds a file with a :data:`VIDEO_EXTENSIONS` suffix."""
    return directory.is_dir() and any(p.suffix.lower() in VIDEO_EXTENSIONS for p in directory.rglob("*") if p.is_file())


class VideoError(DataError):
    """A video cannot be read; the message is one line naming the file and the cause."""


class PartialDecodeWarning(UserWarning):
    """A video decoded only partially (e.g. a truncated file); the decoded frames were returned."""


class ToneMappingWarning(UserWarning):
    """An HDR video decoded without tone mapping (module docstring, High dynamic range)."""


DECODE_WARNINGS = (PartialDecodeWarning, ToneMappingWarning)  # what reading a video may say about it


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of the decoded (best) video stream, its size as shown (module docstring).
    ``n_frames``/``fps``/``duration`` are None when unknown."""

    path: str
    n_frames: int | None
    fps: float | None
    duration: float | None
    width: int
    height: int
    codec: str


@dataclass(frozen=True)
class Frame:
    """One sampled frame: ``index`` in the sampled sequence, ``source_index`` among all decoded frames,
    ``timestamp`` in seconds (stream pts * time_base) and ``image`` RGB uint8 ``[H, W, 3]``."""

    index: int
    source_index: int
    timestamp: float
    image: np.ndarray


def _ffmpeg_cause(error: Exception) -> str:
    return one_line(getattr(error, "strerror", None) or error)


def _open_input(path: str | Path) -> tuple[str, av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``path`` and return (display name, container, best video stream) or raise VideoError."""
    name = str(path)
    if not Path(path).is_file():
        raise VideoError(f"{name}: file not found")
    with av.logging.Capture():
        try:
            container = av.open(name, mode="r")
        except (av.FFmpegError, OSError) as error:
            raise VideoError(f"{name}: cannot open as a video ({_ffmpeg_cause(error)})") from None
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams}) or ["none"]
        container.close()
        raise VideoError(f"{name}: no video stream (streams: {', '.join(kinds)})")
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):  # FFmpeg's still-image readers
        container.close()  # (an animated PNG or GIF has a demuxer of its own: read as the video it is)
        raise VideoError(f"{name}: a still image, not a video (a recording needs at least two frames)")
    return name, container, container.streams.best("video") or container.streams.video[0]


def _display_matrix(frame: av.VideoFrame) -> np.ndarray | None:
    """The frame's 2 x 2 display matrix ``[[a, b], [c, d]]`` (libavutil/display.h: a source point ``(p, q)``
    is shown at ``(a p + c q, b p + d q)``, then shifted into view), or None when the frame has none."""
    container = frame.side_data
    for item in container:  # PyAV < 18.1.1 iterates over the side data, later versions over their types (a mapping)
        data = item if hasattr(item, "type") else container[item]
        if str(data.type).endswith("DISPLAYMATRIX") and len(bytes(data)) == 36:
            values = np.frombuffer(bytes(data), dtype=np.int32)
            return np.array([[values[0], values[1]], [values[3], values[4]]], dtype=np.float64) / 65536.0
    return None


@dataclass(frozen=True)
class _Shown:
    """How a stream's frames are shown (module docstring): the square-pixel size before turning, the matrix."""

    width: int
    height: int
    matrix: np.ndarray | None

    @classmethod
    def of(cls, frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> _Shown:
        aspect = stream.sample_aspect_ratio  # None or 0/1 when unknown: square pixels
        width = max(1, round(frame.width * aspect)) if aspect and aspect != 1 else frame.width
        return cls(width, frame.height, _display_matrix(frame))

    def image(self, frame: av.VideoFrame) -> np.ndarray:
        """The frame as RGB uint8 ``[H, W, 3]``, as shown."""
        return _upright(frame.to_ndarray(format="rgb24", width=self.width, height=self.height), self.matrix)

    def size(self) -> tuple[int, int]:
        """``(width, height)`` as shown."""
        height, width = _upright(np.empty((self.height, self.width, 0)), self.matrix).shape[:2]
        return width, height


def _upright(image: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """``image`` [H, W, ...] as shown under the display ``matrix`` (module docstring, Shown as a player shows it):
    for the eight matrices of 90-degree rotations and mirrors, rows and columns are swapped and reversed as the
    matrix says."""
    if matrix is None:
        return image
    (a, b), (c, d) = np.round(matrix).astype(int)
    if a == d == 0 and abs(b) == abs(c) == 1:  # shown column p' = c q, shown row q' = b p
        image = image.swapaxes(0, 1)
        rows_reversed, columns_reversed = b < 0, c < 0
    elif b == c == 0 and abs(a) == abs(d) == 1:  # p' = a p, q' = d q
        rows_reversed, columns_reversed = d < 0, a < 0
    else:
        return image
    image = image[::-1] if rows_reversed else image
    image = image[:, ::-1] if columns_reversed else image
    return np.ascontiguousarray(image)


def _stream_fps(stream: av.video.stream.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def probe(path: str | Path) -> VideoInfo:
    """Read the metadata of the best video stream; decodes its first frame only, for the size as shown."""
    name, container, stream = _open_input(path)
    with container:
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = None
        width, height = stream.codec_context.width, stream.codec_context.height
        with av.logging.Capture():
            try:  # the display matrix and pixel aspect come with the frames: decode the first for the shown size
                first = next(container.decode(stream), None)
            except av.FFmpegError:
                first = None
        if first is not None:
            width, height = _Shown.of(first, stream).size()
        return VideoInfo(
            path=name,
            n_frames=stream.frames or None,
            fps=_stream_fps(stream),
            duration=duration,
            width=width,
            height=height,
            codec=stream.codec_context.name,
        )


def _declared_end(stream: av.video.stream.VideoStream, unknown: float) -> float:
    """Where the stream declares that it ends, in seconds of its timestamps (start + duration), else ``unknown``."""
    if stream.duration is None or stream.time_base is None:
        return unknown
    return float(((stream.start_time or 0) + stream.duration) * stream.time_base)


def _decoded(path: str | Path) -> Iterator[tuple[int, float, av.VideoFrame, _Shown]]:
    """Yield (source index, timestamp in s, frame, how the stream is shown) per decoded frame; applies the
    partial-decode policy."""
    name, container, stream = _open_input(path)
    with container:
        stream.thread_type = "AUTO"
        declared = stream.frames or None
        fps = _stream_fps(stream)
        step = 1.0 / fps if fps else 0.0
        count, timestamp, shown = 0, 0.0, None
        try:
            for frame in container.decode(stream):
                # a frame without pts (rare, broken muxers) continues the clock at the nominal rate
                timestamp = float(frame.time) if frame.time is not None else timestamp + (step if count else 0)
                if shown is None and frame.color_trc in _HDR_TRANSFERS:
                    warnings.warn(
                        f"{name}: an HDR video ({_HDR_TRANSFERS[frame.color_trc]}), decoded without tone mapping: "
                        f"its colours look flat, unlike an SDR recording's; convert it first: {_TO_SDR}",
                        ToneMappingWarning,
                        stacklevel=3,
                    )
                shown = shown or _Shown.of(frame, stream)
                yield count, timestamp, frame, shown
                count += 1
        except av.FFmpegError as error:
            if count == 0:
                raise VideoError(f"{name}: cannot decode video ({_ffmpeg_cause(error)})") from None
            warnings.warn(
                f"{name}: decoding stopped after {count} frames ({_ffmpeg_cause(error)}); returning the decoded frames",
                PartialDecodeWarning,
                stacklevel=3,
            )
            return
        if count == 0:
            raise VideoError(f"{name}: no decodable video frames")
        if declared is not None and count < declared and timestamp + 2 * step < _declared_end(stream, math.inf):
            warnings.warn(
                f"{name}: decoded {count} of the {declared} frames the container declares "
                "(truncated file?); returning the decoded frames",
                PartialDecodeWarning,
                stacklevel=3,
            )


def _every_kth(items: Iterable[tuple], stride: int) -> Iterator[tuple]:
    return (item for item in items if item[0] % stride == 0)


def _nearest_to_grid(items: Iterable[tuple], target_fps: float) -> Iterator[tuple]:
    """Keep the item nearest in time to each grid point ``t0 + m / target_fps`` (ties: the earlier item),
    each item at most once. The nearest item to a grid point is the last one at/before it or the first
    one after it, so one item of look-ahead suffices. The grid points between two items choose the earlier item,
    then the later one, so the first and the last of them decide: a rate far above the video's costs no more than
    its own (every frame). The grid ends half the last interval after the last item (module docstring)."""
    period = 1.0 / target_fps
    start: float | None = None
    step = 0
    previous = None
    last_kept = -1
    gap = 0.0
    for item in items:
        timestamp = item[1]
        if start is None:
            start = timestamp
        reach = timestamp + _GRID_TOLERANCE_S
        last = math.floor((reach - start) / period)  # the last grid step at or before this item
        while start + (last + 1) * period <= reach:
            last += 1
        while last >= step and start + last * period > reach:
            last -= 1
        for grid_step in sorted({step, last}) if last >= step else ():
            grid = start + grid_step * period
            before_is_nearer = previous is not None and grid - previous[1] <= timestamp - grid + _GRID_TOLERANCE_S
            chosen = previous if before_is_nearer else item
            if chosen[0] > last_kept:
                last_kept = chosen[0]
                yield chosen
        step = max(step, last + 1)
        gap = timestamp - previous[1] if previous is not None else 0.0
        previous = item
    if (
        previous is not None
        and previous[0] > last_kept
        and start + step * period <= previous[1] + gap / 2 + _GRID_TOLERANCE_S
    ):
        yield previous  # the next grid point is nearer the last item than the item that would follow it


def _check_sampling(stride: int | None, target_fps: float | None, max_frames: int | None) -> None:
    if stride is not None and target_fps is not None:
        raise ConfigError("give at most one of stride and target_fps")
    if stride is not None and (int(stride) != stride or stride < 1):
        raise ConfigError(f"stride must be a positive integer, got {stride!r}")
    if target_fps is not None and not 0 < target_fps < math.inf:
        raise ConfigError(f"target_fps must be positive and finite, got {target_fps!r}")
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 1):
        raise ConfigError(f"max_frames must be a positive integer, got {max_frames!r}")


def iter_frames(
    path: str | Path,
    *,
    stride: int | None = None,
    target_fps: float | None = None,
    max_frames: int | None = None,
) -> Iterator[Frame]:
    """Stream the sampled frames of the best video stream (see the module docstring for sampling,
    timestamps, the error / truncated-file policy and how frames are shown). All images share the first frame's
    size and orientation."""
    _check_sampling(stride, target_fps, max_frames)

    def generate() -> Iterator[Frame]:
        decoded = _decoded(path)
        if stride is not None:
            decoded = _every_kth(decoded, int(stride))
        elif target_fps is not None:
            decoded = _nearest_to_grid(decoded, float(target_fps))
        for index, (source_index, timestamp, frame, shown) in enumerate(itertools.islice(decoded, max_frames)):
            yield Frame(index=index, source_index=source_index, timestamp=timestamp, image=shown.image(frame))

    return generate()


def read_frames(
    path: str | Path,
    *,
    stride: int | None = None,
    target_fps: float | None = None,
    max_frames: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the sampled frames into ``(frames [T, H, W, 3] uint8, timestamps [T] float64 seconds,
    source_indices [T] int64)``; same arguments and policies as :func:`iter_frames`."""
    frames = list(iter_frames(path, stride=stride, target_fps=target_fps, max_frames=max_frames))
    images = np.stack([frame.image for frame in frames])
    timestamps = np.array([frame.timestamp for frame in frames], dtype=np.float64)
    source_indices = np.array([frame.source_index for frame in frames], dtype=np.int64)
    return images, timestamps, source_indices


class SampledFrames:
    """Index access ``frames[i] -> [H, W, 3] uint8`` to the sampled frames of a video without decoding it
    whole: frames are decoded forward on demand and the last ``window`` are kept. Near-monotone access
    (e.g. following an alignment path) decodes the video about once; asking for an index older than the
    window restarts decoding from the beginning. Indices past the end raise ``IndexError``."""

    def __init__(
        self,
        path: str | Path,
        *,
        stride: int | None = None,
        target_fps: float | None = None,
        window: int = 64,
    ) -> None:
        if window < 1:
            raise ConfigError(f"window must be >= 1, got {window}")
        _check_sampling(stride, target_fps, None)
        self._path = path
        self._sampling = {"stride": stride, "target_fps": target_fps}
        self._window = window
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._restart()

    def _restart(self) -> None:
        self._frames = iter_frames(self._path, **self._sampling)
        self._next_index = 0
        self._cache.clear()

    def __getitem__(self, index: int) -> np.ndarray:
        index = int(index)
        if index < 0:
            raise IndexError(f"{self._path}: negative frame index {index}")
        if index in self._cache:
            return self._cache[index]
        if index < self._next_index:
            self._restart()
        for frame in self._frames:
            self._cache[frame.index] = frame.image
            self._next_index = frame.index + 1
            if len(self._cache) > self._window:
                self._cache.popitem(last=False)
            if frame.index == index:
                return frame.image
        raise IndexError(f"{self._path}: frame {index} is past the end ({self._next_index} sampled frames)")


def _encoder_available(codec: str) -> bool:
    try:
        av.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        return False
    return True


def _encoder_options(codec: str, crf: int) -> dict[str, str]:
    if codec in _QSCALE_CODECS:
        return {"flags": "+qscale", "global_quality": str(_FALLBACK_QSCALE * _FF_QP2LAMBDA)}
    if codec == "libx264":
        return {"crf": str(crf)}
    if codec == "libx265":  # x265 prints its banner to stderr unless told otherwise
        return {"crf": str(crf), "x265-params": "log-level=error"}
    return {}


def _pad_to_even(image: np.ndarray) -> np.ndarray:
    pad_h, pad_w = image.shape[0] % 2, image.shape[1] % 2
    if pad_h or pad_w:
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return image


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    codec: str = "libx264",
    crf: int = 23,
    keyframe_interval: int | None = None,
) -> str:
    """Encode RGB uint8 ``[H, W, 3]`` frames (any iterable, consumed as a stream, or a ``[T, H, W, 3]``
    array) at ``fps`` into ``path`` (container from the extension). ``crf`` sets x264/x265 quality (lower is
    better, 23 is x264's default); the ``mpeg4`` / ``mjpeg`` encoders use the fixed quantiser 3.
    ``keyframe_interval`` (frames; default: the encoder's) bounds how far a seek decodes. If
    ``codec`` is ``libx264`` and this FFmpeg has no H.264 encoder, ``mpeg4`` is used. Odd sizes are
    padded to even. Returns the codec actually used. Raises ValueError for no frames or mixed sizes."""
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps!r}")
    if not _encoder_available(codec):
        if codec != "libx264":
            raise DataError(f"no {codec!r} encoder in this FFmpeg build")
        codec = _FALLBACK_CODEC
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise InputError(f"{path}: no frames to write")
    shape = np.shape(first)
    if len(shape) != 3 or shape[2] != 3 or np.asarray(first).dtype != np.uint8:
        raise InputError(f"{path}: frames must be RGB uint8 [H, W, 3], got {np.asarray(first).dtype} {shape}")
    height, width = shape[0] + shape[0] % 2, shape[1] + shape[1] % 2
    preferred_formats = av.Codec(codec, "w").video_formats  # the encoder's own order, best first
    pix_fmt = preferred_formats[0].name if preferred_formats else "yuv420p"
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        options = _encoder_options(codec, crf) | ({} if keyframe_interval is None else {"g": str(keyframe_interval)})
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        # tagged as converted (FFmpeg's RGB -> YUV is BT.601, limited range): players read untagged HD video as BT.709
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = _BT601
        context.color_range = _LIMITED_RANGE
        for image in itertools.chain([first], iterator):
            image = np.ascontiguousarray(image)
            if image.shape != shape or image.dtype != np.uint8:
                raise InputError(f"{path}: frame {image.dtype} {image.shape} after uint8 frames of shape {shape}")
            # converted here rather than inside encode(): PyAV's implicit conversion gave different bitstreams for
            # the same frames from one call to the next (tests/extraction/test_render_videos.py)
            frame = av.VideoFrame.from_ndarray(_pad_to_even(image), format="rgb24").reformat(format=pix_fmt)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return codec
