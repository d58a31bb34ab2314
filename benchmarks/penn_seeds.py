"""Penn Action `val` tau of the seed methods over training seeds -> ``benchmarks/PENN_SEEDS.md``.

``RESULTS.md`` trains every method once (seed 0), and one training seed moves a method's mean tau over the four
actions by up to 0.01-0.02 - the size of the margin the VASOT paper's ordering allows (VASOT within 0.02 tau of
VAOT). This script trains each method with several seeds on Penn Action ``train_sub`` (family ``penn_action``, the
settings ``accuracy.py`` uses) and scores Kendall's tau on ``val`` under protocol ``tcc``, per action and seed, next
to the reference rows (raw features, time only ``t/T``, and the default conv encoder untrained with each seed).
The claim is read on the mean over seeds, with the number of seeds on which it holds.

    python benchmarks/penn_seeds.py [--methods vaot vasot] [--seeds 0 1 2] [--work DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _header import for_this_code, generation_info, table_head
from accuracy import PENN_ACTIONS, SHARED, protocol_scores, run_training
from vidalign.data.layout import FeatureFolder
from vidalign.data.penn_action import convert_penn_action
from vidalign.evaluation.spread import embedding_spread
from vidalign.models.model import load_model

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_METHODS = ("vaot", "vasot")
MARGIN = 0.02  # the VASOT paper's ordering: VASOT's alignment within 0.02 tau of VAOT's


def tau(folder: Path, model) -> float:
    return protocol_scores(folder, model, "train_sub", "tcc")["kendall_tau"]


def within(folder: Path, run: Path) -> float:
    """The collapse check: mean cosine similarity of a ``val`` video's own frames in the run's embedding."""
    model, _ = load_model(run)
    return embedding_spread([model.embed(r.features) for r in FeatureFolder(folder).load_split("val")])["within"]


def method_taus(method: str, seeds: list[int], work: Path) -> tuple[dict[int, dict[str, float]], float]:
    """``seed -> action -> tau`` of ``method`` (``"untrained"``: the conv encoder with 0 epochs) and its mean
    within-video similarity over every seed and action."""
    found: dict[int, dict[str, float]] = {}
    withins = []
    for seed in seeds:
        for action in PENN_ACTIONS:
            folder = work / "penn" / action
            run = work / f"{method}-{action}-s{seed}"
            if method == "untrained":
                run_training("vaot", folder, "penn_action", "train_sub", run, seed, [], epochs=0)
            else:
                run_training(method, folder, "penn_action", "train_sub", run, seed, [])
            found.setdefault(seed, {})[action] = tau(folder, run)
            withins.append(within(folder, run))
            print(method, seed, action, f"{found[seed][action]:.3f}", flush=True)
    return found, statistics.mean(withins)


def mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f}" + (f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else "")


def markdown(rows: dict[str, tuple[dict, float]], references: dict[str, dict[str, float]], seeds, info) -> str:
    seed_cells = " | ".join(f"seed {s}" for s in seeds)
    lines = table_head("Penn Action val tau over training seeds", "penn_seeds.py", info)
    lines += [
        "Kendall's tau (protocol `tcc`, stride 5) on Penn Action `val`, trained on `train_sub` (family "
        "`penn_action`, as `RESULTS.md`); per action the mean ± standard deviation over the training seeds, then "
        "each seed's mean over the four actions; `within`: the mean cosine similarity of a `val` video's own frames "
        "(collapse: near 1), over seeds and actions. Reference rows: raw features and time only `t/T` (no "
        "training), the conv encoder untrained (initialised with each seed).",
        "",
        f"| representation | {' | '.join(PENN_ACTIONS)} | mean | {seed_cells} | within |",
        "|---|" + "---|" * (len(PENN_ACTIONS) + 2 + len(seeds)),
    ]
    for name, by_action in references.items():
        cells = [f"{by_action[a]:.3f}" for a in PENN_ACTIONS]
        mean = statistics.mean(by_action.values())
        lines.append(f"| {name} | {' | '.join(cells)} | **{mean:.3f}** | {' | '.join('-' for _ in seeds)} | - |")
    for name, (by_seed, mean_within) in rows.items():
        cells = [mean_sd([by_seed[s][a] for s in seeds]) for a in PENN_ACTIONS]
        means = [statistics.mean(by_seed[s].values()) for s in seeds]
        lines.append(f"| {name} | {' | '.join(cells)} | **{mean_sd(means)}** | "
                     f"{' | '.join(f'{m:.3f}' for m in means)} | {mean_within:.2f} |")  # fmt: skip
    if "vaot" in rows and "vasot" in rows:
        vaot = [statistics.mean(rows["vaot"][0][s].values()) for s in seeds]
        vasot = [statistics.mean(rows["vasot"][0][s].values()) for s in seeds]
        held = sum(b + MARGIN >= a for a, b in zip(vaot, vasot, strict=True))
        holds = statistics.mean(vasot) + MARGIN >= statistics.mean(vaot)
        lines += ["", "| claim | vasot | vaot | holds (mean) | seeds where it holds |", "|---|---|---|---|---|",
                  f"| VASOT (ICCV 2025): vasot + {MARGIN} >= vaot, Penn Action mean tau | "
                  f"{statistics.mean(vasot):.3f} | {statistics.mean(vaot):.3f} | {'yes' if holds else 'no'} | "
                  f"{held} of {len(seeds)} |"]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidalign-penn-seeds")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "PENN_SEEDS.md")
    args = parser.parse_args()
    args.work = for_this_code(args.work)
    if not (SHARED / "penn_action" / "labels").is_dir():
        raise SystemExit(f"Penn Action labels not found under {SHARED}: nothing to measure")
    started = time.perf_counter()
    if not (args.work / "penn").exists():
        convert_penn_action(SHARED / "penn_action" / "labels", args.work / "penn", actions=PENN_ACTIONS)
    references = {
        name: {a: tau(args.work / "penn" / a, model) for a in PENN_ACTIONS}
        for name, model in (("raw features", "none"), ("time only t/T", "time"))
    }
    rows = {"conv encoder, untrained": method_taus("untrained", args.seeds, args.work)}
    rows.update({m: method_taus(m, args.seeds, args.work) for m in args.methods})
    info = generation_info(started, reuses_runs=True)
    info["command"] = "python benchmarks/penn_seeds.py " + " ".join(
        ["--methods", *args.methods, "--seeds", *map(str, args.seeds)]
    )
    args.out.write_text(markdown(rows, references, args.seeds, info))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
