"""Atomic writers: complete files on success, never a partial or valid-looking file on a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vidalign.atomic import atomic_save_npy, atomic_write_json, atomic_write_text
from vidalign.data.layout import FeatureFolder


def test_round_trips_and_no_temporary_left(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    atomic_save_npy(tmp_path / "deep" / "a.npy", array)
    atomic_write_text(tmp_path / "t.txt", "héllo\nworld\n")
    atomic_write_json(tmp_path / "m.json", {"n": np.int64(3), "x": np.float32(0.5), "v": np.arange(3)})

    np.testing.assert_array_equal(np.load(tmp_path / "deep" / "a.npy"), array)
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\nworld\n"
    assert json.loads((tmp_path / "m.json").read_text()) == {"n": 3, "x": 0.5, "v": [0, 1, 2]}
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.npy", "m.json", "t.txt"]


def test_overwrite_replaces_content(tmp_path):
    target = tmp_path / "t.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def test_json_rejects_nan(tmp_path):
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "m.json", {"x": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_leaves_no_target_and_no_temporary(tmp_path, monkeypatch):
    existing = tmp_path / "old.txt"
    existing.write_text("old content")

    def crash(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        atomic_save_npy(tmp_path / "new.npy", np.ones((4, 2), dtype=np.float32))
    with pytest.raises(OSError, match="simulated crash"):
        atomic_write_text(existing, "new content")

    assert not (tmp_path / "new.npy").exists()
    assert existing.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]


def test_killed_writer_leaves_old_file_and_an_invalid_looking_temporary(tmp_path):
    """SIGKILL a real process after its data is written but before the rename."""
    features = tmp_path / "features"
    features.mkdir()
    target = features / "v.npy"
    np.save(target, np.zeros((2, 2), dtype=np.float32))
    script = textwrap.dedent(
        f"""
        import os, sys, time
        import numpy as np
        from vidalign.atomic import atomic_save_npy

        def stall(fd):
            print("READY", flush=True)
            time.sleep(60)

        os.fsync = stall
        atomic_save_npy({str(target)!r}, np.ones((1000, 64), dtype=np.float32))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "READY"
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()

    np.testing.assert_array_equal(np.load(target), np.zeros((2, 2), dtype=np.float32))
    leftovers = [p.name for p in features.iterdir() if p.name != "v.npy"]
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".v.npy.tmp-") and not leftovers[0].endswith(".npy")
    assert FeatureFolder(tmp_path).video_ids() == ["v"]


def test_tensors_round_trip_with_metadata_and_fsync(tmp_path, monkeypatch):
    import torch
    from safetensors import safe_open

    from vidalign.atomic import atomic_save_tensors

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    weights = {"w": torch.arange(6.0).reshape(2, 3).t(), "b": torch.ones(2, dtype=torch.float64)}  # non-contiguous
    atomic_save_tensors(tmp_path / "m.safetensors", weights, {"epoch": "3"})
    with safe_open(str(tmp_path / "m.safetensors"), framework="pt") as f:
        assert f.metadata() == {"epoch": "3"}
        for key, value in weights.items():
            assert torch.equal(f.get_tensor(key), value)
    assert len(synced) >= 2  # the file, then its directory
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_atomic_path_keeps_the_extension_and_leaves_nothing_on_failure(tmp_path):
    from vidalign.atomic import atomic_path

    with atomic_path(tmp_path / "v.mp4") as partial:
        assert partial.suffix == ".mp4" and partial.name.startswith(".v.tmp-") and partial.parent == tmp_path
        partial.write_bytes(b"frames")
    assert (tmp_path / "v.mp4").read_bytes() == b"frames"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "w.mp4") as partial:
        partial.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_claim_folder_accepts_its_own_settings_and_refuses_others(tmp_path):
    from vidalign.atomic import claim_folder
    from vidalign.errors import ConfigError

    refused_stale = []
    record = {"lr": 0.1, "epochs": 3, "shape": (2, 3)}
    assert claim_folder(tmp_path, "r.json", record, what="a run", before_claim=lambda: refused_stale.append(1))
    assert refused_stale == [1]
    assert not claim_folder(tmp_path, "r.json", record | {"epochs": 9}, what="a run", ignore=("epochs",))
    assert refused_stale == [1]  # only an unclaimed folder is checked for stale outputs
    with pytest.raises(ConfigError, match=r"holds a run with different settings \(lr: 0.1 held, 0.5 asked\)"):
        claim_folder(tmp_path, "r.json", record | {"lr": 0.5}, what="a run", ignore=("epochs",))
    with pytest.raises(ConfigError, match=r"epochs: 3 held, 9 asked"):
        claim_folder(tmp_path, "r.json", record | {"epochs": 9}, what="a run")
    assert json.loads((tmp_path / "r.json").read_text()) == {"lr": 0.1, "epochs": 3, "shape": [2, 3]}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_folder_claimed_before_a_setting_existed_matches_its_default(tmp_path):
    from vidalign.atomic import claim_folder
    from vidalign.errors import ConfigError

    claim_folder(tmp_path, "r.json", {"lr": 0.1, "augment": {"noise": 0.1}}, what="a run")
    defaults = {"augment": {"noise": 0.0, "drift": 0.0}, "seed": 0}
    newer = {"lr": 0.1, "augment": {"noise": 0.1, "drift": 0.0}, "seed": 0}
    assert not claim_folder(tmp_path, "r.json", newer, what="a run", defaults=defaults)
    with pytest.raises(ConfigError, match=r"\(augment.drift: 0.0 held, 0.25 asked\)"):
        claim_folder(tmp_path, "r.json", newer | {"augment": {"noise": 0.1, "drift": 0.25}}, what="a run",
                     defaults=defaults)  # fmt: skip
    with pytest.raises(ConfigError, match=r"seed: 0 held, 1 asked"):
        claim_folder(tmp_path, "r.json", newer | {"seed": 1}, what="a run", defaults=defaults)
    with pytest.raises(ConfigError, match=r"\(augment.noise: 0.1 held, 0.0 asked\)"):  # held values win over defaults
        claim_folder(tmp_path, "r.json", newer | {"augment": {"noise": 0.0, "drift": 0.0}}, what="a run",
                     defaults=defaults)  # fmt: skip
    with pytest.raises(ConfigError, match=r"augment.drift: null held, 0.0 asked"):  # without defaults
        claim_folder(tmp_path, "r.json", newer, what="a run")
    assert json.loads((tmp_path / "r.json").read_text()) == {"lr": 0.1, "augment": {"noise": 0.1}}


def test_of_concurrent_claims_exactly_one_wins(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from vidalign.atomic import claim_folder

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda _: claim_folder(tmp_path, "r.json", {"k": 1}, what="x"), range(32)))
    assert sum(won) == 1
