"""kpiscope through SQL against the peers, side by side in one run, on the same data.

    python3 -m venv ~/.cache/kpiscope/venv-peers
    ~/.cache/kpiscope/venv-peers/bin/pip install -r bench/requirements-peers.txt
    ~/.cache/kpiscope/venv-peers/bin/python bench/scripts/peers.py [--seeds 20] [--m4 100] [--m4-root DIR]

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
  more back to back, with nothing between them (a core left idle by a peer's call joins late).
"""

from __future__ import annotations

import argparse
import csv
import logging
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
    # The same calls with nothing between them: after a peer's call an idle core joins late.
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
    parser.add_argument("--m4-root", type=Path, default=ROOT.parent / "shared/data/m4")
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


if __name__ == "__main__":
    main()
