"""The front door ``import vidalign as va`` (``vidalign/__init__.py``): its names stay the api's functions whatever
else has been imported."""

from __future__ import annotations

import importlib
import pkgutil

import vidalign as va
from vidalign import api


def test_no_submodule_is_named_like_a_front_door_name():
    # importing a submodule binds it as an attribute of the package, over the lazily imported function of that name
    submodules = {module.name for module in pkgutil.iter_modules(va.__path__)}
    assert not submodules & set(api.__all__)


def test_va_finetune_is_the_function_after_the_fine_tuning_package_was_imported():
    importlib.import_module("vidalign.finetuning")  # what a first va.finetune(...) call imports
    assert va.finetune is api.finetune
