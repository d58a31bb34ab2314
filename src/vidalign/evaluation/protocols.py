"""Named evaluation protocols of the alignment task (``vidalign eval --protocol NAME``).

Every published method evaluated "the TCC protocol" with different choices: classifier, Kendall's-tau stride,
AP@K stride and averaging, and - in the published LAV and VAOT scripts - fitting the classifier on the very videos
it scores (docs/evaluation.md). A :class:`Protocol` spells out every such choice and
names, in ``sources``, the file of the official evaluation code each one was read from (repository + path). The
protocols, their tables and the fit-on-scored caveat are described in ``docs/evaluation.md``.

Choices common to all protocols (and therefore not fields): nearest neighbours by squared Euclidean distance on
the embeddings as given (no normalisation; Euclidean, as LAV / VAOT use for AP@K, gives the same ranking),
Kendall's tau over all ordered pairs of distinct scored videos with NaN pairs dropped, AP@K = fraction of the K
retrieved frames that carry the query's phase (CARL's "AP" is this precision at K).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType

from vidalign.errors import ConfigError

CLASSIFIERS = ("svm_linear", "svm_rbf", "svm_rbf_ovo", "logreg")
FRACTION_RULES = ("floor", "ceil")
AP_AVERAGES = ("video", "frame")
AP_CANDIDATES = ("other_videos", "same_video_with_query")
KENDALL = "kendall"  # ``ap_stride`` value: the AP@K stride is the (effective) Kendall's-tau stride


def _positive_int(what: str, value: object) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise ConfigError(f"{what} must be an integer >= 1, got {value!r}") from None
    if number < 1:
        raise ConfigError(f"{what} must be an integer >= 1, got {value!r}")
    return int(number)


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


class FitOnScoredWarning(UserWarning):
    """The classifier and regressors were fitted on the scored videos (published LAV / VAOT scripts)."""


@dataclass(frozen=True)
class Protocol:
    """Every choice of an alignment evaluation protocol (``docs/evaluation.md``).

    - ``classifier``: ``"svm_rbf_ovo"`` = scikit-learn ``SVC()`` defaults (RBF, ``gamma="scale"``) with
      ``decision_function_shape="ovo"`` (TCC, LAV, VAOT; SVC always trains one-vs-one, "ovo" only shapes the
      decision function); ``"logreg"`` = ``LogisticRegression(max_iter=100000, solver="lbfgs")``, multinomial
      (CARL, LAC); ``"svm_linear"`` = ``SVC(kernel="linear")`` (ours); ``"svm_rbf"`` = RBF SVC, kept for
      backward compatibility (same predictions as ``"svm_rbf_ovo"``). ``C`` is the inverse regularisation.
    - ``fractions`` / ``fraction_rule``: label fraction ``f`` uses the first ``max(1, floor(f * n))`` videos of
      the fitted split in dataset order (``"floor"``, as every official script) or ``max(1, ceil(f * n))``.
    - ``fit_on_scored``: the classifier and the progression regressors are fitted on the scored videos
      themselves (the published LAV / VAOT scripts set ``train_embs = val_embs``); never a held-out score.
    - ``kendall_stride``: every ``kendall_stride``-th frame enters Kendall's tau.
    - ``ap_stride``: an int, or ``"kendall"`` (the effective Kendall stride, as CARL / LAC's retrieval code).
    - ``ap_average``: ``"video"`` (mean over a video's query frames, then over videos: CARL, LAC) or ``"frame"``
      (mean over all query frames of all videos: VAOT).
    - ``ap_candidates``: ``"other_videos"`` (all frames of the other scored videos) or
      ``"same_video_with_query"`` (LAV; not computed - AP@K is then null with ``ap_null_reason``).
    - ``sources``: choice -> official file it comes from (read-only mapping).
    """

    name: str
    description: str
    classifier: str
    kendall_stride: int
    ap_stride: int | str
    ap_average: str
    fit_on_scored: bool
    sources: Mapping[str, str] = field(hash=False, compare=False)
    C: float = 1.0
    fractions: tuple[float, ...] = (0.1, 0.5, 1.0)
    fraction_rule: str = "floor"
    standardize: bool = False
    ap_ks: tuple[int, ...] = (5, 10, 15)
    ap_candidates: str = "other_videos"
    ap_null_reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        object.__setattr__(self, "fractions", tuple(float(f) for f in self.fractions))
        object.__setattr__(self, "ap_ks", tuple(int(k) for k in self.ap_ks))
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {self.classifier!r}")
        if self.fraction_rule not in FRACTION_RULES:
            raise ConfigError(f"fraction_rule must be one of {', '.join(FRACTION_RULES)}, got {self.fraction_rule!r}")
        if self.ap_average not in AP_AVERAGES:
            raise ConfigError(f"ap_average must be one of {', '.join(AP_AVERAGES)}, got {self.ap_average!r}")
        if self.ap_candidates not in AP_CANDIDATES:
            raise ConfigError(f"ap_candidates must be one of {', '.join(AP_CANDIDATES)}, got {self.ap_candidates!r}")
        if self.ap_candidates != "other_videos" and not self.ap_null_reason:
            raise ConfigError("a protocol whose AP@K is not computed needs an ap_null_reason")
        object.__setattr__(self, "kendall_stride", _positive_int("kendall_stride", self.kendall_stride))
        if self.ap_stride != KENDALL:
            object.__setattr__(self, "ap_stride", _positive_int(f"ap_stride (or {KENDALL!r})", self.ap_stride))
        if not self.fractions or any(not 0.0 < f <= 1.0 for f in self.fractions):
            raise ConfigError(f"label fractions must lie in (0, 1], got {list(self.fractions)}")
        if not self.ap_ks or min(self.ap_ks) < 1:
            raise ConfigError(f"AP@K needs K >= 1, got {list(self.ap_ks)}")

    @property
    def effective_ap_stride(self) -> int:
        """The AP@K stride actually used: ``kendall_stride`` when ``ap_stride == "kendall"``."""
        return self.kendall_stride if self.ap_stride == KENDALL else int(self.ap_stride)

    @property
    def fraction_rule_text(self) -> str:
        rounding = "floor" if self.fraction_rule == "floor" else "ceil"
        return f"first max(1, {rounding}(f * n)) videos of the fitted split, in dataset order"

    def to_dict(self) -> dict:
        """JSON-ready record of every choice."""
        record = {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}
        record["sources"] = dict(self.sources)
        return record


def label_fraction_count(fraction: float, n_videos: int, rule: str = "floor") -> int:
    """Number of videos used for a label fraction: ``max(1, floor(fraction * n_videos))`` (``rule="floor"``).

    ``floor`` is what TCC (``tcc/evaluation/classification.py``), CARL, LAC, LAV and VAOT do
    (``max(1, int(fraction * n))``). The product is rounded to 9 decimals first so that a float artefact does not
    drop a video (``0.29 * 100`` is ``28.999999999999996``: 29 here, 28 with ``int()``); for the papers' fractions
    0.1 / 0.5 / 1.0 the two agree for every ``n`` (tested). ``rule="ceil"`` gives ``max(1, ceil(...))``.
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"label fractions must lie in (0, 1], got {fraction}")
    if rule not in FRACTION_RULES:
        raise ConfigError(f"fraction rule must be one of {', '.join(FRACTION_RULES)}, got {rule!r}")
    product = round(fraction * n_videos, 9)
    return max(1, math.floor(product) if rule == "floor" else math.ceil(product))


_CARL_AP = (
    "minghchen/CARL_code evaluation/retrieval.py: queries = every stride-th frame of a val video (stride = "
    "KENDALLS_TAU_STRIDE), candidates = the strided frames of all other val videos, sqeuclidean, precision at K "
    "averaged over the video's queries, then over videos"
)
_LAV_AP_REASON = (
    "LAV's AP@K (evals/phase_classification.py) retrieves inside the query's own video, the query frame included "
    "(its own first neighbour): not comparable with AP@K over other videos, so not reported"
)
_FIT_ON_SCORED_PROGRESSION = (
    "phase progression (our boundary targets, OLS per boundary, mean R^2) fitted on all scored videos"
)

PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(
    {
        "tcc": Protocol(
            name="tcc",
            description="TCC (Dwibedi et al., CVPR 2019): RBF SVC on train, scored on val, Kendall stride 5",
            classifier="svm_rbf_ovo",
            kendall_stride=5,
            ap_stride=KENDALL,
            ap_average="video",
            fit_on_scored=False,
            sources={
                "classifier": "google-research/google-research tcc/evaluation/classification.py (fit_svm_model: "
                "SVC(decision_function_shape='ovo'); fit_linear_models defaults to model_type='svm')",
                "fractions": "google-research/google-research tcc/config.py (CONFIG.EVAL.CLASSIFICATION_FRACTIONS)",
                "fraction_rule": "google-research/google-research tcc/evaluation/classification.py (worker: "
                "max(1, int(fraction_used * num_samples)) train videos)",
                "fit_split": "google-research/google-research tcc/evaluation/classification.py (fit on "
                "train_dataset, score on val_dataset)",
                "kendall_stride": "google-research/google-research tcc/config.py (CONFIG.EVAL.KENDALLS_TAU_STRIDE "
                "= 5) and tcc/evaluation/kendalls_tau.py",
                "ap": "not part of TCC's evaluation; reported with CARL's definition - " + _CARL_AP,
                "progression": "google-research/google-research tcc/evaluation/event_completion.py and "
                "tcc/evaluation/task_utils.py (LinearRegression per event, mean R^2, fraction 1.0 reported)",
            },
        ),
        "carl": Protocol(
            name="carl",
            description="CARL (Chen et al., CVPR 2022): multinomial logistic regression on train, scored on val, "
            "Kendall stride 2 (Penn Action config; Pouring uses --stride 5), AP@K strided, per-video mean",
            classifier="logreg",
            # Penn Action's config evaluates only fraction 1.0 (the value CARL reports for every config); 0.1 / 0.5
            # come from the Pouring config and are reported in addition.
            kendall_stride=2,
            ap_stride=KENDALL,
            ap_average="video",
            fit_on_scored=False,
            sources={
                "classifier": "minghchen/CARL_code evaluation/classification.py (fit_linear_model: "
                "LogisticRegression(max_iter=100000, solver='lbfgs', multi_class='multinomial'); lbfgs is "
                "multinomial by default in scikit-learn, which removed multi_class)",
                "fractions": "minghchen/CARL_code configs/scl_transformer_config.yml (Pouring, [0.1, 0.5, 1.0]); "
                "configs/scl_transformer_action_config.yml (Penn Action) lists [1.0] only",
                "fraction_rule": "minghchen/CARL_code evaluation/classification.py (max(1, int(fraction_used * "
                "num_samples)) train videos)",
                "fit_split": "minghchen/CARL_code evaluation/classification.py (fit on train, score on val)",
                "kendall_stride": "minghchen/CARL_code configs/scl_transformer_action_config.yml "
                "(KENDALLS_TAU_STRIDE: 2, Penn Action); configs/scl_transformer_config.yml (Pouring) uses 5",
                "ap": _CARL_AP,
                "progression": "minghchen/CARL_code evaluation/event_completion.py (TCC's: LinearRegression per "
                "event, mean R^2, fit on train, fraction 1.0 reported)",
            },
        ),
        "lac": Protocol(
            name="lac",
            description="LAC (Oei et al., arXiv 2409.04607): CARL's evaluation with Kendall and AP stride 5",
            classifier="logreg",
            kendall_stride=5,
            ap_stride=KENDALL,  # LAC's retrieval code strides by cfg.eval.kendall_tau_stride, hard-coded to 5
            ap_average="video",
            fit_on_scored=False,
            sources={
                "classifier": "keynekassapa13/LAC evaluation/classification.py (model_type='linear': CARL's "
                "LogisticRegression(max_iter=100000, solver='lbfgs', multi_class='multinomial'))",
                "fractions": "keynekassapa13/LAC evaluation/__init__.py (get_tasks hard-codes "
                "classification_fractions = [0.1, 0.5, 1.0])",
                "fraction_rule": "keynekassapa13/LAC evaluation/classification.py (max(1, int(fraction_used * "
                "num_samples)) train videos)",
                "fit_split": "keynekassapa13/LAC evaluation/classification.py (fit on train, score on val)",
                "kendall_stride": "keynekassapa13/LAC evaluation/__init__.py (get_tasks hard-codes "
                "kendall_tau_stride = 5) and evaluation/kendalls_tau.py",
                "ap": "keynekassapa13/LAC evaluation/retrieval.py (CARL's code: stride = kendall_tau_stride = 5, "
                "other val videos, sqeuclidean, per-video mean then mean over videos)",
                "progression": "keynekassapa13/LAC evaluation/event_completion.py (CARL's)",
            },
        ),
        "lav": Protocol(
            name="lav",
            description="LAV (Haresh et al., CVPR 2021) published script: RBF SVC fitted on the scored videos, "
            "Kendall stride 5, AP@K not reported (within-video retrieval)",
            classifier="svm_rbf_ovo",
            kendall_stride=5,
            ap_stride=1,
            ap_average="video",
            fit_on_scored=True,
            ap_candidates="same_video_with_query",
            ap_null_reason=_LAV_AP_REASON,
            sources={
                "classifier": "trquhuytin/LAV-CVPR21 evals/phase_classification.py (SVC(decision_function_shape="
                "'ovo'); eval code only in the first commit 0e9e5af8)",
                "fractions": "trquhuytin/LAV-CVPR21 config.py (CONFIG.EVAL.CLASSIFICATION_FRACTIONS)",
                "fraction_rule": "trquhuytin/LAV-CVPR21 evals/phase_classification.py (N_Vids = max(1, "
                "int(len(train_embs) * frac)))",
                "fit_split": "trquhuytin/LAV-CVPR21 evaluations.py (train_path = val_path = the Test folder; "
                "train_embs = val_embs)",
                "kendall_stride": "trquhuytin/LAV-CVPR21 evaluations.py (--stride default 5) and evals/kendalls_tau.py",
                "ap": "trquhuytin/LAV-CVPR21 evals/phase_classification.py (_compute_ap / compute_ap: "
                "NearestNeighbors fitted on the query video's own frames) - not computed here",
                "progression": "trquhuytin/LAV-CVPR21 evals/phase_progression.py is defined but its call in "
                "evaluations.py is commented out; reported here as " + _FIT_ON_SCORED_PROGRESSION,
            },
        ),
        "vaot": Protocol(
            name="vaot",
            description="VAOT (ICCV 2025) published script: RBF SVC fitted on the scored videos, Kendall stride 4, "
            "AP@K on every frame, averaged over all query frames",
            classifier="svm_rbf_ovo",
            kendall_stride=4,
            ap_stride=1,
            ap_average="frame",
            fit_on_scored=True,
            sources={
                "classifier": "trquhuytin/VAOT-ICCV25 evals/phase_classification.py (fit_svm: "
                "SVC(decision_function_shape='ovo'))",
                "fractions": "trquhuytin/VAOT-ICCV25 evals/phase_classification.py "
                "(CONFIG.EVAL.CLASSIFICATION_FRACTIONS; CSV columns PC (0.1), PC (0.5), PC (1.0) in evaluations.py)",
                "fraction_rule": "trquhuytin/VAOT-ICCV25 evals/phase_classification.py (N_Vids = max(1, "
                "int(len(train_embs) * frac)))",
                "fit_split": "trquhuytin/VAOT-ICCV25 evaluations.py (train_path = val_path = the Test folder; "
                "'train and val are the exact same data now')",
                "kendall_stride": "trquhuytin/VAOT-ICCV25 evaluations.py (--stride default 4) and "
                "evals/kendalls_tau.py",
                "ap": "trquhuytin/VAOT-ICCV25 evals/phase_classification.py (compute_ap: support = all frames of "
                "the other videos, no stride, sum over all query frames / num_frames_in_dataset)",
                "progression": "trquhuytin/VAOT-ICCV25 evals/phase_progression.py (LinearRegression per class "
                "column, fit = score = the test videos; its IDX_TO_CLASS fallback is not reproduced); reported "
                "here as " + _FIT_ON_SCORED_PROGRESSION,
            },
        ),
        "ours": Protocol(
            name="ours",
            description="vidalign default: linear SVM on train, scored on val, Kendall stride 5, AP@K on every "
            "frame, per-video mean",
            classifier="svm_linear",
            kendall_stride=5,
            ap_stride=1,
            ap_average="video",
            fit_on_scored=False,
            sources={
                "classifier": "docs/evaluation.md (linear SVM: a linear probe of the embedding)",
                "fractions": "docs/evaluation.md (the papers' 0.1 / 0.5 / 1.0)",
                "fraction_rule": "docs/evaluation.md (floor, as every official script; was ceil before)",
                "fit_split": "docs/evaluation.md (fit on the train split, score on the val split)",
                "kendall_stride": "ours (5, TCC's value for Penn Action)",
                "ap": "ours (every frame queries the other val videos; mean per video, then over videos)",
                "progression": "docs/evaluation.md (OLS per phase boundary on train, R^2 on pooled val frames)",
            },
        ),
    }
)


def get_protocol(protocol: Protocol | str) -> Protocol:
    """The :class:`Protocol` named ``protocol`` (a Protocol is returned as is)."""
    if isinstance(protocol, Protocol):
        return protocol
    try:
        return PROTOCOLS[protocol]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}") from None


def check_fit_on_scored(protocol: Protocol, fit_on_scored: bool) -> None:
    """Refuse (one-line ValueError) a protocol that fits on the scored videos unless explicitly allowed, and the
    permission for a protocol that does not."""
    if protocol.fit_on_scored and not fit_on_scored:
        raise ConfigError(
            f"protocol {protocol.name!r} fits the classifier and regressors on the scored videos themselves (as its "
            "published script does), so its phase scores are not held out; pass fit_on_scored=True "
            "(--fit-on-scored) to run it anyway"
        )
    if fit_on_scored and not protocol.fit_on_scored:
        fitting = ", ".join(name for name, p in PROTOCOLS.items() if p.fit_on_scored)
        raise ConfigError(
            f"fit_on_scored (--fit-on-scored) only applies to the protocols that fit on the scored videos "
            f"({fitting}); protocol {protocol.name!r} fits on the train split"
        )


def fit_on_scored_warning(protocol: Protocol) -> str:
    """The one-line warning recorded (and issued) when a protocol fitted on the scored videos."""
    return (
        f"protocol {protocol.name!r}: phase classification and progression were fitted on the scored videos "
        "themselves (as the published script does); they are not held-out scores and are not comparable with "
        "protocols that fit on the train split"
    )


def resolve_protocol(protocol: Protocol | str, **overrides) -> tuple[Protocol, dict]:
    """``(protocol with the given overrides, {field: {"protocol": default, "used": value}})``.

    ``overrides`` are Protocol fields (``kendall_stride``, ``classifier``, ``C``, ``fractions``, ``ap_stride``,
    ``ap_ks``, ``standardize``, ...); None means "the protocol's value". Every given override is recorded, even
    one equal to the protocol's value.
    """
    base = get_protocol(protocol)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "fractions" in given:
        given["fractions"] = tuple(float(f) for f in given["fractions"])
    if "ap_ks" in given:
        given["ap_ks"] = tuple(int(k) for k in given["ap_ks"])
    resolved = replace(base, **given) if given else base
    recorded = {
        key: {"protocol": _jsonable(getattr(base, key)), "used": _jsonable(getattr(resolved, key))} for key in given
    }
    return resolved, recorded
