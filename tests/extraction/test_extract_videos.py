"""``vidalign.extraction``: discovery, meta, sampling, labels, resume, sharding, failures and crash safety, checked
against an independent decode + embed of the same videos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from vidalign import cli
from vidalign import extraction as extract_module
from vidalign.data import layout
from vidalign.data.layout import FeatureFolder
from vidalign.data.render import render_video
from vidalign.data.synthetic import SyntheticConfig, generate_videos
from vidalign.data.video import probe, read_frames, write_video
from vidalign.errors import UnfinishedExtractionWarning
from vidalign.extraction import ExtractionError, extract_videos, find_videos, shard
from vidalign.models.backbones import PixelBackbone, build_backbone

IDS = ["video_000", "video_001", "video_002"]


def features_of(root):
    return {path.stem: np.load(path) for path in sorted((root / "features").glob("*.npy"))}


def assert_same_features(root, reference):
    got, expected = features_of(root), features_of(reference)
    assert sorted(got) == sorted(expected)
    for video_id, array in expected.items():
        np.testing.assert_array_equal(got[video_id], array)


@pytest.fixture
def counters(monkeypatch):
    """Counts decodes (``iter_frames`` calls) and embedded frames, wrapping the real functions."""
    counts = {"decodes": 0, "embedded": 0, "largest_batch": 0}
    real_iter, real_embed = extract_module.iter_frames, PixelBackbone.embed

    def counting_iter(*args, **kwargs):
        counts["decodes"] += 1
        return real_iter(*args, **kwargs)

    def counting_embed(self, frames, **kwargs):
        counts["embedded"] += len(frames)
        counts["largest_batch"] = max(counts["largest_batch"], len(frames))
        return real_embed(self, frames, **kwargs)

    monkeypatch.setattr(extract_module, "iter_frames", counting_iter)
    monkeypatch.setattr(PixelBackbone, "embed", counting_embed)
    return counts


def test_features_and_meta_match_an_independent_decode(rendered, reference):
    pixel = build_backbone("pixel")
    folder = FeatureFolder(reference)
    assert folder.video_ids() == IDS
    extractor = json.loads((reference / "extractor.json").read_text())
    assert extractor == {
        "backbone": "pixel",
        "weights": pixel.weights_id,
        "dim": 240,
        "sampling": {"stride": 1, "fps": None},
    }
    for video_id in IDS:
        source = rendered / "videos" / f"{video_id}.mp4"
        frames, timestamps, indices = read_frames(source)
        record = folder.load(video_id)
        np.testing.assert_array_equal(record.features, pixel.embed(frames))
        meta = record.meta
        assert meta["extractor"] == extractor and meta["source"] == str(source.resolve())
        assert meta["source_fps"] == meta["fps"] == 10.0 and meta["n_frames"] == len(frames)
        np.testing.assert_allclose(meta["frame_timestamps"], timestamps, atol=1e-6)
        assert meta["source_frame_indices"] == indices.tolist() and meta["decode_warnings"] == []


@pytest.mark.parametrize(("sampling", "features_fps"), [({"stride": 3}, 10.0 / 3), ({"target_fps": 4.0}, 4.0)])
def test_sampling_and_labels_follow_the_source_frame_indices(rendered, tmp_path, sampling, features_fps):
    out = tmp_path / "data"
    extract_videos([rendered / "videos"], out, backbone="pixel", labels_from=rendered, progress=False, **sampling)
    folder = FeatureFolder(out)
    kwargs = {"stride": sampling.get("stride"), "target_fps": sampling.get("target_fps")}
    for video_id in IDS:
        frames, _, indices = read_frames(rendered / "videos" / f"{video_id}.mp4", **kwargs)
        record = folder.load(video_id)
        assert record.meta["source_frame_indices"] == indices.tolist()
        np.testing.assert_array_equal(record.features, build_backbone("pixel").embed(frames))
        all_labels = (rendered / "groundTruth" / f"{video_id}.txt").read_text().splitlines()
        assert [folder.class_names[c] for c in record.labels] == [all_labels[i] for i in indices]
    assert record.meta["fps"] == features_fps
    assert sorted(folder.splits()) == ["test", "train", "val"]
    assert folder.class_names == ["phase_0", "phase_1", "background"]


def test_frames_are_embedded_in_batches_as_they_are_decoded(rendered, reference, tmp_path, counters):
    extract_videos([rendered / "videos"], tmp_path / "data", backbone="pixel", batch_size=5, progress=False)
    assert counters["largest_batch"] == 5
    assert_same_features(tmp_path / "data", reference)


def test_resume_skips_finished_videos_and_redoes_unfinished_ones(rendered, reference, tmp_path, counters):
    out = tmp_path / "data"
    first = extract_videos([rendered / "videos"], out, backbone="pixel", progress=False)
    assert first.extracted == IDS and counters["decodes"] == 3
    n_frames = counters["embedded"]
    again = extract_videos([rendered / "videos"], out, backbone="pixel", progress=False)
    assert (again.extracted, again.skipped, counters["decodes"], counters["embedded"]) == ([], IDS, 3, n_frames)
    (out / "features" / "video_001.npy").unlink()  # as if killed between its meta and its features
    meta = json.loads((out / "meta" / "video_002.json").read_text())
    meta["extractor"]["weights"] = "something else"  # a video whose meta does not match is redone too
    (out / "meta" / "video_002.json").write_text(json.dumps(meta))
    redo = extract_videos([rendered / "videos"], out, backbone="pixel", progress=False)
    assert (redo.extracted, redo.skipped, counters["decodes"]) == (["video_001", "video_002"], ["video_000"], 5)
    assert_same_features(out, reference)


def test_never_mixes_two_extractors_in_one_folder(rendered, reference, tmp_path):
    with pytest.raises(
        ExtractionError,
        match=r"holds features with different settings \(sampling.stride: 1 held, 2 asked\)",
    ):
        extract_videos([rendered / "videos"], reference, backbone="pixel", stride=2, progress=False)
    foreign = tmp_path / "foreign"
    (foreign / "features").mkdir(parents=True)
    np.save(foreign / "features" / "x.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(FileExistsError, match="already holds a feature folder"):
        extract_videos([rendered / "videos"], foreign, backbone="pixel", progress=False)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"stride": 0}, "stride must be a positive integer"),
        ({"target_fps": -1.0}, "fps must be positive"),
        ({"stride": 2, "target_fps": 5.0}, "at most one of stride and fps"),
        ({"batch_size": 0}, "batch size"),
        ({"shard_index": 2, "num_shards": 2}, "shard index"),
        ({"labels_from": "/nonexistent"}, "no groundTruth/ folder"),
    ],
)
def test_bad_arguments_fail_before_any_work(rendered, tmp_path, arguments, message):
    with pytest.raises(ExtractionError, match=message):
        extract_videos([rendered / "videos"], tmp_path / "data", backbone="pixel", progress=False, **arguments)
    assert not (tmp_path / "data").exists()


def test_shards_partition_the_videos_and_fill_one_folder(rendered, reference, tmp_path):
    videos = [tmp_path / f"v{i:02d}.mp4" for i in range(11)]
    parts = [shard(videos, i, 4) for i in range(4)]
    assert sorted(sum(parts, [])) == videos and sum(map(len, parts)) == len(videos)
    assert [len(p) for p in parts] == [3, 3, 3, 2]
    out = tmp_path / "data"
    for index in (1, 0):
        summary = extract_videos(
            [rendered / "videos"], out, backbone="pixel", shard_index=index, num_shards=2, split="all", progress=False
        )
        assert summary.extracted == IDS[index::2]
    assert_same_features(out, reference)
    assert FeatureFolder(out).video_ids("all") == IDS
    with pytest.raises(ExtractionError, match="shard index"):
        shard(videos, 2, 2)


def test_concurrent_shard_processes_fill_one_folder(rendered, reference, tmp_path):
    out = tmp_path / "data"
    command = [sys.executable, "-m", "vidalign.cli", "extract", str(rendered / "videos"), "--backbone", "pixel"]
    shards = [
        subprocess.Popen([*command, "--out", str(out), "--num-shards", "2", "--shard-index", str(i), "--quiet"])
        for i in range(2)
    ]
    assert [process.wait(timeout=120) for process in shards] == [0, 0]
    assert_same_features(out, reference)
    assert json.loads((out / "extractor.json").read_text()) == json.loads((reference / "extractor.json").read_text())


def test_find_videos_is_recursive_skips_hidden_and_rejects_collisions(tmp_path):
    for name in ["a.mp4", "sub/b.MKV", "sub/deeper/c.webm", ".hidden.mp4", ".cache/d.mp4", "notes.txt", "sub/e.json"]:
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"")
    found = find_videos([tmp_path / "in"])
    assert [p.relative_to(tmp_path / "in").as_posix() for p in found] == ["a.mp4", "sub/b.MKV", "sub/deeper/c.webm"]
    explicit = tmp_path / "in" / "notes.txt"  # a file named explicitly is taken whatever its extension
    assert [p.name for p in find_videos([explicit, tmp_path / "in" / "a.mp4"])] == ["a.mp4", "notes.txt"]
    (tmp_path / "in" / "sub" / "a.avi").write_bytes(b"")
    with pytest.raises(ExtractionError, match=r"video id 'a' is given twice: .*a\.mp4 and .*a\.avi") as caught:
        find_videos([tmp_path / "in"])
    assert "\n" not in str(caught.value)
    with pytest.raises(ExtractionError, match="no such file"):
        find_videos([tmp_path / "missing"])
    assert [p.name for p in find_videos([tmp_path / "in" / ".cache"])] == ["d.mp4"]  # named folders are searched
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("no videos here")
    with pytest.raises(ExtractionError, match="docs: no video files"):
        find_videos([tmp_path / "docs"])


def test_a_broken_video_is_listed_and_the_others_are_extracted(videos_copy, reference, tmp_path, capsys):
    (videos_copy / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(2048))
    out = tmp_path / "data"
    status = cli.main(["extract", str(videos_copy), "--backbone", "pixel", "--out", str(out), "--quiet"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert f"{out}: extracted 3, skipped 0 (already done), failed 1 videos;" in lines[0]
    assert len(lines) == 2 and lines[1].startswith(f"failed: {videos_copy / 'broken.mp4'}: ")
    assert_same_features(out, reference)


def test_single_file_failure_is_one_line_and_too_short_videos_fail(videos_copy, tmp_path, capsys):
    broken = videos_copy / "broken.mp4"
    broken.write_bytes(b"not a video")
    status = cli.main(["extract", str(broken), "--backbone", "pixel", "--out", str(tmp_path / "a"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "broken.mp4" in err
    summary = extract_videos(
        [videos_copy / "video_000.mp4"], tmp_path / "b", backbone="pixel", stride=100, progress=False
    )
    assert summary.failed and "1 sampled frame(s), at least 2 needed" in summary.failed[0][1]


def test_a_video_that_failed_is_not_warned_about_by_every_reader(videos_copy, tmp_path):
    """The folder listed it as not extracted yet, and told every reader to run extract again, which fails again."""
    (videos_copy / "broken.mp4").write_bytes(b"not a video")
    summary = extract_videos([videos_copy], tmp_path / "data", backbone="pixel", progress=False)
    assert [Path(path).name for path, _ in summary.failed] == ["broken.mp4"]  # said once, here
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnfinishedExtractionWarning)
        assert "broken" not in FeatureFolder(tmp_path / "data").video_ids()


def test_truncated_video_keeps_its_decoded_frames_with_a_warning(tmp_path):
    (video,) = generate_videos(SyntheticConfig(n_videos=1, min_frames=60, max_frames=60))
    path = render_video(video, tmp_path / "videos" / "cut.avi", size=32, fps=10.0)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    summary = extract_videos([path], tmp_path / "data", backbone="pixel", progress=False)
    assert summary.extracted == ["cut"] and summary.warnings and str(path) in summary.warnings[0][1]
    meta = FeatureFolder(tmp_path / "data").load("cut").meta
    assert meta["decode_warnings"] == [summary.warnings[0][1]]
    assert 2 <= meta["n_frames"] < len(video.phase)


def test_crash_between_meta_and_features_then_restart(rendered, reference, tmp_path, monkeypatch):
    out = tmp_path / "data"
    real_save = layout.atomic_save_npy
    saves = []

    def crashing_save(path, array):
        saves.append(path)
        if len(saves) == 2:
            raise RuntimeError("simulated crash")
        real_save(path, array)

    monkeypatch.setattr(layout, "atomic_save_npy", crashing_save)
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_videos([rendered / "videos"], out, backbone="pixel", labels_from=rendered, progress=False)
    assert sorted(p.name for p in (out / "features").iterdir()) == ["video_000.npy"]
    assert (out / "meta" / "video_001.json").is_file() and (out / "groundTruth" / "video_001.txt").is_file()
    monkeypatch.undo()
    summary = extract_videos([rendered / "videos"], out, backbone="pixel", labels_from=rendered, progress=False)
    assert (summary.skipped, summary.extracted) == (["video_000"], ["video_001", "video_002"])
    assert_same_features(out, reference)
    assert len(FeatureFolder(out).load_split("train")) >= 1


_KILLED_RUN = """
import io, sys, time
from pathlib import Path
import numpy as np

videos, out, ready = sys.argv[1:4]
real_save, calls = np.save, []

def hanging_save(handle, array, allow_pickle=False):
    calls.append(1)
    if len(calls) == 2:  # the second video's features: write half of the file, then wait to be killed
        buffer = io.BytesIO()
        real_save(buffer, array, allow_pickle=False)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        handle.flush()
        Path(ready).touch()
        time.sleep(120)
    real_save(handle, array, allow_pickle=allow_pickle)

np.save = hanging_save
from vidalign.extraction import extract_videos
extract_videos([videos], out, backbone="pixel", progress=False)
"""


def test_sigkill_while_writing_features_then_restart(rendered, reference, tmp_path):
    out, ready = tmp_path / "data", tmp_path / "ready"
    process = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(rendered / "videos"), str(out), str(ready)])
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the extraction never reached the second video's features"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    partial = [p.name for p in (out / "features").iterdir()]
    assert sorted(p for p in partial if not p.startswith(".")) == ["video_000.npy"]
    assert any(p.startswith(".video_001.npy.tmp-") for p in partial)  # the half-written file stays hidden
    with pytest.warns(UnfinishedExtractionWarning, match="2 of the 3 videos .* no features .video_001, video_002"):
        stopped = FeatureFolder(out)  # a folder that reads as complete would train on one video without a word
    assert stopped.video_ids() == ["video_000"] and stopped.unextracted == ["video_001", "video_002"]
    assert stopped.feature_family == "video"  # recorded before the first video, not at the end
    np.testing.assert_array_equal(stopped.load("video_000").features, features_of(reference)["video_000"])
    summary = extract_videos([rendered / "videos"], out, backbone="pixel", progress=False)
    assert FeatureFolder(out).unextracted == []
    assert (summary.skipped, summary.extracted, summary.failed) == (["video_000"], ["video_001", "video_002"], [])
    assert_same_features(out, reference)


def test_cli_extract_defaults_to_the_backbone_align_uses():
    from vidalign.representation import video_frontend

    parse = cli.build_parser().parse_args
    extract_default = parse(["extract", "videos", "--out", "data"]).backbone
    align_default = video_frontend(None, backbone=parse(["align", "a.mp4", "b.mp4"]).backbone)["backbone"]
    assert extract_default == align_default == "efficientnet_lite0"


def test_cli_render_then_extract_gives_a_labelled_feature_folder(tmp_path, capsys):
    raw, data = tmp_path / "raw", tmp_path / "data"
    render = ["render", "--out", str(raw), *"--videos 4 --phases 2 --size 32 --fps 8 --background 1 2".split()]
    assert cli.main(render) == 0
    extract = ["extract", str(raw / "videos"), "--out", str(data), "--labels-from", str(raw)]
    assert cli.main([*extract, *"--backbone pixel --split all --quiet".split()]) == 0
    assert "extracted 4, skipped 0" in capsys.readouterr().out
    folder = FeatureFolder(data)
    assert folder.mapping_source == "file" and folder.class_names == ["phase_0", "phase_1", "background"]
    records = folder.load_split("all")
    assert [r.video_id for r in records] == ["video_000", "video_001", "video_002", "video_003"]
    assert all(r.labels is not None and len(r.labels) == len(r.features) for r in records)
    assert sorted(folder.video_ids("train") + folder.video_ids("val") + folder.video_ids("test")) == folder.video_ids()


def test_a_model_embeds_videos_with_the_backbone_its_training_folder_was_extracted_with(
    reference, rendered, tmp_path, capsys
):
    import vidalign as va
    from vidalign.errors import InputError

    run = va.train(reference, "vaot", tmp_path / "run", split="all", epochs=0).path  # on pixel features
    videos = sorted((rendered / "videos").iterdir())
    result = va.align(videos[0], videos[1], model=run)  # no backbone named: the folder's extractor.json says pixel
    assert result.inputs["a"]["kind"] == "video" and result.backbone == "pixel"
    assert cli.main(["align", str(videos[0]), str(videos[1]), "--model", str(run), "--out", str(tmp_path / "o"),
                     "--quiet", "--no-viewer"]) == 0  # fmt: skip
    assert json.loads((tmp_path / "o" / "alignment.json").read_text())["backbone"] == "pixel"
    with pytest.raises(InputError, match="takes 240-d features but backbone efficientnet_lite0 gives 1280-d; use "
                       "--backbone pixel"):  # fmt: skip
        va.align(videos[0], videos[1], model=run, backbone="efficientnet_lite0")
    extract_videos(videos[:2], tmp_path / "other", backbone="efficientnet_lite0", progress=False)
    with pytest.raises(InputError, match="holds 1280-d; extract its videos with --backbone pixel"):
        va.segment(tmp_path / "other", run, kmeans=2)  # the folder is used as it is: --backbone cannot help
    from vidalign.representation import video_frontend  # what segment / retrieve extract a folder of videos with

    assert video_frontend(run)["backbone"] == "pixel"
    assert video_frontend(run, backbone="resnet50")["backbone"] == "resnet50"
    assert video_frontend(None)["backbone"] == video_frontend("none")["backbone"] == "efficientnet_lite0"


def test_a_run_keeps_how_its_features_were_extracted(rendered, tmp_path, monkeypatch):
    """Trained with a relative ``--data``, a run once looked for the folder's ``extractor.json`` relative to
    wherever it was used later, and silently fell back to the default backbone and every frame; the run now
    records it, so it survives a relative path and a moved folder."""
    from vidalign.representation import video_frontend

    extract_videos([rendered / "videos"], tmp_path / "data", backbone="pixel", stride=2, progress=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--data", "data", "--split", "all", "--method", "vaot", "--epochs", "0",
                     "--out", "run", "--quiet"]) == 0  # fmt: skip
    monkeypatch.chdir(rendered)
    (tmp_path / "data").rename(tmp_path / "moved")
    expected = {"backbone": "pixel", "stride": 2, "target_fps": None}
    assert video_frontend(tmp_path / "run").items() >= expected.items()


def test_a_run_trained_before_runs_recorded_it_reads_its_folders_extractor_json(tmp_path):
    from vidalign.representation import training_extraction

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "extractor.json").write_text(json.dumps({"backbone": "pixel", "sampling": {"stride": 2}}))
    old_run = {"train": {"data": str(tmp_path / "data")}}
    assert training_extraction(old_run) == {"backbone": "pixel", "sampling": {"stride": 2}}
    assert training_extraction({**old_run, "extraction": {"backbone": "pose"}}) == {"backbone": "pose"}
    assert training_extraction({"train": {"data": str(tmp_path / "moved")}}) == {}
    (tmp_path / "data" / "extractor.json").write_text("[1]")
    assert training_extraction(old_run) == {}


def test_a_model_decodes_videos_at_the_sampling_of_its_training_frames(rendered, tmp_path, capsys):
    """A temporal encoder trained on every 2nd frame meets every 2nd frame of a video it is given, unless told
    otherwise (align / compare through the Aligner, retrieve / segment through the folder they extract)."""
    import vidalign as va
    from vidalign.representation import video_frontend

    data = tmp_path / "data"
    extract_videos([rendered / "videos"], data, backbone="pixel", stride=2, progress=False)
    run = va.train(data, "vaot", tmp_path / "run", split="all", epochs=0).path
    videos = sorted((rendered / "videos").iterdir())
    n_frames = len(read_frames(videos[0])[0])
    assert va.align(videos[0], videos[1], model=run).inputs["a"]["n_frames"] == (n_frames + 1) // 2
    assert va.align(videos[0], videos[1], model=run, stride=1).inputs["a"]["n_frames"] == n_frames
    assert va.align(videos[0], videos[1]).inputs["a"]["n_frames"] == n_frames  # raw features: every frame
    sampling = {"stride": 2, "target_fps": None}
    assert video_frontend(run).items() >= sampling.items()
    assert video_frontend(run, fps=5.0).items() >= {"stride": None, "target_fps": 5.0}.items()
    assert video_frontend("none").items() >= {"stride": None, "target_fps": None}.items()
    out = tmp_path / "segments"
    assert cli.main(["segment", "--data", str(rendered / "videos"), "--model", str(run), "--kmeans", "2",
                     "--out", str(out), "--quiet", "--no-viewer"]) == 0  # fmt: skip
    extracted = json.loads(next(out.rglob("extractor.json")).read_text())
    assert extracted["sampling"] == {"stride": 2, "fps": None}


def test_a_video_that_declares_no_frame_count_gets_a_progress_total(tmp_path, monkeypatch):
    """Matroska / WebM declare no frame count: the bar had no total (``0frame [...]``); it is the duration's."""
    frames = [np.full((48, 64, 3), 10 * k, np.uint8) for k in range(25)]
    write_video(tmp_path / "a.mkv", frames, fps=10.0)
    assert probe(tmp_path / "a.mkv").n_frames is None
    totals, bar = [], extract_module.tqdm
    monkeypatch.setattr(
        extract_module, "tqdm", lambda *args, **kwargs: totals.append(kwargs["total"]) or bar(*args, **kwargs)
    )
    extract_module.embed_video(tmp_path / "a.mkv", build_backbone("pixel"), progress=False)
    extract_module.embed_video(tmp_path / "a.mkv", build_backbone("pixel"), stride=2, progress=False)
    assert totals == [25, 13]
