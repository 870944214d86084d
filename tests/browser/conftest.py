"""Browser tier: a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) via selenium.

Tests here skip with a clear reason only when the browser, its driver or selenium is absent.
Under ``CI=true`` such a skip is a failure: CI installs ``chromium chromium-driver`` (apt), so a
skip there means the tier silently did not run. Nothing is downloaded at test time (no
selenium-manager: the driver path is given), and Chromium runs with the flags that keep it off
the network, in a fresh profile.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("TC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("TC_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
         "--no-default-browser-check", "--window-size=1000,1400", "--hide-scrollbars"]



@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; skips with the reason when it cannot start."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium chromium-driver")
    if not (os.path.isfile(CHROMEDRIVER) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip(f"no chromedriver at {CHROMEDRIVER}: apt-get install chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed: pip install -e '.[dev]'")
    profile = tempfile.mkdtemp(prefix="tc-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $TC_ARTIFACTS (kept, e.g. by CI) or the test's tmp dir."""
    root = os.environ.get("TC_ARTIFACTS")
    path = Path(root) / "browser" if root else tmp_path / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path
