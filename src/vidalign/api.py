"""The front door (``import vidalign as va``; ``docs/api.md``): one function per job, each returning a result
object with ``to_json()`` and a writer. The CLI, the demo and the benchmarks call these.

- :func:`align` / :class:`Aligner` - align two videos or feature files (``AlignResult``: ``.write(out)``);
- :func:`compare` - where a query deviates from a reference (``Comparison``: ``.write(out)``);
- :func:`retrieve` - the moments of other recordings that match one frame (``Retrieval``: ``.write(out)``);
- :func:`segment` - action segments of a feature folder (``Segmentation``: ``.write(out)``);
- :func:`train` - train a method on a feature folder (``TrainedRun``: the run directory and model);
- :func:`evaluate` - score a model or a reference representation (``Evaluation``: ``.table()``, ``.write(path)``);
- :func:`extract` - videos -> feature folder (``ExtractionSummary``);
- :func:`load_features` - a feature folder or one feature file;
- :func:`synthetic_dataset` / :func:`render_videos` - the embedded synthetic processes, as features or videos.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidalign.alignment import AlignResult, OTOptions, SWOptions, align_arrays, check_method
from vidalign.atomic import atomic_write_json
from vidalign.comparison import Comparison, compare_embeddings
from vidalign.confidence import Confidence, with_frames, with_training_pairs
from vidalign.data.layout import LAYOUTS, FeatureFolder, read_extractor_record
from vidalign.errors import (
    BandEdgeWarning,
    CollapseWarning,
    InputError,
    UntrustedAlignmentWarning,
    unknown_keys_message,
    user_stacklevel,
)
from vidalign.evaluation.spread import collapse_message, embedding_spread, is_collapsed
from vidalign.extraction import ExtractionSummary, extract_videos, sampling_record
from vidalign.frames import FrameSource, frame_source_of
from vidalign.inputs import (
    AlignInput,
    load_input,
    meta_timestamps,
    needs_backbone,
    refuse_folder,
    video_or_pose_input,
)
from vidalign.orientation import choose_mirror
from vidalign.representation import Representation, frontend_of
from vidalign.retrieval import Retrieval, retrieve_frame
from vidalign.segmentation import segment
from vidalign.steps import step_findings

if TYPE_CHECKING:
    from vidalign.models.backbones import Backbone
    from vidalign.models.model import VidalignModel

__all__ = [
    "Aligner",
    "Evaluation",
    "align",
    "compare",
    "evaluate",
    "extract",
    "finetune",
    "load_features",
    "render_videos",
    "retrieve",
    "segment",
    "synthetic_dataset",
    "train",
]

Source = str | os.PathLike[str] | np.ndarray
MIRROR_MODES = ("auto", "off")  # Aligner(mirror=...)


class Aligner:
    """Aligns pairs of recordings with one representation: ``Aligner.from_run(run)`` loads the model (and, for
    videos, the frame backbone) once; ``aligner(a, b)`` aligns a pair. Inputs are video files, ``.npy`` feature
    files or ``[T, D]`` arrays. A run of ``vidalign finetune`` embeds videos with its own fine-tuned backbone
    unless ``weights`` is given (``docs/finetune.md``); without ``backbone``, any other run embeds them with the
    backbone its training folder was extracted with, and raw features use ``efficientnet_lite0``
    (:func:`vidalign.representation.frontend_of`). Without ``stride`` / ``target_fps`` a run's videos are
    decoded at the sampling of its training frames, raw features' at every frame. ``band``:
    dtw / sw within a Sakoe-Chiba band around the scaled diagonal, its radius in frames or, when < 1, a fraction
    of the longer recording (``docs/methods.md``, Band). ``standardize``: without a model, standardise each
    recording's raw features over the recording first (:func:`vidalign.representation.standardize_recording`;
    ``docs/methods.md``, Raw features of videos of people). ``mirror``: ``"auto"`` aligns the second recording
    mirrored left-right when both are poses (keypoints, videos embedded as poses, files of a pose feature folder)
    and it aligns better so (:mod:`vidalign.orientation`); ``"off"`` takes it as recorded."""

    def __init__(
        self,
        model: str | os.PathLike[str] | VidalignModel | None = None,
        *,
        method: str = "dtw",
        backbone: str | None = None,
        weights: str | os.PathLike[str] = "default",
        stride: int | None = None,
        target_fps: float | None = None,
        layout: str | None = None,
        device: str = "cpu",
        sw: SWOptions | None = None,
        ot: OTOptions | None = None,
        band: float | None = None,
        standardize: bool = False,
        mirror: str = "auto",
        progress: bool = False,
    ):
        check_method(method)
        if standardize and model is not None:
            raise InputError("standardize applies to raw features: a model scales its own inputs")
        if mirror not in MIRROR_MODES:
            raise InputError(f"mirror must be one of {MIRROR_MODES}, got {mirror!r}")
        if layout is not None and layout not in LAYOUTS:
            raise InputError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.mirror = mirror
        self.method, self.sw, self.ot, self.band = method, sw or SWOptions(), ot or OTOptions(), band
        self.standardize = standardize
        raw = "standardized" if standardize else "none"
        self.representation = Representation(model if model is not None else raw, device)
        self.model_name = None if model is None else self.representation.name
        sampling_record(stride, target_fps)  # a stride or rate that cannot be is refused, whatever the inputs
        run = model if isinstance(model, (str, os.PathLike)) else None
        frontend = frontend_of(self.representation.config, run, backbone=backbone, weights=weights, stride=stride,
                               fps=target_fps)  # fmt: skip
        self.backbone_name, self.weights, self.device = frontend["backbone"], frontend["weights"], device
        self.sampling = {"layout": layout, "stride": frontend["stride"], "target_fps": frontend["target_fps"],
                         "progress": progress}  # fmt: skip
        self._backbone: Backbone | None = None

    @classmethod
    def from_run(cls, run: str | os.PathLike[str], **options) -> Aligner:
        """An aligner on the embeddings of the ``vidalign train`` run directory ``run``."""
        return cls(run, **options)

    @property
    def backbone(self) -> Backbone:
        """The frame backbone (built on first use: feature-file inputs never need it)."""
        if self._backbone is None:
            from vidalign.models.backbones import build_backbone  # torch: feature-file inputs never load it

            self._backbone = build_backbone(self.backbone_name, self.weights, self.device)
            self.representation.check_dim(self._backbone.dim, f"backbone {self.backbone_name} gives", source="backbone")
        return self._backbone

    def load(self, source: Source, name: str) -> AlignInput:
        """One input: an array (``[T, D]``, or ``[D, T]`` with ``layout="dt"``), a ``.npy`` file, or a video decoded
        and embedded by the backbone."""
        if isinstance(source, np.ndarray):
            return AlignInput(Path(name), source.T if self.sampling["layout"] == "dt" else source, is_video=False)
        path = Path(source)
        backbone = self.backbone if needs_backbone(path) else None
        loaded = load_input(path, backbone, **self.sampling)
        self.representation.check_dim(loaded.features.shape[1], f"{path} holds")
        return loaded

    def load_all(self, sources: dict[str, Source]) -> list[AlignInput]:
        """The inputs ``{name: source}`` loaded (:meth:`load`), after checking that the files exist and, for
        videos, that the backbone fits the model, so that nothing is decoded in vain."""
        paths = [s for s in sources.values() if not isinstance(s, np.ndarray)]
        missing = [Path(p) for p in paths if not Path(p).exists()]
        if missing:  # before any decoding
            raise InputError(f"{missing[0]}: no such file")
        for path in paths:  # before a backbone is built (or downloaded)
            refuse_folder(Path(path))
        if any(needs_backbone(p) for p in paths):
            _ = self.backbone  # checks the model's input dimension before decoding
        return [self.load(source, name) for name, source in sources.items()]

    def oriented(self, first: AlignInput, second: AlignInput) -> AlignInput:
        """``second``, mirrored when it is ``first``'s mirror image (``mirror="auto"``, both poses; ``mirror``
        records the check): :func:`vidalign.orientation.choose_mirror` in this aligner's representation."""
        if self.mirror == "off" or not (first.is_pose and second.is_pose):
            return second
        return second.with_mirror_choice(choose_mirror(self.representation.embed, first.features, second.features))

    def embed(self, *inputs: AlignInput) -> list[np.ndarray]:
        """The inputs' features in this aligner's representation."""
        return [self.representation.embed(source.features) for source in inputs]

    def warn_if_collapsed(self, embedded: list[np.ndarray]) -> None:
        """Warn when the model's embeddings of these (validated) recordings collapsed (:mod:`vidalign.evaluation.
        spread`): this catches runs that predate the training-time check; a recorded collapse warned on loading."""
        if self.model_name is None or (self.representation.config.get("spread") or {}).get("collapsed"):
            return
        spread = embedding_spread(embedded)
        if is_collapsed(spread):
            message = collapse_message(f"model {self.model_name} on these recordings", spread)
            warnings.warn(CollapseWarning(message), stacklevel=user_stacklevel())

    def described(self, source: AlignInput) -> dict:
        """The input's description for the outputs, saying whether its raw features were standardised."""
        return source.describe() | ({"standardized": True} if self.standardize else {})

    def checked(self, confidence: Confidence, first: AlignInput, second: AlignInput) -> Confidence:
        """``confidence`` of an alignment in this aligner's representation, checked, when a model made it, against
        the recordings' own frames (:func:`vidalign.confidence.with_frames`) and against how closely the model's
        training recordings match (:func:`vidalign.confidence.with_training_pairs`; runs trained before it was
        recorded have no ``spread.matched``)."""
        if self.model_name is None:
            return confidence
        checked = with_frames(confidence, first.features, second.features)
        training = (self.representation.config.get("spread") or {}).get("matched")
        return checked if training is None else with_training_pairs(checked, training)

    def __call__(self, a: Source, b: Source, *, method: str | None = None) -> AlignResult:
        first, second = self.load_all({"A": a, "B": b})
        second = self.oriented(first, second)
        embedded = self.embed(first, second)
        progress = self.sampling["progress"]
        result = align_arrays(
            *embedded, method=method or self.method, sw=self.sw, ot=self.ot, band=self.band, progress=progress
        )
        result = dataclasses.replace(result, confidence=self.checked(result.confidence, first, second))
        self.warn_if_collapsed(embedded)
        if not result.confidence.trusted:
            warnings.warn(UntrustedAlignmentWarning(result.confidence.message()), stacklevel=user_stacklevel())
        if result.parameters.get("band_edge"):
            warnings.warn(BandEdgeWarning(band_edge_message(result)), stacklevel=user_stacklevel())
        any_video = first.is_video or second.is_video
        return dataclasses.replace(
            result,
            inputs={"a": self.described(first), "b": self.described(second)},
            model=self.model_name,
            backbone=self.backbone_name if any_video else None,
            sources=(first, second),
        )


def band_edge_message(result: AlignResult) -> str:
    """One line for the warning of a banded alignment that touches the band's edge."""
    parameters = result.parameters
    return (
        f"the {result.method} alignment touches the edge of the band ({parameters['band_radius']:g} frames either "
        f"side of the diagonal) at {parameters['band_edge_pairs']} of {len(result.pairs)} pairs: a better alignment "
        "may lie outside it; widen --band or leave it out (docs/methods.md, Band)"
    )


# alignments whose raw features of videos and poses are standardised per recording unless told otherwise
# (docs/methods.md, Raw features of videos of people): a local one (sw) finds a clip in a longer recording better
# raw, and OT leaves most frames of standardised features unmatched (their cosines fall below its dummy's cost)
STANDARDIZED_METHODS = ("dtw",)


def standardizes_by_default(a: Source, b: Source, *, model: str | os.PathLike[str] | None, method: str) -> bool:
    """Whether :func:`align` standardises the raw features when ``standardize`` is not given: without a model, for
    ``method`` dtw (:data:`STANDARDIZED_METHODS`), when both inputs are videos or poses
    (:func:`vidalign.inputs.video_or_pose_input`)."""
    return model is None and method in STANDARDIZED_METHODS and all(map(video_or_pose_input, (a, b)))


def _check_options(options: dict[str, Any], accepts: Callable[..., Any], caller: str) -> None:
    """One-line InputError for keyword options that ``accepts`` (where ``caller`` passes them on) does not take."""
    valid = [name for name in inspect.signature(accepts).parameters if name not in ("self", "model")]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InputError(f"{caller}: " + unknown_keys_message("option", unknown, valid))


def align(a: Source, b: Source, *, model: str | os.PathLike[str] | None = None, method: str = "dtw",
          standardize: bool | None = None, **options) -> AlignResult:  # fmt: skip
    """Align recording ``a`` with ``b`` (videos, ``.npy`` files or ``[T, D]`` arrays) by ``method`` (dtw, sw or
    ot: ``docs/methods.md``) on the embeddings of ``model`` (a run directory; None: the raw features).
    ``standardize``: standardise each recording's raw features first (:class:`Aligner`); None decides by
    :func:`standardizes_by_default`. ``options``: those of :class:`Aligner` (backbone, stride, target_fps, device,
    sw, ot, band, ...)."""
    _check_options(options, Aligner.__init__, "va.align")
    if standardize is None:
        standardize = standardizes_by_default(a, b, model=model, method=method)
    return Aligner(model, method=method, standardize=standardize, **options)(a, b)


def train(
    data: str | os.PathLike[str],
    method: str,
    out: str | os.PathLike[str] | None = None,
    *,
    preset: str | None = None,
    assignments: Sequence[str] = (),
    progress: bool = False,
    **overrides: Any,
):
    """Train ``method`` on the feature folder ``data`` into ``out`` (default ``runs/<method>``). ``preset``: as
    ``vidalign train --preset`` (default: what the folder's ``dataset.json`` records). ``assignments``:
    ``"KEY=VALUE"`` strings as ``--set`` takes them. ``overrides``: training fields (``epochs=5``,
    ``split="train_sub"``, ``seed=1``; None = unset) and sections as dicts (``loss={"eps": 0.05}``), merged last.
    With ``progress``, the preset used is printed and a progress bar shown. Returns
    :class:`vidalign.training.TrainedRun` (``path``, ``model``, ``config``)."""
    from vidalign.presets import deep_merge, train_settings
    from vidalign.presets.repeats import preset_line
    from vidalign.training import TrainConfig
    from vidalign.training import train as run_training

    out = Path("runs") / method if out is None else out
    sections = {k: v for k, v in overrides.items() if isinstance(v, dict)}
    fields = {k: v for k, v in overrides.items() if not isinstance(v, dict)}
    settings = train_settings(method, data, out, preset=preset, overrides=list(assignments), **fields)
    config = TrainConfig.from_dict(deep_merge(settings, sections))
    if progress:
        print(preset_line(config.preset, config.method), flush=True)
    return run_training(config, progress=progress)


def finetune(
    videos: Sequence[str | os.PathLike[str]],
    method: str,
    out: str | os.PathLike[str] | None = None,
    *,
    preset: str | None = None,
    assignments: Sequence[str] = (),
    progress: bool = False,
    **overrides: Any,
):
    """Fine-tune the frame backbone with ``method`` end to end on the video files ``videos`` into ``out``
    (default ``runs/<method>-finetuned``; :mod:`vidalign.finetuning`). ``preset``, ``assignments`` and
    ``overrides`` as :func:`train` (``epochs=5``, ``train_blocks=3``, ``target_fps=10``, ``device="cuda"``, ...).
    Returns :class:`vidalign.training.TrainedRun`; ``Aligner.from_run(run)`` then embeds videos with the
    fine-tuned backbone."""
    from vidalign.finetuning import FinetuneConfig, finetune_settings
    from vidalign.finetuning import finetune as run_finetuning
    from vidalign.presets import deep_merge
    from vidalign.presets.repeats import preset_line

    out = Path("runs") / f"{method}-finetuned" if out is None else out
    sections = {k: v for k, v in overrides.items() if isinstance(v, dict)}
    fields = {k: v for k, v in overrides.items() if not isinstance(v, dict)}
    settings = finetune_settings(method, [str(v) for v in videos], out, preset=preset, overrides=list(assignments),
                                 **fields)  # fmt: skip
    config = FinetuneConfig.from_dict(deep_merge(settings, sections))
    if progress:
        print(preset_line(config.preset, config.method), flush=True)
    return run_finetuning(config, progress=progress)


COMPARE_FIXED = {"method", "band", "ot"}  # Aligner options a comparison cannot honour (compare_embeddings)


def compare(
    reference: Source,
    query: Source,
    *,
    model: str | os.PathLike[str] | None = None,
    k: float = 3.0,
    min_frames: int = 3,
    steps: str | None = None,
    **options,
) -> Comparison:
    """Where ``query`` deviates from ``reference`` (:mod:`vidalign.comparison`: per-frame deviation along the DTW
    alignment, flagged intervals above ``median + k * 1.4826 * MAD``, local-alignment gaps) on the embeddings of
    ``model`` (None: the raw features). ``steps``: ``"model"`` (the model's action prototypes; the default when it
    has them), ``"labels"`` (the labels of two feature files inside labelled feature folders) or None for no
    step-level findings (:mod:`vidalign.steps`). ``options``: those of :class:`Aligner` (backbone, stride, ...);
    ``standardize=True`` is never the default here: a long stretch of foreign frames in the query shifts the
    statistics its other frames are standardised with (``docs/methods.md``, Raw features of videos of people).
    ``method``, ``band`` and ``ot`` are refused: a comparison is always DTW then SW over the whole matrix."""
    _check_options(options, Aligner.__init__, "va.compare")
    fixed = sorted(set(options) & COMPARE_FIXED)
    if fixed:
        raise InputError(f"compare aligns by DTW, then locally by SW, over the whole similarity matrix: "
                         f"{', '.join(fixed)} do not apply (align takes them)")  # fmt: skip
    aligner = Aligner(model, **options)
    first, second = aligner.load_all({"reference": reference, "query": query})
    second = aligner.oriented(first, second)
    embedded = aligner.embed(first, second)
    findings = _step_findings(aligner.representation, first, second, steps)
    result = compare_embeddings(*embedded, k=k, min_frames=min_frames, sw=aligner.sw)
    confidence = aligner.checked(result.alignment.confidence, first, second)
    result = dataclasses.replace(result, alignment=dataclasses.replace(result.alignment, confidence=confidence))
    aligner.warn_if_collapsed(embedded)
    if not result.alignment.confidence.trusted:
        warnings.warn(UntrustedAlignmentWarning(result.alignment.confidence.message()), stacklevel=user_stacklevel())
    inputs = {"reference": aligner.described(first), "query": aligner.described(second)}
    return dataclasses.replace(result, inputs=inputs, model=aligner.model_name, steps=findings, sources=(first, second))


STEP_SOURCES = ("model", "labels")


def _folder_labels(source: AlignInput) -> tuple[np.ndarray, dict[int, str]]:
    path = Path(source.path)
    if path.parent.name != "features" or not (path.parent.parent / "groundTruth").is_dir():
        raise InputError(f"{path}: steps from labels need a feature file inside a labelled feature folder")
    folder = FeatureFolder(path.parent.parent)
    return folder.load(path.stem).labels, dict(enumerate(folder.class_names))


def _step_findings(representation: Representation, reference: AlignInput, query: AlignInput, steps: str | None):
    """Step-level findings from the model's prototypes or the recordings' labels (:func:`compare`). Repeated steps
    are looked for in the recordings' own frame features, not in a model's embeddings: those are trained to tell
    how far through a recording a frame is (docs/methods.md, Compare)."""
    features = (reference.features, query.features)
    if steps is not None and steps not in STEP_SOURCES:
        raise InputError(f"steps must be one of {STEP_SOURCES} or None, got {steps!r}")
    fps = (reference.fps, query.fps)
    if steps == "labels":
        (ref_steps, names), (query_steps, _) = _folder_labels(reference), _folder_labels(query)
        return step_findings(ref_steps, query_steps, names=names, fps=fps, features=features)
    if representation.segments_with_prototypes:
        ref_steps, query_steps = representation.segment(reference.features), representation.segment(query.features)
        return step_findings(ref_steps, query_steps, fps=fps, features=features)
    if steps == "model":
        raise InputError(f"model {representation.name} has no action prototypes: train asot or vasot, or use labels")
    return None


def retrieve(
    query: Source,
    frame: int,
    folder: str | os.PathLike[str] | FeatureFolder,
    *,
    model: str | os.PathLike[str] | None = None,
    k: int = 5,
    min_gap: int | None = None,
    **options,
) -> Retrieval:
    """The ``k`` moments of every other recording of the feature folder ``folder`` that best match frame
    ``frame`` of ``query`` (:mod:`vidalign.retrieval`), on the embeddings of ``model`` (None: raw features).
    ``options``: those of :class:`Aligner` (backbone, stride, layout, device, ``mirror``: a pose query searches a
    pose folder's recordings each as recorded or mirrored, :meth:`Aligner.oriented`)."""
    _check_options(options, Aligner.__init__, "va.retrieve")
    aligner = Aligner(model, **options)
    (source,) = aligner.load_all({"query": query})
    folder = folder if isinstance(folder, FeatureFolder) else FeatureFolder(folder)
    records = [r for r in folder.load_split(None) if not _is_recording_of(source, r, folder)]
    if not records:
        raise InputError(f"{folder.root}: no recording other than the query to search")
    kind = "extracted" if read_extractor_record(folder.root) else "features"  # from videos: extract them again
    for record in records:
        aligner.representation.check_dim(record.features.shape[1], f"{folder.root}/{record.video_id} holds",
                                         source=kind)  # fmt: skip
    family = folder.feature_family
    searched = {r.video_id: aligner.oriented(source, AlignInput(Path(r.video_id), r.features, False, family=family))
                for r in records}  # fmt: skip
    embed = aligner.representation.embed
    others = {video: embed(found.features) for video, found in searched.items()}
    times = {r.video_id: meta_timestamps(r.meta, len(r.features)) for r in records}
    matches, profiles = retrieve_frame(embed(source.features), frame, others, k=k, min_gap=min_gap, times=times)
    query_time = source.timestamps[frame] if source.timestamps else None
    frame_sources = {r.video_id: FrameSource.from_meta(r.meta) for r in records}
    known = {name: found for name, found in frame_sources.items() if found is not None}
    recordings = {
        r.video_id: searched[r.video_id].describe()
        | {"path": r.video_id, "fps": r.meta.get("fps"), "timestamps": times[r.video_id]}  # fmt: skip
        for r in records
    }
    return Retrieval(str(source.path), frame, matches, profiles, aligner.model_name, query_time, known, recordings,
                     source.describe(), frame_source_of(source))  # fmt: skip


def _is_recording_of(source: AlignInput, record, folder: FeatureFolder) -> bool:
    """Whether the folder's ``record`` is the query itself: the same feature file, or features of the same video
    file (a different recording of the same name, elsewhere, is searched)."""
    if not Path(source.path).exists():  # an array
        return False
    query = Path(source.path).resolve()
    if query == (folder.root / "features" / f"{record.video_id}.npy").resolve():
        return True
    recorded = record.meta.get("source")
    if not isinstance(recorded, str) or not recorded:
        return False
    # a relative source (folders written before sources were stored absolute) was given from the directory the
    # converter ran in: the working directory now, or most often the folder's parent (``--out data``)
    bases = [Path.cwd(), folder.root.resolve().parent]
    return any(query == (base / recorded).resolve() for base in bases)


@dataclasses.dataclass
class Evaluation:
    """A scored representation: ``result`` holds the documented keys (``kendall_tau``, ``phase_classification``,
    ``mof`` ...: ``docs/evaluation.md``) and every protocol choice."""

    result: dict

    def __getitem__(self, key: str) -> Any:
        return self.result[key]

    def to_json(self) -> dict:
        return self.result

    def table(self) -> str:
        """The readable table ``vidalign eval`` prints."""
        from vidalign.evaluation.folder import format_result

        return format_result(self.result)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON to ``path`` (atomically)."""
        atomic_write_json(path, self.result)
        return Path(path)


def evaluate(
    data: str | os.PathLike[str],
    model: str | os.PathLike[str],
    task: str = "alignment",
    **options: Any,
) -> Evaluation:
    """Score ``model`` (a run directory, ``"none"`` for raw features or ``"time"`` for time only) on ``data``;
    ``options`` as :func:`vidalign.evaluation.folder.evaluate_folder` (``protocol``, ``train_split``,
    ``eval_split``, ``stride``, ...)."""
    from vidalign.evaluation.folder import evaluate_folder

    _check_options(options, evaluate_folder, "va.evaluate")
    return Evaluation(evaluate_folder(data, model, task, **options))


def extract(
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    backbone: str = "efficientnet_lite0",
    **options: Any,
) -> ExtractionSummary:
    """Extract frame features of ``videos`` (files and/or folders) into the feature folder ``out`` with
    ``backbone``; ``options`` as :func:`vidalign.extraction.extract_videos` (stride, target_fps, ...)."""
    inputs = [videos] if isinstance(videos, str | os.PathLike) else list(videos)
    options.setdefault("progress", False)
    return extract_videos(inputs, out, backbone=backbone, **options)


def load_features(path: str | os.PathLike[str], *, layout: str | None = None) -> FeatureFolder | np.ndarray:
    """A feature folder (a directory with ``features/``) or one ``.npy`` feature file as a validated array."""
    path = Path(path)
    if path.is_dir():
        return FeatureFolder(path, layout=layout)
    return load_input(path, None, layout=layout).features


def synthetic_dataset(out: str | os.PathLike[str], *, videos: int = 24, phases: int = 5, seed: int = 0) -> Path:
    """Write the embedded synthetic processes as a feature folder (``vidalign synth``); returns ``out``."""
    from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset

    return write_synthetic_dataset(out, SyntheticConfig(n_videos=videos, n_phases=phases, seed=seed))


def render_videos(out: str | os.PathLike[str], *, videos: int = 24, phases: int = 5, seed: int = 0,
                  **options: Any) -> Path:  # fmt: skip
    """Render the synthetic processes as mp4 videos with labels (``vidalign render``); returns ``out``."""
    from vidalign.data.render import render_dataset
    from vidalign.data.synthetic import SyntheticConfig

    return render_dataset(SyntheticConfig(n_videos=videos, n_phases=phases, seed=seed), out, **options)
