"""The web page in headless Chromium (Debian's chromium, driven by Playwright): two images
in (one dropped, one chosen), both finished, the slider and zoom moved, one result and the
ZIP of all downloaded and checked against the library's output, the layout measured.

SUPERRES_UPDATE_SCREENSHOT=1 writes the page's screenshot to docs/images/serve.png."""

from __future__ import annotations

import base64
import io
import os
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from superres.serve import ServeOptions
from tests.serve.conftest import LIMITS, library_result, png_bytes, serve

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "images" / "serve.png"
MODEL = "compact-x2-kd"  # a shipped model, small enough for a test, and a real picture for the screenshot
DROP = """async ([name, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/png" }));
  const drop = new DragEvent("drop", { dataTransfer: transfer, bubbles: true });
  document.getElementById("drop").dispatchEvent(drop);
}"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():  # scripts/setup.sh installs it; never skipped
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup.sh (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page_server(tiny_weights):
    running = serve(ServeOptions(models=(MODEL, str(tiny_weights), "bicubic"), workers=2, **LIMITS))
    yield running
    running.stop()


def _box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def _check_layout(page) -> None:
    """The layout at 1280 x 800: options, then the drop zone across the page, then the list
    (320 px) left of the viewer, the slider as wide as the viewer."""
    controls, drop = _box(page, "#controls"), _box(page, "#drop")
    listing, viewer, slider = _box(page, "#list-panel"), _box(page, "#viewer-panel"), _box(page, "#compare")
    assert controls["y"] + controls["height"] <= drop["y"]
    assert drop["width"] > 1150 and drop["y"] + drop["height"] <= listing["y"]
    assert abs(listing["width"] - 320) < 2 and listing["x"] + listing["width"] < viewer["x"]
    assert abs(listing["y"] - viewer["y"]) < 2 and viewer["width"] > 800
    assert slider["width"] > viewer["width"] - 40 and slider["y"] > _box(page, "#viewer")["y"]
    assert viewer["y"] + viewer["height"] <= 800  # all of it on the first screen


@pytest.mark.slow
def test_two_images_slider_zoom_and_downloads(browser, page_server, tmp_path):
    cat = (ROOT / "assets" / "sample.png").read_bytes()
    small = png_bytes(40, 56, seed=2)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    requested, problems = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(page_server.url + "/")
    expect(page.locator("#model option")).to_have_count(3)
    page.select_option("#model", MODEL)
    page.evaluate(DROP, ["cat.png", base64.b64encode(cat).decode()])
    page.set_input_files("#files", files=[{"name": "small.png", "mimeType": "image/png", "buffer": small}])
    expect(page.locator(".item[data-state=done]")).to_have_count(2, timeout=60_000)
    # The first image to finish is shown, which depends on the workers' timing: pick the cat.
    page.locator(".item", has_text="cat.png").locator(".select").click()
    page.wait_for_function("() => document.querySelector('#after').naturalWidth === 450", timeout=10_000)
    assert page.locator("#after").evaluate("img => [img.naturalWidth, img.naturalHeight]") == [450, 300]

    page.locator("#compare").fill("25")
    assert page.locator("#before").evaluate("img => img.style.clipPath") == "inset(0px 75% 0px 0px)"
    stage = _box(page, "#stage")
    page.mouse.move(stage["x"] + stage["width"] * 0.8, stage["y"] + stage["height"] / 2)
    page.mouse.down()
    page.mouse.up()
    assert abs(float(page.locator("#compare").input_value()) - 80) < 1
    _check_layout(page)
    if os.environ.get("SUPERRES_UPDATE_SCREENSHOT") == "1":
        page.locator("#compare").fill("50")
        page.screenshot(path=str(SCREENSHOT))
    page.select_option("#zoom", "2")
    assert _box(page, "#stage")["width"] == pytest.approx(900, abs=1)

    with page.expect_download() as single:
        page.locator(".item .download").first.click()
    assert single.value.suggested_filename == "cat_x2.png"
    expected = library_result(MODEL, cat, tmp_path)
    assert Path(single.value.path()).read_bytes() == expected
    with page.expect_download() as everything:
        page.click("#download-all")
    archive = zipfile.ZipFile(io.BytesIO(Path(everything.value.path()).read_bytes()))
    assert archive.testzip() is None and sorted(archive.namelist()) == ["cat_x2.png", "small_x2.png"]
    assert archive.read("cat_x2.png") == expected
    assert archive.read("small_x2.png") == library_result(MODEL, small, tmp_path)
    outside = [url for url in requested if not url.startswith((page_server.url, "blob:", "data:"))]
    assert outside == [] and problems == []
    context.close()


@pytest.mark.slow
def test_a_failed_image_says_why(browser, page_server):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(page_server.url + "/")
    expect(page.locator("#model option")).to_have_count(3)
    page.set_input_files(
        "#files", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a png"}]
    )
    expect(page.locator(".item[data-state=failed]")).to_have_count(1, timeout=30_000)
    assert "not an image" in page.locator(".item .status").inner_text()
    assert page.locator("#download-all").is_disabled()
    page.close()
