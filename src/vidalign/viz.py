"""Figures and videos for alignments and segmentations.

* :func:`plot_alignment` - the frame similarity matrix of videos A (rows) and B (columns) with the alignment
  path drawn on top, optional matched-interval shading and markers on the frames left unmatched (local /
  partial alignments such as Smith-Waterman or OT with a dummy frame). Long recordings are drawn from block
  means of at most 1,024 a side (:class:`vidalign.similarity.Preview`; ``docs/methods.md``, Long recordings).
* :func:`plot_timelines` - stacked per-video segment timelines (prediction under its ground truth).
* :func:`write_side_by_side` - a synchronised video: output frame ``i`` shows A's frame ``i`` next to B's
  aligned frame ``a_to_b[i]`` (or a grey "unmatched" placeholder), frame numbers drawn on both.

Matplotlib is used through ``matplotlib.figure.Figure`` only (no pyplot, no GUI backend); the Agg renderer writes
the PNGs. Text is plain (``text.parse_math`` off while a plot is made, by ``rc_context``, which, like the warning
filters, is process-wide while it lasts and restored after: not for plots drawn in other threads meanwhile): file
names such as ``win $5 or $^.mp4`` are shown as they are, not read as mathtext. Text in videos is drawn with
Pillow (a matplotlib dependency).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image, ImageDraw, ImageFont

from vidalign.data.video import write_video
from vidalign.errors import InputError
from vidalign.labels.runs import label_runs
from vidalign.similarity import Preview, preview_of

__all__ = [
    "contact_sheet",
    "plot_alignment",
    "plot_deviation",
    "plot_retrieval",
    "plot_timelines",
    "write_side_by_side",
]

_UNMATCHED_COLOUR = "orangered"
_BACKGROUND_COLOUR = "lightgrey"  # negative labels (background / unassigned) in timelines
_PLACEHOLDER_GREY = 96
_SEPARATOR_WIDTH = 4


def _plain_text(plot: Callable) -> Callable:
    """Run ``plot`` with matplotlib's mathtext off: user text (names, titles) with ``$`` drawn as written."""

    @functools.wraps(plot)
    def plain(*args, **kwargs):
        with rc_context({"text.parse_math": False}), warnings.catch_warnings():
            # a name in a script the font lacks (CJK) is drawn as boxes: said once per glyph otherwise, as noise
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from")
            return plot(*args, **kwargs)

    return plain


def _as_array(values, dtype) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensors without importing torch here
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=dtype)


def _path_pieces(pairs: np.ndarray) -> list[np.ndarray]:
    """Split the pairs where either index goes backwards (several local alignments listed one after the
    other); a monotone path stays one line, its skipped frames showing as longer steps."""
    restarts = np.flatnonzero(np.diff(pairs, axis=0).min(axis=1, initial=0) < 0) + 1
    return np.split(pairs, restarts)


@_plain_text
def plot_alignment(
    sim,
    pairs,
    out_png: str | Path,
    *,
    title: str | None = None,
    a_label: str = "A",
    b_label: str = "B",
    matched_a: Sequence[tuple[int, int]] | None = None,
    matched_b: Sequence[tuple[int, int]] | None = None,
    mark_unmatched: bool = True,
) -> Path:
    """Save the similarity matrix ``sim [N, M]`` (or its :class:`~vidalign.similarity.Preview`; a matrix of more
    than 1,024 frames a side is drawn from one) with the alignment ``pairs [L, 2]`` of (i, j) frame indices
    (a DTW path, the matches of a local alignment, ...) drawn on top. ``matched_a`` / ``matched_b`` are
    inclusive frame intervals ``(start, end)`` shaded across the matrix; with ``mark_unmatched`` the rows
    and columns absent from ``pairs`` get a marker on the matrix edge. Returns the PNG path."""
    if not isinstance(sim, Preview):
        sim = _as_array(sim, float)
        if sim.ndim != 2:
            raise InputError(f"sim must be [N, M], got shape {sim.shape}")
        sim = preview_of(sim)
    pairs = _as_array(pairs, int).reshape(-1, 2)
    n_rows, n_cols = sim.frames
    figure = Figure(figsize=(6.4, 6.4 * min(max(n_rows / max(n_cols, 1), 0.4), 2.5) + 0.6))
    axes = figure.add_subplot()
    extent = (-0.5, n_cols - 0.5, n_rows - 0.5, -0.5)
    image = axes.imshow(sim.values, cmap="viridis", aspect="auto", interpolation="nearest", extent=extent)
    low, high = float(np.nanmin(sim.values)), float(np.nanmax(sim.values))
    means = "block means, " if sim.values.shape != sim.frames else ""
    figure.colorbar(image, ax=axes, label=f"similarity ({means}colours span {low:.3f} to {high:.3f})")
    for start, end in matched_a or ():
        axes.axhspan(start - 0.5, end + 0.5, color="white", alpha=0.18, lw=0)
    for start, end in matched_b or ():
        axes.axvspan(start - 0.5, end + 0.5, color="white", alpha=0.18, lw=0)
    for number, piece in enumerate(_path_pieces(pairs) if len(pairs) else []):
        label = "alignment" if number == 0 else None
        axes.plot(
            piece[:, 1],
            piece[:, 0],
            color="red",
            lw=1.5,
            marker="." if len(piece) == 1 else None,
            label=label,
        )
    if mark_unmatched:
        rows = np.setdiff1d(np.arange(n_rows), pairs[:, 0])
        cols = np.setdiff1d(np.arange(n_cols), pairs[:, 1])
        marker_style = {"ls": "none", "color": _UNMATCHED_COLOUR, "ms": 4, "clip_on": False}
        if len(rows):
            axes.plot(np.full(len(rows), -0.5), rows, marker=">", label=f"unmatched {a_label}", **marker_style)
        if len(cols):
            axes.plot(cols, np.full(len(cols), -0.5), marker="v", label=f"unmatched {b_label}", **marker_style)
    axes.set_xlim(-0.5, n_cols - 0.5)
    axes.set_ylim(n_rows - 0.5, -0.5)
    axes.set_xlabel(f"{b_label} frame")
    axes.set_ylabel(f"{a_label} frame")
    if title:
        axes.set_title(title)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="lower left", fontsize="small", framealpha=0.8)
    figure.savefig(out_png, dpi=120, bbox_inches="tight")
    return Path(out_png)


def _class_colours(n_classes: int) -> list[tuple[float, ...]]:
    from matplotlib import colormaps

    if n_classes <= 20:
        palette = colormaps["tab20" if n_classes > 10 else "tab10"]
        return [palette(k) for k in range(n_classes)]
    palette = colormaps["hsv"]
    return [palette(k / n_classes) for k in range(n_classes)]


@_plain_text
def plot_deviation(
    deviation,
    threshold: float,
    out_png: str | Path,
    *,
    flagged: Sequence[tuple[int, int]] = (),
    gaps: Sequence[tuple[int, int]] = (),
    fps: float | None = None,
    title: str | None = None,
) -> Path:
    """Save the per-frame deviation of a query from its reference (:mod:`vidalign.comparison`) with the threshold,
    the ``flagged`` intervals shaded red and the query ``gaps`` (no reference counterpart) grey; the x axis is in
    seconds when ``fps`` is known, else in frames. Returns the PNG path."""
    deviation = _as_array(deviation, float).ravel()
    if deviation.size == 0:
        raise InputError("no deviation to plot")
    scale, unit = (1.0 / fps, "s") if fps else (1.0, "frame")
    x = np.arange(deviation.size) * scale
    figure = Figure(figsize=(10, 3.2))
    axes = figure.add_subplot()
    for number, (start, end) in enumerate(gaps):
        label = "no reference counterpart" if number == 0 else None
        axes.axvspan((start - 0.5) * scale, (end + 0.5) * scale, color=_BACKGROUND_COLOUR, alpha=0.6, lw=0,
                     label=label)  # fmt: skip
    for number, (start, end) in enumerate(flagged):
        label = "flagged" if number == 0 else None
        axes.axvspan((start - 0.5) * scale, (end + 0.5) * scale, color=_UNMATCHED_COLOUR, alpha=0.25, lw=0,
                     label=label)  # fmt: skip
    axes.plot(x, deviation, color="black", lw=1.2, label="deviation")
    axes.axhline(threshold, color=_UNMATCHED_COLOUR, ls="--", lw=1, label=f"threshold {threshold:.3f}")
    axes.set_xlim(x[0] - 0.5 * scale, x[-1] + 0.5 * scale)
    axes.set_xlabel(f"query ({unit})")
    axes.set_ylabel("1 - cosine to the reference")
    if title:
        axes.set_title(title)
    axes.legend(loc="upper right", fontsize="small", framealpha=0.8)
    figure.savefig(out_png, dpi=120, bbox_inches="tight")
    return Path(out_png)


@_plain_text
def plot_retrieval(
    profiles: Mapping[str, Sequence[float]],
    matches: Mapping[str, Sequence[int]],
    out_png: str | Path,
    *,
    title: str | None = None,
    max_rows: int = 12,
) -> Path:
    """Save one row per recording (the first ``max_rows``): its similarity to the query frame over its frames,
    the retrieved frames marked and numbered by rank. Returns the PNG path."""
    names = list(profiles)[:max_rows]
    if not names:
        raise InputError("no recordings to plot")
    figure = Figure(figsize=(10, 1.3 * len(names) + 0.8))
    axes_list = figure.subplots(len(names), 1, squeeze=False)[:, 0]
    for axes, name in zip(axes_list, names, strict=True):
        profile = _as_array(profiles[name], float)
        axes.plot(profile, color="black", lw=1)
        for rank, j in enumerate(matches.get(name, ()), start=1):
            axes.plot(j, profile[j], "o", color=_UNMATCHED_COLOUR, ms=5)
            axes.annotate(str(rank), (j, profile[j]), textcoords="offset points", xytext=(3, 3), fontsize="small")
        axes.set_ylabel(name, rotation=0, ha="right", va="center", fontsize="small")
        axes.set_xlim(-0.5, len(profile) - 0.5)
    axes_list[-1].set_xlabel("frame (similarity to the query frame)")
    if title:
        axes_list[0].set_title(title)
    figure.savefig(out_png, dpi=110, bbox_inches="tight")
    return Path(out_png)


@_plain_text
def contact_sheet(
    rows: Sequence[tuple[str, Sequence[np.ndarray | None], Sequence[str]]],
    out_png: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Save a grid of frames: one row per ``(label, images, captions)`` (an image None is drawn as an empty grey
    cell, e.g. a query whose video is unknown). Returns the PNG path."""
    if not rows:
        raise InputError("no frames for a contact sheet")
    columns = max(len(images) for _, images, _ in rows)
    figure = Figure(figsize=(1.9 * columns + 1.2, 1.7 * len(rows) + 0.5))
    grid = figure.subplots(len(rows), columns, squeeze=False)
    for r, (label, images, captions) in enumerate(rows):
        for c in range(columns):
            axes = grid[r, c]
            axes.set_xticks([])
            axes.set_yticks([])
            if c >= len(images):
                axes.set_axis_off()
                continue
            image = images[c]
            axes.imshow(np.full((9, 16, 3), _PLACEHOLDER_GREY, np.uint8) if image is None else image)
            axes.set_title(captions[c], fontsize="x-small")
        grid[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")
    if title:
        figure.suptitle(title)
    figure.savefig(out_png, dpi=100, bbox_inches="tight")
    return Path(out_png)


@_plain_text
def plot_timelines(
    segments: Mapping[str, Sequence[int]],
    class_names: Sequence[str] | None,
    out_png: str | Path,
    *,
    ground_truth: Mapping[str, Sequence[int]] | None = None,
    title: str | None = None,
) -> Path:
    """Save stacked segment timelines: one bar per video of its per-frame class ids (``segments[video]``,
    ints; negative = background / unassigned, drawn grey), each directly under its ground truth when
    ``ground_truth`` has that video. ``class_names[k]`` names class ``k`` in the legend. Returns the PNG."""
    rows: list[tuple[str, np.ndarray]] = []
    for video, predicted in segments.items():
        if ground_truth is not None and video in ground_truth:
            rows.append((f"{video} GT", _as_array(ground_truth[video], int)))
            rows.append((f"{video} pred", _as_array(predicted, int)))
        else:
            rows.append((str(video), _as_array(predicted, int)))
    if not rows:
        raise InputError("no segments to plot")
    names = list(class_names or [])
    n_classes = max([len(names)] + [int(labels.max(initial=-1)) + 1 for _, labels in rows])
    colours = _class_colours(n_classes)
    figure = Figure(figsize=(10, 0.4 * len(rows) + 1.4))
    axes = figure.add_subplot()
    present: set[int] = set()
    for row, (_, labels) in enumerate(rows):
        values, starts, ends = label_runs(labels)
        lengths = ends - starts
        for value in np.unique(values):
            chosen = values == value
            colour = colours[value] if value >= 0 else to_rgba(_BACKGROUND_COLOUR)
            axes.broken_barh(
                list(zip(starts[chosen], lengths[chosen], strict=True)), (row - 0.4, 0.8), facecolors=colour
            )
            present.add(int(value))
    axes.set_yticks(range(len(rows)), [name for name, _ in rows])
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.set_xlim(0, max(len(labels) for _, labels in rows))
    axes.set_xlabel("frame")
    if title:
        axes.set_title(title)
    handles = [
        Patch(
            color=colours[k] if k >= 0 else _BACKGROUND_COLOUR,
            label=(names[k] if 0 <= k < len(names) else str(k)) if k >= 0 else "background",
        )
        for k in sorted(present)
    ]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    figure.savefig(out_png, dpi=120, bbox_inches="tight")
    return Path(out_png)


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def _scaled_width(image: np.ndarray, height: int) -> int:
    return max(1, round(image.shape[1] * height / image.shape[0]))


def _draw_tag(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font, fill: str) -> None:
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    draw.rectangle((left - 3, top - 2, right + 3, bottom + 2), fill="black")
    draw.text(xy, text, font=font, fill=fill)


def write_side_by_side(
    frames_a: Iterable[np.ndarray],
    frames_b: Sequence[np.ndarray] | Callable[[int], np.ndarray],
    a_to_b: Sequence[int | None],
    out_mp4: str | Path,
    fps: float,
    *,
    labels: tuple[str, str] = ("A", "B"),
    height: int | None = None,
    codec: str = "libx264",
) -> Path:
    """Write a synchronised side-by-side video: frame ``i`` is A's frame ``i`` (left) next to B's frame
    ``a_to_b[i]`` (right), or a grey placeholder marked "unmatched" when ``a_to_b[i]`` is -1 / None.

    ``frames_a`` is streamed (any iterable of RGB uint8 ``[H, W, 3]``, e.g. images from ``iter_frames``);
    ``frames_b`` is indexed on demand (an array, a list, ``vidalign.data.video.SampledFrames`` or a callable
    ``j -> frame``), so neither video is held whole. Both sides are resized to ``height`` (default: A's
    frame height) keeping their aspect ratio; the frame numbers are drawn on both. The number of A frames
    must equal ``len(a_to_b)``. Returns the video path (encoded by ``write_video``)."""
    targets = [None if j is None or int(j) < 0 else int(j) for j in a_to_b]
    lookup = frames_b if callable(frames_b) else frames_b.__getitem__
    frames = iter(frames_a)
    first_a = next(frames, None)
    if first_a is None:
        raise InputError("frames_a is empty")
    height = int(height or first_a.shape[0])
    width_a = _scaled_width(first_a, height)
    first_target = next((j for j in targets if j is not None), None)
    width_b = width_a if first_target is None else _scaled_width(lookup(first_target), height)
    font = ImageFont.load_default(size=max(10, height // 16))
    separator = np.zeros((height, _SEPARATOR_WIDTH, 3), dtype=np.uint8)
    placeholder = np.full((height, width_b, 3), _PLACEHOLDER_GREY, dtype=np.uint8)

    def composed() -> Iterable[np.ndarray]:
        for i, (image_a, j) in enumerate(zip(chain([first_a], frames), targets, strict=True)):
            right = placeholder if j is None else _fit(np.asarray(lookup(j)), width_b, height)
            canvas = Image.fromarray(np.concatenate([_fit(np.asarray(image_a), width_a, height), separator, right], 1))
            draw = ImageDraw.Draw(canvas)
            offset = width_a + _SEPARATOR_WIDTH
            _draw_tag(draw, (6, 4), f"{labels[0]} {i}", font, "white")
            if j is None:
                _draw_tag(draw, (offset + 6, 4), f"{labels[1]} -", font, _UNMATCHED_COLOUR)
                _draw_tag(draw, (offset + width_b // 4, height // 2), "unmatched", font, _UNMATCHED_COLOUR)
            else:
                _draw_tag(draw, (offset + 6, 4), f"{labels[1]} {j}", font, "white")
            yield np.asarray(canvas)

    write_video(out_mp4, composed(), fps, codec=codec)
    return Path(out_mp4)
