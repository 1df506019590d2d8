"""The kpiscope extension through DuckDB's Python client, as a notebook user meets it."""

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
EXTENSION = Path(os.environ.get("KPISCOPE_EXTENSION", REPO / "build/release/kpiscope.duckdb_extension"))


@pytest.fixture()
def con():
    assert EXTENSION.is_file(), f"extension not built at {EXTENSION}: run `make build`"
    # Unsigned extensions can only be allowed when the database is opened.
    connection = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    connection.execute(f"LOAD '{EXTENSION}'")
    yield connection
    connection.close()


def test_python_client_generates_the_demo_data(con):
    assert con.execute("SELECT count(*) FROM generate_kpi_data()").fetchone()[0] == 2880


def test_python_client_gets_typed_detection_results(con):
    con.execute("CREATE TABLE kpi AS FROM generate_kpi_data()")
    rel = con.sql("SELECT * FROM detect_anomalies('kpi', value := 'revenue', group_by := ['channel'])")
    assert rel.columns[:3] == ["channel", "ts", "value"]
    assert [str(t) for t in rel.types[:4]] == ["VARCHAR", "DATE", "DOUBLE", "DOUBLE"]
    flagged = con.execute(
        "SELECT count(*) FROM detect_anomalies('kpi', value := 'revenue') WHERE is_anomaly"
    ).fetchone()[0]
    assert flagged > 0


def test_python_client_sees_errors_as_exceptions_and_keeps_working(con):
    with pytest.raises(duckdb.BinderException, match="kpiscope: days must be between 1 and 3660, got 0"):
        con.execute("SELECT * FROM generate_kpi_data(days := 0)")
    with pytest.raises(duckdb.BinderException, match="cannot read source 'absent'"):
        con.execute("SELECT * FROM detect_anomalies('absent', value := 'revenue')")
    assert con.execute("SELECT 42").fetchone()[0] == 42


def test_a_null_source_is_an_exception_in_python_not_an_abort(con):
    # A NULL read as text threw a C++ exception through Rust: the interpreter died, and no
    # try/except could catch it.
    for sql in ["SELECT * FROM detect_anomalies(NULL, value := 'revenue')",
                "SELECT * FROM change_points(NULL::VARCHAR, value := 'revenue')",
                "SELECT * FROM rca_contributions(NULL, dimensions := ['a'])"]:
        with pytest.raises(duckdb.BinderException, match="kpiscope: source must not be NULL"):
            con.execute(sql)
    assert con.execute("SELECT 42").fetchone()[0] == 42


def test_python_client_nests_kpiscope_calls_without_deadlock(con):
    con.execute("CREATE TABLE kpi AS FROM generate_kpi_data(days := 90, anomalies := 2)")
    con.execute("CREATE VIEW v AS SELECT ts AS day, value AS revenue FROM detect_anomalies('kpi', value := 'revenue')")
    assert con.execute("SELECT count(*) FROM forecast_kpi('v', value := 'revenue', horizon := 4)").fetchone()[0] == 4


KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", REPO / "build/release/kpiscope"))


@pytest.fixture(scope="module")
def refreshed_db(tmp_path_factory):
    assert KPISCOPE.is_file(), f"kpiscope not built at {KPISCOPE}: run `make build`"
    db = tmp_path_factory.mktemp("views") / "demo.duckdb"
    subprocess.run([str(KPISCOPE), "demo", "--db", str(db)], check=True, capture_output=True)
    return db


def test_bi_tool_reads_every_tab_view_read_only_without_the_extension(refreshed_db):
    # As Metabase or DBeaver would: read-only, no unsigned extensions, no kpiscope.
    con = duckdb.connect(str(refreshed_db), read_only=True)
    views = [r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name LIKE 'tab_%' ORDER BY 1").fetchall()]
    expected = {"tab_kpi_overview", "tab_top_movers", "tab_anomalies", "tab_root_cause", "tab_reports", "tab_ml_rca",
                "tab_ml_rca_importance", "tab_change_points", "tab_correlation", "tab_forecast", "tab_trends",
                "tab_date_comparison", "tab_what_if", "tab_model_comparison", "tab_detector_comparison", "tab_alert_budget", "tab_replay",
                "tab_actions", "tab_incidents"}
    assert expected <= set(views), expected - set(views)
    flat = {"DATE", "TIMESTAMP", "DOUBLE", "BIGINT", "INTEGER", "VARCHAR", "BOOLEAN"}
    for view in views:
        rel = con.sql(f"SELECT * FROM {view}")
        assert {str(t) for t in rel.types} <= flat, (view, rel.types)
        rows = rel.fetchall()
        if view != "tab_reports":  # filled by `kpiscope report`
            assert rows, f"{view} is empty"
        comment = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = ?", [view]).fetchone()[0]
        assert comment, f"{view} has no COMMENT"
        missing = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND comment IS NULL", [view]).fetchall()
        assert not missing, f"{view}: columns without COMMENT: {missing}"
    con.close()


def test_suggested_actions_name_the_driver_that_was_injected(refreshed_db):
    con = duckdb.connect(str(refreshed_db), read_only=True)
    # For every injected anomaly the RCA localised exactly, the action's lever is the injected driver.
    rows = con.execute("""
        SELECT i.anomaly_id, i.driver, a.lever
        FROM kpi_injected_anomalies i
        JOIN kpi_actions a ON a.segment = i.segment AND a.ts BETWEEN i.start_day AND i.end_day
    """).fetchall()
    assert len({r[0] for r in rows}) >= 5, rows
    wrong = [r for r in rows if r[1] != r[2]]
    assert not wrong, wrong
    con.close()
