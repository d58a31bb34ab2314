"""Real recordings that are mirror images of each other -> ``benchmarks/MIRROR_VIEWS.md``.

A person filmed from their left side and one filmed from their right, or one waving with the right hand and one
with the left, give pose features that are mirror images (``docs/methods.md``, Mirror images of poses). Two real
sets, each scored by how far a key event of A lands from B's own after DTW:

- **Penn Action** push-ups, squats and pull-ups (annotated 2-D joints, official train videos), which its
  annotations film from the person's ``left`` or ``right`` (the ``pose`` field). The event is the bottom of the
  movement, read from the annotated joints: push-up, the shoulders nearest the wrists in image height; squat, the
  hips nearest the ankles; pull-up, the head highest above the wrists (smoothed over +-1.5 frames; a clip counts
  when its extreme lies in the middle 80 % of it and the signal rises by 30 % of its range on both sides). Two
  carves per action: the first 8 clips of each view with such an event (file order), and the next 8 (not for
  pull-ups: 9 filmed from the right). Pairs of one view (2 x 56 ordered pairs) and of opposite views (128); error
  in frames (30 fps). Representations: uniform
  time, the pose features as they are and standardised (``vidalign align``'s default for two pose files), the
  default encoder untrained, VAOT trained on the action's ``train`` videos without labels (every clip, both views)
  with the pose preset (which mirrors each training view with probability 1/2: ``augment.mirror_image``), and the
  same without that augmentation. Each aligned with ``--mirror off`` and ``auto``; ``within``: the mean cosine
  similarity of a clip's own frames in the representation (collapse: near 1).
- **BIISC** waving clips (8 people facing the camera; S002 waves with the left hand, marked by eye in
  ``biisc_waving_events.csv``), extracted with the ``pose`` backbone (MediaPipe, ``vidalign[pose]``; skipped
  without it): the four marked events, seconds (10 fps), over all 56 ordered pairs and over the 14 with S002;
  the reference representations and the untrained encoder (models trained on these clips: ``REAL_VIDEOS_pose.md``).

The events are dev checks, not targets: the mirror check and the augmentation were chosen on the Penn Action
carve 0 and the BIISC clips, and carve 8 is their check on clips they did not see.

    python benchmarks/mirror_views.py [--work DIR] [--out FILE]
"""

from __future__ import annotations

import csv
import itertools
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

import vidalign as va
from _header import generation_info, table_head, work_and_out
from vidalign.data.penn_action import JOINT_NAMES, convert_penn_action, read_penn_action_mat
from vidalign.errors import TrustWarning
from vidalign.evaluation.spread import embedding_spread

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PENN_LABELS = SHARED / "penn_action" / "labels"
WAVING = SHARED / "biisc"
WAVING_EVENTS = Path(__file__).with_name("biisc_waving_events.csv")
WAVING_EVENT_NAMES = ("arm_leaves", "hand_up", "hand_down", "arm_back")
ACTIONS = ("pushup", "squat", "pullup")
VIEWS = ("left", "right")
CARVES = (0, 8)
CLIPS_PER_VIEW = 8
MODES = ("off", "auto")
JOINT = {name: k for k, name in enumerate(JOINT_NAMES)}


def _mean_y(y: np.ndarray, part: str) -> np.ndarray:
    return y[:, [JOINT[f"left_{part}"], JOINT[f"right_{part}"]]].mean(axis=1)


def bottom_event(action: str, y: np.ndarray) -> int | None:
    """The frame of the movement's bottom read from annotated joint heights ``y [T, 13]`` (module docstring), or
    None when the clip has no clear one."""
    if action == "pushup":
        signal = _mean_y(y, "wrist") - _mean_y(y, "shoulder")
    elif action == "squat":
        signal = _mean_y(y, "ankle") - _mean_y(y, "hip")
    else:
        signal = y[:, JOINT["head"]] - _mean_y(y, "wrist")
    signal = gaussian_filter1d(signal.astype(float), 1.5)
    frame, span = int(np.argmin(signal)), float(np.ptp(signal))
    inside = 0.1 * len(signal) <= frame <= 0.9 * len(signal)
    rises = signal[: frame + 1].max() - signal[frame] > 0.3 * span and signal[frame:].max() - signal[frame] > 0.3 * span
    return frame if inside and rises else None


def penn_clips(action: str) -> dict[str, list[tuple[str, int]]]:
    """``view -> [(video id, event frame)]`` of the action's clips filmed from the left / right with an event."""
    clips = {view: [] for view in VIEWS}
    for path in sorted(PENN_LABELS.glob("*.mat")):
        video = read_penn_action_mat(path)
        if video.action == action and video.pose in clips:
            frame = bottom_event(action, video.y)
            if frame is not None:
                clips[video.pose].append((video.video_id, frame))
    return clips


def event_error(aligner, files: dict[str, Path], events: dict[str, np.ndarray], pairs, fps: float) -> float:
    """Mean distance (seconds at ``fps``) between A's events carried to B by the alignment and B's own; an
    ``aligner`` None: uniform time."""
    errors = []
    for a, b in pairs:
        if aligner is None:
            n, m = (len(np.load(files[v], mmap_mode="r")) for v in (a, b))
            carried = events[a] * (m - 1) / (n - 1)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TrustWarning)
                found = np.asarray(aligner(files[a], files[b]).pairs)
            carried = np.array([found[found[:, 0] == e, 1].mean() for e in events[a]])
        errors.append(np.abs(carried - events[b]).mean() / fps)
    return float(np.mean(errors))


REFERENCES = {"uniform time": "uniform", "raw pose features": "raw", "standardised pose features": "standardized"}


def aligners(representation) -> dict[str, object | None]:
    """``mode -> aligner`` of one representation: a :data:`REFERENCES` value or a run directory (None: uniform
    time)."""
    if representation == "uniform":
        return {mode: None for mode in MODES}
    model = None if representation in ("raw", "standardized") else representation
    standardize = representation == "standardized"
    return {mode: va.Aligner(model, standardize=standardize, mirror=mode) for mode in MODES}


def within(aligner, files: dict[str, Path]) -> float | None:
    """The mean cosine similarity of a clip's own frames in the aligner's representation (collapse: near 1)."""
    if aligner is None:
        return None
    return embedding_spread([aligner.representation.embed(np.load(f)) for f in files.values()])["within"]


def representations_of(folder: Path, runs: Path, split: str, trained: bool) -> dict[str, object]:
    """The reference representations, the untrained encoder and, when ``trained``, VAOT trained on ``split`` with
    and without mirrored views."""
    found = dict(REFERENCES)
    found["untrained encoder"] = va.train(folder, "vaot", runs / "untrained", split=split, epochs=0).path
    for name, mirror_image in (("VAOT, augment.mirror_image false", False), ("VAOT", True)) if trained else ():
        out = runs / f"vaot{'' if mirror_image else '-no-mirror-image'}"
        found[name] = va.train(folder, "vaot", out, split=split, seed=0, augment={"mirror_image": mirror_image}).path
    return found


def penn_rows(work: Path) -> list[dict]:
    folders = {a: work / "penn" / a for a in ACTIONS}
    missing = [a for a, f in folders.items() if not (f / "features").is_dir()]
    if missing:
        convert_penn_action(PENN_LABELS, work / "penn", actions=missing)
    rows = []
    for action in ACTIONS:
        folder, clips = folders[action], penn_clips(action)
        representations = representations_of(folder, work / "runs" / action, "train", trained=True)
        for carve in CARVES:
            if any(len(clips[view]) < carve + CLIPS_PER_VIEW for view in VIEWS):
                continue  # pull-ups: 9 clips filmed from the right
            chosen = {view: clips[view][carve : carve + CLIPS_PER_VIEW] for view in VIEWS}
            view = {video: v for v in VIEWS for video, _ in chosen[v]}
            events = {video: np.array([frame]) for v in VIEWS for video, frame in chosen[v]}
            files = {video: folder / "features" / f"{video}.npy" for video in view}
            pairs = list(itertools.permutations(sorted(view), 2))
            same = [(a, b) for a, b in pairs if view[a] == view[b]]
            opposite = [(a, b) for a, b in pairs if view[a] != view[b]]
            for name, representation in representations.items():
                for mode, aligner in aligners(representation).items():
                    row = {"set": f"{action}, carve {carve}", "representation": name, "mirror": mode}
                    row["within"] = within(aligner, files)
                    row["same"] = event_error(aligner, files, events, same, 1.0)
                    row["opposite"] = event_error(aligner, files, events, opposite, 1.0)
                    rows.append(row)
                    print(row, flush=True)
    return rows


def waving_rows(work: Path) -> list[dict]:
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        print("mediapipe not installed (pip install 'vidalign[pose]'): no BIISC rows")
        return []
    folder = work / "biisc-pose"
    va.extract(WAVING, folder, backbone="pose", split="all", progress=True)
    with WAVING_EVENTS.open() as f:
        marked = {Path(r["clip"]).stem: r for r in csv.DictReader(f)}
    events = {v: np.array([int(r[e]) for e in WAVING_EVENT_NAMES]) for v, r in marked.items()}
    files = {v: folder / "features" / f"{v}.npy" for v in marked}
    pairs = list(itertools.permutations(sorted(marked), 2))
    other_hand = [(a, b) for a, b in pairs if marked[a]["waving_hand"] != marked[b]["waving_hand"]]
    rows = []
    for name, representation in representations_of(folder, work / "runs" / "biisc", "all", trained=False).items():
        for mode, aligner in aligners(representation).items():
            row = {"representation": name, "mirror": mode, "within": within(aligner, files)}
            row["all"] = event_error(aligner, files, events, pairs, 10.0)
            row["other_hand"] = event_error(aligner, files, events, other_hand, 10.0)
            rows.append(row)
            print(row, flush=True)
    return rows


def _within(row: dict) -> str:
    return "-" if row["within"] is None else f"{row['within']:.2f}"


def markdown(penn: list[dict], waving: list[dict], info: dict) -> str:
    title = "Mirror images: recordings filmed from the other side, or with the other hand"
    lines = table_head(title, "mirror_views.py", info)
    lines += [
        "How far the bottom of a push-up, squat or pull-up of A lands from B's after DTW, in frames (30 fps), for "
        "Penn Action clips filmed from the same side and from opposite sides (the script's docstring says how "
        "the events and carves are made). `mirror auto`: B aligned mirrored left-right when it aligns better so "
        "(`vidalign align`'s default for poses); `off`: as recorded. VAOT rows: trained on the action's `train` "
        "videos (both views), without labels, with and without the pose preset's `augment.mirror_image`. Each "
        "carve: 8 clips filmed from the left and 8 from the right, 112 ordered pairs of one side, 128 of two. "
        "`within`: mean cosine similarity of a clip's own frames (collapse: near 1).",
        "",
        "| clips | representation | mirror | same side | opposite sides | within |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['set']} | {r['representation']} | {r['mirror']} | {r['same']:.2f} | {r['opposite']:.2f} | "
              f"{_within(r)} |" for r in penn]  # fmt: skip
    lines += ["", "## 8 people waving (BIISC), pose backbone", ""]
    if not waving:
        return "\n".join(lines + ["Not generated: MediaPipe is not installed (`pip install 'vidalign[pose]'`)."]) + "\n"
    lines += [
        "The four events marked by eye, seconds (10 fps), over the 56 ordered pairs and over the 14 pairs of S002 "
        "(the one waving with the left hand) with another clip.",
        "",
        "| representation | mirror | all pairs | other hand | within |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['representation']} | {r['mirror']} | {r['all']:.3f} | {r['other_hand']:.3f} | {_within(r)} |"
              for r in waving]  # fmt: skip
    return "\n".join(lines) + "\n"


def require_penn_labels() -> None:
    if not PENN_LABELS.is_dir():
        raise SystemExit(f"{PENN_LABELS}: not found (the real data lives in ../shared/data)")


def main() -> None:
    args = work_and_out(__doc__.splitlines()[0], "vidalign-mirror-views", "MIRROR_VIEWS.md")
    require_penn_labels()
    started = time.perf_counter()
    penn, waving = penn_rows(args.work), waving_rows(args.work)
    info = {**generation_info(started, reuses_runs=True), "command": "python benchmarks/mirror_views.py"}
    args.out.write_text(markdown(penn, waving, info))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
