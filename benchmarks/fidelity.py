"""Fidelity table (issue "The seed methods as the papers define them"): one row per change, before and after.

Each item of ``ITEMS`` compares variants of one method - the behaviour before the change (reproduced by an explicit
option) and after it (the default), plus the published configuration where the item adds one - trained with the
same seed on the same data and scored on the same videos:

- ``penn``: Penn Action poses, four single-execution actions, trained on ``train_sub``, Kendall's tau (stride 5) on
  ``val`` per action (AP@K and classification need phase labels Penn Action lacks here);
- ``synthetic``: the synthetic processes, trained on ``train``, scored on ``val`` under protocol ``tcc`` (RBF SVC
  one-vs-one, fraction 1.0): tau, phase classification, AP@5;
- ``demo``: the demo's rendered videos through ``efficientnet_lite0`` (real CNN features of rendered frames), the
  same metrics (Kendall stride 1: the videos are short);
- ``mocap6``: CMU mocap6 segmentation of all sequences (MoF, F1@25; full Hungarian matching) for segmentation
  methods.

Reference rows (raw features, the default conv encoder untrained, time-only features) head each dataset's table.
The structure-term diagnostics of item 1 (pseudo-label entropy, plan change from 25 to 100 iterations at the
presets' sizes) are computed directly. Runs are cached in ``--work`` by their configuration, under a folder named
by the source digest, the seed and the budget (``--quick`` or not), so an interrupted run resumes and changed code,
another seed or a smoke run never lends its runs or scores to a table. Usage::

    python benchmarks/fidelity.py                 # -> benchmarks/FIDELITY.md (+ .json), about 1.5 h on 2 cores
    python benchmarks/fidelity.py --quick         # 2 epochs, golf_swing only: a smoke run
    python benchmarks/fidelity.py --items 4a --work W2 &   # items in parallel, each in its own work folder,
    python benchmarks/fidelity.py --item-work 4a=W2        # then one table from every folder's cache
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _header import for_this_code, generation_info
from vidalign.api import train
from vidalign.data.layout import FeatureFolder
from vidalign.data.mocap6 import convert_mocap6
from vidalign.data.penn_action import convert_penn_action
from vidalign.data.render import render_dataset
from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset
from vidalign.evaluation.folder import evaluate_folder
from vidalign.evaluation.spread import embedding_spread
from vidalign.extraction import extract_videos
from vidalign.losses.vaot import VAOTLoss
from vidalign.models.model import load_model
from vidalign.ops.fgw import fused_gw
from vidalign.ops.structure import band_radii, cx_weights, structure_product
from vidalign.presets import train_settings
from vidalign.run_dir import RunDir

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PENN_ACTIONS = ["baseball_pitch", "baseball_swing", "golf_swing", "tennis_serve"]
ALIGN = ("penn", "synthetic", "demo")
SEGMENT = ("mocap6",)
ADDED_SETTINGS = (("augment", "drift", 0.0),)  # (section, name, default) of settings newer than the run keys


@dataclasses.dataclass(frozen=True)
class Variant:
    """One configuration: ``method`` with ``preset`` and ``overrides``; ``full_rate`` re-evaluates the trained model
    with inference at the full frame rate (the behaviour before the frame-rate fix)."""

    label: str
    method: str
    preset: str | None = None
    overrides: tuple[str, ...] = ()
    full_rate: bool = False

    def settings(self, folder: Path, split: str, seed: int, epochs: int | None) -> dict:
        """The resolved training settings (the run directory left out)."""
        return train_settings(
            self.method, folder, "RUN", preset=self.preset, overrides=list(self.overrides), split=split, seed=seed,
            epochs=epochs,
        )  # fmt: skip

    def train(self, folder: Path, split: str, seed: int, epochs: int | None, out: Path) -> None:
        """Train this variant into ``out`` (:func:`vidalign.api.train`, the same settings as :meth:`settings`)."""
        train(folder, self.method, out, preset=self.preset, assignments=self.overrides, split=split, seed=seed,
              epochs=epochs)  # fmt: skip

    def key(self, folder: Path, split: str, seed: int, epochs: int | None) -> str:
        """Names the run by everything it is trained with, so a changed default never reuses a stale run. A setting
        of :data:`ADDED_SETTINGS` at its default is left out, so the runs cached before it existed keep their name
        (``RunDir.claim`` accepts them the same way)."""
        settings = self.settings(folder, split, seed, epochs)
        for section, name, default in ADDED_SETTINGS:
            if section in settings and settings[section].get(name, default) == default:
                settings[section] = {k: v for k, v in settings[section].items() if k != name}
        text = json.dumps(settings, sort_keys=True)
        return f"{self.method}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


@dataclasses.dataclass(frozen=True)
class Item:
    number: str
    title: str
    variants: tuple[Variant, ...]
    datasets: tuple[str, ...] = ALIGN
    note: str = ""


# LAC's former default: local-window transformer, one-way contrastive, free gaps, 40 frames, 30 epochs, no mirror
BEFORE_LAC = ("encoder.kind=transformer", "encoder.n_layers=2", "loss.contrastive=one_way", "loss.gap_model=free",
              "sampling.loss_frames=40", "augment.mirror_channels=null", "augment.drift=0", "epochs=30")  # fmt: skip
NO_AUGMENT = ("augment.noise=0", "augment.gain=0", "augment.speed_min=1", "augment.speed_max=1")
ITEMS = (
    Item(
        "1",
        "Structure term at any length (VAOT, Cx weight)",
        (
            Variant("before: 1/r (R rounded up)", "vaot", overrides=("loss.cx_weight=fraction",)),
            Variant("after: N/R", "vaot"),
        ),
    ),
    Item(
        "2",
        "Two VAOT solvers",
        (
            Variant("published: one Sinkhorn sweep", "vaot", overrides=("loss.solver=published",)),
            Variant("official preset (published, 20 frames)", "vaot", preset="official"),
            Variant("mirror descent, no regulariser (the paper's loss alone)", "vaot", overrides=("loss.idm=0",)),
            Variant("mirror descent (default: + Contrastive-IDM against collapse, 0.5; video features 0.2)", "vaot"),
        ),
    ),
    Item(
        "3a",
        "VASOT: one set of OT values for both branches",
        (
            Variant(
                "before: VAOT's own values, lam 0.05", "vasot", overrides=("loss.align_ot=vaot", "loss.asot.lam=0.05")
            ),
            Variant(
                "shared, every frame, no augmentation (the default before; Penn Action had 16 frames)",
                "vasot",
                overrides=("sampling.loss_frames=null", *NO_AUGMENT),
            ),
            Variant("after: shared (published code), 16 frames (mocap6: 128), augmentation", "vasot"),
        ),
        ALIGN + SEGMENT,
    ),
    Item(
        "3b",
        "ASOT: action-side KL weight from the run scripts",
        (
            Variant("before: lam 0.05 (argparse default)", "asot", overrides=("loss.lam=0.05",)),
            Variant("after: lam 0.12", "asot"),
        ),
        SEGMENT + ("synthetic_segmentation",),
    ),
    Item(
        "4a",
        "LAC: official settings, and gaps with a finite optimum",
        (
            Variant(
                "before: transformer, one-way contrastive, free gaps, 40 frames, 30 epochs", "lac", overrides=BEFORE_LAC
            ),
            Variant("free gaps (otherwise after)", "lac", overrides=("loss.gap_model=free",)),
            Variant("no slow drift per view (otherwise after)", "lac", overrides=("augment.drift=0",)),
            Variant("official preset", "lac", preset="official"),
            Variant("after: ours (transition gaps, symmetric, conv, 100 epochs, drift 0.25)", "lac"),
        ),
    ),
    Item(
        "4b",
        "SCL: loss on a projection head, evaluation before it",
        (
            Variant(
                "before: no projection head, 30 epochs, no mirror",
                "scl",
                overrides=("encoder.projection=0", "augment.mirror_channels=null", "epochs=30"),
            ),
            Variant("no projection head (otherwise after)", "scl", overrides=("encoder.projection=0",)),
            Variant("after: projection 128, 100 epochs", "scl"),
        ),
    ),
    Item(
        "5",
        "Same frame rate at training and evaluation (encoder max_frames 32 so that these lengths are strided)",
        (
            Variant("before: evaluated at full rate", "vaot", overrides=("encoder.max_frames=32",), full_rate=True),
            Variant("after: evaluated at the training rate", "vaot", overrides=("encoder.max_frames=32",)),
        ),
    ),
    Item(
        "8",
        "The data's kind picks its settings (Penn Action poses without --preset)",
        (
            Variant("before: video-feature scaling", "vaot", preset="video"),
            Variant("after: pose, from dataset.json", "vaot"),
        ),
        ("penn",),
        "VASOT on a Penn Action folder without --preset stopped before with 'vasot needs the number of actions'; it "
        "now picks the penn_action preset (K = 4) from dataset.json (item 3a's VASOT rows were trained that way).",
    ),
)
PROTOCOLS = ("ours", "tcc", "carl", "lac", "vaot")
REFERENCES = (("raw features", "none"), ("time only t/T", "time"))
EXTRA_COLUMNS = ("within_sim", "across_sim", "effective_rank", "gap_open", "gap_extend")  # not metric columns


def _fmt(value) -> str:
    return "null" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


class Bench:
    """Builds the datasets, trains each variant once per dataset (cached), and scores it."""

    def __init__(self, work: Path, quick: bool, seed: int, epochs: int | None, cached_only: bool = False):
        self.work, self.quick, self.seed, self.epochs, self.cached_only = work, quick, seed, epochs, cached_only
        self.cache_path = work / "results.json"
        self.cache = json.loads(self.cache_path.read_text()) if self.cache_path.exists() else {}
        self.actions = PENN_ACTIONS[2:3] if quick else PENN_ACTIONS

    # --- datasets -------------------------------------------------------------------------------------
    def folders(self, dataset: str) -> list[tuple[str, Path, str, str]]:
        """``(name, folder, fit split, scored split)`` of each sub-dataset."""
        if dataset == "penn":
            root = self.work / "penn"
            if not root.exists():
                convert_penn_action(SHARED / "penn_action" / "labels", root, actions=self.actions)
            return [(a, root / a, "train_sub", "val") for a in self.actions]
        if dataset in ("synthetic", "synthetic_segmentation"):
            root = self.work / "synthetic"
            if not root.exists():
                write_synthetic_dataset(root, SyntheticConfig(seed=self.seed))
            return [("synthetic", root, "train", "val")]
        if dataset == "demo":
            raw, root = self.work / "demo_videos", self.work / "demo"
            if not (raw / "splits").is_dir():
                render_dataset(SyntheticConfig(n_videos=16, n_phases=4, seed=self.seed), raw)
            extract_videos([raw / "videos"], root, backbone="efficientnet_lite0", stride=2, labels_from=raw,
                           progress=False)  # fmt: skip
            return [("demo", root, "train", "val")]
        if dataset == "mocap6":
            root = self.work / "mocap6"
            if not root.exists():
                convert_mocap6(SHARED / "mocap6" / "mocap6.mat", root)
            return [("mocap6", root, "train", "all")]
        raise ValueError(dataset)

    def available(self, dataset: str) -> bool:
        if dataset == "penn":
            return (SHARED / "penn_action" / "labels").is_dir()
        if dataset == "mocap6":
            return (SHARED / "mocap6" / "mocap6.mat").is_file()
        return True

    # --- runs -----------------------------------------------------------------------------------------
    def train(self, variant: Variant, folder: Path, split: str, epochs: int | None = None) -> Path:
        epochs = self.epochs if epochs is None else epochs
        run = self.work / "runs" / variant.key(folder, split, self.seed, epochs)
        if not (run / "done").exists():
            started = time.perf_counter()
            variant.train(folder, split, self.seed, epochs, run)
            (run / "done").write_text(f"{time.perf_counter() - started:.1f}\n")
        return run

    def score(self, dataset: str, folder: Path, model, fit: str, scored: str) -> dict:
        if dataset == "mocap6" or dataset == "synthetic_segmentation":
            result = evaluate_folder(folder, model, "segmentation", eval_split=scored)
            return {"mof": result["mof"]["full"], "f1@25": result["f1@25"]["full"]}
        protocol = "ours" if dataset == "penn" else "tcc"
        stride = 1 if dataset == "demo" else None
        result = evaluate_folder(folder, model, "alignment", train_split=fit, eval_split=scored, protocol=protocol,
                                 stride=stride)  # fmt: skip
        classification = result["phase_classification"] or {}
        return {"tau": result["kendall_tau"], "class@1.0": classification.get("1.0"), "ap@5": result["ap@5"]}

    def cached(self, key: str, compute, *args) -> dict:
        """``compute(*args)``, computed once per ``key`` and kept in ``results.json``."""
        if key not in self.cache:
            self.cache[key] = compute(*args)
            self.cache_path.write_text(json.dumps(self.cache, indent=1))
        return self.cache[key]

    def trained_metrics(self, variant: Variant, dataset: str, folder: Path, fit: str, scored: str) -> dict:
        run = self.train(variant, folder, fit)
        model = full_rate_copy(run) if variant.full_rate else run
        return {**self.score(dataset, folder, model, fit, scored), **spread(model, folder, scored)}

    def untrained_metrics(self, variant: Variant, dataset: str, folder: Path, fit: str, scored: str) -> dict:
        run = self.train(variant, folder, fit, epochs=0)
        return self.score(dataset, folder, run, fit, scored)

    def variant_metrics(self, variant: Variant, dataset: str) -> dict[str, dict | None]:
        """Metrics per sub-dataset; with ``cached_only``, None for a run not finished yet (nothing is trained)."""
        out = {}
        for name, folder, fit, scored in self.folders(dataset):
            key = f"{variant.key(folder, fit, self.seed, self.epochs)}|{variant.full_rate}|{dataset}"
            if self.cached_only and key not in self.cache:
                out[name] = None
                continue
            metrics = self.cached(key, self.trained_metrics, variant, dataset, folder, fit, scored)
            out[name] = {**metrics, **final_gaps(self.work / "runs" / variant.key(folder, fit, self.seed, self.epochs))}
        return out

    def reference_metrics(self, dataset: str) -> dict[str, dict[str, dict]]:
        rows: dict[str, dict[str, dict]] = {}
        untrained = Variant("untrained", "asot" if dataset in SEGMENT + ("synthetic_segmentation",) else "vaot")
        for name, folder, fit, scored in self.folders(dataset):
            for label, model in REFERENCES:
                key = f"{label}|{dataset}|{name}"
                rows.setdefault(label, {})[name] = self.cached(key, self.score, dataset, folder, model, fit, scored)
            key = f"{untrained.key(folder, fit, self.seed, 0)}|{dataset}"
            rows.setdefault("untrained encoder", {})[name] = self.cached(
                key, self.untrained_metrics, untrained, dataset, folder, fit, scored
            )
        return rows


def full_rate_copy(run: Path) -> Path:
    """A copy of ``run`` whose encoder embeds every frame in one sequence (``max_frames`` null)."""
    copy = run.with_name(run.name + "-full-rate")
    if not copy.exists():
        shutil.copytree(run, copy)
        copied = RunDir(copy)
        config = copied.read_config()
        config["encoder"]["max_frames"] = None
        copied.write_config(config)
    return copy


def spread(run: Path, folder: Path, split: str) -> dict:
    """Collapse check on the scored videos (:func:`vidalign.evaluation.spread.embedding_spread`)."""
    model, _ = load_model(run)
    values = embedding_spread([model.embed(r.features) for r in FeatureFolder(folder).load_split(split)])
    return {"within_sim": values["within"], "across_sim": values["across"], "effective_rank": values["effective_rank"]}


def final_gaps(run: Path) -> dict:
    """LAC's gap penalties (open, extend; score units, mean over positions) after the last epoch, from ``log.csv``;
    {} for a method without gaps."""
    rows = RunDir(run).read_log()
    if not rows or "gap_open" not in rows[-1]:
        return {}
    return {"gap_open": float(rows[-1]["gap_open"]), "gap_extend": float(rows[-1]["gap_extend"])}


def _row_entropy(plan: torch.Tensor) -> float:
    """Mean entropy (nats) of the plan's rows renormalised: the pseudo-label's spread over the other video."""
    rows = plan / plan.sum(-1, keepdim=True).clamp_min(1e-30)
    return -(rows * rows.clamp_min(1e-30).log()).sum(-1).mean().item()


def structure_diagnostics(seed: int) -> list[str]:
    """Item 1's direct measurements on pairs of noisy unit-norm embeddings (D = 128)."""
    generator = torch.Generator().manual_seed(seed)
    lines = ["| frames N = M | solver / Cx weight | alpha max(Cx T Cy), uniform plan | pseudo-label row entropy |"]
    lines.append("|---|---|---|---|")
    for n in (8, 20):
        x = torch.nn.functional.normalize(torch.randn(16, n, 128, generator=generator), dim=-1)
        y = torch.nn.functional.normalize(x + 0.7 * torch.randn(16, n, 128, generator=generator), dim=-1)
        sim, mask = x @ y.transpose(1, 2), torch.ones(16, n, dtype=torch.bool)
        lengths = torch.full((16,), n)
        for weight in ("fraction", "length"):
            loss = VAOTLoss(cx_weight=weight)
            radius = band_radii(lengths, loss.radius)
            uniform = torch.full((16, n, n), 1.0 / (n * n))
            w_x = cx_weights(lengths, radius, loss.radius, weight)
            peak = loss.alpha * structure_product(uniform, "alignment", w_x, radius, radius).max().item()
            entropy = _row_entropy(loss.pseudo_labels(sim, mask, mask))
            lines.append(f"| {n} | mirror descent, {weight} | {peak:.2f} | {entropy:.3f} |")
        entropy = _row_entropy(VAOTLoss(solver="published").pseudo_labels(sim, mask, mask))
        lines.append(f"| {n} | published (no structure) | 0 | {entropy:.3f} |")
    return lines


def convergence_diagnostics(seed: int) -> list[str]:
    """Relative L1 change of the plan from 25 to 100 mirror-descent iterations at the presets' sizes."""
    generator = torch.Generator().manual_seed(seed)
    lines = ["| preset | N x M | structure | change 25 -> 100 iterations |", "|---|---|---|---|"]
    cases = [("vaot (8 loss frames)", 8, 8, "alignment", dict(alpha=0.3, eps=0.07, radius=0.02, rho=0.35, dummy=0.5)),
             ("vaot official (20)", 20, 20, "alignment", dict(alpha=0.3, eps=0.07, radius=0.02, rho=0.35, dummy=0.5)),
             ("vasot penn (16)", 16, 16, "alignment", dict(alpha=0.3, eps=0.07, radius=0.04, rho=0.15, dummy=0.5)),
             ("asot (256 x K=12)", 256, 12, "clusters", dict(alpha=0.3, eps=0.07, radius=0.04, rho=0.15,
                                                              unbalanced="b", lam=0.12))]  # fmt: skip
    for name, n, m, kind, options in cases:
        x = torch.nn.functional.normalize(torch.randn(8, n, 128, generator=generator), dim=-1)
        y = torch.nn.functional.normalize(torch.randn(8, m, 128, generator=generator), dim=-1)
        cost = 1.0 - x @ y.transpose(1, 2)
        plans = [fused_gw(cost, structure=kind, n_iters=k, return_trace=False, **options).plan for k in (25, 100)]
        change = ((plans[0] - plans[1]).abs().sum((1, 2)) / plans[1].sum((1, 2))).max().item()
        lines.append(f"| {name} | {n} x {m} | {kind} | {change:.4f} |")
    return lines


def protocol_metrics(folder: Path, model, fit: str, scored: str, protocol: str, stride: int | None) -> dict:
    result = evaluate_folder(folder, model, "alignment", train_split=fit, eval_split=scored, protocol=protocol,
                             fit_on_scored=protocol == "vaot", stride=stride)  # fmt: skip
    classification = result["phase_classification"] or {}
    return {"class@1.0": classification.get("1.0"), "tau": result["kendall_tau"], "ap@5": result["ap@5"]}


def protocol_table(bench: Bench) -> list[str]:
    """Item 6: one trained VAOT model and the reference rows scored under every protocol (synthetic, demo)."""
    lines = [
        "## 6. Protocols as named presets",
        "",
        "The same embeddings scored under each paper's protocol (`vidalign eval --protocol NAME`; `vaot` fits on",
        "the scored videos, `--fit-on-scored`): phase classification at fraction 1.0 / Kendall's tau / AP@5.",
        "",
    ]
    for dataset in ("synthetic", "demo"):
        ((name, folder, fit, scored),) = bench.folders(dataset)
        run = bench.train(Variant("vaot", "vaot"), folder, fit)
        stride = 1 if dataset == "demo" else None
        lines += [f"**{dataset}**", "", "| representation | " + " | ".join(PROTOCOLS) + " |", "|---" * 6 + "|"]
        for label, model in (*REFERENCES, ("vaot (default)", run)):
            cells = []
            for protocol in PROTOCOLS:
                key = f"protocol|{protocol}|{label}|{dataset}"
                r = bench.cached(key, protocol_metrics, folder, model, fit, scored, protocol, stride)
                cells.append(" / ".join(_fmt(r[k]) for k in ("class@1.0", "tau", "ap@5")))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def markdown(bench: Bench, tables: dict, info: dict, diagnostics: list[str]) -> str:
    lines = ["# Fidelity table", "", "Generated by `python benchmarks/fidelity.py` - do not edit by hand.", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()] + [""]
    lines += [
        "Metrics: `penn` = Kendall's tau on Penn Action val per action (protocol ours, stride 5) and their mean;",
        "`synthetic`, `demo` = tau / phase classification at fraction 1.0 / AP@5 under protocol tcc (demo: Kendall",
        "stride 1); `mocap6` = MoF / F1@25 (full Hungarian). Collapse check of every trained row: mean cosine",
        "similarity of a video's own frames (`within`, 1 = collapsed) on the scored videos. LAC rows also give",
        "their gap penalties after the last epoch (open / extend, score units; initialised at 1 / 1).",
        "",
    ]
    for item in ITEMS:
        lines += [f"## {item.number}. {item.title}", ""]
        if item.note:
            lines += [item.note, ""]
        for dataset in item.datasets:
            if dataset not in tables.get(item.number, {}):
                continue
            rows = tables[item.number][dataset]
            names = [n for n, *_ in bench.folders(dataset)]
            metric_names = list(next(v for v in next(iter(rows.values())).values() if v is not None))
            metric_names = [m for m in metric_names if m not in EXTRA_COLUMNS]
            has_gaps = any(v is not None and "gap_open" in v for per in rows.values() for v in per.values())
            header = [f"{n} {m}" for n in names for m in metric_names] if len(names) > 1 else metric_names
            if dataset == "penn":
                header = [*names, "mean"]
            extra = " within | gaps open / extend |" if has_gaps else " within |"
            lines += [f"**{dataset}**", "", "| variant | " + " | ".join(header) + " |" + extra,
                      "|---" * (len(header) + 2 + has_gaps) + "|"]  # fmt: skip
            for label, per_name in rows.items():
                done = [n for n in names if per_name[n] is not None]
                if dataset == "penn":
                    taus = [per_name[n]["tau"] if n in done else None for n in names]
                    mean = f"**{np.mean(taus):.3f}**" if len(done) == len(names) else "pending"
                    cells = [_fmt(t) if t is not None else "pending" for t in taus] + [mean]
                else:
                    cells = [_fmt(per_name[n][m]) if n in done else "pending" for n in names for m in metric_names]
                within = [per_name[n].get("within_sim") for n in done]
                within_txt = "-" if not within or within[0] is None else f"{np.mean(within):.2f}"
                row = f"| {label} | " + " | ".join(cells) + f" | {within_txt} |"
                if has_gaps:
                    gaps = [(per_name[n].get("gap_open"), per_name[n].get("gap_extend")) for n in done]
                    gaps = np.mean([g for g in gaps if None not in g] or [(np.nan, np.nan)], axis=0)
                    row += " - |" if np.isnan(gaps[0]) else f" {gaps[0]:.2f} / {gaps[1]:.2f} |"
                lines.append(row)
            lines.append("")
    lines += diagnostics
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "FIDELITY.md")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidalign-fidelity")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 epochs, one Penn Action action")
    parser.add_argument("--items", nargs="*", help="only these items (e.g. 1 4a)")
    parser.add_argument("--cached-only", action="store_true",
                        help="train nothing: runs not finished yet are shown as pending")  # fmt: skip
    parser.add_argument("--item-work", nargs="*", default=[], metavar="ITEM=DIR",
                        help="items computed in another work folder (e.g. 4a=/tmp/w2 after running --items 4a "
                        "--work /tmp/w2 in parallel): their cached runs are read from there")  # fmt: skip
    args = parser.parse_args()
    started = time.perf_counter()
    item_work = dict(text.split("=", 1) for text in args.item_work)
    benches: dict[Path, Bench] = {}

    def bench_for(number: str) -> Bench:
        # everything a folder keeps (data, runs, scores) belongs to one seed and one budget
        work = for_this_code(Path(item_work.get(number, args.work))) / f"seed{args.seed}" / budget
        if work not in benches:
            work.mkdir(parents=True, exist_ok=True)
            benches[work] = Bench(work, args.quick, args.seed, 2 if args.quick else None, args.cached_only)
        return benches[work]

    budget = "quick" if args.quick else "full"
    bench = bench_for("")
    tables: dict = {}
    for item in ITEMS:
        if args.items and item.number not in args.items:
            continue
        item_bench = bench_for(item.number)
        for dataset in item.datasets:
            if not item_bench.available(dataset):
                continue
            rows = dict(item_bench.reference_metrics(dataset))
            for variant in item.variants:
                rows[variant.label] = item_bench.variant_metrics(variant, dataset)
                print(f"item {item.number} {dataset} {variant.label}: done", flush=True)
            tables.setdefault(item.number, {})[dataset] = rows
    diagnostics = protocol_table(bench) if not args.items or "6" in args.items else []
    diagnostics += ["## 7. Benchmark presets", "",
                    "Breakfast, YTI, 50Salads (eval / mid), Desktop Assembly, IKEA ASM, Pouring and Penn Action video "
                    "presets cite their sources in `vidalign/presets/*.yaml`; their data is not here, so they are only "
                    "checked to build (tests/training/test_presets.py).", ""]  # fmt: skip
    diagnostics += [
        "## 1. Structure term: direct measurements",
        "",
        "Pseudo-label row entropy of the VAOT plan on 16 pairs of noisy unit-norm embeddings (D = 128):",
        "",
    ]
    diagnostics += structure_diagnostics(args.seed) + [
        "",
        "Convergence of 25 iterations (random unit embeddings, 8 pairs):",
        "",
    ]
    diagnostics += convergence_diagnostics(args.seed) + [""]
    info = {
        **generation_info(started, reuses_runs=True),
        "seed": args.seed,
        "command": "python benchmarks/fidelity.py"
        + (" --quick" if args.quick else "")
        + (f" --seed {args.seed}" if args.seed else "")
        + (" --items " + " ".join(args.items) if args.items else "")
        + (" --cached-only" if args.cached_only else "")
        + (" --item-work " + " ".join(args.item_work) if args.item_work else ""),
    }
    args.out.write_text(markdown(bench, tables, info, diagnostics))
    args.out.with_suffix(".json").write_text(json.dumps({"info": info, "tables": tables}, indent=1, default=str))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
