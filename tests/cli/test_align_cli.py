"""``vidalign align`` end to end: .npy inputs, videos (sampled frames kept in sync in the side-by-side video),
model inputs and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from vidalign import cli
from vidalign.data.layout import write_video as write_video_features
from vidalign.data.video import probe, read_frames

DESIGN_KEYS = ["pairs", "a_to_b", "score", "matched_a", "matched_b"]

PAGE = ["data.js", "index.html", "viewer.css", "viewer.js"]  # the viewer (tests/viewer)


def run_cli(*argv: str) -> int:
    return cli.main([str(arg) for arg in argv])


def test_npy_inputs_write_json_and_plot_but_no_video(tmp_path, capsys):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((12, 16)).astype(np.float32)
    np.save(tmp_path / "a.npy", base.T.copy())  # MS-TCN layout [D, T]
    np.save(tmp_path / "b.npy", base[[0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 10, 11]].T.copy())
    out = tmp_path / "out"
    assert run_cli("align", tmp_path / "a.npy", tmp_path / "b.npy", "--layout", "dt", "--out", out, "--quiet") == 0
    assert sorted(p.name for p in out.iterdir()) == ["alignment.json", "alignment.png", *PAGE]  # no media/
    result = json.loads((out / "alignment.json").read_text())
    assert list(result)[:5] == DESIGN_KEYS and result["method"] == "dtw"
    assert result["a_to_b"] == [0, 1, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13]  # B holds A1 at j = 1, 2: the lower middle
    assert result["a"]["kind"] == "features" and result["a"]["n_frames"] == 12 and result["backbone"] is None
    assert result["a"]["fps"] is None and result["a"]["timestamps"] is None
    assert "dtw: dtw_cost" in capsys.readouterr().out


def test_feature_folder_inputs_carry_their_timestamps(tmp_path):
    root = tmp_path / "data"
    write_video_features(
        root, "x", np.eye(4, dtype=np.float32), meta={"fps": 2.0, "frame_timestamps": [0, 0.5, 1, 1.5]}
    )
    out = tmp_path / "out"
    features = root / "features" / "x.npy"
    assert run_cli("align", features, features, "--method", "sw", "--out", out, "--quiet") == 0
    result = json.loads((out / "alignment.json").read_text())
    assert result["a"]["fps"] == 2.0 and result["b"]["timestamps"] == [0, 0.5, 1, 1.5]
    assert result["a_to_b"] == [0, 1, 2, 3]


@pytest.mark.parametrize("method", ["dtw", "sw"])
def test_videos_write_a_side_by_side_video_in_sync_with_the_sampled_frames(clips, coded, tmp_path, capsys, method):
    out = tmp_path / "out"
    argv = ["align", clips.a, clips.b, "--method", method, "--backbone", "pixel", "--stride", "2", "--out", out]
    assert run_cli(*argv, "--quiet") == 0
    names = ["alignment.json", "alignment.png", *PAGE, "media", "side_by_side.mp4"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    result = json.loads((out / "alignment.json").read_text())
    a_codes, b_codes = clips.a_codes[::2], clips.b_codes[::2]  # what stride 2 samples
    assert len(result["a_to_b"]) == len(a_codes) == 10 and result["backbone"] == "pixel"
    assert result["a"]["fps"] == 5.0 and result["b"]["timestamps"][:2] == [0.0, 0.2]
    matched = [(i, j) for i, j in enumerate(result["a_to_b"]) if j is not None]
    assert len(matched) >= 8 and all(abs(b_codes[j] - a_codes[i]) <= 1 for i, j in matched)

    frames, timestamps, _ = read_frames(out / "side_by_side.mp4")
    info = probe(out / "side_by_side.mp4")
    assert len(frames) == 10 and info.fps == pytest.approx(5.0)
    below_text = slice(coded.height // 2, coded.height - 4)
    for i, frame in enumerate(frames):
        assert coded.index(frame[below_text, 8 : coded.width - 8]) == a_codes[i]
        right = frame[below_text, coded.width + 12 : -8]
        j = result["a_to_b"][i]
        if j is None:
            assert np.abs(right.astype(int) - 96).max() <= 8  # the grey "unmatched" placeholder
        else:
            assert coded.index(right) == b_codes[j]
    assert "side_by_side.mp4" in capsys.readouterr().out


def test_a_model_with_other_input_dims_is_a_one_line_error(clips, vaot_run, tiny_folder, tmp_path, capsys):
    argv = ["align", clips.a, clips.b, "--model", vaot_run, "--backbone", "pixel", "--out", tmp_path / "o"]
    assert run_cli(*argv, "--quiet") == 2
    err = capsys.readouterr().err.strip()
    assert "takes 16-d features but backbone pixel gives 240-d" in err and "\n" not in err
    features = tiny_folder / "features"
    argv = ["align", features / "video_000.npy", features / "video_001.npy", "--model", vaot_run, "--out", tmp_path]
    assert run_cli(*argv, "--method", "ot") == 0
    result = json.loads((tmp_path / "alignment.json").read_text())
    assert result["model"] == str(vaot_run) and result["method"] == "ot"


def bad_input(kind: str, directory: Path) -> Path:
    """A file ``vidalign align`` must refuse: missing, not a video, or features of a single frame."""
    path = directory / {"missing": "missing.mp4", "text": "notes.txt", "one_frame": "x.npy"}[kind]
    if kind == "text":
        path.write_text("hello")
    elif kind == "one_frame":
        np.save(path, np.zeros((1, 4), np.float32))
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "missing.mp4: no such file"),
        ("text", "notes.txt: cannot open as a video"),
        ("one_frame", r"x.npy: 1 frame\(s\)"),
    ],
)
def test_bad_inputs_give_one_line_errors(clips, tmp_path, capsys, kind, message):
    argv = ["align", bad_input(kind, tmp_path), clips.b, "--backbone", "pixel", "--out", tmp_path / "o", "--quiet"]
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vidalign align: error:") and "\n" not in err
    assert re.search(message, err)


def test_band_option_and_its_one_line_warning(tmp_path, capsys):
    rng = np.random.default_rng(7)
    base = np.cumsum(rng.standard_normal((120, 8)), axis=0).astype(np.float32)
    np.save(tmp_path / "a.npy", base)
    np.save(tmp_path / "b.npy", base[np.r_[np.zeros(40, int), np.arange(120)]])  # B waits, then plays A
    out = tmp_path / "out"
    argv = ["align", tmp_path / "a.npy", tmp_path / "b.npy", "--out", out, "--quiet"]
    assert run_cli(*argv, "--method", "sw", "--band", "0.6") == 0
    assert json.loads((out / "alignment.json").read_text())["parameters"]["band_edge"] is False
    assert "warning" not in capsys.readouterr().err
    assert run_cli(*argv, "--band", "4") == 0
    parameters = json.loads((out / "alignment.json").read_text())["parameters"]
    assert parameters["band"] == 4 and parameters["band_edge"] is True
    assert capsys.readouterr().err.count("vidalign align: warning: the dtw alignment touches the edge of the band") == 1
    assert run_cli(*argv, "--band", "0") == 2
    assert "band must be a positive number" in capsys.readouterr().err


def test_a_repeated_movement_is_trusted_by_its_phase_and_says_so(repeated_pair, tmp_path, capsys):
    for name, features in zip("ab", repeated_pair, strict=True):
        np.save(tmp_path / f"{name}.npy", features.astype(np.float32))
    assert run_cli("align", tmp_path / "a.npy", tmp_path / "b.npy", "--out", tmp_path / "out", "--quiet") == 0
    out, err = capsys.readouterr()
    assert "note: both recordings repeat a movement (every ~18 / ~30 frames)" in out and "warning" not in err
    confidence = json.loads((tmp_path / "out" / "alignment.json").read_text())["confidence"]
    assert confidence["judged_by"] == "phase" and confidence["trusted"] and confidence["periods"] == [18, 30]


def test_standardize_option(repeated_pair, vaot_run, tmp_path, capsys):
    for name, features in zip("ab", repeated_pair, strict=True):
        np.save(tmp_path / f"{name}.npy", features.astype(np.float32))
    inputs = (tmp_path / "a.npy", tmp_path / "b.npy")
    assert run_cli("align", *inputs, "--standardize", "--out", tmp_path / "out", "--quiet", "--no-viewer") == 0
    assert json.loads((tmp_path / "out" / "alignment.json").read_text())["a"]["standardized"] is True
    assert run_cli("compare", *inputs, "--standardize", "--out", tmp_path / "cmp", "--quiet", "--no-viewer") == 0
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["query"]["standardized"] is True
    assert run_cli("align", *inputs, "--standardize", "--model", vaot_run, "--out", tmp_path / "o2") == 2
    assert "standardize applies to raw features" in capsys.readouterr().err


def test_videos_are_standardised_by_default_in_dtw_only(clips, tmp_path, capsys):
    options = ["--backbone", "pixel", "--stride", "2", "--quiet", "--no-viewer"]
    cases = {
        ("align", "--method", "dtw"): True,
        ("align", "--method", "ot"): False,  # standardised, OT leaves most frames of two people unmatched
        ("align", "--method", "ot", "--standardize"): True,
        ("align", "--method", "sw"): False,
        ("align", "--method", "dtw", "--no-standardize"): False,
        ("compare",): False,  # only when asked: a long foreign stretch would shift the query's statistics
        ("compare", "--standardize"): True,
    }
    for (command, *extra), standardized in cases.items():
        out = tmp_path / "-".join([command, *extra])
        assert run_cli(command, clips.a, clips.b, *options, *extra, "--out", out) == 0
        said = "raw features standardised per recording" in capsys.readouterr().out
        result = json.loads((out / f"{'alignment' if command == 'align' else 'compare'}.json").read_text())
        first, second = (result["a"], result["b"]) if command == "align" else (result["reference"], result["query"])
        assert first.get("standardized", False) is second.get("standardized", False) is standardized
        assert said is standardized
    coded_a = np.asarray(clips.a_codes[::2])
    coded_b = np.asarray(clips.b_codes[::2])
    a_to_b = json.loads((tmp_path / "align---method-dtw" / "alignment.json").read_text())["a_to_b"]
    assert np.abs(coded_b[a_to_b] - coded_a).max() <= 1  # standardised pixels still find the slowed-down frames
