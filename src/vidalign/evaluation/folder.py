"""``vidalign eval``: embed a feature folder with a model (or a reference representation) and score it.

Representations (``--model``, :class:`vidalign.representation.Representation`): a run directory of ``vidalign
train`` (its encoder's embeddings for alignment; for segmentation its prototypes decoded with the method's
evaluation OT parameters on each full video, or k-means on its embeddings for methods without prototypes),
``none`` (the raw features; the k-means baseline with K from the mapping for segmentation) or ``time`` (``t / T``,
the time-leakage reference row).

Alignment is scored under a named protocol (``--protocol``: tcc, carl, lav, vaot, lac, ours; ``docs/evaluation.md``).
The classifier-based metrics are fitted on ``train_split`` and scored on ``eval_split``; the two must be disjoint.
The ``lav`` / ``vaot`` protocols fit on ``eval_split`` itself, as their published scripts do, and run only when
``fit_on_scored=True`` is passed (``--fit-on-scored``); the result then says so (``fit_on_scored``, ``warning``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vidalign.data.layout import TRAIN_SPLIT, FeatureFolder, VideoRecord
from vidalign.errors import ConfigError, DataError
from vidalign.evaluation.alignment import evaluate_alignment
from vidalign.evaluation.protocols import Protocol, check_fit_on_scored, get_protocol
from vidalign.evaluation.segmentation import evaluate_segmentation
from vidalign.labels.kmeans import kmeans_baseline
from vidalign.representation import Representation

BACKGROUND_NAMES = ("background", "bg", "SIL")


def _check_disjoint(folder: FeatureFolder, train: Sequence[VideoRecord], val: Sequence[VideoRecord]) -> None:
    overlap = sorted({r.video_id for r in train} & {r.video_id for r in val})
    if overlap:
        raise ConfigError(
            f"{folder.root}: the fit split and the scored split share {len(overlap)} video(s) (e.g. {overlap[0]!r}); "
            "the classifier must never see scored videos - pick disjoint splits "
            "(--train-split / --eval-split; train_split= / eval_split=)"
        )


def _encoder_saw(rep: Representation, val: Sequence[VideoRecord]) -> int:
    """How many scored videos the model was trained on (self-supervised, but still reported)."""
    seen = set(rep.config.get("train_videos", []))
    return sum(r.video_id in seen for r in val)


def background_id(folder: FeatureFolder, name: str | None) -> int | None:
    """Class id of the background label: ``name`` if given ("none" disables), else a conventional name if any."""
    names = folder.class_names or []
    if name is not None:
        if name == "none":
            return None
        if name not in names:
            raise ConfigError(f"{folder.root}: background label {name!r} is not in the mapping {names}")
        return names.index(name)
    found = [n for n in BACKGROUND_NAMES if n in names]
    return names.index(found[0]) if found else None


def evaluate_folder(
    data: str | Path,
    model: str | Path,
    task: str,
    *,
    train_split: str | None = TRAIN_SPLIT,
    eval_split: str = "val",
    protocol: Protocol | str = "ours",
    fit_on_scored: bool = False,
    stride: int | None = None,
    classifier: str | None = None,
    background: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    strict: bool = True,
    progress: bool = False,
) -> dict:
    """Score ``model`` on ``data`` for ``task`` ("alignment" | "segmentation"); returns the ``docs/data.md`` JSON dict.

    Alignment: ``protocol`` (name or :class:`~vidalign.evaluation.protocols.Protocol`, ``docs/evaluation.md``)
    sets every choice; ``stride`` (Kendall's tau) and ``classifier``, when not None, override it. A protocol
    that fits on the scored videos (lav, vaot) raises a one-line ValueError unless ``fit_on_scored=True``; then
    ``train_split`` is not read and the classifier / regressors are fitted on ``eval_split``. ``train_split``
    None (CLI ``--train-split none``): nothing is fitted, for a folder without labels or a held-out split; the
    metrics that fit (phase classification, progression) are null with their reason, Kendall's tau is scored.
    Segmentation takes no protocol (only the default "ours"). ``progress``: bars for the metrics' long loops.
    """
    proto = get_protocol(protocol)
    if task == "alignment":
        check_fit_on_scored(proto, fit_on_scored)  # before loading anything
    elif task == "segmentation" and (proto.name != "ours" or fit_on_scored or stride is not None or classifier):
        raise ConfigError("--protocol, --fit-on-scored, --stride and --classifier apply to the alignment task only")
    if task == "alignment" and background is not None:
        raise ConfigError("--background applies to the segmentation task only")
    folder = FeatureFolder(data, strict=strict)
    rep = Representation(model, device)
    val = folder.load_split(eval_split)
    if not val:
        raise DataError(f"{folder.root}: split {eval_split!r} has no videos")
    header = {"data": str(folder.root), "model": rep.name, "task": task, "eval_split": eval_split}
    header["feature_family"] = folder.feature_family  # dataset.json; None when the folder records none
    if rep.model is not None:
        header["method"] = rep.config.get("method")
        header["preset"] = rep.config.get("train", {}).get("preset")
        header["encoder_trained_on_eval_videos"] = _encoder_saw(rep, val)
    if task == "alignment":
        if proto.fit_on_scored:
            train = []
            header["train_split"] = None
            header["fit_split"] = eval_split
        elif train_split is None:  # nothing fitted (docstring)
            train = []
            header["train_split"] = header["fit_split"] = None
        else:
            train = folder.load_split(train_split)
            _check_disjoint(folder, train, val)
            header["train_split"] = train_split
            header["fit_split"] = train_split
        result = evaluate_alignment(
            [(rep.embed(r.features), r.labels) for r in train],
            [(rep.embed(r.features), r.labels) for r in val],
            protocol=proto,
            fit_on_scored=fit_on_scored,
            stride=stride,
            classifier=classifier,
            seed=seed,
            progress=progress,
        )
    elif task == "segmentation":
        if not folder.has_labels:
            raise DataError(f"{folder.root}: segmentation metrics need groundTruth/ labels")
        bg = background_id(folder, background)
        if rep.segments_with_prototypes:
            preds = [rep.segment(r.features) for r in val]
            header["segmenter"] = f"{rep.config.get('method')} prototypes, evaluation OT parameters, full videos"
        else:
            n_classes = len(folder.class_names) - (bg is not None)
            preds = kmeans_baseline([rep.embed(r.features) for r in val], n_classes, seed=seed)
            header["segmenter"] = f"k-means (K={n_classes}, from the mapping, seed {seed}) on {rep.name} representation"
            header["seed"] = seed  # k-means' restarts: another seed, another score (docs/evaluation.md)
        result = evaluate_segmentation(preds, [r.labels for r in val], background=bg)
        header["background"] = None if bg is None else folder.class_names[bg]
    else:
        raise ConfigError(f"unknown task {task!r}; choose alignment or segmentation")
    if folder.skipped:
        header["skipped_videos"] = [{"video": v, "reason": why} for v, why in folder.skipped]
    return {**header, **result}


def _fmt(value: object) -> str:
    return "null" if value is None else f"{value:.4f}"


def format_result(result: dict) -> str:
    """A readable table of an :func:`evaluate_folder` result (alignment: the protocol on the header line)."""
    header = f"{result['task']} | data {result['data']} | model {result['model']} | split {result['eval_split']}"
    protocol = result.get("protocol") or {}
    if result["task"] == "alignment" and protocol.get("name"):
        header += f" | protocol {protocol['name']}"
    lines = [header]
    if result.get("warning"):
        lines.append(f"  WARNING: {result['warning']}")
    if result.get("encoder_trained_on_eval_videos"):
        lines.append(
            f"  NOTE: the model was trained (without labels) on {result['encoder_trained_on_eval_videos']} of "
            f"the scored videos: not a held-out score (train it on videos outside split {result['eval_split']!r})"
        )
    if result["task"] == "alignment":
        ap_keys = [f"ap@{k}" for k in protocol.get("ap_ks", (5, 10, 15))]
        for key in ("kendall_tau", "phase_progression", *ap_keys):
            lines.append(f"  {key:<22} {_fmt(result.get(key))}")
        pc = result.get("phase_classification")
        fractions = [repr(float(f)) for f in protocol.get("fractions", (0.1, 0.5, 1.0))]
        for frac in fractions:
            lines.append(f"  {'phase_class@' + frac:<22} {_fmt(pc.get(frac) if pc else None)}")
        tau = result.get("details", {}).get("kendall_tau")
        if tau:
            lines.append(f"  (kendall tau over {tau['n_pairs']} pairs, {tau['n_dropped']} NaN pairs dropped)")
        for key, why in result.get("null_reasons", {}).items():
            lines.append(f"  null {key}: {why}")
    else:
        lines.append(f"  {'metric':<12} {'full':>8} {'per':>8}")
        for key in ("mof", "f1@10", "f1@25", "f1@50", "edit", "miou", "f1_sampled"):
            lines.append(f"  {key:<12} {_fmt(result[key]['full']):>8} {_fmt(result[key]['per']):>8}")
        lines.append(f"  segmenter: {result.get('segmenter')}")
        if result.get("background") is not None:
            lines.append(f"  background: {result['background']!r} frames left out of the matching and the scores")
    for skipped in result.get("skipped_videos", []):
        lines.append(f"  skipped {skipped['video']}: {skipped['reason']}")
    return "\n".join(lines)
