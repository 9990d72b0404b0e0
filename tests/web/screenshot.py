"""Write the README's screenshot: the accounts page of a simulated download, midway, in headless Chromium.

    .venv/bin/python tests/web/screenshot.py            # docs/dashboard.png
    .venv/bin/python tests/web/screenshot.py out.png

The same code the browser tests use: `JobThread` (a real simulated job serving `--web`) and Debian's
Chromium driven by selenium.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_helpers import MISSING, account_cells, chromium, wait_for  # noqa: E402
from web_helpers import JobThread  # noqa: E402

from tgfetch.telegram.simulator import SimulatedTelegram  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def shoot(out: Path, at: float = 0.5) -> None:
    """Run `bench/makespan.py`'s short job (about 120 MiB, accounts of 1, 3 and 9 MiB/s); save the
    accounts page once `at` of its files are done."""
    sim = SimulatedTelegram(seed=11, messages=300, first_id=72006, size_scale=0.18, max_file_size=2 * MIB)
    bandwidths = {"client1": 9.0 * MIB, "client2": 3.0 * MIB, "client3": 1.0 * MIB}
    with tempfile.TemporaryDirectory() as tmp, JobThread(sim, Path(tmp) / "dl", bandwidth=bandwidths) as job:
        driver = chromium(1440, 960)
        try:
            driver.get(job.url + "accounts")
            wait_for(lambda: len(account_cells(driver)) == 3, "every account")
            total = len(sim.media_messages())
            wait_for(lambda: sum(int(c["files"]) for c in account_cells(driver).values()) >= at * total,
                     "the job midway", timeout=120)
            time.sleep(0.6)
            out.parent.mkdir(parents=True, exist_ok=True)
            assert driver.save_screenshot(str(out)), out
        finally:
            driver.quit()
        job.finished()


if __name__ == "__main__":
    if MISSING:
        sys.exit(MISSING)
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "dashboard.png"
    shoot(target)
    print(f"wrote {target}")
