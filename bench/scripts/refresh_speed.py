"""Full against incremental refresh after one new day: 730 days x 16 segments of the demo.

    python3 bench/scripts/refresh_speed.py [DAYS]      (after `make build`, from the repo root)

Builds the demo with DAYS + 1 days, takes the last day out, refreshes, puts it back, then
times `kpiscope refresh --incremental` against a full `kpiscope refresh` of the same data
(median of 3 each) and checks that every analysis table is the same."""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
KPISCOPE = REPO / "build/release/kpiscope"
TABLES = ["kpi_facts", "kpi_leaves", "kpi_member_series", "kpi_anomalies", "kpi_segment_anomalies", "kpi_rca",
          "kpi_rca_tree", "kpi_rca_tree_importance", "kpi_forecast", "kpi_model_comparison", "kpi_detector_comparison",
          "kpi_change_points", "kpi_what_if", "kpi_actions", "kpi_incidents"]


def timed(*args) -> float:
    started = time.perf_counter()
    subprocess.run([str(a) for a in args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 730
    with tempfile.TemporaryDirectory() as scratch:
        full, base = Path(scratch) / "full.duckdb", Path(scratch) / "base.duckdb"
        subprocess.run([str(KPISCOPE), "demo", "--db", str(full), "--days", str(days + 1)], check=True, capture_output=True)
        shutil.copy(full, base)
        con = duckdb.connect(str(base))
        con.execute("CREATE TABLE new_day AS FROM kpi_daily WHERE day = (SELECT max(day) FROM kpi_daily)")
        con.execute("DELETE FROM kpi_daily WHERE day = (SELECT max(day) FROM kpi_daily)")
        con.close()
        subprocess.run([str(KPISCOPE), "refresh", "--db", str(base)], check=True, capture_output=True)
        con = duckdb.connect(str(base))
        con.execute("INSERT INTO kpi_daily FROM new_day")
        con.close()
        incremental, full_times = [], []
        for run in range(3):
            copy = Path(scratch) / f"inc{run}.duckdb"
            shutil.copy(base, copy)
            incremental.append(timed(KPISCOPE, "refresh", "--db", copy, "--incremental"))
            full_times.append(timed(KPISCOPE, "refresh", "--db", full))
        con = duckdb.connect(str(Path(scratch) / "inc0.duckdb"))
        con.execute(f"ATTACH '{full}' AS f (READ_ONLY)")
        different = [t for t in TABLES if con.execute(
            f"SELECT (SELECT count(*) FROM (FROM main.{t} EXCEPT ALL FROM f.main.{t})) + "
            f"(SELECT count(*) FROM (FROM f.main.{t} EXCEPT ALL FROM main.{t}))").fetchone()[0]]
        f, i = statistics.median(full_times), statistics.median(incremental)
        print(f"{days} days x 16 segments, one new day: full {f:.2f} s, incremental {i:.2f} s ({f / i:.1f}x); "
              f"tables that differ: {different or 'none'}")


if __name__ == "__main__":
    main()
