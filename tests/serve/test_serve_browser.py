"""The live page in a real browser: headless Chromium with a fake camera playing a synthetic motion clip.

A small stream model is trained here on the synthetic "squares" motion classes (the demo's recipe,
shortened: a causal A0 at 64 px, 3 epochs on 6 x 100 clips, about 2-3 minutes on one thread), exported
to ONNX and served; Chromium opens the page with `--use-file-for-fake-video-capture` pointed at a Y4M
of a clip the model never saw, and the page must show the clip's true label as top-1. The
screenshot is saved as a test artefact (`$MOVINET_TEST_ARTIFACTS`, default pytest's base temp dir).

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); skipped where no
Chromium can be found.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.inference.assets import single_thread

pytestmark = pytest.mark.slow

CLIP_LABEL = "move_up"
VIDEO_FPS = 8.0  # the synthetic videos' rate; the model sees every 2nd frame (temporal_stride 2)
MODEL_FPS = VIDEO_FPS / 2
MIN_VAL_TOP1 = 0.8  # measured: 0.89 after 3 epochs
PAGE_TIMEOUT_S = 90.0


def find_chromium() -> tuple[str, str]:
    """(browser, driver) paths, or skip with the reason."""
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")
    browser = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                    if (path := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no Chromium found (need `chromium` and `chromedriver` on PATH: apt-get install chromium "
                    "chromium-driver)")
    return browser, driver


def write_y4m(path: Path, frames: np.ndarray, fps: float) -> Path:
    """(T, H, W, 3) uint8 RGB -> a YUV4MPEG2 file (4:2:0), the format of Chromium's fake camera."""
    import av

    height, width = frames.shape[1:3]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            yuv = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(format="yuv420p")
            out.write(b"FRAME\n" + yuv.to_ndarray().tobytes())
    return path


@pytest.fixture(scope="module")
def trained_onnx(tmp_path_factory) -> Path:
    """A causal A0 trained on the squares motion classes, exported as a stream ONNX graph."""
    from movinet.data.synthetic import make_motion_dataset
    from movinet.engine.config import load_config
    from movinet.engine.demo import demo_config_path
    from movinet.engine.train import fit
    from movinet.export.onnx import export_from_weights

    work = tmp_path_factory.mktemp("serve-trained")
    with single_thread():
        data = make_motion_dataset(work / "data", num_classes=6, videos_per_class=100, val_videos_per_class=10,
                                   num_frames=16, size=64, fps=VIDEO_FPS, seed=0, style="squares")
        cfg = load_config(demo_config_path(), [
            "model.name=movinet_a0_stream", f"data.root={data['root']}", "data.train_list=train",
            "data.val_list=val", "data.test_list=val", "data.labels_file=labels.txt", "train.epochs=3",
            f"train.output_dir={work / 'run'}", "train.progress=false", "train.time_limit_minutes=12"])
        fitted = fit(cfg, validate=True)
        assert fitted["best_top1"] >= MIN_VAL_TOP1, f"the test model reached only {fitted['best_top1']:.3f} val top-1"
        print(f"browser-test model: val top-1 {fitted['best_top1']:.3f} after {fitted['epochs']} epochs")
        return export_from_weights(fitted["best_weights"], work / "onnx", stream_steps=3).onnx_path


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory) -> dict[str, Path]:
    """The held-out clip (a seed no training clip used) as a Y4M fake camera and as an mp4 file."""
    from movinet.data.synthetic import make_motion_video, render_square_clip

    folder = tmp_path_factory.mktemp("serve-clip")
    seed = 987_654
    frames = render_square_clip(CLIP_LABEL, np.random.default_rng(seed), num_frames=16, size=64)
    return {"y4m": write_y4m(folder / "camera.y4m", frames, VIDEO_FPS),
            "mp4": make_motion_video(folder / "clip.mp4", CLIP_LABEL, num_frames=16, size=64, fps=VIDEO_FPS,
                                     seed=seed, style="squares")}


@pytest.fixture(scope="module")
def served(trained_onnx):
    from movinet.serve.model import ServedModel

    return ServedModel.load(trained_onnx, num_threads=1, fps=MODEL_FPS)


@pytest.fixture
def open_browser() -> Iterator[Callable[..., object]]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find_chromium()
    drivers = []

    def launch(*flags: str):
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,700", *flags):
            options.add_argument(flag)
        drivers.append(webdriver.Chrome(service=Service(driver), options=options))
        return drivers[-1]

    yield launch
    for instance in drivers:
        instance.quit()


def artifacts_dir(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("MOVINET_TEST_ARTIFACTS") or tmp_path_factory.getbasetemp() / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_PAGE_STATE_JS = """
const text = (id) => document.getElementById(id).textContent;
const crop = document.getElementById("crop");
const pixels = crop ? crop.getContext("2d").getImageData(0, 0, crop.width, crop.height).data : [];
let lit = 0;
for (let i = 0; i < pixels.length; i += 4) lit += pixels[i] + pixels[i + 1] + pixels[i + 2] > 60 ? 1 : 0;
return {top1: text("top1"), frames: Number(document.getElementById("results").dataset.frames),
        status: text("status"), kind: document.body.dataset.status,
        bars: Array.from(document.querySelectorAll("#topk li"), (li) => li.dataset.label),
        latency: text("latency"), served: text("served"), batch: text("batch"),
        stale: document.getElementById("results").classList.contains("stale"),
        warning: document.getElementById("last-error").hidden ? null : text("last-error"),
        retry_s: document.body.dataset.retryS || null,
        crop: crop && {width: crop.width, height: crop.height, frames: Number(crop.dataset.frames),
                       lit: lit / (pixels.length / 4)}};
"""


def page_state(page) -> dict[str, object]:
    """What the page shows, read in one script call (the page redraws between separate reads)."""
    return page.execute_script(_PAGE_STATE_JS)


def wait_until(page, condition: Callable[[dict], bool], timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    seen: list[dict] = []
    while time.monotonic() < deadline:
        state = page_state(page)
        if condition(state):
            return state
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.25)
    raise AssertionError(f"the page did not show {what} within {timeout:g} s; it showed: {seen[-8:]}")


def test_page_shows_the_true_label_of_the_fake_camera(served, clip_files, open_browser, tmp_path_factory):
    from movinet.serve import ServerThread, create_app

    server = ServerThread(create_app(served)).start()
    port = int(server.url.rsplit(":", 1)[1])
    try:
        page = open_browser("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                            f"--use-file-for-fake-video-capture={clip_files['y4m']}")
        page.get(server.url + "/")
        # After at least a training clip's worth of frames (8), the top-1 must be the clip's label.
        state = wait_until(page, lambda s: s["frames"] >= 8 and s["top1"] == CLIP_LABEL, PAGE_TIMEOUT_S,
                           f"top-1 {CLIP_LABEL!r} after 8 frames")
        screenshot = artifacts_dir(tmp_path_factory) / "serve_page.png"
        page.save_screenshot(str(screenshot))
        print(f"screenshot of the page: {screenshot}")
        assert screenshot.stat().st_size > 10_000
        assert state["kind"] == "ok" and "classifying the camera" in state["status"]
        assert len(state["bars"]) == 5 and state["bars"][0] == CLIP_LABEL
        assert set(state["bars"]) <= set(served.predictor.labels)
        assert float(state["latency"]) > 0 and float(state["served"]) > 0
        # The centre crop the model sees: the model's input size, with the camera's picture in it.
        assert state["crop"] is not None, "the page shows no crop"
        assert (state["crop"]["width"], state["crop"]["height"]) == (64, 64)
        assert state["crop"]["frames"] >= 8 and state["crop"]["lit"] > 0.05

        server.stop()  # the page says the server is gone, greys out the last result, blanks the live figures ...
        gone = wait_until(page, lambda s: s["kind"] == "error" and "Server gone" in s["status"], 20, "'Server gone'")
        assert gone["stale"] and gone["top1"] == CLIP_LABEL  # still readable, greyed
        assert gone["latency"] == gone["served"] == gone["batch"] == "–"
        server = ServerThread(create_app(served), port=port).start()
        # ... and reconnects to a new one on the same address, streaming again from a fresh state,
        # with the old warnings gone.
        back = wait_until(page, lambda s: s["kind"] == "ok" and s["frames"] >= 2, 40, "a reconnected stream")
        assert not back["stale"] and back["warning"] is None
    finally:
        server.stop()


def test_page_says_the_camera_was_refused_and_plays_a_file(served, clip_files, open_browser):
    from selenium.webdriver.common.by import By

    from movinet.serve import ServerThread, create_app

    with ServerThread(create_app(served)) as server:
        page = open_browser("--use-fake-device-for-media-stream", "--deny-permission-prompts")
        page.get(server.url + "/")
        wait_until(page, lambda s: "camera access was refused" in s["status"], 30, "that the camera was refused")
        page.find_element(By.ID, "file").send_keys(str(clip_files["mp4"]))
        state = wait_until(page, lambda s: "clip.mp4 ended" in s["status"] and s["frames"] >= 6, 30,
                           "the end of the chosen file")
        assert state["top1"] == CLIP_LABEL


def test_a_file_the_browser_cannot_play_is_said_so_and_clears_the_result(served, clip_files, open_browser,
                                                                         tmp_path):
    """A text file or an AVI chosen after the camera gave results: the page says the file cannot be
    played, and no previous result stays on screen as if it were the file's."""
    from selenium.webdriver.common.by import By

    from movinet.data.video import write_video
    from movinet.serve import ServerThread, create_app

    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a video\n" * 100)
    avi = write_video(tmp_path / "clip.avi", np.zeros((8, 64, 64, 3), np.uint8) + 128, 8.0)
    with ServerThread(create_app(served)) as server:
        page = open_browser("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                            f"--use-file-for-fake-video-capture={clip_files['y4m']}")
        page.get(server.url + "/")
        wait_until(page, lambda s: s["frames"] >= 2 and s["top1"] != "–", PAGE_TIMEOUT_S, "a camera result")
        for chosen in (text_file, avi):
            page.find_element(By.ID, "file").send_keys(str(chosen))
            state = wait_until(page, lambda s: "cannot be played" in s["status"], 20,
                               f"that {chosen.name} cannot be played")
            assert chosen.name in state["status"] and state["kind"] == "warn"
            assert "classifying" not in state["status"]
            assert state["top1"] == "–" and state["bars"] == [] and state["frames"] == 0
            time.sleep(1.0)  # nothing comes back on screen
            assert page_state(page)["top1"] == "–"
        page.find_element(By.ID, "file").send_keys(str(clip_files["mp4"]))  # a playable file works again
        state = wait_until(page, lambda s: s["kind"] == "ok" and s["frames"] >= 2, 30, "the playable file classified")
        assert "classifying the file" in state["status"]


def test_a_full_server_is_said_full_and_retried_with_back_off(served, clip_files, open_browser):
    from movinet.serve import ServeSettings, ServerThread, create_app
    from movinet.serve.client import StreamClient

    settings = ServeSettings(max_streams=1)
    with ServerThread(create_app(served, settings), settings) as server:
        holder = StreamClient(server.url)
        page = open_browser("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                            f"--use-file-for-fake-video-capture={clip_files['y4m']}")
        page.get(server.url + "/")
        delays: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "8" not in delays:
            state = page_state(page)
            if state["retry_s"] and (not delays or delays[-1] != state["retry_s"]):
                delays.append(state["retry_s"])
                assert "full" in state["status"] and "gone" not in state["status"].lower(), state["status"]
            time.sleep(0.1)
        assert delays[:4] == ["1", "2", "4", "8"], delays  # backs off instead of retrying every second
        holder.close()  # a place frees up: the page gets in at its next try, and the warning goes
        state = wait_until(page, lambda s: s["kind"] == "ok" and s["frames"] >= 2, 30, "the stream once a place freed")
        assert state["warning"] is None and state["retry_s"] is None and "full" not in state["status"]
