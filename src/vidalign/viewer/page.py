"""Writes the viewer folder (``docs/viewer.md``): the page's static files from ``vidalign/viewer/static`` and
``data.js``, which sets ``window.VIDALIGN_DATA`` to the result's payload (:mod:`vidalign.viewer.payload`). A
script file rather than a JSON file because browsers do not let a ``file://`` page fetch JSON.
"""

from __future__ import annotations

import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

from vidalign.atomic import atomic_write_text

__all__ = ["STATIC_FILES", "write_page"]

STATIC_FILES = ("index.html", "viewer.js", "viewer.css")


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_page(out_dir: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``OUT/index.html`` and its files for ``payload``; returns the page's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    static = resources.files("vidalign.viewer") / "static"
    for name in STATIC_FILES:
        atomic_write_text(out / name, (static / name).read_text(encoding="utf-8"))
    data = json.dumps(_finite(payload), allow_nan=False, separators=(",", ":"))
    atomic_write_text(out / "data.js", f"window.VIDALIGN_DATA = {data};\n")
    return out / "index.html"
