"""The kpiscope extension through DuckDB's Python client, as a notebook user meets it."""

import os
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
