"""How much of phase classification on the synthetic processes is a frame's position in its video ->
``benchmarks/POSITION_CHECK.md``.

Phase classification (protocol ``tcc``, fraction 1.0: an RBF SVC fitted on the ``train`` videos' frames, scored on
``val``) rewards any representation that knows where a frame is in its video: time-only features ``t/T`` score
above every method (``SYNTHETIC_SEEDS.md``). So every representation is scored twice on the same ``val`` videos:
whole, and **cut** at both ends (15-35 % of each video's frames removed at each end, drawn per video from the
generator seed), the classifier still fitted on the whole ``train`` videos. Cutting moves every frame's position
relative to the ends while its content stays; what a representation loses beyond the raw features' loss (some
frames are harder than others, and the cut removes whole phases) is what it knew from position. Rows: the
references (raw features, time-only, the untrained encoder), the seed methods with their presets, and VASOT with
four and five conv layers (receptive fields of 61 and 125 frames against the default's 29 on videos of 60-150
frames), the variant ``docs/methods.md`` (VASOT) rejected on this check.

Seeds: the reported ones of ``SYNTHETIC_SEEDS.md`` (0, 5-9); every method trained on ``train`` with training seed 0
(``SYNTHETIC_SEEDS.md`` trains with ``accuracy.py``'s own seeds, so its class@1.0 differs by a few hundredths).

    python benchmarks/position_check.py [--seeds 0 5 6 7 8 9] [--work DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import vidalign as va
from _header import for_this_code, generation_info, table_head
from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset
from vidalign.evaluation.folder import evaluate_folder

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS = (0, 5, 6, 7, 8, 9)
CUT = (0.15, 0.35)  # share of a video's frames removed at each end, drawn uniformly per video and end
# (row name, method, overrides); None: a reference representation evaluated as it is
ROWS = (
    ("raw features", "none", None),
    ("time only t/T", "time", None),
    ("conv encoder, untrained", "vaot", {"epochs": 0}),
    ("lac", "lac", {}),
    ("vaot", "vaot", {}),
    ("vasot", "vasot", {}),
    ("vasot, 4 conv layers", "vasot", {"encoder": {"n_layers": 4}}),
    ("vasot, 5 conv layers", "vasot", {"encoder": {"n_layers": 5}}),
)


def cut_copy(data: Path, out: Path, seed: int) -> Path:
    """``data`` with each ``val`` video cut at both ends (module docstring); written once."""
    if out.is_dir():
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(data, partial)
    rng = np.random.default_rng(seed)
    for video in (partial / "splits" / "val.txt").read_text().split():
        features = np.load(partial / "features" / f"{video}.npy")
        labels = (partial / "groundTruth" / f"{video}.txt").read_text().split()
        n = len(features)
        start, stop = round(n * rng.uniform(*CUT)), n - round(n * rng.uniform(*CUT))
        np.save(partial / "features" / f"{video}.npy", features[start:stop])
        (partial / "groundTruth" / f"{video}.txt").write_text("\n".join(labels[start:stop]) + "\n")
        (partial / "meta" / f"{video}.json").unlink(missing_ok=True)  # its timestamps are the uncut video's
    partial.rename(out)
    return out


def classification(data: Path, representation) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate_folder(data, representation, "alignment", train_split="train", eval_split="val",
                                 protocol="tcc")  # fmt: skip
    return result["phase_classification"]["1.0"]


def seed_scores(seed: int, work: Path) -> dict[str, tuple[float, float]]:
    """``row name -> (class@1.0 whole, cut)`` on one generator seed."""
    data = work / f"seed{seed}" / "data"
    if not data.is_dir():
        write_synthetic_dataset(data, SyntheticConfig(seed=seed))
    cut = cut_copy(data, work / f"seed{seed}" / "cut", seed)
    scores = {}
    for name, method, overrides in ROWS:
        if overrides is None:
            representation = method
        else:
            out = work / f"seed{seed}" / "runs" / name.replace(", ", "-").replace(" ", "_")
            representation = va.train(data, method, out, preset="synthetic", split="train", seed=0, **overrides).path
        scores[name] = (classification(data, representation), classification(cut, representation))
        print(seed, name, scores[name], flush=True)
    return scores


def markdown(by_seed: dict[int, dict], info: dict) -> str:
    seeds = sorted(by_seed)
    lines = table_head("Phase classification and position", "position_check.py", info)
    lines += [
        f"Synthetic processes, generator seeds {', '.join(map(str, seeds))}; phase classification at fraction 1.0 "
        "under protocol `tcc` (RBF SVC on the `train` videos' frames) of the `val` videos, whole and cut at both "
        f"ends ({CUT[0]:.0%}-{CUT[1]:.0%} of each video's frames removed at each end). `lost`: whole minus cut; "
        "`beyond raw`: what a representation lost minus what the raw features lost - what it knew from where a "
        "frame is in its video. Mean over the seeds; the last column each seed's cut score.",
        "",
        f"| representation | whole | cut | lost | beyond raw | cut, seeds {' '.join(map(str, seeds))} |",
        "|---|---|---|---|---|---|",
    ]
    raw_lost = statistics.mean(by_seed[s]["raw features"][0] - by_seed[s]["raw features"][1] for s in seeds)
    for name, _, _ in ROWS:
        whole = statistics.mean(by_seed[s][name][0] for s in seeds)
        cut = statistics.mean(by_seed[s][name][1] for s in seeds)
        per_seed = " ".join(f"{by_seed[s][name][1]:.2f}" for s in seeds)
        lost = whole - cut
        beyond = round(lost - raw_lost, 3) + 0.0  # no "-0.000"
        lines.append(f"| {name} | {whole:.3f} | {cut:.3f} | {lost:.3f} | {beyond:+.3f} | {per_seed} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidalign-position-check")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "POSITION_CHECK.md")
    args = parser.parse_args()
    args.work = for_this_code(args.work)
    started = time.perf_counter()
    by_seed = {seed: seed_scores(seed, args.work) for seed in args.seeds}
    info = {
        **generation_info(started, reuses_runs=True),
        "command": "python benchmarks/position_check.py"
        + ("" if tuple(args.seeds) == DEFAULT_SEEDS else " --seeds " + " ".join(map(str, args.seeds))),
    }
    args.out.write_text(markdown(by_seed, info))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
