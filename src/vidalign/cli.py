"""``vidalign <command>``: a thin argparse front end over the library (``docs/cli.md``).

Each handler parses, calls one library entry point, prints. Errors the user can fix (:mod:`vidalign.errors`:
bad data, settings, inputs, a missing device; missing or existing files) print one line and exit with status 2
(``VIDALIGN_DEBUG=1`` shows the traceback); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

from tqdm.auto import tqdm

from vidalign.errors import InputError, TrustWarning, VidalignError


def _cmd_demo(args: argparse.Namespace) -> None:
    from vidalign.demo import DemoConfig, run_demo

    given = _given(args, n_videos="videos", epochs="epochs")
    config = DemoConfig(out=args.out, backbone=args.backbone, seed=args.seed, **given)
    result = run_demo(config)
    print(result.table())
    print(
        f"\nwrote {result.report} (plots, side-by-side video and run directories beside it); the interactive "
        f"pages: {result.report.parent / 'align' / 'index.html'}, {result.report.parent / 'segment' / 'index.html'}"
    )


def _cmd_eval(args: argparse.Namespace) -> None:
    from vidalign.api import evaluate
    from vidalign.evaluation.protocols import FitOnScoredWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitOnScoredWarning)  # printed below as one line, and kept in the JSON
        result = evaluate(
            args.data,
            args.model,
            args.task,
            train_split=args.train_split,
            eval_split=args.eval_split,
            protocol=args.protocol,
            fit_on_scored=args.fit_on_scored,
            stride=args.stride,
            classifier=args.classifier,
            background=args.background,
            seed=args.seed,
            device=args.device,
            strict=not args.lenient,
            progress=not args.quiet,
        )
    if result.to_json().get("warning"):
        print(f"vidalign eval: warning: {result['warning']}", file=sys.stderr)
    if args.json:  # before printing: output piped into `head` and closed early must not lose the file
        result.write(args.json)
    print(result.table())
    if args.json:
        print(f"wrote {args.json}")


def _cmd_convert(args: argparse.Namespace) -> None:
    if args.dataset == "penn-action":
        from vidalign.data.penn_action import convert_penn_action

        folders = convert_penn_action(
            args.source,
            args.out,
            val_fraction=args.val_fraction,
            seed=args.seed,
            actions=args.actions,
            visibility_channel=args.visibility_channel,
        )
        for action, path in folders.items():
            print(f"{action:<18} {path}")
    elif args.dataset == "keypoints":
        from vidalign.data.keypoints import convert_keypoints

        print(convert_keypoints([args.source], args.out, skeleton=args.skeleton))
    else:
        from vidalign.data.mocap6 import convert_mocap6

        print(convert_mocap6(args.source, args.out))


def _cmd_synth(args: argparse.Namespace) -> None:
    from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset

    config = SyntheticConfig(n_videos=args.videos, n_phases=args.phases, seed=args.seed)
    print(write_synthetic_dataset(args.out, config))


def _cmd_render(args: argparse.Namespace) -> None:
    from vidalign.data.render import render_dataset
    from vidalign.data.synthetic import SyntheticConfig

    config = SyntheticConfig(n_videos=args.videos, n_phases=args.phases, background=args.background, seed=args.seed)
    out = render_dataset(config, args.out, size=args.size, fps=args.fps, progress=not args.quiet)
    print(f"wrote {out}/videos/*.mp4 with labels (groundTruth/, mapping/, splits/, truth/)")


def _cmd_extract(args: argparse.Namespace) -> int:
    from vidalign.api import extract

    summary = extract(
        args.inputs,
        args.out,
        backbone=args.backbone,
        weights=args.weights,
        stride=args.stride,
        target_fps=args.fps,
        batch_size=args.batch_size,
        device=args.device,
        shard_index=args.shard_index,
        num_shards=args.num_shards,
        labels_from=args.labels_from,
        split=args.split,
        progress=not args.quiet,
    )
    single_file = len(args.inputs) == 1 and Path(args.inputs[0]).is_file()
    if single_file and summary.failed:
        raise InputError(": ".join(summary.failed[0]))
    print(summary.format())
    return 1 if summary.failed else 0


def _cmd_train(args: argparse.Namespace) -> None:
    from vidalign.api import train

    run = train(
        args.data, args.method, args.out, preset=args.preset, assignments=args.set or [], progress=not args.quiet,
        split=args.split, seed=args.seed, device=args.device, epochs=args.epochs,
    ).path  # fmt: skip
    print(f"wrote {run}/model.safetensors, config.json, log.csv (and settings.json, checkpoint.safetensors: resume)")


def _cmd_finetune(args: argparse.Namespace) -> None:
    from vidalign.api import finetune
    from vidalign.extraction import find_videos

    run = finetune(
        find_videos(args.videos), args.method, args.out, preset=args.preset, assignments=args.set or [],
        progress=not args.quiet, seed=args.seed, device=args.device, epochs=args.epochs, stride=args.stride,
        target_fps=args.fps, backbone=args.backbone, weights=args.weights,
    ).path  # fmt: skip
    print(
        f"wrote {run}/backbone.safetensors, model.safetensors, config.json, log.csv (and settings.json, "
        "checkpoint.safetensors: resume)"
    )
    print(f"align with: vidalign align A.mp4 B.mp4 --model {run}")


def _cmd_bench(args: argparse.Namespace) -> None:
    from vidalign.bench import format_table, rows_to_json, run_suites

    rows = run_suites(args.suite, quick=args.quick)
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(rows_to_json(rows))


def _given(args: argparse.Namespace, **names: str) -> dict:
    """``{option: value}`` of the flags the user gave (``names``: option -> flag attribute); the rest keep the
    library's defaults."""
    return {option: getattr(args, flag) for option, flag in names.items() if getattr(args, flag) is not None}


def _cmd_align(args: argparse.Namespace) -> None:
    from vidalign.alignment import OTOptions, SWOptions
    from vidalign.api import align

    sw = _given(args, threshold="sw_threshold", gap_open="gap_open", gap_extend="gap_extend")
    ot = _given(args, n_iters="ot_iters")
    for options, method, flags in ((sw, "sw", "--sw-threshold / --gap-open / --gap-extend"), (ot, "ot", "--ot-iters")):
        if options and args.method != method:
            raise InputError(f"{flags} set {method}'s scoring: add --method {method}")

    result = align(
        args.a,
        args.b,
        model=args.model,
        method=args.method,
        standardize=args.standardize,
        backbone=args.backbone,
        weights=args.weights,
        stride=args.stride,
        target_fps=args.fps,
        layout=args.layout,
        device=args.device,
        sw=SWOptions(**sw),
        ot=OTOptions(**ot),
        band=args.band,
        mirror=args.mirror,
        progress=not args.quiet,
    )
    print(format_alignment(result, result.write(args.out, progress=not args.quiet, viewer=args.viewer)))


def _cmd_compare(args: argparse.Namespace) -> None:
    from vidalign.api import compare

    result = compare(
        args.reference, args.query, model=args.model, k=args.k, min_frames=args.min_frames, steps=args.steps,
        backbone=args.backbone,
        weights=args.weights, stride=args.stride, target_fps=args.fps, layout=args.layout, device=args.device,
        standardize=args.standardize, mirror=args.mirror, progress=not args.quiet,
    )  # fmt: skip
    print(format_comparison(result, result.write(args.out, progress=not args.quiet, viewer=args.viewer)))


PRINTED_RECORDINGS = 20  # retrieve's terminal lines, best recording first


def _cmd_retrieve(args: argparse.Namespace) -> None:
    from vidalign.api import retrieve
    from vidalign.data.layout import FeatureFolder
    from vidalign.extraction import feature_folder_for
    from vidalign.representation import video_frontend

    video_options = video_frontend(args.model, backbone=args.backbone, weights=args.weights, stride=args.stride,
                                   fps=args.fps) | {"device": args.device}  # fmt: skip
    data = feature_folder_for(args.within, args.out, progress=not args.quiet, **video_options)
    folder = FeatureFolder(data, layout=args.layout)
    result = retrieve(args.query, args.frame, folder, model=args.model, k=args.k, layout=args.layout,
                      mirror=args.mirror, progress=not args.quiet, **video_options)  # fmt: skip
    files = result.write(args.out, progress=not args.quiet, viewer=args.viewer)
    best_first = result.ranked()
    print("recording: its best frames, best first: frame (time) similarity")
    for video in best_first[:PRINTED_RECORDINGS]:
        mirrored = " (mirrored)" if (result.recordings[video].get("mirror") or {}).get("mirrored") else ""
        best = ", ".join(f"{m.frame}" + (f" ({m.time:.2f} s)" if m.time is not None else "") + f" {m.similarity:.3f}"
                         for m in result.matches[video])  # fmt: skip
        print(f"{video}{mirrored}: {best}")
    if len(best_first) > PRINTED_RECORDINGS:
        print(f"... the best {PRINTED_RECORDINGS} of {len(best_first)} recordings; retrieval.json holds them all")
    print("wrote " + ", ".join(str(p) for p in files))


def format_comparison(result, files) -> str:
    """The findings in words: flagged intervals and gaps of the query (with times when known), files."""
    query, reference = result.inputs.get("query", {}), result.inputs.get("reference", {})
    lines = [f"query {query.get('n_frames')} frames vs reference {reference.get('n_frames')} frames; "
             f"threshold {result.threshold:.4f} (median + {result.k} x 1.4826 x MAD, or the floor)"]  # fmt: skip
    if query.get("standardized"):
        lines.append(STANDARDIZED_NOTE)
    lines += _mirror_note(query, "the query", "the reference")
    lines += [f"flagged: query {_span(i, query)}" for i in result.flagged] or ["flagged: nothing"]
    lines += [f"no reference counterpart: query {_span(i, query)}" for i in result.query_gaps]
    lines += [f"left out by the query: reference {_span(i, reference)}" for i in result.reference_gaps]
    if result.steps is not None:
        for finding in ("missing", "extra", "out_of_order"):
            lines.append(f"steps {finding.replace('_', ' ')}: " + (", ".join(result.steps[finding]) or "none"))
        for repeat in result.steps.get("repeated") or []:
            spans = ", ".join(f"query {_span(tuple(i), query)}" for i in repeat["query_intervals"])
            lines.append(f"step {repeat['step']} performed {repeat['times']} times: the repetitions are {spans}")
    return "\n".join([*lines, *_confidence_note(result.alignment.confidence), "wrote " + ", ".join(map(str, files))])


def _mirror_note(source: dict, name: str, other: str) -> list[str]:
    """A line when ``source`` was aligned as the mirror image of ``other`` (docs/methods.md, Mirror images of
    poses)."""
    mirror = source.get("mirror") or {}
    if not mirror.get("mirrored"):
        return []
    mirrored, as_recorded = (mirror["path_similarity"][k] for k in ("mirrored", "as_recorded"))
    return [f"{name} is the mirror image of {other} (filmed from the other side, or the other hand): its poses were "
            f"flipped left-right (path similarity {mirrored:.3f} mirrored, {as_recorded:.3f} as recorded; "
            "--mirror off: as recorded)"]  # fmt: skip


def _confidence_note(confidence) -> list[str]:
    """The note of a trusted alignment judged by the phase of a repeated movement, as a line (docs/methods.md,
    Alignment confidence)."""
    note = None if confidence is None else confidence.note()
    return [f"note: {note}"] if note else []


def _span(interval: tuple[int, int] | None, source: dict) -> str:
    if interval is None:
        return "none"
    start, end = interval
    text = f"frames {start}-{end}"
    if source.get("timestamps"):
        text += f" ({source['timestamps'][start]:.2f}-{source['timestamps'][end]:.2f} s)"
    elif source.get("fps"):
        text += f" ({start / source['fps']:.2f}-{end / source['fps']:.2f} s)"
    return text


def format_alignment(result, files) -> str:
    """A short summary: method and score, matched intervals (with times when known), unmatched frames, files."""
    a, b = result.inputs.get("a", {}), result.inputs.get("b", {})
    written = [files.json, files.plot] + [path for path in (files.video, files.page) if path]
    standardized = [STANDARDIZED_NOTE + " (--no-standardize: as they are)"] if a.get("standardized") else []
    return "\n".join(
        [
            f"{result.method}: {result.score_kind} {result.score:.6g} | A {a.get('n_frames')} frames, "
            f"B {b.get('n_frames')} frames",
            f"matched A within {_span(result.matched_a, a)}; B within {_span(result.matched_b, b)}",
            f"unmatched A {result.n_unmatched_a} of {a.get('n_frames')} frames, B {result.n_unmatched_b} of "
            f"{b.get('n_frames')} frames",
            *standardized,
            *_mirror_note(b, "B", "A"),
            *_confidence_note(result.confidence),
            "wrote " + ", ".join(str(p) for p in written),
        ]
    )


def _cmd_view(args: argparse.Namespace) -> None:
    from vidalign.viewer.serve import serve

    serve(args.folder, port=args.port, open_browser=args.browser)


def _cmd_segment(args: argparse.Namespace) -> None:
    from vidalign.api import segment
    from vidalign.data.layout import FeatureFolder
    from vidalign.extraction import feature_folder_for
    from vidalign.representation import video_frontend

    frontend = video_frontend(args.model, backbone=args.backbone, weights=args.weights, stride=args.stride,
                              fps=args.fps)  # fmt: skip
    data = feature_folder_for(
        args.data,
        args.out,
        **frontend,
        device=args.device,
        progress=not args.quiet,
    )
    folder = FeatureFolder(data, layout=args.layout)
    result = segment(folder, args.model, split=args.split, kmeans=args.kmeans, device=args.device)
    print(format_segmentation(result, result.write(args.out, progress=not args.quiet, viewer=args.viewer)))


def _fraction(n: int, total: int) -> str:
    return f"{n}/{total} ({100.0 * n / total:.0f} %)"


def format_segmentation(result, written: tuple[Path, ...]) -> str:
    """Videos, segments and frames per action id, and the files written."""
    import numpy as np

    from vidalign.labels.runs import label_runs

    n_frames = sum(len(x) for x in result.labels.values())
    n_segments = sum(len(label_runs(x)[0]) for x in result.labels.values())
    counts = np.bincount(np.concatenate(list(result.labels.values())))
    shares = ", ".join(f"{result.names.get(k, k)}: {_fraction(int(c), n_frames)}" for k, c in enumerate(counts) if c)
    of_k = "" if result.n_actions is None else f" of {result.n_actions}"
    return "\n".join(
        [
            f"{len(result.labels)} videos, {n_frames} frames, {n_segments} segments ({result.segmenter})",
            f"frames per action ({result.actions_used}{of_k} actions used): {shares}",
            f"names: {result.names_from or 'none (action ids only)'}",
            "wrote " + ", ".join(str(p) for p in written),
        ]
    )


def _threshold(text: str) -> str | float:
    if text in ("median", "mean"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected median, mean or a finite number, got {text!r}")
    return value


def _add_video_options(p: argparse.ArgumentParser) -> None:
    """Decoding and embedding options of commands that accept videos."""
    p.add_argument("--backbone", help="frame features of videos: " + BACKBONES + "; default: the one the model's "
                   "training features came from, else efficientnet_lite0")  # fmt: skip
    p.add_argument("--weights", default="default", help="backbone weights: default, none or a local file")
    sampling = p.add_mutually_exclusive_group()
    sampling.add_argument("--stride", type=int, help="keep every k-th frame of videos (default: as the model's "
                          "training frames were sampled, else every frame)")  # fmt: skip
    sampling.add_argument("--fps", type=float, help="resample videos to this rate (never upsamples; default: as "
                          "--stride)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_mirror_option(p: argparse.ArgumentParser, second: str) -> None:
    p.add_argument("--mirror", choices=["auto", "off"], default="auto",
                   help=f"auto (default): when both inputs are poses, align {second} mirrored left-right if it aligns "
                   "better so (filmed from the other side, or the other hand); off: as recorded")  # fmt: skip


def _add_viewer_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-viewer", dest="viewer", action="store_false",
                   help="do not write the interactive page (index.html, media/) next to the results")  # fmt: skip


INPUTS = "video, .npy features [T, D], or pose keypoints (.json, .csv, OpenPose directory)"
LAYOUT_HELP = "feature files hold [T, D] (td) or [D, T] (dt); default: as the folder's dataset.json records, else td"
BACKBONES = (
    "efficientnet_lite0 (offline), efficientnet_lite0_grid, pose (body keypoints found by MediaPipe: "
    "pip install 'vidalign[pose]'; for movements of the body, docs/methods.md), resnet50 (downloads) or pixel"
)
STANDARDIZED_NOTE = "raw features standardised per recording"
STANDARDIZE = (
    "without --model: standardise each recording's raw features over the recording first, which removes what stays "
    "constant in it (person, room, camera: docs/methods.md, Raw features of videos of people)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidalign", description="Self-supervised video alignment and unsupervised action segmentation."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="the embedded default: synthetic videos -> features -> train -> eval -> align")
    p.add_argument("--out", type=Path, default=Path("vidalign_demo"), help="output folder (re-running resumes)")
    p.add_argument("--videos", type=int, help="number of synthetic videos to render (default 16)")
    p.add_argument("--backbone", default="efficientnet_lite0", help="frame features: efficientnet_lite0 or pixel")
    p.add_argument("--epochs", type=int, help="training epochs of every method (default: the presets')")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser("eval", help="score a model (or raw features) on a feature folder")
    p.add_argument("--data", required=True, help="feature folder (features/, groundTruth/, mapping/, splits/)")
    p.add_argument("--model", required=True,
                   help="run directory of `vidalign train`, or none / standardized / time (references)")  # fmt: skip
    p.add_argument("--task", choices=["alignment", "segmentation"], default="alignment")
    p.add_argument(
        "--train-split",
        default="train",
        type=lambda v: None if v == "none" else v,
        help="split the classifiers are fitted on (alignment); none: fit nothing (Kendall's tau only)",
    )
    p.add_argument("--eval-split", default="val", help="split that is scored")
    p.add_argument(
        "--protocol",
        choices=["tcc", "carl", "lav", "vaot", "lac", "ours"],
        default="ours",
        help="alignment evaluation protocol of a paper (docs/evaluation.md; default: ours)",
    )
    p.add_argument(
        "--fit-on-scored",
        action="store_true",
        help="allow lav / vaot to fit the classifier on the scored videos, as their published scripts do",
    )
    p.add_argument("--stride", type=int, help="Kendall's tau frame stride (default: the protocol's)")
    p.add_argument(
        "--classifier",
        choices=["svm_linear", "svm_rbf", "svm_rbf_ovo", "logreg"],
        help="phase classifier (default: the protocol's)",
    )
    p.add_argument(
        "--background",
        default=None,
        help="background label name, or none (default: 'background', 'bg' or 'SIL' if mapped)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--lenient", action="store_true", help="skip bad videos (listed) instead of stopping")
    p.add_argument("--json", type=Path, help="also write the result as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_eval)

    p = sub.add_parser("convert", help="convert a public dataset or your pose keypoints into feature folders")
    p.add_argument("dataset", choices=["penn-action", "mocap6", "keypoints"])
    p.add_argument(
        "source",
        help="penn-action: the labels/ directory; mocap6: mocap6.mat; keypoints: a keypoint file (.json, .csv, "
        ".npy), an OpenPose directory, or a folder of them (one recording each)",
    )
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--val-fraction", type=float, default=0.2, help="penn-action: share of train carved into val")
    p.add_argument("--seed", type=int, default=0, help="penn-action: seed of the val carve")
    p.add_argument("--actions", nargs="+", help="penn-action: only these actions")
    p.add_argument(
        "--visibility-channel", action="store_true", help="penn-action: append the 13 visibility flags (39-d)"
    )
    p.add_argument(
        "--skeleton", choices=["coco17", "mediapipe33", "body25", "coco18", "penn13"],
        help="keypoints: the skeleton (default: recognised by the number of joints)",
    )  # fmt: skip
    p.set_defaults(handler=_cmd_convert)

    p = sub.add_parser("synth", help="write the synthetic-process feature folder (the embedded dataset)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--videos", type=int, default=24)
    p.add_argument("--phases", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_cmd_synth)

    p = sub.add_parser("render", help="render the synthetic process as small lossless mp4 videos with their labels")
    p.add_argument("--out", required=True, type=Path, help="writes videos/, groundTruth/, mapping/, splits/, truth/")
    p.add_argument("--videos", type=int, default=24)
    p.add_argument("--phases", type=int, default=5)
    p.add_argument(
        "--background",
        type=int,
        nargs=2,
        default=(0, 0),
        metavar=("MIN", "MAX"),
        help="rest-pose frames at each end of every video",
    )
    p.add_argument("--size", type=int, default=96, help="frame width and height in pixels")
    p.add_argument("--fps", type=float, default=12.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_render)

    p = sub.add_parser("extract", help="videos -> feature folder (sharded, resumable)")
    p.add_argument("inputs", nargs="+", metavar="VIDEOS_OR_DIR", help="video files and/or folders (recursive)")
    p.add_argument("--backbone", default="efficientnet_lite0", help=BACKBONES + "; default: efficientnet_lite0")
    p.add_argument("--weights", default="default", help="default, none (random init) or a local state-dict file")
    p.add_argument("--out", required=True, type=Path, help="feature folder (re-running resumes)")
    sampling = p.add_mutually_exclusive_group()
    sampling.add_argument("--stride", type=int, help="keep every k-th source frame (default: every frame)")
    sampling.add_argument("--fps", type=float, help="resample to this rate (nearest frames, never upsamples)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--shard-index", type=int, default=0, help="this process's shard (0-based)")
    p.add_argument("--num-shards", type=int, default=1, help="shards take every n-th video of the sorted list")
    p.add_argument(
        "--labels-from",
        type=Path,
        help="label folder (e.g. of `vidalign render`): per-source-frame groundTruth/, mapping/, splits/",
    )
    p.add_argument("--split", help="also write splits/SPLIT.txt listing the extracted videos")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_extract)

    p = sub.add_parser("train", help="train a method on a feature folder")
    p.add_argument("--data", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--out", required=True, help="run directory (re-running resumes from its checkpoint)")
    p.add_argument("--split", default="train")
    p.add_argument("--epochs", type=int, help="0 writes the untrained model (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument(
        "--preset",
        help="feature family and/or named presets joined by '+', e.g. breakfast, pose+official (default: what the "
        "data folder's dataset.json records, else video; VAOT and VASOT add 'repeated' when the recordings repeat a "
        "movement)",
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a preset value, e.g. loss.eps=0.05")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("finetune", help="fine-tune the frame backbone with a method on videos (no labels)")
    p.add_argument("videos", nargs="+", help="video files or folders (searched recursively)")
    p.add_argument("--method", required=True)
    p.add_argument("--out", required=True, help="run directory (re-running resumes from its checkpoint)")
    p.add_argument("--epochs", type=int, help="default: the preset's, at most 10 (docs/finetune.md)")
    p.add_argument("--stride", type=int, help="keep every k-th frame (default: every frame)")
    p.add_argument("--fps", type=float, help="sample frames at this rate instead of --stride")
    p.add_argument(
        "--backbone", default="efficientnet_lite0", choices=("efficientnet_lite0", "efficientnet_lite0_grid")
    )
    p.add_argument("--weights", default="default", help="what the backbone starts from: default, none or a file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (bfloat16 autocast on CUDA)")
    p.add_argument("--preset", help="named presets joined by '+' (the video family's settings are the base)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a value, e.g. train_blocks=3, input_size=160, loss.eps=0.05")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_finetune)

    p = sub.add_parser("compare", help="where a query recording deviates from a reference (json, plot)")
    p.add_argument("reference", type=Path, help="the reference: " + INPUTS)
    p.add_argument("query", type=Path, help="the recording to check: " + INPUTS)
    p.add_argument("--model", help="run directory of `vidalign train` (default: the raw features)")
    p.add_argument("--standardize", action="store_true", help=STANDARDIZE + "; fewer false flags on videos of people")
    p.add_argument("--k", type=float, default=3.0, help="flag deviations above median + k x 1.4826 x MAD (3)")
    p.add_argument("--min-frames", type=int, default=3, help="shortest flagged interval or gap in frames (3)")
    p.add_argument(
        "--steps", choices=["model", "labels"],
        help="step-level findings from the model's prototypes (default when it has them) or the folders' labels",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("compare"), help="output folder (default: ./compare)")
    p.add_argument("--layout", choices=["td", "dt"], help=LAYOUT_HELP)
    _add_mirror_option(p, "the query")
    _add_video_options(p)
    _add_viewer_option(p)
    p.set_defaults(handler=_cmd_compare)

    p = sub.add_parser("retrieve", help="the moments of other recordings that match one frame (json, plot)")
    p.add_argument("query", type=Path, help="the query recording: " + INPUTS)
    p.add_argument("--frame", type=int, required=True, help="the query frame (index after sampling)")
    p.add_argument("--in", dest="within", required=True, type=Path, help="feature folder, or a folder of videos")
    p.add_argument("--model", help="run directory of `vidalign train` (default: the raw features)")
    p.add_argument("-k", type=int, default=5, help="matches per recording (default 5)")
    p.add_argument("--out", type=Path, default=Path("retrieval"), help="output folder (default: ./retrieval)")
    p.add_argument("--layout", choices=["td", "dt"], help=LAYOUT_HELP)
    _add_mirror_option(p, "each searched recording")
    _add_video_options(p)
    _add_viewer_option(p)
    p.set_defaults(handler=_cmd_retrieve)

    p = sub.add_parser("align", help="align two videos, .npy feature files or pose keypoint files (json, plot, video)")
    p.add_argument("a", type=Path, metavar="A", help=INPUTS)
    p.add_argument("b", type=Path, metavar="B", help=INPUTS)
    p.add_argument("--model", help="run directory of `vidalign train` (default: the raw features)")
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                   help=STANDARDIZE + "; the default for dtw when both inputs are videos, pose keypoints or files "
                   "of a video / pose feature folder")  # fmt: skip
    p.add_argument("--method", choices=["dtw", "sw", "ot"], default="dtw", help="global DTW, local SW, fused-GW OT")
    p.add_argument("--out", type=Path, default=Path("alignment"), help="output folder (default: ./alignment)")
    _add_mirror_option(p, "B")
    _add_video_options(p)
    p.add_argument("--layout", choices=["td", "dt"], help=LAYOUT_HELP)
    p.add_argument(
        "--sw-threshold",
        type=_threshold,
        help="sw: the similarity scored 0: median or mean of the matrix, or a number (default: median)",
    )
    p.add_argument("--gap-open", type=float, help="sw: gap opening penalty in std of the similarities (0.5)")
    p.add_argument("--gap-extend", type=float, help="sw: gap extension penalty in std of the similarities (0.1)")
    p.add_argument("--ot-iters", type=int, help="ot: mirror-descent iterations (100)")
    p.add_argument(
        "--band",
        type=float,
        help="dtw/sw: only pairs within this many frames of the scaled diagonal (a fraction of the longer "
        "recording when < 1); cost and memory in proportion",
    )
    _add_viewer_option(p)
    p.set_defaults(handler=_cmd_align)

    p = sub.add_parser("segment", help="per-video action segments of a feature folder (json, timelines)")
    p.add_argument("--data", required=True, type=Path, help="feature folder, or a folder of videos (extracted first)")
    p.add_argument(
        "--model",
        required=True,
        help="run directory of an asot / vasot `vidalign train` (with --kmeans: any run, or none for the raw features)",
    )
    p.add_argument("--out", type=Path, default=Path("segments"), help="output folder (default: ./segments)")
    p.add_argument("--split", help="only the videos of this split (default: all)")
    p.add_argument("--kmeans", type=int, metavar="K", help="k-means with K clusters on the model's embeddings")
    p.add_argument("--layout", choices=["td", "dt"], help=LAYOUT_HELP)
    _add_video_options(p)
    _add_viewer_option(p)
    p.set_defaults(handler=_cmd_segment)

    p = sub.add_parser("view", help="serve a folder written by align/compare/segment/retrieve and open its page")
    p.add_argument("folder", type=Path, help="a folder with index.html (an --out of those commands)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    p.add_argument("--no-browser", dest="browser", action="store_false", help="only serve; print the address")
    p.set_defaults(handler=_cmd_view)

    p = sub.add_parser("bench", help="time the kernels against references measured in the same run")
    suites = ["dp", "ot", "long", "gpu", "frames", "eval"]
    p.add_argument("--suite", nargs="+", choices=suites,
                   help="default: dp ot long (gpu needs CUDA; frames: backbones; eval: AP@K)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="smallest sizes only")
    p.add_argument("--json", help="also write the rows as JSON")
    p.set_defaults(handler=_cmd_bench)
    return parser


def _one_line_warnings(command: str):
    """A ``warnings.showwarning`` that prints vidalign's own warnings (its trust warnings, and any warning issued
    from its code: a skipped video, a partial decode, an HDR video) as ``vidalign CMD: warning: ...``, each text
    once (a video decoded again for the side-by-side video and the page says it once), on a line of its own under
    any progress bar; others as Python does."""
    default = warnings.showwarning
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        ours = issubclass(category, TrustWarning) or category.__module__.startswith("vidalign.")
        if ours or os.path.abspath(filename).startswith(package):
            text = f"vidalign {command}: warning: {message}"
            if text not in shown:
                shown.add(text)
                tqdm.write(text, file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


RESUMES = dict.fromkeys(  # the commands that resume: what Ctrl-C adds to its line
    ("extract", "train", "finetune", "demo"), "; what it finished is kept, and the same command again goes on"
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status = 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(args.command)
            status = args.handler(args) or 0
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback; what the resumable commands keep
        print(f"vidalign {args.command}: interrupted{RESUMES.get(args.command, '')}", file=sys.stderr)
        return 130
    except (VidalignError, OSError) as exc:  # OSError: a path the user gave (missing, a file, not writable)
        if os.environ.get("VIDALIGN_DEBUG"):
            raise
        if isinstance(exc, (FileExistsError, NotADirectoryError)) and exc.filename:  # was "[Errno 17] File exists"
            exc = f"{exc.filename}: a file stands where a folder is expected (give another path)"
        print(f"vidalign {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
