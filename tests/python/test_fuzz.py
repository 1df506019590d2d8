"""Never crash, hang or write: generated bad input through the real DuckDB CLI.

The campaign itself lives in tests/fuzz/kpiscope_fuzz.py (also a command for longer runs);
these tests run it at CI size and enumerate the NULL-like value of every parameter."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
import kpiscope_fuzz as fuzz  # noqa: E402

# An otherwise valid call per function on the fixture table `kpi`, so that the parameter under
# test is the one that decides the outcome.
BASE = {
    "generate_kpi_data": {},
    "generate_kpi_anomalies": {},
    "detect_anomalies": {"value": "'revenue'"},
    "evaluate_detection": {"flag": "'revenue > 1000000'", "label": "'injected_anomaly IS NOT NULL'"},
    "compare_detectors": {"value": "'revenue'", "label": "'injected_anomaly IS NOT NULL'"},
    "rca_contributions": {"dimensions": "['channel']", "ts": "'day'", "metric": "'revenue'", "test": "DATE '2024-03-01'"},
    "rca_anomalies": {"dimensions": "['channel']", "ts": "'day'", "metric": "'revenue'"},
    "evaluate_rca": {},
    "forecast_kpi": {"value": "'revenue'", "horizon": "3"},
    "change_points": {"value": "'revenue'"},
    "detect_seasonality": {"value": "'revenue'"},
    "compare_models": {"value": "'revenue'", "horizon": "3"},
    "what_if": {"levers": "MAP {'sessions': 0.1}"},
    "decompose_change": {"test": "DATE '2024-03-01'"},
    "rca_tree": {"dimensions": "['channel']", "label": "'injected_anomaly IS NOT NULL'"},
    "rca_tree_importance": {"dimensions": "['channel']", "label": "'injected_anomaly IS NOT NULL'"},
}
SOURCE = {"evaluate_rca": "'rca_cases'"}


def null_like(sql_type: str) -> list[str]:
    values = ["NULL", f"NULL::{sql_type.strip(chr(39))}"]
    if sql_type == "VARCHAR":
        values.append("''")
    if "[]" in sql_type:
        values.append("[]::VARCHAR[]")
    return values


def test_every_parameter_of_every_function_takes_null_typed_null_empty_text_and_empty_list():
    functions = fuzz.discover()
    assert {f.name for f in functions} == set(BASE), "every function needs a base call in BASE"
    calls, nulls = [], []
    for f in functions:
        base = dict(BASE[f.name])
        source = [SOURCE.get(f.name, "'kpi'")] if f.positional else []
        for value in null_like("VARCHAR") if f.positional else []:
            args = [value] + [f"{k} := {v}" for k, v in base.items()]
            calls.append(f"{f.name}({', '.join(args)})")
            nulls.append(("source", value))
        for name, sql_type in f.named:
            for value in null_like(sql_type):
                named = {**base, name: value}
                args = source + [f"{k} := {v}" for k, v in named.items()]
                calls.append(f"{f.name}({', '.join(args)})")
                nulls.append((name, value))
    assert len(calls) > 250, len(calls)
    with tempfile.TemporaryDirectory() as directory:
        fixture, baseline = fuzz.prepare(Path(directory))
        campaign = fuzz.Campaign(fixture, baseline)
        campaign.run(calls)
    outcomes = {o.call: o for o in campaign.outcomes}
    assert len(outcomes) == len(set(calls)), "every call has an outcome"
    bad = [o for o in campaign.outcomes if o.kind in fuzz.FAILURES]
    assert not bad, "\n".join(f"{o.kind}: {o.call}: {o.detail}" for o in bad)
    # A NULL is refused by name, whatever its type: never read as a value.
    for call, (name, value) in zip(calls, nulls):
        if value.startswith("NULL"):
            outcome = outcomes[call]
            assert outcome.kind == "error" and f"kpiscope: {name} must not be NULL" in outcome.detail, (call, outcome)


def test_generated_campaign_has_no_crash_hang_internal_error_or_write():
    counts, outcomes, seconds = fuzz.campaign(calls=10_000, seed=13)
    summary = ", ".join(f"{k} {counts.get(k, 0)}" for k in ("result", "error") + fuzz.FAILURES)
    print(f"fuzz: 10,000 calls in {seconds:.0f} s: {summary}")
    failures = [o for o in outcomes if o.kind in fuzz.FAILURES]
    assert not failures, summary + "\n" + "\n".join(f"{o.kind}: {o.call}\n  {o.detail}" for o in failures[:20])
    assert sum(counts.values()) == 10_000
    # The campaign reaches the analyses, not only the argument checks.
    assert counts["result"] > 1_000, summary
