-- Runs the analyses over kpi_daily and materialises plain tables that any DuckDB client
-- (BI tools included) can read without the extension. Needs the extension loaded.
-- `kpiscope refresh` runs it step by step (each `-- step:` line starts one) on a copy of the
-- database and swaps the copy into place, so readers never see a half-refreshed state.

-- step: KPI catalogue
-- The KPIs the analyses cover: how each daily total is computed and which way is good.
CREATE OR REPLACE TABLE kpi_catalog (
    kpi VARCHAR PRIMARY KEY, label VARCHAR, unit VARCHAR, kind VARCHAR, expression VARCHAR,
    metric VARCHAR, numerator VARCHAR, denominator VARCHAR, higher_is_better BOOLEAN, position INTEGER);
INSERT INTO kpi_catalog VALUES
    ('revenue', 'Revenue', 'currency', 'additive', 'sum(revenue)', 'revenue', NULL, NULL, true, 1),
    ('orders', 'Orders', 'count', 'additive', 'sum(orders)', 'orders', NULL, NULL, true, 2),
    ('sessions', 'Sessions', 'count', 'additive', 'sum(sessions)', 'sessions', NULL, NULL, true, 3),
    ('conversion_rate', 'Conversion rate', 'ratio', 'ratio', 'sum(orders) / sum(sessions)', NULL, 'orders', 'sessions', true, 4),
    ('payment_success_rate', 'Payment success rate', 'ratio', 'ratio', 'sum(successful_payments) / sum(orders)', NULL, 'successful_payments', 'orders', true, 5);
COMMENT ON TABLE kpi_catalog IS 'KPIs analysed by refresh: label, unit, additive or ratio, the SQL of the daily total, the columns RCA splits (metric, or numerator / denominator), and whether higher is better.';

-- Known events (holidays, campaigns, outages): a day listed here with suppress = true is not
-- flagged, and every event is named in the explanation of its day. Kept across refreshes.
CREATE TABLE IF NOT EXISTS kpi_events (day DATE, name VARCHAR, suppress BOOLEAN DEFAULT true);
COMMENT ON TABLE kpi_events IS 'Known events by day: suppress = true keeps that day from being flagged; every event is named in the explanations.';

-- step: anomalies per KPI
CREATE OR REPLACE TABLE kpi_anomalies AS
SELECT 'revenue' AS kpi, * FROM detect_anomalies('kpi_daily', ts := 'day', value := 'revenue', events := 'kpi_events')
UNION ALL
SELECT 'orders' AS kpi, * FROM detect_anomalies('kpi_daily', ts := 'day', value := 'orders', events := 'kpi_events')
UNION ALL
SELECT 'sessions' AS kpi, * FROM detect_anomalies('kpi_daily', ts := 'day', value := 'sessions', events := 'kpi_events')
UNION ALL
SELECT 'conversion_rate' AS kpi, *
FROM detect_anomalies('kpi_daily', ts := 'day', value := 'sum(orders) / sum(sessions)', events := 'kpi_events')
UNION ALL
SELECT 'payment_success_rate' AS kpi, *
FROM detect_anomalies('kpi_daily', ts := 'day', value := 'sum(successful_payments) / sum(orders)', events := 'kpi_events');

-- step: anomalies per segment
-- Revenue per segment (channel x region x cohort).
CREATE OR REPLACE TABLE kpi_segment_anomalies AS
SELECT 'revenue' AS kpi, *
FROM detect_anomalies('kpi_daily', ts := 'day', value := 'revenue', events := 'kpi_events',
                      group_by := ['channel', 'region', 'cohort']);

COMMENT ON TABLE kpi_anomalies IS 'Walk-forward anomaly verdicts per KPI and day on the all-segment total.';
COMMENT ON TABLE kpi_segment_anomalies IS 'Walk-forward anomaly verdicts for revenue per channel, region and cohort.';

-- step: root causes
-- Root causes of every anomalous day of revenue: the top 5 segments per day.
CREATE OR REPLACE TABLE kpi_rca AS
SELECT 'revenue' AS kpi, *
FROM rca_anomalies('kpi_daily', ts := 'day', metric := 'revenue',
                   dimensions := ['channel', 'region', 'cohort'], top := 5);

COMMENT ON TABLE kpi_rca IS 'Top segments behind each anomalous day of revenue (rank 1 first; is_root_cause marks the localised set).';

-- step: decision tree
-- The ML view of root causes: a decision tree over the dimensions separating anomalous
-- segment-days from normal ones, and each dimension's importance.
CREATE OR REPLACE TABLE kpi_rca_tree AS
SELECT 'revenue' AS kpi, *
FROM rca_tree('kpi_segment_anomalies', dimensions := ['channel', 'region', 'cohort'], label := 'is_anomaly');

CREATE OR REPLACE TABLE kpi_rca_tree_importance AS
SELECT 'revenue' AS kpi, *
FROM rca_tree_importance('kpi_segment_anomalies', dimensions := ['channel', 'region', 'cohort'], label := 'is_anomaly');

COMMENT ON TABLE kpi_rca_tree IS 'Decision tree over channel, region and cohort separating anomalous segment-days (one row per node).';
COMMENT ON TABLE kpi_rca_tree_importance IS 'Importance of each dimension in kpi_rca_tree (sums to 1).';

-- step: forecasts
-- Forecasts of the daily total, 30 days ahead with a 90% interval, per KPI; and the backtest
-- behind the model choice.
CREATE OR REPLACE TABLE kpi_forecast AS
SELECT 'revenue' AS kpi, * FROM forecast_kpi('kpi_daily', ts := 'day', value := 'revenue', horizon := 30, level := 0.9)
UNION ALL
SELECT 'orders' AS kpi, * FROM forecast_kpi('kpi_daily', ts := 'day', value := 'orders', horizon := 30, level := 0.9)
UNION ALL
SELECT 'sessions' AS kpi, * FROM forecast_kpi('kpi_daily', ts := 'day', value := 'sessions', horizon := 30, level := 0.9)
UNION ALL
SELECT 'conversion_rate' AS kpi, *
FROM forecast_kpi('kpi_daily', ts := 'day', value := 'sum(orders) / sum(sessions)', horizon := 30, level := 0.9)
UNION ALL
SELECT 'payment_success_rate' AS kpi, *
FROM forecast_kpi('kpi_daily', ts := 'day', value := 'sum(successful_payments) / sum(orders)', horizon := 30, level := 0.9);

-- A ratio cannot leave [0, 1]; the models' Gaussian intervals do not know that.
UPDATE kpi_forecast
SET yhat = least(greatest(yhat, 0), 1), yhat_lower = greatest(yhat_lower, 0), yhat_upper = least(yhat_upper, 1)
WHERE kpi IN (SELECT kpi FROM kpi_catalog WHERE unit = 'ratio');

-- step: model comparison
CREATE OR REPLACE TABLE kpi_model_comparison AS
SELECT 'revenue' AS kpi, * FROM compare_models('kpi_daily', ts := 'day', value := 'revenue', horizon := 14, folds := 3);

COMMENT ON TABLE kpi_forecast IS 'Forecast of each KPI''s daily total: yhat with a 90% interval (yhat_lower, yhat_upper), 30 days ahead.';
COMMENT ON TABLE kpi_model_comparison IS 'Rolling-origin backtest (3 folds of 14 days) of every forecasting model on daily revenue.';

-- Confirmed anomalies, one row per segment and day: fill this table (or let the demo fill it)
-- and refresh scores every detection method against it. Kept across refreshes.
CREATE TABLE IF NOT EXISTS kpi_anomaly_labels (day DATE, channel VARCHAR, region VARCHAR, cohort VARCHAR, label VARCHAR);
COMMENT ON TABLE kpi_anomaly_labels IS 'Confirmed anomalies (segment and day, with a free-text label); refresh scores every detector against them.';

-- Every detector on segment revenue against the labels; empty while there are none.
CREATE OR REPLACE TABLE kpi_detector_comparison AS
SELECT 'revenue' AS kpi, *
FROM compare_detectors(
    '(SELECT d.day, d.channel, d.region, d.cohort, d.revenue, l.day IS NOT NULL AS labelled
      FROM kpi_daily d LEFT JOIN (SELECT DISTINCT day, channel, region, cohort FROM kpi_anomaly_labels) l
      USING (day, channel, region, cohort))',
    ts := 'day', value := 'revenue', group_by := ['channel', 'region', 'cohort'], label := 'labelled')
WHERE EXISTS (SELECT 1 FROM kpi_anomaly_labels);
COMMENT ON TABLE kpi_detector_comparison IS 'Every detection method on segment revenue scored against kpi_anomaly_labels (pooled over segments); empty without labels.';

-- step: change points
-- Structural breaks in each KPI's daily total.
CREATE OR REPLACE TABLE kpi_change_points AS
SELECT 'revenue' AS kpi, * FROM change_points('kpi_daily', ts := 'day', value := 'revenue')
UNION ALL
SELECT 'orders' AS kpi, * FROM change_points('kpi_daily', ts := 'day', value := 'orders')
UNION ALL
SELECT 'sessions' AS kpi, * FROM change_points('kpi_daily', ts := 'day', value := 'sessions')
UNION ALL
SELECT 'conversion_rate' AS kpi, * FROM change_points('kpi_daily', ts := 'day', value := 'sum(orders) / sum(sessions)');

COMMENT ON TABLE kpi_change_points IS 'Structural breaks in each KPI''s daily total (BOCPD): is_change_point, probability, segment means.';

-- step: what-if grid
-- Each lever of the revenue driver tree moved by -10%, -5%, +5% and +10% against the daily
-- average of the last 28 days.
CREATE OR REPLACE TABLE kpi_what_if AS
SELECT 'sessions -10%' AS scenario, 'sessions' AS lever_name, -0.1::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'sessions': -0.1})
UNION ALL
SELECT 'sessions -5%' AS scenario, 'sessions' AS lever_name, -0.05::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'sessions': -0.05})
UNION ALL
SELECT 'sessions +5%' AS scenario, 'sessions' AS lever_name, 0.05::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'sessions': 0.05})
UNION ALL
SELECT 'sessions +10%' AS scenario, 'sessions' AS lever_name, 0.1::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'sessions': 0.1})
UNION ALL
SELECT 'conversion_rate -10%' AS scenario, 'conversion_rate' AS lever_name, -0.1::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'conversion_rate': -0.1})
UNION ALL
SELECT 'conversion_rate -5%' AS scenario, 'conversion_rate' AS lever_name, -0.05::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'conversion_rate': -0.05})
UNION ALL
SELECT 'conversion_rate +5%' AS scenario, 'conversion_rate' AS lever_name, 0.05::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'conversion_rate': 0.05})
UNION ALL
SELECT 'conversion_rate +10%' AS scenario, 'conversion_rate' AS lever_name, 0.1::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'conversion_rate': 0.1})
UNION ALL
SELECT 'payment_success_rate -10%' AS scenario, 'payment_success_rate' AS lever_name, -0.1::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'payment_success_rate': -0.1})
UNION ALL
SELECT 'payment_success_rate -5%' AS scenario, 'payment_success_rate' AS lever_name, -0.05::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'payment_success_rate': -0.05})
UNION ALL
SELECT 'payment_success_rate +5%' AS scenario, 'payment_success_rate' AS lever_name, 0.05::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'payment_success_rate': 0.05})
UNION ALL
SELECT 'payment_success_rate +10%' AS scenario, 'payment_success_rate' AS lever_name, 0.1::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'payment_success_rate': 0.1})
UNION ALL
SELECT 'aov -10%' AS scenario, 'aov' AS lever_name, -0.1::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'aov': -0.1})
UNION ALL
SELECT 'aov -5%' AS scenario, 'aov' AS lever_name, -0.05::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'aov': -0.05})
UNION ALL
SELECT 'aov +5%' AS scenario, 'aov' AS lever_name, 0.05::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'aov': 0.05})
UNION ALL
SELECT 'aov +10%' AS scenario, 'aov' AS lever_name, 0.1::DOUBLE AS lever_change, kpi, baseline, scenario AS scenario_value, delta, delta_pct, lever, contribution
FROM what_if('kpi_daily', ts := 'day', levers := MAP {'aov': 0.1});

COMMENT ON TABLE kpi_what_if IS 'What-if grid over the revenue driver tree (sessions x conversion x payment success x AOV): baseline vs scenario per KPI, lever contributions.';

-- step: suggested actions
-- One suggestion per root-cause segment and anomalous day: which lever of the revenue driver
-- tree (sessions x conversion x payment success x AOV) moved most in that segment against the
-- median of the same weekday over the previous four weeks, and what to check for that lever.
CREATE OR REPLACE TABLE kpi_actions AS
WITH causes AS (
    SELECT kpi, ts, segment, contribution, severity, score FROM kpi_rca WHERE is_root_cause
),
segment_days AS (
    SELECT c.kpi, c.ts, c.segment, c.contribution, c.severity, c.score, d.day,
           sum(d.sessions) AS sessions, sum(d.orders) AS orders,
           sum(d.successful_payments) AS payments, sum(d.revenue) AS revenue
    FROM causes c
    JOIN kpi_daily d
      ON list_has_all(['channel=' || d.channel, 'region=' || d.region, 'cohort=' || d.cohort],
                      string_split(c.segment, ' & '))
     AND d.day IN (c.ts, c.ts - 7, c.ts - 14, c.ts - 21, c.ts - 28)
    GROUP BY ALL
),
levers AS (
    SELECT kpi, ts, segment, contribution, severity, score, day = ts AS is_day, lever, value
    FROM segment_days,
    LATERAL (VALUES ('sessions', sessions::DOUBLE),
                    ('conversion_rate', orders / nullif(sessions, 0)),
                    ('payment_success_rate', payments / nullif(orders, 0)),
                    ('aov', revenue / nullif(payments, 0))) AS l(lever, value)
),
moves AS (
    SELECT kpi, ts, segment, contribution, severity, score, lever,
           max(value) FILTER (is_day) AS actual,
           median(value) FILTER (NOT is_day) AS baseline
    FROM levers GROUP BY ALL
),
ranked AS (
    SELECT *, actual / nullif(baseline, 0) - 1 AS change,
           row_number() OVER (PARTITION BY kpi, ts, segment
                              ORDER BY abs(ln(greatest(actual, 1e-12) / greatest(baseline, 1e-12))) DESC) AS lever_rank
    FROM moves WHERE baseline > 0 AND actual IS NOT NULL
)
SELECT kpi, ts, segment, severity, score, contribution, lever, actual, baseline, change,
       CASE lever
           WHEN 'sessions' THEN 'Check traffic acquisition for ' || segment || ': campaigns, app-store or SEO ranking, tracking tags.'
           WHEN 'conversion_rate' THEN 'Review the funnel for ' || segment || ': releases, checkout errors, stock-outs, prices.'
           WHEN 'payment_success_rate' THEN 'Check payment providers for ' || segment || ': declines by method and gateway errors.'
           ELSE 'Review pricing, discounts and basket mix for ' || segment || ' (average order value moved).'
       END AS action
FROM ranked WHERE lever_rank = 1;

COMMENT ON TABLE kpi_actions IS 'Suggested next step per root-cause segment and anomalous day: the driver-tree lever that moved most and what to check.';

-- step: refresh stamp
CREATE OR REPLACE TABLE kpi_refresh AS
SELECT now()::TIMESTAMP AS refreshed_at, min(day) AS data_from, max(day) AS data_to,
       count(*) AS rows, (SELECT count(DISTINCT kpi) FROM kpi_catalog) AS kpis
FROM kpi_daily;
COMMENT ON TABLE kpi_refresh IS 'When refresh last ran and which days of kpi_daily it covered (the viewer''s "data as of" stamp).';

-- step: report register
-- Exported reports are recorded here by `kpiscope report`; kept across refreshes.
CREATE TABLE IF NOT EXISTS kpi_reports (
    report VARCHAR, as_of DATE, format VARCHAR, file VARCHAR, bytes BIGINT, sha256 VARCHAR,
    created_at TIMESTAMP);
COMMENT ON TABLE kpi_reports IS 'Reports written by `kpiscope report`: file name, format, as-of day, size, checksum.';
