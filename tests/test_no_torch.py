"""``vidalign align`` of feature files runs without torch (issue 14: importing torch alone took 859 of the 961 MB
that aligning two 5,000-frame recordings peaked at): the CLI and ``vidalign.api.align`` on ``.npy`` files and
arrays, every method, and the numpy-only parts of the ops (the exact DP fills, the bands, the compiled kernels,
the streamed similarity and its statistics) never import it. Each check runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from vidalign.ops._numba import batching

TORCH_LOADED = "sorted(name for name in sys.modules if name.split('.')[0] in ('torch', 'torchvision'))"

CLI_CHILD = """
import sys
from vidalign.cli import main
for method in ("dtw", "sw", "ot"):
    assert main(["align", sys.argv[1], sys.argv[2], "--method", method, "--out", sys.argv[3] + "/" + method,
                 "--quiet"]) == 0
    main(["align", sys.argv[1], sys.argv[2], "--method", method, "--band", "0.3", "--out", sys.argv[3] + "/banded",
          "--quiet", "--no-viewer"])
print(LOADED)
"""

API_CHILD = """
import sys
import numpy as np
import vidalign as va
rng = np.random.default_rng(0)
for method in ("dtw", "sw", "ot"):
    va.align(sys.argv[1], sys.argv[2], method=method)
    va.align(rng.normal(size=(30, 6)), rng.normal(size=(25, 6)), method=method)
print(LOADED)
"""

MODULES_CHILD = """
import sys
import numpy as np
import vidalign.ops
from vidalign.ops import dtw, smith_waterman
from vidalign.ops.band import diagonal_band
from vidalign.ops.dtw import DTWFill
from vidalign.ops.fgw_dense import fused_gw_dense
from vidalign.ops.smith_waterman import SmithWatermanFill
from vidalign.ops._numba import dtw as dtw_kernels, fgw, smith_waterman as sw_kernels
from vidalign.similarity import CosineSimilarity
from vidalign.similarity_stats import matrix_median
cost = np.random.default_rng(0).random((9, 7))
dtw(cost)
smith_waterman(0.5 - cost, 0.2, 0.1)
fused_gw_dense(9, 7, lambda out: np.copyto(out, cost), alpha=0.3, eps=0.1, radius=0.2, dummy=0.5, n_iters=3)
matrix_median(CosineSimilarity(cost, cost))
print(LOADED)
"""


def _run(child: str, *args: str) -> list[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    code = child.replace("LOADED", TORCH_LOADED)
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def feature_files(tmp_path):
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(size=(60, 8)), axis=0)
    paths = [tmp_path / "a.npy", tmp_path / "b.npy"]
    np.save(paths[0], walk[::2].astype(np.float32))
    np.save(paths[1], walk[1::2][:25].astype(np.float32))
    return [str(path) for path in paths]


def test_the_cli_aligns_feature_files_without_torch(feature_files, tmp_path):
    assert _run(CLI_CHILD, *feature_files, str(tmp_path / "out")) == []


def test_the_api_aligns_feature_files_and_arrays_without_torch(feature_files):
    assert _run(API_CHILD, *feature_files) == []


def test_the_numpy_parts_of_the_ops_import_and_run_without_torch():
    assert _run(MODULES_CHILD) == []


def test_the_torch_ops_are_still_there():
    import vidalign.ops as ops
    from vidalign.ops.fgw import fused_gw
    from vidalign.ops.soft_dtw import soft_dtw

    assert ops.fused_gw is fused_gw and ops.soft_dtw is soft_dtw and callable(ops.sinkhorn)
    assert {"fused_gw", "fgw_mirror_descent", "FGWOutput"} <= set(dir(ops))
    with pytest.raises(AttributeError):
        ops.no_such_op  # noqa: B018


def test_the_thread_count_without_torch_follows_omp_num_threads(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not loaded
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert batching.thread_count() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2,1")  # nested levels: the outer one
    assert batching.thread_count() == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert batching.thread_count() == len(os.sched_getaffinity(0))
