"""Frame retrieval (vidalign.retrieval): the matching moment of every other recording is found, matches are
distinct moments best first, and the CLI writes retrieval.json and retrieval.png."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vidalign as va
from vidalign.cli import main
from vidalign.data.layout import write_video
from vidalign.errors import InputError
from vidalign.retrieval import best_frames


def test_best_frames_are_the_top_values_kept_apart():
    similarity = np.array([0.1, 0.9, 0.85, 0.2, 0.7, 0.95, 0.3])
    assert best_frames(similarity, 3, min_gap=1) == [5, 1, 2]
    assert best_frames(similarity, 3, min_gap=2) == [5, 1, 3]  # 2 is next to 1, 4 next to 5
    assert best_frames(similarity, 10, min_gap=3) == [5, 1]


@pytest.fixture
def folder(tmp_path):
    """Four recordings of one process at different speeds: frame j of a video at canonical time t_j."""
    rng = np.random.default_rng(0)
    process = np.cumsum(rng.normal(size=(200, 24)), axis=0)
    truth = {}
    for n, video in enumerate(("v0", "v1", "v2", "v3")):
        times = np.sort(rng.uniform(0, 199, 60 + 20 * n)).astype(int)
        write_video(tmp_path / "data", video, (process[times] + 0.1 * rng.normal(size=(len(times), 24))).astype(
            np.float32), meta={"fps": 10.0, "frame_timestamps": [j / 10 for j in range(len(times))]})  # fmt: skip
        truth[video] = times
    return tmp_path / "data", truth


def test_the_matching_moment_of_every_other_recording_is_found(folder):
    data, truth = folder
    query_frame = 30
    result = va.retrieve(data / "features" / "v0.npy", query_frame, data, k=3)
    assert set(result.matches) == {"v1", "v2", "v3"}  # the query's own recording is not searched
    for video, found in result.matches.items():
        best = found[0]
        assert abs(truth[video][best.frame] - truth["v0"][query_frame]) <= 6  # the same moment of the process
        assert [m.similarity for m in found] == sorted((m.similarity for m in found), reverse=True)
        assert best.time == pytest.approx(best.frame / 10)


def test_retrieve_cli_and_errors(folder, tmp_path, capsys):
    data, _ = folder
    out = tmp_path / "ret"
    assert main(["retrieve", str(data / "features" / "v1.npy"), "--frame", "10", "--in", str(data), "-k", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    record = json.loads((out / "retrieval.json").read_text())
    assert record["frame"] == 10 and set(record["matches"]) == {"v0", "v2", "v3"}
    assert all(len(found) == 2 for found in record["matches"].values())
    assert (out / "retrieval.png").stat().st_size > 10_000 and "v0:" in capsys.readouterr().out
    with pytest.raises(InputError, match="outside the query"):
        va.retrieve(data / "features" / "v1.npy", 500, data)


def test_many_recordings_are_shown_best_first_and_say_how_many_were_left_out(tmp_path, capsys, monkeypatch):
    """The terminal listed every recording, and retrieval.png drew the first 12, in folder order, under the title
    "best matches per recording"."""
    from vidalign import outputs

    rng = np.random.default_rng(0)
    query = rng.normal(size=(20, 8)).astype(np.float32)
    for n in range(25):  # r00 the least like the query's frame 5, r24 the most
        features = rng.normal(size=(15, 8)).astype(np.float32)
        features[7] = query[5] + (2.0 - n / 12) * rng.normal(size=8)
        write_video(tmp_path / "data", f"r{n:02d}", features)
    np.save(tmp_path / "q.npy", query)
    drawn = {}
    monkeypatch.setattr(outputs, "plot_retrieval", lambda profiles, frames, path, title: drawn.update(
        names=list(profiles), title=title) or path)  # fmt: skip
    argv = ["retrieve", str(tmp_path / "q.npy"), "--frame", "5", "--in", str(tmp_path / "data"), "-k", "1"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--no-viewer", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line[:1] == "r" and line[1:3].isdigit()]
    printed, best = [row.split(":")[0] for row in rows], [float(row.rsplit(" ", 1)[1]) for row in rows]
    assert lines[0] == "recording: its best frames, best first: frame (time) similarity"
    assert len(printed) == 20 and best == sorted(best, reverse=True) and printed[0] == "r24"
    assert "the best 20 of 25 recordings; retrieval.json holds them all" in lines[-2]
    assert drawn["names"] == printed[:12] and drawn["title"].endswith("(the best 12 of 25 recordings)")
    assert len(json.loads((tmp_path / "out" / "retrieval.json").read_text())["matches"]) == 25


def test_only_the_query_itself_is_left_out_not_a_recording_of_the_same_name(folder, clips, tmp_path):
    """The query was left out by its file name: a different recording named like one of the folder's hid that one
    and brought back the query's own copy; a video named like the only recording of the folder was 'no recording
    other than the query'."""
    data, _ = folder
    elsewhere = tmp_path / "elsewhere" / "v1.npy"  # v2's features under v1's name
    elsewhere.parent.mkdir()
    np.save(elsewhere, np.load(data / "features" / "v2.npy"))
    result = va.retrieve(elsewhere, 10, data, k=1)
    assert set(result.matches) == {"v0", "v1", "v2", "v3"}
    assert result.matches["v2"][0].frame == 10 and result.matches["v2"][0].similarity == pytest.approx(1.0)
    from vidalign.extraction import extract_videos

    extract_videos([clips.b], tmp_path / "videos", backbone="pixel", progress=False)
    renamed = tmp_path / "other" / clips.b.name  # another video of the same name
    renamed.parent.mkdir()
    renamed.write_bytes(clips.a.read_bytes())
    assert set(va.retrieve(renamed, 3, tmp_path / "videos", backbone="pixel").matches) == {clips.b.stem}
    with pytest.raises(InputError, match="no recording other than the query"):
        va.retrieve(clips.b, 3, tmp_path / "videos", backbone="pixel")


def test_the_query_is_known_by_its_source_from_any_working_directory(tmp_path, monkeypatch):
    """A folder converted from relative paths recorded them as given: run from another directory, the query was
    not recognised and came back as its own best match (similarity 1)."""
    from vidalign.data.keypoints import convert_keypoints

    rng = np.random.default_rng(1)
    (tmp_path / "poses").mkdir()
    for name in ("a", "b", "c"):  # COCO-17 keypoints in pixels, with confidences
        xy = 200 + 50 * np.cumsum(rng.normal(size=(40, 17, 2)), axis=0) / 10
        keypoints = np.concatenate([xy, np.ones((40, 17, 1))], axis=-1)
        (tmp_path / "poses" / f"{name}.json").write_text(json.dumps({"keypoints": keypoints.tolist(), "fps": 10}))
    monkeypatch.chdir(tmp_path)
    convert_keypoints([Path("poses")], "data")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert set(va.retrieve(tmp_path / "poses" / "a.json", 5, tmp_path / "data").matches) == {"b", "c"}
    meta = tmp_path / "data" / "meta" / "b.json"  # a folder written before: the source as it was given
    meta.write_text(json.dumps(json.loads(meta.read_text()) | {"source": "poses/b.json"}))
    assert set(va.retrieve(tmp_path / "poses" / "b.json", 5, tmp_path / "data").matches) == {"a", "c"}
    (tmp_path / "other").mkdir()  # another recording of that name is not the folder's b
    (tmp_path / "other" / "b.json").write_bytes((tmp_path / "poses" / "a.json").read_bytes())
    assert set(va.retrieve(tmp_path / "other" / "b.json", 5, tmp_path / "data").matches) == {"a", "b", "c"}


def test_a_searched_video_named_query_stays_apart_from_the_query(clips, tmp_path):
    """The query shared one dictionary with the folder's videos: a video named ``query`` took the query's frames
    (and crashed the contact sheet where its matches lay past the query's end)."""
    import shutil

    from vidalign.data.video import SampledFrames
    from vidalign.extraction import extract_videos

    shutil.copy(clips.b, tmp_path / "query.mp4")  # 30 frames; the query, A, has 20
    extract_videos([tmp_path / "query.mp4"], tmp_path / "data", backbone="pixel", progress=False)
    result = va.retrieve(clips.a, 19, tmp_path / "data", backbone="pixel", k=3, min_gap=1)
    assert result.matches["query"][0].frame == 29  # B's frame showing A's last: past the query's end
    assert (result.query_recording["n_frames"], result.recordings["query"]["n_frames"]) == (20, 30)
    np.testing.assert_array_equal(result.query_source.images([19])[0], SampledFrames(clips.a)[19])
    np.testing.assert_array_equal(result.frame_sources["query"].images([29])[0], SampledFrames(clips.b)[29])
    assert [p.name for p in result.write(tmp_path / "out")][2:] == ["contact_sheet.png", "index.html"]


def test_videos_give_a_contact_sheet_of_the_matched_frames(clips, tmp_path):
    from vidalign.data.video import SampledFrames
    from vidalign.extraction import extract_videos

    extract_videos([clips.b], tmp_path / "data", backbone="pixel", progress=False)
    result = va.retrieve(clips.a, 7, tmp_path / "data", backbone="pixel", k=2)
    best = result.matches["b"][0]
    assert clips.b_codes[best.frame] == clips.a_codes[7]  # the frame of B that shows the same source frame
    images = result.frame_sources["b"].images([best.frame])
    np.testing.assert_array_equal(images[0], SampledFrames(clips.b)[best.frame])
    np.testing.assert_array_equal(result.query_source.images([7])[0], SampledFrames(clips.a)[7])
    written = result.write(tmp_path / "out")
    assert [p.name for p in written] == ["retrieval.json", "retrieval.png", "contact_sheet.png", "index.html"]
    assert written[2].stat().st_size > 5_000


def test_features_without_videos_write_no_contact_sheet(folder, tmp_path):
    data, _ = folder
    written = va.retrieve(data / "features" / "v0.npy", 3, data).write(tmp_path / "out")
    assert [p.name for p in written] == ["retrieval.json", "retrieval.png", "index.html"]
