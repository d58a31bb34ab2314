"""``vidalign demo`` end to end on a tiny configuration (pixel features, one epoch) - the same code path as the
README's first command, minus the backbone and the training budget."""

import json

import pytest

from vidalign.cli import main
from vidalign.data.synthetic import SyntheticConfig, split_assignment
from vidalign.demo import METHODS, MIN_VIDEOS, DemoConfig, run_demo


def test_demo_writes_report_tables_and_outputs(tmp_path):
    config = DemoConfig(out=tmp_path / "demo", n_videos=10, backbone="pixel", epochs=1)
    result = run_demo(config)
    report = result.report.read_text()
    names = [name for name, _ in result.alignment_rows]
    assert names == ["raw features", "time only t/T", "untrained encoder", *METHODS]
    for name, metrics in result.alignment_rows:
        tau = metrics["kendall_tau"]  # null (with its reason) when a one-epoch model maps every frame alike
        assert (-1.0 <= tau <= 1.0) if tau is not None else metrics["null_reasons"]["kendall_tau"], name
        assert f"| {name} |" in report
    assert [name for name, _ in result.segmentation_rows] == ["k-means on raw features", "vasot prototypes"]
    alignment = json.loads((tmp_path / "demo" / "align" / "alignment.json").read_text())
    assert alignment["method"] == "dtw"
    for produced in ("align/alignment.png", "align/side_by_side.mp4", "segment/timelines.png"):
        assert (tmp_path / "demo" / produced).stat().st_size > 0
        assert produced in report
    assert "kendall_tau" in result.table()
    for page in ("align/index.html", "segment/index.html"):
        assert (tmp_path / "demo" / page).is_file() and f"]({page})" in report
    assert all(f"- {name}: within " in report for name in ("untrained encoder", *METHODS))  # the collapse check
    assert "The alignment's own confidence check: " in report
    # the report's eval command gives the report's numbers (it gave tau on every 5th frame, the report every one)
    command = report.split("The same numbers: `")[1].split("`")[0].split()
    assert main([*command[1:], "--json", str(tmp_path / "vaot.json"), "--quiet"]) == 0
    vaot = dict(result.alignment_rows)["vaot"]
    assert json.loads((tmp_path / "vaot.json").read_text())["kendall_tau"] == vaot["kendall_tau"]


def test_demo_rerun_reuses_finished_steps(tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path / "d"), "--videos", "10", "--epochs", "1", "--backbone", "pixel"]
    assert main(argv) == 0
    first = (tmp_path / "d" / "runs" / "vaot" / "model.safetensors").stat().st_mtime_ns
    assert main(argv) == 0
    assert (tmp_path / "d" / "runs" / "vaot" / "model.safetensors").stat().st_mtime_ns == first
    assert "wrote" in capsys.readouterr().out
    assert main([*argv[:4], "12", *argv[5:]]) == 2  # other data in the same folder: refused, nothing overwritten
    assert "different settings (n_videos: 10 held, 12 asked)" in capsys.readouterr().err


def test_too_few_videos_are_refused_before_any_work(tmp_path, capsys):
    """With fewer than 8 videos the val split holds fewer than the 2 videos the demo aligns; such a demo used to
    fail only after rendering, extracting and training."""
    for n in (MIN_VIDEOS, MIN_VIDEOS - 1, 3):
        splits = split_assignment(SyntheticConfig(n_videos=n))
        assert (len(splits["val"]) >= 2 and len(splits["train"]) > len(splits["val"])) == (n == MIN_VIDEOS)
    assert main(["demo", "--out", str(tmp_path / "d"), "--videos", "7", "--backbone", "pixel"]) == 2
    assert "at least 8 videos" in capsys.readouterr().err and not (tmp_path / "d").exists()
    with pytest.raises(ValueError, match="at least 8 videos"):
        DemoConfig(n_videos=2)
