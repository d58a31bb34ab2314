"""Accuracy of ``vidalign align`` on rendered synthetic videos whose frame correspondence is known.

Renders a synthetic dataset (``vidalign render``: :func:`vidalign.data.render.render_dataset`), decodes and embeds
every video once with a frame backbone (:func:`vidalign.inputs.load_input`, the path ``vidalign align`` takes)
and aligns every pair of videos with each method (:func:`vidalign.alignment.align_arrays` on the raw features).
The truth is :func:`vidalign.data.synthetic.ground_truth_correspondence`, built from the ``truth/<id>.json`` files the
renderer writes. Per method it prints the mean absolute frame error over the frames of A that have a true match
and a predicted one, and the share of those frames that got a prediction (``sw`` and ``ot`` may leave frames
unmatched); the uniform-time baseline maps frame ``i`` of A to ``round(i (M - 1) / (N - 1))``.

    python benchmarks/align_synthetic_videos.py [--out DIR] [--videos 4] [--seed 0] [--backbone efficientnet_lite0]

Reproducible: the videos depend only on ``--seed``; the output folder (default under the system temp dir) is
re-rendered when it holds no videos and reused otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from vidalign.alignment import METHODS, align_arrays
from vidalign.data.render import render_dataset
from vidalign.data.synthetic import SyntheticConfig, ground_truth_correspondence
from vidalign.inputs import load_input
from vidalign.models.backbones import build_backbone

UNIFORM = "uniform time"


def truth_of(path: Path) -> SimpleNamespace:
    """Phase and canonical time per frame from a renderer's ``truth/<id>.json`` (what the correspondence uses)."""
    truth = json.loads(path.read_text())
    canonical = np.array([np.nan if t is None else t for t in truth["canonical_time"]], dtype=np.float64)
    return SimpleNamespace(phase=np.asarray(truth["phase"], dtype=np.int64), canonical_time=canonical)


def uniform_time(n: int, m: int) -> list[int]:
    return np.rint(np.arange(n) * (m - 1) / max(n - 1, 1)).astype(int).tolist()


def frame_error(a_to_b: list[int | None], truth: np.ndarray) -> tuple[float, float]:
    """(mean |predicted - true| over frames with both, share of the truly matched frames that got a prediction)."""
    predicted = np.array([-1 if j is None else j for j in a_to_b])
    has_truth = truth >= 0
    both = has_truth & (predicted >= 0)
    error = float(np.abs(predicted[both] - truth[both]).mean()) if both.any() else float("nan")
    return error, float(both.sum() / max(has_truth.sum(), 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vidalign_align_synthetic")
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    args = parser.parse_args()

    config = SyntheticConfig(n_videos=args.videos, seed=args.seed)
    if not (args.out / "videos").is_dir():
        render_dataset(config, args.out)
    videos = sorted((args.out / "videos").glob("*.mp4"))
    backbone = build_backbone(args.backbone)
    inputs = {path.stem: load_input(path, backbone, progress=True) for path in videos}
    truths = {path.stem: truth_of(args.out / "truth" / f"{path.stem}.json") for path in videos}

    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in (UNIFORM, *METHODS)}
    for id_a, id_b in itertools.combinations(sorted(inputs), 2):
        a, b = inputs[id_a], inputs[id_b]
        truth = ground_truth_correspondence(truths[id_a], truths[id_b])
        rows[UNIFORM].append(frame_error(uniform_time(len(a.features), len(b.features)), truth))
        for method in METHODS:
            rows[method].append(frame_error(align_arrays(a.features, b.features, method=method).a_to_b, truth))

    n_pairs = len(rows[UNIFORM])
    print(f"{len(videos)} rendered videos ({args.out}), {n_pairs} pairs, {args.backbone} features, no training")
    print(f"{'method':<14} {'mean |frame error|':>18} {'frames predicted':>17}")
    for name, values in rows.items():
        errors, shares = np.array(values).T
        print(f"{name:<14} {np.nanmean(errors):>18.2f} {100 * shares.mean():>16.0f}%")


if __name__ == "__main__":
    main()
