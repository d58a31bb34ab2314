"""The match-ratio test of alignment confidence on recordings a model never saw -> ``benchmarks/UNFAMILIAR_PAIRS.md``.

A trained model records how closely its training recordings match one another (``spread.matched``), and
``align`` / ``compare`` distrust a pair whose matched frames are more than ``MAX_MATCH_RATIO`` times as far from
identical (``docs/methods.md``, Alignment confidence, "Unlike the training recordings"). Its value was chosen on
these dev carves; this script measures them again. Per carve, recordings are left out of the model's training:

- ``related``: each left-out recording with training recordings of the same action (trusted is right);
- ``another action``: left-out recordings with recordings of something else (trusted is wrong).

Carves (``--sets``): ``intel`` (the six intel people, each left out of a model trained on the other five; its pairs
with the five, both ways, and with the 20 ASL sign clips; ``efficientnet_lite0`` features), ``waving`` (the eight
BIISC clips, the same), ``penn`` (Penn Action poses ``train_sub``: the last 16 clips of an action left out of a
model trained on the other 55; each with 4 training clips drawn at random, and 10 clips of another action with 3
left-out ones), ``exercise`` (the synthetic exercise clips of dev seeds 1 and 3, normal and harder; clips 8 and 9
left out; with the other 8, both ways, and 5 clips of another exercise with them and 3 training clips).

Columns: the share trusted with the test (``with``) and without it (``without``: the test was the only one failed),
the median and 90th percentile of the match ratio, and for the intel and waving related pairs the key-event error
(seconds, as ``benchmarks/real_videos.py`` scores it) of the pairs the test distrusts and of the others.

    python benchmarks/unfamiliar_pairs.py [--sets intel waving penn exercise] [--work DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import vidalign as va
from _header import for_this_code, generation_info, table_head
from real_videos import (
    CLIPS,
    FPS,
    UNRELATED,
    WAVING,
    WAVING_EVENT_NAMES,
    WAVING_EVENTS,
    carried_events,
    features_of,
    read_events,
)
from vidalign.confidence import MAX_MATCH_RATIO
from vidalign.data.exercise import ExerciseConfig, generate_exercise, write_exercise_dataset
from vidalign.data.penn_action import convert_penn_action
from vidalign.errors import TrustWarning

REPO = Path(__file__).resolve().parents[1]
PENN_LABELS = REPO.parent / "shared" / "data" / "penn_action" / "labels"
SETS = ("intel", "waving", "penn", "exercise")
LEFT_OUT_METHODS = ("vaot", "vasot", "lac")  # intel and waving
PENN_CARVES = (("golf_swing", "tennis_serve", "vaot"), ("tennis_serve", "baseball_pitch", "vaot"),
               ("baseball_pitch", "golf_swing", "vaot"), ("golf_swing", "tennis_serve", "lac"))  # fmt: skip
PENN_LEFT_OUT = 16
EXERCISE_CARVES = ((1, False), (3, False), (1, True), (3, True))  # (dev seed, harder)
HARDER = {"motion": 0.12, "noise": 0.3}  # as benchmarks/exercise_phase.py --harder


def judged(aligner: va.Aligner, a, b) -> dict:
    """The pair's trust with and without the match-ratio test, its ratio and its pairs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrustWarning)
        result = aligner(a, b)
    c = result.confidence
    unlike = c.match_ratio is not None and c.match_ratio > MAX_MATCH_RATIO
    return {"with": c.trusted, "without": c.trusted or (unlike and len(c.reasons) == 1), "ratio": c.match_ratio,
            "pairs": result.pairs}  # fmt: skip


def training_folder(source: Path, keep: list[str], out: Path) -> Path:
    """A feature folder of ``source``'s recordings ``keep`` (links), its split ``all``."""
    for sub in ("features", "meta"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for name in ("dataset.json", "extractor.json"):
        if (source / name).exists() and not (out / name).exists():
            os.symlink(source / name, out / name)
    for video_id in keep:
        for sub, suffix in (("features", "npy"), ("meta", "json")):
            target = out / sub / f"{video_id}.{suffix}"
            if (source / sub / target.name).exists() and not target.exists():
                os.symlink(source / sub / target.name, target)
    (out / "splits").mkdir(exist_ok=True)
    (out / "splits" / "all.txt").write_text("".join(f"{v}\n" for v in keep))
    return out


def trained(data: Path, method: str, out: Path) -> va.Aligner:
    options = {"loss": {"n_clusters": 4}} if method == "vasot" else {}
    return va.Aligner(va.train(data, method, out, split="all", **options).path)


def left_out_rows(name: str, folder: Path, files: dict[str, Path], unrelated: dict[str, Path], events, work: Path):
    """Every recording of ``files`` left out in turn (module docstring), per method."""
    rows = []
    for method in LEFT_OUT_METHODS:
        related, other = [], []
        for held in files:
            keep = [v for v in files if v != held]
            aligner = trained(training_folder(folder, keep, work / method / held / "data"), method,
                              work / method / held / "run")  # fmt: skip
            for a, b in [(held, v) for v in keep] + [(v, held) for v in keep]:
                pair = judged(aligner, files[a], files[b])
                pair["error"] = np.abs(carried_events(pair["pairs"], events[a]) - events[b]).mean() / FPS
                related.append(pair)
            other += [judged(aligner, files[held], clip) for clip in unrelated.values()]
        rows.append(row(f"{name}, {method}", related, other))
        print(rows[-1], flush=True)
    return rows


def penn_rows(work: Path) -> list[dict]:
    root = work / "penn"
    if not (root / "golf_swing").exists():
        convert_penn_action(PENN_LABELS, root, actions=["golf_swing", "tennis_serve", "baseball_pitch"])
    rows = []
    for action, other_action, method in PENN_CARVES:
        ids = va.load_features(root / action).video_ids("train_sub")
        fit, held = ids[:-PENN_LEFT_OUT], ids[-PENN_LEFT_OUT:]
        others = va.load_features(root / other_action).video_ids("train_sub")[:10]
        data = training_folder(root / action, fit, work / "penn-runs" / f"{action}-{method}" / "data")
        aligner = trained(data, method, work / "penn-runs" / f"{action}-{method}" / "run")
        path = {v: root / action / "features" / f"{v}.npy" for v in ids}
        draw = random.Random(0)
        related = [judged(aligner, path[h], path[v]) for h in held for v in draw.sample(fit, 4)]
        other_path = root / other_action / "features"
        other = [judged(aligner, path[h], other_path / f"{o}.npy") for o in others for h in draw.sample(held, 3)]
        rows.append(row(f"penn {action} (another: {other_action}), {method}", related, other))
        print(rows[-1], flush=True)
    return rows


def exercise_rows(work: Path) -> list[dict]:
    rows = []
    for seed, harder in EXERCISE_CARVES:
        config = ExerciseConfig(seed=seed, **(HARDER if harder else {}))
        clips = {c.video_id: c.features for c in generate_exercise(config)}
        others = [c.features for c in generate_exercise(ExerciseConfig(seed=seed + 1000, **(HARDER if harder else {})))]
        folder = work / f"exercise-{seed}-{int(harder)}"
        if not (folder / "data").exists():
            write_exercise_dataset(folder / "data", config)
        ids = sorted(clips)
        fit, held = ids[:-2], ids[-2:]
        aligner = trained(training_folder(folder / "data", fit, folder / "fit"), "vaot", folder / "run")
        related = [judged(aligner, clips[a], clips[b]) for h in held for v in fit for a, b in ((h, v), (v, h))]
        other = [judged(aligner, clips[v], o) for o in others[:5] for v in held + fit[:3]]
        rows.append(row(f"exercise seed {seed}{' harder' if harder else ''}, vaot", related, other))
        print(rows[-1], flush=True)
    return rows


def row(name: str, related: list[dict], other: list[dict]) -> dict:
    def shares(pairs: list[dict]) -> dict:
        ratios = np.array([p["ratio"] for p in pairs], dtype=float)
        return {"with": np.mean([p["with"] for p in pairs]), "without": np.mean([p["without"] for p in pairs]),
                "ratio": (np.median(ratios), np.percentile(ratios, 90)), "n": len(pairs)}  # fmt: skip

    result = {"name": name, "related": shares(related), "other": shares(other)}
    if related and "error" in related[0]:
        unlike = [p["error"] for p in related if p["ratio"] > MAX_MATCH_RATIO]
        kept = [p["error"] for p in related if p["ratio"] <= MAX_MATCH_RATIO]
        result["errors"] = (np.mean(unlike) if unlike else None, np.mean(kept) if kept else None, len(unlike))
    return result


def markdown(rows: list[dict], info: dict) -> str:
    lines = table_head("Pairs unlike a model's training recordings: the match-ratio test", "unfamiliar_pairs.py", info)
    what, pairs = __doc__.replace("``", "`").split("\n\n")[1:3]
    lines += [
        what.replace("\n", " "),
        "",
        pairs.replace("\n  ", " "),
        "",
        f"Threshold: match ratio above {MAX_MATCH_RATIO:g} is untrusted. Carves, columns: the script's docstring.",
        "",
        "| carve, model | related: trusted without -> with | ratio median / p90 | another action: trusted without "
        "-> with | ratio median / p90 | event error (s) of the related pairs distrusted by it / the others |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["name"]]
        for kind in ("related", "other"):
            s = r[kind]
            cells += [f"{s['without']:.2f} -> {s['with']:.2f} ({s['n']})", f"{s['ratio'][0]:.1f} / {s['ratio'][1]:.1f}"]
        if "errors" in r:
            unlike, kept, count = r["errors"]
            cells.append(f"{'-' if unlike is None else f'{unlike:.2f}'} ({count}) / {kept:.2f}")
        else:
            cells.append("-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidalign-unfamiliar-pairs")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "UNFAMILIAR_PAIRS.md")
    args = parser.parse_args()
    started = time.perf_counter()
    work = for_this_code(args.work)
    unrelated = features_of(UNRELATED, work / "unrelated", "efficientnet_lite0")[1]
    rows = []
    if "intel" in args.sets:
        folder, files = features_of(CLIPS, work / "intel", "efficientnet_lite0")
        rows += left_out_rows("intel people", folder, files, unrelated, read_events(CLIPS / "events.csv"),
                              work / "intel-runs")  # fmt: skip
    if "waving" in args.sets:
        folder, files = features_of(WAVING, work / "waving", "efficientnet_lite0")
        events = read_events(WAVING_EVENTS, WAVING_EVENT_NAMES)
        rows += left_out_rows("BIISC waving", folder, files, unrelated, events, work / "waving-runs")
    if "penn" in args.sets and PENN_LABELS.is_dir():
        rows += penn_rows(work)
    if "exercise" in args.sets:
        rows += exercise_rows(work)
    sets = "" if args.sets == list(SETS) else " --sets " + " ".join(args.sets)
    info = {**generation_info(started, reuses_runs=True), "command": f"python benchmarks/unfamiliar_pairs.py{sets}"}
    args.out.write_text(markdown(rows, info))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
