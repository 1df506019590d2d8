"""Feedback as a person gives it: in headless Chromium (driven by Selenium through Debian's
chromedriver) one incident is dismissed and one confirmed on the viewer's anomalies tab; the
next refresh, run while the viewer stays up, suppresses the later incident of the dismissed
one's shape (the page and `tab_incidents` say why), turns the confirmed one into labels that
the detector comparison scores against, `kpiscope alert` leaves both out, and the report
says so under each incident."""

import json
import os
import re
import subprocess
from pathlib import Path

import duckdb
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", REPO / "build/release/kpiscope"))


def run(*args):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{args}: {out.stderr[-3000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    assert KPISCOPE.is_file(), f"kpiscope not built at {KPISCOPE}: run `make build`"
    db = tmp_path_factory.mktemp("feedback") / "demo.duckdb"
    # Two years: the demo then holds two incidents of one shape (KPI, direction, main cause).
    run(KPISCOPE, "demo", "--db", db, "--days", "731")
    return db


def incidents(db, where=""):
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(f"""
        SELECT incident, kpi, start_ts::VARCHAR, end_ts::VARCHAR, direction, main_cause, worst_deviation_pct,
               feedback, suppressed_by, suppression
        FROM tab_incidents {where} ORDER BY incident""").fetchall()
    con.close()
    return rows


def give(driver, url, kpi, incident, verdict, note):
    """Opens the anomalies tab of `kpi`, types the note into `incident`'s form and presses the
    verdict's button; returns the feedback cell of that row on the page it lands on."""
    driver.get(f"{url}anomalies?kpi={kpi}")
    row = f"//tr[td[1][normalize-space()='{incident}']]"
    form = driver.find_element(By.XPATH, f"{row}//form[@class='feedback']")
    form.find_element(By.NAME, "note").send_keys(note)
    form.find_element(By.XPATH, f".//button[@value='{verdict}']").click()
    WebDriverWait(driver, 30).until(lambda d: "/anomalies" in d.current_url and d.find_elements(By.XPATH, row))
    assert driver.current_url.endswith(f"/anomalies?kpi={kpi}"), driver.current_url
    return feedback_cell(driver, incident)


def feedback_cell(driver, incident):
    headers = [h.text for h in driver.find_elements(By.XPATH, "//table[.//form[@class='feedback']]//th")]
    cells = driver.find_elements(By.XPATH, f"//tr[td[1][normalize-space()='{incident}']]/td")
    return cells[headers.index("Feedback")].text


def test_dismissing_and_confirming_in_the_browser_reach_the_next_refresh(demo, browser):
    before = incidents(demo)
    # The pair the suppression rule matches: a later incident of the same KPI, direction and
    # main cause whose worst deviation is at most 1.5 times the earlier one's.
    pairs = [(a, b) for a in before for b in before
             if a[1] == b[1] and a[4] == b[4] and a[5] == b[5] and a[2] < b[2] and abs(b[6]) <= 1.5 * abs(a[6])]
    assert pairs, "the 731-day demo no longer holds two incidents of one shape"
    dismissed, later = pairs[0]
    # Another KPI, one the demo has no labels for: the detector comparison has no row for it yet.
    con = duckdb.connect(str(demo), read_only=True)
    unlabelled = [k for (k,) in con.execute("""
        SELECT DISTINCT kpi FROM kpi_incidents WHERE kpi NOT IN (SELECT kpi FROM kpi_detector_comparison)
        AND kpi <> ? ORDER BY kpi""", [dismissed[1]]).fetchall()]
    con.close()
    assert unlabelled, "every demo KPI is labelled already"
    confirmed = next(i for i in before if i[1] == unlabelled[0] and i[5] is not None)
    assert all(i[7] is None and i[8] is None for i in before), "a fresh demo carries no feedback"

    server = subprocess.Popen([str(KPISCOPE), "serve", "--db", str(demo), "--addr", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+", server.stdout.readline()).group(0)
        said = give(browser, url, dismissed[1], dismissed[0], "dismissed", "tracking outage")
        assert said.startswith("dismissed ") and said.endswith(": tracking outage (applies at the next refresh)"), said
        said = give(browser, url, confirmed[1], confirmed[0], "confirmed", "real drop")
        assert said.startswith("confirmed ") and "(applies at the next refresh)" in said, said

        # The store beside the database holds exactly the two verdicts.
        store = [json.loads(line) for line in demo.with_name("demo.feedback.jsonl").read_text().splitlines()]
        assert [(r["kpi"], r["start"], r["verdict"], r["note"]) for r in store] == [
            (dismissed[1], dismissed[2], "dismissed", "tracking outage"),
            (confirmed[1], confirmed[2], "confirmed", "real drop")], store

        run(KPISCOPE, "refresh", "--db", demo)

        # The page, reloaded on the refreshed database, says the verdicts apply and why the
        # later incident is suppressed.
        browser.get(f"{url}anomalies?kpi={dismissed[1]}")
        assert feedback_cell(browser, dismissed[0]).endswith(": tracking outage"), feedback_cell(browser, dismissed[0])
        shown = feedback_cell(browser, later[0])
        assert shown.startswith(f"Suppressed: like incident {dismissed[0]} ({dismissed[2]}, ") \
            and shown.endswith(": tracking outage."), shown
    finally:
        server.terminate()
        server.wait(timeout=10)

    after = {i[0]: i for i in incidents(demo)}
    assert after[dismissed[0]][7] == "dismissed" and after[confirmed[0]][7] == "confirmed"
    assert after[later[0]][8] == f"{dismissed[1]}|{dismissed[2]}|{dismissed[4]}", after[later[0]]
    # Nothing else changed its verdict or got suppressed.
    judged = {n for n, i in after.items() if i[7] is not None or i[8] is not None}
    assert judged == {dismissed[0], confirmed[0], later[0]}, judged

    con = duckdb.connect(str(demo), read_only=True)
    labels = con.execute("SELECT min(ts)::DATE::VARCHAR, max(ts)::DATE::VARCHAR, count(*) FROM kpi_feedback_labels "
                         "WHERE kpi = ?", [confirmed[1]]).fetchone()
    assert labels[2] > 0 and confirmed[2] <= labels[0] <= labels[1] <= confirmed[3], (labels, confirmed)
    scored = con.execute("SELECT count(*), sum(tp + fn) FROM kpi_detector_comparison WHERE kpi = ?",
                         [confirmed[1]]).fetchone()
    con.close()
    # The comparison now scores every method on the confirmed KPI, against those labels.
    assert scored[0] > 0 and scored[1] == labels[2] * scored[0], (scored, labels)

    # `kpiscope alert` leaves out exactly the dismissed and the suppressed incident, saying why.
    config = demo.with_name("alerts.toml")
    config.write_text('[[channel]]\nname = "ops"\nkind = "webhook"\nurl = "http://127.0.0.1:9/"\n')
    out = run(KPISCOPE, "alert", "--db", demo, "--config", config, "--dry-run")
    silenced = sorted(line for line in out.splitlines() if line.startswith("[ops] not sent, "))
    assert silenced == sorted([
        f"[ops] not sent, dismissed in the viewer: {label(demo, dismissed[1])} {dismissed[2]}",
        f"[ops] not sent, {after[later[0]][9]}: {label(demo, later[1])} {later[2]}"]), out[-3000:]


    # The report says the same under each incident, in the PDF as in the Markdown.
    reports = demo.with_name("reports-after-feedback")
    for incident in (dismissed, later, confirmed):
        run(KPISCOPE, "report", "--db", demo, "--out", reports, "--as-of", incident[3], "--format", "md,pdf")
    text = " ".join(re.sub(r"\s+", " ", run("pdftotext", "-layout", pdf, "-")) for pdf in reports.glob("*.pdf"))
    markdown = " ".join(re.sub(r"\s+", " ", md.read_text()) for md in reports.glob("*.md"))
    for said in ["Dismissed in the viewer on ", "Confirmed in the viewer on ", after[later[0]][9]]:
        assert said in text and said in markdown, said
    assert re.search(r"Dismissed in the viewer on \d{4}-\d\d-\d\d: tracking outage\.", text), text[-3000:]
    assert re.search(r"Confirmed in the viewer on \d{4}-\d\d-\d\d: real drop\.", text), text[-3000:]


def label(db, kpi):
    con = duckdb.connect(str(db), read_only=True)
    (text,) = con.execute("SELECT label FROM kpi_catalog WHERE kpi = ?", [kpi]).fetchone()
    con.close()
    return text
