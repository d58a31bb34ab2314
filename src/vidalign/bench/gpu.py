"""GPU benchmark (suite "gpu", ``vidalign bench --suite gpu``): the Triton kernels against the torch reference on the
same GPU and against the CPU fast path (numba), timed in the same run.

Ops: soft Smith-Waterman (temperature 0.5, gaps 1.0 / 0.5) and soft-DTW (gamma 0.1, cost ``1 - sim``) forward +
backward on a ``[B, N, M]`` similarity requiring grad; fused GW at VAOT's settings (alpha 0.3, eps 0.07, r 0.02,
rho 0.35, dummy 0.5, balanced, 25 iterations, no trace). Sizes: B in {8, 64}, N = M in {128, 256, 512}
(B = 8, N = 128 when ``quick``); float32; inputs from unit-norm random embeddings (D = 128).

Each configuration gives two rows with the same "ours" (Triton on CUDA): against ``backend="torch"`` on the same
GPU and against ``backend="numba"`` on the CPU (all the process's threads). GPU times synchronise the device after
each call; ``peak MB`` is ``torch.cuda.max_memory_allocated`` during one call of ours, above what was allocated
before it (the torch reference's is in the note). The note also records the largest difference between our outputs
(value and gradient, or plan) and the CPU path's: a correctness check on the real device. Without CUDA (or
Triton) the suite refuses with a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vidalign.bench import BenchRow, time_call
from vidalign.errors import DeviceError
from vidalign.ops.backends import triton_importable
from vidalign.ops.fgw import fused_gw
from vidalign.ops.smith_waterman import soft_smith_waterman
from vidalign.ops.soft_dtw import soft_dtw

DIM = 128
GAP_OPEN, GAP_EXTEND, TEMPERATURE, GAMMA = 1.0, 0.5, 0.5, 0.1
FGW_SETTINGS = dict(alpha=0.3, eps=0.07, radius=0.02, rho=0.35, dummy=0.5, n_iters=25, return_trace=False)
REFERENCE_REPEATS = 3  # the torch reference takes up to seconds per call at B = 64, N = 512


def _require_gpu() -> None:
    if not torch.cuda.is_available():
        raise DeviceError("the gpu suite needs a CUDA device (torch sees none); run the dp and ot suites instead")
    if not triton_importable():
        raise DeviceError("the gpu suite needs the triton package (shipped with CUDA builds of PyTorch)")


def _similarity(batch: int, frames: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    pair = torch.nn.functional.normalize(torch.randn(2, batch, frames, DIM, generator=generator), dim=-1)
    return pair[0] @ pair[1].transpose(1, 2)


Op = Callable[[torch.Tensor, str], tuple[torch.Tensor, ...]]


def _ops() -> dict[str, Op]:
    """Each op as ``(similarity, backend) -> outputs``: the DP ops run their backward and return (value, gradient),
    fused GW returns (plan,)."""

    def sw(sim: torch.Tensor, backend: str) -> tuple[torch.Tensor, ...]:
        sim = sim.detach().requires_grad_()
        score = soft_smith_waterman(sim, GAP_OPEN, GAP_EXTEND, TEMPERATURE, backend=backend)
        score.sum().backward()
        return score.detach(), sim.grad

    def sdtw(sim: torch.Tensor, backend: str) -> tuple[torch.Tensor, ...]:
        sim = sim.detach().requires_grad_()
        value = soft_dtw(1.0 - sim, GAMMA, backend=backend)
        value.sum().backward()
        return value.detach(), sim.grad

    def fgw(sim: torch.Tensor, backend: str) -> tuple[torch.Tensor, ...]:
        return (fused_gw(1.0 - sim, backend=backend, **FGW_SETTINGS).plan,)

    return {"soft_smith_waterman": sw, "soft_dtw": sdtw, "fused_gw": fgw}


def _synchronised(fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        fn()
        torch.cuda.synchronize()

    return run


def _peak_mb(fn: Callable[[], object]) -> float:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def _config_rows(name: str, op: Op, batch: int, frames: int) -> list[BenchRow]:
    sim_cpu = _similarity(batch, frames, seed=frames + batch)
    sim = sim_cpu.cuda()
    ours = _synchronised(lambda: op(sim, "triton"))
    ours_ms = time_call(ours, repeats=5, warmup=1)  # the warm-up call compiles the kernels
    peak = _peak_mb(ours)
    gpu_reference = _synchronised(lambda: op(sim, "torch"))
    gpu_reference_ms = time_call(gpu_reference, repeats=REFERENCE_REPEATS, warmup=1)
    gpu_reference_peak = _peak_mb(gpu_reference)
    cpu_ms = time_call(lambda: op(sim_cpu, "numba"), repeats=REFERENCE_REPEATS, warmup=1)
    pairs = zip(op(sim, "triton"), op(sim_cpu, "numba"), strict=True)
    difference = max((ours_out.cpu() - cpu_out).abs().max().item() for ours_out, cpu_out in pairs)
    config = f"B={batch} N=M={frames} f32"
    note = f"{torch.cuda.get_device_name()}; max|ours - numba| {difference:.1e}"
    cpu_reference = f"numba cpu {torch.get_num_threads()} thr"
    gpu_note = f"{note}; torch ref peak {gpu_reference_peak:.0f} MB"
    return [
        BenchRow(name, config, ours_ms, "torch ref (same gpu)", gpu_reference_ms, peak, note=gpu_note),
        BenchRow(name, config, ours_ms, cpu_reference, cpu_ms, peak, note=note),
    ]


def run(quick: bool = False) -> list[BenchRow]:
    """Rows for every op at B in {8, 64} and N = M in {128, 256, 512} (B = 8, N = 128 when ``quick``)."""
    _require_gpu()
    sizes = [(8, 128)] if quick else [(batch, frames) for batch in (8, 64) for frames in (128, 256, 512)]
    rows: list[BenchRow] = []
    for name, op in _ops().items():
        for batch, frames in sizes:
            rows.extend(_config_rows(name, op, batch, frames))
    return rows
