"""Presets: families and named sections merge in order, the data folder picks its own, every preset builds."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from vidalign.data.layout import FEATURE_FAMILIES, write_dataset_info
from vidalign.errors import ConfigError
from vidalign.losses import loss_class
from vidalign.models.heads import EncoderConfig
from vidalign.models.model import VidalignModel
from vidalign.presets import (
    available_presets,
    load_preset,
    method_sections,
    preset_names,
    resolve_preset,
    train_settings,
)
from vidalign.training import TrainConfig


def test_feature_families_have_one_section_each():
    from importlib import resources

    families = yaml.safe_load((resources.files("vidalign.presets") / "_families.yaml").read_text())
    assert set(families) == set(FEATURE_FAMILIES)


@pytest.mark.parametrize("method", available_presets())
def test_every_family_reaches_every_method_with_its_input_scaling(method):
    video = "video" if method in ("vaot", "vasot") else "global"  # their own video sections scale per recording
    expected = {"video": video, "pose": "channel", "mocap": "channel", "synthetic": "channel", "fisher": "none"}
    for family, standardize in expected.items():
        assert resolve_preset(method, family).settings["encoder"]["standardize"] == standardize, family
    assert load_preset(method)["encoder"]["standardize"] == video  # no family known: video


@pytest.mark.parametrize("method", available_presets())
def test_every_preset_of_every_method_builds_a_model(method, tmp_path):
    for name in preset_names(method):
        section = method_sections(method).get(name, {})
        data = tmp_path / next(iter(section.get("clusters_per_activity", {"x": 0})))
        settings = train_settings(method, data, tmp_path / "run", preset=name)
        config = TrainConfig.from_dict(settings)
        encoder = dataclasses.replace(config.encoder, in_dim=12)
        loss = dict(config.loss)
        if loss_class(method).segmentation:
            loss.setdefault("n_clusters", 3)
            loss.setdefault("dim", encoder.out_dim)
        VidalignModel(method, EncoderConfig.from_dict(encoder.to_dict()), loss)
        assert config.preset.split("+")[0] in FEATURE_FAMILIES, name


def test_named_sections_declare_their_family_and_merge_after_it():
    resolved = resolve_preset("asot", "mocap6")
    assert (resolved.family, resolved.sections, resolved.label) == ("mocap", ["mocap6"], "mocap+mocap6")
    assert resolved.settings["sampling"]["loss_frames"] == 128 and resolved.settings["loss"]["rho"] == 0.0
    assert resolve_preset("asot", "mocap").settings["loss"]["rho"] == 0.15  # the family alone: no mocap6 values
    # VAOT's video section (the default family) over its default section, and a named section over both
    synthetic = load_preset("vaot", "synthetic")
    assert synthetic["sampling"]["loss_frames"] == 8
    video = load_preset("vaot", "default")
    assert (video["sampling"]["loss_frames"], video["loss"]["rho"], video["loss"]["idm"]) == (64, 1.0, 0.2)
    assert (video["loss"]["prior"], video["loss"]["eps"]) == ("dtw", 0.04)
    assert "prior" not in synthetic["loss"]
    assert (synthetic["loss"]["eps"], synthetic["loss"]["temperature"]) == (0.07, 0.1)
    assert (video["epochs"], video["encoder"]["standardize"], video["loss"]["temperature"]) == (4, "video", 0.2)
    pouring = resolve_preset("vaot", "pouring").settings  # a published configuration: the video section undone
    assert (pouring["sampling"]["loss_frames"], pouring["loss"]["rho"], pouring["loss"]["idm"]) == (20, 0.35, 0.5)
    assert (pouring["epochs"], pouring["encoder"]["standardize"]) == (30, "global")
    for named in ("pouring", "penn_action_video", "official"):  # the VAOT code's temperature and prior
        loss = resolve_preset("vaot", named).settings["loss"]
        assert (loss["temperature"], loss["rho"], loss["prior"], loss["eps"]) == (0.1, 0.35, "diagonal", 0.07), named
    assert resolve_preset("vaot", "pose+official").settings["encoder"]["standardize"] == "channel"
    assert resolve_preset("vaot", "official").settings["loss"]["solver"] == "published"
    with pytest.raises(ValueError, match="pose features, not mocap"):
        resolve_preset("vaot", "mocap+penn_action")
    with pytest.raises(ValueError, match="no preset 'mocapp'"):
        resolve_preset("vaot", "mocapp")
    with pytest.raises(ValueError, match="no preset"):
        load_preset("_families")


def test_the_data_folder_picks_its_family_and_dataset_preset(tmp_path):
    """A Penn Action folder (dataset.json: pose, penn_action) gives VASOT its number of actions with no --preset."""
    folder = tmp_path / "golf_swing"
    folder.mkdir()
    write_dataset_info(folder, feature_family="pose", dataset="penn_action")
    resolved = resolve_preset("vasot", None, folder)
    assert (resolved.family, resolved.sections) == ("pose", ["penn_action"])
    assert resolved.settings["loss"]["n_clusters"] == 4 and resolved.settings["encoder"]["standardize"] == "channel"
    assert resolved.family_source == "preset penn_action"
    assert resolve_preset("tcc", None, folder).sections == ["penn_action"]
    other = tmp_path / "mocap"
    other.mkdir()
    write_dataset_info(other, feature_family="mocap")
    resolved = resolve_preset("vaot", "official", other)
    assert (resolved.family, resolved.family_source) == ("mocap", f"{other}/dataset.json")
    assert train_settings("vaot", other, tmp_path / "r", preset="official")["preset"] == "mocap+official"
    # the family's source and a clash name the presets that declare a family, not their neighbours in the list
    assert resolve_preset("vaot", "official+penn_action").family_source == "preset penn_action"
    with pytest.raises(ValueError, match="preset 'pouring' is for video features, not pose"):
        resolve_preset("vaot", "official+penn_action+pouring")


def test_clusters_per_activity_come_from_the_folder_name(tmp_path):
    assert load_preset("asot", "breakfast", tmp_path / "coffee")["loss"]["n_clusters"] == 7
    assert load_preset("vasot", "yti", tmp_path / "cpr")["loss"]["n_clusters"] == 7
    with pytest.raises(ValueError, match="name the data folder after one of"):
        load_preset("asot", "breakfast", tmp_path / "P03_coffee")
    settings = load_preset("asot", "breakfast", tmp_path / "pancake")
    assert settings["encoder"]["standardize"] == "video" and "clusters_per_activity" not in settings


def test_overrides_and_explicit_fields_win(tmp_path):
    settings = train_settings("vaot", tmp_path, tmp_path / "run", overrides=["loss.eps=0.05"], epochs=3, seed=None)
    assert settings["loss"]["eps"] == 0.05 and settings["epochs"] == 3 and "seed" not in settings
    assert settings["preset"] == "video"


def test_vasot_composes_the_asot_and_vaot_sections_instead_of_copying_them():
    asot, vaot = method_sections("asot"), method_sections("vaot")
    vasot = method_sections("vasot")
    assert vasot["default"]["loss"]["asot"] == asot["default"]["loss"]
    keys = ("dummy", "temperature", "idm")
    own = {"idm_unit": "loss_frames"}  # the one value VAOT's section does not have
    assert vasot["default"]["loss"]["vaot"] == {**{k: vaot["default"]["loss"][k] for k in keys}, **own}
    assert vasot["default"]["augment"] == vaot["default"]["augment"]
    assert vasot["mocap6"]["sampling"] == asot["mocap6"]["sampling"]
    assert vasot["desktop_assembly"]["encoder"] == asot["desktop_assembly"]["encoder"]
    assert vasot["desktop_assembly"]["loss"]["asot"] == {"rho": 0.25, "lam": 0.16, "radius": 0.02}
    settings = load_preset("vasot", "desktop_assembly")
    assert settings["loss"]["asot"]["alpha"] == asot["default"]["loss"]["alpha"]  # default half, then the section


VASOT_BENCHMARKS = ["breakfast", "yti", "50salads_eval", "50salads_mid", "desktop_assembly", "ikea_asm"]


@pytest.mark.parametrize("dataset", VASOT_BENCHMARKS)
def test_vasot_benchmark_presets_train_as_the_published_code_without_augmentation_or_regulariser(dataset, tmp_path):
    folder = tmp_path / {"breakfast": "coffee", "yti": "cpr"}.get(dataset, "data")
    settings = load_preset("vasot", dataset, folder)
    assert settings["sampling"]["loss_frames"] == 256
    assert settings["augment"] == {"noise": 0.0, "gain": 0.0, "speed_min": 1.0, "speed_max": 1.0}
    assert settings["loss"]["vaot"]["idm"] == 0.0  # the published loss, without our regulariser
    # the preset's own family, not the video section's settings, with or without a dataset.json saying video
    assert resolve_preset("vasot", dataset, folder).family == "fisher"
    folder.mkdir(parents=True)
    write_dataset_info(folder, feature_family="video")
    assert load_preset("vasot", dataset, folder) == settings
    assert settings["loss"]["beta"] == 1.0 and settings["loss"]["align_ot"] == "shared"


def test_vasot_video_section_takes_vaots_video_values_for_its_alignment_half(tmp_path):
    vaot, vasot = load_preset("vaot", "video"), load_preset("vasot", "video")
    for key in ("rho", "prior", "eps", "idm", "temperature"):
        assert vasot["loss"]["vaot"][key] == vaot["loss"][key]
    assert vasot["loss"]["align_ot"] == "vaot" and vasot["loss"]["beta"] == 2.0
    assert vasot["encoder"]["standardize"] == "video" and vasot["sampling"]["loss_frames"] == 64
    assert vasot["loss"]["asot"] == load_preset("vasot", "synthetic")["loss"]["asot"]  # ASOT's half as elsewhere
    with pytest.raises(ConfigError, match="is for fisher features, not video"):
        resolve_preset("vasot", "video+breakfast", tmp_path / "coffee")


def test_a_preset_reference_must_name_an_existing_mapping_and_not_loop(monkeypatch):
    import vidalign.presets as presets

    files = {
        "a.yaml": {"default": {"loss": {"from": "b/default/loss", "eps": 2}}},
        "b.yaml": {"default": {"loss": {"eps": 1, "rho": 3}}},
        "c.yaml": {"default": {"loss": {"from": "b/default/nothing"}}},
        "d.yaml": {"default": {"loss": {"from": "b/default/loss", "keys": ["lam"]}}},
        "e.yaml": {"default": {"loss": {"from": "e/default/other"}}, "other": {}},
        "f.yaml": {"default": {"loss": {"from": "g/default/loss"}}},
        "g.yaml": {"default": {"loss": {"from": "f/default/loss"}}},
    }
    monkeypatch.setattr(presets, "_yaml", lambda name: files[name])

    class Files:
        def __truediv__(self, name):
            return type("F", (), {"is_file": lambda _: name in files})()

    monkeypatch.setattr(presets.resources, "files", lambda _: Files())
    assert presets.method_sections("a")["default"]["loss"] == {"eps": 2, "rho": 3}
    for method, message in (
        ("c", "names no mapping"),
        ("d", r"has no \['lam'\]"),
        ("e", "loops back into e"),
        ("f", "loops back into f -> g"),
    ):
        with pytest.raises(ConfigError, match=message):
            presets.method_sections(method)


def test_set_values_parse_as_yaml_and_exponent_numbers_as_numbers():
    from vidalign.presets import parse_override

    assert parse_override("lr=1e-4") == {"lr": 1e-4}  # YAML 1.1 alone reads "1e-4" as a string
    assert parse_override("loss.eps=2.5E-2") == {"loss": {"eps": 0.025}}
    assert parse_override("loss.solver=published") == {"loss": {"solver": "published"}}
    assert parse_override("sampling.loss_frames=8") == {"sampling": {"loss_frames": 8}}
    assert parse_override("augment.mirror_channels=[0, 1]") == {"augment": {"mirror_channels": [0, 1]}}
    assert parse_override("name=nan") == {"name": "nan"}


def test_lac_drifts_each_view_except_in_the_published_configuration(tmp_path):
    ours = train_settings("lac", tmp_path / "data", tmp_path / "run")
    assert ours["augment"]["drift"] == 0.25 and ours["loss"]["formulation"] == "ours"
    assert ours["loss"]["alignment_sign"] == "reward" and ours["loss"]["gap_model"] == "transitions"
    published = train_settings("lac", tmp_path / "data", tmp_path / "run", preset="official")
    assert published["augment"]["drift"] == 0.0 and published["loss"]["formulation"] == "official"
    assert train_settings("scl", tmp_path / "data", tmp_path / "run")["augment"].get("drift", 0.0) == 0.0
