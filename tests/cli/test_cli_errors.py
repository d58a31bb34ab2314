"""The CLI prints user errors (vidalign.errors) as one line and keeps the traceback of anything else."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

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
        (["--epochs", "-1"], "epochs must be an integer >= 0, got -1"),
        (["--set", "epochs=2.5"], "epochs must be an integer >= 0, got 2.5"),  # a TypeError at the epoch loop
        (["--set", "epochs=.inf"], "epochs must be an integer >= 0, got inf"),
        (["--set", "encoder.hidden=1.5"], "encoder.hidden must be an integer >= 1, got 1.5"),
        (["--set", "lr=-1"], "lr must be a finite number > 0, got -1"),
        (["--set", "encoder.hidden=0"], "encoder.hidden must be an integer >= 1, got 0"),
        (["--set", "encoder.dropout=2"], "encoder.dropout must be a number in [0, 1), got 2"),
        (["--set", "loss.temperature=0"], "loss.temperature must be > 0, got 0"),
    ],
)
def test_bad_training_settings_are_one_line_before_any_data_is_read(data, tmp_path, capsys, flags, expected):
    argv = ["train", "--data", str(data), "--method", "vaot", "--out", str(tmp_path / "run"), "--quiet", *flags]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "config.json").exists() and not (tmp_path / "run" / "settings.json").exists()


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


def test_ctrl_c_is_one_line_that_says_what_is_kept(monkeypatch, data, tmp_path, capsys):
    """Was a 25-44 line KeyboardInterrupt traceback."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("vidalign.training.train", interrupted)
    assert cli.main(["train", "--data", str(data), "--method", "vaot", "--out", str(tmp_path / "r"), "--quiet"]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "vidalign train: interrupted; " + cli.RESUMES["train"].removeprefix("; ")


def test_the_error_family_is_value_errors():
    for kind in (DataError, ConfigError, InputError, DeviceError):
        assert issubclass(kind, VidalignError) and issubclass(kind, ValueError)


def test_a_missing_run_directory_is_one_of_them(tiny_folder, tmp_path):
    """A mistyped --model raised a bare FileNotFoundError from the library, outside the documented family."""
    import vidalign as va

    feature = sorted((tiny_folder / "features").glob("*.npy"))[0]
    with pytest.raises(DataError, match="not found .*a `vidalign train` run directory") as caught:
        va.align(feature, feature, model=tmp_path / "nope")
    assert isinstance(caught.value, FileNotFoundError)  # still caught where it was caught before
    assert va.evaluate(tiny_folder, None, train_split="train", eval_split="val")["model"] == "none"  # was TypeError


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
        (["align", str(tmp_path / "empty"), feature], f"{tmp_path / 'empty'}: a folder, neither"),  # "file not found"
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
    assert "afile/sub: a file stands where a folder is expected" in capsys.readouterr().err
    assert cli.main([*argv[:-1], str(tmp_path / "afile"), "--no-viewer"]) == 2
    assert "afile: a file stands where a folder is expected" in capsys.readouterr().err  # was "[Errno 17]"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda run: (run / "config.json").write_text("{not json"), "not a run's config.json"),
        (lambda run: (run / "config.json").write_text("[1]"), "not a run's config.json"),
        (lambda run: (run / "config.json").write_text("{}"), "not a readable `vidalign train` run"),
        (lambda run: (run / "model.safetensors").write_bytes(b"\0" * 100), "not a readable `vidalign train` run"),
    ],
)
def test_a_damaged_run_is_one_line(damage, expected, tiny_folder, vaot_run, tmp_path, capsys):
    """A damaged run directory raised JSONDecodeError, KeyError or SafetensorError from every command."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(vaot_run, run)
    damage(run)
    features = [str(tiny_folder / "features" / f"video_00{k}.npy") for k in range(2)]
    assert cli.main(["align", *features, "--model", str(run), "--out", str(tmp_path / "o"), "--no-viewer"]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1


def test_a_damaged_checkpoint_is_one_line_on_resume(data, tmp_path, capsys):
    argv = ["train", "--data", str(data), "--method", "vaot", "--out", str(tmp_path / "run"), "--quiet"]
    assert cli.main([*argv, "--epochs", "1"]) == 0
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    tensors = {key: value.clone() for key, value in load_file(checkpoint).items()}  # not mapped: rewritten below
    with safe_open(checkpoint, "pt") as f:
        metadata = f.metadata()
    optimizer = json.loads(metadata["optimizer"])
    damaged = [  # garbage; then metadata missing or JSON of another shape (TypeError / AttributeError before)
        None, {}, {**metadata, "info": "[1]"}, {**metadata, "info": '{"epoch": "1"}'},
        {**metadata, "optimizer": json.dumps({**optimizer, "scalars": []})},
    ]  # fmt: skip
    for case in damaged:
        if case is None:
            checkpoint.write_bytes(b"\0" * 100)
        else:
            save_file(tensors, checkpoint, metadata=case)
        assert cli.main([*argv, "--epochs", "2"]) == 2, case
        err = capsys.readouterr().err.strip()
        assert "checkpoint.safetensors: unreadable" in err and "delete it" in err and len(err.splitlines()) == 1


def test_a_resume_measures_again_a_damaged_spread_record(data, tmp_path):
    argv = ["train", "--data", str(data), "--method", "vaot", "--out", str(tmp_path / "run"), "--quiet"]
    assert cli.main([*argv, "--epochs", "1"]) == 0
    config = tmp_path / "run" / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"spread": [0.5]}))  # AttributeError before
    assert cli.main([*argv, "--epochs", "2"]) == 0
    assert json.loads(config.read_text())["spread"]["epoch"] == 2


def test_out_of_range_options_are_one_line(tiny_folder, tmp_path, capsys):
    """--k inf, more k-means clusters than frames, a port beyond 65535, a render of size 0 or at fps inf."""
    features = [str(tiny_folder / "features" / f"video_00{k}.npy") for k in range(2)]
    cases = [
        (["compare", *features, "--k", "inf", "--out", str(tmp_path / "c")], "k must be finite"),
        (["segment", "--data", str(tiny_folder), "--model", "none", "--kmeans", "100000", "--out",
          str(tmp_path / "s")], "100000 clusters need at least as many frames"),
        (["view", str(tmp_path), "--no-browser", "--port", "70000"], "port must be in 0..65535"),
        (["render", "--out", str(tmp_path / "r0"), "--size", "0"], "integer size >= 16"),
        (["render", "--out", str(tmp_path / "r1"), "--fps", "inf"], "finite fps > 0"),
    ]  # fmt: skip
    for argv, expected in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "c").exists()


def test_trust_warnings_name_the_callers_line(tiny_folder):
    """They named a line inside vidalign (api.py's ``return Aligner(...)(a, b)``) instead of the user's call."""
    import vidalign as va
    from vidalign.errors import TrustWarning
    from vidalign.evaluation.protocols import FitOnScoredWarning

    rng = np.random.default_rng(0)
    with pytest.warns(TrustWarning) as caught:
        va.align(rng.normal(size=(30, 8)), rng.normal(size=(40, 8)))
    with pytest.warns(FitOnScoredWarning) as fitted:
        va.evaluate(tiny_folder, "none", protocol="vaot", fit_on_scored=True)
    assert {record.filename for record in [*caught, *fitted]} == {__file__}
