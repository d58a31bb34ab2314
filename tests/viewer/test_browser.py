"""The viewer in a real browser (headless Chromium driven by Playwright): pages of real alignments load without
console errors, B follows A as ``a_to_b`` says (and A follows B), a click on the matrix seeks both players, the
deviation curve marks the flagged frames, matches open their moment, and the screenshot is not blank.

Skips, saying why, where Playwright or a Chromium executable is missing (``.ci/run`` installs Debian's
``chromium``; elsewhere set ``VIDALIGN_CHROMIUM`` to a Chromium or Chrome executable)."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

import vidalign as va
from vidalign.confidence import with_training_pairs
from vidalign.data.video import write_video

from .test_page import read_data

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: pip install playwright"
)

CHROMIUM = os.environ.get("VIDALIGN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]  # fmt: skip
BIISC = ("S001_M_WAVE_STD_FCE.avi", "S002_M_WAVE_STD_FCE.avi")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium executable (apt-get install chromium, or set VIDALIGN_CHROMIUM)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Page:
    """A loaded viewer page, its console errors, and frame readings of its players."""

    def __init__(self, browser, folder, url: str | None = None):
        self.page = browser.new_page(viewport={"width": 1280, "height": 1300})
        self.errors: list[str] = []
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(url or (folder / "index.html").resolve().as_uri())
        self.page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        self.data = self.page.evaluate("window.VIDALIGN_DATA")

    def wait_players(self, *ids: str) -> None:
        ready = " && ".join(f"document.getElementById('{i}').readyState >= 2" for i in ids)
        self.page.wait_for_function(ready, timeout=15_000)

    def settle(self) -> None:
        """Wait until no player is seeking (the follower reached its frame)."""
        self.page.wait_for_timeout(150)
        self.page.wait_for_function("[...document.querySelectorAll('video')].every(v => !v.seeking)", timeout=10_000)

    def position(self, player: str) -> float:
        """The player's position in frames (frame i is shown during [i, i + 1))."""
        side = player[-1]
        return self.page.evaluate(f"document.getElementById('{player}').currentTime * window.VIDALIGN_DATA.{side}.fps")

    def screenshot(self) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(self.page.screenshot(full_page=True))).convert("RGB"))


def check_follows(page: Page, leader: str, follower: str, mapping: list) -> None:
    """The follower shows the frame the map gives for the leader's frame, within one frame."""
    frame = int(np.floor(page.position(leader) + 1e-3))
    target = mapping[frame]
    assert target is not None, f"{leader} frame {frame} has no counterpart"
    assert abs(page.position(follower) - (target + 0.5)) <= 1.0, (leader, frame, target, page.position(follower))


def check_alignment_page(page: Page) -> None:
    data = page.data
    page.wait_players("player-a", "player-b")
    page.page.evaluate("document.getElementById('player-a').play()")  # play A: B follows
    page.page.wait_for_timeout(1200)
    page.page.evaluate("document.getElementById('player-a').pause()")
    page.settle()
    assert page.position("player-a") > 3  # it played
    check_follows(page, "player-a", "player-b", data["alignment"]["a_to_b"])
    j = data["b"]["frames"] * 2 // 3  # scrub B: A follows
    page.page.evaluate(f"document.getElementById('player-b').currentTime = {(j + 0.5) / data['b']['fps']}")
    page.settle()
    check_follows(page, "player-b", "player-a", data["alignment"]["b_to_a"])
    i, j = data["a"]["frames"] // 3, data["b"]["frames"] // 2  # click a cell of the matrix: both seek to it
    box = page.page.locator("#matrix").bounding_box()
    page.page.mouse.click(box["x"] + (j + 0.5) / data["b"]["frames"] * box["width"],
                          box["y"] + (i + 0.5) / data["a"]["frames"] * box["height"])  # fmt: skip
    page.settle()
    assert int(page.position("player-a")) == i and int(page.position("player-b")) == j
    shot = page.screenshot()
    assert shot.std() > 20 and len(np.unique(shot.reshape(-1, 3)[::97], axis=0)) > 50  # not blank
    assert page.errors == []


def _checker(size: int, k: int) -> np.ndarray:
    """A frame unlike the coded ones: a checkerboard of ``size``-pixel squares, phase ``k``."""
    y, x = np.mgrid[0:48, 0:64]
    board = (((x + k) // size + y // size) % 2 * 255).astype(np.uint8)
    return np.repeat(board[:, :, None], 3, axis=2)


@pytest.fixture(scope="module")
def inserted(tmp_path_factory, coded):
    """A reference of 28 coded frames and a query that repeats it with 10 foreign frames after its frame 14."""
    root = tmp_path_factory.mktemp("inserted")
    frames = [coded.frame(k) for k in range(28)]
    write_video(root / "reference.mp4", frames, fps=10.0)
    write_video(root / "query.mp4", frames[:14] + [_checker(8, k) for k in range(10)] + frames[14:], fps=10.0)
    return root


def test_the_alignment_page_of_two_videos(browser, clips, tmp_path):
    va.align(clips.a, clips.b, backbone="pixel").write(tmp_path)
    page = Page(browser, tmp_path)
    assert page.data["kind"] == "align"
    check_alignment_page(page)


def test_the_served_alignment_page_seeks_its_players(browser, clips, tmp_path):
    """`vidalign view` served media whole to every request: Chromium could not seek, both players stayed at 0."""
    from vidalign.viewer.serve import page_server

    va.align(clips.a, clips.b, backbone="pixel").write(tmp_path)
    server = page_server(tmp_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_alignment_page(Page(browser, tmp_path, f"http://127.0.0.1:{server.server_address[1]}/index.html"))
    finally:
        server.shutdown()
        server.server_close()


def test_a_repetitive_alignment_states_its_phase_note(browser, repeated_pair, tmp_path):
    """Two recordings of a repeated movement, trusted by the phase they share: the page says so, no warning."""
    result = va.align(*repeated_pair)
    assert result.confidence.judged_by == "phase"
    result.write(tmp_path)
    page = Page(browser, tmp_path)
    assert "repeat a movement" in page.page.inner_text("#repetition-note")
    assert "phase evidence" in page.page.inner_text("#confidence") and "18 / 30" in page.page.inner_text("#confidence")
    assert page.page.locator("#warning").is_hidden() and page.errors == []


def test_a_pair_unlike_the_models_training_recordings_shows_its_match_ratio(browser, repeated_pair, tmp_path):
    result = va.align(*repeated_pair)
    level = 1 - (1 - result.confidence.path_similarity) / 9  # the pair 9 times as far from identical
    result = dataclasses.replace(result, confidence=with_training_pairs(result.confidence, level))
    result.write(tmp_path)
    page = Page(browser, tmp_path)
    table = page.page.inner_text("#confidence")
    assert "match ratio" in table and f"{result.confidence.match_ratio:.3f}" in table
    assert "training recordings" in page.page.inner_text("#warning") and page.errors == []


def test_the_comparison_page_marks_the_flagged_frames(browser, inserted, tmp_path):
    result = va.compare(inserted / "reference.mp4", inserted / "query.mp4", backbone="pixel")
    result.write(tmp_path)
    assert any(start <= 18 <= end for start, end in result.flagged)  # the inserted frames are found
    page = Page(browser, tmp_path)
    marked = page.page.evaluate(
        "[...document.querySelectorAll('#deviation rect.flagged')].map(r => [+r.dataset.start, +r.dataset.end])"
    )
    assert marked == [list(interval) for interval in result.flagged]
    box = page.page.locator("#deviation").bounding_box()  # hover a flagged frame: both previews, "flagged"
    start, end = result.flagged[0]
    page.page.mouse.move(box["x"] + (start + end + 1) / 2 / len(result.deviation) * box["width"], box["y"] + 50)
    tooltip = page.page.locator(".tooltip")
    assert tooltip.is_visible() and "flagged" in tooltip.inner_text() and tooltip.locator(".thumb").count() == 2
    check_alignment_page(page)


def test_the_comparison_page_of_two_real_clips(browser, shared_data, tmp_path):
    clips = [shared_data / "biisc" / name for name in BIISC]
    va.compare(*clips).write(tmp_path)
    page = Page(browser, tmp_path)
    assert page.data["a"]["name"] == BIISC[0] and page.data["b"]["video"] == "media/query.mp4"
    check_alignment_page(page)
    (tmp_path / "screenshot.png").write_bytes(page.page.screenshot(full_page=True))


def test_a_match_opens_its_moment(browser, inserted, tmp_path):
    folder = tmp_path / "folder"
    va.extract(inserted, folder, backbone="pixel")
    result = va.retrieve(inserted / "reference.mp4", 12, folder, k=2, backbone="pixel")
    result.write(tmp_path / "page")
    page = Page(browser, tmp_path / "page")
    card = page.page.locator(".match[data-video='query']").first
    frame = int(card.get_attribute("data-frame"))
    card.click()
    page.page.wait_for_function("document.getElementById('player-match').readyState >= 2", timeout=15_000)
    page.settle()
    fps = next(r["recording"]["fps"] for r in page.data["results"] if r["video"] == "query")
    position = page.page.evaluate("document.getElementById('player-match').currentTime") * fps
    assert abs(position - (frame + 0.5)) <= 1.0 and page.errors == []


def test_a_recording_searched_mirrored_says_so(browser, tmp_path):
    from vidalign.retrieval import Match, Retrieval

    frames = {"left": 24, "right": 30}
    recordings = {name: {"path": name, "n_frames": n, "fps": 10.0, "timestamps": None} for name, n in frames.items()}
    recordings["left"]["mirror"] = {"mirrored": True}
    recordings["right"]["mirror"] = {"mirrored": False}
    matches = {name: [Match(name, 5, 0.9, 0.5)] for name in ("left", "right")}
    profiles = {name: np.linspace(0.0, 1.0, frames[name]) for name in matches}
    query = {"path": "query.npy", "n_frames": 20, "fps": 10.0, "timestamps": None}
    Retrieval("query.npy", 3, matches, profiles, recordings=recordings, query_recording=query).write(tmp_path)
    page = Page(browser, tmp_path)
    headings = page.page.locator("h2").all_inner_texts()
    assert "left (searched mirrored left-right)" in headings and "right" in headings and page.errors == []


def test_the_segmentation_page_draws_every_timeline(browser, tiny_folder, asot_run, tmp_path):
    result = va.segment(tiny_folder, asot_run)
    result.write(tmp_path)
    page = Page(browser, tmp_path)
    assert page.page.locator(".timeline").count() == 2 * len(result.labels)  # predicted and ground truth
    first = next(iter(result.labels))
    labels = page.page.locator(".timeline-label").all_inner_texts()  # the ground truth above the prediction
    assert labels[0].startswith(f"{first}: ground truth") and labels[1].startswith(f"{first}: predicted")
    timelines = page.page.locator(".timeline")
    assert timelines.nth(1).locator(".segment").count() == len(result.segments(first))
    page.page.locator(".timeline .segment").first.click()
    assert "no video" in page.page.locator("figcaption").first.inner_text() and page.errors == []


def _rewrite_data(folder, change) -> None:
    """Apply ``change`` to the payload of the page in ``folder`` (its ``data.js``)."""
    import json

    data = read_data(folder)
    change(data)
    (folder / "data.js").write_text(f"window.VIDALIGN_DATA = {json.dumps(data)};\n")


def test_the_deviation_curve_of_a_long_query_with_missing_values(browser, inserted, tmp_path):
    """150,000 values (about 80 minutes at 30 fps) overflowed the call stack of ``Math.max(...values)`` and the
    page never got ready; frames without a value were drawn as zero deviation, which reads as a perfect match."""
    va.compare(inserted / "reference.mp4", inserted / "query.mp4", backbone="pixel").write(tmp_path)

    def long_with_gaps(data):
        values = [0.2 + 0.1 * np.sin(j / 500) for j in range(150_000)]
        values[1000:1200] = [None] * 200
        data["deviation"]["values"] = values

    _rewrite_data(tmp_path, long_with_gaps)
    page = Page(browser, tmp_path)
    runs = page.page.evaluate(
        "[...document.querySelectorAll('#deviation polyline.deviation')].map(p => p.points.numberOfItems)"
    )
    assert runs == [1000, 150_000 - 1200] and page.errors == []


def test_the_player_shows_the_last_clicked_moment(browser, tiny_folder, asot_run, tmp_path):
    """Two clicks on one recording before its video loaded: the first click's seek fired after the second's,
    leaving the player on the first moment under the second's caption."""
    result = va.segment(tiny_folder, asot_run)
    result.write(tmp_path)
    video_id = next(iter(result.labels))

    def with_a_video(data):
        data["videos"][0]["recording"].update({"video": "clip.mp4", "fps": 10.0})

    frames = [np.full((32, 32, 3), 7 * k % 250, np.uint8) for k in range(len(result.labels[video_id]))]
    write_video(tmp_path / "clip.mp4", frames, fps=10.0)
    _rewrite_data(tmp_path, with_a_video)
    page = Page(browser, tmp_path)
    page.page.evaluate("""() => {
        const stage = document.getElementById('player-segment');
        const segments = [...document.querySelectorAll('.timeline')][0].querySelectorAll('.segment');
        segments[segments.length - 1].dispatchEvent(new MouseEvent('click', {bubbles: true}));
        segments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}));
    }""")
    page.wait_players("player-segment")
    page.settle()
    caption = page.page.locator("figcaption").first.inner_text()
    position = page.page.evaluate("document.getElementById('player-segment').currentTime") * 10.0
    first = result.segments(video_id)[0]["start"]
    assert f"frame {first} " in caption and abs(position - (first + 0.5)) <= 1.0 and page.errors == []


def test_more_steps_than_the_palette_get_their_own_colours(browser, tiny_folder, asot_run, tmp_path):
    """Beyond 16 step names the colours repeated: steps 0 and 16 looked the same."""
    result = va.segment(tiny_folder, asot_run)
    result.write(tmp_path)

    def twenty_steps(data):
        segments = data["videos"][0]["segments"]
        n = segments[-1]["end"] + 1
        data["videos"][0]["segments"] = [
            {**segments[0], "label": k, "name": f"step {k}", "start": k * n // 20, "end": (k + 1) * n // 20 - 1}
            for k in range(20)
        ]
        data["videos"][0].pop("ground_truth", None)

    _rewrite_data(tmp_path, twenty_steps)
    page = Page(browser, tmp_path)
    colours = page.page.evaluate(
        "[...[...document.querySelectorAll('.timeline')][0].querySelectorAll('.segment')]"
        ".map(s => getComputedStyle(s).backgroundColor || s.getAttribute('fill'))"
    )
    assert len(colours) == 20 and len(set(colours)) == 20 and page.errors == []
