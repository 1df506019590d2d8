-- Runs the analyses over kpi_daily and materialises plain tables that any DuckDB client
-- (BI tools included) can read without the extension. Needs the extension loaded.

-- Daily KPIs on the all-segment total: additive KPIs are summed, ratio KPIs are ratios of
-- sums (never sums or averages of ratios).
CREATE OR REPLACE TABLE kpi_anomalies AS
SELECT 'revenue' AS kpi, * FROM detect_anomalies('kpi_daily', ts := 'day', value := 'revenue')
UNION ALL
SELECT 'orders' AS kpi, * FROM detect_anomalies('kpi_daily', ts := 'day', value := 'orders')
UNION ALL
SELECT 'sessions' AS kpi, * FROM detect_anomalies('kpi_daily', ts := 'day', value := 'sessions')
UNION ALL
SELECT 'conversion_rate' AS kpi, *
FROM detect_anomalies('kpi_daily', ts := 'day', value := 'sum(orders) / sum(sessions)')
UNION ALL
SELECT 'payment_success_rate' AS kpi, *
FROM detect_anomalies('kpi_daily', ts := 'day', value := 'sum(successful_payments) / sum(orders)');

-- Revenue per segment (channel x region x cohort).
CREATE OR REPLACE TABLE kpi_segment_anomalies AS
SELECT 'revenue' AS kpi, *
FROM detect_anomalies('kpi_daily', ts := 'day', value := 'revenue',
                      group_by := ['channel', 'region', 'cohort']);

COMMENT ON TABLE kpi_anomalies IS 'Walk-forward anomaly verdicts per KPI and day on the all-segment total.';
COMMENT ON TABLE kpi_segment_anomalies IS 'Walk-forward anomaly verdicts for revenue per channel, region and cohort.';

-- Root causes of every anomalous day of revenue: the top 5 segments per day.
CREATE OR REPLACE TABLE kpi_rca AS
SELECT 'revenue' AS kpi, *
FROM rca_anomalies('kpi_daily', ts := 'day', metric := 'revenue',
                   dimensions := ['channel', 'region', 'cohort'], top := 5);

COMMENT ON TABLE kpi_rca IS 'Top segments behind each anomalous day of revenue (rank 1 first; is_root_cause marks the localised set).';

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
FROM forecast_kpi('kpi_daily', ts := 'day', value := 'sum(orders) / sum(sessions)', horizon := 30, level := 0.9);

CREATE OR REPLACE TABLE kpi_model_comparison AS
SELECT 'revenue' AS kpi, * FROM compare_models('kpi_daily', ts := 'day', value := 'revenue', horizon := 14, folds := 3);

COMMENT ON TABLE kpi_forecast IS 'Forecast of each KPI''s daily total: yhat with a 90% interval (yhat_lower, yhat_upper), 30 days ahead.';
COMMENT ON TABLE kpi_model_comparison IS 'Rolling-origin backtest (3 folds of 14 days) of every forecasting model on daily revenue.';

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

-- What-if grid: each lever of the revenue driver tree moved by -10%, -5%, +5% and +10% against
-- the daily average of the last 28 days.
CREATE OR REPLACE TABLE kpi_what_if AS
SELECT 'sessions -10%' AS scenario, 'sessions' AS lever_name, -0.1 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'sessions': -0.1})
UNION ALL
SELECT 'sessions -5%' AS scenario, 'sessions' AS lever_name, -0.05 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'sessions': -0.05})
UNION ALL
SELECT 'sessions +5%' AS scenario, 'sessions' AS lever_name, 0.05 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'sessions': 0.05})
UNION ALL
SELECT 'sessions +10%' AS scenario, 'sessions' AS lever_name, 0.1 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'sessions': 0.1})
UNION ALL
SELECT 'conversion_rate -10%' AS scenario, 'conversion_rate' AS lever_name, -0.1 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'conversion_rate': -0.1})
UNION ALL
SELECT 'conversion_rate -5%' AS scenario, 'conversion_rate' AS lever_name, -0.05 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'conversion_rate': -0.05})
UNION ALL
SELECT 'conversion_rate +5%' AS scenario, 'conversion_rate' AS lever_name, 0.05 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'conversion_rate': 0.05})
UNION ALL
SELECT 'conversion_rate +10%' AS scenario, 'conversion_rate' AS lever_name, 0.1 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'conversion_rate': 0.1})
UNION ALL
SELECT 'payment_success_rate -10%' AS scenario, 'payment_success_rate' AS lever_name, -0.1 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'payment_success_rate': -0.1})
UNION ALL
SELECT 'payment_success_rate -5%' AS scenario, 'payment_success_rate' AS lever_name, -0.05 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'payment_success_rate': -0.05})
UNION ALL
SELECT 'payment_success_rate +5%' AS scenario, 'payment_success_rate' AS lever_name, 0.05 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'payment_success_rate': 0.05})
UNION ALL
SELECT 'payment_success_rate +10%' AS scenario, 'payment_success_rate' AS lever_name, 0.1 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'payment_success_rate': 0.1})
UNION ALL
SELECT 'aov -10%' AS scenario, 'aov' AS lever_name, -0.1 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'aov': -0.1})
UNION ALL
SELECT 'aov -5%' AS scenario, 'aov' AS lever_name, -0.05 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'aov': -0.05})
UNION ALL
SELECT 'aov +5%' AS scenario, 'aov' AS lever_name, 0.05 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'aov': 0.05})
UNION ALL
SELECT 'aov +10%' AS scenario, 'aov' AS lever_name, 0.1 AS lever_change, * FROM what_if('kpi_daily', ts := 'day', levers := MAP {'aov': 0.1});

COMMENT ON TABLE kpi_what_if IS 'What-if grid over the revenue driver tree (sessions x conversion x payment success x AOV): baseline vs scenario per KPI, lever contributions.';
