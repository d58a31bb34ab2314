"""Kernel benchmarks (issue "Alignment kernels"): the same run as ``vidalign bench``.

Times forward+backward of soft Smith-Waterman and soft-DTW at B = 8, D = 128, N = M in {64, 128, 256}, and fused
Gromov-Wasserstein at N = M in {100, 200, 300} with 25 iterations, each next to a reference measured in the same run
(autograd torch, tslearn, POT), with peak memory. The suites live in :mod:`vidalign.bench`. Usage::

    python benchmarks/kernels.py                 # CPU suites (dp, ot, long)
    python benchmarks/kernels.py --suite gpu     # Triton kernels, needs CUDA
    python benchmarks/kernels.py --quick --json out.json
"""

import sys

from vidalign.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
