"""Real poses of a movement repeated at each person's own tempo -> ``benchmarks/REPEATED_POSES.md``.

Exercise recordings repeat one movement 3-10 times; Penn Action's clips are cut around one repetition, and the
pose settings of VAOT and VASOT were chosen on them. This check repeats them (``docs/methods.md``, Repeated
movements): Penn Action ``train_sub`` push-ups, squats and pull-ups whose annotated joints show a clear bottom
(:func:`mirror_views.bottom_event`), taken in file order, ten per carve (carve 0, where the ``repeated`` sections
were chosen, and carve 10, a check); each clip's pose features played 3-6 times, each time resampled to 0.75-1.33
of its speed, plus noise of 5 % of each channel's std (seeded by the carve). A frame's phase is 0 at its clip's
start, 0.5 at the bottom, 1 at the end. Every method is trained on the ten repeated clips without labels (split
``all``, seed 0), once with the pose preset named (``--preset pose``: the Penn Action settings) and once as
``vidalign train`` picks by itself (the ``repeated`` section, when the clips' frame periodicity says they repeat);
all 90 ordered pairs are aligned by DTW as ``vidalign align`` aligns two pose files (with the mirror check), and
scored by the mean circular error of the repetition phase (0 = in phase, 0.25 = chance). ``within``: the mean
cosine similarity of a clip's own frames (collapse: near 1). Dev numbers, not targets.

    python benchmarks/repeated_poses.py [--work DIR] [--out FILE]
"""

from __future__ import annotations

import itertools
import time
import warnings
from pathlib import Path

import numpy as np

import vidalign as va
from _header import generation_info, table_head, work_and_out
from mirror_views import PENN_LABELS, bottom_event, require_penn_labels
from vidalign.data.layout import FeatureFolder, write_dataset_info, write_mapping, write_split, write_video
from vidalign.data.penn_action import convert_penn_action, read_penn_action_mat
from vidalign.errors import TrustWarning
from vidalign.evaluation.repetition import repetition_phase_error
from vidalign.evaluation.spread import embedding_spread

ACTIONS = ("pushup", "squat", "pullup")
CARVES = (0, 10)
CLIPS = 10
REPEATS = (3, 6)  # repetitions per clip, inclusive
SPEEDS = (0.75, 1.33)  # each repetition's duration relative to the clip's
NOISE = 0.05  # of each channel's std over the clip
TRAINED = (  # row name, method, preset (None: chosen by itself), loss overrides
    ("VAOT, --preset pose", "vaot", "pose", {}),
    ("VAOT, chosen by itself", "vaot", None, {}),
    ("VASOT (K 4), --preset pose", "vasot", "pose", {"n_clusters": 4}),
    ("VASOT (K 4), chosen by itself", "vasot", None, {"n_clusters": 4}),
)


def bottoms(action: str, train_sub: set[str]) -> list[tuple[str, int]]:
    """``(video id, bottom frame)`` of the action's ``train_sub`` clips with a clear bottom, in file order."""
    found = []
    for path in sorted(PENN_LABELS.glob("*.mat")):
        video = read_penn_action_mat(path)
        if video.action == action and video.video_id in train_sub:
            frame = bottom_event(action, video.y)
            if frame is not None:
                found.append((video.video_id, frame))
    return found


def repeated(features: np.ndarray, bottom: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The clip played :data:`REPEATS` times at :data:`SPEEDS`, with noise, and each frame's phase."""
    n = len(features)
    phase = np.interp(np.arange(n), [0, bottom, n - 1], [0.0, 0.5, 1.0])
    played, phases = [], []
    for _ in range(int(rng.integers(REPEATS[0], REPEATS[1] + 1))):
        times = np.linspace(0, n - 1, max(8, round(n * rng.uniform(*SPEEDS))), endpoint=False)
        played.append(np.stack([np.interp(times, np.arange(n), channel) for channel in features.T], axis=1))
        phases.append(np.interp(times, np.arange(n), phase))
    out = np.concatenate(played)
    out = out + rng.normal(0.0, NOISE, out.shape) * features.std(axis=0, keepdims=True)
    return out.astype(np.float32), np.concatenate(phases) % 1.0


def carve_folder(penn: Path, action: str, carve: int, out: Path) -> dict[str, np.ndarray]:
    """Write the carve's repeated clips as a pose feature folder ``out`` (split ``all``); ``id -> phase``."""
    train_sub = set(FeatureFolder(penn / action).video_ids("train_sub"))
    rng = np.random.default_rng(carve)
    phases = {}
    for video_id, bottom in bottoms(action, train_sub)[carve : carve + CLIPS]:
        features, phases[video_id] = repeated(np.load(penn / action / "features" / f"{video_id}.npy"), bottom, rng)
        if not (out / "features" / f"{video_id}.npy").is_file():
            write_video(out, video_id, features, [action] * len(features), {"phase": phases[video_id].tolist()})
    write_mapping(out, [action])
    write_dataset_info(out, feature_family="pose")
    write_split(out, "all", list(phases))
    return phases


def uniform(n: int, m: int) -> list[int]:
    """Uniform time: frame ``i`` of an ``n``-frame clip matched to frame ``i (m - 1) / (n - 1)`` of the other."""
    return np.rint(np.arange(n) * (m - 1) / (n - 1)).astype(int).tolist()


def score(data: Path, phases: dict[str, np.ndarray], model) -> dict:
    """Mean repetition-phase error over the ordered pairs, and the spread; ``model``: a run, None (pose
    features), ``"standardized"`` or ``"uniform"``."""
    files = {v: data / "features" / f"{v}.npy" for v in phases}
    pairs = list(itertools.permutations(sorted(phases), 2))
    if model == "uniform":
        matched = {pair: uniform(*(len(phases[v]) for v in pair)) for pair in pairs}
        errors = [repetition_phase_error(phases[a], phases[b], matched[a, b]) for a, b in pairs]
        return {"error": float(np.mean(errors))}
    aligner = va.Aligner(None if model in (None, "standardized") else model, standardize=model == "standardized")
    errors = []
    for a, b in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrustWarning)
            errors.append(repetition_phase_error(phases[a], phases[b], aligner(files[a], files[b]).a_to_b))
    spread = embedding_spread([aligner.representation.embed(np.load(f)) for f in files.values()])
    return {"error": float(np.mean(errors)), "within": spread["within"]}


def rows(work: Path) -> dict[str, dict[str, dict]]:
    """``row name -> "action, carve" -> {error, within, preset}``."""
    penn = work / "penn"
    missing = [a for a in ACTIONS if not (penn / a / "features").is_dir()]
    if missing:
        convert_penn_action(PENN_LABELS, penn, actions=missing)
    table: dict[str, dict[str, dict]] = {}
    for action, carve in itertools.product(ACTIONS, CARVES):
        key, data = f"{action}, carve {carve}", work / f"{action}{carve}"
        phases = carve_folder(penn, action, carve, data)
        runs = work / "runs" / f"{action}{carve}"
        references = {"uniform time": "uniform", "pose features": None, "standardised pose features": "standardized"}
        references["untrained encoder"] = va.train(data, "vaot", runs / "untrained", preset="pose", split="all",
                                                   epochs=0).path  # fmt: skip
        for name, model in references.items():
            table.setdefault(name, {})[key] = score(data, phases, model)
        for name, method, preset, loss in TRAINED:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the pose default's collapse warning is in the table
                run = va.train(data, method, runs / f"{method}-{preset or 'auto'}", preset=preset, split="all",
                               seed=0, loss=loss)  # fmt: skip
            table.setdefault(name, {})[key] = score(data, phases, run.path) | {"preset": run.config.preset}
            print(key, name, table[name][key], flush=True)
    return table


def _cell(cell: dict) -> str:
    return f"{cell['error']:.3f}" + (f" ({cell['within']:.2f})" if "within" in cell else "")


def markdown(table: dict[str, dict[str, dict]], info: dict) -> str:
    keys = [f"{a}, carve {c}" for c in CARVES for a in ACTIONS]
    chosen = sorted({cell["preset"] for name, *_ in TRAINED if "itself" in name for cell in table[name].values()})
    titles = [key.replace("pushup", "push-up").replace("pullup", "pull-up") for key in keys]
    lines = table_head("Repeated movements: real poses played several times", "repeated_poses.py", info)
    lines += [
        f"Penn Action `train_sub` push-ups, squats and pull-ups, {CLIPS} clips per carve, each played "
        f"{REPEATS[0]}-{REPEATS[1]} times at {SPEEDS[0]}-{SPEEDS[1]} of its speed (the script's docstring says "
        "how); every method trained on the carve's clips without labels, all ordered pairs aligned by DTW. Cells: "
        "mean circular error of the repetition phase (0.25 = chance), and in brackets `within` (near 1: collapsed). "
        "`chosen by itself`: no preset named, so `train` checks whether the clips repeat a movement "
        f"(`docs/methods.md`, Repeated movements); the preset it used: {', '.join(chosen)}.",
        "",
        "| representation | " + " | ".join(titles) + " | mean |",
        "|---" * (len(keys) + 2) + "|",
    ]
    for name, cells in table.items():
        mean = np.mean([cells[k]["error"] for k in keys])
        lines.append(f"| {name} | " + " | ".join(_cell(cells[k]) for k in keys) + f" | **{mean:.3f}** |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = work_and_out(__doc__.splitlines()[0], "vidalign-repeated-poses", "REPEATED_POSES.md")
    require_penn_labels()
    started = time.perf_counter()
    table = rows(args.work)
    info = {**generation_info(started, reuses_runs=True), "command": "python benchmarks/repeated_poses.py"}
    args.out.write_text(markdown(table, info))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
