"""Does ``vidalign compare`` find known deviations? Rendered synthetic processes with one deviation built in.

The reference is video 0 of a synthetic process (``vidalign.data.synthetic``, no background, no missing or repeated
phases) rendered as a video (``vidalign.data.render``); each query is another video of the process (another
person: appearance, speed profile, drift) with one deviation in the middle phase ``k``:

- ``normal``: the video as it is - the truth is that nothing deviates;
- ``skipped``: phase ``k`` cut out - truth: the reference frames of phase ``k`` (left out by the query), and the
  step ``k`` missing;
- ``repeated``: phase ``k`` performed twice - the second time at another speed (``REPEAT_SPEEDS``, the phase's
  states resampled) while the camera and light stay where the first performance left them, so no frame of it is
  a copy of a frame of the first - truth: the query frames of the second performance;
- ``slowed``: phase ``k`` at half speed (every frame twice) - truth: step ``k`` lasting 2x the reference's.

Every video goes through what a user runs: ``vidalign extract`` (efficientnet_lite0 frame features, raw: no
model), then :func:`vidalign.compare` on two feature files of the folder with ``steps="labels"`` (the rendered
labels), on the raw features or, with ``--train METHOD``, on the embeddings of a model trained self-supervised
(no labels) for ``--epochs`` on all the benchmark's videos, as a user trains on their own collection, or, with
``--standardize``, on the raw features standardised per recording (``docs/methods.md``, Raw features of videos of
people). Per
deviation and query it scores the frames ``compare`` reports - flagged intervals and gaps, on the side
the truth is on - by precision and recall against the truth, and the step findings. Written to
``benchmarks/COMPARE_SYNTHETIC.md``.

    python benchmarks/compare_synthetic.py [--queries 3] [--seed 0] [--train lac --epochs 20 | --standardize]
        [--work DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

import vidalign as va
from _header import for_this_code
from vidalign.data.layout import write_mapping, write_split
from vidalign.data.render import render_video
from vidalign.data.synthetic import SyntheticConfig, SyntheticVideo, class_names, generate_videos

DEVIATIONS = ("normal", "skipped", "repeated", "slowed")
REPEAT_SPEEDS = (0.8, 1.25, 0.7)  # speed of query q's second performance (cycled), relative to its first
QUERY_DESIGN = 2  # 2: a repeated phase is a second performance (1 replayed the first's frames)
PER_FRAME = ("phase", "labels", "progress", "canonical_time", "latent", "drift", "features")


def with_frames(video: SyntheticVideo, order: np.ndarray, name: str) -> SyntheticVideo:
    """``video`` played in the frame order ``order`` (frames cut, repeated or doubled)."""
    return dataclasses.replace(video, video_id=name, **{key: getattr(video, key)[order] for key in PER_FRAME})


def performed_again(video: SyntheticVideo, inside: np.ndarray, speed: float) -> SyntheticVideo:
    """``video`` with the phase on frames ``inside`` performed a second time right after the first, at ``speed``
    times the first's pace: its per-frame states interpolated at ``len(inside) / speed`` frames, the drift held at
    the first performance's last value (the camera and light do not jump back)."""
    count = max(2, int(round(len(inside) / speed)))
    position = np.linspace(0.0, len(inside) - 1.0, count)
    second = {}
    for key in PER_FRAME:
        values = getattr(video, key)[inside]
        if key in ("phase", "labels"):
            second[key] = values[np.round(position).astype(np.int64)]
        elif key == "drift":
            second[key] = np.repeat(values[-1:], count, axis=0)
        else:
            columns = values.reshape(len(inside), -1)
            resampled = np.stack([np.interp(position, np.arange(len(inside)), c) for c in columns.T], axis=1)
            second[key] = resampled.reshape((count,) + values.shape[1:]).astype(values.dtype)
    cut = inside[-1] + 1
    joined = {key: np.concatenate([getattr(video, key)[:cut], second[key], getattr(video, key)[cut:]])
              for key in PER_FRAME}  # fmt: skip
    return dataclasses.replace(video, **joined)


def deviate(
    video: SyntheticVideo, deviation: str, k: int, name: str, speed: float = 1.0
) -> tuple[SyntheticVideo, np.ndarray]:
    """The query and its truth mask over the query's frames (the second performance; else none); ``speed`` is
    the pace of a repeated phase's second performance."""
    frames = np.arange(len(video.phase))
    inside = np.flatnonzero(video.phase == k)
    if deviation == "repeated":
        query = dataclasses.replace(performed_again(video, inside, speed), video_id=name)
        truth = np.zeros(len(query.phase), dtype=bool)
        truth[inside[-1] + 1 : inside[-1] + 1 + len(query.phase) - len(frames)] = True
        return query, truth
    if deviation == "skipped":
        order = frames[video.phase != k]
    elif deviation == "slowed":
        order = np.concatenate([frames[: inside[0]], np.repeat(inside, 2), frames[inside[-1] + 1 :]])
    else:
        order = frames
    return with_frames(video, order, name), np.zeros(len(order), dtype=bool)


def mask(intervals, n: int) -> np.ndarray:
    found = np.zeros(n, dtype=bool)
    for start, end in intervals:
        found[start : end + 1] = True
    return found


def precision_recall(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hits = float((found & truth).sum())
    return (hits / found.sum() if found.any() else float("nan")), (hits / truth.sum() if truth.any() else float("nan"))


def build(work: Path, queries: int, seed: int, k: int) -> dict[str, tuple[SyntheticVideo, np.ndarray]]:
    config = SyntheticConfig(n_videos=queries + 1, min_frames=90, max_frames=130, seed=seed)
    videos = generate_videos(config)
    names = class_names(config)
    made = {"reference": (dataclasses.replace(videos[0], video_id="reference"), None)}
    for number, video in enumerate(videos[1:]):
        for deviation in DEVIATIONS:
            name = f"q{number}_{deviation}"
            made[name] = deviate(video, deviation, k, name, REPEAT_SPEEDS[number % len(REPEAT_SPEEDS)])
    data = work / "data"
    if not (data / "dataset.json").is_file():
        for name, (video, _) in made.items():
            render_video(video, work / "videos" / f"{name}.mp4")
        va.extract(work / "videos", data)
    for name, (video, _) in made.items():
        (data / "groundTruth").mkdir(parents=True, exist_ok=True)
        (data / "groundTruth" / f"{name}.txt").write_text("".join(f"{names[c]}\n" for c in video.labels))
    write_mapping(data, names)
    write_split(data, "all", list(made))
    return made


def score(work: Path, made: dict, k: int, model: Path | None, standardize: bool = False) -> list[dict]:
    features = work / "data" / "features"
    reference = made["reference"][0]
    step = f"phase_{k}"
    rows = []
    for name, (video, truth) in made.items():
        if name == "reference":
            continue
        deviation = name.split("_", 1)[1]
        result = va.compare(features / "reference.npy", features / f"{name}.npy", model=model, steps="labels",
                            standardize=standardize)  # fmt: skip
        pages = model.name if model else "standardized" if standardize else "raw"
        result.write(work / "pages" / pages / name, viewer=False)
        n_query, n_reference = len(result.deviation), len(reference.phase)
        repeated = [r for r in result.steps["repeated"] if r["step"] == step]
        repetitions = [tuple(i) for r in repeated for i in r["query_intervals"]]
        query_found = mask(result.flagged, n_query) | mask(result.query_gaps, n_query) | mask(repetitions, n_query)
        if deviation == "skipped":  # the truth is on the reference's side
            found, truth = mask(result.reference_gaps, n_reference), reference.phase == k
        else:
            found = query_found
        precision, recall = precision_recall(found, truth)
        ratio = next((d["ratio"] for d in result.steps["durations"] if d["step"] == step), float("nan"))
        rows.append({
            "deviation": deviation, "query": name, "precision": precision, "recall": recall,
            "flagged_share": float(query_found.mean()), "missing": result.steps["missing"],
            "times": repeated[0]["times"] if repeated else 1,
            "ratio": ratio, "true_ratio": float((video.phase == k).sum() / (reference.phase == k).sum()),
            "flagged": [(int(s), int(e)) for s, e in result.flagged],
        })  # fmt: skip
    return rows


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def table(rows: list[dict], k: int, command: str, representation: str) -> str:
    def f(x: float) -> str:
        return "-" if np.isnan(x) else f"{x:.2f}"

    lines = [
        "# `vidalign compare` on rendered synthetic processes with known deviations",
        "",
        f"Generated by `{command}`. Representation: {representation}; steps from "
        f"the rendered labels; the deviation is in `phase_{k}`. Precision / recall: of the frames `compare` reports "
        "(flagged intervals, local-alignment gaps and the repetitions of a repeated step on the query; for "
        "`skipped`, the reference frames left out by the query) against the truth. `flagged share`: the share of "
        f"query frames reported. `performed`: how many times `compare` finds `phase_{k}` performed in a row (in the "
        "videos' own frame features, whatever the representation: docs/methods.md, Compare). "
        f"Duration ratio: the query's `phase_{k}` frames over the reference's, as `compare` reports it from the "
        "steps it is given (here the rendered labels, so it equals the built ratio: a check of the bookkeeping, not "
        "of detection) and as built.",
        "",
        "| deviation | query | precision | recall | flagged share | steps missing | performed "
        "| duration ratio (reported / built) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (DEVIATIONS.index(r["deviation"]), r["query"])):
        lines.append(
            f"| {row['deviation']} | {row['query']} | {f(row['precision'])} | {f(row['recall'])} | "
            f"{row['flagged_share']:.2f} | {', '.join(row['missing']) or 'none'} | {row['times']}x | "
            f"{f(row['ratio'])} / {row['true_ratio']:.2f} |"
        )
    lines.append("")
    for deviation in DEVIATIONS:
        chosen = [r for r in rows if r["deviation"] == deviation]
        mean = {key: _mean([r[key] for r in chosen]) for key in ("precision", "recall", "flagged_share")}
        lines.append(f"- {deviation}: mean precision {f(mean['precision'])}, recall {f(mean['recall'])}, "
                     f"flagged share {mean['flagged_share']:.2f}")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3, help="other videos of the process, each with every deviation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phase", type=int, default=2, help="the phase that deviates")
    parser.add_argument("--train", help="compare on the embeddings of this method trained on the videos (no labels)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--standardize", action="store_true", help="raw features standardised per recording")
    parser.add_argument(  # renders are reused from --work: the suffix changes whenever the queries are built anew
        "--work", type=Path, default=Path(tempfile.gettempdir()) / f"vidalign-compare-synthetic-{QUERY_DESIGN}"
    )
    args = parser.parse_args()
    args.work = for_this_code(args.work) / f"seed{args.seed}-queries{args.queries}-phase{args.phase}"  # its renders
    made = build(args.work, args.queries, args.seed, args.phase)
    model, representation = None, "raw efficientnet_lite0 features of the rendered videos (no model)"
    command = f"python benchmarks/compare_synthetic.py --queries {args.queries} --seed {args.seed} --phase {args.phase}"
    if args.train:
        model = args.work / "runs" / f"{args.train}-{args.epochs}"
        va.train(args.work / "data", args.train, model, split="all", epochs=args.epochs)
        representation = f"{args.train} trained {args.epochs} epochs on the benchmark's videos (no labels)"
        command += f" --train {args.train} --epochs {args.epochs}"
    elif args.standardize:
        representation = "raw efficientnet_lite0 features of the rendered videos, standardized per recording"
        command += " --standardize"
    rows = score(args.work, made, args.phase, model, standardize=args.standardize and not args.train)
    text = table(rows, args.phase, command, representation)
    suffix = f"_{args.train}" if args.train else "_standardized" if args.standardize else ""
    Path(__file__).with_name(f"COMPARE_SYNTHETIC{suffix}.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
