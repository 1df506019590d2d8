"""The reports center in headless Chromium (Selenium, Debian's chromedriver): files listed with
sizes for people and no checksum column, the newest PDF previewed inline, a report generated
with the button (a POST with the page's token), and a forged post refused."""

import re
import time
import urllib.error
import urllib.request

import pytest
from conftest import demo_viewer
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait



@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    # The demo writes its reports into reports/ beside the database, where serve looks.
    with demo_viewer(tmp_path_factory.mktemp("reports-center"), 120) as (url, db):
        yield url, db.parent / "reports"


def listing(driver):
    table = driver.find_element(By.XPATH, "//section[h2='Exported reports']//table")
    headers = [h.text for h in table.find_elements(By.TAG_NAME, "th")]
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in table.find_elements(By.XPATH, ".//tbody/tr")]
    return headers, [dict(zip(headers, r)) for r in rows]


def test_listing_preview_and_generate_button(viewer, browser):
    url, reports = viewer
    browser.get(f"{url}reports")
    headers, rows = listing(browser)
    assert headers == ["Report", "Format", "As of", "Size", "Written", "Download"], headers
    on_disk = {p.name: p.stat().st_size for p in reports.glob("kpiscope-report_*.*")}
    assert {r["Report"] for r in rows} == set(on_disk), (rows, on_disk)
    assert all(re.fullmatch(r"\d+(\.\d)? (B|kB|MB)", r["Size"]) for r in rows), rows
    assert not browser.find_elements(By.XPATH, "//th[contains(., 'Sha256') or contains(., 'SHA256')]")

    # The preview frame shows the newest PDF inline, not as a download.
    frame = browser.find_element(By.CSS_SELECTOR, "iframe.preview").get_attribute("src")
    assert frame.endswith(".pdf?inline=1"), frame
    with urllib.request.urlopen(frame, timeout=30) as response:
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("inline;")
        assert response.read(5) == b"%PDF-"
    md = next(r["Report"] for r in rows if r["Format"] == "md")
    with urllib.request.urlopen(f"{url}reports/files/{md}?inline=1", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/plain") and b"## 1. Executive summary" in response.read()

    # The button writes the report again; the listing's times move on.
    before = {r["Report"]: r["Written"] for r in rows}
    mtimes = {name: (reports / name).stat().st_mtime for name in on_disk}
    time.sleep(1.1)
    browser.find_element(By.XPATH, "//button[normalize-space()='Generate the report now']").click()
    WebDriverWait(browser, 120).until(lambda d: d.current_url.endswith("/reports")
                                      and d.find_elements(By.XPATH, "//section[h2='Exported reports']//table"))
    _, after = listing(browser)
    newest = after[0]
    assert newest["Written"] > before[newest["Report"]], (newest, before)
    assert all((reports / name).stat().st_mtime > mtimes[name] for name in mtimes if name.endswith((".md", ".pdf", ".zip")))


def test_a_forged_generate_post_is_refused(viewer):
    url, _ = viewer
    for headers, body in [({}, b"token=guess"), ({"Origin": "http://evil.example"}, b"token=guess")]:
        request = urllib.request.Request(f"{url}reports/generate", data=body, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403, refused.value.read()
