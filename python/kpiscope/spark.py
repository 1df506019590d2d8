"""kpiscope on Apache Spark: the package's functions over Spark DataFrames.

The series functions (``detect_anomalies``, ``forecast_kpi``, ``compare_models``,
``change_points``) hash each row's group key into a bucket and run every bucket through
``applyInArrow``: inside the task the rows arrive as one Arrow table in any order, and the
local function (which sums and sorts them like SQL) runs once per bucket, so results equal the
package's and the SQL functions' value for value. The bucket count follows the row count
(``ROWS_PER_BUCKET`` rows a bucket, at least two per core) so a bucket fits in a Python
worker's memory. ``rca_contributions`` and ``rca_anomalies`` aggregate in Spark (one row per
leaf and time step) and localise on the driver, where the aggregated leaves are small.

Every Python worker needs the ``kpiscope`` wheel (a cluster library, or ``spark.archives``
with a packed environment) and runs the engine on one thread: Spark already runs a task per core.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional, Sequence

import pyarrow as pa

import kpiscope

__all__ = ["detect_anomalies", "forecast_kpi", "compare_models", "change_points", "rca_contributions",
           "rca_anomalies"]

#: Rows per bucket: ~100 bytes a row in Arrow, so a bucket is ~100 MB in a worker.
ROWS_PER_BUCKET = 1_000_000

_BUCKET = "__kpiscope_bucket"


def _spark_schema(arrow_schema: pa.Schema):
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


def _local_empty(df) -> pa.Table:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema).empty_table()


def _buckets(df, group_by: Sequence[str], buckets: Optional[int]) -> int:
    if buckets is not None:
        if not isinstance(buckets, int) or buckets < 1:
            raise ValueError(f"kpiscope: buckets must be a positive integer, got {buckets!r}")
        return buckets
    if not group_by:
        return 1
    cores = df.sparkSession.sparkContext.defaultParallelism
    return max(2 * cores, math.ceil(df.count() / ROWS_PER_BUCKET))


def _per_bucket(name: str, df, ts: Optional[str], value: Optional[str], group_by: Sequence[str],
                buckets: Optional[int], settings: dict):
    """Runs ``kpiscope.<name>`` on each bucket of series; the schema is what the local
    function returns for no rows, so Spark and the package agree on it by construction."""
    from pyspark.sql import functions as F

    group_by = list(group_by or [])
    function = getattr(kpiscope, name)
    columns = [c for c in df.columns if c in set(group_by) | {value} | ({ts} if ts else set())]
    if ts is None:
        # The local function finds the only time column; it must travel with the rows.
        columns = df.columns
    schema = function(_local_empty(df.select(*columns)), ts=ts, value=value, group_by=group_by, **settings).schema
    count = _buckets(df, group_by, buckets)
    key = F.pmod(F.hash(*[F.col(g) for g in group_by]), F.lit(count)) if group_by else F.lit(0)

    def run(table: pa.Table) -> pa.Table:
        # Spark runs one task per core; the engine's own threads would only compete with them.
        os.environ.setdefault("RAYON_NUM_THREADS", "1")
        return function(table.drop_columns([_BUCKET]), ts=ts, value=value, group_by=group_by, **settings)

    return df.select(*columns).withColumn(_BUCKET, key).groupBy(_BUCKET).applyInArrow(run, _spark_schema(schema))


def detect_anomalies(df, ts: Optional[str] = None, value: Optional[str] = None, group_by: Sequence[str] = (),
                     buckets: Optional[int] = None, **settings: Any):
    """``kpiscope.detect_anomalies`` per series of a Spark DataFrame (same settings)."""
    if settings.get("events") is not None:
        settings["events"] = settings["events"].toArrow() if hasattr(settings["events"], "toArrow") else settings["events"]
    return _per_bucket("detect_anomalies", df, ts, value, group_by, buckets, settings)


def forecast_kpi(df, ts: Optional[str] = None, value: Optional[str] = None, group_by: Sequence[str] = (),
                 buckets: Optional[int] = None, **settings: Any):
    """``kpiscope.forecast_kpi`` per series of a Spark DataFrame."""
    return _per_bucket("forecast_kpi", df, ts, value, group_by, buckets, settings)


def compare_models(df, ts: Optional[str] = None, value: Optional[str] = None, group_by: Sequence[str] = (),
                   buckets: Optional[int] = None, **settings: Any):
    """``kpiscope.compare_models`` per series of a Spark DataFrame."""
    return _per_bucket("compare_models", df, ts, value, group_by, buckets, settings)


def change_points(df, ts: Optional[str] = None, value: Optional[str] = None, group_by: Sequence[str] = (),
                  buckets: Optional[int] = None, **settings: Any):
    """``kpiscope.change_points`` per series of a Spark DataFrame."""
    return _per_bucket("change_points", df, ts, value, group_by, buckets, settings)


def _time_column(df, ts: Optional[str]) -> Optional[str]:
    """``ts``, or else the only date or timestamp column (None when there is not exactly one)."""
    if ts is not None:
        return ts
    temporal = [f.name for f in df.schema.fields if f.dataType.typeName() in ("date", "timestamp", "timestamp_ntz")]
    return temporal[0] if len(temporal) == 1 else None


def _leaves(df, keys: Sequence[str], measures: Sequence[str]) -> pa.Table:
    """The measure columns summed in Spark per leaf (and time step), as Arrow on the driver.
    Summing the sums again locally gives the same totals, since every leaf (and time step) is
    one row after this; the driver's share stays small."""
    from pyspark.sql import functions as F

    missing = [c for c in list(keys) + list(measures) if c not in df.columns]
    if missing:
        raise ValueError(f"kpiscope: column '{missing[0]}' does not exist; columns are: {', '.join(df.columns)}")
    sums = [F.sum(F.col(m).cast("double")).alias(m) for m in dict.fromkeys(measures)]
    return df.groupBy(*keys).agg(*sums).toArrow()


def rca_contributions(df, dimensions: Sequence[str] = (), **settings: Any):
    """``kpiscope.rca_contributions`` on a Spark DataFrame: the measure columns summed in Spark
    per leaf (and time step), the small result localised on the driver; a Spark DataFrame back."""
    dimensions = list(dimensions or [])
    measures = [settings[k] for k in ("actual", "expected", "actual_numerator", "actual_denominator",
                                      "expected_numerator", "expected_denominator", "metric", "numerator",
                                      "denominator") if settings.get(k) is not None]
    if settings.get("test") is not None:
        settings["ts"] = _time_column(df, settings.get("ts"))
    ts = settings.get("ts")
    leaves = _leaves(df, dimensions + ([ts] if ts else []), measures)
    result = kpiscope.rca_contributions(leaves, dimensions=dimensions, **settings)
    return df.sparkSession.createDataFrame(result)


def rca_anomalies(df, dimensions: Sequence[str] = (), ts: Optional[str] = None, anomalies: Any = None,
                  **settings: Any):
    """``kpiscope.rca_anomalies`` on a Spark DataFrame: leaves summed per time step in Spark,
    detection on their total and localisation on the driver. ``anomalies`` may be a Spark
    DataFrame (collected: one row per time step to explain)."""
    dimensions = list(dimensions or [])
    ts = _time_column(df, ts)
    if ts is None:
        raise ValueError("kpiscope: name the time column with ts='...' (the data needs exactly one date or timestamp)")
    measures = [settings[k] for k in ("metric", "numerator", "denominator") if settings.get(k) is not None]
    leaves = _leaves(df, dimensions + [ts], measures)
    if anomalies is not None and hasattr(anomalies, "toArrow"):
        anomalies = anomalies.toArrow()
    result = kpiscope.rca_anomalies(leaves, dimensions=dimensions, ts=ts, anomalies=anomalies, **settings)
    return df.sparkSession.createDataFrame(result)
