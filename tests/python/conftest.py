"""Fixtures shared by the browser tests."""

import contextlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", Path(__file__).resolve().parents[2] / "build/release/kpiscope"))


@pytest.fixture
def browser(tmp_path):
    """Headless Debian Chromium driven by Selenium through Debian's chromedriver."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    # The driver is given, so Selenium Manager (which would download one) never runs.
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@contextlib.contextmanager
def demo_viewer(folder, days):
    """A `kpiscope demo` database of `days` days in `folder` (its reports beside it) and
    `kpiscope serve` on it at a free loopback port; yields the viewer's URL and the database."""
    assert KPISCOPE.is_file(), f"kpiscope not built at {KPISCOPE}: run `make build`"
    db = folder / "demo.duckdb"
    out = subprocess.run([str(KPISCOPE), "demo", "--db", str(db), "--days", str(days)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    server = subprocess.Popen([str(KPISCOPE), "serve", "--db", str(db), "--addr", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield re.search(r"http://\S+", server.stdout.readline()).group(0), db
    finally:
        server.terminate()
        server.wait(timeout=10)
