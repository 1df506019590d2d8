"""RCA on the Squeeze B0 cases through SQL, as a user calls it.

    python3 bench/scripts/rca_b0_sql.py [B0_ROOT]   (default ../shared/data/rca/B0)

Run it with the test venv's python (~/.cache/kpiscope/venv-duckdb-1.5.6) after `make build`.
Each case is loaded into a table of an in-memory database first (not timed); then
`rca_contributions(case, expected := 'predict', actual := 'real', ...)` is timed with every
row fetched, as Python tuples (`fetchall`) and as Arrow (`arrow`), three times per case
interleaved across cases, and the root causes it marks are scored the Squeeze/RiskLoc way by
`evaluate_rca`. Prints micro-F1 and the median, p90 and mean milliseconds per case.
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = os.environ.get("KPISCOPE_EXTENSION", str(ROOT / "build/release/kpiscope.duckdb_extension"))
REPEATS = 3


def main() -> None:
    b0 = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT.parent / "shared/data/rca/B0")
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    cases = []  # (table, dimensions, label)
    for setting in sorted(p for p in b0.iterdir() if p.is_dir()):
        with open(setting / "injection_info.csv", newline="") as f:
            labels = {row["timestamp"]: row["set"] for row in csv.DictReader(f)}
        for path in sorted(setting.glob("*.csv")):
            if path.name == "injection_info.csv":
                continue
            table = f"case_{len(cases)}"
            con.execute(f"CREATE TABLE {table} AS FROM read_csv('{path}', all_varchar = true)")
            con.execute(f"ALTER TABLE {table} ALTER real TYPE DOUBLE; ALTER TABLE {table} ALTER predict TYPE DOUBLE")
            columns = [c for (c,) in con.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()]
            cases.append((table, [c for c in columns if c not in ("real", "predict")], labels[path.stem]))
    fetches = {"fetchall": lambda result: result.fetchall(), "arrow": lambda result: result.arrow()}
    millis = {name: [[] for _ in cases] for name in fetches}
    predicted = [""] * len(cases)
    for _ in range(REPEATS):
        for i, (table, dimensions, _) in enumerate(cases):
            sql = (f"SELECT * FROM rca_contributions('{table}', expected := 'predict', actual := 'real', "
                   f"dimensions := {dimensions!r})")
            for name, fetch in fetches.items():
                started = time.perf_counter()
                rows = fetch(con.execute(sql))
                millis[name][i].append(1000 * (time.perf_counter() - started))
                if name == "fetchall":
                    names = [d[0] for d in con.description]
                    segment, root = names.index("segment"), names.index("is_root_cause")
                    predicted[i] = ";".join(r[segment] for r in rows if r[root])
    con.execute("CREATE TABLE scored (predicted VARCHAR, label VARCHAR)")
    con.executemany("INSERT INTO scored VALUES (?, ?)", [(p, c[2]) for p, c in zip(predicted, cases)])
    tp, fp, fn, f1 = con.execute(
        "SELECT tp, fp, fn, f1 FROM evaluate_rca('scored', predicted := 'predicted', label := 'label')").fetchone()
    print(f"{len(cases)} cases, micro-F1 {f1:.3f} (TP {tp}, FP {fp}, FN {fn})")
    for name in fetches:
        per_case = sorted(statistics.median(m) for m in millis[name])
        print(f"rca_contributions via SQL, rows by {name}, ms per case (median of {REPEATS} runs each): "
              f"median {statistics.median(per_case):.1f}, p90 {per_case[int(0.9 * (len(per_case) - 1))]:.1f}, "
              f"mean {statistics.fmean(per_case):.1f}")


if __name__ == "__main__":
    main()
