"""Long-sequence benchmark (suite "long"): one pair of 5,000-frame videos (issue "Alignment kernels").

Rows: the inference-time hard alignments ``smith_waterman`` and ``dtw`` (traceback included) and the soft ops
``soft_smith_waterman`` / ``soft_dtw`` forward + backward, all on one float32 ``[N, M]`` similarity of unit-norm
random embeddings (D = 128; cost ``1 - sim`` for the DTWs). ``peak MB`` is how far one call raises the process's
memory above where it started: the larger of the tracemalloc peak of numpy buffers and (Linux) the growth of the
resident-set high-water mark ``VmHWM``, reset through ``/proc/self/clear_refs`` before the call (pages the
allocator kept from an earlier call hide from the latter, torch tensors from the former). The 100 MB input
similarity is not counted. The hard alignments are checked against the 4 GiB
budget of the issue in the note. The note also says whether every output
(score, gradient) is finite. No reference runs at this size: the torch autograd path would need a graph per
anti-diagonal over 25 M cells.
"""

from __future__ import annotations

import math
import os
import time
import tracemalloc
from collections.abc import Callable

import torch

from vidalign.bench import BenchRow
from vidalign.ops.dtw import dtw
from vidalign.ops.smith_waterman import smith_waterman, soft_smith_waterman
from vidalign.ops.soft_dtw import soft_dtw

DIM, GAP_OPEN, GAP_EXTEND, TEMPERATURE, GAMMA = 128, 1.0, 0.5, 0.5, 0.1
BUDGET_MB = 4096.0


def _similarity(frames: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(frames)
    x, y = torch.nn.functional.normalize(torch.randn(2, frames, DIM, generator=generator), dim=-1)
    return x @ y.T


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _measure(fn: Callable[[], bool]) -> tuple[float, float, bool]:
    """Wall time (ms) and peak memory growth (MB) of one call of ``fn``, and the finiteness it reports."""
    has_proc = os.path.exists("/proc/self/clear_refs")
    if has_proc:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset the resident-set high-water mark to the current size
        before = _status_kb("VmRSS")
    tracemalloc.start()
    started = time.perf_counter()
    finite = fn()
    ms = (time.perf_counter() - started) * 1e3
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    resident = (_status_kb("VmHWM") - before) * 1024 if has_proc else 0
    return ms, max(traced, resident) / 2**20, finite


def _soft(op: Callable[[torch.Tensor], torch.Tensor], sim: torch.Tensor) -> Callable[[], bool]:
    def run() -> bool:
        leaf = sim[None].detach().requires_grad_()  # the input itself, not a copy: its memory is not the op's
        value = op(leaf).sum()
        value.backward()
        return bool(torch.isfinite(value)) and bool(torch.isfinite(leaf.grad).all())

    return run


def run(quick: bool) -> list[BenchRow]:
    """Rows for one pair of N = M = 5000 frames (2000 when ``quick``)."""
    frames = 2000 if quick else 5000
    sim = _similarity(frames)
    cost = 1.0 - sim
    jobs = {
        "smith_waterman (hard)": lambda: math.isfinite(smith_waterman(sim, GAP_OPEN, GAP_EXTEND).score),
        "dtw (hard)": lambda: math.isfinite(dtw(cost).score),
        "soft_smith_waterman": _soft(lambda s: soft_smith_waterman(s, GAP_OPEN, GAP_EXTEND, TEMPERATURE), sim),
        "soft_dtw": _soft(lambda s: soft_dtw(1.0 - s, GAMMA), sim),
    }
    rows = []
    for name, fn in jobs.items():
        fn()  # compile / warm up
        ms, peak_mb, finite = _measure(fn)
        note = "finite" if finite else "NON-FINITE output"
        if "hard" in name:
            note += f"; budget {BUDGET_MB:.0f} MB: {'met' if peak_mb <= BUDGET_MB else 'EXCEEDED'}"
        rows.append(BenchRow(name, f"B=1 N=M={frames} f32", ms, "-", None, peak_mb, note=note))
    return rows
