"""Kernel benchmarks behind ``vidalign bench`` and ``benchmarks/kernels.py``.

Every row is a measurement of one of our ops next to a reference implementation timed in the same run, so the
printed *ratio* (reference time / our time) is meaningful on any machine. Absolute milliseconds are printed too.
Benchmark modules register themselves in :data:`SUITES`; each exposes ``run(quick: bool) -> list[BenchRow]``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
from collections.abc import Callable

SUITES = {
    "dp": "vidalign.bench.dp",  # soft Smith-Waterman, soft-DTW
    "ot": "vidalign.bench.ot",  # fused Gromov-Wasserstein
    "long": "vidalign.bench.long",  # one pair of 5,000-frame videos: time, memory, finiteness
    "gpu": "vidalign.bench.gpu",  # Triton kernels on CUDA (refuses without a GPU)
    "frames": "vidalign.bench.frames",  # frame backbones: frames per second (extraction without decoding)
    "eval": "vidalign.bench.evaluation",  # the evaluation's nearest-neighbour search on many videos (AP@K)
}
DEFAULT_SUITES = ("dp", "ot", "long")  # what runs when no suite is named: the CPU suites


@dataclasses.dataclass
class BenchRow:
    """One timed configuration: ours against a reference measured in the same process."""

    op: str
    config: str
    ours_ms: float
    reference: str
    reference_ms: float | None
    peak_mem_mb: float | None = None
    target_ms: float | None = None
    note: str = ""

    @property
    def speedup(self) -> float | None:
        if self.reference_ms is None or self.ours_ms <= 0:
            return None
        return self.reference_ms / self.ours_ms


def time_call(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    samples.sort()
    return samples[len(samples) // 2]


def format_table(rows: list[BenchRow]) -> str:
    """Fixed-width table: op, config, our time, reference time, ratio, peak memory, target."""
    header = f"{'op':<22} {'config':<26} {'ours ms':>9} {'reference':<22} {'ref ms':>9} {'ratio':>7} "
    header += f"{'peak MB':>8} {'target':>8}  note"
    lines = [header, "-" * len(header)]
    for r in rows:
        ref_ms = f"{r.reference_ms:9.1f}" if r.reference_ms is not None else f"{'-':>9}"
        ratio = f"{r.speedup:6.1f}x" if r.speedup is not None else f"{'-':>7}"
        mem = f"{r.peak_mem_mb:8.1f}" if r.peak_mem_mb is not None else f"{'-':>8}"
        target = f"{r.target_ms:7.0f}ms" if r.target_ms is not None else f"{'-':>8}"
        lines.append(
            f"{r.op:<22} {r.config:<26} {r.ours_ms:9.2f} {r.reference:<22} {ref_ms} {ratio} {mem} {target}  {r.note}"
        )
    return "\n".join(lines)


def run_suites(names: list[str] | None = None, *, quick: bool = False) -> list[BenchRow]:
    """Import and run the named suites (:data:`DEFAULT_SUITES` by default) and return their rows."""
    rows: list[BenchRow] = []
    for name in names or list(DEFAULT_SUITES):
        module = importlib.import_module(SUITES[name])
        rows.extend(module.run(quick=quick))
    return rows


def rows_to_json(rows: list[BenchRow]) -> str:
    return json.dumps([dataclasses.asdict(r) | {"speedup": r.speedup} for r in rows], indent=2)
