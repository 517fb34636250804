"""tools/demo.py in a real browser: upload, paint a stroke, run, download, compare byte for byte.

Starts the page on a free localhost port in a subprocess and drives headless Chromium with
Playwright (pointed at the system's Chromium: Playwright's own browser download needs the
internet). Skipped, with the reason, when Gradio, Playwright or Chromium is missing; marked slow
(about a minute on 2 busy CPU cores: TensorFlow's start, software WebGL, the first network call).

Run it with:
  pip install -e ".[demo]" playwright && apt-get install chromium
  python -m pytest -q --runslow tests/test_demo_browser.py
"""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest
import skimage.data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "tools", "demo.py")
# Where Debian (chromium), Ubuntu's snap-less builds and others put the browser.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAX_PIXELS = 30_000  # The photo (192x144) fits; the "huge" image (256x256) does not.
STARTUP_SECONDS = 180

pytestmark = pytest.mark.slow


def _chromium():
    path = os.environ.get("TFINPAINT_CHROMIUM")
    if path:
        return path if os.path.isfile(path) else None
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_page(url, process, log_path):
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                pytest.fail(f"tools/demo.py exited with {process.returncode}:\n{f.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"tools/demo.py did not serve {url} within {STARTUP_SECONDS} s.")


@pytest.fixture
def demo_url(tmp_path):
    """The page's URL, served by tools/demo.py in a subprocess for the test's duration."""
    port = _free_port()
    log_path = tmp_path / "demo.log"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                DEMO,
                "--host=127.0.0.1",
                f"--port={port}",
                "--checkpoint=pconv_small_photos",
                "--strategy=pad",
                f"--max_pixels={MAX_PIXELS}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_page(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def browser_page():
    """A Playwright page in headless Chromium, or a skip naming what is missing."""
    for module, install in (
        ("gradio", 'pip install -e ".[demo]"'),
        ("playwright", "pip install playwright"),
    ):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed ({install}).")
    executable = _chromium()
    if executable is None:
        pytest.skip(
            "No Chromium found (apt-get install chromium, or set TFINPAINT_CHROMIUM to its path)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def _expect_message(page, text):
    """Waits for a Gradio toast holding `text` (a gr.Error or gr.Warning); no stack trace."""
    page.locator(".toast-body", has_text=text).first.wait_for(state="visible")
    assert "Traceback" not in page.content()


def _download(page, selector, path):
    with page.expect_download() as download:
        page.locator(f"{selector} a").first.click()
    download.value.save_as(path)
    return path


def test_upload_paint_run_download(browser_page, demo_url, tmp_path):  # Skips before serving.
    page = browser_page
    photo = np.ascontiguousarray(skimage.data.astronaut()[40:184, 160:352])  # (144, 192, 3)
    photo_path = str(tmp_path / "photo.png")
    cv2.imwrite(photo_path, photo[..., ::-1])
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image\n")
    huge_path = str(tmp_path / "huge.png")
    cv2.imwrite(huge_path, np.zeros((256, 256, 3), np.uint8))

    page.goto(demo_url)
    file_input = page.locator("#upload input[type=file]")
    # Bad input is answered on the page in one sentence, never with a stack trace.
    file_input.set_input_files(str(not_image))
    _expect_message(page, "Could not decode")
    file_input.set_input_files(huge_path)
    _expect_message(page, "65,536 pixels")

    file_input.set_input_files(photo_path)
    page.wait_for_function("document.querySelector('#info').innerText.includes('192x144 px')")
    page.locator("#run").click()
    _expect_message(page, "No hole painted")

    # One stroke across the middle of the photo (the canvas centres it). Few mouse events:
    # each one redraws the WebGL canvas, about a second in software rendering on a busy CPU.
    page.locator("#editor button[aria-label='Brush']").click()
    box = page.locator("#editor canvas").first.bounding_box()
    centre_x, centre_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(centre_x - 60, centre_y - 10)
    page.mouse.down()
    for step in range(1, 5):
        page.mouse.move(centre_x - 60 + 30 * step, centre_y - 10 + 5 * step)
    page.mouse.up()

    page.locator("#run").click()
    page.locator("#result_file a").first.wait_for(state="visible", timeout=120_000)
    assert "byte for byte" in page.locator("#status").inner_text()
    result = cv2.imread(_download(page, "#result_file", str(tmp_path / "result.png")))
    holes = cv2.imread(_download(page, "#mask_file", str(tmp_path / "holes.png")), 0) > 127

    uploaded = cv2.imread(photo_path)
    assert result.shape == uploaded.shape
    assert holes.shape == uploaded.shape[:2]
    # The stroke became a hole in the middle of the photo: not nothing, not everything.
    assert 0.01 < holes.mean() < 0.6, holes.mean()
    rows, cols = np.nonzero(holes)
    assert abs(rows.mean() - 72) < 30 and abs(cols.mean() - 96) < 30, (rows.mean(), cols.mean())
    # Known pixels are the upload's byte for byte; the hole was filled with something new.
    np.testing.assert_array_equal(result[~holes], uploaded[~holes])
    changed = (result[holes] != uploaded[holes]).any(axis=-1)
    assert changed.mean() > 0.5, changed.mean()
    screenshot = os.environ.get("TFINPAINT_DEMO_SCREENSHOT")
    if screenshot:  # How docs/images/demo.png can be retaken.
        page.screenshot(path=screenshot, full_page=True)
