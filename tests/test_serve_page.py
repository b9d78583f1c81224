"""The web page in a real browser (Playwright driving Debian's chromium): upload the real DICOM, see it, ask, get an answer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pydicom")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Playwright's own browser download is unreachable here; CI installs Debian's chromium (.ci/run) and must run this test.
needs_browser = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium (apt-get install chromium)")
SCREENSHOT_ENV = "HEARTCARE_PAGE_SCREENSHOT"  # where to keep the screenshot (the README's picture is made this way)


@pytest.fixture(scope="module")
def page_server(tiny_gpt_checkpoint, start_uvicorn) -> str:
    from heartcare.serve.app import create_app
    from heartcare.serve.settings import ServeSettings

    return start_uvicorn(create_app(ServeSettings(model=tiny_gpt_checkpoint))) + "/"


@needs_browser
def test_upload_the_real_dicom_see_it_ask_and_get_an_answer(page_server, tmp_path):
    from pydicom.data import get_testdata_file

    assert CHROMIUM is not None, "CI must have Debian's chromium: .ci/run installs it"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_server)
            page.get_by_test_id("file").set_input_files(get_testdata_file("waveform_ecg.dcm"))
            drawing = page.get_by_test_id("drawing")
            drawing.wait_for(state="visible", timeout=60_000)
            page.wait_for_function("document.getElementById('drawing').naturalWidth > 500", timeout=60_000)
            rows = page.get_by_test_id("measurements").locator("tbody tr")
            assert rows.count() == 6
            heart_rate = rows.filter(has_text="Heart rate").locator("td").nth(1).inner_text()
            assert 55 <= int(heart_rate) <= 67  # the cart: RR 982 ms
            device = rows.filter(has_text="PR").first.locator("td").nth(2).inner_text()
            assert device == "161"  # the cart's own PR beside heartcare's
            page.get_by_test_id("question").fill("What is the rhythm of this ECG?")
            page.get_by_test_id("send").click()
            answer = page.locator("#chat .message.assistant.done")
            answer.wait_for(timeout=120_000)
            assert answer.inner_text().strip()
            assert page.locator("#chat .message.user").inner_text() == "What is the rhythm of this ECG?"
            assert not page.get_by_test_id("predict").is_disabled()  # the tiny model brings a Beat
            page.get_by_test_id("predict").click()
            page.wait_for_function("document.getElementById('forecast').naturalWidth > 100", timeout=60_000)
            page.get_by_test_id("report").click()  # the report streams into the chat, then its PDF is offered
            page.locator("#chat .message.assistant.done").nth(1).wait_for(timeout=120_000)
            page.get_by_test_id("report-pdf").wait_for(state="visible", timeout=60_000)
            with page.expect_download() as download:
                page.get_by_test_id("report-pdf").click()
            assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
            page.get_by_test_id("file").set_input_files(get_testdata_file("waveform_ecg.dcm"))  # a second ECG
            page.wait_for_function("document.getElementById('compare').options.length === 3", timeout=60_000)
            page.get_by_test_id("compare").select_option(index=1)
            page.get_by_test_id("compare-button").click()
            page.locator("#chat .message.assistant.done").nth(2).wait_for(timeout=120_000)
            shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "page.png")
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert not errors, errors
        finally:
            browser.close()
