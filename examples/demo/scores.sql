-- Precision and recall of the refreshed anomaly flags against the injected labels:
-- on the daily revenue total (a day is anomalous when any segment carries a label) and
-- per segment (each channel x region x cohort row against its own label).
WITH total_labels AS (
    SELECT day, bool_or(injected_anomaly IS NOT NULL) AS label FROM kpi_daily GROUP BY day
),
total AS (
    SELECT 'daily total' AS level, a.is_anomaly AS flagged, l.label
    FROM kpi_anomalies a JOIN total_labels l ON a.ts = l.day
    WHERE a.kpi = 'revenue'
),
segment AS (
    SELECT 'per segment' AS level, a.is_anomaly AS flagged, d.injected_anomaly IS NOT NULL AS label
    FROM kpi_segment_anomalies a
    JOIN kpi_daily d ON a.ts = d.day AND a.channel = d.channel AND a.region = d.region AND a.cohort = d.cohort
    WHERE a.kpi = 'revenue'
),
counts AS (
    SELECT level,
           count(*) FILTER (flagged AND label) AS tp,
           count(*) FILTER (flagged AND NOT label) AS fp,
           count(*) FILTER (NOT flagged AND label) AS fn
    FROM (FROM total UNION ALL FROM segment)
    GROUP BY level
)
SELECT level, tp, fp, fn,
       round(tp / nullif(tp + fp, 0), 3) AS precision,
       round(tp / nullif(tp + fn, 0), 3) AS recall,
       round(2 * tp / nullif(2 * tp + fp + fn, 0), 3) AS f1
FROM counts ORDER BY level;
