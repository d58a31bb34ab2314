"""A dev check on real footage of people (issue "Real videos of people"): six people doing the same action.

The clips are ``../shared/data/videos/intel_one_by_one/one_by_one_clips`` (CC BY 4.0: fixed camera, six different
people walk in, stand at a table handling something, walk out; 145-300 frames at 10 fps) with their key events
``enter``, ``arrive_at_table``, ``leave_table``, ``exit`` (``events.csv``, derived automatically, about +-1 s).
Frames are embedded with ``efficientnet_lite0`` (:func:`vidalign.api.extract`); every method is trained on all six
clips without labels (the events are only used for scoring) and every ordered pair of clips is aligned by DTW on
its representation. Per representation:

- **event error**: each key event of A carried to B through the alignment (the mean B frame matched to the event's
  frame), minus B's own event, in seconds, averaged over the 4 events and the 30 ordered pairs;
- **spread**: the collapse check (``docs/evaluation.md``, Collapse) on the six clips;
- **trusted**: the share of pairs whose alignment passes :mod:`vidalign.confidence`, and the mean order margin;
- **unrelated trusted**: the same share for every clip paired with each of the 20 ASL sign clips of
  ``intel_one_by_one/asl_gestures`` (one signer, other content: pairs the check should distrust), in the same
  representation.

Reference rows: uniform time (frame ``i`` of A to ``i (M - 1) / (N - 1)``), raw features, the untrained encoder.
A second set, ``../shared/data/biisc`` (8 people waving at the camera, different rooms and clothes; research use
only; 31-61 frames at 10 fps), is scored the same way on key events we marked by eye on its frames, no tool
involved (``biisc_waving_events.csv``, 0-based frames, about +-1 frame): the first frame the waving arm leaves the
body, the first with the hand raised to the shoulder or above it, the first of the hand going down after the last
wave, the first with the arm back at the side; and the person's hand that waves (``waving_hand``: S002 waves with
the left, the others with the right). This is a development check, not a benchmark to tune on: a few
short clips.

Rows ``<method>, backbone fine-tuned`` (``--finetune``, default LAC and VAOT; ``--no-finetune`` skips them):
``vidalign finetune`` on the clips, then the clips (and the unrelated ones) re-extracted with the fine-tuned backbone
(``docs/finetune.md``), with ``vidalign finetune``'s own epochs unless ``--finetune-epochs``; the row names the
epochs and the fine-tuning's time.

    python benchmarks/real_videos.py [--backbone efficientnet_lite0] [--work DIR] [--epochs N]
                                    [--finetune M [M ...] | --no-finetune] [--finetune-epochs N]
                                    # -> benchmarks/REAL_VIDEOS.md (another backbone: REAL_VIDEOS_<backbone>.md)
"""

from __future__ import annotations

import argparse
import csv
import itertools
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import vidalign as va
from _header import for_this_code, generation_info
from vidalign.errors import TrustWarning
from vidalign.evaluation.spread import embedding_spread

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CLIPS = SHARED / "videos" / "intel_one_by_one" / "one_by_one_clips"
WAVING = SHARED / "biisc"
UNRELATED = SHARED / "videos" / "intel_one_by_one" / "asl_gestures"
EVENTS = ("enter", "arrive_at_table", "leave_table", "exit")
WAVING_EVENTS = Path(__file__).with_name("biisc_waving_events.csv")  # marked by eye: module docstring
WAVING_EVENT_NAMES = ("arm_leaves", "hand_up", "hand_down", "arm_back")
FPS = 10.0
METHODS = ("vaot", "vasot", "lac", "scl", "tcc")
FINETUNED = ("lac", "vaot")  # rows with the backbone fine-tuned (vidalign finetune)


def read_events(path: Path, names: tuple[str, ...] = EVENTS) -> dict[str, np.ndarray]:
    """``video id -> [frame of each event in names]`` (clip-local) from a csv file with a ``clip`` column."""
    with path.open() as f:
        return {Path(r["clip"]).stem: np.array([int(r[e]) for e in names]) for r in csv.DictReader(f)}


def carried_events(a_to_b_pairs: np.ndarray, events_a: np.ndarray) -> np.ndarray:
    """The mean B frame that the alignment matches to each event frame of A."""
    return np.array([a_to_b_pairs[a_to_b_pairs[:, 0] == e, 1].mean() for e in events_a])


def score(name: str, files: dict[str, Path], events, model, unrelated=None) -> dict:
    """The row of one representation; ``files``: each clip's feature file (aligned as files, as `vidalign align`
    takes them: a pose folder's clips get the mirror check); ``events`` None: spread and trust only; ``unrelated``
    (feature files, or None): pairs of every clip with each of them, for the share trusted."""
    ids = sorted(files)
    features = {v: np.load(files[v]) for v in ids}
    errors, trusted, margins = [], [], []
    standardize = model == "standardized"  # as `vidalign align [--model RUN | --standardize]` aligns
    aligner = None if model == "uniform" else va.Aligner(None if standardize else model, standardize=standardize)

    def aligned(a: Path, b: Path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrustWarning)  # counted below instead
            return aligner(a, b)

    for a, b in itertools.permutations(ids, 2):
        n, m = len(features[a]), len(features[b])
        if model == "uniform":
            predicted = events[a] * (m - 1) / (n - 1)
        else:
            result = aligned(files[a], files[b])
            predicted = None if events is None else carried_events(result.pairs, events[a])
            trusted.append(result.confidence.trusted)
            margins.append(result.confidence.order_margin)
        if events is not None:
            errors.append(np.abs(predicted - events[b]) / FPS)
    row = {"name": name}
    if errors:
        row.update(event_error_s=float(np.mean(errors)), per_event_s=np.mean(errors, axis=0).tolist())
    if trusted:
        row.update(trusted=float(np.mean(trusted)), order_margin=float(np.mean(margins)))
        row.update(embedding_spread([aligner.representation.embed(features[v]) for v in ids]))
    if trusted and unrelated:
        pairs = [(files[a], other) for a in ids for other in unrelated.values()]
        row["unrelated_trusted"] = float(np.mean([aligned(a, b).confidence.trusted for a, b in pairs]))
    return row


def markdown(rows: list[dict], info: dict, finetuned: str) -> str:
    lines = ["# Real videos of people: a dev check", "", "Generated by `python benchmarks/real_videos.py` - do not "
             "edit by hand.", ""] + [f"- {k}: {v}" for k, v in info.items()] + [""]  # fmt: skip
    lines += [
        f"Six people doing one action (intel_one_by_one, CC BY 4.0), {info['backbone']} features, every method "
        "trained on the six clips without labels; DTW alignment of the 30 ordered pairs. `event error`: key "
        "events of A carried to B, seconds (mean over enter / arrive / leave / exit); `within` / `across`: mean "
        "cosine similarity of frames of one clip / of two clips (collapse: within > 0.95); `trusted`: share of "
        "pairs passing the alignment-confidence check, with the mean order margin; `unrelated`: share "
        "trusted of the pairs of each clip with each of 20 ASL sign clips (one signer; should be distrusted).",
        "",
        finetuned,
        "",
        "| representation | event error (s) | enter | arrive | leave | exit | within | across | trusted | margin "
        "| unrelated |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_event_row(r) for r in rows["people"]]
    lines += ["", "## 8 people waving (BIISC)", "",
              "The same on 8 people waving at the camera (56 ordered pairs), with the events marked by eye "
              "(`biisc_waving_events.csv`: the script's docstring says how)."
              + (" Pairs are aligned as `vidalign align` aligns pose files: B mirrored left-right when it aligns "
                 "better so (S002 waves with the other hand; `docs/methods.md`, Mirror images of poses)."
                 if info["backbone"] == "pose" else ""), "",
              "| representation | event error (s) | arm leaves | hand up | hand down | arm back | within | across "
              "| trusted | margin | unrelated |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    lines += [_event_row(r) for r in rows["waving"]]
    return "\n".join(lines) + "\n"


def _event_row(row: dict) -> str:
    cells = [f"{row['event_error_s']:.2f}", *(f"{x:.2f}" for x in row["per_event_s"])]
    return f"| {row['name']} | " + " | ".join(cells + _trust_cells(row)) + " |"


def _trust_cells(row: dict) -> list[str]:
    keys = ("within", "across", "trusted", "order_margin", "unrelated_trusted")
    return [f"{row[k]:.2f}" if k in row else "-" for k in keys]


def finetuned_rows(name: str, videos: Path, events, work: Path, args) -> list[dict]:
    """One row per method of ``--finetune``: the backbone's last blocks trained with the method on the clips
    (``vidalign finetune``, no labels), the clips and the unrelated ones re-extracted with the fine-tuned backbone,
    scored on its model."""
    rows = []
    for method in [] if args.no_finetune else args.finetune:
        options = {"loss": {"n_clusters": 4}} if method == "vasot" else {}
        run = va.finetune(sorted(p for p in videos.iterdir() if p.suffix in (".mp4", ".avi")), method,
                          work / "runs" / f"{method}-finetuned", epochs=args.finetune_epochs, progress=True,
                          backbone=args.backbone, **options)  # fmt: skip
        with (run.path / "log.csv").open() as log:  # a finished run found under --work is reused
            minutes = sum(float(r["seconds"]) for r in csv.DictReader(log)) / 60
        weights = run.path / "backbone.safetensors"
        features, unrelated = (features_of(clips, work / f"{folder}-{method}-finetuned", args.backbone, weights)[1]
                               for clips, folder in ((videos, "features"), (UNRELATED, "unrelated")))  # fmt: skip
        label = f"{method}, backbone fine-tuned ({run.config.epochs} epochs, {minutes:.0f} min)"
        rows.append(score(label, features, events, run.path, unrelated))
        print(name, rows[-1], flush=True)
    return rows


def rows_of(name: str, features: dict[str, Path], events, data: Path, runs: Path, args, unrelated) -> list[dict]:
    """The reference rows, then one row per method trained on all of ``data`` without labels."""
    rows = [score("uniform time", features, events, "uniform")] if events is not None else []
    rows.append(score("raw features", features, events, None, unrelated))
    rows.append(score("raw features, standardized per recording", features, events, "standardized", unrelated))
    untrained = va.train(data, "vaot", runs / "untrained", split="all", epochs=0).path
    rows.append(score("untrained encoder", features, events, untrained, unrelated))
    for method in args.methods:
        options = {"loss": {"n_clusters": 4}} if method == "vasot" else {}
        run = va.train(data, method, runs / method, split="all", epochs=args.epochs, progress=True, **options)
        rows.append(score(method, features, events, run.path, unrelated))
        print(name, rows[-1], flush=True)
    return rows


def features_of(videos: Path, out: Path, backbone: str, weights="default") -> tuple[Path, dict[str, Path]]:
    """The feature folder of ``videos`` and its clips' feature files."""
    va.extract(videos, out, backbone=backbone, weights=weights, split="all", progress=True)
    return out, {v: out / "features" / f"{v}.npy" for v in va.load_features(out).video_ids("all")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidalign-real-videos")
    parser.add_argument("--backbone", default="efficientnet_lite0", help="frame backbone (vidalign extract)")
    parser.add_argument("--out", type=Path, help="default: benchmarks/REAL_VIDEOS.md (_<backbone> for another)")
    parser.add_argument("--epochs", type=int, help="override every method's epochs")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--finetune", nargs="+", default=list(FINETUNED), metavar="METHOD",
                        help="methods fine-tuning the backbone (default: %(default)s)")  # fmt: skip
    parser.add_argument("--no-finetune", action="store_true", help="no fine-tuned rows (tens of minutes on a CPU)")
    parser.add_argument("--finetune-epochs", type=int,
                        help="default: vidalign finetune's (the method's video section, at most 10)")  # fmt: skip
    args = parser.parse_args()
    if args.backbone == "pose" and not args.no_finetune:
        parser.error("the pose backbone has no network to fine-tune: add --no-finetune")
    if not CLIPS.is_dir():
        raise SystemExit(f"{CLIPS}: not found (the dev clips live in ../shared/data)")
    started = time.perf_counter()
    work = for_this_code(args.work / args.backbone)
    data, features = features_of(CLIPS, work / "features", args.backbone)
    events = read_events(CLIPS / "events.csv")
    unrelated = features_of(UNRELATED, work / "unrelated", args.backbone)[1]
    rows = {"people": rows_of("people", features, events, data, work / "runs", args, unrelated)}
    rows["people"] += finetuned_rows("people", CLIPS, events, work, args)
    data, features = features_of(WAVING, work / "waving", args.backbone)
    events = read_events(WAVING_EVENTS, WAVING_EVENT_NAMES)
    rows["waving"] = rows_of("waving", features, events, data, work / "waving-runs", args, unrelated)
    rows["waving"] += finetuned_rows("waving", WAVING, events, work / "waving-finetuned", args)
    info = {
        **generation_info(started, reuses_runs=True),
        "backbone": args.backbone,
        "command": "python benchmarks/real_videos.py"
        + (f" --epochs {args.epochs}" if args.epochs else "")
        + (" --no-finetune" if args.no_finetune else "")
        + (" ".join(["", "--finetune", *args.finetune]) if tuple(args.finetune) != FINETUNED else "")
        + (f" --finetune-epochs {args.finetune_epochs}" if args.finetune_epochs else "")
        + ("" if args.backbone == "efficientnet_lite0" else f" --backbone {args.backbone}"),
    }
    finetuned = (
        "No rows with the backbone fine-tuned in this generation (`--no-finetune`)." if args.no_finetune else
        "`<method>, backbone fine-tuned`: `vidalign finetune` with the method on the clips, no labels (the "
        "backbone's last 2 blocks and the method's encoder, `docs/finetune.md`), the clips and the sign clips "
        "re-extracted with the fine-tuned backbone; the name gives the epochs and the fine-tuning's time (its "
        "`log.csv`)."
    )  # fmt: skip
    suffix = "" if args.backbone == "efficientnet_lite0" else f"_{args.backbone}"
    out = args.out or REPO / "benchmarks" / f"REAL_VIDEOS{suffix}.md"
    out.write_text(markdown(rows, info, finetuned))
    print(out.read_text())


if __name__ == "__main__":
    main()
