"""Incremental refresh gives the tables a full refresh gives, after new time steps arrive."""

import os
import shutil
import subprocess
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", REPO / "build/release/kpiscope"))
TABLES = ["kpi_facts", "kpi_leaves", "kpi_member_series", "kpi_anomalies", "kpi_segment_anomalies", "kpi_rca",
          "kpi_rca_tree", "kpi_rca_tree_importance", "kpi_forecast", "kpi_model_comparison", "kpi_detector_comparison",
          "kpi_change_points", "kpi_what_if", "kpi_actions"]


def run(*args):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_incremental_refresh_equals_a_full_refresh_after_two_new_days(tmp_path):
    full, inc = tmp_path / "full.duckdb", tmp_path / "inc.duckdb"
    run(KPISCOPE, "demo", "--db", full, "--days", "120", "--anomalies", "6")
    shutil.copy(full, inc)
    con = duckdb.connect(str(inc))
    con.execute("CREATE TABLE later AS FROM kpi_daily WHERE day > (SELECT max(day) - 2 FROM kpi_daily)")
    con.execute("DELETE FROM kpi_daily WHERE day > (SELECT max(day) - 2 FROM kpi_daily)")
    con.close()
    run(KPISCOPE, "refresh", "--db", inc)
    con = duckdb.connect(str(inc))
    con.execute("INSERT INTO kpi_daily FROM later")
    con.close()
    out = run(KPISCOPE, "refresh", "--db", inc, "--incremental")
    assert "incremental from DATE" in out.stderr, out.stderr
    # The demo's labels all lie before the new days: the detector comparison is kept as it was.
    assert "detector comparison (kept: the labels are unchanged)" in out.stderr, out.stderr
    run(KPISCOPE, "refresh", "--db", full)
    con = duckdb.connect(str(inc))
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
