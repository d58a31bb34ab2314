"""The time budget of real videos of people end to end -> ``benchmarks/EXERCISE_BUDGET.md``.

The held-out exercise clips of the issue "Real videos of people" (not in ``../shared``) are sets of up to 15 phone
clips of one exercise, 1080p; the target is a model trained on them without labels on a 2-core CPU in at most 10
minutes per exercise, extraction included. This builds a set of that size from real 1080p footage and times what a
user runs on it, each step as the command line runs it (a subprocess, ``OMP_NUM_THREADS`` = ``--threads``):

1. ``vidalign extract CLIPS --out FEATURES`` (``efficientnet_lite0``, every frame);
2. ``vidalign train --data FEATURES --method vaot --split all --out RUN`` (its preset for video features);
3. ``vidalign align A.npy B.npy --model RUN --no-viewer`` for each clip with the next (the pairs a user checks).

The clips: the four portrait 1080 x 1920 recordings of ``../shared/data/videos/pose2sim_4cams`` (one balancing trial
filmed by four cameras, 100 frames each; BSD-3-Clause), clip ``k`` of the set camera ``k mod 4``'s frames played
forward and back until it holds ``--seconds`` at ``--fps`` (real frames, so real decoding work), encoded with
libx264 at CRF 18, about a phone's bit rate (not timed). What the frames show does not matter here, only their size
and number; the alignment quality of such a set is ``benchmarks/EXERCISE_PHASE*.md``'s and ``REAL_VIDEOS.md``'s.

    python benchmarks/exercise_budget.py [--clips 15] [--seconds 20] [--fps 30] [--threads 2] [--work DIR]
        [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _header import generation_info, table_head
from vidalign.data.video import read_frames, write_video

REPO = Path(__file__).resolve().parents[1]
CAMERAS = REPO.parent / "shared" / "data" / "videos" / "pose2sim_4cams" / "Demo_SinglePerson"
BUDGET_MIN = 10.0  # the target, per exercise


def ping_pong(n_frames: int, length: int) -> np.ndarray:
    """The indices of ``n_frames`` frames played forward, then backward, and so on, for ``length`` frames."""
    return np.resize(np.concatenate([np.arange(n_frames), np.arange(n_frames - 2, 0, -1)]), length)


def make_clips(out: Path, n_clips: int, n_frames: int, fps: float) -> list[Path]:
    """The set of clips (module docstring), written once."""
    cameras = [read_frames(path)[0] for path in sorted(CAMERAS.glob("cam*.mp4"))]
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    for k in range(n_clips):
        path = out / f"clip_{k:02d}.mp4"
        if not path.exists():
            frames = cameras[k % len(cameras)]
            write_video(path, (frames[i] for i in ping_pong(len(frames), n_frames)), fps=fps, crf=18)
        clips.append(path)
    return clips


def timed(command: list[str], threads: int) -> float:
    """Seconds ``vidalign COMMAND`` takes as a subprocess with ``threads`` threads."""
    environment = os.environ | {"OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vidalign.cli", *command], check=True, env=environment,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidalign-exercise-budget")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "EXERCISE_BUDGET.md")
    args = parser.parse_args()
    if not CAMERAS.is_dir():
        raise SystemExit(f"{CAMERAS}: not found (the 1080p clips live in ../shared/data)")
    started = time.perf_counter()
    n_frames = round(args.seconds * args.fps)
    clips = make_clips(args.work / "clips", args.clips, n_frames, args.fps)
    steps = {}
    features, run = args.work / "features", args.work / "run"
    for folder in (features, run):
        shutil.rmtree(folder, ignore_errors=True)  # every step from scratch, as a new user runs it
    steps["extract"] = timed(["extract", str(args.work / "clips"), "--out", str(features), "--quiet"], args.threads)
    steps["train vaot"] = timed(["train", "--data", str(features), "--method", "vaot", "--split", "all", "--out",
                                 str(run), "--quiet"], args.threads)  # fmt: skip
    pairs = list(zip(clips, clips[1:], strict=False))
    aligned = [timed(["align", str(features / "features" / f"{a.stem}.npy"), str(features / "features" /
                      f"{b.stem}.npy"), "--model", str(run), "--no-viewer", "--out", str(args.work / "aligned" /
                      f"{a.stem}-{b.stem}")], args.threads) for a, b in pairs]  # fmt: skip
    steps[f"align, {len(pairs)} pairs"] = sum(aligned)
    total = sum(steps.values())
    info = generation_info(started) | {
        "command": f"python benchmarks/exercise_budget.py --clips {args.clips} --seconds {args.seconds:g} --fps "
        f"{args.fps:g} --threads {args.threads}"
    }
    lines = table_head("The time budget of a set of 1080p clips, end to end", "exercise_budget.py", info)
    lines += [
        f"{args.clips} clips of {args.seconds:g} s at {args.fps:g} fps ({args.clips * n_frames} frames of 1080 x 1920, "
        f"real footage looped: the module docstring), every step a `vidalign` command with {args.threads} threads. "
        f"The issue's budget: {BUDGET_MIN:g} minutes per exercise, extraction included.",
        "",
        "| step | seconds | per unit |",
        "|---|---|---|",
        f"| extract | {steps['extract']:.0f} | {args.clips * n_frames / steps['extract']:.1f} frames/s |",
        f"| train vaot | {steps['train vaot']:.0f} | - |",
        f"| align, {len(pairs)} pairs | {sum(aligned):.0f} | {np.mean(aligned):.1f} s a pair |",
        f"| **total** | **{total:.0f}** ({total / 60:.1f} min; budget {BUDGET_MIN:g} min) | - |",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
