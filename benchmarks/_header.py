"""The header every generated table starts with: which commit, how long, on what machine."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def generation_info(started: float, *, reuses_runs: bool = False) -> dict[str, str]:
    """``commit``, ``wall time`` since ``started`` (``time.perf_counter()``; ``reuses_runs``: the script reuses
    runs found trained under its work folder, which the wall time then leaves out) and ``machine``."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    minutes = f"{(time.perf_counter() - started) / 60:.1f} min"
    return {
        "commit": commit.stdout.strip() or "unknown",
        "wall time": minutes + (" (runs found trained under --work are reused)" if reuses_runs else ""),
        "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
    }
