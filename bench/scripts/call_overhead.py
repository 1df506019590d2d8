"""What one SQL call costs around the work it does: back to back, after the machine idled, and
after other work ran.

    python3 bench/scripts/call_overhead.py [--series 30] [--pause 0.2] [--m4-root DIR]

Run it with the test venv's python (~/.cache/kpiscope/venv-duckdb-1.5.6) after `make build`.
The first `--series` (50) M4 Hourly training series go into one table of an in-memory database
(not timed). Each query below is then run once per series, first back to back, then with a
`--pause` second sleep before each call (as in `peers.py`, where a peer's call sits between
two of ours), then with as long a busy loop instead of the sleep (the same slowdown as the
sleep means the caches went cold, not the cores idle), and the median milliseconds (every row
fetched) are printed:

- a plain read of one series, ordered (no extension involved): the floor any call pays;
- `forecast_kpi(..., model := 'seasonal_naive')`: the extension's reads and rows, no fitting;
- `forecast_kpi(...)` with its default `auto`;
- `detect_anomalies(...)` with its defaults.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = os.environ.get("KPISCOPE_EXTENSION", str(ROOT / "build/release/kpiscope.duckdb_extension"))
SOURCE = "'(SELECT ts, value FROM hourly WHERE id = {k})', ts := 'ts', value := 'value'"
QUERIES = {
    "plain read, ordered": "SELECT ts, value FROM hourly WHERE id = {k} ORDER BY ts",
    "forecast_kpi seasonal_naive": f"SELECT yhat FROM forecast_kpi({SOURCE}, horizon := 48, model := 'seasonal_naive')",
    "forecast_kpi auto": f"SELECT yhat FROM forecast_kpi({SOURCE}, horizon := 48)",
    "detect_anomalies": f"SELECT is_anomaly FROM detect_anomalies({SOURCE})",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds of sleep before each call")
    parser.add_argument("--m4-root", type=Path, default=ROOT.parent / "shared/data/m4")
    args = parser.parse_args()
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    with open(args.m4_root / "Hourly-train.csv", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        series = [[float(v) for v in row[1:] if v != ""] for _, row in zip(range(args.series), rows)]
    con.execute("CREATE TABLE hourly (id INTEGER, ts TIMESTAMP, value DOUBLE)")
    con.executemany(
        "INSERT INTO hourly VALUES (?, TIMESTAMP '2020-01-01' + to_hours(CAST(? AS BIGINT)), ?)",
        [(k, i, v) for k, y in enumerate(series) for i, v in enumerate(y)],
    )
    print(f"{len(series)} M4 Hourly series; median ms per call, every row fetched")
    print(f"{'query':32} {'back to back':>13} {f'after {args.pause} s idle':>18} {f'after {args.pause} s busy':>18}")
    for name, query in QUERIES.items():
        con.execute(query.format(k=0)).fetchall()  # not timed: first call
        medians = []
        for between in (lambda: None, lambda: time.sleep(args.pause), lambda: busy(args.pause)):
            millis = []
            for k in range(len(series)):
                between()
                started = time.perf_counter()
                con.execute(query.format(k=k)).fetchall()
                millis.append(1000 * (time.perf_counter() - started))
            medians.append(statistics.median(millis))
        print(f"{name:32} {medians[0]:13.2f} {medians[1]:18.2f} {medians[2]:18.2f}")


def busy(seconds: float) -> None:
    """Keeps this core working (in Python's interpreter, not DuckDB) for `seconds`."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


if __name__ == "__main__":
    main()
