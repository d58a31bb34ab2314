"""The CLI prints user errors (vidalign.errors) as one line and keeps the traceback of anything else."""

from __future__ import annotations

import pytest

from vidalign import cli
from vidalign.data.synthetic import SyntheticConfig, write_synthetic_dataset
from vidalign.errors import ConfigError, DataError, DeviceError, InputError, VidalignError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    config = SyntheticConfig(n_videos=4, n_phases=2, dim=6, latent_dim=2, min_frames=20, max_frames=24, seed=4)
    return write_synthetic_dataset(tmp_path_factory.mktemp("errors") / "syn", config)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--set", "lrr=1"], "unknown training key 'lrr' (did you mean 'lr'?); valid keys: augment"),
        (["--set", "loss.epss=1"], "unknown vaot loss key 'epss' (did you mean 'eps'?)"),
        (["--set", "lr=fast"], "training key 'lr' takes a float, got 'fast'"),
        (["--preset", "mocapp"], "vaot has no preset 'mocapp'"),
        (["--device", "cuda:7"], "device 'cuda:7' requested"),
    ],
)
def test_bad_training_settings_are_one_line_before_any_data_is_read(data, tmp_path, capsys, flags, expected):
    argv = ["train", "--data", str(data), "--method", "vaot", "--out", str(tmp_path / "run"), "--quiet", *flags]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "config.json").exists()


def test_every_family_preset_trains_every_method_from_the_cli(data, tmp_path, capsys):
    """`--preset mocap` used to fail for six of eight methods; families now reach every method."""
    for method in ("tcc", "lav", "vava", "scl", "lac", "vaot"):
        argv = ["train", "--data", str(data), "--method", method, "--out", str(tmp_path / method), "--quiet"]
        assert cli.main([*argv, "--preset", "mocap", "--epochs", "0"]) == 0, capsys.readouterr().err


def test_a_bug_keeps_its_traceback(monkeypatch, data, tmp_path):
    def broken(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr("vidalign.training.train", broken)
    with pytest.raises(ValueError, match="an internal bug"):
        cli.main(["train", "--data", str(data), "--method", "vaot", "--out", str(tmp_path / "r"), "--quiet"])


def test_the_error_family_is_value_errors():
    for kind in (DataError, ConfigError, InputError, DeviceError):
        assert issubclass(kind, VidalignError) and issubclass(kind, ValueError)
