"""The synthetic-process tables of ``benchmarks/accuracy.py`` over several generator seeds ->
``benchmarks/SYNTHETIC_SEEDS.md``.

One seed's ``val`` split holds a handful of videos, and the phase-classification score of one method moves by
0.1 from one seed to the next (``RESULTS.md`` is seed 0 alone), so the issue's target - every seed method above
raw features and the untrained encoder on phase classification (protocol ``tcc``, fraction 1.0) - and the papers'
orderings are read here as the mean over seeds, with the number of seeds on which each holds. The seeds are the
reported seed 0 and seeds 5-9: seeds 1-4 are the dev seeds that presets were tuned on (``presets/*.yaml``) and are
never reported. Each seed is one ``accuracy.py --skip penn mocap --seed S --work WORK/seedS --out WORK/seedS.md``
process, run only when ``WORK/seedS.json`` is not there yet.

    python benchmarks/synthetic_seeds.py [--seeds 0 5 6 7 8 9] [--work DIR] [--out benchmarks/SYNTHETIC_SEEDS.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _header import for_this_code, generation_info, table_head

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS = (0, 5, 6, 7, 8, 9)
REFERENCES = ("raw features", "conv encoder, untrained")
SEED_METHODS = ("lac", "vaot", "vasot")
# (name, how to read it from one row of accuracy.py's JSON)
ALIGNMENT_COLUMNS = (
    ("tau", lambda m: m["kendall_tau"]),
    ("AP@5", lambda m: m["ap@5"]),
    ("class@1.0 (tcc)", lambda m: m["protocols"]["tcc"]["class@1.0"]),
    ("within", lambda m: m.get("spread", {}).get("within")),
)
SEGMENTATION_COLUMNS = (("MoF", lambda m: m["mof"]["full"]), ("F1@25", lambda m: m["f1@25"]["full"]))
# (left, operator, right, column, margin): "left > right" or "left >= right - margin" on the column, as the issue
# states the targets (every seed method above the references) and the papers' orderings
CLAIMS = tuple((m, ">", ref, "class@1.0 (tcc)", 0.0) for m in SEED_METHODS for ref in REFERENCES) + (
    ("vaot", ">", "vava", "tau", 0.0),
    ("vaot", ">", "vava", "class@1.0 (tcc)", 0.0),
    ("vava", ">", "tcc", "tau", 0.0),
    ("lac", ">", "scl", "tau", 0.0),
    ("lac", ">", "scl", "class@1.0 (tcc)", 0.0),
    ("vasot", ">=", "vaot", "tau", 0.02),
    ("vasot", ">=", "asot", "MoF", 0.0),
    ("vasot", ">=", "asot", "F1@25", 0.0),
)


def run_seed(seed: int, work: Path) -> dict:
    """``accuracy.py``'s synthetic tables for one generator seed (rows by ``(table, name)``)."""
    out = work / f"seed{seed}.md"
    if not out.with_suffix(".json").is_file():  # a seed's finished table is read again, not recomputed
        argv = [sys.executable, str(REPO / "benchmarks" / "accuracy.py"), "--skip", "penn", "mocap", "--seed",
                str(seed), "--work", str(work / f"seed{seed}"), "--out", str(out)]  # fmt: skip
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    return {("segmentation" if "mof" in r["metrics"] else "alignment", r["name"]): r["metrics"] for r in rows}


def values(seeds: dict[int, dict], table: str, name: str, read) -> list[float | None]:
    return [read(found[(table, name)]) if (table, name) in found else None for found in seeds.values()]


def summary(numbers: list[float | None]) -> str:
    known = [x for x in numbers if x is not None]
    if not known:
        return "-"
    spread = f" ± {statistics.stdev(known):.3f}" if len(known) > 1 else ""
    return f"{statistics.mean(known):.3f}{spread}"


def column(seeds: dict[int, dict], name: str, label: str) -> list[float | None]:
    """One column of either table for the row ``name`` (segmentation for MoF / F1@25)."""
    for table, columns in (("alignment", ALIGNMENT_COLUMNS), ("segmentation", SEGMENTATION_COLUMNS)):
        for found_label, read in columns:
            if found_label == label and any((table, name) in found for found in seeds.values()):
                return values(seeds, table, name, read)
    return [None] * len(seeds)


def compared(left: list, operator: str, right: list, margin: float) -> tuple[str, str, str, str]:
    """Means of both sides, whether the claim holds on the means, and on how many seeds it holds."""

    def holds(a: float, b: float) -> bool:
        return a > b if operator == ">" else a >= b - margin

    pairs = [(a, b) for a, b in zip(left, right, strict=True) if a is not None and b is not None]
    on_means = bool(pairs) and holds(statistics.mean(a for a, _ in pairs), statistics.mean(b for _, b in pairs))
    count = sum(holds(a, b) for a, b in pairs)
    return summary(left), summary(right), "yes" if on_means else "no", f"{count} / {len(pairs)}"


def markdown(seeds: dict[int, dict], info: dict[str, str]) -> str:
    names = list(dict.fromkeys(name for found in seeds.values() for table, name in found if table == "alignment"))
    listed = ", ".join(str(s) for s in seeds)
    lines = [
        *table_head("The synthetic processes over generator seeds", "synthetic_seeds.py", info),
        f"Seeds {listed} (seeds 1-4 are the dev seeds presets were tuned on and are not reported); each is one "
        "`benchmarks/accuracy.py --skip penn mocap --seed S` run: trained on `train`, scored on `val`, Kendall's tau "
        "and AP@5 under protocol `ours`, phase classification at fraction 1.0 under protocol `tcc` (RBF SVC "
        "one-vs-one on `train`). Mean ± standard deviation over the seeds; `within`: mean cosine similarity of a "
        "video's own frames (near 1: collapsed).",
        "",
        "| method | " + " | ".join(label for label, _ in ALIGNMENT_COLUMNS) + f" | class@1.0 (tcc), seeds {listed} |",
        "|---" * (len(ALIGNMENT_COLUMNS) + 2) + "|",
    ]
    read_class = dict(ALIGNMENT_COLUMNS)["class@1.0 (tcc)"]
    for name in names:
        cells = [summary(values(seeds, "alignment", name, read)) for _, read in ALIGNMENT_COLUMNS]
        per_seed = " ".join("-" if x is None else f"{x:.2f}" for x in values(seeds, "alignment", name, read_class))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {per_seed} |")
    lines += ["", "Segmentation of the `val` videos (Hungarian matching over the split):", ""]
    segmenters = list(dict.fromkeys(n for found in seeds.values() for table, n in found if table == "segmentation"))
    lines += ["| method | " + " | ".join(label for label, _ in SEGMENTATION_COLUMNS) + " |", "|---|---|---|"]
    for name in segmenters:
        cells = [summary(values(seeds, "segmentation", name, read)) for _, read in SEGMENTATION_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Targets and orderings",
        "",
        "| claim | metric | left | right | holds on the means | holds on seeds |",
        "|---|---|---|---|---|---|",
    ]
    for left, operator, right, label, margin in CLAIMS:
        cells = compared(column(seeds, left, label), operator, column(seeds, right, label), margin)
        claim = f"{left} {operator} {right}" + (f" - {margin}" if margin else "")
        lines.append(f"| {claim} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidalign-synthetic-seeds")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "SYNTHETIC_SEEDS.md")
    args = parser.parse_args()
    args.work = for_this_code(args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seeds = {}
    for seed in args.seeds:
        print(f"seed {seed}", flush=True)
        seeds[seed] = run_seed(seed, args.work)
    info = {**generation_info(started, reuses_runs=True),
            "command": "python benchmarks/synthetic_seeds.py --seeds " + " ".join(map(str, args.seeds))}  # fmt: skip
    args.out.write_text(markdown(seeds, info))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
