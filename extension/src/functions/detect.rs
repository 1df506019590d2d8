//! `detect_anomalies(source, ts := ..., value := ..., group_by := [...], method := ...,
//! sensitivity := ..., period := ...)`.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::series::{self, Spec};
use crate::source::{explain, quote_ident, Reader, Side, Source};
use crate::table::{ResultTable, Values};
use duckdb::vtab::BindInfo;
use kpiscope_engine::detect::{
    detect_many, DetectConfig, Direction, Event, Method, NoiseControls, Sensitivity, SeriesRef,
};

const PARAMS: &[(&str, Kind)] = &[
    ("ts", Kind::Text),
    ("value", Kind::Text),
    ("group_by", Kind::TextList),
    ("method", Kind::Text),
    ("sensitivity", Kind::Text),
    ("period", Kind::Integer),
    ("direction", Kind::Text),
    ("min_delta", Kind::Double),
    ("min_pct", Kind::Double),
    ("min_history", Kind::Integer),
    ("cooldown", Kind::Integer),
    ("as_of", Kind::Timestamp),
    ("events", Kind::Text),
];

/// Output columns after the group columns; a group column may not reuse these names.
const OUTPUT: &[&str] = &[
    "ts",
    "value",
    "expected",
    "lower",
    "upper",
    "score",
    "is_anomaly",
    "severity",
    "incident_id",
    "incident_start",
    "explanation",
];

/// The `method` and `sensitivity` parameters, shared with `rca_anomalies`.
pub(super) fn method_and_sensitivity(bind: &BindInfo) -> CallResult<(Method, Sensitivity)> {
    let method = params::text(bind, "method")?.map(|m| Method::parse(&m)).transpose().map_err(fail)?;
    let sensitivity = params::text(bind, "sensitivity")?.map(|s| Sensitivity::parse(&s)).transpose().map_err(fail)?;
    Ok((method.unwrap_or_default(), sensitivity.unwrap_or_default()))
}

fn compute(bind: &BindInfo) -> CallResult<ResultTable> {
    let text = |name| params::text(bind, name);
    let mut spec = Spec::parse(bind)?;
    spec.as_of = params::timestamp(bind, "as_of")?;
    let (method, sensitivity) = method_and_sensitivity(bind)?;
    let mut config = DetectConfig {
        method,
        sensitivity,
        period: super::period(bind)?,
        noise: NoiseControls {
            min_delta: params::double(bind, "min_delta", 0.0, f64::MAX)?.unwrap_or(0.0),
            min_pct: params::double(bind, "min_pct", 0.0, f64::MAX)?.unwrap_or(0.0),
            direction: text("direction")?.map(|d| Direction::parse(&d)).transpose().map_err(fail)?.unwrap_or_default(),
            min_history: params::integer(bind, "min_history", 0, 1_000_000)?.unwrap_or(0) as usize,
            cooldown: params::integer(bind, "cooldown", 0, 1_000_000)?.map(|c| c as usize),
        },
        events: Vec::new(),
    };
    let events = text("events")?;
    let value = spec.value.clone();
    let reader = Side::of(bind)?.reader()?;
    if let Some(name) = events {
        config.events = read_events(&reader, &name)?;
    }
    let input = spec.read(&reader, OUTPUT)?;
    drop(reader);
    let refs: Vec<SeriesRef<'_>> = input.groups.iter().map(|g| (g.ts.as_slice(), g.values.as_slice())).collect();
    let mut table = Output::new(input.group_by.len(), input.is_date);
    for (group, verdicts) in input.groups.iter().zip(detect_many(&refs, &config)) {
        let verdicts = verdicts.map_err(|e| input.error(&value, group, e))?;
        for ((ts, value), verdict) in group.ts.iter().zip(&group.values).zip(verdicts) {
            table.push(&group.key, *ts, *value, verdict);
        }
    }
    Ok(table.finish(&input.group_by))
}

/// The `events` table: its one DATE or TIMESTAMP column gives the day, `name` what happened,
/// and an optional BOOLEAN `suppress` (default true) whether that day's points may be flagged.
fn read_events(reader: &Reader, name: &str) -> CallResult<Vec<Event>> {
    let events = Source::open(reader, "events", name)?;
    let day = events.time_column(None)?;
    events.require_column("events", "name")?;
    let suppress = match events.require_column("events", "suppress") {
        Ok(_) => events.condition("events", "suppress")?,
        Err(_) => "true".to_string(),
    };
    let sql = format!(
        "SELECT CAST(CAST({} AS DATE) - DATE '1970-01-01' AS INTEGER), CAST(name AS VARCHAR), {suppress} FROM {}",
        quote_ident(&day),
        events.from()
    );
    reader
        .query(&sql, |row| {
            Ok((row.get::<_, Option<i32>>(0)?, row.get::<_, Option<String>>(1)?, row.get::<_, Option<bool>>(2)?))
        })
        .map_err(|e| fail(format!("cannot read events '{}': {}", events.name(), explain(&e))))?
        .into_iter()
        .filter_map(|(day, name, suppress)| {
            day.map(|day| Event {
                day,
                name: name.unwrap_or_else(|| "event".into()),
                suppress: suppress.unwrap_or(true),
            })
        })
        .map(Ok)
        .collect()
}

/// Result columns as they fill up.
struct Output {
    groups: Vec<Vec<Option<String>>>,
    is_date: bool,
    ts: Vec<i64>,
    value: Vec<Option<f64>>,
    expected: Vec<Option<f64>>,
    lower: Vec<Option<f64>>,
    upper: Vec<Option<f64>>,
    score: Vec<Option<f64>>,
    is_anomaly: Vec<Option<bool>>,
    severity: Vec<Option<String>>,
    incident_id: Vec<Option<i64>>,
    incident_start: Vec<Option<bool>>,
    explanation: Vec<Option<String>>,
}

impl Output {
    fn new(width: usize, is_date: bool) -> Self {
        Self {
            groups: vec![Vec::new(); width],
            is_date,
            ts: Vec::new(),
            value: Vec::new(),
            expected: Vec::new(),
            lower: Vec::new(),
            upper: Vec::new(),
            score: Vec::new(),
            is_anomaly: Vec::new(),
            severity: Vec::new(),
            incident_id: Vec::new(),
            incident_start: Vec::new(),
            explanation: Vec::new(),
        }
    }

    fn push(
        &mut self,
        key: &[Option<String>],
        ts: i64,
        value: Option<f64>,
        verdict: kpiscope_engine::detect::Detection,
    ) {
        for (column, key) in self.groups.iter_mut().zip(key) {
            column.push(key.clone());
        }
        self.ts.push(ts);
        self.value.push(value);
        self.expected.push(verdict.expected);
        self.lower.push(verdict.lower);
        self.upper.push(verdict.upper);
        self.score.push(verdict.score);
        self.is_anomaly.push(Some(verdict.is_anomaly));
        self.severity.push(Some(verdict.severity.as_str().to_string()));
        self.incident_id.push(verdict.incident_id.map(i64::from));
        self.incident_start.push(Some(verdict.incident_start));
        self.explanation.push(Some(verdict.explanation));
    }

    fn finish(self, group_by: &[String]) -> ResultTable {
        let mut columns: Vec<(String, Values)> =
            group_by.iter().cloned().zip(self.groups.into_iter().map(Values::Varchar)).collect();
        let ts = series::ts_values(self.is_date, self.ts);
        columns.extend([
            ("ts".to_string(), ts),
            ("value".to_string(), Values::Double(self.value)),
            ("expected".to_string(), Values::Double(self.expected)),
            ("lower".to_string(), Values::Double(self.lower)),
            ("upper".to_string(), Values::Double(self.upper)),
            ("score".to_string(), Values::Double(self.score)),
            ("is_anomaly".to_string(), Values::Boolean(self.is_anomaly)),
            ("severity".to_string(), Values::Varchar(self.severity)),
            ("incident_id".to_string(), Values::BigInt(self.incident_id)),
            ("incident_start".to_string(), Values::Boolean(self.incident_start)),
            ("explanation".to_string(), Values::Varchar(self.explanation)),
        ]);
        ResultTable::new(columns)
    }
}

materialized_vtab!(DetectAnomalies, "detect_anomalies", compute, positional: &[Kind::Text], named: PARAMS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_output_names_match_the_columns() {
        let table = Output::new(1, true).finish(&["region".to_string()]);
        let mut expected = vec!["region"];
        expected.extend(OUTPUT);
        assert_eq!(table.names(), expected);
    }
}
