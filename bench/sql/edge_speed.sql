-- Inputs that used to take a minute or more, timed through the DuckDB CLI as a user runs them.
-- From the repository root, after `make build`:
--   ~/.cache/kpiscope/venv-duckdb-1.5.6/bin/duckdb -unsigned < bench/sql/edge_speed.sql
LOAD 'build/release/kpiscope.duckdb_extension';
CREATE TABLE g AS SELECT 'k' || i AS seg, (i % 7)::VARCHAR AS d2, DATE '2024-01-01' + (i % 2)::INT AS day,
    hash(i) % 1000 / 10.0 AS v, i % 3 = 0 AS lab FROM range(100000) r(i);
CREATE TABLE stray AS SELECT TIMESTAMP '2024-01-01' + to_seconds(i) AS t, (i * 31 % 17)::DOUBLE AS v FROM range(1000) r(i)
    UNION ALL SELECT TIMESTAMP '2024-01-01' + to_seconds(999000), 1.0;
CREATE TABLE dense AS SELECT TIMESTAMP '2024-01-01' + to_minutes(5 * i) AS t, sin(i / 288.0 * 6.283) + (i * 7919 % 13) / 13.0 AS v
    FROM range(100000) r(i);
.timer on
-- rca_tree, 100,000 one-row segments
SELECT count(*) FROM rca_tree('g', dimensions := ['seg'], label := 'lab');
-- rca_contributions, 100,000 leaves in one dimension, then in two
SELECT count(*) FROM rca_contributions('g', dimensions := ['seg'], ts := 'day', metric := 'v', test := DATE '2024-01-02', baseline_start := DATE '2024-01-01', baseline_end := DATE '2024-01-01');
SELECT count(*) FROM rca_contributions('g', dimensions := ['seg', 'd2'], ts := 'day', metric := 'v', test := DATE '2024-01-02', baseline_start := DATE '2024-01-01', baseline_end := DATE '2024-01-01');
-- forecast_kpi, 1,001 points over 999,000 one-second steps
SELECT count(*) FROM forecast_kpi('stray', value := 'v', horizon := 10);
-- change_points on the same, then on 100,000 five-minute points
SELECT count(*) FROM change_points('stray', value := 'v');
SELECT count(*) FROM change_points('dense', value := 'v');
-- forecast_kpi on 100,000 five-minute points
SELECT count(*) FROM forecast_kpi('dense', value := 'v', horizon := 48);
