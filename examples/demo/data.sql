-- Demo data: synthetic daily KPIs with labelled, segment-local anomalies.
-- `kpiscope demo` fills in {days}, {seed} and {anomalies}, then refreshes with kpiscope.toml.
CREATE OR REPLACE TABLE kpi_daily AS
SELECT * FROM generate_kpi_data(days := {days}, seed := {seed}, anomalies := {anomalies});

-- Ground truth for the demo: what was injected, where and when.
CREATE OR REPLACE TABLE kpi_injected_anomalies AS
SELECT * FROM generate_kpi_anomalies(days := {days}, seed := {seed}, anomalies := {anomalies});

-- The demo's labels for scoring the detectors on segment revenue (refresh's detector comparison).
CREATE OR REPLACE TABLE kpi_anomaly_labels AS
SELECT DISTINCT day::TIMESTAMP AS ts, 'channel=' || channel || ' & region=' || region || ' & cohort=' || cohort AS segment,
       'revenue' AS kpi, injected_anomaly AS label
FROM kpi_daily WHERE injected_anomaly IS NOT NULL;

COMMENT ON TABLE kpi_daily IS 'Daily KPIs per channel, region and cohort (synthetic demo data).';
COMMENT ON TABLE kpi_injected_anomalies IS 'Anomalies injected into kpi_daily: kind, segment, days, size.';
