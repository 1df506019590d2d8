"""NAB through SQL, as a user runs it: the alerts `detect_anomalies` raises on every NAB file.

    python3 bench/scripts/nab_sql.py [NAB_ROOT] [OUT.csv] [-- extra detect_anomalies arguments]

(after `make build`, from the repo root, with the test venv's Python). Loads the extension in
the Python DuckDB client, reads each CSV with `read_csv`, keeps the `incident_start` rows of
`detect_anomalies(...)` with the default settings (or the extra named arguments given after
`--`, e.g. `method := 'streaming', cooldown := 100`) and writes them as `file,ts` rows. Score
them with the Rust scorer:

    cargo run --release -p kpiscope-bench --bin nab -- NAB_ROOT --alerts OUT.csv

which prints the SQL path's score beside the in-process run of the same settings."""

import csv
import json
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "build/release/kpiscope.duckdb_extension"


def main() -> None:
    args = sys.argv[1:]
    extra = ""
    if "--" in args:
        cut = args.index("--")
        extra = ", " + " ".join(args[cut + 1:])
        args = args[:cut]
    root = Path(args[0] if args else REPO.parent / "shared/data/nab")
    out = Path(args[1] if len(args) > 1 else "nab_sql_alerts.csv")
    names = sorted(json.loads((root / "labels/combined_windows.json").read_text()))
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    started = time.perf_counter()
    alerts = 0
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "ts"])
        for name in names:
            path = str(root / "data" / name).replace("'", "''")
            source = f"(SELECT timestamp::TIMESTAMP AS ts, value FROM read_csv(''{path}''))"
            rows = con.execute(
                f"SELECT strftime(ts, '%Y-%m-%d %H:%M:%S') FROM detect_anomalies('{source}', ts := 'ts', "
                f"value := 'value'{extra}) WHERE incident_start ORDER BY ts"
            ).fetchall()
            writer.writerows([name, ts] for (ts,) in rows)
            alerts += len(rows)
    print(f"{len(names)} files, {alerts} alerts, {time.perf_counter() - started:.1f} s -> {out}")


if __name__ == "__main__":
    main()
