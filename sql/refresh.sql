-- The fixed steps of `kpiscope refresh`, after the analyses the KPI model generates (see
-- db/src/model.rs): each `-- step:` line starts one. Refresh runs every step on a copy of
-- the database and swaps the copy into place, so readers never see a half-refreshed state.

-- step: incidents
-- One row per incident: a run of time steps of one KPI on the same side of its normal band
-- that holds at least one flagged step (a flag inside the band counts on the side of its
-- change), so a shift that stays out of the band after its first flagged day lasts as long
-- as the data says. Its root causes are the segments RCA named on its steps (most often
-- first), its action the one suggested most often for the main cause.
CREATE OR REPLACE TABLE kpi_incidents AS
WITH steps AS (
    SELECT kpi, ts, value, expected, score, severity, is_anomaly,
           CASE WHEN is_anomaly THEN sign(value - expected)
                WHEN value > greatest(lower, upper) THEN 1 WHEN value < least(lower, upper) THEN -1 ELSE 0 END AS side
    FROM kpi_anomalies
),
islands AS (
    SELECT *, sum(CASE WHEN side <> coalesce(previous, 0) THEN 1 ELSE 0 END) OVER (PARTITION BY kpi ORDER BY ts) AS island
    FROM (SELECT *, lag(side) OVER (PARTITION BY kpi ORDER BY ts) AS previous FROM steps)
),
runs AS (
    SELECT kpi, island, min(ts) AS start_ts, max(ts) AS end_ts, count(*) AS steps,
           count(*) FILTER (is_anomaly) AS flagged_steps, max(score) FILTER (is_anomaly) AS peak_score,
           arg_max(severity, score) FILTER (is_anomaly) AS peak_severity,
           arg_max(value / nullif(expected, 0) - 1, abs(value / nullif(expected, 0) - 1)) AS worst_deviation_pct,
           any_value(side) AS direction
    FROM islands WHERE side <> 0 GROUP BY kpi, island HAVING count(*) FILTER (is_anomaly) > 0
),
causes AS (
    SELECT r.kpi, r.island, c.segment, count(*) AS n, min(c.ts) AS first_ts
    FROM runs r JOIN kpi_rca c ON c.kpi = r.kpi AND c.is_root_cause AND c.ts BETWEEN r.start_ts AND r.end_ts
    GROUP BY ALL
),
cause_lists AS (
    SELECT kpi, island, string_agg(segment, '; ' ORDER BY n DESC, first_ts, segment) AS root_causes,
           -- Ordered, not arg_max: causes named as often from the same step tie, and a tie
           -- must not follow the rows' physical order (an incremental refresh appends them).
           first(segment ORDER BY n DESC, first_ts, segment) AS main_cause,
           first(first_ts ORDER BY n DESC, first_ts, segment) AS cause_ts
    FROM causes GROUP BY ALL
),
-- The lever named most often for the main cause, with its median change over the incident.
actions AS (
    SELECT kpi, island, lever, action, lever_change_pct
    FROM (SELECT r.kpi, r.island, a.lever, mode(a.action) AS action, median(a.change) AS lever_change_pct,
                 count(*) AS n, max(a.score) AS top
          FROM runs r JOIN cause_lists l USING (kpi, island)
          JOIN kpi_actions a ON a.kpi = r.kpi AND a.segment = l.main_cause AND a.ts BETWEEN r.start_ts AND r.end_ts
          GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY kpi, island ORDER BY n DESC, top DESC, lever NULLS LAST) = 1
),
numbered AS (
    SELECT row_number() OVER (ORDER BY r.start_ts, c.position)::BIGINT AS incident, r.kpi, r.start_ts, r.end_ts,
           r.steps::BIGINT AS steps, r.flagged_steps::BIGINT AS flagged_steps,
           CASE r.direction WHEN 1 THEN 'up' ELSE 'down' END AS direction, r.peak_severity, r.peak_score,
           r.worst_deviation_pct, l.main_cause, l.cause_ts, l.root_causes, a.lever, a.lever_change_pct, a.action
    FROM runs r JOIN kpi_catalog c USING (kpi)
    LEFT JOIN cause_lists l USING (kpi, island) LEFT JOIN actions a USING (kpi, island)
),
-- The verdict given in the viewer (kpi_feedback, matched on KPI, first step and direction).
judged AS (
    SELECT n.*, f.verdict AS feedback, f.note AS feedback_note, f.given_at AS feedback_at
    FROM numbered n LEFT JOIN kpi_feedback f
      ON f.kpi = n.kpi AND f.start_ts = CAST(n.start_ts AS VARCHAR) AND f.direction = n.direction
),
-- An incident without a verdict of its own is suppressed by the latest dismissed one before
-- it of the same shape: same KPI, direction and main cause (or both without one), and a worst
-- deviation at most 1.5 times the dismissed one's (a much larger move is news again).
suppressions AS (
    SELECT j.incident, d.kpi || '|' || CAST(d.start_ts AS VARCHAR) || '|' || d.direction AS suppressed_by,
           'Suppressed: like incident ' || d.incident || ' (' || CAST(d.start_ts AS VARCHAR) || ', '
           || coalesce(d.main_cause, 'no root cause') || ', ' || d.direction || ' '
           || printf('%.1f%%', 100 * abs(d.worst_deviation_pct)) || '), dismissed on '
           || coalesce(strftime(d.feedback_at, '%Y-%m-%d'), 'an unknown day')
           || coalesce(': ' || nullif(d.feedback_note, ''), '') || '.' AS suppression
    FROM judged j JOIN judged d
      ON d.feedback = 'dismissed' AND d.kpi = j.kpi AND d.direction = j.direction
     AND d.main_cause IS NOT DISTINCT FROM j.main_cause AND d.start_ts < j.start_ts
     AND abs(j.worst_deviation_pct) <= 1.5 * abs(d.worst_deviation_pct)
    WHERE j.feedback IS NULL
    QUALIFY row_number() OVER (PARTITION BY j.incident ORDER BY d.start_ts DESC) = 1
)
SELECT j.*, s.suppressed_by, s.suppression
FROM judged j LEFT JOIN suppressions s USING (incident)
ORDER BY j.incident;
COMMENT ON TABLE kpi_incidents IS 'Incidents: runs of time steps of a KPI on one side of its normal band with at least one flagged step; their span, peak severity, worst deviation, root causes, suggested action, the verdict given in the viewer and whether a dismissed incident suppresses it.';

-- step: refresh stamp
CREATE OR REPLACE TABLE kpi_refresh AS
SELECT now()::TIMESTAMP AS refreshed_at, min(ts) AS data_from, max(ts) AS data_to,
       (SELECT count(*) FROM kpi_facts) AS rows, (SELECT count(*) FROM kpi_catalog) AS kpis,
       (SELECT grain FROM kpi_model) AS grain, (SELECT title FROM kpi_model) AS title,
       (SELECT count(*) || ':' || coalesce(sum(hash(ts, segment, kpi, label)), 0) FROM kpi_anomaly_labels) AS labels
FROM kpi_anomalies;
COMMENT ON TABLE kpi_refresh IS 'When refresh last ran and which time steps of the source it covered (the viewer''s "data as of" stamp); labels fingerprints kpi_anomaly_labels for incremental refreshes.';

-- step: report register
-- Exported reports are recorded here by `kpiscope report`; kept across refreshes.
CREATE TABLE IF NOT EXISTS kpi_reports (
    report VARCHAR, as_of DATE, format VARCHAR, file VARCHAR, bytes BIGINT, sha256 VARCHAR,
    created_at TIMESTAMP);
COMMENT ON TABLE kpi_reports IS 'Reports written by `kpiscope report`: file name, format, as-of day, size, checksum.';
