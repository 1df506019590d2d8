"""The alert budget: refresh counts the incidents every sensitivity would have raised over the
history, runs a KPI without a sensitivity of its own at the most sensitive level that keeps to
its budget, and the model comparison tab shows it; an incremental refresh agrees with a full
one; a budget that does not parse is refused with its line."""

import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", REPO / "build/release/kpiscope"))
DEMO_MODEL = (REPO / "examples/demo/kpiscope.toml").read_text()
LEVELS = ["high", "medium", "low"]


def run(*args, code=0):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600)
    assert out.returncode == code, (out.returncode, out.stderr[-3000:])
    return out


def model_with_budget(path: Path, budget: str) -> Path:
    """The demo model with an alert budget (and no sensitivity) on revenue."""
    text = DEMO_MODEL.replace('sum = "revenue"\n', f'sum = "revenue"\n[kpis.detection]\nalert_budget = "{budget}"\n', 1)
    assert text != DEMO_MODEL
    path.write_text(text)
    return path


def budget_rows(db):
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("""SELECT sensitivity, incidents, per_month, meets_budget, in_use, chosen_by_budget
                          FROM tab_alert_budget WHERE kpi = 'revenue'""").fetchall()
    incidents = con.execute("SELECT count(*) FROM kpi_incidents WHERE kpi = 'revenue'").fetchone()[0]
    detection = con.execute("SELECT detection FROM kpi_catalog WHERE kpi = 'revenue'").fetchone()[0]
    con.close()
    return rows, incidents, detection


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = tmp_path_factory.mktemp("budget") / "demo.duckdb"
    run(KPISCOPE, "demo", "--db", db, "--days", "731")
    return db


def test_refresh_runs_the_most_sensitive_level_that_keeps_to_the_budget(demo, tmp_path):
    db = tmp_path / "shop.duckdb"
    shutil.copy(demo, db)
    run(KPISCOPE, "refresh", "--db", db, "--model", model_with_budget(tmp_path / "loose.toml", "1000 per month"))
    rows, incidents, detection = budget_rows(db)
    assert [r[0] for r in rows] == LEVELS, rows
    # A budget nobody exceeds: the most sensitive level runs, and it raised the incidents stored.
    assert [r[4] for r in rows] == [True, False, False] and rows[0][5], rows
    assert rows[0][1] == incidents and detection == ", sensitivity := 'high'", (rows, incidents, detection)

    # A budget between two levels' rates picks the first level (most sensitive first) within it.
    rates = [r[2] for r in rows]
    between = [(a + b) / 2 for a, b in zip(rates, rates[1:]) if a > b]
    assert between, f"the levels raise the same number of revenue incidents: {rows}"
    budget = between[0]
    expected = next(level for level, rate in zip(LEVELS, rates) if rate <= budget)
    assert expected != "high"
    run(KPISCOPE, "refresh", "--db", db, "--model", model_with_budget(tmp_path / "tight.toml", f"{budget:.6f} per month"))
    rows, incidents, detection = budget_rows(db)
    assert [r[2] for r in rows] == rates, "the counts do not depend on the level chosen"
    chosen = [r[0] for r in rows if r[5]]
    assert chosen == [expected] and [r[0] for r in rows if r[4]] == [expected], rows
    assert [r[3] for r in rows] == [rate <= budget for rate in rates], rows
    assert rows[LEVELS.index(expected)][1] == incidents, (rows, incidents)
    assert detection == f", sensitivity := '{expected}'", detection

    # The model comparison tab shows every level against the budget.
    server = subprocess.Popen([str(KPISCOPE), "serve", "--db", str(db), "--addr", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+", server.stdout.readline()).group(0)
        page = urllib.request.urlopen(url + "models", timeout=60).read().decode()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "Alert budget: alerts over the history per sensitivity" in page
    assert page.count(f"{budget:.6f} per month") == 3, page[-3000:]


def test_an_incremental_refresh_with_a_budget_equals_a_full_one(demo, tmp_path):
    full, inc = tmp_path / "full.duckdb", tmp_path / "inc.duckdb"
    shutil.copy(demo, inc)
    model = model_with_budget(tmp_path / "kpiscope.toml", "0.4 per month")
    con = duckdb.connect(str(inc))
    split = con.execute("SELECT max(day) - 20 FROM kpi_daily").fetchone()[0]
    con.execute("CREATE TABLE later AS FROM kpi_daily WHERE day > $1", [split])
    con.execute("DELETE FROM kpi_daily WHERE day > $1", [split])
    con.close()
    run(KPISCOPE, "refresh", "--db", inc, "--model", model)
    con = duckdb.connect(str(inc))
    con.execute("INSERT INTO kpi_daily FROM later")
    con.close()
    out = run(KPISCOPE, "refresh", "--db", inc, "--incremental")
    assert "incremental from DATE" in out.stderr or "an alert budget chose another sensitivity" in out.stderr, out.stderr
    shutil.copy(inc, full)
    run(KPISCOPE, "refresh", "--db", full)
    con = duckdb.connect(str(inc))
    con.execute(f"ATTACH '{full}' AS f (READ_ONLY)")
    for table in ["kpi_alert_budget", "kpi_catalog", "kpi_anomalies", "kpi_incidents"]:
        differ = con.execute(
            f"SELECT (SELECT count(*) FROM (FROM main.{table} EXCEPT ALL FROM f.main.{table})) + "
            f"(SELECT count(*) FROM (FROM f.main.{table} EXCEPT ALL FROM main.{table}))").fetchone()[0]
        assert differ == 0, f"{table}: {differ} rows differ"
    con.close()


def test_a_budget_that_does_not_parse_is_refused_with_its_line(demo, tmp_path):
    db = tmp_path / "shop.duckdb"
    shutil.copy(demo, db)
    model = model_with_budget(tmp_path / "bad.toml", "2 per year")
    line = model.read_text().splitlines().index('alert_budget = "2 per year"') + 1
    out = run(KPISCOPE, "refresh", "--db", db, "--model", model, code=1)
    assert f"bad.toml:{line}: alert_budget must read like \"2 per month\"" in out.stderr, out.stderr
