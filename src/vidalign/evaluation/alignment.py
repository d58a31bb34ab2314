"""Video-alignment metrics under a named protocol (``docs/evaluation.md``).

Default protocol (``"ours"``, TCC / CARL split): the downstream models (classifier, regressors) are fitted on the
*train* split and scored on the *val* split; nothing fitted ever sees a val video. The published LAV / VAOT
scripts fitted the classifier on the scored videos: their protocols (``"lav"``, ``"vaot"``) reproduce that only
when asked explicitly (``fit_on_scored=True``) and then say so in the result. Every protocol's choices
(classifier, label fractions, strides, AP@K averaging) are in :mod:`vidalign.evaluation.protocols`. Label-free
retrieval metrics (Kendall's tau, AP@K) use the val videos only. Embeddings are used as given: no normalisation
unless an option asks for it. Every label value, -1 included, is an ordinary phase class here.

References: Dwibedi et al., "Temporal Cycle-Consistency Learning", CVPR 2019 (phase classification, phase
progression, Kendall's tau; code ``google-research/tcc/evaluation``); Chen et al., "Frame-wise Action
Representations for Long Videos via Sequence Contrastive Learning" (CARL), CVPR 2022 (fine-grained retrieval
AP@K; code ``minghchen/CARL_code/evaluation``); VAOT (``trquhuytin/VAOT-ICCV25 evals/phase_classification.py``,
frame-averaged AP@K).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from itertools import permutations

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import kendalltau
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from tqdm.auto import tqdm

from vidalign.errors import ConfigError, InputError, user_stacklevel
from vidalign.evaluation.protocols import (
    CLASSIFIERS,
    FitOnScoredWarning,
    Protocol,
    check_fit_on_scored,
    fit_on_scored_warning,
    label_fraction_count,
    resolve_protocol,
)
from vidalign.labels.runs import label_runs

__all__ = [
    "CLASSIFIERS",
    "ap_at_k",
    "evaluate_alignment",
    "fraction_key",
    "kendall_tau",
    "label_fraction_count",
    "phase_classification",
    "phase_progression",
    "phase_progression_report",
    "retrieval_precision_per_frame",
    "retrieval_precision_per_video",
]

DISTANCE = "sqeuclidean"
# AP@K computes query-to-candidate distances in row blocks of at most this many entries (bounded memory).
_MAX_DISTANCE_ENTRIES = 1 << 24


def _as_float(embedding: np.ndarray) -> np.ndarray:
    embedding = np.asarray(embedding, dtype=np.float64)
    if embedding.ndim != 2:
        raise InputError(f"an embedding must be [T, D], got shape {embedding.shape}")
    return embedding


def _labelled_videos(
    embeddings: Sequence[np.ndarray], labels: Sequence[np.ndarray], stride: int = 1
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validated ``(frames [T, D] float64, labels [T])`` per video, every ``stride``-th frame."""
    if len(embeddings) != len(labels):
        raise InputError(f"{len(labels)} label arrays for {len(embeddings)} videos")
    frames = [_as_float(e)[::stride] for e in embeddings]
    phases = [np.asarray(lab).ravel()[::stride] for lab in labels]
    for i, (f, p) in enumerate(zip(frames, phases, strict=True)):
        if f.shape[0] != p.size:
            raise InputError(f"video {i}: {f.shape[0]} frames but {p.size} labels")
    return frames, phases


def _stack_labelled(embeddings: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    frames, phases = _labelled_videos(embeddings, labels)
    return np.concatenate(frames), np.concatenate(phases)


def _k_smallest(distances: np.ndarray, k: int) -> np.ndarray:
    """``np.argsort(distances, axis=1, kind="stable")[:, :k]`` without sorting whole rows: each row's values up
    to its k-th smallest (``np.partition``), ordered by value and then index, as the stable sort orders them."""
    if k >= distances.shape[1]:
        return np.argsort(distances, axis=1, kind="stable")[:, :k]
    kth = np.partition(distances, k - 1, axis=1)[:, k - 1]
    nearest = np.empty((distances.shape[0], k), dtype=np.intp)
    for row, (values, limit) in enumerate(zip(distances, kth, strict=True)):
        within = np.flatnonzero(values <= limit)  # at least k, in index order
        nearest[row] = within[np.argsort(values[within], kind="stable")[:k]]
    return nearest


def _nearest_label_hits(
    query: np.ndarray, query_labels: np.ndarray, frames: np.ndarray, frame_labels: np.ndarray, own: slice, k: int
) -> np.ndarray:
    """``[n_query, k]`` bool: whether the j-th nearest of ``frames`` outside the query's own rows ``own``
    (stable order) has the query's label."""
    block = max(1, _MAX_DISTANCE_ENTRIES // frames.shape[0])
    hits = []
    for start in range(0, query.shape[0], block):
        distances = cdist(query[start : start + block], frames, DISTANCE)
        distances[:, own] = np.inf  # never chosen: the other videos hold at least k frames (checked)
        nearest = _k_smallest(distances, k)
        hits.append(frame_labels[nearest] == query_labels[start : start + block, None])
    return np.concatenate(hits)


def _nearest_frames(query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Index of each query frame's nearest candidate (first on ties), in row blocks of at most
    ``_MAX_DISTANCE_ENTRIES`` distances: a 10,000-frame pair never holds its whole distance matrix."""
    block = max(1, _MAX_DISTANCE_ENTRIES // max(1, candidates.shape[0]))
    return np.concatenate([cdist(query[start : start + block], candidates, DISTANCE).argmin(axis=1)
                           for start in range(0, query.shape[0], block)])  # fmt: skip


def _pair_tau(nearest: np.ndarray) -> float:
    """``kendalltau(range(n), nearest)`` (tau-b); NaN when undefined (under 2 frames, constant sequence)."""
    if nearest.size < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(kendalltau(np.arange(nearest.size), nearest).statistic)


def kendall_tau(embeddings: Sequence[np.ndarray], stride: int = 5, *, progress: bool = False) -> dict:
    """Kendall's tau of nearest-neighbour alignment (TCC), mean over ordered pairs of distinct videos.

    For every ordered pair ``(i, j)``, ``i != j``: take every ``stride``-th frame of both videos, find for
    each frame of ``i`` its nearest frame of ``j`` (squared Euclidean; first index on ties) and compute
    ``scipy.stats.kendalltau(arange(n_i), nn)``. Pairs whose tau is NaN (constant nearest-neighbour sequence,
    a single strided frame) are dropped. Returns ``value`` (mean over kept pairs, NaN if none), ``n_pairs``
    (kept pairs), ``n_dropped`` and ``per_video`` (mean over kept pairs with video ``i`` as query, None if
    none). ``progress``: a bar over the pairs (their number grows as the square of the videos').
    """
    if len(embeddings) < 2:
        raise InputError("Kendall's tau needs at least 2 videos")
    if stride < 1:
        raise ConfigError(f"stride must be >= 1, got {stride}")
    strided = [_as_float(e)[::stride] for e in embeddings]
    taus = np.full((len(strided), len(strided)), math.nan)
    pairs = permutations(range(len(strided)), 2)
    total = len(strided) * (len(strided) - 1)
    for i, j in tqdm(pairs, total=total, desc="Kendall's tau", unit="pair", disable=not progress, leave=False):
        nearest = _nearest_frames(strided[i], strided[j])
        taus[i, j] = _pair_tau(nearest)
    kept = ~np.isnan(taus)
    per_video = [float(row[ok].mean()) if ok.any() else None for row, ok in zip(taus, kept, strict=True)]
    n_kept = int(kept.sum())
    return {
        "value": float(taus[kept].mean()) if n_kept else math.nan,
        "n_pairs": n_kept,
        "n_dropped": len(strided) * (len(strided) - 1) - n_kept,
        "per_video": per_video,
    }


def retrieval_precision_per_frame(
    embeddings: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    ks: Sequence[int] = (5, 10, 15),
    stride: int = 1,
    *,
    progress: bool = False,
) -> dict[int, list[np.ndarray]]:
    """Fine-grained retrieval precision at K of every query frame: ``{K: [per-video array over its queries]}``.

    Each (strided) frame of video ``i`` queries the (strided) frames of all other videos; its score is the
    fraction of its K nearest neighbours (squared Euclidean; ties broken by candidate order) that carry the
    query's label (CARL's "AP@K", ``minghchen/CARL_code evaluation/retrieval.py``). ``stride=1`` uses every
    frame (VAOT's evaluations.py); CARL / LAC stride queries and candidates with the Kendall's-tau stride.
    ``progress``: a bar over the query videos.
    """
    if len(embeddings) < 2:
        raise InputError("AP@K needs at least 2 videos")
    if stride < 1:
        raise ConfigError(f"stride must be >= 1, got {stride}")
    frames, phases = _labelled_videos(embeddings, labels, stride)
    for i, f in enumerate(frames):
        if not np.isfinite(f).all():  # no order of neighbours to take (and the own frames' mask is +inf)
            raise InputError(f"video {i}: embeddings that are not finite (NaN or inf)")
    largest_k = max(ks)
    result: dict[int, list[np.ndarray]] = {k: [] for k in ks}
    every_frame, every_label = np.concatenate(frames), np.concatenate(phases)
    ends = np.cumsum([f.shape[0] for f in frames])
    queries = tqdm(zip(frames, phases, strict=True), total=len(frames), desc="AP@K", unit="video",
                   disable=not progress, leave=False)  # fmt: skip
    for i, (query, query_labels) in enumerate(queries):
        own = slice(int(ends[i]) - query.shape[0], int(ends[i]))
        if largest_k > every_frame.shape[0] - query.shape[0]:
            raise InputError(
                f"K = {largest_k} exceeds the {every_frame.shape[0] - query.shape[0]} candidate frames of video {i}"
            )
        hits = _nearest_label_hits(query, query_labels, every_frame, every_label, own, largest_k)
        for k in ks:
            result[k].append(hits[:, :k].mean(axis=1))
    return result


def retrieval_precision_per_video(
    embeddings: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    ks: Sequence[int] = (5, 10, 15),
    stride: int = 1,
) -> dict[int, list[float]]:
    """Per-video fine-grained retrieval precision at K (CARL AP@K): the mean over each video's query frames of
    :func:`retrieval_precision_per_frame`."""
    per_frame = retrieval_precision_per_frame(embeddings, labels, ks, stride)
    return {k: [float(v.mean()) for v in videos] for k, videos in per_frame.items()}


def _average_precision(per_frame: dict[int, list[np.ndarray]], average: str) -> dict[int, float]:
    if average == "video":  # CARL / LAC: mean per video, then over videos (each video weighs the same)
        return {k: float(np.mean([v.mean() for v in videos])) for k, videos in per_frame.items()}
    if average == "frame":  # VAOT: mean over all query frames of all videos (long videos weigh more)
        return {k: float(np.concatenate(videos).mean()) for k, videos in per_frame.items()}
    raise ConfigError(f"AP@K average must be 'video' or 'frame', got {average!r}")


def ap_at_k(
    embeddings: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    ks: Sequence[int] = (5, 10, 15),
    stride: int = 1,
    average: str = "video",
) -> dict[int, float]:
    """Fine-grained retrieval AP@K. ``average="video"``: per-video precision at K, mean over videos (CARL,
    ``minghchen/CARL_code evaluation/retrieval.py``); ``"frame"``: mean over all query frames of all videos
    (VAOT, ``trquhuytin/VAOT-ICCV25 evals/phase_classification.py::compute_ap``)."""
    return _average_precision(retrieval_precision_per_frame(embeddings, labels, ks, stride), average)


def fraction_key(fraction: float) -> str:
    """JSON key of a label fraction: ``0.1 -> "0.1"``, ``1 -> "1.0"``."""
    return repr(float(fraction))


def _make_classifier(classifier: str, C: float, seed: int, standardize: bool):
    """The scikit-learn model named ``classifier`` (``vidalign.evaluation.protocols.Protocol``)."""
    if classifier == "svm_linear":
        model = SVC(kernel="linear", C=C, random_state=seed)
    elif classifier == "svm_rbf":
        model = SVC(kernel="rbf", C=C, gamma="scale", random_state=seed)
    elif classifier == "svm_rbf_ovo":  # TCC / LAV / VAOT: SVC(decision_function_shape='ovo'), sklearn defaults
        model = SVC(kernel="rbf", C=C, gamma="scale", decision_function_shape="ovo", random_state=seed)
    elif classifier == "logreg":  # CARL / LAC; lbfgs fits the multinomial model
        model = LogisticRegression(C=C, max_iter=100_000, solver="lbfgs", random_state=seed)
    else:
        raise ConfigError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    return make_pipeline(StandardScaler(), model) if standardize else model


def phase_classification(
    train_emb: Sequence[np.ndarray],
    train_lab: Sequence[np.ndarray],
    val_emb: Sequence[np.ndarray],
    val_lab: Sequence[np.ndarray],
    fractions: Sequence[float] = (0.1, 0.5, 1.0),
    classifier: str = "svm_linear",
    C: float = 1.0,
    seed: int = 0,
    *,
    standardize: bool = False,
    fraction_rule: str = "floor",
    progress: bool = False,
) -> dict[str, float]:
    """Few-shot phase classification accuracy (TCC), keyed by label fraction (``"0.1"``, ..., ``"1.0"``).

    For each fraction ``f`` a classifier is fitted on all frames of the *first* ``label_fraction_count(f,
    n_train, fraction_rule)`` train videos (``max(1, floor(f * n))`` by default, as TCC's
    ``tcc/evaluation/classification.py``), in the order given, and scored as accuracy over all frames of all val
    videos. Val videos are only predicted, never fitted - unless the caller passes the same videos as both (the
    LAV / VAOT protocols, :func:`evaluate_alignment` with ``fit_on_scored``). ``classifier``: ``"svm_linear"``
    (``SVC(kernel="linear")``), ``"svm_rbf_ovo"`` (``SVC(decision_function_shape="ovo")`` with scikit-learn's
    defaults: TCC / LAV / VAOT), ``"svm_rbf"`` (same predictions) or ``"logreg"`` (multinomial logistic
    regression, lbfgs, ``max_iter=100000``: CARL / LAC); ``C`` is their inverse regularisation.
    ``standardize=True`` z-scores features with statistics of the fitted train frames; the default ``False``
    matches every official script, which fit on raw embeddings. A training set with a single phase gives the
    constant prediction of that phase. ``seed`` is passed as ``random_state`` (the fitted models are
    deterministic). ``progress``: a bar over the fractions (an SVC on every frame of a few hundred videos takes
    minutes: ``docs/evaluation.md``, Cost).
    """
    if not train_emb:
        raise InputError("phase classification needs at least 1 train video")
    val_x, val_y = _stack_labelled(val_emb, val_lab)
    scores = {}
    for fraction in tqdm(fractions, desc="phase classification", unit="fit", disable=not progress, leave=False):
        n_used = label_fraction_count(fraction, len(train_emb), fraction_rule)
        train_x, train_y = _stack_labelled(train_emb[:n_used], train_lab[:n_used])
        if np.unique(train_y).size == 1:
            model = DummyClassifier(strategy="most_frequent")
        else:
            model = _make_classifier(classifier, C, seed, standardize)
        model.fit(train_x, train_y)
        scores[fraction_key(fraction)] = float(np.mean(model.predict(val_x) == val_y))
    return scores


def phase_sequence(labels: np.ndarray) -> tuple[int, ...]:
    """Labels of the consecutive phases of one video, e.g. ``[0, 0, 1, 1, 2] -> (0, 1, 2)``."""
    return tuple(int(v) for v in label_runs(labels)[0])


def progression_targets(labels: np.ndarray) -> np.ndarray:
    """``[T, E]`` phase-progression targets ``(t - t_e) / T`` for the ``E`` phase boundaries of one video.

    ``t_e`` is the last frame of the phase that ends at boundary ``e`` (TCC / CARL's transition frame).
    """
    labels = np.asarray(labels).ravel()
    last_frames = label_runs(labels)[2][:-1] - 1
    return (np.arange(labels.size, dtype=np.float64)[:, None] - last_frames[None, :]) / labels.size


def phase_progression_report(
    train_emb: Sequence[np.ndarray],
    train_lab: Sequence[np.ndarray],
    val_emb: Sequence[np.ndarray],
    val_lab: Sequence[np.ndarray],
) -> dict:
    """Phase progression (TCC): one linear regression per phase boundary, val R^2, mean over boundaries.

    Boundary ``e`` is the ``e``-th label change of a video, so boundaries are comparable only between videos
    with the same phase sequence. The reference sequence is the most common one among train videos (first seen
    wins a tie); train and val videos with another sequence are skipped and counted. For each boundary an
    ordinary least squares regression (with intercept) from frame embedding to ``(t - t_e) / T`` is fitted on
    the kept train frames and its R^2 is computed over all kept val frames pooled.

    Differences from TCC / CARL's code: they index events by class id (event ``i`` ends at the last frame of
    class ``i``, for ``i < n_classes - 1``), which assumes labels ``0..C-1`` in increasing order in every
    video (CARL crashes and TCC substitutes a fallback frame when a class is missing); they also refit per
    label fraction and report the 100 % fraction, which is what we compute. On videos with ordered phases
    ``0..C-1`` the definitions coincide.

    Returns ``value`` (mean R^2), ``r2_per_boundary``, ``phase_sequence`` and the used / skipped video counts.
    """
    if len(train_emb) != len(train_lab) or len(val_emb) != len(val_lab):
        raise InputError("every video needs one label array")
    train_sequences = [phase_sequence(lab) for lab in train_lab]
    if not train_sequences:
        raise InputError("phase progression needs at least 1 train video")
    reference = Counter(train_sequences).most_common(1)[0][0]
    if len(reference) < 2:
        raise InputError("the most common train phase sequence has no phase boundary")
    train_keep = [i for i, s in enumerate(train_sequences) if s == reference]
    val_keep = [i for i, lab in enumerate(val_lab) if phase_sequence(lab) == reference]
    if not val_keep:
        raise InputError(f"no val video has the reference phase sequence {reference}")
    train_x, _ = _stack_labelled([train_emb[i] for i in train_keep], [train_lab[i] for i in train_keep])
    val_x, _ = _stack_labelled([val_emb[i] for i in val_keep], [val_lab[i] for i in val_keep])
    train_y = np.concatenate([progression_targets(train_lab[i]) for i in train_keep])
    val_y = np.concatenate([progression_targets(val_lab[i]) for i in val_keep])
    predicted = LinearRegression().fit(train_x, train_y).predict(val_x)
    r2 = r2_score(val_y, predicted, multioutput="raw_values")
    return {
        "value": float(np.mean(r2)),
        "r2_per_boundary": [float(v) for v in r2],
        "phase_sequence": list(reference),
        "n_train_used": len(train_keep),
        "n_train_skipped": len(train_emb) - len(train_keep),
        "n_val_used": len(val_keep),
        "n_val_skipped": len(val_emb) - len(val_keep),
    }


def phase_progression(
    train_emb: Sequence[np.ndarray],
    train_lab: Sequence[np.ndarray],
    val_emb: Sequence[np.ndarray],
    val_lab: Sequence[np.ndarray],
) -> float:
    """Mean R^2 of phase progression; see :func:`phase_progression_report`."""
    return phase_progression_report(train_emb, train_lab, val_emb, val_lab)["value"]


def _missing_labels(videos: Sequence[tuple[np.ndarray, np.ndarray | None]], role: str) -> str | None:
    """Why a metric cannot use ``videos`` (``role``: what they are for, e.g. "scored"), or None."""
    missing = sum(labels is None for _, labels in videos)
    if not videos:
        return f"no {role} video"
    return f"labels missing for {missing} of the {len(videos)} {role} videos" if missing else None


def _attempt(metric, *args, **kwargs) -> tuple[object, str | None]:
    """Run a metric; a ValueError (metric undefined on these inputs) becomes ``(None, reason)``."""
    try:
        return metric(*args, **kwargs), None
    except ValueError as exc:
        return None, str(exc)


def evaluate_alignment(
    train: Sequence[tuple[np.ndarray, np.ndarray | None]] | None,
    val: Sequence[tuple[np.ndarray, np.ndarray | None]],
    *,
    protocol: Protocol | str = "ours",
    fit_on_scored: bool = False,
    stride: int | None = None,
    classifier: str | None = None,
    C: float | None = None,
    fractions: Sequence[float] | None = None,
    standardize: bool | None = None,
    ks: Sequence[int] | None = None,
    ap_stride: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """All alignment metrics under ``protocol`` with the documented JSON keys (``vidalign eval --task alignment``;
    ``docs/evaluation.md``).

    ``train`` / ``val`` are lists of ``(embedding [T, D], labels [T] or None)``; the order of the fitted videos
    decides which form each label fraction. ``protocol`` (a :class:`~vidalign.evaluation.protocols.Protocol`
    or one of its names, ``docs/evaluation.md``) supplies every default; the other keywords, when not None,
    override one choice each and are recorded under ``protocol["overrides"]``: ``stride`` the Kendall's-tau
    stride (and the AP@K stride of protocols that tie it to Kendall's), ``classifier``, ``C``, ``fractions``,
    ``standardize``, ``ks`` (AP@K's K values), ``ap_stride``. ``progress``: a bar for each metric's long loop.

    Protocols that fit on the scored videos (``lav``, ``vaot``: their published scripts set
    ``train_embs = val_embs``) raise a one-line ValueError unless ``fit_on_scored=True``; then the classifier
    and the progression regressors are fitted on ``val`` itself (``train`` is ignored, its size recorded), a
    :class:`~vidalign.evaluation.protocols.FitOnScoredWarning` is issued and the result carries
    ``"fit_on_scored": true`` and a ``warning`` line. ``fit_on_scored=True`` with any other protocol is refused.

    Returns ``phase_classification`` (``{"0.1": acc, ...}``), ``phase_progression``, ``kendall_tau``, ``ap@K``
    for each K (floats, or None), ``null_reasons`` (one line per None), ``details`` (counts, per-video values),
    ``fit_on_scored``, ``warning`` (only when fitted on the scored videos) and ``protocol`` (every choice, the
    protocol's name and sources, the effective strides). Metrics needing labels are None when any video they
    use lacks labels; Kendall's tau needs none.
    """
    proto, overrides = resolve_protocol(
        protocol,
        kendall_stride=stride,
        classifier=classifier,
        C=C,
        fractions=fractions,
        standardize=standardize,
        ap_ks=ks,
        ap_stride=ap_stride,
    )
    check_fit_on_scored(proto, fit_on_scored)
    train = list(train or [])
    fit = list(val) if proto.fit_on_scored else train
    kendall_stride, retrieval_stride = proto.kendall_stride, proto.effective_ap_stride
    fit_emb, fit_lab = [e for e, _ in fit], [lab for _, lab in fit]
    val_emb, val_lab = [e for e, _ in val], [lab for _, lab in val]
    ap_keys = {k: f"ap@{k}" for k in proto.ap_ks}
    values: dict[str, object] = {}
    reasons: dict[str, str] = {}
    details: dict[str, object] = {
        "n_train_videos": len(train),
        "n_val_videos": len(val_emb),
        "n_fit_videos": len(fit_emb),
        "n_train_frames": int(sum(np.shape(e)[0] for e, _ in train)),
        "n_val_frames": int(sum(np.shape(e)[0] for e in val_emb)),
    }
    if proto.fit_on_scored and train:
        details["ignored_train_videos"] = len(train)

    tau, reasons["kendall_tau"] = _attempt(kendall_tau, val_emb, kendall_stride, progress=progress)
    if tau is not None:
        details["kendall_tau"] = tau
        values["kendall_tau"] = tau["value"]

    fitted = "scored (fitted on)" if proto.fit_on_scored else "fitted-on"
    fit_reason = _missing_labels(fit, fitted) or _missing_labels(val, "scored")
    if fit_reason is None:
        values["phase_classification"], reasons["phase_classification"] = _attempt(
            phase_classification,
            fit_emb,
            fit_lab,
            val_emb,
            val_lab,
            proto.fractions,
            proto.classifier,
            proto.C,
            seed,
            standardize=proto.standardize,
            fraction_rule=proto.fraction_rule,
            progress=progress,
        )
        details["phase_classification_train_videos"] = {
            fraction_key(f): label_fraction_count(f, len(fit_emb), proto.fraction_rule) for f in proto.fractions
        }
        progression, reasons["phase_progression"] = _attempt(
            phase_progression_report, fit_emb, fit_lab, val_emb, val_lab
        )
        if progression is not None:
            details["phase_progression"] = progression
            values["phase_progression"] = progression["value"]
    else:
        reasons["phase_classification"] = reasons["phase_progression"] = fit_reason

    retrieval_reason = proto.ap_null_reason if proto.ap_candidates != "other_videos" else None
    retrieval_reason = retrieval_reason or _missing_labels(val, "scored")
    if retrieval_reason is None:
        per_frame, retrieval_reason = _attempt(
            retrieval_precision_per_frame, val_emb, val_lab, proto.ap_ks, retrieval_stride, progress=progress
        )
        if per_frame is not None:
            details["ap_per_video"] = {ap_keys[k]: [float(v.mean()) for v in per_frame[k]] for k in proto.ap_ks}
            details["ap_query_frames_per_video"] = [int(v.size) for v in per_frame[proto.ap_ks[0]]]
            averaged = _average_precision(per_frame, proto.ap_average)
            values.update({ap_keys[k]: averaged[k] for k in proto.ap_ks})
    reasons.update({key: retrieval_reason for key in ap_keys.values() if retrieval_reason})

    result: dict[str, object] = {}
    null_reasons: dict[str, str] = {}
    for key in ("phase_classification", "phase_progression", "kendall_tau", *ap_keys.values()):
        value = values.get(key)
        if isinstance(value, float) and math.isnan(value):
            value, reasons[key] = None, "undefined: every video pair gave NaN"
        result[key] = value
        if value is None:
            null_reasons[key] = reasons.get(key) or "not computed"
    result["null_reasons"] = null_reasons
    result["details"] = details
    result["fit_on_scored"] = proto.fit_on_scored
    if proto.fit_on_scored:
        result["warning"] = fit_on_scored_warning(proto)
        warnings.warn(result["warning"], FitOnScoredWarning, stacklevel=user_stacklevel())
    record = proto.to_dict()
    record.update(
        {
            "fit_split": "val (the scored videos themselves)" if proto.fit_on_scored else "train",
            "score_split": "val",
            "distance": "squared euclidean on the embeddings as given",
            "stride": kendall_stride,
            "ap_stride": retrieval_stride,
            "ap_stride_rule": "the Kendall stride" if proto.ap_stride == "kendall" else "fixed",
            "kendall_tau_nan_pairs": "dropped and counted",
            "fraction_videos": proto.fraction_rule_text,
            "seed": seed,
            "progression": "OLS per phase boundary on the fitted videos (all of them), R^2 on pooled val frames, "
            "mean over boundaries; t_e = last frame of the ending phase; videos with another phase sequence "
            "skipped",
            "overrides": overrides,
        }
    )
    result["protocol"] = record
    return result
