"""Presets: the family-wide settings reach every method and a method's own sections still win."""

import pytest

from vidalign.presets import available_presets, load_preset


@pytest.mark.parametrize("method", available_presets())
def test_every_preset_loads_for_its_families_with_the_family_input_scaling(method):
    expected = {"default": "global", "penn_action": "channel", "synthetic": "channel"}
    for family, standardize in expected.items():
        assert load_preset(method, family)["encoder"]["standardize"] == standardize, family


def test_method_sections_override_family_settings_and_private_files_are_not_methods():
    assert "_families" not in available_presets()
    with pytest.raises(ValueError, match="no preset"):
        load_preset("_families")
    assert load_preset("asot", "mocap")["sampling"]["loss_frames"] == 128
    assert load_preset("vaot", "default")["sampling"]["loss_frames"] == 8
