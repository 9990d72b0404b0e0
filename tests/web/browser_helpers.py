"""Debian's Chromium, headless, driven by selenium (its own chromedriver: nothing is downloaded).

Used by the browser tests and by `screenshot.py`, which writes the README's docs/dashboard.png.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None)
DRIVER = next((p for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver") if p and Path(p).exists()), None)
MISSING = ("Chromium is not installed: the browser tests need Debian's chromium and chromium-driver "
           "(apt-get install chromium chromium-driver)") if not (CHROMIUM and DRIVER) else ""


def chromium(width: int = 1400, height: int = 1000) -> Any:
    """A headless Chromium with its console log kept (selenium's WebDriver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM and DRIVER, MISSING
    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps", f"--window-size={width},{height}",
                "--hide-scrollbars", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll `check` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - an element not there yet
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f" ({last!r})" if last else ""))


def account_cells(driver: Any) -> dict[str, dict[str, str]]:
    """The accounts table: {account: {field: data-value}}."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#accounts tbody tr[data-account]')].map(tr => "
        "[tr.dataset.account, Object.fromEntries([...tr.children].map(td => "
        "[td.dataset.field, td.dataset.value === undefined ? td.textContent : td.dataset.value]))])")
    return {name: cells for name, cells in rows}


def severe_console(driver: Any) -> list[str]:
    """Errors the page logged (a script error, a blocked inline script or style, a failed request)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
