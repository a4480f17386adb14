"""A headless Chromium for the gallery's tests: screenshots and the DOM, as a user's browser shows them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def chromium(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with ``arguments`` and a profile under ``tmp_path``; skip if absent."""
    if not CHROMIUM.exists():
        pytest.skip(f"no headless browser: {CHROMIUM} is not installed "
                    "(apt-get install chromium to run this test)")
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", *arguments]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)
