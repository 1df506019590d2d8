"""Generated bad-input campaign against the kpiscope extension, through the real DuckDB CLI.

Every table function the extension registers, with every parameter it declares (read from
`duckdb_functions()` after `LOAD`, so new functions and parameters are covered without
editing this file), is called with values drawn from pools of awkward inputs: NULLs and typed
NULLs, empty strings and lists, NaN and infinities, extreme dates, duplicate timestamps,
one-row and empty tables, unknown columns, wrong types, statement-smuggling strings, views
and subqueries that call kpiscope again (nesting). Calls run in batches, one CLI process per
batch on a fresh copy of a fixture database, with markers around each call so that the
output says what each call did. Every outcome is classified:

- ``result``: the call returned rows;
- ``error``: a clean error (``kpiscope: ...``, or DuckDB's own refusal of a bad argument);
- ``internal``: an internal error (a caught panic, DuckDB's INTERNAL/FATAL errors, raw codes);
- ``crash``: the CLI died (signal, abort) during the call; confirmed by running it alone;
- ``hang``: the call ran past the time limit; confirmed alone;
- ``write``: the batch changed the database (found by bisecting the batch).

Usage (from the repository root, after `make build`)::

    python3 tests/fuzz/kpiscope_fuzz.py --calls 50000 --seed 7

It prints a summary and exits non-zero on any crash, hang, internal error or write.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXTENSION = Path(os.environ.get("KPISCOPE_EXTENSION", REPO / "build/release/kpiscope.duckdb_extension"))
CLI = Path(os.environ.get("KPISCOPE_DUCKDB_CLI", Path.home() / ".cache/kpiscope/venv-duckdb-1.5.6/bin/duckdb"))

# A call may use this much address space: an input that dictates a huge allocation ends the
# CLI (a crash, reported) instead of swapping the machine.
MEMORY_LIMIT = 6 << 30
BATCH = 200
# A batch may take this long per call on average, and one call alone this long.
SECONDS_PER_CALL = 2.0
SECONDS_ALONE = 60.0

FIXTURES = """
CREATE TABLE kpi AS FROM generate_kpi_data(days := 70, anomalies := 2, seed := 3);
CREATE TABLE tiny AS SELECT * FROM kpi LIMIT 1;
CREATE TABLE empty AS SELECT * FROM kpi LIMIT 0;
CREATE TABLE dup AS SELECT * FROM kpi UNION ALL SELECT * FROM kpi WHERE day < DATE '2024-01-20';
CREATE TABLE odd AS SELECT day, channel, CASE WHEN dayofyear(day) % 5 = 0 THEN NULL WHEN dayofyear(day) % 7 = 0 THEN 'nan'::DOUBLE
    WHEN dayofyear(day) % 11 = 0 THEN 'inf'::DOUBLE ELSE revenue END AS revenue, orders, sessions, injected_anomaly
    FROM kpi WHERE region = 'North' AND cohort = 'New';
CREATE TABLE gaps AS SELECT * FROM kpi WHERE dayofyear(day) % 3 <> 0 OR day > DATE '2024-02-20';
CREATE TABLE hourly AS SELECT TIMESTAMP '2024-01-01' + to_hours(i) AS t, (i % 3)::VARCHAR AS g,
    100 + 10 * sin(i / 24.0 * 6.283) + (i * 7919 % 13) AS v, i % 97 = 0 AS lab FROM range(24 * 20) r(i);
CREATE TABLE extreme AS SELECT make_timestamp(-9223372022400000000 + i * 86400000000) AS t, i::DOUBLE AS v FROM range(40) r(i)
    UNION ALL SELECT make_timestamp(9223371244799000000), 1.0;
CREATE TABLE stray AS SELECT TIMESTAMP '2024-01-01' + to_seconds(i) AS t, (i * 31 % 17)::DOUBLE AS v FROM range(300) r(i)
    UNION ALL SELECT TIMESTAMP '2124-01-01', 1.0;
CREATE TABLE infts AS SELECT day, revenue FROM kpi UNION ALL SELECT 'infinity'::DATE, 1.0;
CREATE TABLE allnull AS SELECT day, NULL::DOUBLE AS revenue, channel FROM kpi;
CREATE TABLE huge AS SELECT day, revenue * 1e300 AS revenue, -orders * 1e300 AS orders, sessions FROM kpi;
CREATE TABLE "we""ird" AS SELECT day AS "d a y", revenue AS "rev'", channel AS "ch""an" FROM kpi;
CREATE TABLE one_group_per_row AS SELECT DATE '2024-01-01' + (i % 2)::INT AS day, 'k' || i AS seg,
    i::DOUBLE AS v, i % 3 = 0 AS lab FROM range(3000) r(i);
CREATE TABLE events AS SELECT DATE '2024-02-10' AS day, 'launch' AS name, true AS suppress;
CREATE TABLE bad_events AS SELECT 'infinity'::DATE AS day, NULL AS name;
CREATE TABLE tree AS SELECT * FROM (VALUES ('revenue', NULL, NULL), ('orders', 'revenue', 'sum(orders)'),
    ('aov', 'revenue', 'sum(revenue) / sum(orders)')) t(kpi, parent, expression);
CREATE TABLE cyclic_tree AS SELECT * FROM (VALUES ('a', 'b', 'sum(orders)'), ('b', 'a', 'sum(orders)')) t(kpi, parent, expression);
CREATE TABLE rca_cases AS SELECT * FROM (VALUES (1, 'a=1', 'a=1'), (2, 'a=1;b=2', NULL), (2, NULL, 'x=1&y=2')) t(c, predicted, label);
CREATE TABLE victim AS SELECT 1 AS x;
CREATE SEQUENCE seq;
CREATE VIEW v_det AS SELECT ts AS day, value AS revenue, channel FROM detect_anomalies('kpi', value := 'revenue', group_by := ['channel']);
CREATE VIEW v_fc AS SELECT ts AS day, yhat AS revenue FROM forecast_kpi('v_det', value := 'revenue', horizon := 5);
"""

# Text that reaches SQL: injections, nesting, expressions, garbage.
HOSTILE_TEXT = [
    "", " ", "NULL", "'", '"', ";", "--", "/*", "\\", "\u00e9\u00fc\u4e2d", "x" * 5000,
    "(SELECT 1); DROP TABLE victim; DESCRIBE SELECT * FROM (SELECT * FROM kpi)",
    "kpi; DROP TABLE victim",
    "(SELECT * FROM kpi); INSERT INTO victim VALUES (2); SELECT (1)",
    "sum(revenue)) AS v FROM kpi GROUP BY 1; DROP TABLE victim; SELECT (1",
    "sum(revenue) FROM kpi; INSERT INTO victim VALUES (3); --",
    "nextval('seq')", "sum(nextval('seq'))", "(SELECT count(*) FROM query('DROP TABLE victim'))",
    "(SELECT * FROM v_det)", "(SELECT day, revenue FROM v_fc)",
    "(SELECT ts AS day, value AS revenue FROM detect_anomalies('kpi', value := 'revenue'))",
    "(SELECT * FROM kpi WHERE day > (SELECT max(ts) FROM change_points('kpi', value := 'revenue')))",
    "(SELECT 1 AS x) UNION ALL (SELECT 2)", "(SELECT)", "(", ")", "((((((((((SELECT 1))))))))))",
    "no_such_table", "main.kpi", "memory.main.kpi", "temp.kpi",
]
EXPRESSIONS = [
    "revenue", "orders", "sessions", "v", "sum(orders) / sum(sessions)", "orders / sessions", "count(*)",
    "count(DISTINCT channel)", "avg(revenue)", "sum(revenue) * 1e308", "1 / 0", "sum(revenue) / 0",
    "CAST(NULL AS DOUBLE)", "'text'", "channel", "day", "max(day)", "sum(\"rev'\")", "\"rev'\"", "list(revenue)",
    "injected_anomaly IS NOT NULL", "is_anomaly", "lab", "true", "revenue > 1000", "suppress",
]
COLUMNS = ["day", "t", "ts", "channel", "region", "cohort", "g", "seg", "d a y", "ch\"an", "c", "predicted", "label",
           "revenue", "sessions", "missing_col"]


def sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# Per parameter name: values that usually make sense, tried most of the time; the rest of the
# time a value of the right type from the hostile pools below.
SENSIBLE = {
    "ts": ["day", "t", "d a y"],
    "value": ["revenue", "v", "orders", "sum(orders) / sum(sessions)", "count(*)", "\"rev'\""],
    "metric": ["revenue", "v", "orders", "sessions"],
    "numerator": ["orders", "revenue"],
    "denominator": ["sessions", "orders"],
    "actual": ["revenue", "v"],
    "expected": ["orders", "v"],
    "actual_numerator": ["orders", "v"],
    "actual_denominator": ["sessions", "v"],
    "expected_numerator": ["orders", "revenue"],
    "expected_denominator": ["sessions", "orders"],
    "label": ["injected_anomaly IS NOT NULL", "lab", "revenue > 1000", "label"],
    "flag": ["lab", "revenue > 1000", "injected_anomaly IS NULL"],
    "predicted": ["predicted"],
    "method": ["auto", "ensemble", "streaming", "esd", "forecast_band", "isolation_forest", "seasonal_mad", "holt_winters",
               "level_shift"],
    "sensitivity": ["low", "medium", "high"],
    "direction": ["up", "down", "both"],
    "model": ["auto", "ets", "mstl", "seasonal_naive"],
    "baseline": ["previous_7d", "same_weekday_4w"],
    "baseline:DATE": ["DATE '2024-02-08'", "DATE '2024-02-14'"],
    "events": ["events", "(SELECT DATE '2024-02-01' AS d, 'x' AS name)"],
    "tree": ["tree", "(SELECT 'revenue' AS kpi, NULL AS parent, 'sum(revenue)' AS expression)"],
    "group_by": [["channel"], ["region", "cohort"], ["g"], ["seg"], ["c"], []],
    "dimensions": [["channel"], ["channel", "region"], ["channel", "region", "cohort"], ["seg"], ["g"]],
    "levers": ["MAP {'sessions': 0.05}", "MAP {'conversion_rate': -0.1, 'aov': 0.02}", "MAP {'orders': 0.1}"],
    "horizon": ["1", "7", "30", "366"], "period": ["1", "7", "24"], "level": ["0.8", "0.9", "0.95"],
    "folds": ["1", "3", "5"], "days": ["7", "28", "60"], "top": ["1", "3"], "max_depth": ["1", "2", "3", "4"],
    "cooldown": ["0", "3", "100"], "min_history": ["0", "10"], "min_delta": ["0", "10.5"], "min_pct": ["0", "0.05"],
    "anomalies": ["0", "1", "2"], "seed": ["1", "42"],
    "test": ["DATE '2024-02-15'", "DATE '2024-03-01'"], "baseline_start": ["DATE '2024-02-01'"],
    "baseline_end": ["DATE '2024-02-07'"], "start": ["DATE '2024-01-01'"],
    "as_of": ["TIMESTAMP '2024-02-15 00:00:00'", "TIMESTAMP '2024-01-10 05:00:00'"],
}


def literal(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(sql_text(v) for v in value) + "]" + ("" if value else "::VARCHAR[]")
    return value


def values_for(rng: random.Random, name: str, sql_type: str, profile: dict) -> str:
    """One SQL literal for a parameter of this name and declared type, often one that fits the
    source described by `profile`."""
    roll = rng.random()
    if roll < 0.03:
        return "NULL"
    if roll < 0.05:
        return f"NULL::{sql_type.strip(chr(39))}"
    if rng.random() < 0.75:
        fitting = sensible(rng, name, sql_type, profile)
        if fitting:
            return fitting
        options = SENSIBLE.get(f"{name}:{sql_type}") or (SENSIBLE.get(name) if name != "baseline" or sql_type == "VARCHAR" else None)
        if options:
            choice = rng.choice(options)
            return sql_text(choice) if sql_type == "VARCHAR" and isinstance(choice, str) else literal(choice)
    if sql_type == "VARCHAR":
        pool = EXPRESSIONS + COLUMNS if rng.random() < 0.5 else HOSTILE_TEXT
        return sql_text(rng.choice(pool))
    if sql_type == "BIGINT":
        return rng.choice(["0", "1", "-1", "2", "3", "7", "14", "24", "30", "100", "366", "367", "1000", "1001",
                           "3660", "100000", "9223372036854775807", "-9223372036854775808", "'7'", "'many'", "1.5",
                           "1e30"])
    if sql_type == "DOUBLE":
        return rng.choice(["0", "0.5", "0.9", "-0.1", "1", "100", "1e308", "'nan'::DOUBLE", "'inf'::DOUBLE",
                           "'-inf'::DOUBLE", "-0.0", "'abc'"])
    if sql_type == "DATE":
        return rng.choice(["DATE '2024-02-15'", "DATE '2024-01-01'", "DATE '2024-03-10'", "DATE '0001-01-01'",
                           "DATE '9999-12-31'", "'infinity'::DATE", "'-infinity'::DATE", "DATE '2024-02-29'",
                           "'not a date'", "DATE '5000000-01-01'"])
    if sql_type == "TIMESTAMP":
        return rng.choice(["TIMESTAMP '2024-02-15 00:00:00'", "TIMESTAMP '2024-01-05 12:00:00'", "'infinity'::TIMESTAMP",
                           "TIMESTAMP '0001-01-01'", "TIMESTAMP '294246-12-31'", "DATE '2024-02-01'", "'x'"])
    if "[]" in sql_type:
        names = [rng.choice(COLUMNS + ["channel", "region", "cohort"]) for _ in range(rng.choice([0, 1, 2, 3, 9]))]
        rendered = [sql_text(n) for n in names] + ([rng.choice(["NULL", "''"])] if rng.random() < 0.2 else [])
        return "[" + ", ".join(rendered) + "]" + ("" if rendered else "::VARCHAR[]")
    if "MAP" in sql_type:
        return rng.choice(["MAP {}", "MAP {'sessions, x': 0.1}", "MAP {'it''s': 1}", "MAP {'sessions': 'nan'::DOUBLE}",
                           "MAP {'sessions': NULL::DOUBLE}", "MAP {'nope': 1.0}", "MAP {'orders': -1}",
                           "MAP {'sessions': 1e308}"])
    return "NULL"


KPI = {"ts": ["day"], "value": ["revenue", "orders", "sum(orders) / sum(sessions)", "count(*)"],
       "dims": ["channel", "region", "cohort"], "label": ["injected_anomaly IS NOT NULL", "revenue > 100000"]}
# Each fixture with the columns that fit its parameters, so that most calls get past the
# first checks and reach the analyses.
SOURCES = {
    "kpi": KPI, "tiny": KPI, "empty": KPI, "dup": KPI, "gaps": KPI,
    "odd": {"ts": ["day"], "value": ["revenue", "sum(orders) / sum(sessions)"], "dims": ["channel"],
            "label": ["injected_anomaly IS NOT NULL"]},
    "hourly": {"ts": ["t"], "value": ["v"], "dims": ["g"], "label": ["lab"]},
    "extreme": {"ts": ["t"], "value": ["v"], "dims": [], "label": ["v > 3"]},
    "stray": {"ts": ["t"], "value": ["v"], "dims": [], "label": ["v > 3"]},
    "infts": {"ts": ["day"], "value": ["revenue"], "dims": [], "label": ["revenue > 1"]},
    "allnull": {"ts": ["day"], "value": ["revenue"], "dims": ["channel"], "label": ["revenue IS NULL"]},
    "huge": {"ts": ["day"], "value": ["revenue", "orders", "sum(orders) / sum(sessions)"], "dims": [],
             "label": ["orders < 0"]},
    'we"ird': {"ts": ["d a y"], "value": ["rev'", 'sum("rev\'")'], "dims": ['ch"an'], "label": ['"rev\'" > 1']},
    "(SELECT * FROM \"we\"\"ird\")": {"ts": ["d a y"], "value": ["rev'"], "dims": ['ch"an'], "label": ["true"]},
    "one_group_per_row": {"ts": ["day"], "value": ["v"], "dims": ["seg"], "label": ["lab"]},
    "v_det": {"ts": ["day"], "value": ["revenue"], "dims": ["channel"], "label": ["revenue > 1000000"]},
    "v_fc": {"ts": ["day"], "value": ["revenue"], "dims": [], "label": ["revenue > 1000000"]},
    "rca_cases": {"ts": [], "value": [], "dims": ["c"], "label": ["label"]},
}


def sensible(rng: random.Random, name: str, sql_type: str, profile: dict) -> str | None:
    """A value that fits the source for a parameter that names its columns, else None."""
    columns = {"ts": "ts", "value": "value", "metric": "value", "numerator": "value", "denominator": "value",
               "actual": "value", "expected": "value", "label": "label", "flag": "label"}
    if name in columns and sql_type == "VARCHAR" and profile[columns[name]]:
        return sql_text(rng.choice(profile[columns[name]]))
    if name in ("group_by", "dimensions") and "[]" in sql_type and profile["dims"]:
        dims = profile["dims"]
        return literal(rng.sample(dims, rng.randint(1, len(dims))))
    return None


@dataclasses.dataclass
class Function:
    name: str
    positional: list  # types
    named: list  # (name, type)


def discover() -> list[Function]:
    """The extension's table functions and their parameters, read from DuckDB's catalogue."""
    query = ("SELECT function_name, parameters, parameter_types FROM duckdb_functions() "
             "WHERE function_type = 'table' ORDER BY 1")
    before = {r["function_name"] for r in run_json(query, load=False)}
    functions = []
    for row in run_json(query, load=True):
        if row["function_name"] in before:
            continue
        positional, named = [], []
        for name, sql_type in zip(row["parameters"], row["parameter_types"]):
            if name.startswith("col") and name[3:].isdigit():
                positional.append(sql_type)
            else:
                named.append((name, sql_type))
        functions.append(Function(row["function_name"], positional, named))
    assert functions, "the extension registered no table functions"
    return functions


def run_json(query: str, load: bool) -> list[dict]:
    prefix = f"LOAD {sql_text(str(EXTENSION))};\n" if load else ""
    out = subprocess.run([str(CLI), "-unsigned", "-json"], input=prefix + query + ";\n", capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout or "[]")


def generate(functions: list[Function], seed: int, count: int) -> list[str]:
    """`count` table-function calls, the same for the same seed."""
    rng = random.Random(seed)
    calls = []
    for _ in range(count):
        f = rng.choice(functions)
        source = rng.choice(list(SOURCES))
        profile = SOURCES[source]
        args = []
        for _ in f.positional:
            roll = rng.random()
            if roll < 0.05:
                args.append(rng.choice(["NULL", "NULL::VARCHAR", "42", "['kpi']"]))
            elif roll < 0.15:
                args.append(sql_text(rng.choice(HOSTILE_TEXT)))
            else:
                args.append(sql_text(source))
        chosen = [p for p in f.named if rng.random() < 0.3]
        # The usual required parameters, most of the time, so calls get past the first check.
        for name, sql_type in f.named:
            if name in {"value", "dimensions", "label", "levers", "test"} and rng.random() < 0.85 and (name, sql_type) not in chosen:
                chosen.append((name, sql_type))
        rng.shuffle(chosen)
        args += [f"{name} := {values_for(rng, name, sql_type, profile)}" for name, sql_type in chosen]
        calls.append(f"{f.name}({', '.join(args)})")
    return calls


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@dataclasses.dataclass
class Outcome:
    kind: str
    call: str
    detail: str = ""


INTERNAL_MARKERS = ("internal error", "INTERNAL Error", "FATAL Error", "panicked", "Unknown error code",
                    "database has been invalidated", "Invalid column type")


def classify_text(text: str) -> tuple[str, str]:
    """The outcome of one call from the CLI output between its markers."""
    if any(line.startswith("kpz-ok,") for line in text.splitlines()):
        return "result", ""
    lines = [line for line in text.splitlines() if line.strip()]
    message = next((line for line in lines if "Error" in line), " ".join(lines))
    if any(marker in text for marker in INTERNAL_MARKERS):
        return "internal", message
    return "error", message


def fingerprint_sql() -> str:
    return ("SELECT 'kpz-fp', (SELECT string_agg(table_name || ':' || estimated_size, ',' ORDER BY table_name) FROM duckdb_tables()), "
            "(SELECT string_agg(view_name, ',' ORDER BY view_name) FROM duckdb_views() WHERE NOT internal), "
            "(SELECT count(*) FROM victim), (SELECT sum(hash(x)) FROM victim), "
            "(SELECT string_agg(sequence_name || ':' || coalesce(last_value, -1), ',') FROM duckdb_sequences());")


def run_batch(fixture: Path, calls: list[str], timeout: float) -> tuple[dict, bool, str | None, int | None]:
    """Runs calls in one CLI process on a copy of the fixture database. Returns per-call outcome
    texts (index -> text), whether it finished, the final fingerprint, and the exit code."""
    with tempfile.TemporaryDirectory(prefix="kpz-") as scratch:
        db = Path(scratch) / "fuzz.duckdb"
        shutil.copy(fixture, db)
        script = [f"LOAD {sql_text(str(EXTENSION))};"]
        for i, call in enumerate(calls):
            script.append(f"SELECT 'kpz-begin {i}';")
            script.append(f"SELECT 'kpz-ok', count(*) FROM {call};")
        script.append("SELECT 'kpz-end';")
        script.append(fingerprint_sql())
        log = Path(scratch) / "out.txt"
        with open(log, "w") as out:
            try:
                proc = subprocess.run([str(CLI), "-unsigned", "-csv", "-noheader", str(db)], input="\n".join(script),
                                      stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                                      preexec_fn=limit_memory)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = None
        text = log.read_text(errors="replace")
    pieces = {}
    current = None
    fingerprint = None
    finished = False
    for line in text.splitlines(keepends=True):
        if line.startswith("kpz-begin "):
            current = int(line.split()[1])
            pieces[current] = ""
        elif line.startswith("kpz-end"):
            current, finished = None, True
        elif line.startswith("kpz-fp"):
            fingerprint = line.strip()
        elif current is not None:
            pieces[current] += line
    return pieces, finished and code in (0, 1), fingerprint, code


class Campaign:
    def __init__(self, fixture: Path, baseline: str):
        self.fixture = fixture
        self.baseline = baseline
        self.outcomes: list[Outcome] = []

    def run(self, calls: list[str]) -> None:
        pieces, finished, fingerprint, code = run_batch(self.fixture, calls, SECONDS_PER_CALL * len(calls) + 30)
        done = [i for i in range(len(calls)) if i in pieces]
        last = max(done) if done else -1
        complete = finished and all(i in pieces for i in range(len(calls)))
        for i in range(len(calls)):
            if i in pieces and (complete or i < last):
                kind, detail = classify_text(pieces[i])
                self.outcomes.append(Outcome(kind, calls[i], detail))
        if not complete:
            # The process died or timed out during call `last` (or before the first one).
            culprit = max(last, 0)
            self.outcomes.append(self.alone(calls[culprit], code))
            rest = calls[culprit + 1:]
            if rest:
                self.run(rest)
            return
        if fingerprint != self.baseline:
            self.bisect_write(calls)

    def alone(self, call: str, code: int | None) -> Outcome:
        """The call a batch died or hung in (`code` None: it hung), run again on its own."""
        pieces, finished, _, alone_code = run_batch(self.fixture, [call], SECONDS_ALONE)
        if alone_code is None:
            return Outcome("hang", call, f"still running after {SECONDS_ALONE:.0f} s alone")
        if not finished:
            return Outcome("crash", call, f"exit {alone_code}: {pieces.get(0, '').strip()[-300:]}")
        # It passes alone, so an earlier call of its batch set it up; the batch still failed.
        kind, detail = classify_text(pieces.get(0, ""))
        what = "hang" if code is None else "crash"
        return Outcome(what, call, f"only in its batch (exit {code}); alone: {kind} {detail}")

    def bisect_write(self, calls: list[str]) -> None:
        if len(calls) == 1:
            self.outcomes = [o for o in self.outcomes if o.call != calls[0]]
            self.outcomes.append(Outcome("write", calls[0], "changed the database"))
            return
        for half in (calls[: len(calls) // 2], calls[len(calls) // 2:]):
            _, _, fingerprint, _ = run_batch(self.fixture, half, SECONDS_PER_CALL * len(half) + 30)
            if fingerprint != self.baseline:
                self.bisect_write(half)


def prepare(directory: Path) -> tuple[Path, str]:
    fixture = directory / "fixture.duckdb"
    script = f"LOAD {sql_text(str(EXTENSION))};\n{FIXTURES}\nCHECKPOINT;\n"
    subprocess.run([str(CLI), "-unsigned", "-bail", str(fixture)], input=script, check=True, capture_output=True,
                   text=True, timeout=SECONDS_ALONE)
    _, _, fingerprint, _ = run_batch(fixture, [], 60)
    assert fingerprint, "the fixture database has no fingerprint"
    return fixture, fingerprint


def campaign(calls: int, seed: int, workers: int = 2) -> tuple[collections.Counter, list[Outcome], float]:
    assert EXTENSION.is_file(), f"extension not built at {EXTENSION}: run `make build`"
    assert CLI.is_file(), f"DuckDB CLI not found at {CLI}: run `make test`, which installs it"
    started = time.time()
    functions = discover()
    generated = generate(functions, seed, calls)
    with tempfile.TemporaryDirectory(prefix="kpz-fixture-") as directory:
        fixture, baseline = prepare(Path(directory))
        batches = [generated[i:i + BATCH] for i in range(0, len(generated), BATCH)]
        campaigns = [Campaign(fixture, baseline) for _ in batches]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda pair: pair[0].run(pair[1]), zip(campaigns, batches)))
    outcomes = [o for c in campaigns for o in c.outcomes]
    return collections.Counter(o.kind for o in outcomes), outcomes, time.time() - started


FAILURES = ("crash", "hang", "internal", "write")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    counts, outcomes, seconds = campaign(args.calls, args.seed, args.workers)
    print(f"kpiscope fuzz: {sum(counts.values())} calls, seed {args.seed}, {seconds:.0f} s")
    for kind in ("result", "error") + FAILURES:
        print(f"  {kind:9} {counts.get(kind, 0)}")
    for outcome in outcomes:
        if outcome.kind in FAILURES:
            print(f"{outcome.kind.upper()}: {outcome.call}\n    {outcome.detail}")
    return 1 if any(counts.get(k) for k in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
