"""Benchmarks of the dynamic-programming kernels: soft Smith-Waterman and soft-DTW, forward + backward.

Setting (the LAC / LAV training step): ``B = 8`` pairs of ``N = M`` frames with ``D = 128`` unit-norm embeddings
requiring grad; the timed region is the similarity (``einsum``; cost ``1 - sim`` for soft-DTW), the op and the
backward down to the embeddings. Ours is the compiled CPU path in float32; references: the torch autograd
reference path of the same op (float32); for soft Smith-Waterman, a plain compiled kernel
(:mod:`vidalign.bench.plain_sw`: per-cell loops with ``math.exp``, stored-weights backward, float32, same
threads), timed the same way (einsum included), its note giving the largest score difference to ours; for
soft-DTW, tslearn's numpy ``SoftDTW`` (value + gradient on the precomputed cost, looped over the batch, float64 as
tslearn computes; its time excludes the einsum; the row is left out when tslearn, a test dependency, is not
installed).

``peak MB`` is the tracemalloc peak of the numpy buffers allocated during one call of ours (the DP tables and
gradient buffers; torch tensors and numba-internal scratch rows are not traced).
"""

from __future__ import annotations

import importlib.util
import tracemalloc
from collections.abc import Callable

import numpy as np
import torch

from vidalign.bench import BenchRow, time_call
from vidalign.bench.plain_sw import plain_soft_smith_waterman
from vidalign.ops.smith_waterman import soft_smith_waterman
from vidalign.ops.soft_dtw import soft_dtw

BATCH, DIM = 8, 128
GAP_OPEN, GAP_EXTEND, TEMPERATURE, GAMMA = 1.0, 0.5, 0.5, 0.1
TARGET_MS = {"soft_smith_waterman": 20.0, "soft_dtw": 12.0}


def _embeddings(frames: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    pair = torch.nn.functional.normalize(torch.randn(2, BATCH, frames, DIM, generator=generator), dim=-1)
    return pair[0].requires_grad_(), pair[1].requires_grad_()


def _training_step(op: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        x.grad = y.grad = None
        sim = torch.einsum("bnd,bmd->bnm", x, y)
        op(sim).sum().backward()

    return step


def _peak_numpy_mb(fn: Callable[[], None]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _tslearn_soft_dtw(cost: np.ndarray) -> Callable[[], None]:
    from tslearn.metrics import SoftDTW  # test-only dependency: imported when the row is measured

    def run() -> None:
        for matrix in cost:
            oracle = SoftDTW(matrix, gamma=GAMMA)
            oracle.compute()
            oracle.grad()

    return run


def run(quick: bool) -> list[BenchRow]:
    """Rows for N = M in {64, 128, 256} ({64} when ``quick``)."""
    rows: list[BenchRow] = []
    for frames in (64,) if quick else (64, 128, 256):
        config = f"B={BATCH} N=M={frames} D={DIM}"
        x, y = _embeddings(frames, seed=frames)

        def sw(backend: str) -> Callable[[torch.Tensor], torch.Tensor]:
            return lambda sim: soft_smith_waterman(sim, GAP_OPEN, GAP_EXTEND, TEMPERATURE, backend=backend)

        def sdtw(backend: str) -> Callable[[torch.Tensor], torch.Tensor]:
            return lambda sim: soft_dtw(1.0 - sim, GAMMA, backend=backend)

        for name, op in (("soft_smith_waterman", sw), ("soft_dtw", sdtw)):
            ours = _training_step(op("numba"), x, y)
            ours_ms = time_call(ours, repeats=7, warmup=2)
            reference_ms = time_call(_training_step(op("torch"), x, y), repeats=3, warmup=1)
            target = TARGET_MS[name] if frames == 256 else None
            peak_mb = _peak_numpy_mb(ours)
            rows.append(BenchRow(name, config + " f32", ours_ms, "torch autograd ref", reference_ms, peak_mb, target))
            if name == "soft_smith_waterman":
                plain = lambda sim: plain_soft_smith_waterman(sim, GAP_OPEN, GAP_EXTEND, TEMPERATURE)  # noqa: E731
                plain_ms = time_call(_training_step(plain, x, y), repeats=5, warmup=1)
                with torch.no_grad():
                    similarity = torch.einsum("bnd,bmd->bnm", x, y)
                    gap = (plain(similarity) - op("numba")(similarity)).abs().max().item()
                note = f"max |score - ours| {gap:.1e}"
                plain_row = BenchRow(name, config + " f32", ours_ms, "plain numba ref", plain_ms, peak_mb, target, note)
                rows.append(plain_row)
        if importlib.util.find_spec("tslearn") is None:
            continue
        cost = (1.0 - torch.einsum("bnd,bmd->bnm", x, y)).detach().double().numpy()
        tslearn_ms = time_call(_tslearn_soft_dtw(cost), repeats=3, warmup=1)
        rows.append(
            BenchRow(
                "soft_dtw",
                config + " f32",
                rows[-1].ours_ms,
                "tslearn numpy f64",
                tslearn_ms,
                rows[-1].peak_mem_mb,
                rows[-1].target_ms,
                note="tslearn time excludes the einsum",
            )
        )
    return rows
