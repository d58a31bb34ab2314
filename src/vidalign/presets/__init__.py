"""Hyper-parameter presets: one YAML per method, a ``default`` section plus one section per dataset family.

Each value carries its source in a comment (paper section / table or published config). Families:
``default`` (video features), ``penn_action`` (2-D pose features), ``mocap`` (joint-angle channels),
``synthetic`` (the embedded synthetic processes). Settings that follow from the kind of features rather than
from the method (e.g. how the encoder scales its input) live once per family in ``_families.yaml`` and are
overridden by the method's own sections.
"""

from __future__ import annotations

import copy
from importlib import resources

import yaml


def available_presets() -> list[str]:
    """Methods that ship a preset file."""
    files = resources.files(__package__).iterdir()
    return sorted(p.name[: -len(".yaml")] for p in files if p.name.endswith(".yaml") and not p.name.startswith("_"))


def deep_merge(base: dict, override: dict) -> dict:
    """``base`` updated recursively by ``override`` (new dict; nested dicts merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_preset(method: str, family: str = "default") -> dict:
    """``_families.yaml[family]``, then the ``default`` section of ``<method>.yaml``, then its ``family`` section."""
    path = resources.files(__package__) / f"{method}.yaml"
    if method.startswith("_") or not path.is_file():
        raise ValueError(f"no preset for method {method!r}; presets exist for {available_presets()}")
    sections = yaml.safe_load(path.read_text())
    if family not in sections:
        families = sorted(sections)
        raise ValueError(f"preset {method}.yaml has no {family!r} section; choose one of {families}")
    shared = yaml.safe_load((resources.files(__package__) / "_families.yaml").read_text())
    settings = deep_merge(shared.get(family, {}), sections["default"])
    return deep_merge(settings, sections[family]) if family != "default" else settings


def parse_override(text: str) -> dict:
    """``"loss.eps=0.05"`` -> ``{"loss": {"eps": 0.05}}`` (the value parsed as YAML)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--set expects KEY=VALUE (e.g. loss.eps=0.05), got {text!r}")
    out: dict = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = yaml.safe_load(value)
    return out
