"""Raw features as they are and standardised per recording, on every kind of data at hand ->
``benchmarks/STANDARDIZED_DEFAULT.md``: the measurements behind the default of ``vidalign align`` without a model
(``docs/methods.md``, Raw features of videos of people): standardised for DTW when both inputs are videos or poses,
as they are for a local alignment (sw), for OT and for features of unknown kind; ``vidalign compare`` standardises
only when asked.

- intel people (six real clips, key events; ``benchmarks/real_videos.py``): the key-event error in seconds after
  DTW, OT and SW of the 30 ordered pairs (SW and OT: over the events they match, and how many);
- ``compare`` of recordings that do not deviate (the intel people; one trial filmed by four cameras): the share of
  query frames it flags;
- Penn Action poses (``val`` of each action, when ``../shared/data/penn_action`` is there), the demo's rendered
  videos (``vidalign demo``'s data: ``efficientnet_lite0`` features, ``val``) and the synthetic feature processes
  (the reported seeds 0 and 5-9, ``val``): Kendall's tau of the representation (protocol ``ours``).

Nothing is trained. ``--work`` keeps the extracted and converted features for a second run.

    python benchmarks/standardized_default.py [--work DIR] [--out benchmarks/STANDARDIZED_DEFAULT.md]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import vidalign as va
from _header import for_this_code, table_head
from vidalign.api import STANDARDIZED_METHODS
from vidalign.data.penn_action import convert_penn_action
from vidalign.data.render import render_dataset
from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset
from vidalign.demo import DemoConfig
from vidalign.errors import TrustWarning
from vidalign.evaluation.folder import evaluate_folder
from vidalign.extraction import extract_videos

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CLIPS = SHARED / "videos" / "intel_one_by_one" / "one_by_one_clips"
CAMERAS = SHARED / "videos" / "pose2sim_4cams" / "Demo_SinglePerson"  # one trial filmed by 4 cameras
PENN_ACTIONS = ("baseball_pitch", "baseball_swing", "golf_swing", "tennis_serve")
SYNTHETIC_SEEDS = (0, 5, 6, 7, 8, 9)  # benchmarks/synthetic_seeds.py's reported seeds
METHODS = ("dtw", "ot", "sw")


def clip_features(videos: Path, folder: Path) -> dict[str, np.ndarray]:
    """``efficientnet_lite0`` features of the videos in ``videos`` (extracted into ``folder`` once)."""
    if not (folder / "splits").is_dir():
        va.extract(videos, folder, split="all", progress=True)
    return {r.video_id: r.features for r in va.load_features(folder).load_split("all")}


def intel_rows(features: dict[str, np.ndarray]) -> list[dict]:
    """Key-event error of each alignment method on the intel clips' ``features``, raw and standardised
    (``real_videos.py``'s measure)."""
    from real_videos import FPS, carried_events, read_events  # benchmarks/ is on the path of this script

    events = read_events(CLIPS / "events.csv")
    rows = []
    for method in METHODS:
        errors, matched = {}, {}
        for standardize in (False, True):
            aligner = va.Aligner(None, method=method, standardize=standardize)
            per_pair = []
            for a, b in itertools.permutations(sorted(features), 2):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", TrustWarning)
                    warnings.simplefilter("ignore", RuntimeWarning)  # an event sw / ot leaves unmatched: NaN
                    pairs = aligner(features[a], features[b]).pairs
                    per_pair.append(np.abs(carried_events(pairs, events[a]) - events[b]) / FPS)
            errors[standardize] = float(np.nanmean(per_pair))
            matched[standardize] = f"{int(np.isfinite(per_pair).sum())} of {np.size(per_pair)}"
        measure = "key-event error (s), lower is better"
        if method != "dtw":  # a local alignment, or OT's dummy frame, may leave events unmatched
            measure += f" (over the events it matches: raw {matched[False]}, standardized {matched[True]})"
        rows.append(row(f"intel people, {method}", measure, errors, method in STANDARDIZED_METHODS))
        print(rows[-1], flush=True)
    return rows


def compare_row(name: str, features: dict[str, np.ndarray]) -> dict:
    """``compare`` of every ordered pair of recordings of one action, none deviating: the share of query frames
    flagged, raw and standardised (the findings it should not make)."""
    shares = {}
    for standardize in (False, True):
        per_pair = []
        for reference, query in itertools.permutations(sorted(features), 2):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TrustWarning)
                flagged = va.compare(features[reference], features[query], standardize=standardize).flagged
            per_pair.append(sum(end - start + 1 for start, end in flagged) / len(features[query]))
        shares[standardize] = float(np.mean(per_pair))
    return row(name, "compare: share of query frames flagged, lower is better", shares, False)


def tau_row(name: str, folder: Path, train_split: str, default: bool) -> dict:
    """Kendall's tau on ``val`` of the folder's raw features and of the same standardised per recording."""
    taus = {}
    for standardize in (False, True):
        model = "standardized" if standardize else "none"
        result = evaluate_folder(folder, model, "alignment", train_split=train_split, eval_split="val")
        taus[standardize] = result["kendall_tau"]
    return row(name, "Kendall's tau, higher is better", taus, default)


def folder_rows(work: Path) -> list[dict]:
    """The Penn Action, demo-video and synthetic rows (folders converted, rendered or generated into ``work``)."""
    rows = []
    if (SHARED / "penn_action" / "labels").is_dir():
        penn = work / "penn"
        if not penn.exists():
            convert_penn_action(SHARED / "penn_action" / "labels", penn, actions=list(PENN_ACTIONS))
        rows += [tau_row(f"Penn Action poses, {a}", penn / a, "train_sub", True) for a in PENN_ACTIONS]
    demo = DemoConfig()
    videos, features = work / "demo_videos", work / "demo"
    if not (videos / "splits").is_dir():
        render_dataset(SyntheticConfig(n_videos=demo.n_videos, n_phases=demo.n_phases, seed=demo.seed), videos)
    if not (features / "splits").is_dir():
        extract_videos([videos / "videos"], features, backbone=demo.backbone, stride=demo.stride, labels_from=videos)
    rows.append(tau_row("the demo's rendered videos", features, "train", True))
    seeds = []
    for seed in SYNTHETIC_SEEDS:
        folder = work / f"synthetic{seed}"
        if not folder.exists():
            write_synthetic_dataset(folder, SyntheticConfig(seed=seed))
        seeds.append(tau_row(f"synthetic feature processes, seed {seed}", folder, "train", False))
    mean = {False: float(np.mean([r["raw"] for r in seeds])), True: float(np.mean([r["standardized"] for r in seeds]))}
    return rows + seeds + [row("synthetic feature processes, mean of the seeds", seeds[0]["measure"], mean, False)]


def row(name: str, measure: str, values: dict[bool, float], default: bool) -> dict:
    """One table row: ``values`` by whether the features were standardised; ``default``: whether align would."""
    return {"name": name, "measure": measure, "raw": values[False], "standardized": values[True], "default": default}


def markdown(rows: list[dict], info: dict) -> str:
    lines = table_head("Raw features, as they are and standardised per recording", "standardized_default.py", info)
    lines += [
        "What `vidalign align` without a model does by default (docs/methods.md, Raw features of videos of people): "
        "`standardized default` says whether these inputs would be standardised unless told otherwise (dtw on "
        "videos, pose keypoints or files of a video / pose feature folder; not sw or ot, not features of unknown "
        "kind such as the synthetic processes' arrays; `compare` only when asked). Nothing is trained.",
        "",
        "| data | measure | raw | standardized | standardized default |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {r['measure']} | {r['raw']:.3f} | {r['standardized']:.3f} | "
                     f"{'yes' if r['default'] else 'no'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="where features are kept (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "STANDARDIZED_DEFAULT.md")
    args = parser.parse_args()
    work = for_this_code(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidalign-standardized-"))
    started = time.perf_counter()
    rows = []
    if CLIPS.is_dir():
        people = clip_features(CLIPS, work / "intel")
        rows += intel_rows(people)
        rows.append(compare_row("intel people, 30 ordered pairs", people))
    if CAMERAS.is_dir():
        rows.append(compare_row("one trial by 4 cameras, 12 ordered pairs", clip_features(CAMERAS, work / "cameras")))
    rows += folder_rows(work)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    minutes = (time.perf_counter() - started) / 60
    info = {"commit": commit.stdout.strip() or "unknown", "wall time": f"{minutes:.1f} min",
            "machine": f"{platform.machine()}, vidalign {va.__version__}",
            "command": "python benchmarks/standardized_default.py"}  # fmt: skip
    args.out.write_text(markdown(rows, info))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
