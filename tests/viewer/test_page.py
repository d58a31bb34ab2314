"""The viewer's files (vidalign.viewer): the downsampled matrix against brute force, the frame maps, the browser
copies (frame i of the copy is sampled frame i), data.js, the writers' viewer switch and ``vidalign view``."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

import vidalign as va
from vidalign.cli import main
from vidalign.data.video import iter_frames, probe
from vidalign.errors import InputError
from vidalign.frames import FrameSource
from vidalign.similarity import preview_of
from vidalign.viewer.matrix import matrix_payload
from vidalign.viewer.media import MAX_THUMBNAILS, write_browser_copy
from vidalign.viewer.page import write_page
from vidalign.viewer.payload import b_to_a
from vidalign.viewer.serve import page_server, serve


def read_data(folder) -> dict:
    text = (folder / "data.js").read_text(encoding="utf-8")
    prefix = "window.VIDALIGN_DATA = "
    assert text.startswith(prefix) and text.rstrip().endswith(";")
    return json.loads(text[len(prefix) :].rstrip().rstrip(";"))


@pytest.mark.parametrize("shape", [(7, 5), (401, 399), (1000, 37)])
def test_the_matrix_cells_are_block_means_over_the_stated_range(shape):
    sim = np.random.default_rng(0).uniform(-1, 1, shape)  # at most 1,024 a side: the preview is the matrix
    found = matrix_payload(preview_of(sim))
    rows, cols = found["rows"], found["cols"]
    cells = np.frombuffer(base64.b64decode(found["data"]), np.uint8).reshape(rows, cols)
    assert (rows, cols) == (min(shape[0], 400), min(shape[1], 400)) and found["frames"] == list(shape)
    n, m = shape
    means = np.array([[sim[r * n // rows : (r + 1) * n // rows, c * m // cols : (c + 1) * m // cols].mean()
                       for c in range(cols)] for r in range(rows)])  # fmt: skip
    assert (found["low"], found["high"]) == pytest.approx((means.min(), means.max()))
    expected = (means - means.min()) / (means.max() - means.min()) * 255
    assert np.abs(cells - expected).max() <= 0.5 + 1e-6


def test_the_page_of_a_long_alignment_draws_its_preview(tmp_path):
    rng = np.random.default_rng(2)
    walk = np.cumsum(rng.normal(size=(2600, 8)), axis=0)
    b = walk[np.linspace(0, 2599, 1700).astype(int)] + 0.1 * rng.normal(size=(1700, 8))
    result = va.align(walk, b)
    assert result.similarity is None  # 4.4 M cells: the result keeps only the preview
    result.write(tmp_path)
    data = read_data(tmp_path)
    assert data["alignment"]["matrix"]["frames"] == [2600, 1700] and len(data["alignment"]["b_to_a"]) == 1700
    assert max(data["alignment"]["matrix"]["rows"], data["alignment"]["matrix"]["cols"]) == 400


def test_b_to_a_is_the_middle_a_frame_of_each_b_frame():
    pairs = np.array([[0, 0], [1, 0], [2, 0], [3, 1], [3, 2], [5, 4]])
    assert b_to_a(pairs, 6) == [1, 3, 3, None, 5, None]


def test_the_browser_copy_holds_the_sampled_frames_in_order(clips, coded, tmp_path):
    source = FrameSource(clips.b, sampling={"stride": 2})
    found = write_browser_copy(source, 15, 5.0, tmp_path / "media", "b")
    copy = tmp_path / found["video"]
    info = probe(copy)
    assert info.codec == "h264" and float(info.fps) == pytest.approx(5.0)
    shown = [coded.index(frame.image) for frame in iter_frames(copy)]
    assert shown == clips.b_codes[::2]  # frame i of the copy is sampled frame i
    sprite = found["sprite"]
    assert sprite["every"] == 1 and sprite["count"] == 15 <= MAX_THUMBNAILS
    assert (tmp_path / sprite["src"]).stat().st_size > 0


def test_data_js_is_json_without_non_finite_numbers(tmp_path):
    page = write_page(tmp_path, {"kind": "align", "values": [1.0, float("nan"), float("inf")], "nested": {"x": -0.0}})
    assert page == tmp_path / "index.html" and (tmp_path / "viewer.js").is_file()
    assert read_data(tmp_path)["values"] == [1.0, None, None]
    assert 'src="data.js"' in page.read_text() and "http" not in page.read_text()  # nothing fetched from outside


def test_align_writes_the_page_and_no_viewer_leaves_it_out(clips, tmp_path):
    result = va.align(clips.a, clips.b, backbone="pixel")
    files = result.write(tmp_path / "with")
    data = read_data(tmp_path / "with")
    assert files.page == tmp_path / "with" / "index.html"
    assert data["kind"] == "align" and data["alignment"]["a_to_b"] == result.a_to_b
    assert data["title"] == "dtw alignment · raw features, standardised per recording"  # videos: the default
    assert data["a"]["video"] == "media/a.mp4" and (tmp_path / "with" / "media" / "b.mp4").is_file()
    assert len(data["alignment"]["b_to_a"]) == data["b"]["frames"] == 30
    assert result.write(tmp_path / "without", viewer=False).page is None
    assert not (tmp_path / "without" / "index.html").exists()
    assert (
        main(
            [
                "align",
                str(clips.a),
                str(clips.b),
                "--backbone",
                "pixel",
                "--out",
                str(tmp_path / "cli"),
                "--no-viewer",
                "--quiet",
            ]
        )
        == 0
    )
    assert not (tmp_path / "cli" / "index.html").exists() and (tmp_path / "cli" / "alignment.json").is_file()


def test_features_without_a_video_give_a_page_without_players(tmp_path):
    rng = np.random.default_rng(1)
    result = va.align(rng.normal(size=(20, 8)), rng.normal(size=(25, 8)))
    result.write(tmp_path)
    data = read_data(tmp_path)
    assert data["a"]["video"] is None and data["b"]["sprite"] is None and not (tmp_path / "media").exists()
    assert data["title"] == "dtw alignment · raw features"  # arrays: as they are


def test_a_compare_page_names_the_model_it_was_computed_with(vaot_run, tmp_path):
    rng = np.random.default_rng(2)
    va.compare(rng.normal(size=(20, 16)), rng.normal(size=(25, 16)), model=vaot_run).write(tmp_path)
    assert read_data(tmp_path)["title"] == "comparison with the reference · embeddings of vaot"


def test_view_serves_the_folder_on_loopback(tmp_path):
    write_page(tmp_path, {"kind": "align"})
    server = page_server(tmp_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as response:
            assert b"viewer.js" in response.read()
        for name in ("localhost", "[::1]"):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/data.js", headers={"Host": f"{name}:{port}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        rebound = urllib.request.Request(f"http://127.0.0.1:{port}/data.js", headers={"Host": f"evil.example:{port}"})
        with pytest.raises(urllib.error.HTTPError, match="403"):  # DNS rebinding: another site's name
            urllib.request.urlopen(rebound, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(InputError, match="no such folder"):
        page_server(tmp_path / "nothing")
    (tmp_path / "outputs").mkdir()
    with pytest.raises(InputError, match="no index.html .*unless --no-viewer"):
        page_server(tmp_path / "outputs")
    taken = page_server(tmp_path)  # bound, not serving: its port is taken
    try:
        with pytest.raises(InputError, match="choose another --port"):
            serve(tmp_path, port=taken.server_address[1], open_browser=False)
    finally:
        taken.server_close()


def test_view_serves_byte_ranges_so_that_players_can_seek(tmp_path):
    """Served whole (200) to every request, a video could not be sought in Chromium: the players stayed at 0."""
    write_page(tmp_path, {"kind": "align"})
    (tmp_path / "media").mkdir()
    content = bytes(range(256)) * 40  # 10,240 bytes
    (tmp_path / "media" / "a.mp4").write_bytes(content)
    server = page_server(tmp_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/media/a.mp4"

    def fetch(byte_range: str | None, **conditions: str):
        headers = ({"Range": byte_range} if byte_range else {}) | {
            k.replace("_", "-"): v for k, v in conditions.items()
        }
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, response.headers, response.read()

    try:
        status, headers, body = fetch(None)
        assert (status, body, headers["Accept-Ranges"]) == (200, content, "bytes")
        ranges = {"bytes=100-199": (100, 199), "bytes=10000-": (10000, 10239), "bytes=-40": (10200, 10239),
                  "bytes=10200-99999": (10200, 10239)}  # fmt: skip
        for asked, (start, end) in ranges.items():
            status, headers, body = fetch(asked)
            assert (status, body) == (206, content[start : end + 1]), asked
            assert headers["Content-Range"] == f"bytes {start}-{end}/10240"
            assert int(headers["Content-Length"]) == len(body)
        with pytest.raises(urllib.error.HTTPError, match="416"):
            fetch("bytes=20000-")
        status, _, body = fetch("bytes=0-9, 20-29")  # several ranges: the whole file
        assert (status, body) == (200, content)
        modified = headers["Last-Modified"]  # RFC 9110: a range only of the version the client holds
        assert fetch("bytes=0-9", If_Range=modified)[::2] == (206, content[:10])
        assert fetch("bytes=0-9", If_Range="Mon, 01 Jan 2001 00:00:00 GMT")[::2] == (200, content)
        with pytest.raises(urllib.error.HTTPError, match="304"):  # not modified since: no body, ranged or not
            fetch("bytes=0-9", If_Modified_Since="Fri, 01 Jan 2100 00:00:00 GMT")
    finally:
        server.shutdown()
        server.server_close()


def test_browser_copies_go_to_the_first_recordings_whose_video_is_known(clips, tmp_path):
    """The first 12 recordings *with* a known video get a player, however many without one come before them."""
    from vidalign.segmentation import Segmentation
    from vidalign.viewer.payload import MAX_VIDEOS, segmentation_payload

    ids = [f"v{k:02d}" for k in range(MAX_VIDEOS + 4)]
    known = ids[MAX_VIDEOS - 2 :]  # 6 recordings with a video, after 10 without
    labels = {video_id: np.zeros(10, dtype=np.int64) for video_id in ids}
    fps = {video_id: 10.0 for video_id in ids}
    sources = {video_id: FrameSource(clips.a) for video_id in known}
    result = Segmentation(labels, None, {v: None for v in ids}, None, {}, None, "test", "none", fps, sources)
    payload = segmentation_payload(result, tmp_path)
    with_video = [video["id"] for video in payload["videos"] if video["recording"].get("video")]
    assert with_video == known
