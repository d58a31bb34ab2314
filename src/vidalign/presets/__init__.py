"""Hyper-parameter presets (``docs/presets.md``): one YAML per method, every value with its source in a comment.

A method's YAML holds a ``default`` section and named sections of two kinds:

- **feature families** (``video``, ``pose``, ``mocap``, ``synthetic``, ``fisher``: what the frame features are).
  Settings that follow from the kind of features for *every* method (how the encoder scales its input) live
  once in ``_families.yaml``; a method may add its own section of the same name.
- **named presets**: a benchmark dataset's published configuration (``penn_action``, ``breakfast``, ...) or a
  variant of the method (``official``). A section may declare ``family: NAME`` (the features it expects) and
  ``clusters_per_activity: {activity: K}`` (K chosen by the data folder's name, e.g. ``breakfast/coffee``).

A mapping anywhere in a section may compose another preset file's values instead of copying them:
``{from: METHOD/SECTION/KEY.PATH, keys: [...]}`` stands for that mapping of ``METHOD.yaml`` (only ``keys`` when
given), updated by the mapping's other entries (``vasot.yaml`` takes its segmentation half from ``asot.yaml``).

:func:`resolve_preset` merges, in this order: ``_families.yaml[family]``, the method's ``default``, the method's
``family`` section (if any), then each named preset in the order given. Without a family among the names the
family is the one a named preset declares, else the one recorded in the data folder's ``dataset.json``
(:mod:`vidalign.data.layout`), else ``video``. Without any names, the folder's recorded dataset is used as a
named preset when the method has a section of that name (so ``vidalign train --data penn/golf_swing`` picks
``penn_action`` by itself), and the method's ``repeated`` section is added before it when the training split's
recordings repeat a movement (:mod:`vidalign.presets.repeats`; naming any preset turns the check off).
"""

from __future__ import annotations

import copy
import dataclasses
from importlib import resources
from pathlib import Path

import yaml

from vidalign.data.layout import FEATURE_FAMILIES, TRAIN_SPLIT, read_dataset_info
from vidalign.errors import ConfigError
from vidalign.presets.repeats import REPEATED, median_periodicity, repeats

DEFAULT_FAMILY = "video"
_SECTION_KEYS = ("family", "clusters_per_activity")  # consumed here, never passed on to the training config


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


def _yaml(name: str) -> dict:
    return yaml.safe_load((resources.files(__package__) / name).read_text()) or {}


def method_sections(method: str) -> dict:
    """All sections of ``<method>.yaml``, ``from:`` references resolved (module docstring)."""
    return _sections(method, ())


def _sections(method: str, chain: tuple[str, ...]) -> dict:
    """The sections of ``method``'s file, resolved as part of the reference ``chain`` (methods being resolved)."""
    path = resources.files(__package__) / f"{method}.yaml"
    if method.startswith("_") or not path.is_file():
        raise ConfigError(f"no preset for method {method!r}; presets exist for {available_presets()}")
    return _compose(_yaml(f"{method}.yaml"), (*chain, method))


def _compose(node, chain: tuple[str, ...]):
    """``node`` with every ``{from: ..., keys: ...}`` mapping replaced by the values it names (a reference back
    into a method of ``chain`` is a cycle)."""
    if not isinstance(node, dict):
        return node
    node = {key: _compose(value, chain) for key, value in node.items()}
    if "from" not in node:
        return node
    reference, keys = node.pop("from"), node.pop("keys", None)
    method, _, path = str(reference).partition("/")
    section, _, dotted = path.partition("/")
    if method in chain:
        raise ConfigError(f"preset reference {reference!r} loops back into {' -> '.join(chain)}")
    value = _sections(method, chain).get(section)
    for key in dotted.split(".") if dotted else []:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, dict):
        raise ConfigError(f"preset reference {reference!r} names no mapping (METHOD/SECTION/KEY.PATH)")
    if keys is not None:
        missing = sorted(set(keys) - set(value))
        if missing:
            raise ConfigError(f"preset reference {reference!r} has no {missing}")
        value = {key: value[key] for key in keys}
    return deep_merge(value, node)


def preset_names(method: str) -> list[str]:
    """Every name ``--preset`` accepts for ``method``: the feature families and the method's named sections."""
    return sorted(set(FEATURE_FAMILIES) | set(method_sections(method)) - {"default"})


@dataclasses.dataclass
class ResolvedPreset:
    """Merged settings (ready for :class:`vidalign.training.TrainConfig`) and how they were chosen."""

    settings: dict
    family: str
    sections: list[str]  # named presets applied after the family, in order
    family_source: str  # "given", "preset <name>", "<data>/dataset.json" or "default"
    periodicity: float | None = None  # the recordings' median periodicity, when it was measured (repeats.py)

    @property
    def label(self) -> str:
        """``family+preset+...``: what a run's config records as its preset."""
        return "+".join([self.family, *self.sections])


def _split_names(names: str | list[str] | None) -> list[str]:
    if names is None:
        return []
    parts = names.split("+") if isinstance(names, str) else [p for n in names for p in n.split("+")]
    return [p.strip() for p in parts if p.strip() and p.strip() != "auto"]


def _activity_clusters(section: dict, name: str, data: str | Path | None) -> int:
    table = section["clusters_per_activity"]
    activity = Path(data).name if data is not None else None
    if activity not in table:
        raise ConfigError(
            f"preset {name!r} sets K per activity: name the data folder after one of {sorted(table)} "
            f"(got {activity!r}) or give loss.n_clusters"
        )
    return int(table[activity])


def resolve_preset(
    method: str, names: str | list[str] | None = None, data: str | Path | None = None, split: str = TRAIN_SPLIT
) -> ResolvedPreset:
    """Merge the preset sections for ``method`` (module docstring); ``names``: ``"breakfast"``,
    ``"pose+official"``, a list of such names, or None / ``"auto"`` (chosen from ``data``'s ``dataset.json``, and
    the method's ``repeated`` section added when ``split``'s recordings repeat a movement: :mod:`.repeats`)."""
    sections = method_sections(method)
    families = _yaml("_families.yaml")
    requested = _split_names(names)
    unknown = [n for n in requested if (n not in families and n not in sections) or n == "default"]
    if unknown:
        raise ConfigError(f"{method} has no preset {unknown[0]!r}; choose from {preset_names(method)}")
    given_families = [n for n in requested if n in FEATURE_FAMILIES]
    named = [n for n in requested if n not in FEATURE_FAMILIES]
    if len(given_families) > 1:
        raise ConfigError(f"presets name two feature families ({' and '.join(given_families)}); give one")
    info = read_dataset_info(data) if data is not None and Path(data).is_dir() else {}
    if not requested and info.get("dataset") in sections:
        named = [info["dataset"]]
    periodicity = None
    if not requested and REPEATED in sections and data is not None and Path(data).is_dir():
        periodicity = median_periodicity(data, split)
        named = [REPEATED, *named] if repeats(periodicity) else named
    declared = [(n, sections[n]["family"]) for n in named if "family" in sections[n]]  # (preset, its family)
    if given_families:
        family, source = given_families[0], "given"
    elif declared:
        family, source = declared[0][1], f"preset {declared[0][0]}"
    elif info.get("feature_family"):
        family, source = info["feature_family"], f"{data}/dataset.json"
    else:
        family, source = DEFAULT_FAMILY, "default"
    for name, wanted in declared:
        if wanted != family:
            raise ConfigError(f"preset {name!r} is for {wanted} features, not {family}")
    settings = deep_merge(families[family], sections["default"])
    if family in sections:
        settings = deep_merge(settings, sections[family])
    for name in named:
        section = sections[name]
        settings = deep_merge(settings, {k: v for k, v in section.items() if k not in _SECTION_KEYS})
        if "clusters_per_activity" in section:
            clusters = {"n_clusters": _activity_clusters(section, name, data)}
            settings = deep_merge(settings, {"loss": clusters})
    return ResolvedPreset(settings, family, named, source, periodicity)


def load_preset(method: str, names: str | list[str] | None = "default", data: str | Path | None = None) -> dict:
    """The merged settings of :func:`resolve_preset` (``"default"`` = the video family, no named preset)."""
    return resolve_preset(method, None if names == "default" else names, data).settings


def parse_override(text: str) -> dict:
    """``"loss.eps=0.05"`` -> ``{"loss": {"eps": 0.05}}`` (the value parsed as YAML, except that a number in
    exponent form without a decimal point, ``1e-4``, is a number: YAML 1.1 would read it as a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. loss.eps=0.05), got {text!r}")
    out: dict = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str):
        try:
            parsed = float(parsed) if parsed.strip().lower() not in ("nan", "inf", "-inf", "infinity") else parsed
        except ValueError:
            pass
    node[parts[-1]] = parsed
    return out


def train_settings(
    method: str,
    data: str | Path,
    out: str | Path,
    *,
    preset: str | list[str] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    **explicit,
) -> dict:
    """The one preset -> training-config merge (CLI, demo, benchmarks): resolved preset, then ``overrides``
    (``"KEY=VALUE"`` strings), then ``explicit`` fields (``split``, ``seed``, ``epochs``, ...; None = unset). The
    preset is resolved for the split that will be trained (``explicit``'s, else the last ``split=`` override's)."""
    parsed = [parse_override(text) for text in overrides]
    split = next((p["split"] for p in reversed(parsed) if isinstance(p.get("split"), str)), TRAIN_SPLIT)
    resolved = resolve_preset(method, preset, data, explicit.get("split") or split)
    settings = resolved.settings
    for override in parsed:
        settings = deep_merge(settings, override)
    fields = {"method": method, "data": str(data), "out": str(out), "preset": resolved.label}
    fields.update({k: v for k, v in explicit.items() if v is not None})
    return deep_merge(settings, fields)
