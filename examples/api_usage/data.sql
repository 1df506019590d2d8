-- A second example, shaped nothing like the demo: hourly API usage of a SaaS, one row per
-- (hour, datacenter, plan, client, endpoint, user) with the calls that user made and how many
-- failed. Five weeks, a daily rhythm with quiet weekends, and two injected incidents:
--   - day 31, 10:00-12:00: datacenter=fra, endpoint=checkout fails a third of its calls;
--   - day 33, 14:00-17:00: plan=free on client=android loses 70% of its traffic.
-- Generated with DuckDB alone (hash-based noise, so the same every time):
--   duckdb api.duckdb < examples/api_usage/data.sql
CREATE OR REPLACE TABLE api_usage AS
WITH hours AS (
    SELECT TIMESTAMP '2025-03-03 00:00:00' + to_hours(h) AS hour_start, h FROM range(35 * 24) r(h)
),
cells AS (
    SELECT * FROM (VALUES ('fra'), ('iad')) d(datacenter),
                  (VALUES ('free', 6), ('team', 3), ('enterprise', 2)) p(plan, users),
                  (VALUES ('web'), ('android')) c(client),
                  (VALUES ('search', 5), ('checkout', 2), ('profile', 1)) e(endpoint, weight)
),
shape AS (
    SELECT h.hour_start, h.h, c.*,
           -- daily rhythm, weekends at 60%
           (0.35 + 0.65 * greatest(sin((h.h % 24 - 6) / 24.0 * 2 * pi()), 0))
             * CASE WHEN dayofweek(h.hour_start) IN (0, 6) THEN 0.6 ELSE 1.0 END AS level
    FROM hours h, cells c
),
users AS (
    -- fewer users at night and on weekends, and fewer on the android free tier during its incident
    SELECT s.*, u AS user_slot FROM shape s, range(6) r(u)
    WHERE u < s.users
      AND (hash(s.h, s.datacenter, s.plan, s.client, s.endpoint, u) % 100) < 100 * s.level
          * CASE WHEN s.plan = 'free' AND s.client = 'android' AND s.h BETWEEN 33 * 24 + 14 AND 33 * 24 + 17 THEN 0.3 ELSE 1 END
)
SELECT hour_start, datacenter, plan, client, endpoint,
       plan || '-' || client || '-' || user_slot AS user_id,
       calls, errors
FROM (
    SELECT *,
           greatest(1, round(weight * 12 * level
               * CASE WHEN plan = 'free' AND client = 'android' AND h BETWEEN 33 * 24 + 14 AND 33 * 24 + 17 THEN 0.3 ELSE 1 END
               * (0.85 + (hash(h, datacenter, plan, client, endpoint, user_slot) % 1000) / 3333.0)))::BIGINT AS calls
    FROM users
) t,
LATERAL (SELECT round(calls * CASE
    WHEN datacenter = 'fra' AND endpoint = 'checkout' AND h BETWEEN 31 * 24 + 10 AND 31 * 24 + 12 THEN 0.33
    ELSE 0.01 + (hash(h, user_slot, endpoint, datacenter) % 100) / 10000.0 END)::BIGINT AS errors) e;

COMMENT ON TABLE api_usage IS 'Example data: hourly API calls and errors per datacenter, plan, client, endpoint and user.';
