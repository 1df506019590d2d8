"""Incremental refresh gives the tables a full refresh gives, after new time steps arrive."""

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", REPO / "build/release/kpiscope"))
TABLES = ["kpi_facts", "kpi_leaves", "kpi_member_series", "kpi_anomalies", "kpi_segment_anomalies", "kpi_rca",
          "kpi_rca_tree", "kpi_rca_tree_importance", "kpi_forecast", "kpi_model_comparison", "kpi_detector_comparison",
          "kpi_change_points", "kpi_what_if", "kpi_actions", "kpi_incidents"]


def run(*args):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


# The new days either start the day before the last day with root causes (the incremental
# refresh stores new flagged rows, root causes and actions, extends incidents, and redoes the
# detector comparison: labels lie in the new days) or are the last two (all labels before them).
@pytest.mark.parametrize("new_days", ["from_the_last_anomaly", "last_two"])
def test_incremental_refresh_equals_a_full_refresh_after_new_days(tmp_path, new_days):
    full, inc = tmp_path / "full.duckdb", tmp_path / "inc.duckdb"
    run(KPISCOPE, "demo", "--db", full, "--days", "120", "--anomalies", "6")
    shutil.copy(full, inc)
    con = duckdb.connect(str(inc))
    if new_days == "last_two":
        split = con.execute("SELECT max(day) - 2 FROM kpi_daily").fetchone()[0]
    else:
        split = con.execute("SELECT max(ts)::DATE - 1 FROM kpi_rca WHERE is_root_cause").fetchone()[0]
        assert split > con.execute("SELECT min(day) + 60 FROM kpi_daily").fetchone()[0]
    con.execute("CREATE TABLE later AS FROM kpi_daily WHERE day > $1", [split])
    con.execute("DELETE FROM kpi_daily WHERE day > $1", [split])
    con.close()
    run(KPISCOPE, "refresh", "--db", inc)
    con = duckdb.connect(str(inc))
    con.execute("INSERT INTO kpi_daily FROM later")
    con.close()
    out = run(KPISCOPE, "refresh", "--db", inc, "--incremental")
    assert "incremental from DATE" in out.stderr, out.stderr
    kept = "detector comparison (kept: the labels are unchanged)" in out.stderr
    assert kept == (new_days == "last_two"), out.stderr
    run(KPISCOPE, "refresh", "--db", full)
    con = duckdb.connect(str(inc))
    if new_days == "from_the_last_anomaly":
        assert con.execute("SELECT count(*) FROM kpi_actions WHERE ts > $1", [split]).fetchone()[0] > 0
    con.execute(f"ATTACH '{full}' AS f (READ_ONLY)")
    for table in TABLES:
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        differ = con.execute(
            f"SELECT (SELECT count(*) FROM (FROM main.{table} EXCEPT ALL FROM f.main.{table})) + "
            f"(SELECT count(*) FROM (FROM f.main.{table} EXCEPT ALL FROM main.{table}))").fetchone()[0]
        assert rows > 0 and differ == 0, f"{table}: {differ} of {rows} rows differ"


def test_a_changed_model_makes_the_incremental_refresh_a_full_one(tmp_path):
    db = tmp_path / "demo.duckdb"
    run(KPISCOPE, "demo", "--db", db, "--days", "60", "--anomalies", "2")
    model = tmp_path / "kpiscope.toml"
    model.write_text((REPO / "examples/demo/kpiscope.toml").read_text().replace('title = "Demo shop"', 'title = "Shop"'))
    out = run(KPISCOPE, "refresh", "--db", db, "--model", model, "--incremental")
    assert "full refresh: the model changed since the last refresh" in out.stderr, out.stderr
