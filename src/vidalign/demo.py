"""``vidalign demo``: the embedded default, end to end on rendered synthetic videos with no downloads.

Steps (each resumable - a re-run reuses what an interrupted run finished):

1. render synthetic processes as small mp4 files with frame-level phase labels (:mod:`vidalign.data.render`);
2. extract frame features with the offline ImageNet backbone ``efficientnet_lite0`` (:mod:`vidalign.extraction`);
3. train LAC, VAOT and VASOT briefly (the presets' ``default`` family: video features) and the untrained
   reference encoder;
4. evaluate alignment on the ``val`` videos (classifiers fitted on ``train``; Kendall's tau on every frame, as the
   videos are short) next to the reference rows - raw features, the untrained encoder and time-only features -
   and VASOT's segmentation from its prototypes;
5. align one pair of val videos with the VAOT model (plot + side-by-side video) and draw VASOT's timelines;
6. write ``report.md`` with the tables and the plots, and print the tables.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from vidalign.api import Aligner, segment, train
from vidalign.atomic import claim_folder
from vidalign.data.layout import FeatureFolder
from vidalign.data.render import render_dataset
from vidalign.data.synthetic import SyntheticConfig
from vidalign.errors import ConfigError, DataError
from vidalign.evaluation.folder import evaluate_folder
from vidalign.extraction import extract_videos
from vidalign.run_dir import RunDir

METHODS = ("lac", "vaot", "vasot")
ALIGN_COLUMNS = ("kendall_tau", "ap@5", "ap@15", "phase_progression")
SEG_COLUMNS = ("mof", "f1@25", "edit", "miou")
MIN_VIDEOS = 8  # the smallest count whose seeded split (vidalign.data.synthetic.split_assignment) has 2 val videos


@dataclasses.dataclass
class DemoConfig:
    """What the demo builds (defaults: about 3-4 minutes on a 2-core CPU)."""

    out: Path = Path("vidalign_demo")
    n_videos: int = 16
    n_phases: int = 4
    backbone: str = "efficientnet_lite0"
    stride: int = 2  # every 2nd frame of the 12 fps renders
    epochs: int | None = None  # None: the presets' own budget
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_videos < MIN_VIDEOS:
            raise ConfigError(
                f"the demo needs at least {MIN_VIDEOS} videos (--videos {self.n_videos}): a fifth of them, at least "
                "2, are the val videos it aligns, and the train videos must outnumber them"
            )


@dataclasses.dataclass
class DemoResult:
    report: Path
    alignment_rows: list[tuple[str, dict]]
    segmentation_rows: list[tuple[str, dict]]
    seconds: dict[str, float]
    spreads: dict[str, dict] = dataclasses.field(default_factory=dict)  # each trained run's collapse check
    confidence: dict = dataclasses.field(default_factory=dict)  # the aligned pair's (alignment.json "confidence")

    def table(self) -> str:
        """The metric tables as plain text."""
        lines = [f"{'alignment (val)':<28}" + "".join(f"{c:>18}" for c in ALIGN_COLUMNS)]
        for name, result in self.alignment_rows:
            lines.append(f"{name:<28}" + "".join(f"{_fmt(result.get(c)):>18}" for c in ALIGN_COLUMNS))
        lines.append("")
        lines.append(f"{'segmentation (val, full)':<28}" + "".join(f"{c:>18}" for c in SEG_COLUMNS))
        for name, result in self.segmentation_rows:
            lines.append(f"{name:<28}" + "".join(f"{_fmt(result[c]['full']):>18}" for c in SEG_COLUMNS))
        return "\n".join(lines)


def _fmt(value) -> str:
    return "null" if value is None else f"{value:.3f}"


def _spread_line(name: str, spread: dict) -> str:
    within, across = (spread.get(key, float("nan")) for key in ("within", "across"))
    return f"- {name}: within {within:.2f}, across {across:.2f}" + (" - COLLAPSED" if spread.get("collapsed") else "")


def _train(method: str, data: Path, run: Path, config: DemoConfig, epochs: int | None = None) -> Path:
    epochs = epochs if epochs is not None else config.epochs
    return train(data, method, run, seed=config.seed, epochs=epochs, progress=True).path


def _markdown(result: DemoResult, config: DemoConfig, pair: tuple[str, str]) -> str:
    def table(rows, columns, cell) -> list[str]:
        out = ["| representation | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        out += [f"| {name} | " + " | ".join(cell(r, c) for c in columns) + " |" for name, r in rows]
        return out

    out = Path(config.out)
    trust = result.confidence
    verdict = "trusted" if trust.get("trusted") else "not trusted: " + "; ".join(trust.get("reasons") or ["?"])
    lines = [
        "# vidalign demo report",
        "",
        f"{config.n_videos} rendered videos of a {config.n_phases}-phase synthetic process, "
        f"`{config.backbone}` features every {config.stride} frames, seed {config.seed}. Fit split `train`, "
        "scored split `val` (Kendall's tau over every frame). Reference rows: raw features, the default encoder "
        "untrained, and time-only features `t/T` (which any embedding encoding the frame position would match, "
        "docs/methods.md, Time leakage, in the vidalign repository).",
        "",
        "## Alignment",
        "",
        "Higher is better in every column, 1 at best. `kendall_tau`: how well the frames' nearest neighbours in "
        "another video keep their order; `ap@K`: the share of a frame's K nearest frames of other videos that are in "
        "its phase; `phase_progression`: how well a linear fit reads how far through its phase a frame is (R^2). "
        "Time only reaches the top tau here because every video runs through its phases once, in order: it knows "
        "nothing of what a frame shows (its `ap@K` stays low).",
        "",
        *table(result.alignment_rows, ALIGN_COLUMNS, lambda r, c: _fmt(r.get(c))),
        "",
        "The same numbers: `vidalign eval --data "
        f"{out / 'features'} --model {out / 'runs' / 'vaot'} --train-split train --eval-split val --stride 1` "
        "(`--model none` / `time` / another run directory for the other rows).",
        "",
        "## Segmentation (Hungarian matching over all val videos)",
        "",
        "Higher is better, 1 at best: `mof` the share of frames in their matched action, `f1@25` and `edit` how "
        "well the segments' boundaries and order agree with the labels (a segmentation can have them right while "
        "frames near the boundaries are off, which only `mof` and `miou` count).",
        "",
        *table(result.segmentation_rows, SEG_COLUMNS, lambda r, c: _fmt(r[c]["full"])),
        "",
        "## Collapse check",
        "",
        "Mean cosine similarity of two frames of one video (`within`) and of two videos (`across`) in each trained "
        "model's embedding; above 0.95 within, a model has collapsed (maps a video to one point) and would say so:",
        "",
        *[_spread_line(name, spread) for name, spread in result.spreads.items()],
        "",
        f"## VAOT alignment of `{pair[0]}` with `{pair[1]}`",
        "",
        "![alignment](align/alignment.png)",
        "",
        f"The alignment's own confidence check: {verdict}. Side by side: "
        "[align/side_by_side.mp4](align/side_by_side.mp4); frame pairs in "
        "[align/alignment.json](align/alignment.json); the interactive page: [align/index.html](align/index.html) "
        "(or `vidalign view` on the folder).",
        "",
        "## VASOT segmentation of the val videos",
        "",
        "![timelines](segment/timelines.png)",
        "",
        "The interactive page: [segment/index.html](segment/index.html).",
        "",
        "## Time",
        "",
        "Of this invocation (a rerun reuses the steps an earlier one finished):",
        "",
        *[f"- {step}: {secs:.0f} s" for step, secs in result.seconds.items()],
        "",
    ]
    return "\n".join(lines)


def run_demo(config: DemoConfig) -> DemoResult:
    """Run every step into ``config.out`` and return the tables (also written to ``report.md``)."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "out"}
    claim_folder(out, "demo.json", settings, what="a demo", ignore=("epochs",))  # epochs may differ: training resumes
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = now - clock
        clock = now

    raw = out / "videos"
    if not (raw / "splits").is_dir():
        synthetic = SyntheticConfig(n_videos=config.n_videos, n_phases=config.n_phases, seed=config.seed)
        render_dataset(synthetic, raw, progress=True)
    lap("render videos")
    data = out / "features"
    summary = extract_videos([raw / "videos"], data, backbone=config.backbone, stride=config.stride, labels_from=raw)
    if summary.failed:
        raise DataError(f"feature extraction failed for {len(summary.failed)} video(s): {summary.failed[0]}")
    lap("extract features")

    runs = {"untrained encoder": _train("vaot", data, out / "runs" / "untrained", config, epochs=0)}
    for method in METHODS:
        runs[method] = _train(method, data, out / "runs" / method, config)
    lap("train")

    references = {"raw features": "none", "time only t/T": "time"}
    alignment_rows = [
        (name, evaluate_folder(data, model, "alignment", stride=1)) for name, model in {**references, **runs}.items()
    ]
    segmentation_rows = [
        ("k-means on raw features", evaluate_folder(data, "none", "segmentation")),
        ("vasot prototypes", evaluate_folder(data, runs["vasot"], "segmentation")),
    ]
    lap("evaluate")

    val = FeatureFolder(data).video_ids("val")
    pair = (val[0], val[1])
    aligner = Aligner.from_run(runs["vaot"], method="dtw", backbone=config.backbone, stride=config.stride)
    aligned = aligner(raw / "videos" / f"{pair[0]}.mp4", raw / "videos" / f"{pair[1]}.mp4")
    aligned.write(out / "align")
    segment(data, runs["vasot"], split="val").write(out / "segment")
    lap("align and segment")

    spreads = {name: RunDir(run).read_config().get("spread") or {} for name, run in runs.items()}
    result = DemoResult(out / "report.md", alignment_rows, segmentation_rows, seconds, spreads,
                        aligned.confidence.to_json())  # fmt: skip
    result.report.write_text(_markdown(result, config, pair))
    return result
