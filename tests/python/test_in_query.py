"""The in-query functions (kpiscope_detect, kpiscope_forecast, kpiscope_change_points,
kpiscope_seasonality) inside the caller's own query: on DataFrames the Python client scans by
name, TEMP tables and an open transaction, equal to the table functions on the same rows."""

import math
import os
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
EXTENSION = Path(os.environ.get("KPISCOPE_EXTENSION", REPO / "build/release/kpiscope.duckdb_extension"))
LEAF = ["channel", "region", "cohort"]


@pytest.fixture()
def con():
    assert EXTENSION.is_file(), f"extension not built at {EXTENSION}: run `make build`"
    connection = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    connection.execute(f"LOAD '{EXTENSION}'")
    connection.execute("CREATE TABLE kpi AS FROM generate_kpi_data(days := 150)")
    yield connection
    connection.close()


def in_query(con, relation: str, keys: list[str], call: str) -> list[tuple]:
    """The unnested in-query result, ordered by key and time step."""
    k = ", ".join(keys)
    select = f"{k}, " if keys else ""
    group = f" GROUP BY {k}" if keys else ""
    return con.sql(f"FROM (SELECT {select}unnest({call}, recursive := true) FROM {relation}{group}) "
                   f"ORDER BY ALL").fetchall()


def table_function(con, call: str) -> list[tuple]:
    return con.sql(f"FROM {call} ORDER BY ALL").fetchall()


def close(a: list[tuple], b: list[tuple]) -> bool:
    """Equal row for row; floats to 1e-9 relative (sums over rows may differ in the last bit)."""
    def same(x, y):
        if isinstance(x, float) and isinstance(y, float):
            return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
        return x == y
    return len(a) == len(b) and all(len(r) == len(s) and all(map(same, r, s)) for r, s in zip(a, b))


def test_detection_on_pandas_polars_and_arrow_equals_the_table_function_exactly(con):
    expected = table_function(con, "detect_anomalies('kpi', ts := 'day', value := 'revenue', group_by := "
                                   "['channel', 'region', 'cohort'], sensitivity := 'high')")
    frame = con.sql("FROM kpi").df()
    frames = {"pandas": frame, "polars": pl.from_pandas(frame), "arrow": con.sql("FROM kpi").to_arrow_table()}
    for kind, df in frames.items():
        con.register("df", df)
        got = in_query(con, "df", LEAF, "kpiscope_detect(list(CAST(day AS DATE)), list(revenue), {'sensitivity': 'high'})")
        con.unregister("df")
        # One row per leaf and day: nothing is summed, so every value is bit-identical (pandas
        # holds the days as datetimes, hence the cast back to DATE).
        assert got == expected, kind
    assert sum(row[9] for row in expected) > 0, "the comparison must include flagged days"


def test_summed_groups_match_the_table_function(con):
    expected = table_function(con, "detect_anomalies('kpi', ts := 'day', value := 'orders', group_by := ['channel'])")
    got = in_query(con, "kpi", ["channel"], "kpiscope_detect(list(day), list(orders))")
    assert close(got, expected)


def test_temp_tables_and_an_open_transaction_are_seen(con):
    con.execute("CREATE TEMP TABLE recent AS FROM kpi WHERE channel = 'App'")
    with pytest.raises(duckdb.Error, match="for those use the in-query form"):
        con.sql("FROM detect_anomalies('recent', value := 'revenue')").fetchall()
    assert len(in_query(con, "recent", [], "kpiscope_detect(list(day), list(revenue))")) == 150
    con.execute("BEGIN")
    con.execute("CREATE TABLE fresh AS FROM kpi WHERE region = 'North'")
    rows = in_query(con, "fresh", ["channel"], "kpiscope_detect(list(day), list(revenue))")
    con.execute("ROLLBACK")
    assert len(rows) == 300


def test_forecast_change_points_and_seasonality_equal_their_table_functions(con):
    pairs = [
        ("kpiscope_forecast(list(day), list(revenue), {'horizon': 14, 'level': 0.8})",
         "forecast_kpi('kpi', ts := 'day', value := 'revenue', group_by := ['channel'], horizon := 14, level := 0.8)"),
        ("kpiscope_change_points(list(day), list(revenue))",
         "change_points('kpi', ts := 'day', value := 'revenue', group_by := ['channel'])"),
        ("kpiscope_seasonality(list(day), list(revenue))",
         "detect_seasonality('kpi', ts := 'day', value := 'revenue', group_by := ['channel'])"),
    ]
    for call, function in pairs:
        got = in_query(con, "kpi", ["channel"], call)
        assert got and close(got, table_function(con, function)), call


def test_bad_input_gets_a_defined_result_or_a_kpiscope_error_and_the_session_survives(con):
    con.execute("CREATE TABLE odd AS SELECT * FROM (VALUES (DATE '2024-01-03', 3.0), (DATE '2024-01-01', 1.0), "
                "(NULL, 5.0), (DATE '2024-01-02', 'NaN'::DOUBLE), (DATE '2024-01-02', 2.0), (DATE '2024-01-04', NULL)) "
                "t(day, v)")
    # Unsorted rows, a NULL time, NaN, a duplicate day and a NULL value: the same as the table function.
    got = in_query(con, "odd", [], "kpiscope_detect(list(day), list(v))")
    assert close(got, table_function(con, "detect_anomalies('odd', ts := 'day', value := 'v')"))
    one = in_query(con, "(SELECT DATE '2024-01-01' AS day, 1.0 AS v)", [], "kpiscope_detect(list(day), list(v))")
    assert len(one) == 1 and one[0][6] is False
    assert con.sql("SELECT kpiscope_detect(NULL::DATE[], [1.0])").fetchone()[0] is None
    # A NULL argument (lists or options) gives NULL, as with DuckDB's own scalar functions.
    assert con.sql("SELECT kpiscope_detect(list(day), list(v), NULL) IS NULL FROM odd").fetchone()[0]
    errors = {
        "SELECT kpiscope_detect([DATE '2024-01-01'], [1.0, 2.0])": "kpiscope: the time and value lists must be equally long",
        "SELECT kpiscope_detect(list(day), list(v), {'bogus': 1}) FROM odd": "kpiscope: unknown option 'bogus'",
        "SELECT kpiscope_detect(list(day), list(v), {'period': NULL}) FROM odd": "kpiscope: option period must not be NULL",
        "SELECT kpiscope_detect(list(day), list(v), {'period': 'x'}) FROM odd": "kpiscope: option period must be a whole number",
        "SELECT kpiscope_detect(list(day), list(v), 7) FROM odd": "kpiscope: options must be a struct",
        "SELECT kpiscope_forecast(list(day), list(v), {'horizon': 0}) FROM odd": "kpiscope: horizon must be between",
        "SELECT kpiscope_detect(list(day), list(CAST(v AS VARCHAR))) FROM odd": "kpiscope_detect",
    }
    for sql, message in errors.items():
        with pytest.raises(duckdb.Error) as raised:
            con.sql(sql).fetchall()
        assert message in str(raised.value), (sql, str(raised.value))
    assert con.sql("SELECT 41 + 1").fetchone()[0] == 42


def test_generated_lists_and_options_never_crash_the_cli_or_raise_an_internal_error():
    """250 seeded calls with random lengths, NULLs, NaN, infinities, huge values, duplicate and
    unsorted times and random options, through the real DuckDB CLI: every call gives a result
    or an error, and the process lives to answer the last query."""
    import random
    import subprocess
    import sys

    sys.path.insert(0, str(REPO / "tests/fuzz"))
    import kpiscope_fuzz as fuzz

    rng = random.Random(7)
    values = ["NULL", "'NaN'::DOUBLE", "'inf'::DOUBLE", "-'inf'::DOUBLE", "1e308", "-1e308", "0", "1", "-5.5", "42"]
    options = ["{'sensitivity': 'high'}", "{'period': 0}", "{'period': 100000}", "{'period': -3}", "{'horizon': 9999}",
               "{'min_pct': 2.5}", "{'method': 'streaming', 'cooldown': 5}", "{'cooldown': 1e30}", "{'level': 'x'}",
               "{'model': 'ets'}", "{'horizon': 366}", "{'min_history': 1}", "{'x': NULL}", "NULL", "{}", "'text'"]
    functions = ["kpiscope_detect", "kpiscope_forecast", "kpiscope_change_points", "kpiscope_seasonality"]
    calls = []
    for _ in range(250):
        n = rng.choice([0, 1, 2, 3, 10, 40])
        hourly = rng.random() < 0.3
        def time(i):
            if rng.random() < 0.05:
                return "NULL"
            step = rng.choice([i, i, i, rng.randrange(0, max(n, 1)), -i * 1000])
            return (f"TIMESTAMP '2024-01-01' + INTERVAL ({step}) HOUR" if hourly
                    else f"DATE '2024-01-01' + {step}")
        ts = f"[{', '.join(time(i) for i in range(n))}]" + ("::TIMESTAMP[]" if hourly else "::DATE[]")
        vs = f"[{', '.join(rng.choice(values) if rng.random() < 0.2 else str(rng.gauss(100, 30)) for _ in range(n))}]::DOUBLE[]"
        function = rng.choice(functions)
        extra = f", {rng.choice(options)}" if function != "kpiscope_seasonality" and rng.random() < 0.7 else ""
        calls.append(f"SELECT len({function}({ts}, {vs}{extra}));")
    script = f"LOAD '{fuzz.EXTENSION}';\n.bail off\n" + "\n".join(calls) + "\nSELECT 'alive-' || 42;\n"
    out = subprocess.run([str(fuzz.CLI), "-unsigned", "-csv"], input=script, capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode in (0, 1), f"the CLI died with {out.returncode}: {text[-2000:]}"
    assert "alive-42" in out.stdout, text[-2000:]
    internal = [line for line in text.splitlines() if any(marker in line for marker in fuzz.INTERNAL_MARKERS)]
    assert not internal, "\n".join(internal[:10])
    assert text.count("kpiscope:") > 10 and out.stdout.count("\n") > 100, "the calls must reach results and checks"
