"""The dashboard in a real browser (Debian's Chromium, headless) against a running simulated download.

Every account appears; its numbers change while the job runs; the final state equals the job's JSON
report; a hostile caption and a hostile file name are shown as text (no script ran, nothing was
injected, the title is untouched); the page logs no error (a Content-Security-Policy violation, a
script error). A screenshot of each page is saved under the test's temporary folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import MISSING, account_cells, chromium, severe_console, wait_for
from web_helpers import HOSTILE_CAPTION, HOSTILE_NAME_ID, JobThread, hostile_channel

pytestmark = [pytest.mark.timeout(300), pytest.mark.skipif(bool(MISSING), reason=MISSING)]

TOKEN = "browser-Token_0123456789"
PAGES = ("accounts", "plan", "timeline", "files", "history")


@pytest.fixture
def browser() -> Any:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def _watch_accounts(driver: Any, job: JobThread) -> list[dict[str, dict[str, str]]]:
    """The accounts table every 0.3 s until the job ends."""
    seen = []
    while not job.done.is_set():
        seen.append(account_cells(driver))
        time.sleep(0.3)
    return seen


def test_the_dashboard_in_chromium(browser: Any, tmp_path: Path) -> None:
    sim, bw, hostile = hostile_channel(seconds=8.0)
    with JobThread(sim, tmp_path / "dl", bandwidth=bw, web_token=TOKEN) as job:
        browser.get(job.url + f"accounts?token={TOKEN}")
        assert "token" not in browser.current_url, "the token leaves the address bar"
        wait_for(lambda: len(account_cells(browser)) == 3, "every account")
        seen = _watch_accounts(browser, job)
        report = job.finished().to_json()
        _final_state(browser, report)
        assert len(seen) >= 3, "the page must be watched while the job runs"
        totals = [sum(int(c["files"]) for c in cells.values()) for cells in seen if len(cells) == 3]
        assert len(set(totals)) >= 2 and totals == sorted(totals), totals  # numbers change while it runs
        title = browser.title
        _hostile_text(browser, job.url, hostile)
        assert browser.title == title.replace("accounts", "files")
        for page in PAGES:
            browser.get(job.url + page)
            wait_for(lambda: browser.find_element("id", "conn").text == "live", f"{page}: the live stream")
            time.sleep(1.0)  # the page's own requests (plan, timeline, history) and a chart
            assert browser.save_screenshot(str(tmp_path / f"{page}.png")), page
            assert browser.title == f"tgfetch dashboard · {page}"
        assert severe_console(browser) == []
    for page in PAGES:
        assert (tmp_path / f"{page}.png").stat().st_size > 10_000, page


def _final_state(browser: Any, report: dict[str, Any]) -> None:
    """Once the job ended, the page shows what the report says, account by account."""
    def matches() -> bool:
        cells = account_cells(browser)
        return set(cells) == set(report["clients"]) and all(
            int(cells[n]["files"]) == c["files"] and int(cells[n]["bytes"]) == c["bytes"]
            and cells[n]["state"] == c["state"] and cells[n]["steals"] == f"{c['stolen_in']}/{c['stolen_out']}"
            for n, c in report["clients"].items())

    wait_for(matches, "the final figures of the report")
    n = len(report["files"])
    wait_for(lambda: browser.find_element("id", "s-files").text == f"{n} / {n}", "the summary's files")
    assert browser.find_element("id", "s-phase").text == report["outcome"] == "done"


def _hostile_text(browser: Any, url: str, hostile: int) -> None:
    """A caption made of HTML and script, and a file name of '<>:"|?*', are shown as text."""
    for mid in (hostile, HOSTILE_NAME_ID):
        browser.get(url + f"files?q={mid}")
        row = wait_for(lambda mid=mid: browser.find_elements("css selector", f'#files tr[data-message="{mid}"]'),
                       f"message {mid} in the files table")[0]
        cells = [td.get_attribute("textContent") for td in row.find_elements("tag name", "td")]
        assert cells[2] == "done"
        if mid == hostile:
            assert cells[7] == HOSTILE_CAPTION
        else:
            assert cells[6] == '<>:"|?*.doc'
    injected = browser.execute_script(
        "return [document.querySelectorAll('#injected, #bold, main img, main script').length, "
        "window.__pwned === undefined]")
    assert injected == [0, True]
    assert "pwned" not in browser.title
