"""The PM's page in a real browser: headless Chromium (Debian ``chromium`` +
``chromium-driver``) driven by Selenium over real loopback HTTP.

Open the page, see the numbers, accept a suggestion in the inbox, run a sync
against the Jira sandbox, see the number move. Skipped only when Chromium or
its driver is not installed (``.ci/run`` installs them).

``DEMANDSYNC_SCREENSHOTS=docs/screenshots`` also saves the three pages there
(the README's screenshots).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_json

from demandsync.config import load_config
from demandsync.sandbox.jira import JiraSandbox
from demandsync.web.server import start_beside

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REQUESTS = "customfield_10050"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                       reason="needs Chromium and its driver: apt-get install chromium chromium-driver"),
]


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="demandsync-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requests_cell(driver: object, key: str) -> str:
    from selenium.webdriver.common.by import By

    row = driver.find_element(By.XPATH, f"//table[@id='epics']//tr[td/a[text()='{key}']]")  # type: ignore[attr-defined]
    return str(row.find_element(By.CSS_SELECTOR, "td.fig-requests").text)


def shoot(driver: object, name: str) -> None:
    where = os.environ.get("DEMANDSYNC_SCREENSHOTS")
    if not where:
        return
    Path(where).mkdir(parents=True, exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))  # type: ignore[attr-defined]
    metrics = {"width": 1400, "height": min(max(height, 600), 2200), "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # type: ignore[attr-defined]
    # two frames for the resized page to paint: captured at once, a shot once lacked the last row's button
    driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))")  # type: ignore[attr-defined]
    driver.save_screenshot(str(Path(where) / f"{name}.png"))  # type: ignore[attr-defined]
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})  # type: ignore[attr-defined]


def test_accept_a_suggestion_in_the_inbox_and_see_the_number_move(
    browser: object, sandbox: JiraSandbox, config: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver: object = browser
    run_json(config)
    page = start_beside(load_config(config), "127.0.0.1:0")
    base = f"http://127.0.0.1:{page.port}"
    try:
        driver.get(base + "/")  # type: ignore[attr-defined]
        assert requests_cell(driver, "PROD-1") == "6"
        assert requests_cell(driver, "PROD-3") == "0"
        # the filter works as you type
        driver.find_element(By.ID, "filter").send_keys("slack")  # type: ignore[attr-defined]
        visible = [r.text.split()[0] for r in driver.find_elements(By.CSS_SELECTOR, "#epics tbody tr")  # type: ignore[attr-defined]
                   if r.is_displayed()]
        assert visible == ["PROD-4"]
        driver.get(base + "/")  # type: ignore[attr-defined]
        shoot(driver, "epics")

        driver.get(base + "/epics/PROD-1")  # type: ignore[attr-defined]
        assert "Why 6: 6 items counted" in driver.find_element(By.TAG_NAME, "h2").text  # type: ignore[attr-defined]
        shoot(driver, "epic")

        driver.get(base + "/inbox")  # type: ignore[attr-defined]
        theme = driver.find_element(By.CSS_SELECTOR, "section.theme")  # type: ignore[attr-defined]
        assert set(theme.find_element(By.TAG_NAME, "h2").text.split(" · ")) == {"dark", "mode"}
        for details in theme.find_elements(By.CSS_SELECTOR, "details"):
            driver.execute_script("arguments[0].open = true", details)  # type: ignore[attr-defined]
        shoot(driver, "inbox")
        item = theme.find_element(By.XPATH, ".//li[contains(., 'Would love a dark mode')]")
        suggestion = item.find_element(By.CSS_SELECTOR, ".suggestion")
        assert suggestion.find_element(By.TAG_NAME, "a").text == "PROD-3"
        suggestion.find_element(By.CSS_SELECTOR, "button.accept").click()
        WebDriverWait(driver, 10).until(ec.text_to_be_present_in_element(
            (By.XPATH, "//li[contains(., 'Would love a dark mode')]"), "saved: counts on the next sync"))

        driver.get(base + "/")  # type: ignore[attr-defined]
        assert requests_cell(driver, "PROD-3") == "0"  # as on Jira: nothing moved yet
        assert "1 decision counts on the next sync" in driver.find_element(By.ID, "pending").text  # type: ignore[attr-defined]

        run_json(config)
        driver.get(base + "/")  # type: ignore[attr-defined]
        assert requests_cell(driver, "PROD-3") == "1"
        assert int(sandbox.state.issue("PROD-3")["fields"][REQUESTS]) == 1
        driver.get(base + "/inbox")  # type: ignore[attr-defined]
        assert "Would love a dark mode" not in driver.page_source  # type: ignore[attr-defined]
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []  # type: ignore[attr-defined]
    finally:
        page.stop()
