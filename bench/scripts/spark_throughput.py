"""Detection throughput on many series: Spark local[N] through kpiscope.spark against the same
work in DuckDB (the extension, SQL) and in the Python package, in one run.

    python3 bench/scripts/spark_throughput.py [SERIES ...] [--days 730] [--cores 2]

(after `make test`, which builds the extension and installs the package and pyspark into
~/.cache/kpiscope/venv-duckdb-1.5.6; run it with that venv's python). Each size is a Parquet
file of SERIES daily series x DAYS days (seasonal, noisy, a few spikes); every path reads that
file, scores every series with the default detector and counts the flagged rows, which must
agree. Prints seconds and series per second per path."""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import kpiscope
import kpiscope.spark

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "build/release/kpiscope.duckdb_extension"


def write_series(path: Path, series: int, days: int) -> None:
    rng = np.random.default_rng(series)
    day = np.tile(np.arange(days, dtype=np.int32), series)
    key = np.repeat(np.arange(series), days)
    level = np.repeat(rng.uniform(50, 5000, series), days)
    weekly = 1 + 0.2 * np.sin(2 * np.pi * (day % 7) / 7)
    value = level * weekly * (1 + 0.05 * rng.standard_normal(series * days))
    spikes = rng.random(series * days) < 0.002
    value[spikes] *= 1.8
    table = pa.table({"series": pa.array(key.astype(str)), "day": pa.array(day, pa.int32()).cast(pa.date32()),
                      "value": value})
    pq.write_table(table, path, row_group_size=1_000_000)


def timed(work):
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("series", nargs="*", type=int, default=[20_000])
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(f"local[{args.cores}]").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", str(args.cores)).config("spark.driver.memory", "8g")
             .getOrCreate())
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    print(f"{args.days} days per series, {args.cores} cores; seconds (series per second)")
    with tempfile.TemporaryDirectory() as scratch:
        for series in args.series:
            path = Path(scratch) / f"s{series}.parquet"
            write_series(path, series, args.days)
            sql_s, sql_n = timed(lambda: con.execute(
                f"SELECT count(*) FILTER (WHERE is_anomaly) FROM detect_anomalies('(FROM read_parquet(''{path}''))', "
                "ts := 'day', value := 'value', group_by := ['series'])").fetchone()[0])
            py_s, py_n = timed(lambda: kpiscope.detect_anomalies(pq.read_table(path), ts="day", value="value",
                                                                 group_by=["series"]).column("is_anomaly")
                               .to_numpy(zero_copy_only=False).sum())
            df = spark.read.parquet(str(path))
            spark_s, spark_n = timed(lambda: kpiscope.spark.detect_anomalies(
                df, ts="day", value="value", group_by=["series"]).filter("is_anomaly").count())
            assert sql_n == py_n == spark_n, (sql_n, py_n, spark_n)
            rate = lambda s: f"{s:6.1f} s ({series / s:7.0f}/s)"  # noqa: E731
            print(f"{series:>7} series: DuckDB SQL {rate(sql_s)}, Python package {rate(py_s)}, "
                  f"Spark local[{args.cores}] {rate(spark_s)}; {sql_n} flagged rows")
    spark.stop()


if __name__ == "__main__":
    main()
