-- The fixed steps of `kpiscope refresh`, after the analyses the KPI model generates (see
-- db/src/model.rs): each `-- step:` line starts one. Refresh runs every step on a copy of
-- the database and swaps the copy into place, so readers never see a half-refreshed state.

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
