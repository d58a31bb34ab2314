"""Peak memory and wall time of ``vidalign align`` on long recordings (``docs/methods.md``, Long recordings).

Generates two recordings of one process itself (a smoothed random walk in 64-d, sampled with two different
monotone time warps, plus noise) at 5,000 and 20,000 frames a side, runs every method as its own process under
``/usr/bin/time -v`` and writes ``benchmarks/LONG_ALIGNMENT.md``: peak resident memory, wall time, the score,
whether the path touches the band's edge, and whether the banded result equals the unbanded one. The budgets of
issue 14 are 1 GiB at 5,000 frames and 4 GiB at 20,000 frames. ``ot`` also runs at the largest square size it
solves densely in float64 (``vidalign.alignment.OT_DENSE_CELLS``), where it must stay within 4 GiB; beyond it,
as at 20,000 frames, ``align`` runs the lean float32 solver (the ``precision`` column).

    python benchmarks/long_alignment.py [--sizes 5000 20000] [--methods dtw sw ot] [--no-bands]
        [--ot-sizes 12000] [--note TEXT] [--out benchmarks/LONG_ALIGNMENT.md]

``--methods`` / ``--no-bands`` / ``--ot-sizes`` run only some rows (``--ot-sizes`` with no value: none beyond
``--sizes``); ``--note`` adds a sentence on the machine to the table's header.

The command aligned is ``vidalign align`` when that console script is on PATH, else ``python -m vidalign.cli
align``; the environment (``PYTHONPATH``, ``OMP_NUM_THREADS``...) is passed on unchanged. The table was measured
with ``--no-viewer`` (the alignment and its JSON and plot only); the viewer page draws the alignment's preview
(block means of at most 1,024 a side), not the whole matrix.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from vidalign.alignment import OT_DENSE_CELLS, OTOptions
from vidalign.ops.fgw_dense import fused_gw_lean

DIM = 64
BUDGET_MIB = {5000: 1024, 20000: 4096}
OT_DENSE_FRAMES = math.isqrt(OT_DENSE_CELLS)  # the largest square OT run that vidalign.alignment solves densely
BANDS = ("0.1", "0.02")  # wider than the warps' 6 % difference, and narrower


def recordings(frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 recordings ``[frames, 64]`` of one smoothed random walk, each under its own time warp."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(4 * frames, DIM))
    kernel = np.hanning(41)[:, None] / np.hanning(41).sum()
    process = np.cumsum(np.apply_along_axis(lambda x: np.convolve(x, kernel[:, 0], "same"), 0, steps), axis=0)
    t = np.linspace(0.0, 1.0, frames)
    warps = (t + 0.03 * np.sin(2 * np.pi * t), t - 0.03 * np.sin(2 * np.pi * t))  # monotone, 0 to 1
    out = []
    for warp in warps:
        index = np.clip(np.rint(warp * (len(process) - 1)), 0, len(process) - 1).astype(int)
        out.append((process[index] + 0.5 * rng.normal(size=(frames, DIM))).astype(np.float32))
    return out[0], out[1]


def command() -> list[str]:
    script = shutil.which("vidalign")
    return [script] if script else [sys.executable, "-m", "vidalign.cli"]


def timed(argv: list[str]) -> dict:
    """Run ``argv`` under ``/usr/bin/time -v``: peak RSS (MiB), wall time (s), exit code and stderr's last line."""
    done = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) / 1024
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr).group(1)
    seconds = sum(float(part) * 60**k for k, part in enumerate(reversed(clock.split(":"))))
    lines = [line for line in done.stderr.splitlines() if line.startswith("vidalign")]
    return {"rss_mib": rss, "wall_s": seconds, "code": done.returncode, "message": lines[-1] if lines else ""}


def align(a: Path, b: Path, method: str, band: str | None, out: Path) -> dict:
    argv = [*command(), "align", str(a), str(b), "--method", method, "--out", str(out), "--quiet", "--no-viewer"]
    if band is not None:
        argv += ["--band", band]
    row = timed(argv) | {"method": method, "band": band or "-", "argv": argv}
    if row["code"] == 0:
        result = json.loads((out / "alignment.json").read_text())
        row |= {"score": result["score"], "pairs": result["pairs"], "a_to_b": result["a_to_b"]}
        row["band_edge"] = result["parameters"].get("band_edge")
        row["precision"] = result["parameters"].get("precision")
    return row


def write_files(folder: Path, frames: int) -> tuple[Path, Path]:
    a, b = recordings(frames)
    paths = folder / f"a{frames}.npy", folder / f"b{frames}.npy"
    for path, array in zip(paths, (a, b), strict=True):
        np.save(path, array)
    return paths


def run(sizes: list[int], work: Path, methods: list[str], bands: tuple[str, ...], ot_sizes: list[int]) -> list[dict]:
    warm = write_files(work, 300)  # compiles the kernels into numba's cache outside the measurements
    for method in ("dtw", "sw", "ot"):
        align(*warm, method, None, work / "warm")
    options = dataclasses.asdict(OTOptions()) | {"n_iters": 2}
    fused_gw_lean(40, 50, lambda cost: cost.fill(0.5), dtype=np.float32, **options)  # the float32 lean OT of
    # recordings beyond OT_DENSE_CELLS pairs, which the 300-frame files never reach
    baseline = timed([sys.executable, "-c", "import vidalign.api, vidalign.cli"])
    rows = [baseline | {"method": "(import only)", "frames": 0, "band": "-"}]
    for frames in sizes:
        a, b = write_files(work, frames)
        for method in [m for m in ("dtw", "sw") if m in methods]:
            unbanded = align(a, b, method, None, work / "out") | {"frames": frames}
            rows.append(unbanded)
            for band in bands:
                banded = align(a, b, method, band, work / "out") | {"frames": frames}
                same = all(banded.get(key) == unbanded.get(key) for key in ("score", "pairs", "a_to_b"))
                rows.append(banded | {"equals_unbanded": same if "score" in banded else None})
        if "ot" in methods:
            rows.append(align(a, b, "ot", None, work / "out") | {"frames": frames})
    for frames in [f for f in ot_sizes if f not in sizes] if "ot" in methods else []:
        rows.append(align(*write_files(work, frames), "ot", None, work / "out") | {"frames": frames})
    return rows


def table(rows: list[dict], shown_command: str, note: str = "") -> str:
    lines = [
        "# Long alignments: peak memory and wall time",
        "",
        "Generated by `benchmarks/long_alignment.py` (two recordings of one smoothed 64-d random walk under two "
        f"time warps, float32 `.npy`). Each row is one `{shown_command} align A.npy B.npy --method M [--band B] "
        "--out DIR --quiet --no-viewer` process under `/usr/bin/time -v` (peak RSS = its maximum resident set size). "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'unset')}; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} when the table was written (wall times depend on it, peak memory does not). "
        + (note + " " if note else "")
        + "Budgets (issue 14): 1 GiB at 5,000 frames, 4 GiB at 20,000 (and at the largest dense ot run). The first "
        "row is the interpreter importing `vidalign.api` and `vidalign.cli` and nothing else (feature files never "
        "import torch): every run pays it.",
        "",
        "| method | frames (A = B) | --band | precision | peak RSS (MiB) | budget (MiB) | wall (s) | score | "
        "band edge | banded = unbanded | outcome |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for row in rows:
        budget = BUDGET_MIB.get(row["frames"], 4096 if row["frames"] else "")
        score = f"{row['score']:.6g}" if "score" in row else ""
        edge = {True: "touched", False: "no", None: ""}[row.get("band_edge")]
        equal = {True: "yes", False: "no", None: ""}[row.get("equals_unbanded")]
        outcome = "ok" if row["code"] == 0 else row["message"].replace("|", "/")
        lines.append(
            f"| {row['method']} | {row['frames'] or ''} | {row['band']} | {row.get('precision') or ''} | "
            f"{row['rss_mib']:.0f} | {budget} | "
            f"{row['wall_s']:.1f} | {score} | {edge} | {equal} | {outcome} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--methods", nargs="+", choices=("dtw", "sw", "ot"), default=["dtw", "sw", "ot"])
    parser.add_argument("--no-bands", action="store_true", help="dtw / sw without --band only")
    parser.add_argument("--ot-sizes", type=int, nargs="*", default=[OT_DENSE_FRAMES], help="extra square ot runs")
    parser.add_argument("--note", default="", help="a sentence on the machine for the table's header")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("LONG_ALIGNMENT.md"))
    args = parser.parse_args()
    where = [sys.executable, "-c", "import vidalign; print(vidalign.__file__)"]
    print("measuring", subprocess.run(where, capture_output=True, text=True).stdout.strip(), flush=True)
    with tempfile.TemporaryDirectory() as work:
        rows = run(args.sizes, Path(work), args.methods, () if args.no_bands else BANDS, args.ot_sizes)
    shown = "vidalign" if shutil.which("vidalign") else "python -m vidalign.cli"
    args.out.write_text(table(rows, shown, args.note))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
