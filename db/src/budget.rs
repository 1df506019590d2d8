//! The alert budget (`alert_budget = "2 per month"` in a KPI's detection settings): how many
//! incidents each sensitivity would have raised over the whole history, and, for a KPI
//! without an explicit `sensitivity`, the most sensitive level that keeps to the budget.
//!
//! The choice is made before the refresh steps are generated, since table functions take
//! constant arguments: every step then runs with the chosen sensitivity, and `kpi_catalog`
//! stores it, so the viewer's replay uses it too.

use crate::model::{Loaded, Plan};
use crate::DbError;
use duckdb::Connection;
use kpiscope_model::{quote_literal, Kpi};

/// The sensitivities, most sensitive first: the first that keeps to the budget wins.
const LEVELS: [&str; 3] = ["high", "medium", "low"];

/// One sensitivity of one budgeted KPI over the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// KPI key.
    pub kpi: String,
    /// `high`, `medium` or `low`.
    pub sensitivity: String,
    /// Incidents it would have raised (the rule of `kpi_incidents`).
    pub incidents: i64,
    /// Months the history spans (30.4375 days each).
    pub months: f64,
    /// The budget as written.
    pub budget: String,
    /// The budget in alerts a month.
    pub budget_per_month: f64,
    /// Whether this is the sensitivity the refresh runs with.
    pub in_use: bool,
    /// Whether refresh chose it for the budget (the model names no sensitivity).
    pub chosen: bool,
}

impl Level {
    /// Incidents a month; none when the history spans no time.
    pub fn per_month(&self) -> Option<f64> {
        (self.months > 0.0).then(|| self.incidents as f64 / self.months)
    }

    /// Whether it keeps to the budget.
    pub fn meets(&self) -> bool {
        self.per_month().map_or(self.incidents == 0, |rate| rate <= self.budget_per_month + 1e-9)
    }
}

/// Counts each budgeted KPI's incidents at every sensitivity and returns the model with the
/// chosen sensitivities filled in, and the counts.
pub fn resolve(connection: &Connection, loaded: &Loaded) -> Result<(Loaded, Vec<Level>), DbError> {
    let mut resolved = loaded.clone();
    let mut levels = Vec::new();
    let plan = Plan { model: &loaded.model, since: None };
    let facts = format!("({})", plan.facts_select(&loaded.from, "true"));
    for (index, kpi) in loaded.model.kpis.iter().enumerate() {
        let Some(budget) = &kpi.detection.alert_budget else { continue };
        let counted = count(connection, &plan, &facts, kpi)?;
        let mut rows: Vec<Level> = counted
            .into_iter()
            .map(|(sensitivity, incidents, months)| Level {
                kpi: kpi.key.clone(),
                sensitivity,
                incidents,
                months,
                budget: budget.text.clone(),
                budget_per_month: budget.per_month,
                in_use: false,
                chosen: false,
            })
            .collect();
        let in_use = match &kpi.detection.sensitivity {
            Some(explicit) => explicit.clone(),
            None => {
                // None keeps to it: the least sensitive level raises the fewest alerts.
                let pick = rows.iter().find(|r| r.meets()).map_or("low", |r| r.sensitivity.as_str()).to_string();
                rows.iter_mut().filter(|r| r.sensitivity == pick).for_each(|r| r.chosen = true);
                resolved.model.kpis[index].detection.sensitivity = Some(pick.clone());
                pick
            }
        };
        rows.iter_mut().filter(|r| r.sensitivity == in_use).for_each(|r| r.in_use = true);
        levels.extend(rows);
    }
    Ok((resolved, levels))
}

/// Per sensitivity (most sensitive first): the incidents detection on the KPI's total would
/// have raised, by the rule `kpi_incidents` uses (sql/refresh.sql: a run of time steps on one
/// side of the band with at least one flag), and the months the history spans.
fn count(connection: &Connection, plan: &Plan, facts: &str, kpi: &Kpi) -> Result<Vec<(String, i64, f64)>, DbError> {
    // A first refresh creates kpi_events in a later step; until then there are no events.
    let events = plan.events();
    let events = match connection.execute_batch(&format!("SELECT * FROM query_table({events}) LIMIT 0")) {
        Ok(()) => format!(", events := {events}"),
        Err(_) => String::new(),
    };
    let mut settings = kpi.detection.clone();
    let detections: Vec<String> = LEVELS
        .iter()
        .map(|level| {
            settings.sensitivity = Some(level.to_string());
            format!(
                "SELECT {level} AS sensitivity, ts, value, expected, lower, upper, is_anomaly FROM detect_anomalies({facts}, \
                 ts := {ts}, value := {value}{events}{args})",
                level = quote_literal(level),
                facts = quote_literal(facts),
                ts = quote_literal(&plan.model.time.name),
                value = quote_literal(&kpi.measure.value_sql()),
                args = settings.arguments(),
            )
        })
        .collect();
    let sql = format!(
        "WITH d AS ({}),
         sides AS (
             SELECT sensitivity, ts, is_anomaly,
                    CASE WHEN is_anomaly THEN sign(value - expected) WHEN value > greatest(lower, upper) THEN 1
                         WHEN value < least(lower, upper) THEN -1 ELSE 0 END AS side
             FROM d),
         islands AS (
             SELECT *, sum(CASE WHEN side <> coalesce(previous, 0) THEN 1 ELSE 0 END)
                       OVER (PARTITION BY sensitivity ORDER BY ts) AS island
             FROM (SELECT *, lag(side) OVER (PARTITION BY sensitivity ORDER BY ts) AS previous FROM sides)),
         runs AS (
             SELECT sensitivity, island FROM islands WHERE side <> 0 GROUP BY ALL
             HAVING count(*) FILTER (is_anomaly) > 0),
         span AS (
             SELECT coalesce(date_diff('second', min(ts)::TIMESTAMP, max(ts)::TIMESTAMP), 0) / 86400.0 / 30.4375 AS months
             FROM d)
         SELECT l.sensitivity, (SELECT count(*) FROM runs r WHERE r.sensitivity = l.sensitivity), (SELECT months FROM span)
         FROM (VALUES {}) l(sensitivity, position) ORDER BY l.position",
        detections.join(" UNION ALL "),
        LEVELS.iter().enumerate().map(|(i, l)| format!("({}, {i})", quote_literal(l))).collect::<Vec<_>>().join(", "),
    );
    let script = |source| DbError::Script { script: format!("the alert budget of {}", kpi.key), source };
    let mut statement = connection.prepare(&sql).map_err(script)?;
    let rows = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .and_then(|rows| rows.collect())
        .map_err(script)?;
    Ok(rows)
}

/// The step that stores the counts as `kpi_alert_budget`.
pub fn table(levels: &[Level]) -> String {
    let mut sql = String::from(
        "CREATE OR REPLACE TABLE kpi_alert_budget (kpi VARCHAR, sensitivity VARCHAR, incidents BIGINT, months DOUBLE, \
         per_month DOUBLE, budget VARCHAR, budget_per_month DOUBLE, meets_budget BOOLEAN, in_use BOOLEAN, \
         chosen_by_budget BOOLEAN);\n",
    );
    for l in levels {
        sql.push_str(&format!(
            "INSERT INTO kpi_alert_budget VALUES ({}, {}, {}, {:?}, {}, {}, {:?}, {}, {}, {});\n",
            quote_literal(&l.kpi),
            quote_literal(&l.sensitivity),
            l.incidents,
            l.months,
            l.per_month().map_or("NULL".into(), |r| format!("{r:?}")),
            quote_literal(&l.budget),
            l.budget_per_month,
            l.meets(),
            l.in_use,
            l.chosen,
        ));
    }
    sql.push_str(
        "COMMENT ON TABLE kpi_alert_budget IS 'For each KPI with an alert budget: the incidents every sensitivity would \
         have raised over the history, the rate a month against the budget, the sensitivity in use and whether \
         refresh chose it for the budget.';\n",
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(incidents: i64, months: f64) -> Level {
        Level {
            kpi: "k".into(),
            sensitivity: "high".into(),
            incidents,
            months,
            budget: "2 per month".into(),
            budget_per_month: 2.0,
            in_use: false,
            chosen: false,
        }
    }

    #[test]
    fn a_level_meets_the_budget_by_its_rate_a_month() {
        assert!(level(24, 12.0).meets());
        assert!(!level(25, 12.0).meets());
        assert_eq!(level(6, 3.0).per_month(), Some(2.0));
        // No time spanned: only no incident at all keeps to a budget.
        assert!(level(0, 0.0).meets() && !level(1, 0.0).meets());
    }

    #[test]
    fn the_table_step_writes_one_row_per_level_with_null_rates_for_no_span() {
        let sql = table(&[level(3, 0.0), level(3, 1.5)]);
        assert_eq!(sql.matches("INSERT INTO kpi_alert_budget").count(), 2);
        assert!(sql.contains("3, 0.0, NULL, '2 per month', 2.0, false"), "{sql}");
        assert!(sql.contains("3, 1.5, 2.0, '2 per month', 2.0, true"), "{sql}");
    }
}
