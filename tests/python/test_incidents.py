"""Incidents as a person reads them: on the demo every incident has a root cause and an
action, and the viewer's Actions tab, its RCA page and the PDF report say the same cause and
duration for each. Every explanation agrees with its band and its verdict."""

import html
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", REPO / "build/release/kpiscope"))


def run(*args):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{args}: {out.stderr[-3000:]}"
    return out.stdout


def text_of(page: str) -> str:
    """The visible text of an HTML page, tags dropped and entities decoded."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def table_rows(page: str) -> list[list[str]]:
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    assert KPISCOPE.is_file(), f"kpiscope not built at {KPISCOPE}: run `make build`"
    db = tmp_path_factory.mktemp("incidents") / "demo.duckdb"
    run(KPISCOPE, "demo", "--db", db)
    return db


@pytest.fixture(scope="module")
def incidents(demo):
    con = duckdb.connect(str(demo), read_only=True)
    rows = con.execute("""
        SELECT incident, kpi, label, start_ts::VARCHAR, end_ts::VARCHAR, duration, main_cause,
               coalesce(cause_ts, start_ts)::VARCHAR, action, steps, (end_ts - start_ts)
        FROM tab_incidents ORDER BY incident""").fetchall()
    con.close()
    assert len(rows) >= 8, rows
    return rows


def test_every_demo_incident_has_a_root_cause_an_action_and_its_measured_duration(incidents):
    missing = [r for r in incidents if r[6] is None or r[8] is None]
    assert not missing, missing
    for r in incidents:
        days = r[10] + 1  # DATE - DATE is whole days
        assert r[9] == days and r[5] == f"{days} day" + ("" if days == 1 else "s"), r


def test_actions_tab_rca_page_and_pdf_agree_on_cause_and_duration(demo, incidents, tmp_path):
    server = subprocess.Popen([str(KPISCOPE), "serve", "--db", str(demo), "--addr", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+", server.stdout.readline()).group(0)
        # The Actions tab as a browser renders it.
        dom = subprocess.run(
            ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url + "actions"],
            capture_output=True, text=True, timeout=120)
        assert dom.returncode == 0, dom.stderr[-2000:]
        shown = {row[0]: row for row in table_rows(dom.stdout) if row and row[0].isdigit()}
        for number, kpi, label, start, end, duration, cause, cause_ts, action, _, _ in incidents:
            row = shown.get(str(number))
            assert row, f"incident {number} not on the Actions tab"
            assert row[1] == kpi and row[2] == start and row[4] == duration and row[8] == cause, (row, number)
            assert row[11] == action, (row, action)
            # The RCA page the start links to names the incident, its span and its cause.
            link = re.search(rf'<td[^>]*>{number}</td><td>{kpi}</td><td[^>]*><a href="([^"]+)"', dom.stdout)
            assert link, f"incident {number}: no link from the Actions tab"
            rca = urllib.request.urlopen(url + html.unescape(link.group(1))[1:], timeout=30).read().decode()
            page = text_of(rca)
            assert f"Part of incident {number} ({label} " in page, (number, page[:2000])
            assert f"{start} to {end}, {duration})" in page, (number, duration)
            assert f"Its root cause: {cause}." in page, (number, cause)
            # ... and on that step the contribution table marks the cause a root cause.
            marked = [r for r in table_rows(rca) if len(r) > 8 and r[1] == cause]
            assert marked and marked[0][8] == "true", (number, cause, marked)
    finally:
        server.terminate()
        server.wait(timeout=10)

    # The PDF: one report per 28-day period, so every incident is in one of them.
    reports = tmp_path / "reports"
    for as_of in sorted({r[4][:10] for r in incidents}):
        run(KPISCOPE, "report", "--db", demo, "--out", reports, "--as-of", as_of, "--format", "pdf")
    text = {}
    for pdf in reports.glob("*.pdf"):
        text[pdf.name] = re.sub(r"\s+", " ", run("pdftotext", "-layout", pdf, "-"))
    for number, kpi, label, start, end, duration, cause, *_ in incidents:
        span = start if start == end else f"{start} to {end}"
        heading = f"Incident {number}: {label}, {span}"
        found = [t for t in text.values() if heading in t]
        assert found, f"{heading} in no report"
        section = found[0][found[0].index(heading):][:600]
        assert f"({duration}, " in section, (heading, section)
        assert f"root cause {cause.replace(' & ', ' and ')}." in section, (heading, cause, section)


def read_shown(text):
    """A number as an explanation prints it (`2.8%`, `1,116,317`, `258.0`) and half its last
    digit, the rounding it may carry."""
    percent = text.endswith("%")
    digits = text.rstrip("%").replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    scale = 0.01 if percent else 1.0
    return float(digits) * scale, 0.5 * 10 ** -decimals * scale


def test_no_explanation_contradicts_its_band_or_its_verdict(demo):
    con = duckdb.connect(str(demo), read_only=True)
    checked = 0
    for table in ["kpi_anomalies", "kpi_segment_anomalies"]:
        rows = con.execute(f"""
            SELECT ts, value, least(lower, upper), greatest(lower, upper), is_anomaly, explanation FROM {table}
            WHERE value IS NOT NULL AND lower IS NOT NULL""").fetchall()
        assert rows, table
        for ts, value, low, high, flagged, text in rows:
            outside = value < low or value > high
            if outside:
                assert "within normal band" not in text and "inside the normal band" not in text, (table, ts, text)
            else:
                assert "outside the normal band" not in text, (table, ts, value, low, high, text)
            if flagged:
                assert "not flagged" not in text and not text.startswith("within"), (table, ts, text)
            else:
                assert "not flagged" in text or text.startswith("within normal band"), (table, ts, text)
            # The band in the text is the band in the columns, to the digits shown in the KPI's unit.
            band = re.search(r"band (-?[\d.,]+%?) to (-?[\d.,]+%?)", text)
            if band:
                for shown, actual in [(band.group(1), low), (band.group(2), high)]:
                    number, tolerance = read_shown(shown)
                    assert abs(number - actual) <= tolerance + 1e-9 * abs(actual), (table, ts, text, actual)
            checked += 1
    con.close()
    assert checked > 10_000, checked
