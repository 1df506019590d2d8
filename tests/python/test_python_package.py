"""The Python package (`pip install` of the wheel `make test` builds): DataFrames in, the SQL
functions' results out, value for value, and nothing a user passes can crash the interpreter."""

import datetime as dt
import os
import random
import re
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import kpiscope

REPO = Path(__file__).resolve().parents[2]
EXTENSION = Path(os.environ.get("KPISCOPE_EXTENSION", REPO / "build/release/kpiscope.duckdb_extension"))


@pytest.fixture(scope="module")
def con():
    assert EXTENSION.is_file(), f"extension not built at {EXTENSION}: run `make build`"
    connection = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    connection.execute(f"LOAD '{EXTENSION}'")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def shuffled(con):
    """The demo's data in random row order, as a table for SQL and as Arrow for Python."""
    data = kpiscope.generate_kpi_data(days=150, seed=7, anomalies=4)
    order = list(range(data.num_rows))
    random.Random(3).shuffle(order)
    data = data.take(order)
    con.register("shuffled_arrow", data)
    con.execute("CREATE OR REPLACE TABLE kpi AS FROM shuffled_arrow")
    con.unregister("shuffled_arrow")
    return data


def rows(table: pa.Table) -> list:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


def same(sql_result: pa.Table, python_result: pa.Table):
    """Same names, same types (VARCHAR is Arrow text either way) and bit-identical values."""
    plain = lambda t: pa.string() if t == pa.large_string() else t  # noqa: E731
    assert sql_result.column_names == python_result.column_names
    assert [plain(t) for t in sql_result.schema.types] == [plain(t) for t in python_result.schema.types]
    assert sql_result.num_rows == python_result.num_rows > 0
    assert rows(sql_result) == rows(python_result)


def test_generated_data_equals_the_sql_generator(con):
    same(con.sql("FROM generate_kpi_data(days := 60, seed := 5, anomalies := 3)").to_arrow_table(), kpiscope.generate_kpi_data(days=60, seed=5, anomalies=3))
    same(con.sql("FROM generate_kpi_anomalies(days := 60, seed := 5, anomalies := 3)").to_arrow_table(),
         kpiscope.generate_kpi_anomalies(days=60, seed=5, anomalies=3))


@pytest.mark.parametrize("settings", [
    ("revenue", ["channel", "region"], {}),
    ("orders", [], {"sensitivity": "high", "min_pct": 0.05}),
    ("sessions", ["cohort"], {"method": "streaming", "cooldown": 3}),
])
def test_detection_equals_sql_on_shuffled_rows(con, shuffled, settings):
    value, group_by, extra = settings
    sql_extra = "".join(f", {k} := {v!r}" for k, v in extra.items())
    sql = con.sql(f"FROM detect_anomalies('kpi', value := '{value}', group_by := {group_by}{sql_extra})").to_arrow_table()
    python = kpiscope.detect_anomalies(shuffled, value=value, group_by=group_by, **extra)
    same(sql, python)
    assert pa.compute.sum(python.column("is_anomaly")).as_py() > 0


def test_detection_over_several_batches_of_series_equals_sql(con):
    """150 series of 600 days: 90,000 points, more than one batch (65,536) on both fronts."""
    rng = np.random.default_rng(11)
    days = pa.array(np.tile(np.arange(600, dtype=np.int32), 150), pa.int32()).cast(pa.date32())
    values = np.repeat(rng.uniform(50, 500, 150), 600) * (1 + 0.05 * rng.standard_normal(90_000))
    values[rng.random(90_000) < 0.003] *= 2.0
    data = pa.table({"series": np.repeat(np.arange(150), 600).astype(str), "day": days, "value": values})
    con.register("batched_arrow", data)
    con.execute("CREATE OR REPLACE TABLE batched AS FROM batched_arrow")
    con.unregister("batched_arrow")
    sql = con.sql("FROM detect_anomalies('batched', ts := 'day', value := 'value', group_by := ['series'])").to_arrow_table()
    python = kpiscope.detect_anomalies(data, ts="day", value="value", group_by=["series"])
    same(sql, python)
    assert python.num_rows == 90_000 and pa.compute.sum(python.column("is_anomaly")).as_py() > 0


def test_forecasts_backtests_and_change_points_equal_sql(con, shuffled):
    same(con.sql("FROM forecast_kpi('kpi', value := 'orders', group_by := ['channel'], horizon := 10)").to_arrow_table(),
         kpiscope.forecast_kpi(shuffled, value="orders", group_by=["channel"], horizon=10))
    same(con.sql("FROM forecast_kpi('kpi', value := 'revenue', model := 'ets', level := 0.8)").to_arrow_table(),
         kpiscope.forecast_kpi(shuffled, value="revenue", model="ets", level=0.8))
    same(con.sql("FROM compare_models('kpi', value := 'orders', folds := 2)").to_arrow_table(),
         kpiscope.compare_models(shuffled, value="orders", folds=2))
    same(con.sql("FROM change_points('kpi', value := 'dau', group_by := ['region'])").to_arrow_table(),
         kpiscope.change_points(shuffled, value="dau", group_by=["region"]))


def test_root_causes_equal_sql_on_the_injected_anomaly_days(con, shuffled):
    truth = kpiscope.generate_kpi_anomalies(days=150, seed=7, anomalies=4).to_pylist()
    assert truth
    for anomaly in truth:
        day = anomaly["start_day"]
        sql = con.sql(f"FROM rca_contributions('kpi', ts := 'day', metric := 'revenue', "
                      f"dimensions := ['channel', 'region', 'cohort'], test := DATE '{day}')").to_arrow_table()
        same(sql, kpiscope.rca_contributions(shuffled, ts="day", metric="revenue",
                                             dimensions=["channel", "region", "cohort"], test=day))
        sql = con.sql(f"FROM rca_contributions('kpi', ts := 'day', numerator := 'orders', denominator := 'sessions', "
                      f"dimensions := ['channel', 'region'], test := DATE '{day}', baseline := 'previous_7d')").to_arrow_table()
        same(sql, kpiscope.rca_contributions(shuffled, ts="day", numerator="orders", denominator="sessions",
                                             dimensions=["channel", "region"], test=day, baseline="previous_7d"))


def test_detected_anomalies_and_their_causes_equal_sql(con, shuffled):
    for sql_measure, measure in [("metric := 'revenue'", {"metric": "revenue"}),
                                 ("numerator := 'orders', denominator := 'sessions'",
                                  {"numerator": "orders", "denominator": "sessions"})]:
        sql = con.sql(f"FROM rca_anomalies('kpi', ts := 'day', {sql_measure}, dimensions := ['channel', 'region'], "
                      "top := 2, sensitivity := 'high')").to_arrow_table()
        same(sql, kpiscope.rca_anomalies(shuffled, ts="day", dimensions=["channel", "region"], top=2,
                                         sensitivity="high", **measure))


def test_causes_of_given_anomaly_days_equal_sql_and_keep_their_verdicts(con, shuffled):
    truth = kpiscope.generate_kpi_anomalies(days=150, seed=7, anomalies=4)
    given = pa.table({"day": truth.column("start_day"), "severity": pa.array(["high"] * truth.num_rows),
                      "score": pa.array([90.0] * truth.num_rows)})
    con.register("given_arrow", given)
    con.execute("CREATE OR REPLACE TABLE given AS FROM given_arrow")
    sql = con.sql("FROM rca_anomalies('kpi', ts := 'day', metric := 'revenue', dimensions := ['channel', 'region', "
                  "'cohort'], anomalies := 'given', baseline := 'previous_7d')").to_arrow_table()
    python = kpiscope.rca_anomalies(shuffled, ts="day", metric="revenue", dimensions=["channel", "region", "cohort"],
                                    anomalies=given, baseline="previous_7d")
    same(sql, python)
    assert set(python.column("severity").to_pylist()) == {"high"}
    assert set(python.column("ts").to_pylist()) == set(truth.column("start_day").to_pylist())


def test_explicit_root_causes_equal_sql_with_null_dimension_values(con):
    leaves = pa.table({"country": ["DE", "DE", None, "FR", "FR"], "plan": ["a", "b", "a", None, "b"],
                       "real": [100.0, 50.0, 30.0, 20.0, 5.0], "predict": [100.0, 80.0, 30.0, 20.0, 10.0]})
    con.register("leaves_arrow", leaves)
    con.execute("CREATE OR REPLACE TABLE leaves AS FROM leaves_arrow")
    sql = con.sql("FROM rca_contributions('leaves', dimensions := ['country', 'plan'], actual := 'real', "
                  "expected := 'predict')").to_arrow_table()
    same(sql, kpiscope.rca_contributions(leaves, dimensions=["country", "plan"], actual="real", expected="predict"))


def test_pandas_and_polars_frames_come_back_as_their_own_kind():
    data = kpiscope.generate_kpi_data(days=70, anomalies=2, output="pandas")
    assert isinstance(data, pd.DataFrame)
    flagged = kpiscope.detect_anomalies(data, value="revenue")
    assert isinstance(flagged, pd.DataFrame) and list(flagged.columns[:3]) == ["ts", "value", "expected"]
    polars_data = pl.from_pandas(data)
    forecast = kpiscope.forecast_kpi(polars_data, value="orders", horizon=5)
    assert isinstance(forecast, pl.DataFrame) and forecast.height == 5


def test_time_zones_round_trip_and_name_the_same_instants():
    day = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    hours = [day + dt.timedelta(hours=h) for h in range(24 * 30)]
    values = [100.0 + 10 * np.sin(h / 24 * 2 * np.pi) for h in range(len(hours))]
    utc = pa.table({"at": pa.array(hours, pa.timestamp("us", tz="UTC")), "v": values})
    etc = pa.table({"at": pa.array(hours, pa.timestamp("ms", tz="Etc/UTC")), "v": values})
    a, b = kpiscope.detect_anomalies(utc, value="v"), kpiscope.detect_anomalies(etc, value="v")
    assert a.column("ts").type == pa.timestamp("us", tz="UTC")
    assert a.column("ts").cast(pa.int64()) == b.column("ts").cast(pa.int64())
    assert a.column("score") == b.column("score")
    assert kpiscope.forecast_kpi(utc, value="v", horizon=2).column("ts").to_pylist()[0] == hours[-1] + dt.timedelta(hours=1)


def test_duplicate_timestamps_are_summed_and_null_times_left_out_as_in_sql(con):
    table = pa.table({"d": pa.array([dt.date(2024, 1, 1 + i // 2) if i != 7 else None for i in range(40)]),
                      "v": [float(i % 5) if i % 9 else None for i in range(40)]})
    con.register("dup_arrow", table)
    con.execute("CREATE OR REPLACE TABLE dup AS FROM dup_arrow")
    same(con.sql("FROM detect_anomalies('dup', value := 'v')").to_arrow_table(), kpiscope.detect_anomalies(table, value="v"))


@pytest.mark.parametrize("call, message", [
    (lambda d: kpiscope.forecast_kpi(d, value="orders", horizon=0), "horizon must be between 1 and 366, got 0"),
    (lambda d: kpiscope.detect_anomalies(d, value="orders", method="magic"), "method must be one of"),
    (lambda d: kpiscope.detect_anomalies(d, value="nope"), "value column 'nope' does not exist"),
    (lambda d: kpiscope.detect_anomalies(d, value="channel"), "must be numeric"),
    (lambda d: kpiscope.detect_anomalies(d), "value is required"),
    (lambda d: kpiscope.detect_anomalies(d, value="orders", ts="orders"), "must be a date or timestamp"),
    (lambda d: kpiscope.detect_anomalies(d, value="orders", group_by=["ts"]), "does not exist"),
    (lambda d: kpiscope.detect_anomalies(d, value="orders", period=0), "period must be between 1 and 1000"),
    (lambda d: kpiscope.change_points(d.set_column(8, "revenue", pa.nulls(d.num_rows, pa.float64())), value="revenue"),
     "no finite values: all 40 are NULL or NaN"),
    (lambda d: kpiscope.rca_contributions(d, dimensions=["channel"]), "say what changed"),
    (lambda d: kpiscope.rca_contributions(d, dimensions=["channel"], actual="orders"), "give both actual and expected"),
    (lambda d: kpiscope.rca_contributions(d, dimensions=["channel"], metric="orders", test="2024-01-20",
                                          baseline_start="2024-01-10"), "give both baseline_start and baseline_end"),
    (lambda d: kpiscope.generate_kpi_data(days=0), "days must be between 1 and 3660, got 0"),
    (lambda d: kpiscope.rca_anomalies(d, dimensions=["channel"], metric="orders", top=0), "top must be between 1 and 1000"),
    (lambda d: kpiscope.rca_anomalies(d, dimensions=["channel"], numerator="orders"), "give metric="),
])
def test_mistakes_are_value_errors_that_say_what_to_fix(call, message):
    data = kpiscope.generate_kpi_data(days=40, anomalies=1)
    with pytest.raises(ValueError, match=f"^kpiscope: .*({message})"):
        call(data)


def test_an_empty_table_gives_empty_results_with_the_columns_as_in_sql(con, shuffled):
    empty = shuffled.slice(0, 0)
    for name in ["detect_anomalies", "forecast_kpi", "change_points"]:
        sql = con.sql(f"FROM {name}('(FROM kpi LIMIT 0)', value := 'orders', group_by := ['channel'])")
        result = getattr(kpiscope, name)(empty, value="orders", group_by=["channel"])
        assert result.num_rows == 0 and result.column_names == sql.columns


def test_data_that_is_not_a_table_is_a_type_error():
    with pytest.raises(TypeError, match="kpiscope: data must be a pyarrow Table"):
        kpiscope.detect_anomalies([1, 2, 3], value="v")


def random_table(rng: random.Random) -> pa.Table:
    """A table of awkward shape: any length from 0, NULL and non-finite values, huge numbers,
    duplicate and NULL times, far-away times, NULL group keys."""
    n = rng.choice([0, 1, 2, 3, 10, 60, 400])
    start = rng.choice([dt.date(2024, 1, 1), dt.date(1, 1, 1), dt.date(9999, 1, 1)])
    pool = [None, float("nan"), float("inf"), -1e308, 1e308, 0.0, -5.0, 1e-300]
    days = []
    for i in range(n):
        pick = rng.random()
        if pick < 0.05:
            days.append(None)
        elif pick < 0.1:
            days.append(dt.date(rng.choice([1, 5000, 9999]), 1, 1))
        else:
            try:
                days.append(start + dt.timedelta(days=i // rng.choice([1, 1, 2]) * rng.choice([1, 1, 7])))
            except OverflowError:
                days.append(start)
    values = [rng.choice(pool) if rng.random() < 0.2 else rng.gauss(100, 20) for _ in range(n)]
    groups = [rng.choice(["a", "b", None]) for _ in range(n)]
    return pa.table({"d": pa.array(days, pa.date32()), "v": pa.array(values, pa.float64()),
                     "g": pa.array(groups, pa.string())})


def test_generated_awkward_inputs_give_a_result_or_a_value_error_never_a_crash():
    rng = random.Random(11)
    calls = [
        lambda t, p: kpiscope.detect_anomalies(t, value="v", group_by=rng.choice([[], ["g"]]),
                                               method=rng.choice([None, "streaming", "ensemble", "auto"]), period=p),
        lambda t, p: kpiscope.forecast_kpi(t, value="v", horizon=rng.choice([1, 30, 366]), period=p),
        lambda t, p: kpiscope.compare_models(t, value="v", group_by=["g"], folds=rng.choice([1, 3]), period=p),
        lambda t, p: kpiscope.change_points(t, value="v", period=p),
        lambda t, p: kpiscope.rca_contributions(t, dimensions=["g"], ts="d", metric="v", test=dt.date(2024, 1, 9)),
        lambda t, p: kpiscope.rca_contributions(t, dimensions=["g"], actual="v", expected="v", max_depth=p),
        lambda t, p: kpiscope.rca_anomalies(t, dimensions=["g"], metric="v", max_depth=p, top=p,
                                            anomalies=rng.choice([None, t.select(["d"])])),
    ]
    outcomes = {"result": 0, "refused": 0}
    for case in range(120):
        table = random_table(rng)
        call = calls[case % len(calls)]
        try:
            result = call(table, rng.choice([None, 1, 7, 1000]))
            assert isinstance(result, pa.Table)
            outcomes["result"] += 1
        except ValueError as error:
            assert str(error).startswith("kpiscope: "), error
            outcomes["refused"] += 1
    assert outcomes["result"] > 20 and outcomes["refused"] > 5, outcomes


def python_snippets() -> list:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Python package", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def wheel_python() -> str:
    """The python of the venv `make wheel` makes from nothing but `pip install` of the wheel."""
    python = os.environ.get("KPISCOPE_WHEEL_PYTHON")
    assert python and Path(python).exists(), \
        "KPISCOPE_WHEEL_PYTHON must name the fresh wheel venv's python: run `make wheel`"
    return python


def test_the_wheel_venv_holds_the_installed_wheel_and_no_duckdb(tmp_path):
    probe = ("import importlib.util, kpiscope; print(kpiscope.__file__); "
             "print(importlib.util.find_spec('duckdb') is None)")
    result = subprocess.run([wheel_python(), "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    location, no_duckdb = result.stdout.split()
    assert "site-packages" in location and str(REPO / "python") not in location, location
    assert no_duckdb == "True", "the package must work without DuckDB installed"


@pytest.mark.parametrize("which", ["pandas", "spark"])
def test_the_readme_python_snippets_run_as_written_after_pip_install_of_the_wheel(tmp_path, which):
    snippets = python_snippets()
    assert len(snippets) == 2, "README has a pandas and a Spark ```python block under '## Python package'"
    python = wheel_python()
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=python)
    result = subprocess.run([python, "-c", snippets[0 if which == "pandas" else 1]], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "revenue" in result.stdout or "severity" in result.stdout, result.stdout
