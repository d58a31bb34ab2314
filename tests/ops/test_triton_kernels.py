"""Triton kernels (soft Smith-Waterman, soft-DTW, fused GW) against the numba and torch paths.

Without a GPU the real kernel code runs in Triton's interpreter on CPU tensors (numpy semantics). Triton chooses
between compiling and interpreting when ``@triton.jit`` runs, including for its own ``triton.language`` helpers, so
the interpreter must be selected before Triton is first imported: the ``test_interpreted_*`` tests run in a child
pytest process started with ``TRITON_INTERPRET=1`` (:func:`test_kernels_under_the_interpreter`), or directly in a
process that was itself started that way. With CUDA, the compiled kernels also run on the GPU against the CPU path
at larger sizes (``test_gpu_*``, skipped without CUDA).

The kernels are compiled for CUDA targets without a GPU too (Triton's front end, its GPU passes and ``ptxas``), in
a subprocess that does not interpret, and the PTX is checked for the per-diagonal barriers and the atomics.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

INTERPRETER = os.environ.get("TRITON_INTERPRET") == "1"  # read before this module imports Triton
pytest.importorskip("triton")

from vidalign.errors import ConfigError  # noqa: E402
from vidalign.ops import fused_gw, soft_dtw, soft_smith_waterman  # noqa: E402

CUDA = torch.cuda.is_available()
REPO_ROOT = Path(__file__).resolve().parents[2]
interpreted = pytest.mark.skipif(not INTERPRETER, reason="runs in the child of test_kernels_under_the_interpreter")


def _masks(lengths, size, device="cpu"):
    return torch.arange(size, device=device)[None] < torch.tensor(lengths, device=device)[:, None]


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks smaller than the test problems, so that the chunk loops run more than once."""
    import vidalign.ops._triton.antidiagonal as antidiagonal
    import vidalign.ops._triton.fgw as fgw_kernels

    monkeypatch.setattr(antidiagonal, "MAX_BLOCK", 2)
    monkeypatch.setattr(fgw_kernels, "STEP_TILE", 8)
    monkeypatch.setattr(fgw_kernels, "STEP_MAX_COLUMNS", 4)
    monkeypatch.setattr(fgw_kernels, "COLUMN_TILE", (4, 4))


def _value_and_grads(op, inputs, weights):
    out = op(*inputs)
    return out.detach(), *torch.autograd.grad((out * weights).sum(), inputs)


def _assert_all_close(ours, expected, tol):
    for a, b in zip(ours, expected, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


# ---------------------------------------------------------------------------------------------------------------
# Backend selection (no kernel runs).


def test_backend_selection(monkeypatch):
    sim = torch.randn(2, 3, 4)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="CUDA"):
        soft_smith_waterman(sim, 1.0, 0.5, backend="triton")
    with pytest.raises(ValueError, match="CUDA"):
        soft_dtw(sim, 0.1, backend="triton")
    with pytest.raises(ValueError, match="CUDA"):
        fused_gw(sim, alpha=0.3, eps=0.1, radius=0.2, backend="triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(TypeError, match="float32/float64"):
        soft_dtw(sim.half(), 0.1, backend="triton")


def test_auto_keeps_numba_on_cpu(monkeypatch):
    import vidalign.ops._triton.soft_dtw as kernels

    def fail(*args):
        raise AssertionError("auto must not pick the Triton kernels for CPU tensors")

    monkeypatch.setattr(kernels, "soft_dtw_triton", fail)
    soft_dtw(torch.rand(2, 3, 4), 0.1)


# ---------------------------------------------------------------------------------------------------------------
# Interpreter: the kernels' arithmetic on CPU against the numba kernels (themselves tested against brute force,
# tslearn, Biopython and the torch reference) and the torch fused-GW reference.


@pytest.mark.skipif(INTERPRETER, reason="this process interprets already")
def test_kernels_under_the_interpreter():
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "interpreted", __file__]
    env = dict(os.environ, TRITON_INTERPRET="1")
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "skipped" not in summary, summary


def _triton_against(reference, op, inputs, weights, tol):
    """Value and gradients of ``op(*inputs, backend="triton")`` against ``backend=reference``."""
    results = []
    for backend in ("triton", reference):
        out = op(*inputs, backend=backend)
        results.append((out.detach(), *torch.autograd.grad((out * weights).sum(), inputs)))
    _assert_all_close(*results, tol=tol)


@interpreted
@pytest.mark.parametrize(
    ("dtype", "blocks"), [(torch.float64, "full"), (torch.float64, "small"), (torch.float32, "full")]
)
def test_interpreted_soft_dtw(request, dtype, blocks):
    if blocks == "small":
        request.getfixturevalue("small_blocks")
    torch.manual_seed(0)
    cost = torch.rand(3, 7, 5, dtype=dtype, requires_grad=True)
    op = functools.partial(soft_dtw, gamma=0.3, mask_a=_masks([7, 4, 1], 7), mask_b=_masks([5, 5, 3], 5))
    weights = torch.tensor([1.0, -2.0, 3.0], dtype=dtype)
    _triton_against("numba", op, [cost], weights, tol=1e-12 if dtype == torch.float64 else 1e-5)


GAP_SHAPES = {"scalar": (), "per_sample": (3,), "per_cell": (3, 6, 5), "per_row": (6, 1)}


@interpreted
@pytest.mark.parametrize(
    ("dtype", "gap_form", "blocks"),
    [(torch.float64, form, "full") for form in GAP_SHAPES]
    + [(torch.float64, "per_cell", "small"), (torch.float32, "scalar", "full")],
)
def test_interpreted_soft_smith_waterman(request, dtype, gap_form, blocks):
    if blocks == "small":
        request.getfixturevalue("small_blocks")
    torch.manual_seed(1)
    sim = torch.randn(3, 6, 5, dtype=dtype, requires_grad=True)
    go = (0.5 + torch.rand(GAP_SHAPES[gap_form], dtype=dtype)).requires_grad_()
    ge = (0.1 + torch.rand(GAP_SHAPES[gap_form], dtype=dtype)).requires_grad_()
    masks = dict(mask_a=_masks([6, 4, 1], 6), mask_b=_masks([5, 5, 3], 5))
    op = functools.partial(soft_smith_waterman, temperature=0.7, **masks)
    weights = torch.tensor([1.0, -2.0, 3.0], dtype=dtype)
    _triton_against("numba", op, [sim, go, ge], weights, tol=1e-12 if dtype == torch.float64 else 1e-5)


@interpreted
def test_interpreted_smith_waterman_without_gap_gradients_and_no_hard_score():
    torch.manual_seed(2)
    sim = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    op = functools.partial(soft_smith_waterman, gap_open=0.8, gap_extend=0.3, temperature=0.5)
    _triton_against("numba", op, [sim], torch.ones(2, dtype=torch.float64), tol=1e-12)
    with pytest.raises(ConfigError, match="has no 'triton' backend"):  # the kernels compute the soft score only
        op(sim, hard=True, backend="triton")


@interpreted
def test_interpreted_second_order_gradients_use_the_reference():
    torch.manual_seed(3)
    sim = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    cost = torch.rand(2, 3, 4, dtype=torch.float64, requires_grad=True)
    for op, x in (
        (lambda s, b: soft_smith_waterman(s, 0.6, 0.2, 0.5, backend=b), sim),
        (lambda c, b: soft_dtw(c, 0.5, backend=b), cost),
    ):
        hessian_rows = []
        for backend in ("triton", "torch"):
            (grad,) = torch.autograd.grad(op(x, backend).sum(), x, create_graph=True)
            hessian_rows.append(torch.autograd.grad(grad[0, 1, 2], x)[0])
        torch.testing.assert_close(*hessian_rows, atol=1e-12, rtol=1e-12)


FGW_CASES = [
    ("none", 0.5, "alignment", torch.float64),
    ("a", None, "clusters", torch.float64),
    ("b", None, "alignment", torch.float64),
    ("both", 0.5, "clusters", torch.float64),
    ("none", None, "alignment", torch.float32),
]


@interpreted
@pytest.mark.parametrize(("unbalanced", "dummy", "structure", "dtype"), FGW_CASES)
def test_interpreted_fused_gw(small_blocks, unbalanced, dummy, structure, dtype):
    generator = torch.Generator().manual_seed(4)
    x = torch.nn.functional.normalize(torch.randn(3, 9, 6, generator=generator, dtype=torch.float64), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(3, 7, 6, generator=generator, dtype=torch.float64), dim=-1)
    cost = (1.0 - x @ y.transpose(1, 2)).to(dtype)
    options = dict(alpha=0.3, eps=0.07, radius=0.1, rho=0.3, dummy=dummy, unbalanced=unbalanced, n_iters=3)
    options.update(mask_a=_masks([9, 6, 3], 9), mask_b=_masks([7, 7, 4], 7), structure=structure)
    ours, expected = (fused_gw(cost, backend=backend, **options) for backend in ("triton", "torch"))
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for name in ("plan", "objective", "marginal_error", "step_size"):
        torch.testing.assert_close(getattr(ours, name), getattr(expected, name), atol=tol, rtol=tol)


@interpreted
@pytest.mark.parametrize("dummy", [None, 0.5])
def test_interpreted_fused_gw_non_prefix_masks_solve_the_cropped_problems(small_blocks, dummy):
    """Real frames anywhere in a row: each item's plan is that of its cropped problem (tests/ops/test_masks.py)."""
    generator = torch.Generator().manual_seed(8)
    cost = torch.rand(2, 7, 6, generator=generator, dtype=torch.float64)
    mask_a = torch.tensor([[1, 0, 1, 1, 0, 1, 1], [0, 1, 1, 1, 1, 0, 1]]).bool()
    mask_b = torch.tensor([[1, 1, 0, 1, 1, 1], [0, 1, 0, 1, 1, 1]]).bool()
    options = dict(alpha=0.3, eps=0.07, radius=0.2, rho=0.3, dummy=dummy, n_iters=4)
    plan = fused_gw(cost, mask_a=mask_a, mask_b=mask_b, backend="triton", **options).plan
    for item in range(2):
        rows, cols = mask_a[item], mask_b[item]
        alone = fused_gw(cost[item : item + 1][:, rows][:, :, cols], backend="torch", **options).plan[0]
        torch.testing.assert_close(plan[item][rows][:, cols], alone, atol=1e-12, rtol=1e-12)
        assert plan[item][~rows].abs().sum() == 0 and plan[item][:, ~cols].abs().sum() == 0


# ---------------------------------------------------------------------------------------------------------------
# Compilation for CUDA targets (no GPU needed).

_COMPILE_SCRIPT = r"""
import json
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from vidalign.ops._triton import fgw, soft_dtw, soft_smith_waterman

INTS = {"num_rows", "num_cols", "rows", "cols", "gap_stride_b", "gap_stride_i", "gap_stride_j"}
FLOAT64_ALWAYS = {"grad_ptr", "scores_ptr"}  # soft Smith-Waterman's float64 scores and upstream gradient
KERNELS = {
    "dtw_forward": (soft_dtw._forward_kernel, {"BLOCK": 512}),
    "dtw_backward": (soft_dtw._backward_kernel, {"BLOCK": 512}),
    "sw_forward": (soft_smith_waterman._forward_kernel, {"BLOCK": 512}),
    "sw_backward": (soft_smith_waterman._backward_kernel, {"BLOCK": 512, "GAP_GRADS": True}),
    "fgw_rows": (fgw._step_rows, {"ROWS_FIXED": True, "BLOCK_R": 8, "BLOCK_C": 512}),
    "fgw_columns": (fgw._columns_and_plan, {"COLS_FIXED": True, "BLOCK_R": 64, "BLOCK_C": 32}),
}
report = {}
for arch, dtype in ((90, "fp32"), (90, "fp64"), (80, "fp32")):
    for name, (kernel, constexprs) in KERNELS.items():
        signature = {}
        for arg in kernel.arg_names:
            if arg in constexprs:
                signature[arg] = "constexpr"
            elif arg in INTS:
                signature[arg] = "i32"
            elif arg.startswith("lengths"):
                signature[arg] = "*i32"
            elif arg in FLOAT64_ALWAYS and name.startswith("sw"):
                signature[arg] = "*fp64"
            else:
                signature[arg] = "*" + dtype
        source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
        options = {"num_warps": 16 if name.startswith(("dtw", "sw")) else 4, "num_stages": 1}
        ptx = triton.compile(source, target=GPUTarget("cuda", arch, 32), options=options).asm["ptx"]
        report[f"{name}/sm{arch}/{dtype}"] = {
            "barriers": ptx.count("bar.sync"),
            "atomics": ptx.count("atom.global"),
            "nc_loads": ptx.count("ld.global.nc"),
        }
print(json.dumps(report))
"""


def test_kernels_compile_for_cuda_targets():
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report) == 18
    for key, found in report.items():
        assert found["nc_loads"] == 0, key  # a non-coherent load could miss a table written earlier in the kernel
        if key.startswith(("dtw", "sw")):
            assert found["barriers"] >= 1, key  # the barrier between anti-diagonals is emitted
        assert (found["atomics"] > 0) == key.startswith("sw_backward"), key


# ---------------------------------------------------------------------------------------------------------------
# GPU benchmark suite without a GPU.


@pytest.mark.skipif(CUDA, reason="checks the refusal without CUDA")
def test_gpu_bench_refuses_without_cuda(capsys):
    from vidalign.bench import gpu
    from vidalign.cli import main

    with pytest.raises(ValueError, match="CUDA"):
        gpu.run(quick=True)
    assert main(["bench", "--suite", "gpu"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# Real GPU: the compiled kernels against the CPU fast path at larger sizes (skipped without CUDA).

gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


def _dynamic_program_outputs(backend, device, sim, go, ge, lengths_a, lengths_b, weights):
    """Value and gradients of soft Smith-Waterman (sim, go, ge) and soft-DTW (cost = sim), moved to the CPU."""
    mask_a, mask_b = _masks(lengths_a, sim.shape[1], device), _masks(lengths_b, sim.shape[2], device)
    sim, go, ge = (t.detach().to(device).requires_grad_() for t in (sim, go, ge))
    weights = weights.to(device)
    sw = _value_and_grads(
        lambda s, o, e: soft_smith_waterman(s, o, e, 0.5, mask_a, mask_b, backend=backend), [sim, go, ge], weights
    )
    dtw = _value_and_grads(lambda c: soft_dtw(c, 0.1, mask_a, mask_b, backend=backend), [sim], weights)
    return [t.cpu() for t in (*sw, *dtw)]


@gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gpu_dynamic_programs_match_cpu(dtype):
    torch.manual_seed(5)
    batch, rows, cols = 4, 300, 200
    sim = torch.randn(batch, rows, cols, dtype=dtype) / 4
    go = torch.tensor(0.8, dtype=dtype)
    ge = 0.1 + torch.rand(batch, rows, cols, dtype=dtype)
    problem = (sim, go, ge, [300, 257, 31, 1], [200, 199, 64, 3], torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=dtype))
    ours = _dynamic_program_outputs("triton", "cuda", *problem)
    expected = _dynamic_program_outputs("numba", "cpu", *problem)
    _assert_all_close(ours, expected, tol=1e-9 if dtype == torch.float64 else 2e-4)


@gpu
def test_gpu_auto_picks_triton_once_opted_in_and_chunks_long_diagonals(monkeypatch):
    import vidalign.ops._triton.antidiagonal as antidiagonal
    import vidalign.ops._triton.soft_dtw as kernels

    calls = []
    original = kernels.soft_dtw_triton
    monkeypatch.setattr(kernels, "soft_dtw_triton", lambda *args: calls.append(1) or original(*args))
    monkeypatch.setattr(antidiagonal, "MAX_BLOCK", 64)  # diagonals of up to 150 cells: three chunks
    cost = torch.rand(2, 150, 170, dtype=torch.float64)
    soft_dtw(cost.cuda(), 0.2)
    assert not calls  # opt-in until verified on a GPU
    monkeypatch.setenv("VIDALIGN_TRITON", "1")
    value = soft_dtw(cost.cuda(), 0.2)
    assert calls and value.is_cuda
    torch.testing.assert_close(value.cpu(), soft_dtw(cost, 0.2, backend="numba"), atol=1e-9, rtol=1e-9)


@gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gpu_fused_gw_matches_torch(dtype):
    generator = torch.Generator().manual_seed(6)
    cost = torch.rand(4, 120, 90, generator=generator, dtype=torch.float64).to(dtype).cuda()
    options = dict(alpha=0.3, eps=0.07, radius=0.02, rho=0.35, dummy=0.5, n_iters=25)
    options.update(mask_a=_masks([120, 100, 7, 64], 120, "cuda"), mask_b=_masks([90, 90, 30, 5], 90, "cuda"))
    ours, expected = (fused_gw(cost, backend=backend, **options) for backend in ("triton", "torch"))
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == torch.float64 else dict(rtol=2e-4, atol=1e-7)  # plan entries ~1e-4
    for name in ("plan", "objective", "marginal_error"):
        torch.testing.assert_close(getattr(ours, name), getattr(expected, name), **tol)
