"""The README's Python snippets run as written, in order, in a fresh folder (they are the API's documentation)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_snippets() -> list[str]:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_has_short_snippets_for_each_job():
    snippets = python_snippets()
    joined = "\n".join(snippets)
    for job in ("va.align(", "va.Aligner.from_run(", "va.segment(", "va.train(", "va.evaluate(", "va.extract("):
        assert job in joined, job
    assert all(len([line for line in s.splitlines() if line.strip()]) <= 5 for s in snippets)


@pytest.mark.slow
def test_readme_snippets_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for snippet in python_snippets():
        exec(compile(snippet, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    out = capsys.readouterr().out
    assert "kendall_tau" in out and "dtw_cost" in out and "segments.json" in out and "extracted 3" in out
    assert (tmp_path / "aligned" / "alignment.json").is_file() and (tmp_path / "segments" / "timelines.png").is_file()
    assert len(list((tmp_path / "rendered_features" / "features").glob("*.npy"))) == 3
