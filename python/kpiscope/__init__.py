"""kpiscope for Python: the engine behind the DuckDB extension, on DataFrames.

Each function mirrors the SQL function of the same name: the same parameter names and
defaults, the same output columns and types, the same values. ``data`` is a pyarrow Table, a
pandas or a polars DataFrame (or anything with ``__arrow_c_stream__``); the result comes back
as the same kind. Errors are ``ValueError("kpiscope: ...")`` (``TypeError`` for data that is
not a table).

    >>> import kpiscope
    >>> data = kpiscope.generate_kpi_data(days=120)
    >>> flagged = kpiscope.detect_anomalies(data, value="revenue", group_by=["channel"])

Unlike SQL, ``value`` (and ``metric``, ``numerator``, ...) name a numeric column, summed per
time step and group; compute a ratio of sums in SQL or as two columns for RCA.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _kpiscope

__all__ = [
    "detect_anomalies",
    "forecast_kpi",
    "compare_models",
    "change_points",
    "rca_contributions",
    "rca_anomalies",
    "generate_kpi_data",
    "generate_kpi_anomalies",
]

_MICROS_PER_DAY = 86_400_000_000


def _fail(message: str) -> ValueError:
    return ValueError(f"kpiscope: {message}")


def _as_arrow(data: Any, role: str = "data") -> tuple[pa.Table, str]:
    """``data`` as an Arrow table, and the kind to give results back as."""
    if isinstance(data, pa.Table):
        return data, "arrow"
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]), "arrow"
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False), "pandas"
    if module == "polars" and hasattr(data, "to_arrow"):
        return data.to_arrow(), "polars"
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data), "arrow"
    raise TypeError(f"kpiscope: {role} must be a pyarrow Table or a pandas or polars DataFrame, got {type(data).__name__}")


_ARROW_TYPES = {"int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}


def _strings(offsets, data, valid) -> pa.Array:
    """One Arrow string array over the engine's buffers, without copying them."""
    nulls = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(len(valid), pa.py_buffer(offsets), pa.py_buffer(data), nulls)


def _give_back(columns: list, kind: str, tz: Optional[str] = None):
    """The engine's columns as a table of the caller's kind."""
    arrays, names = [], []
    columns.reverse()
    while columns:  # popped, so each engine buffer is released once Arrow holds it
        name, (type_name, payload) = columns.pop()
        if type_name == "string":
            array = pa.chunked_array([_strings(*chunk) for chunk in payload], type=pa.string())
        else:
            values, valid = payload
            mask = None if valid.all() else ~valid
            if type_name == "date":
                array = pa.array(values, type=pa.int32(), mask=mask).cast(pa.date32())
            elif type_name == "timestamp":
                array = pa.array(values, type=pa.int64(), mask=mask).cast(pa.timestamp("us", tz=tz))
            else:
                array = pa.array(values, type=_ARROW_TYPES[type_name], mask=mask)
        arrays.append(array)
        names.append(name)
    table = pa.Table.from_arrays(arrays, names=names)
    if kind == "pandas":
        return table.to_pandas()
    if kind == "polars":
        import polars

        return polars.from_arrow(table)
    return table


def _column(table: pa.Table, role: str, name: str) -> pa.ChunkedArray:
    if not isinstance(name, str) or not name:
        raise _fail(f"{role} must name a column")
    if name not in table.column_names:
        raise _fail(f"{role} column '{name}' does not exist; columns are: {', '.join(table.column_names)}")
    return table.column(name)


def _is_temporal(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_timestamp(t)


def _time_column(table: pa.Table, ts: Optional[str]) -> str:
    """The ``ts`` the caller named, or else the only date or timestamp column."""
    if ts is not None:
        return ts
    temporal = [f.name for f in table.schema if _is_temporal(f.type)]
    if len(temporal) == 1:
        return temporal[0]
    if not temporal:
        raise _fail(f"the data has no date or timestamp column; columns are: {', '.join(table.column_names)}")
    raise _fail(f"the data has several time columns ({', '.join(temporal)}); pick one with ts='...'")


def _micros(table: pa.Table, role: str, name: str) -> tuple[tuple[np.ndarray, np.ndarray], bool, Optional[str]]:
    """A time column as (microseconds, valid), whether it holds dates, and its time zone."""
    column = _column(table, role, name)
    t = column.type
    if pa.types.is_date(t):
        days = column.cast(pa.date32()).cast(pa.int32())
        values = days.to_numpy(zero_copy_only=False)
        valid = pc.is_valid(days).to_numpy(zero_copy_only=False)
        micros = np.where(valid, np.nan_to_num(values, nan=0), 0).astype(np.int64) * _MICROS_PER_DAY
        return (micros, valid), True, None
    if pa.types.is_timestamp(t):
        # Arrow stores instants as UTC whatever the zone ("UTC", "Etc/UTC", "Europe/Berlin"),
        # so the count of microseconds is the zone-free time the engine uses.
        micros = column.cast(pa.timestamp("us", tz=t.tz)).cast(pa.int64())
        valid = pc.is_valid(micros).to_numpy(zero_copy_only=False)
        return (micros.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64), valid), False, t.tz
    raise _fail(f"{role} column '{name}' must be a date or timestamp, but it is {t}")


def _numbers(table: pa.Table, role: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column as (float64 values, valid)."""
    column = _column(table, role, name)
    t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise _fail(f"{role} column '{name}' must be numeric, but it is {t}")
    values = column.cast(pa.float64())
    valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
    return values.fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float64), valid


def _keys(table: pa.Table, role: str, names: Sequence[str], null_text: Optional[str] = None) -> list:
    """Key columns as text, dictionary-encoded: (dictionary, codes with -1 for NULL)."""
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
        raise _fail(f"{role} must be a list of column names")
    keys = []
    for name in names:
        text = _column(table, role, name).cast(pa.string())
        if null_text is not None:
            text = text.fill_null(null_text)
        encoded = pc.dictionary_encode(text).combine_chunks()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        keys.append((encoded.dictionary.to_pylist(), codes))
    return keys


def _series_input(data: Any, ts: Optional[str], value: Optional[str], group_by: Sequence[str], reserved: Iterable[str]):
    if value is None:
        raise _fail("value is required: a numeric column, summed per time step")
    table, kind = _as_arrow(data)
    group_by = list(group_by or [])
    keys = _keys(table, "group_by", group_by)
    clash = next((g for g in group_by if g in set(reserved)), None)
    if clash is not None:
        raise _fail(f"group_by column '{clash}' clashes with an output column; rename it first")
    time, is_date, tz = _micros(table, "ts", _time_column(table, ts))
    return kind, (group_by, is_date, keys, time, _numbers(table, "value", value)), tz


def _micros_of(moment: Any, role: str) -> int:
    """A date, datetime (naive = UTC) or ISO text as microseconds since 1970."""
    if isinstance(moment, str):
        try:
            moment = _dt.datetime.fromisoformat(moment)
        except ValueError:
            raise _fail(f"{role} must be a date or timestamp, got '{moment}'") from None
    if isinstance(moment, _dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_dt.timezone.utc)
        delta = moment - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(moment, _dt.date):
        return (moment - _dt.date(1970, 1, 1)).days * _MICROS_PER_DAY
    if hasattr(moment, "to_pydatetime"):  # pandas Timestamp
        return _micros_of(moment.to_pydatetime(), role)
    raise _fail(f"{role} must be a date or timestamp, got {type(moment).__name__}")


_DETECT_OUTPUT = ("ts", "value", "expected", "lower", "upper", "score", "is_anomaly", "severity", "incident_id",
                  "incident_start", "explanation")


def _events(events: Any) -> list:
    """The ``events`` table: its one date or timestamp column, ``name`` and an optional
    boolean ``suppress`` (default true), as (day, name, suppress)."""
    if events is None:
        return []
    table, _ = _as_arrow(events, "events")
    (micros, valid), _, _ = _micros(table, "events", _time_column(table, None))
    if "name" not in table.column_names:
        raise _fail(f"events column 'name' does not exist; columns are: {', '.join(table.column_names)}")
    names = table.column("name").cast(pa.string()).to_pylist()
    suppress = table.column("suppress").to_pylist() if "suppress" in table.column_names else [True] * len(names)
    return [(int(m // _MICROS_PER_DAY), n if n is not None else "event", s if s is not None else True)
            for m, ok, n, s in zip(micros.tolist(), valid.tolist(), names, suppress) if ok]


def detect_anomalies(data: Any, ts: Optional[str] = None, value: Optional[str] = None, group_by: Sequence[str] = (),
                     method: Optional[str] = None, sensitivity: Optional[str] = None, period: Optional[int] = None,
                     direction: Optional[str] = None, min_delta: Optional[float] = None,
                     min_pct: Optional[float] = None, min_history: Optional[int] = None,
                     cooldown: Optional[int] = None, as_of: Any = None, events: Any = None,
                     unit: Optional[str] = None):
    """Walk-forward anomaly detection per series: SQL's ``detect_anomalies``."""
    kind, series, tz = _series_input(data, ts, value, group_by, _DETECT_OUTPUT)
    if as_of is not None:
        limit = _micros_of(as_of, "as_of")
        group_by, is_date, keys, (micros, valid), number = series
        series = (group_by, is_date, keys, (micros, valid & (micros <= limit)), number)
    columns = _kpiscope.detect_anomalies(series, _events(events), method, sensitivity, period, direction, min_delta,
                                         min_pct, min_history, cooldown, unit)
    return _give_back(columns, kind, tz)


def _forecasting(backtest: bool, data, ts, value, group_by, reserved, **settings):
    kind, series, tz = _series_input(data, ts, value, group_by, reserved)
    columns = _kpiscope.forecast_kpi(series, backtest, **settings)
    return _give_back(columns, kind, tz)


def forecast_kpi(data: Any, ts: Optional[str] = None, value: Optional[str] = None, group_by: Sequence[str] = (),
                 horizon: Optional[int] = None, level: Optional[float] = None, model: Optional[str] = None,
                 period: Optional[int] = None):
    """Forecast with a prediction interval per series: SQL's ``forecast_kpi`` (horizon 30,
    level 0.9, model 'auto')."""
    return _forecasting(False, data, ts, value, group_by, ("ts", "yhat", "yhat_lower", "yhat_upper", "model"),
                        horizon=horizon, level=level, model=model, period=period)


def compare_models(data: Any, ts: Optional[str] = None, value: Optional[str] = None, group_by: Sequence[str] = (),
                   horizon: Optional[int] = None, folds: Optional[int] = None, level: Optional[float] = None,
                   period: Optional[int] = None):
    """Rolling-origin backtest of every forecasting model: SQL's ``compare_models``."""
    return _forecasting(True, data, ts, value, group_by,
                        ("model", "folds", "mae", "rmse", "smape", "mase", "coverage", "rank"),
                        horizon=horizon, level=level, period=period, folds=folds)


def change_points(data: Any, ts: Optional[str] = None, value: Optional[str] = None, group_by: Sequence[str] = (),
                  period: Optional[int] = None):
    """Structural breaks per series: SQL's ``change_points``."""
    reserved = ("ts", "value", "is_change_point", "probability", "mean_before", "mean_after")
    kind, series, tz = _series_input(data, ts, value, group_by, reserved)
    return _give_back(_kpiscope.change_points(series, period), kind, tz)


def _rca_dimensions(table: pa.Table, dimensions: Sequence[str]) -> tuple[list, list]:
    dimensions = list(dimensions or [])
    if not 1 <= len(dimensions) <= 8:
        raise _fail("dimensions must list 1 to 8 columns to break the change down by")
    return dimensions, _keys(table, "dimensions", dimensions, null_text="NULL")


def _measures(table: pa.Table, metric: Optional[str], numerator: Optional[str], denominator: Optional[str]) -> list:
    """The KPI over time: ``metric``, or ``numerator`` and ``denominator`` of a ratio."""
    if metric is not None and numerator is None and denominator is None:
        return [_numbers(table, "metric", metric)]
    if metric is None and numerator is not None and denominator is not None:
        return [_numbers(table, "numerator", numerator), _numbers(table, "denominator", denominator)]
    raise _fail("give metric='column', or numerator= and denominator= for a ratio KPI")


def rca_contributions(data: Any, dimensions: Sequence[str] = (), actual: Optional[str] = None,
                      expected: Optional[str] = None, actual_numerator: Optional[str] = None,
                      actual_denominator: Optional[str] = None, expected_numerator: Optional[str] = None,
                      expected_denominator: Optional[str] = None, ts: Optional[str] = None,
                      metric: Optional[str] = None, numerator: Optional[str] = None,
                      denominator: Optional[str] = None, test: Any = None, baseline: Optional[str] = None,
                      baseline_start: Any = None, baseline_end: Any = None, max_depth: Optional[int] = None):
    """Which segments moved a KPI: SQL's ``rca_contributions``, explicit (``actual`` and
    ``expected`` per leaf, or the four numerator and denominator columns of a ratio) or over
    time (``metric``, or ``numerator`` and ``denominator``, at ``test`` against ``baseline``)."""
    table, kind = _as_arrow(data)
    dimensions, keys = _rca_dimensions(table, dimensions)
    additive = {"expected": expected, "actual": actual}
    ratio = {"expected_numerator": expected_numerator, "actual_numerator": actual_numerator,
             "expected_denominator": expected_denominator, "actual_denominator": actual_denominator}
    given = lambda columns: sum(c is not None for c in columns.values())  # noqa: E731
    if given(additive) or given(ratio):
        if given(additive) and given(ratio):
            raise _fail("give either actual and expected, or the four numerator and denominator columns, not both")
        if given(ratio) and given(ratio) != 4:
            raise _fail("a ratio KPI needs all four of actual_numerator, actual_denominator, expected_numerator "
                        "and expected_denominator")
        if given(additive) and given(additive) != 2:
            raise _fail("give both actual and expected columns")
        chosen = additive if given(additive) else ratio
        values = [_numbers(table, role, column) for role, column in chosen.items()]
        columns = _kpiscope.rca_contributions(dimensions, keys, None, values, max_depth=max_depth)
        return _give_back(columns, kind)
    if test is None:
        raise _fail("say what changed: test=... (with ts and metric), or actual= and expected= columns")
    values = _measures(table, metric, numerator, denominator)
    time, _, _ = _micros(table, "ts", _time_column(table, ts))
    moment = lambda m, role: None if m is None else _micros_of(m, role)  # noqa: E731
    columns = _kpiscope.rca_contributions(dimensions, keys, time, values, test=_micros_of(test, "test"),
                                          baseline=baseline, baseline_start=moment(baseline_start, "baseline_start"),
                                          baseline_end=moment(baseline_end, "baseline_end"), max_depth=max_depth)
    return _give_back(columns, kind)


def _steps(anomalies: Any) -> Optional[list]:
    """The ``anomalies`` table: its one date or timestamp column and, when present,
    ``expected``, ``score`` and ``severity``, row by row (the engine orders them and drops
    repeats)."""
    if anomalies is None:
        return None
    table, _ = _as_arrow(anomalies, "anomalies")
    (micros, valid), _, _ = _micros(table, "anomalies", _time_column(table, None))
    optional = lambda name, cast: (table.column(name).cast(cast).to_pylist()  # noqa: E731
                                   if name in table.column_names else [None] * table.num_rows)
    rows = zip(micros.tolist(), valid.tolist(), optional("expected", pa.float64()), optional("score", pa.float64()),
               optional("severity", pa.string()))
    return [(t, e, s, v) for t, ok, e, s, v in rows if ok]


def rca_anomalies(data: Any, dimensions: Sequence[str] = (), ts: Optional[str] = None, metric: Optional[str] = None,
                  numerator: Optional[str] = None, denominator: Optional[str] = None, baseline: Optional[str] = None,
                  max_depth: Optional[int] = None, top: Optional[int] = None, method: Optional[str] = None,
                  sensitivity: Optional[str] = None, anomalies: Any = None):
    """Detection on the KPI's total, then the ``top`` segments (3) behind every anomalous time
    step against ``baseline``: SQL's ``rca_anomalies``. With ``anomalies`` (a table with one
    date or timestamp column, optionally ``expected``, ``score``, ``severity``), the steps it
    lists instead."""
    table, kind = _as_arrow(data)
    dimensions, keys = _rca_dimensions(table, dimensions)
    values = _measures(table, metric, numerator, denominator)
    time, is_date, tz = _micros(table, "ts", _time_column(table, ts))
    columns = _kpiscope.rca_anomalies(dimensions, keys, time, values, is_date, anomalies=_steps(anomalies),
                                      baseline=baseline, max_depth=max_depth, top=top, method=method,
                                      sensitivity=sensitivity)
    return _give_back(columns, kind, tz)


def _generated(ground_truth: bool, days, start, seed, anomalies, output: str):
    if start is not None:
        if isinstance(start, str):
            start = _dt.date.fromisoformat(start) if len(start) == 10 else None
        if not isinstance(start, _dt.date):
            raise _fail("start must be a date")
        start = start.isoformat()[:10]
    columns = _kpiscope.generate(ground_truth, days, start, seed, anomalies)
    return _give_back(columns, output)


def generate_kpi_data(days: Optional[int] = None, start: Any = None, seed: Optional[int] = None,
                      anomalies: Optional[int] = None, output: str = "arrow"):
    """Synthetic daily KPIs by channel, region and cohort with injected anomalies: SQL's
    ``generate_kpi_data`` (180 days, seed 42). ``output``: 'arrow', 'pandas' or 'polars'."""
    return _generated(False, days, start, seed, anomalies, output)


def generate_kpi_anomalies(days: Optional[int] = None, start: Any = None, seed: Optional[int] = None,
                           anomalies: Optional[int] = None, output: str = "arrow"):
    """The ground truth of ``generate_kpi_data`` with the same arguments."""
    return _generated(True, days, start, seed, anomalies, output)
