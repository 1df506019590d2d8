"""Detection throughput on many series: Spark local[N] through kpiscope.spark against the same
work in DuckDB (the table function, and the in-query `kpiscope_detect` over `GROUP BY`) and in
the Python package, in one run (each path in a process of its own).

    python3 bench/scripts/spark_throughput.py [SERIES ...] [--days 730] [--cores 2]

(after `make test`, which builds the extension and installs the package and pyspark into
~/.cache/kpiscope/venv-duckdb-1.5.6; run it with that venv's python). Each size is a Parquet
file of SERIES daily series x DAYS days (seasonal, noisy, a few spikes); every path reads that
file, scores every series with the default detector and counts the flagged rows, which must
agree. Prints seconds, series per second and the peak RSS of each path's process (for Spark the
driver's Python process; the JVM and its workers are not counted)."""

import argparse
import os
import subprocess
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


def run_path(which: str, path: Path, cores: int) -> tuple[float, int, int]:
    """One path over the file in this process: (seconds, flagged rows, peak RSS in MiB)."""
    started = time.perf_counter()
    if which == "sql":
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        con.execute(f"LOAD '{EXTENSION}'")
        flagged = con.execute(
            f"SELECT count(*) FILTER (WHERE is_anomaly) FROM detect_anomalies('(FROM read_parquet(''{path}''))', "
            "ts := 'day', value := 'value', group_by := ['series'])").fetchone()[0]
    elif which == "inquery":
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        con.execute(f"LOAD '{EXTENSION}'")
        flagged = con.execute(
            "SELECT sum(len(list_filter(d, x -> x.is_anomaly))) FROM (SELECT kpiscope_detect(list(day), list(value)) "
            f"AS d FROM read_parquet('{path}') GROUP BY series)").fetchone()[0]
    elif which == "python":
        flagged = int(kpiscope.detect_anomalies(pq.read_table(path), ts="day", value="value", group_by=["series"])
                      .column("is_anomaly").to_numpy(zero_copy_only=False).sum())
    else:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        spark = (SparkSession.builder.master(f"local[{cores}]").config("spark.ui.enabled", "false")
                 .config("spark.sql.shuffle.partitions", str(cores)).config("spark.driver.memory", "8g")
                 .getOrCreate())
        started = time.perf_counter()  # the session's start-up is not the work
        flagged = kpiscope.spark.detect_anomalies(spark.read.parquet(str(path)), ts="day", value="value",
                                                  group_by=["series"]).filter("is_anomaly").count()
        spark.stop()
    seconds = time.perf_counter() - started
    return seconds, flagged, peak_rss_mib()


def peak_rss_mib() -> int:
    """This process's peak RSS since it started. Not `ru_maxrss`: Linux carries that across
    exec, so every path would report at least the parent's size when it was spawned."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("series", nargs="*", type=int, default=[20_000])
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--path", help=argparse.SUPPRESS)  # internal: one path on one file
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.path:
        print(*run_path(args.path, Path(args.file), args.cores))
        return
    print(f"{args.days} days per series, {args.cores} cores; seconds (series per second), peak RSS of the process")
    with tempfile.TemporaryDirectory() as scratch:
        for series in args.series:
            path = Path(scratch) / f"s{series}.parquet"
            write_series(path, series, args.days)
            results = {}
            # Each path in a process of its own, so one path's memory neither helps nor starves
            # another's and the peak RSS is that path's alone (Spark's JVM is not counted).
            for which in ("sql", "inquery", "python", "spark"):
                out = subprocess.run([sys.executable, __file__, "--path", which, "--file", str(path),
                                      "--cores", str(args.cores)], capture_output=True, text=True)
                if out.returncode != 0:
                    results[which] = f"failed (exit {out.returncode}){out.stderr.strip()[-300:]}"
                    continue
                seconds, flagged, rss = out.stdout.split()[-3:]
                results[which] = (float(seconds), int(flagged), int(rss))
            flagged = {r[1] for r in results.values() if isinstance(r, tuple)}
            assert len(flagged) <= 1, results

            def show(r) -> str:
                if isinstance(r, str):
                    return r
                return f"{r[0]:6.1f} s ({series / r[0]:5.0f}/s, {r[2]:,} MiB)"

            print(f"{series:>7} series: DuckDB SQL {show(results['sql'])}, in-query {show(results['inquery'])}, "
                  f"Python package {show(results['python'])}, "
                  f"Spark local[{args.cores}] {show(results['spark'])}; {flagged.pop() if flagged else '?'} flagged rows")


if __name__ == "__main__":
    main()
