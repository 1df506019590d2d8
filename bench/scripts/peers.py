"""kpiscope through SQL against the peers, side by side in one run, on the same data.

    python3 -m venv ~/.cache/kpiscope/venv-peers
    ~/.cache/kpiscope/venv-peers/bin/pip install -r bench/requirements-peers.txt
    ~/.cache/kpiscope/venv-peers/bin/python bench/scripts/peers.py [--seeds 20] [--m4 100] [--b0 90] [--m4-root DIR]

Needs `make build` (the extension) and the benchmark data in ../shared/data. Not part of
`make test`: the peers (Prophet, statsforecast, scikit-learn) are large and slow, and the
figures are measurements, not assertions. Each series is given to every method in turn
(interleaved, so a slow minute of the machine hits all of them), one call per series, timed
around the whole call as a user makes it; the tables report the median milliseconds per
series and the quality on the same series. A user with many series calls kpiscope once with
`group_by`; that call's time divided by the series is reported too (groups run in parallel).

- Detection: `generate_kpi_data(days := 730, seed := s)`, revenue summed per day, a day labelled
  when any of its rows carries an injected anomaly. kpiscope: `detect_anomalies` with its
  defaults. The seed app's hybrid: Prophet fitted on the whole series, z-score of its
  residuals and an IsolationForest on (value, residual), the top 10% of days by their mean
  rank flagged. Prophet's own 99% interval (outside it = flagged) shares that fit. Point
  precision, recall and F1 over all days of all seeds.
- Forecasting: the first `--m4` M4 Hourly series (h = 48, MASE scaled by the in-sample
  seasonal difference at m = 24, the M4 convention). kpiscope: `forecast_kpi(..., horizon := 48)`
  with its default `auto`; statsforecast AutoETS (season 24), AutoARIMA (season 24, on the first
  `--arima` series only: 20-65 s each) and MSTL (seasons 24 and 168,
  AutoETS trend); Prophet with daily and weekly seasonality. kpiscope's calls are timed once
  more back to back, with nothing between them (after a peer's call DuckDB's own code is cold
  in the caches and every query is slower: `bench/scripts/call_overhead.py`).
- Root-cause analysis: the first `--b0` Squeeze B0 cases (21,600 leaves each, one to three
  labelled root-cause elements; `--b0-root`). kpiscope: `rca_contributions(case, expected :=
  'predict', actual := 'real', dimensions := [...])`, timed twice per case: the root causes
  only (`WHERE is_root_cause`) and every segment's row (`SELECT *`, fetched as tuples). RiskLoc
  (Kalander, 2022), re-implemented below from the paper with numpy (the authors' reference
  code, pandas, named the same elements on all 90 cases and took 2.5x as long; README): the
  risk of an element is the weighted share of abnormal leaves minus how well a rescaled
  forecast explains it. Both are scored by `evaluate_rca` (micro-F1, an element counts only
  when it equals a labelled one).
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import statistics
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = os.environ.get("KPISCOPE_EXTENSION", str(ROOT / "build/release/kpiscope.duckdb_extension"))


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{EXTENSION}'")
    return con


def timed(work):
    started = time.perf_counter()
    result = work()
    return result, 1000 * (time.perf_counter() - started)


def scores(flags: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    tp = int((flags & labels).sum())
    precision = tp / max(int(flags.sum()), 1)
    recall = tp / max(int(labels.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def quiet_prophet():
    from prophet import Prophet

    for name in ("cmdstanpy", "prophet"):
        logging.getLogger(name).disabled = True
    return Prophet


def detection(con, seeds: int) -> list[tuple]:
    from sklearn.ensemble import IsolationForest

    Prophet = quiet_prophet()
    con.execute("CREATE TABLE daily (seed INTEGER, day DATE, revenue DOUBLE, label BOOLEAN)")
    for seed in range(1, seeds + 1):
        con.execute(f"""INSERT INTO daily SELECT {seed}, day, sum(revenue), bool_or(injected_anomaly IS NOT NULL)
                        FROM generate_kpi_data(days := 730, seed := {seed}) GROUP BY day ORDER BY day""")

    def kpiscope(seed: int) -> np.ndarray:
        rows = con.execute(f"""SELECT is_anomaly FROM detect_anomalies('(SELECT day, revenue FROM daily WHERE seed = {seed})',
                               ts := 'day', value := 'revenue') ORDER BY ts""").fetchall()
        return np.array([bool(r[0]) for r in rows])

    def prophet_fit(frame: pd.DataFrame) -> pd.DataFrame:
        model = Prophet(interval_width=0.99, yearly_seasonality=True, weekly_seasonality=True, daily_seasonality=False)
        model.fit(frame)
        return model.predict(frame)

    def hybrid(frame: pd.DataFrame, fitted: pd.DataFrame) -> np.ndarray:
        y = frame["y"].to_numpy()
        residual = y - fitted["yhat"].to_numpy()
        z = np.abs(residual - residual.mean()) / (residual.std() or 1.0)
        forest = IsolationForest(random_state=0).fit(np.column_stack([y, residual]))
        isolation = -forest.score_samples(np.column_stack([y, residual]))
        rank = (pd.Series(z).rank(pct=True) + pd.Series(isolation).rank(pct=True)).to_numpy() / 2
        return rank >= np.quantile(rank, 0.9)

    methods = ["kpiscope detect_anomalies (SQL)", "seed hybrid (Prophet + IsolationForest + z)", "Prophet 99% interval"]
    flags = {m: [] for m in methods}
    millis = {m: [] for m in methods}
    labels = []
    warm = con.execute("SELECT day AS ds, revenue AS y FROM daily WHERE seed = 1 ORDER BY day").df()
    kpiscope(1), hybrid(warm, prophet_fit(warm))  # first calls (imports, caches) are not timed
    for seed in range(1, seeds + 1):
        frame = con.execute(f"SELECT day AS ds, revenue AS y, label FROM daily WHERE seed = {seed} ORDER BY day").df()
        labels.append(frame.pop("label").to_numpy(dtype=bool))
        got, ms = timed(lambda: kpiscope(seed))
        flags[methods[0]].append(got)
        millis[methods[0]].append(ms)
        fitted, fit_ms = timed(lambda: prophet_fit(frame))
        got, ms = timed(lambda: hybrid(frame, fitted))
        flags[methods[1]].append(got)
        millis[methods[1]].append(fit_ms + ms)
        y = frame["y"].to_numpy()
        flags[methods[2]].append((y < fitted["yhat_lower"].to_numpy()) | (y > fitted["yhat_upper"].to_numpy()))
        millis[methods[2]].append(fit_ms)
    truth = np.concatenate(labels)
    rows = [(m, statistics.median(millis[m]), *scores(np.concatenate(flags[m]), truth)) for m in methods]
    # A user with many series makes one call; its time is shared by the series. Keys come back
    # as text, hence the cast to order them as the labels are.
    grouped, ms = timed(lambda: con.execute("""SELECT is_anomaly FROM detect_anomalies('daily', ts := 'day',
                        value := 'revenue', group_by := ['seed']) ORDER BY CAST(seed AS INTEGER), ts""").fetchall())
    flagged = np.array([bool(r[0]) for r in grouped])
    rows.insert(1, ("kpiscope, one call for all (group_by := ['seed'])", ms / seeds, *scores(flagged, truth)))
    return rows


def riskloc(frame: pd.DataFrame, attributes: list[str], risk_threshold: float = 0.5, pep_threshold: float = 0.02,
            n_remove: int = 5) -> list[str]:
    """RiskLoc's root-cause elements ("a=a1&b=b3") of one case with columns `real`, `predict` and
    the attributes, with the paper's defaults (risk 0.5, explanatory-power share 0.02, five
    extreme deviations left out of the cutoff, first-layer element pruning)."""
    from itertools import combinations

    real, predict = frame["real"].to_numpy(float), frame["predict"].to_numpy(float)
    codes, names = [], []
    for attribute in attributes:
        code, values = pd.factorize(frame[attribute])
        codes.append(code)
        names.append(values)
    codes = np.column_stack(codes)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = np.nan_to_num(2 * (predict - real) / (predict + real))
        power = (real - predict) / (real.sum() - predict.sum())
    # The cutoff between normal and abnormal deviations: the less extreme of the two tails, each
    # after its n_remove most extreme distinct values; abnormal leaves lie beyond it.
    distinct = np.unique(deviation)
    low, high = distinct[min(n_remove, len(distinct) - 1)], distinct[max(len(distinct) - 1 - n_remove, 0)]
    cutoff = -min(low, high, key=abs)
    abnormal = deviation > cutoff if math.copysign(1, cutoff) > 0 else deviation < cutoff
    weight = np.where(abnormal, np.abs(deviation), np.abs(cutoff - deviation))
    weight[~abnormal & (real == 0) & (predict == 0)] = 0
    weight = np.minimum(weight, 1)
    if power[abnormal].sum() < 0:
        power = -power
    threshold = pep_threshold * power[abnormal].sum()
    positive = np.maximum(power, 0)

    def risk(leaves: np.ndarray) -> float:
        anomalous = weight[leaves][abnormal[leaves]].sum()
        high_risk = anomalous / (anomalous + weight[leaves][~abnormal[leaves]].sum() + 1)
        both = leaves[(real[leaves] != 0) & (predict[leaves] != 0)]
        low_risk = 0.0
        if len(both):
            rescaled = predict[both] * real[both].sum() / predict[both].sum()
            with np.errstate(divide="ignore", invalid="ignore"):
                explained = np.nan_to_num(2 * (rescaled - real[both]) / (rescaled + real[both]))
            spread = np.abs(deviation[both]).mean()
            low_risk = np.abs(explained).mean() / spread if spread != 0 else 0.0
        return high_risk - low_risk

    active = np.ones(len(real), dtype=bool)
    pruned: dict[tuple, set] = {}  # per first-layer cuboid, elements that cannot hold a cause
    found = []
    while power[active & abnormal].sum() >= threshold:
        best = None
        for layer in range(1, len(attributes) + 1):
            best_power = threshold
            for cuboid in combinations(range(len(attributes)), layer):
                mask = active.copy()
                for key, elements in pruned.items():
                    if set(key) <= set(cuboid) and elements:
                        mask &= ~np.isin(codes[:, key[0]], list(elements))
                leaves = np.flatnonzero(mask)
                if not len(leaves):
                    continue
                keys, group = np.unique(codes[np.ix_(leaves, cuboid)], axis=0, return_inverse=True)
                group = group.ravel()
                sums = np.bincount(group, power[leaves], len(keys))
                held = np.bincount(group, abnormal[leaves], len(keys)) > 0
                if layer == 1:
                    useless = (np.bincount(group, positive[leaves], len(keys)) < threshold) | ~held
                    pruned.setdefault(cuboid, set()).update(keys[useless, 0].tolist())
                for g in sorted(np.flatnonzero(held & (sums > best_power)), key=lambda g: -sums[g]):
                    if risk(leaves[group == g]) >= risk_threshold:
                        best, best_power = (cuboid, keys[g]), sums[g]
                        break
            if best is not None:
                break
        if best is None:
            break
        cuboid, values = best
        found.append("&".join(f"{attributes[d]}={names[d][v]}" for d, v in zip(cuboid, values)))
        active &= ~np.all(codes[:, cuboid] == values, axis=1)
    return found


def root_causes(con, root: Path, count: int) -> list[tuple]:
    settings = []
    for setting in sorted(p for p in root.iterdir() if p.is_dir()):
        with open(setting / "injection_info.csv", newline="") as f:
            labels = {row["timestamp"]: row["set"] for row in csv.DictReader(f)}
        settings.append([(path, labels[path.stem]) for path in sorted(setting.glob("*.csv"))
                         if path.name != "injection_info.csv"])
    # One case of each setting in turn, so that the first few cases cover every setting.
    cases = [case for turn in zip(*settings) for case in turn][:count]
    loaded = []  # (table, frame, dimensions, label)
    for k, (path, label) in enumerate(cases):
        frame = pd.read_csv(path, dtype={"real": float, "predict": float}, keep_default_na=False)
        dimensions = [c for c in frame.columns if c not in ("real", "predict")]
        frame[dimensions] = frame[dimensions].astype(str)
        con.register("frame", frame)
        con.execute(f"CREATE TABLE b0_{k} AS FROM frame")
        con.unregister("frame")
        loaded.append((f"b0_{k}", frame, dimensions, label))

    def sql(table: str, dimensions: list[str], what: str) -> str:
        return (f"SELECT {what} FROM rca_contributions('{table}', expected := 'predict', actual := 'real', "
                f"dimensions := {dimensions!r})")

    def kpiscope(table: str, frame: pd.DataFrame, dimensions: list[str]) -> list[str]:
        return [r[0] for r in con.execute(sql(table, dimensions, "segment") + " WHERE is_root_cause").fetchall()]

    def every_row(table: str, frame: pd.DataFrame, dimensions: list[str]) -> list[str]:
        rows = con.execute(sql(table, dimensions, "*")).fetchall()
        names = [d[0] for d in con.description]
        segment, cause = names.index("segment"), names.index("is_root_cause")
        return [r[segment] for r in rows if r[cause]]

    methods = {"kpiscope rca_contributions (SQL), root causes": kpiscope,
               "kpiscope, every segment's row (SELECT *)": every_row,
               "RiskLoc (numpy, re-implemented from the paper)": lambda t, frame, d: riskloc(frame, d)}
    for method in methods.values():
        method(*loaded[0][:3])  # first calls are not timed
    millis = {m: [] for m in methods}
    found = {m: [] for m in methods}
    for table, frame, dimensions, _ in loaded:
        for name, method in methods.items():
            causes, ms = timed(lambda: method(table, frame, dimensions))
            millis[name].append(ms)
            found[name].append(";".join(causes))
    rows = []
    for name in methods:
        con.execute("CREATE OR REPLACE TABLE scored (predicted VARCHAR, label VARCHAR)")
        con.executemany("INSERT INTO scored VALUES (?, ?)", [(p, c[3]) for p, c in zip(found[name], loaded)])
        f1, = con.execute("SELECT f1 FROM evaluate_rca('scored', predicted := 'predicted', label := 'label')").fetchone()
        rows.append((name, statistics.median(millis[name]), f1))
    return rows


def read_m4(root: Path, part: str, count: int) -> list[list[float]]:
    with open(root / f"Hourly-{part}.csv", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        return [[float(v) for v in row[1:] if v != ""] for _, row in zip(range(count), rows)]


def forecasting(con, root: Path, count: int, arima: int) -> list[tuple]:
    from statsforecast.models import MSTL, AutoARIMA, AutoETS

    Prophet = quiet_prophet()
    train, test = read_m4(root, "train", count), read_m4(root, "test", count)
    horizon, start = 48, pd.Timestamp("2020-01-01")
    con.execute("CREATE TABLE hourly (id INTEGER, ts TIMESTAMP, value DOUBLE)")
    for k, y in enumerate(train):
        frame = pd.DataFrame({"id": k, "ts": pd.date_range(start, periods=len(y), freq="h"), "value": y})
        con.register("frame", frame)
        con.execute("INSERT INTO hourly SELECT id, ts, value FROM frame")
        con.unregister("frame")

    def kpiscope(k: int, y: list[float]) -> np.ndarray:
        rows = con.execute(f"""SELECT yhat FROM forecast_kpi('(SELECT ts, value FROM hourly WHERE id = {k})',
                               ts := 'ts', value := 'value', horizon := {horizon}) ORDER BY ts""").fetchall()
        return np.array([r[0] for r in rows])

    def ets(k: int, y: list[float]) -> np.ndarray:
        return AutoETS(season_length=24).forecast(np.asarray(y), horizon)["mean"]

    def mstl(k: int, y: list[float]) -> np.ndarray:
        return MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN")).forecast(np.asarray(y), horizon)["mean"]

    def auto_arima(k: int, y: list[float]) -> np.ndarray:
        return AutoARIMA(season_length=24).forecast(np.asarray(y), horizon)["mean"]

    def prophet(k: int, y: list[float]) -> np.ndarray:
        frame = pd.DataFrame({"ds": pd.date_range(start, periods=len(y), freq="h"), "y": y})
        model = Prophet(daily_seasonality=True, weekly_seasonality=True, yearly_seasonality=False).fit(frame)
        future = model.make_future_dataframe(periods=horizon, freq="h", include_history=False)
        return model.predict(future)["yhat"].to_numpy()

    methods = {"kpiscope forecast_kpi auto (SQL)": kpiscope, "statsforecast AutoETS": ets,
               "statsforecast MSTL": mstl, "Prophet": prophet}
    scales = [float(np.mean(np.abs(np.asarray(y[24:]) - np.asarray(y[:-24])))) for y in train]

    def mase(actual: list[float], forecast, scale: float) -> float:
        return float(np.mean(np.abs(np.asarray(actual) - forecast))) / scale

    def interleaved(methods: dict, count: int) -> list[tuple]:
        """Each of the first `count` series given to every method in turn; median ms, mean MASE."""
        if count == 0:
            return []
        for method in methods.values():
            method(0, train[0])  # first calls (numba compiles statsforecast's models) are not timed
        millis, errors = {m: [] for m in methods}, {m: [] for m in methods}
        for k, (y, actual, scale) in enumerate(zip(train[:count], test, scales)):
            for name, method in methods.items():
                forecast, ms = timed(lambda: method(k, y))
                millis[name].append(ms)
                errors[name].append(mase(actual, forecast, scale))
        return [(m, statistics.median(millis[m]), float(np.mean(errors[m]))) for m in methods]

    rows = interleaved(methods, len(train))
    # The same calls with nothing between them: after a peer's call every DuckDB query starts cold.
    back_to_back = [timed(lambda: kpiscope(k, y))[1] for k, y in enumerate(train)]
    rows.insert(1, ("kpiscope, the same calls back to back", statistics.median(back_to_back), rows[0][2]))
    grouped, ms = timed(lambda: con.execute(f"""SELECT id, yhat FROM forecast_kpi('hourly', ts := 'ts', value := 'value',
                        group_by := ['id'], horizon := {horizon}) ORDER BY CAST(id AS INTEGER), ts""").fetchall())
    forecasts = np.array([r[1] for r in grouped]).reshape(len(train), horizon)
    errors = [mase(actual, f, scale) for actual, f, scale in zip(test, forecasts, scales)]
    rows.insert(1, ("kpiscope, one call for all (group_by := ['id'])", ms / len(train), float(np.mean(errors))))
    # AutoARIMA takes 20-65 s per series here, so it gets the first few only, interleaved with
    # kpiscope's calls on the same series.
    rows += interleaved({f"kpiscope forecast_kpi auto, first {arima}": kpiscope,
                         f"statsforecast AutoARIMA, first {arima}": auto_arima}, arima)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20, help="generated 730-day series for detection")
    parser.add_argument("--m4", type=int, default=100, help="M4 Hourly series for forecasting")
    parser.add_argument("--arima", type=int, default=5, help="first M4 Hourly series for AutoARIMA (slow)")
    parser.add_argument("--b0", type=int, default=90, help="Squeeze B0 cases for root-cause analysis")
    parser.add_argument("--m4-root", type=Path, default=ROOT.parent / "shared/data/m4")
    parser.add_argument("--b0-root", type=Path, default=ROOT.parent / "shared/data/rca/B0")
    args = parser.parse_args()
    con = connect()
    print(f"detection: {args.seeds} series of 730 days (generate_kpi_data seeds 1-{args.seeds}, revenue total)")
    rows = detection(con, args.seeds)
    base = rows[0][1]
    print(f"{'method':<50} {'ms/series':>10} {'x kpiscope':>10} {'P':>6} {'R':>6} {'F1':>6}")
    for name, ms, p, r, f1 in rows:
        print(f"{name:<50} {ms:>10.1f} {ms / base:>10.1f} {p:>6.3f} {r:>6.3f} {f1:>6.3f}")
    print(f"\nforecasting: first {args.m4} M4 Hourly series, h = 48")
    rows = forecasting(con, args.m4_root, args.m4, args.arima)
    base = rows[0][1]
    print(f"{'method':<50} {'ms/series':>10} {'x kpiscope':>10} {'MASE':>6}")
    for name, ms, mase in rows:
        print(f"{name:<50} {ms:>10.1f} {ms / base:>10.1f} {mase:>6.3f}")
    print(f"\nroot-cause analysis: first {args.b0} Squeeze B0 cases (21,600 leaves each)")
    rows = root_causes(con, args.b0_root, args.b0)
    base = rows[0][1]
    print(f"{'method':<50} {'ms/case':>10} {'x kpiscope':>10} {'F1':>6}")
    for name, ms, f1 in rows:
        print(f"{name:<50} {ms:>10.1f} {ms / base:>10.1f} {f1:>6.3f}")


if __name__ == "__main__":
    main()
