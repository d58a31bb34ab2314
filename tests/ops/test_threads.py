"""The CPU kernels leave the user's torch thread count alone (src/vidalign/ops/_numba/batching.py)."""

import os
import subprocess
import sys

import pytest

CHILD = """
import torch
from vidalign.ops.smith_waterman import soft_smith_waterman
from vidalign.ops.soft_dtw import soft_dtw
sim = torch.randn(4, 12, 10, requires_grad=True)
soft_smith_waterman(sim, 1.0, 0.5, temperature=0.1).sum().backward()
soft_dtw(torch.rand(4, 12, 10, requires_grad=True), 0.1).sum().backward()
print(torch.get_num_threads())
"""


@pytest.mark.parametrize("numba_threads", ["2", "3"])
def test_dp_kernels_keep_the_torch_thread_count(numba_threads):
    """Asking numba for its thread count starts its OpenMP layer, which set the process-wide OpenMP count (torch's
    too) to NUMBA_NUM_THREADS: a user's OMP_NUM_THREADS=1 became several torch threads after the first kernel call.
    The count must stay what the user set."""
    env = {**os.environ, "NUMBA_NUM_THREADS": numba_threads, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "1"
