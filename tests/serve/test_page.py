"""The web page in a real headless browser (Debian's chromium + chromedriver, from
scripts/setup.sh): it lists the models, uploads a file and shows the transcript with segment
times, and runs a conversation whose turns show their context footprint."""

from __future__ import annotations

import shutil

import pytest

from susurrus.serve import ServeConfig, create_app
from tests.serve.common import fake_loader, running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="chromium and chromium-driver are not installed (scripts/setup.sh installs them)")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    app = create_app(ServeConfig(models=("fake",), state_dir=tmp_path_factory.mktemp("state"),
                                 api_keys=("page-key",)), fake_loader())
    with running(app) as url:
        yield url


def wait_text(browser, css: str, timeout: float = 20) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout).until(
        lambda b: b.find_element(By.CSS_SELECTOR, css).text.strip())
    return browser.find_element(By.CSS_SELECTOR, css).text.strip()


def test_upload_a_file_and_read_the_transcript(browser, url, clips):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/")
    key = browser.find_element(By.ID, "api-key")
    key.send_keys("page-key")
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)
    WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#model option"))
    browser.find_element(By.ID, "file").send_keys(str(clips["long"]))
    browser.find_element(By.ID, "transcribe").click()
    assert wait_text(browser, "#transcript") == ("clip 2.50 part 1 of 3 after 0. clip 2.50 part 2 "
                                                 "of 3 after 0. clip 2.50 part 3 of 3 after 0.")
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#segments tbody tr")]
    assert rows == [["0:00.00", "0:01.00", "clip 2.50 part 1 of 3 after 0."],
                    ["0:01.00", "0:02.00", "clip 2.50 part 2 of 3 after 0."],
                    ["0:02.00", "0:02.50", "clip 2.50 part 3 of 3 after 0."]]
    assert "2.5 s of audio" in browser.find_element(By.ID, "status").text


def test_a_conversation_shows_each_turn_and_its_context(browser, url, clips):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/")  # the key is kept in localStorage
    WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#session-context option"))
    browser.find_element(By.ID, "new-session").click()
    assert wait_text(browser, "#session-id").startswith("sess_")
    for n, clip in enumerate((clips["short"], clips["long"]), 1):
        browser.find_element(By.ID, "turn-file").send_keys(str(clip))
        browser.find_element(By.ID, "send-turn").click()
        WebDriverWait(browser, 20).until(
            lambda b, n=n: len(b.find_elements(By.CSS_SELECTOR, "#turns li")) == n)
    turns = browser.find_elements(By.CSS_SELECTOR, "#turns li")
    assert turns[1].find_element(By.CLASS_NAME, "turn-text").text.endswith("after 16.")
    assert "read with 1 earlier turn(s)" in turns[1].find_element(By.CLASS_NAME, "footprint").text
