"""The CLI prints user errors (vidalign.errors) as one line and keeps the traceback of anything else."""

from __future__ import annotations

import contextlib

import numpy as np
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


def test_compare_and_retrieve_name_the_bad_input_in_one_line(tiny_folder, vaot_run, tmp_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    (tmp_path / "empty").mkdir()
    other_dim = tmp_path / "other.npy"
    np.save(other_dim, np.zeros((20, 7), np.float32))
    feature = str(tiny_folder / "features" / f"{sorted((tiny_folder / 'features').glob('*.npy'))[0].stem}.npy")
    cases = [
        (["compare", str(broken), feature, "--backbone", "pixel"], f"{broken}: cannot open as a video"),
        (["compare", str(other_dim), str(other_dim), "--model", str(vaot_run)], f"but {other_dim} holds 7-d"),
        (["retrieve", feature, "--frame", "9999", "--in", str(tiny_folder)], "frame 9999 is outside the query"),
        (["retrieve", feature, "--frame", "1", "--in", str(tmp_path / "empty")], f"{tmp_path / 'empty'}: neither"),
    ]
    for flags, expected in cases:
        assert cli.main([*flags, "--out", str(tmp_path / "out"), "--quiet"]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and expected in error, error


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "sw", "--sw-threshold", "nan"], "finite number"),
        (["--method", "sw", "--gap-open", "-1"], "gap_open must be a finite number >= 0"),
        (["--method", "sw", "--gap-extend", "inf"], "gap_extend must be a finite number >= 0"),
        (["--gap-open", "0.3"], "add --method sw"),
        (["--method", "sw", "--ot-iters", "5"], "add --method ot"),
        (["--stride", "0"], "stride must be a positive integer"),
        (["--fps", "-1"], "fps must be positive"),
    ],
)
def test_align_refuses_options_it_would_ignore_or_could_not_use(extra, message, tmp_path, capsys):
    a = np.random.default_rng(0).normal(size=(20, 4))
    np.save(tmp_path / "a.npy", a)
    argv = ["align", str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "--out", str(tmp_path / "o"), "--no-viewer"]
    with pytest.raises(SystemExit) if message == "finite number" else contextlib.nullcontext():
        assert cli.main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err


def test_a_path_that_is_a_file_is_one_line(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(size=(20, 4)))
    (tmp_path / "afile").write_text("")
    argv = ["align", str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "--out", str(tmp_path / "afile" / "sub")]
    assert cli.main([*argv, "--no-viewer"]) == 2
    assert "vidalign align: error:" in capsys.readouterr().err
