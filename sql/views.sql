-- One view per dashboard tab, over the plain tables `refresh` materialises. No view calls the
-- extension, every column is flat and explicitly typed (DATE, TIMESTAMP, DOUBLE, BIGINT,
-- VARCHAR, BOOLEAN), and every view and column carries a COMMENT, so a BI tool opening the
-- file read-only without kpiscope sees the same dashboard the viewer and the reports show.

-- KPI overview ---------------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_kpi_overview AS
WITH daily AS (
    SELECT a.kpi, a.ts, a.value, a.expected, a.is_anomaly, a.severity,
           lag(a.value, 1) OVER w AS day_before,
           lag(a.value, CASE (SELECT grain FROM kpi_model) WHEN 'hourly' THEN 168 WHEN 'weekly' THEN 1 ELSE 7 END) OVER w AS week_before,
           avg(a.value) OVER (w RANGE BETWEEN INTERVAL 27 DAY PRECEDING AND CURRENT ROW) AS avg_28d,
           count(*) FILTER (a.is_anomaly) OVER (w RANGE BETWEEN INTERVAL 29 DAY PRECEDING AND CURRENT ROW) AS anomalies_30d
    FROM kpi_anomalies a
    WINDOW w AS (PARTITION BY a.kpi ORDER BY a.ts)
)
SELECT c.position::INTEGER AS position, d.kpi::VARCHAR AS kpi, c.label::VARCHAR AS label,
       c.unit::VARCHAR AS unit, d.ts AS ts, d.value::DOUBLE AS value,
       d.expected::DOUBLE AS expected, (d.value / nullif(d.expected, 0) - 1)::DOUBLE AS vs_expected_pct,
       (d.value / nullif(d.day_before, 0) - 1)::DOUBLE AS day_over_day_pct,
       (d.value / nullif(d.week_before, 0) - 1)::DOUBLE AS week_over_week_pct,
       d.avg_28d::DOUBLE AS avg_28d, d.anomalies_30d::BIGINT AS anomalies_30d,
       d.is_anomaly::BOOLEAN AS is_anomaly, d.severity::VARCHAR AS severity
FROM daily d JOIN kpi_catalog c USING (kpi)
WHERE d.ts = (SELECT max(ts) FROM kpi_anomalies);

COMMENT ON VIEW tab_kpi_overview IS 'KPI overview: each KPI at the latest time step against its expected value, the step and week before, and its recent anomalies.';
COMMENT ON COLUMN tab_kpi_overview.position IS 'Display order of the KPI.';
COMMENT ON COLUMN tab_kpi_overview.kpi IS 'KPI key (see kpi_catalog).';
COMMENT ON COLUMN tab_kpi_overview.label IS 'KPI name for display.';
COMMENT ON COLUMN tab_kpi_overview.unit IS 'count, currency, percent (a share 0-1) or number.';
COMMENT ON COLUMN tab_kpi_overview.ts IS 'Latest time step with data (a DATE, or a TIMESTAMP for hourly data).';
COMMENT ON COLUMN tab_kpi_overview.value IS 'Total of the KPI in that time step.';
COMMENT ON COLUMN tab_kpi_overview.expected IS 'Value the detector expected from the history before that step.';
COMMENT ON COLUMN tab_kpi_overview.vs_expected_pct IS 'value / expected - 1.';
COMMENT ON COLUMN tab_kpi_overview.day_over_day_pct IS 'Change against the step before.';
COMMENT ON COLUMN tab_kpi_overview.week_over_week_pct IS 'Change against the same time one week before.';
COMMENT ON COLUMN tab_kpi_overview.avg_28d IS 'Average value per step over the last 28 days.';
COMMENT ON COLUMN tab_kpi_overview.anomalies_30d IS 'Anomalous steps in the last 30 days.';
COMMENT ON COLUMN tab_kpi_overview.is_anomaly IS 'Whether the latest step is anomalous.';
COMMENT ON COLUMN tab_kpi_overview.severity IS 'Severity of the latest step: none, minor, major or critical.';

CREATE OR REPLACE VIEW tab_top_movers AS
WITH windows AS (
    SELECT max(ts) AS latest, CASE (SELECT grain FROM kpi_model) WHEN 'weekly' THEN INTERVAL 28 DAY ELSE INTERVAL 7 DAY END AS span
    FROM kpi_member_series
),
sums AS (
    SELECT m.kpi, m.dimension, m.member, c.kind,
           sum(m.num) FILTER (m.ts > w.latest - w.span) AS num_last, sum(m.den) FILTER (m.ts > w.latest - w.span) AS den_last,
           sum(m.num) FILTER (m.ts <= w.latest - w.span AND m.ts > w.latest - 2 * w.span) AS num_previous,
           sum(m.den) FILTER (m.ts <= w.latest - w.span AND m.ts > w.latest - 2 * w.span) AS den_previous
    FROM kpi_member_series m JOIN kpi_catalog c USING (kpi), windows w
    WHERE m.dimension <> 'all'
    GROUP BY ALL
),
periods AS (
    SELECT kpi, dimension, member,
           CASE WHEN kind = 'ratio' THEN num_last / nullif(den_last, 0) ELSE num_last END AS last_period,
           CASE WHEN kind = 'ratio' THEN num_previous / nullif(den_previous, 0) ELSE num_previous END AS previous_period
    FROM sums
)
SELECT kpi::VARCHAR AS kpi, dimension::VARCHAR AS dimension, member::VARCHAR AS member,
       last_period::DOUBLE AS last_period, previous_period::DOUBLE AS previous_period,
       (last_period - previous_period)::DOUBLE AS change,
       (last_period / nullif(previous_period, 0) - 1)::DOUBLE AS change_pct,
       row_number() OVER (PARTITION BY kpi ORDER BY abs(last_period / nullif(previous_period, 0) - 1) DESC NULLS LAST)::BIGINT AS rank
FROM periods;

COMMENT ON VIEW tab_top_movers IS 'KPI overview, top movers: each KPI for every member of each dimension over the last 7 days (28 for weekly data) against the period before.';
COMMENT ON COLUMN tab_top_movers.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_top_movers.dimension IS 'Dimension (see kpi_dimensions).';
COMMENT ON COLUMN tab_top_movers.member IS 'Value of the dimension.';
COMMENT ON COLUMN tab_top_movers.last_period IS 'The KPI over the last period (a sum; for ratio KPIs the ratio of sums).';
COMMENT ON COLUMN tab_top_movers.previous_period IS 'The KPI over the period before.';
COMMENT ON COLUMN tab_top_movers.change IS 'last_period - previous_period.';
COMMENT ON COLUMN tab_top_movers.change_pct IS 'Relative change.';
COMMENT ON COLUMN tab_top_movers.rank IS '1 = largest relative change, per KPI.';

-- Anomalies & severity -------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_anomalies AS
SELECT a.kpi::VARCHAR AS kpi, c.label::VARCHAR AS label, a.ts AS ts, a.value::DOUBLE AS value,
       a.expected::DOUBLE AS expected, a.lower::DOUBLE AS lower, a.upper::DOUBLE AS upper,
       (a.value / nullif(a.expected, 0) - 1)::DOUBLE AS deviation_pct, a.score::DOUBLE AS score,
       a.is_anomaly::BOOLEAN AS is_anomaly, a.severity::VARCHAR AS severity,
       a.incident_id::BIGINT AS incident_id, a.explanation::VARCHAR AS explanation
FROM kpi_anomalies a JOIN kpi_catalog c USING (kpi);

COMMENT ON VIEW tab_anomalies IS 'Anomalies & severity: every KPI time step with its expected band, 0-100 score and severity (walk-forward: each step judged only from the steps before it).';
COMMENT ON COLUMN tab_anomalies.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_anomalies.label IS 'KPI name for display.';
COMMENT ON COLUMN tab_anomalies.ts IS 'Time step (a DATE, or a TIMESTAMP for hourly data).';
COMMENT ON COLUMN tab_anomalies.value IS 'Total of the KPI.';
COMMENT ON COLUMN tab_anomalies.expected IS 'Expected value from the history before the step.';
COMMENT ON COLUMN tab_anomalies.lower IS 'Lower edge of the normal band.';
COMMENT ON COLUMN tab_anomalies.upper IS 'Upper edge of the normal band.';
COMMENT ON COLUMN tab_anomalies.deviation_pct IS 'value / expected - 1.';
COMMENT ON COLUMN tab_anomalies.score IS 'Anomaly score 0-100; minor >= 50, major >= 70, critical >= 90.';
COMMENT ON COLUMN tab_anomalies.is_anomaly IS 'Whether the step is flagged.';
COMMENT ON COLUMN tab_anomalies.severity IS 'none, minor, major or critical.';
COMMENT ON COLUMN tab_anomalies.incident_id IS 'Adjacent flagged steps share one incident id; NULL when not flagged.';
COMMENT ON COLUMN tab_anomalies.explanation IS 'Plain-language reason for the verdict.';

-- Root-cause analysis --------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_root_cause AS
SELECT kpi::VARCHAR AS kpi, ts AS ts, value::DOUBLE AS value, expected::DOUBLE AS expected,
       score::DOUBLE AS score, severity::VARCHAR AS severity, rank::BIGINT AS rank,
       dimensions::VARCHAR AS dimensions, segment::VARCHAR AS segment, baseline::DOUBLE AS baseline,
       actual::DOUBLE AS actual, delta::DOUBLE AS delta, contribution::DOUBLE AS contribution,
       surprise::DOUBLE AS surprise, explanatory_power::DOUBLE AS explanatory_power,
       is_root_cause::BOOLEAN AS is_root_cause
FROM kpi_rca;

COMMENT ON VIEW tab_root_cause IS 'Root-cause analysis: the top segments behind each anomalous time step, ranked; is_root_cause marks the localised combination.';
COMMENT ON COLUMN tab_root_cause.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_root_cause.ts IS 'Anomalous time step.';
COMMENT ON COLUMN tab_root_cause.value IS 'Total of the KPI in that step.';
COMMENT ON COLUMN tab_root_cause.expected IS 'Expected total.';
COMMENT ON COLUMN tab_root_cause.score IS 'Anomaly score of the step.';
COMMENT ON COLUMN tab_root_cause.severity IS 'Severity of the step.';
COMMENT ON COLUMN tab_root_cause.rank IS '1 = strongest explanation.';
COMMENT ON COLUMN tab_root_cause.dimensions IS 'Dimensions the segment fixes.';
COMMENT ON COLUMN tab_root_cause.segment IS 'Segment: dimension=value pairs joined by &.';
COMMENT ON COLUMN tab_root_cause.baseline IS 'Segment value expected from its own history.';
COMMENT ON COLUMN tab_root_cause.actual IS 'Segment value at the step.';
COMMENT ON COLUMN tab_root_cause.delta IS 'actual - baseline.';
COMMENT ON COLUMN tab_root_cause.contribution IS 'Share of the total''s gap explained by the segment (1 = all of it).';
COMMENT ON COLUMN tab_root_cause.surprise IS 'Adtributor surprise (Jensen-Shannon) of the segment.';
COMMENT ON COLUMN tab_root_cause.explanatory_power IS 'Adtributor explanatory power of the segment.';
COMMENT ON COLUMN tab_root_cause.is_root_cause IS 'Part of the localised root-cause set.';

-- Reports center -------------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_reports AS
SELECT file::VARCHAR AS file, format::VARCHAR AS format, as_of::DATE AS as_of, bytes::BIGINT AS bytes,
       sha256::VARCHAR AS sha256, created_at::TIMESTAMP AS created_at
FROM kpi_reports;

COMMENT ON VIEW tab_reports IS 'Reports center: reports exported by `kpiscope report`, newest first when ordered by created_at.';
COMMENT ON COLUMN tab_reports.file IS 'File name in the report directory.';
COMMENT ON COLUMN tab_reports.format IS 'md, pdf or zip.';
COMMENT ON COLUMN tab_reports.as_of IS 'Last day the report covers.';
COMMENT ON COLUMN tab_reports.bytes IS 'File size.';
COMMENT ON COLUMN tab_reports.sha256 IS 'SHA-256 of the file.';
COMMENT ON COLUMN tab_reports.created_at IS 'When it was written.';

-- ML-based RCA ---------------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_ml_rca AS
SELECT kpi::VARCHAR AS kpi, node_id::BIGINT AS node_id, parent_id::BIGINT AS parent_id, depth::BIGINT AS depth,
       rule::VARCHAR AS rule, path::VARCHAR AS path, samples::BIGINT AS samples, anomalous::BIGINT AS anomalous,
       share::DOUBLE AS anomalous_share, impurity::DOUBLE AS impurity, is_leaf::BOOLEAN AS is_leaf
FROM kpi_rca_tree;

COMMENT ON VIEW tab_ml_rca IS 'ML-based RCA: per KPI, a decision tree over the dimensions separating anomalous segment time steps from normal ones (one row per node).';
COMMENT ON COLUMN tab_ml_rca.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_ml_rca.node_id IS 'Node id; 1 is the root.';
COMMENT ON COLUMN tab_ml_rca.parent_id IS 'Parent node; NULL for the root.';
COMMENT ON COLUMN tab_ml_rca.depth IS 'Depth, root = 0.';
COMMENT ON COLUMN tab_ml_rca.rule IS 'Condition that leads from the parent to this node.';
COMMENT ON COLUMN tab_ml_rca.path IS 'All conditions from the root.';
COMMENT ON COLUMN tab_ml_rca.samples IS 'Segment time steps in the node.';
COMMENT ON COLUMN tab_ml_rca.anomalous IS 'Anomalous segment time steps in the node.';
COMMENT ON COLUMN tab_ml_rca.anomalous_share IS 'anomalous / samples.';
COMMENT ON COLUMN tab_ml_rca.impurity IS 'Gini impurity.';
COMMENT ON COLUMN tab_ml_rca.is_leaf IS 'Whether the node is a leaf.';

CREATE OR REPLACE VIEW tab_ml_rca_importance AS
SELECT kpi::VARCHAR AS kpi, dimension::VARCHAR AS dimension, importance::DOUBLE AS importance FROM kpi_rca_tree_importance;

COMMENT ON VIEW tab_ml_rca_importance IS 'ML-based RCA: importance of each dimension in the tree (sums to 1).';
COMMENT ON COLUMN tab_ml_rca_importance.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_ml_rca_importance.dimension IS 'Dimension.';
COMMENT ON COLUMN tab_ml_rca_importance.importance IS 'Share of the impurity decrease due to the dimension.';

-- Change points & correlation -------------------------------------------------------------
CREATE OR REPLACE VIEW tab_change_points AS
SELECT kpi::VARCHAR AS kpi, ts AS ts, value::DOUBLE AS value, is_change_point::BOOLEAN AS is_change_point,
       probability::DOUBLE AS probability, mean_before::DOUBLE AS mean_before, mean_after::DOUBLE AS mean_after,
       (mean_after / nullif(mean_before, 0) - 1)::DOUBLE AS shift_pct
FROM kpi_change_points;

COMMENT ON VIEW tab_change_points IS 'Change points: every KPI time step, with structural breaks (BOCPD) flagged and the mean before and after.';
COMMENT ON COLUMN tab_change_points.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_change_points.ts IS 'Time step.';
COMMENT ON COLUMN tab_change_points.value IS 'Total of the KPI (gaps filled).';
COMMENT ON COLUMN tab_change_points.is_change_point IS 'A new regime starts at this step.';
COMMENT ON COLUMN tab_change_points.probability IS 'Probability that the level changed here.';
COMMENT ON COLUMN tab_change_points.mean_before IS 'Mean of the regime before.';
COMMENT ON COLUMN tab_change_points.mean_after IS 'Mean of the regime from this step.';
COMMENT ON COLUMN tab_change_points.shift_pct IS 'mean_after / mean_before - 1.';

CREATE OR REPLACE VIEW tab_correlation AS
SELECT x.kpi::VARCHAR AS kpi_x, y.kpi::VARCHAR AS kpi_y, corr(x.value, y.value)::DOUBLE AS correlation,
       count(*)::BIGINT AS steps
FROM kpi_anomalies x JOIN kpi_anomalies y ON x.ts = y.ts
GROUP BY ALL;

COMMENT ON VIEW tab_correlation IS 'Correlation matrix: Pearson correlation of the totals of every pair of KPIs.';
COMMENT ON COLUMN tab_correlation.kpi_x IS 'First KPI.';
COMMENT ON COLUMN tab_correlation.kpi_y IS 'Second KPI.';
COMMENT ON COLUMN tab_correlation.correlation IS 'Pearson correlation, -1 to 1.';
COMMENT ON COLUMN tab_correlation.steps IS 'Time steps both KPIs have.';

-- Forecasting ----------------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_forecast AS
SELECT kpi::VARCHAR AS kpi, ts AS ts, value::DOUBLE AS actual, expected::DOUBLE AS yhat,
       lower::DOUBLE AS yhat_lower, upper::DOUBLE AS yhat_upper, false AS is_forecast, NULL::VARCHAR AS model
FROM kpi_anomalies
WHERE ts > (SELECT max(ts) FROM kpi_anomalies)
           - CASE (SELECT grain FROM kpi_model) WHEN 'hourly' THEN INTERVAL 14 DAY WHEN 'weekly' THEN INTERVAL 728 DAY ELSE INTERVAL 90 DAY END
  AND kpi IN (SELECT kpi FROM kpi_forecast)
UNION ALL
SELECT kpi::VARCHAR, ts, NULL::DOUBLE, yhat::DOUBLE, yhat_lower::DOUBLE, yhat_upper::DOUBLE, true, model::VARCHAR
FROM kpi_forecast;

COMMENT ON VIEW tab_forecast IS 'Forecasting: the recent history (90 days; 14 for hourly data, 104 weeks for weekly) with its expected band, followed by the forecast with its 90% interval.';
COMMENT ON COLUMN tab_forecast.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_forecast.ts IS 'Time step.';
COMMENT ON COLUMN tab_forecast.actual IS 'Observed total; NULL in the future.';
COMMENT ON COLUMN tab_forecast.yhat IS 'Expected value (history) or point forecast (future).';
COMMENT ON COLUMN tab_forecast.yhat_lower IS 'Lower edge of the band or interval.';
COMMENT ON COLUMN tab_forecast.yhat_upper IS 'Upper edge of the band or interval.';
COMMENT ON COLUMN tab_forecast.is_forecast IS 'True for steps after the last observation.';
COMMENT ON COLUMN tab_forecast.model IS 'Forecasting model chosen by backtest (future rows).';

-- Trends per dimension member --------------------------------------------------------------
CREATE OR REPLACE VIEW tab_trends AS
SELECT kpi::VARCHAR AS kpi, dimension::VARCHAR AS dimension, member::VARCHAR AS member, ts AS ts,
       value::DOUBLE AS value
FROM kpi_member_series;

COMMENT ON VIEW tab_trends IS 'Trends: each KPI per time step for every member of each dimension (dimension all = the total).';
COMMENT ON COLUMN tab_trends.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_trends.dimension IS 'Dimension (see kpi_dimensions), or all.';
COMMENT ON COLUMN tab_trends.member IS 'Value of the dimension.';
COMMENT ON COLUMN tab_trends.ts IS 'Time step.';
COMMENT ON COLUMN tab_trends.value IS 'The KPI for that member and step (for ratio KPIs the ratio of sums).';

-- Date comparison ------------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_date_comparison AS
SELECT a.kpi::VARCHAR AS kpi, a.dimension::VARCHAR AS dimension, a.member::VARCHAR AS member,
       a.ts AS ts, b.ts AS compare_ts, a.value::DOUBLE AS value, b.value::DOUBLE AS compare_value,
       (a.value - b.value)::DOUBLE AS delta, (a.value / nullif(b.value, 0) - 1)::DOUBLE AS delta_pct
FROM kpi_member_series a
JOIN kpi_member_series b ON a.kpi = b.kpi AND a.dimension = b.dimension AND a.member = b.member AND b.ts = a.ts - INTERVAL 7 DAY;

COMMENT ON VIEW tab_date_comparison IS 'Date comparison: each KPI, time step and dimension member against the same time one week earlier.';
COMMENT ON COLUMN tab_date_comparison.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_date_comparison.dimension IS 'Dimension, or all.';
COMMENT ON COLUMN tab_date_comparison.member IS 'Value of the dimension.';
COMMENT ON COLUMN tab_date_comparison.ts IS 'Time step.';
COMMENT ON COLUMN tab_date_comparison.compare_ts IS 'Step compared against (7 days earlier).';
COMMENT ON COLUMN tab_date_comparison.value IS 'Value at ts.';
COMMENT ON COLUMN tab_date_comparison.compare_value IS 'Value at compare_ts.';
COMMENT ON COLUMN tab_date_comparison.delta IS 'value - compare_value.';
COMMENT ON COLUMN tab_date_comparison.delta_pct IS 'value / compare_value - 1.';

-- What-if simulator ----------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_what_if AS
SELECT scenario::VARCHAR AS scenario, lever_name::VARCHAR AS lever_name, lever_change::DOUBLE AS lever_change,
       kpi::VARCHAR AS kpi, baseline::DOUBLE AS baseline, scenario_value::DOUBLE AS scenario_value,
       delta::DOUBLE AS delta, delta_pct::DOUBLE AS delta_pct
FROM kpi_what_if;

COMMENT ON VIEW tab_what_if IS 'What-if simulator, baseline grid: each lever of the driver tree (kpi_drivers) moved by -10% to +10% against the last 28 days.';
COMMENT ON COLUMN tab_what_if.scenario IS 'Scenario name.';
COMMENT ON COLUMN tab_what_if.lever_name IS 'Lever moved.';
COMMENT ON COLUMN tab_what_if.lever_change IS 'Relative change of the lever (-0.1 = -10%).';
COMMENT ON COLUMN tab_what_if.kpi IS 'KPI of the driver tree.';
COMMENT ON COLUMN tab_what_if.baseline IS 'Value over the last 28 days (volumes per step).';
COMMENT ON COLUMN tab_what_if.scenario_value IS 'Value under the scenario.';
COMMENT ON COLUMN tab_what_if.delta IS 'scenario_value - baseline.';
COMMENT ON COLUMN tab_what_if.delta_pct IS 'Relative change.';

-- Model comparison -----------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_model_comparison AS
SELECT kpi::VARCHAR AS kpi, model::VARCHAR AS model, folds::BIGINT AS folds, mae::DOUBLE AS mae,
       rmse::DOUBLE AS rmse, smape::DOUBLE AS smape, mase::DOUBLE AS mase, coverage::DOUBLE AS coverage,
       rank::BIGINT AS rank
FROM kpi_model_comparison;

COMMENT ON VIEW tab_model_comparison IS 'Model comparison: rolling-origin backtest of every forecasting model on each KPI (3 folds).';
COMMENT ON COLUMN tab_model_comparison.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_model_comparison.model IS 'Model.';
COMMENT ON COLUMN tab_model_comparison.folds IS 'Backtest folds.';
COMMENT ON COLUMN tab_model_comparison.mae IS 'Mean absolute error.';
COMMENT ON COLUMN tab_model_comparison.rmse IS 'Root mean squared error.';
COMMENT ON COLUMN tab_model_comparison.smape IS 'Symmetric mean absolute percentage error, M4 definition, in percent (0-200).';
COMMENT ON COLUMN tab_model_comparison.mase IS 'Mean absolute scaled error (1 = seasonal naive in-sample).';
COMMENT ON COLUMN tab_model_comparison.coverage IS 'Share of actuals inside the 90% interval.';
COMMENT ON COLUMN tab_model_comparison.rank IS '1 = lowest MASE.';

CREATE OR REPLACE VIEW tab_detector_comparison AS
SELECT kpi::VARCHAR AS kpi, method::VARCHAR AS method, rank::BIGINT AS rank, f1::DOUBLE AS f1,
       point_adjusted_f1::DOUBLE AS point_adjusted_f1, precision::DOUBLE AS precision, recall::DOUBLE AS recall,
       tp::BIGINT AS tp, fp::BIGINT AS fp, fn::BIGINT AS fn
FROM kpi_detector_comparison;

COMMENT ON VIEW tab_detector_comparison IS 'Model comparison: every detection method on the segments of each labelled KPI, scored against kpi_anomaly_labels.';
COMMENT ON COLUMN tab_detector_comparison.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_detector_comparison.method IS 'Detection method (detect_anomalies method :=).';
COMMENT ON COLUMN tab_detector_comparison.rank IS '1 = highest F1.';
COMMENT ON COLUMN tab_detector_comparison.f1 IS 'F1 of the flagged segment time steps against the labels.';
COMMENT ON COLUMN tab_detector_comparison.point_adjusted_f1 IS 'F1 when a labelled run counts as found once any of its steps is flagged.';
COMMENT ON COLUMN tab_detector_comparison.precision IS 'Share of flags that are labelled.';
COMMENT ON COLUMN tab_detector_comparison.recall IS 'Share of labelled segment time steps flagged.';
COMMENT ON COLUMN tab_detector_comparison.tp IS 'Flagged and labelled.';
COMMENT ON COLUMN tab_detector_comparison.fp IS 'Flagged, not labelled.';
COMMENT ON COLUMN tab_detector_comparison.fn IS 'Labelled, not flagged.';

-- Every KPI's alerts over the history at the sensitivity in use; for a KPI with an alert
-- budget, every sensitivity against it (kpi_alert_budget, counted before the steps ran).
CREATE OR REPLACE VIEW tab_alert_budget AS
WITH span AS (
    SELECT kpi, coalesce(date_diff('second', min(ts)::TIMESTAMP, max(ts)::TIMESTAMP), 0) / 86400.0 / 30.4375 AS months
    FROM kpi_anomalies GROUP BY kpi
),
levels AS (
    SELECT kpi, sensitivity, incidents, months, per_month, budget, budget_per_month, meets_budget, in_use,
           chosen_by_budget
    FROM kpi_alert_budget
    UNION ALL
    SELECT c.kpi, coalesce(nullif(regexp_extract(c.detection, 'sensitivity := ''([a-z]+)''', 1), ''), 'medium'),
           n.incidents, s.months, n.incidents / nullif(s.months, 0), NULL, NULL, NULL, true, false
    FROM kpi_catalog c LEFT JOIN span s USING (kpi)
    LEFT JOIN (SELECT kpi, count(*) AS incidents FROM kpi_incidents GROUP BY kpi) n USING (kpi)
    WHERE c.kpi NOT IN (SELECT kpi FROM kpi_alert_budget)
)
SELECT l.kpi::VARCHAR AS kpi, c.label::VARCHAR AS label, l.sensitivity::VARCHAR AS sensitivity,
       coalesce(l.incidents, 0)::BIGINT AS incidents, l.months::DOUBLE AS months,
       coalesce(l.per_month, CASE WHEN l.months > 0 THEN 0 END)::DOUBLE AS per_month,
       l.budget::VARCHAR AS budget, l.budget_per_month::DOUBLE AS budget_per_month,
       l.meets_budget::BOOLEAN AS meets_budget, l.in_use::BOOLEAN AS in_use,
       l.chosen_by_budget::BOOLEAN AS chosen_by_budget
FROM levels l JOIN kpi_catalog c USING (kpi)
ORDER BY c.position, CASE l.sensitivity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END;

COMMENT ON VIEW tab_alert_budget IS 'Model comparison: the alerts (incidents) each KPI would have raised over the history at the sensitivity in use, and for a KPI with an alert budget at every sensitivity, against the budget.';
COMMENT ON COLUMN tab_alert_budget.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_alert_budget.label IS 'KPI name for display.';
COMMENT ON COLUMN tab_alert_budget.sensitivity IS 'Detection sensitivity: high, medium or low.';
COMMENT ON COLUMN tab_alert_budget.incidents IS 'Incidents detection at this sensitivity would have raised over the history (one alert each per channel).';
COMMENT ON COLUMN tab_alert_budget.months IS 'Months the history spans (30.4375 days each).';
COMMENT ON COLUMN tab_alert_budget.per_month IS 'Incidents a month.';
COMMENT ON COLUMN tab_alert_budget.budget IS 'The alert budget as written in the model (NULL: none).';
COMMENT ON COLUMN tab_alert_budget.budget_per_month IS 'The budget in alerts a month.';
COMMENT ON COLUMN tab_alert_budget.meets_budget IS 'Whether this sensitivity keeps to the budget.';
COMMENT ON COLUMN tab_alert_budget.in_use IS 'Whether refresh ran with this sensitivity.';
COMMENT ON COLUMN tab_alert_budget.chosen_by_budget IS 'Whether refresh chose it: the most sensitive level that keeps to the budget (the model names no sensitivity).';

-- Anomaly replay -------------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_replay AS
SELECT kpi::VARCHAR AS kpi, ts AS as_of, value::DOUBLE AS value, expected::DOUBLE AS expected,
       lower::DOUBLE AS lower, upper::DOUBLE AS upper, score::DOUBLE AS score, is_anomaly::BOOLEAN AS is_anomaly,
       severity::VARCHAR AS severity,
       (count(*) FILTER (is_anomaly) OVER (PARTITION BY kpi ORDER BY ts))::BIGINT AS alerts_to_date
FROM kpi_anomalies;

COMMENT ON VIEW tab_replay IS 'Anomaly replay: what the detector said at each time step with only the data known then (detection is walk-forward, so this equals a replay).';
COMMENT ON COLUMN tab_replay.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_replay.as_of IS 'Time step of the verdict.';
COMMENT ON COLUMN tab_replay.value IS 'Value at that step.';
COMMENT ON COLUMN tab_replay.expected IS 'Expectation from the steps before.';
COMMENT ON COLUMN tab_replay.lower IS 'Lower edge of the band.';
COMMENT ON COLUMN tab_replay.upper IS 'Upper edge of the band.';
COMMENT ON COLUMN tab_replay.score IS 'Anomaly score 0-100.';
COMMENT ON COLUMN tab_replay.is_anomaly IS 'Alert raised at that step.';
COMMENT ON COLUMN tab_replay.severity IS 'Severity.';
COMMENT ON COLUMN tab_replay.alerts_to_date IS 'Alerts raised up to and including that step.';

-- Incidents ------------------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_incidents AS
SELECT i.incident::BIGINT AS incident, i.kpi::VARCHAR AS kpi, c.label::VARCHAR AS label, i.start_ts AS start_ts,
       i.end_ts AS end_ts, i.steps::BIGINT AS steps,
       (i.steps || ' ' || CASE (SELECT grain FROM kpi_model) WHEN 'hourly' THEN 'hour' WHEN 'weekly' THEN 'week' ELSE 'day' END
        || CASE WHEN i.steps = 1 THEN '' ELSE 's' END)::VARCHAR AS duration,
       i.flagged_steps::BIGINT AS flagged_steps, i.direction::VARCHAR AS direction,
       i.peak_severity::VARCHAR AS peak_severity, i.peak_score::DOUBLE AS peak_score,
       i.worst_deviation_pct::DOUBLE AS worst_deviation_pct, i.main_cause::VARCHAR AS main_cause,
       i.cause_ts AS cause_ts, i.root_causes::VARCHAR AS root_causes, i.lever::VARCHAR AS lever,
       i.lever_change_pct::DOUBLE AS lever_change_pct, i.action::VARCHAR AS action,
       i.feedback::VARCHAR AS feedback, i.feedback_note::VARCHAR AS feedback_note, i.feedback_at AS feedback_at,
       i.suppressed_by::VARCHAR AS suppressed_by, i.suppression::VARCHAR AS suppression
FROM kpi_incidents i JOIN kpi_catalog c USING (kpi);

COMMENT ON VIEW tab_incidents IS 'Incidents: each run of anomalous time steps of a KPI (on one side of its band), how long it lasted, how bad it got, its root causes and the suggested action.';
COMMENT ON COLUMN tab_incidents.incident IS 'Incident number, in time order.';
COMMENT ON COLUMN tab_incidents.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_incidents.label IS 'KPI name for display.';
COMMENT ON COLUMN tab_incidents.start_ts IS 'First time step of the incident.';
COMMENT ON COLUMN tab_incidents.end_ts IS 'Last time step of the incident.';
COMMENT ON COLUMN tab_incidents.steps IS 'Time steps from start to end.';
COMMENT ON COLUMN tab_incidents.duration IS 'The span in words, e.g. 3 days.';
COMMENT ON COLUMN tab_incidents.flagged_steps IS 'Steps the detector flagged (the others stayed outside the band on the same side).';
COMMENT ON COLUMN tab_incidents.direction IS 'up or down.';
COMMENT ON COLUMN tab_incidents.peak_severity IS 'Worst severity.';
COMMENT ON COLUMN tab_incidents.peak_score IS 'Highest anomaly score.';
COMMENT ON COLUMN tab_incidents.worst_deviation_pct IS 'Largest relative deviation from expected.';
COMMENT ON COLUMN tab_incidents.main_cause IS 'The root-cause segment named most often.';
COMMENT ON COLUMN tab_incidents.cause_ts IS 'First time step whose RCA names the main cause.';
COMMENT ON COLUMN tab_incidents.root_causes IS 'Every root-cause segment named, most often first.';
COMMENT ON COLUMN tab_incidents.lever IS 'The driver that moved most in the main cause (NULL without a driver tree).';
COMMENT ON COLUMN tab_incidents.lever_change_pct IS 'Median change of that driver in the main cause over the incident, against the same time of the four weeks before.';
COMMENT ON COLUMN tab_incidents.action IS 'What to check.';
COMMENT ON COLUMN tab_incidents.feedback IS 'Verdict given in the viewer: confirmed (a real anomaly, now a label), dismissed (noise), or NULL.';
COMMENT ON COLUMN tab_incidents.feedback_note IS 'The note given with the verdict.';
COMMENT ON COLUMN tab_incidents.feedback_at IS 'When the verdict was given (UTC).';
COMMENT ON COLUMN tab_incidents.suppressed_by IS 'The dismissed incident (kpi|start|direction) of the same shape that suppresses this one: no alert is sent for it.';
COMMENT ON COLUMN tab_incidents.suppression IS 'Why it is suppressed, in words.';

-- Actions --------------------------------------------------------------------------------
CREATE OR REPLACE VIEW tab_actions AS
SELECT kpi::VARCHAR AS kpi, segment::VARCHAR AS segment, lever::VARCHAR AS lever,
       min(ts) AS first_ts, max(ts) AS last_ts, count(*)::BIGINT AS steps,
       arg_max(severity, score)::VARCHAR AS severity, max(score)::DOUBLE AS score,
       median(change)::DOUBLE AS lever_change_pct, median(contribution)::DOUBLE AS contribution,
       arg_max(action, score)::VARCHAR AS action
FROM kpi_actions
GROUP BY kpi, segment, lever;

COMMENT ON VIEW tab_actions IS 'Actions: suggested next steps, one per root-cause segment and driver-tree lever, from the RCA of each anomalous time step.';
COMMENT ON COLUMN tab_actions.kpi IS 'KPI key.';
COMMENT ON COLUMN tab_actions.segment IS 'Root-cause segment.';
COMMENT ON COLUMN tab_actions.lever IS 'Lever of the driver tree that moved most in the segment (NULL without a tree).';
COMMENT ON COLUMN tab_actions.first_ts IS 'First anomalous time step it explains.';
COMMENT ON COLUMN tab_actions.last_ts IS 'Last anomalous time step it explains.';
COMMENT ON COLUMN tab_actions.steps IS 'Anomalous time steps it explains.';
COMMENT ON COLUMN tab_actions.severity IS 'Worst severity.';
COMMENT ON COLUMN tab_actions.score IS 'Highest anomaly score.';
COMMENT ON COLUMN tab_actions.lever_change_pct IS 'Median change of the lever against the same weekday of the previous four weeks.';
COMMENT ON COLUMN tab_actions.contribution IS 'Median share of the gap explained by the segment.';
COMMENT ON COLUMN tab_actions.action IS 'What to check.';
