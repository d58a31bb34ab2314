"""Spread a batch over threads: the kernels release the GIL (``nogil=True``) and each call handles a contiguous
range of samples, so a plain thread pool runs them in parallel without numba's ``parallel=True`` (whose parfor
compilation would double the kernels' first-call compile time).

The thread count follows ``torch.get_num_threads()``, the one knob users already set (``OMP_NUM_THREADS``,
``torch.set_num_threads``), as the fused-GW path does. It must not come from ``numba.get_num_threads()``: that
call starts numba's threading layer, whose OpenMP back end sets the process-wide OpenMP thread count to
``NUMBA_NUM_THREADS`` (the core count by default) - the OpenMP runtime torch's own operators run on - so a user's
``OMP_NUM_THREADS=1`` silently became one torch thread per core, and several such processes on one machine
oversubscribed it (4x slower training measured on 2 cores). Torch is not imported for it: without torch loaded
(numpy callers, e.g. ``vidalign align --method ot`` of feature files) the count is the one torch would start with,
``OMP_NUM_THREADS`` or else the CPUs this process may run on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_pool: ThreadPoolExecutor | None = None
_pool_owner_pid: int | None = None


def _executor() -> ThreadPoolExecutor:
    """The process's pool (re-created after a fork: a forked child does not inherit the threads)."""
    global _pool, _pool_owner_pid
    if _pool is None or _pool_owner_pid != os.getpid():
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="vidalign-dp")
        _pool_owner_pid = os.getpid()
    return _pool


def thread_count() -> int:
    """``torch.get_num_threads()`` when torch is loaded, else ``OMP_NUM_THREADS`` (its first entry) or the number
    of CPUs this process may run on (module docstring)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    setting = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def split_by_work(work: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Contiguous ``[first, last)`` ranges of samples with about equal total ``work`` (non-empty ranges only)."""
    cumulative = np.cumsum(np.asarray(work, dtype=np.float64))
    targets = cumulative[-1] * np.arange(1, parts) / parts
    cuts = np.unique(np.concatenate([[0], np.searchsorted(cumulative, targets, side="left") + 1, [len(work)]]))
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def run_over_batch(kernel: Callable[..., object], work: np.ndarray, *args: object) -> None:
    """Call ``kernel(*args, first, last)`` on ranges of samples covering the batch, in parallel threads."""
    ranges = split_by_work(work, min(thread_count(), len(work)))
    if len(ranges) == 1:
        kernel(*args, *ranges[0])
        return
    futures = [_executor().submit(kernel, *args, first, last) for first, last in ranges]
    for future in futures:
        future.result()
