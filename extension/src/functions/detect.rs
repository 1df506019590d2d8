//! `detect_anomalies(source, ts := ..., value := ..., group_by := [...], method := ...,
//! sensitivity := ..., period := ...)`.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::source::{quote_ident, Side, Source};
use crate::table::{ResultTable, Values};
use duckdb::vtab::BindInfo;
use kpiscope_engine::detect::{
    detect_many, DetectConfig, Direction, Method, NoiseControls, Sensitivity, SeriesRef, MAX_PERIOD,
};
use kpiscope_engine::MICROS_PER_DAY;

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

/// One aggregated input row: group key, timestamp (microseconds), value.
type InputRow = (Vec<Option<String>>, i64, Option<f64>);

fn compute(bind: &BindInfo) -> CallResult<ResultTable> {
    let side = Side::of(bind)?;
    let source = Source::open(&side, &bind.get_parameter(0).to_string())?;
    let ts = match params::text(bind, "ts")? {
        Some(ts) => ts,
        None => source.sole_temporal_column()?,
    };
    let is_date = source.require_temporal("ts", &ts)?;
    let value = params::text(bind, "value")?
        .ok_or_else(|| fail("value is required: a numeric column (summed per timestamp) or an aggregate such as 'sum(orders) / sum(sessions)'"))?;
    let value_sql = source.value_expression(&value)?;
    let group_by = params::text_list(bind, "group_by")?;
    for column in &group_by {
        source.require_column("group_by", column)?;
        if OUTPUT.contains(&column.as_str()) {
            return Err(fail(format!(
                "group_by column '{column}' clashes with an output column; rename it in a query"
            )));
        }
    }
    let text = |name| params::text(bind, name);
    let config = DetectConfig {
        method: text("method")?.map(|m| Method::parse(&m)).transpose().map_err(fail)?.unwrap_or_default(),
        sensitivity: text("sensitivity")?
            .map(|s| Sensitivity::parse(&s))
            .transpose()
            .map_err(fail)?
            .unwrap_or_default(),
        period: params::integer(bind, "period", 1, MAX_PERIOD as i64)?.map(|p| p as usize),
        noise: NoiseControls {
            min_delta: params::double(bind, "min_delta", 0.0, f64::MAX)?.unwrap_or(0.0),
            min_pct: params::double(bind, "min_pct", 0.0, f64::MAX)?.unwrap_or(0.0),
            direction: text("direction")?.map(|d| Direction::parse(&d)).transpose().map_err(fail)?.unwrap_or_default(),
            min_history: params::integer(bind, "min_history", 0, 1_000_000)?.unwrap_or(0) as usize,
            cooldown: params::integer(bind, "cooldown", 0, 1_000_000)?.unwrap_or(0) as usize,
        },
    };
    let ts_sql = quote_ident(&ts);
    // Replay: only rows known at `as_of` are read, so the verdicts are what was known then.
    let as_of = params::timestamp(bind, "as_of")?
        .map(|t| format!(" AND CAST({ts_sql} AS TIMESTAMP) <= TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f")))
        .unwrap_or_default();

    let groups_sql: Vec<String> = group_by.iter().map(|g| format!("CAST({} AS VARCHAR)", quote_ident(g))).collect();
    let select_groups = groups_sql.iter().map(|g| format!("{g}, ")).collect::<String>();
    let sql = format!(
        "SELECT {select_groups}epoch_us(CAST({ts_sql} AS TIMESTAMP)) AS kpiscope_ts, \
         CAST({value_sql} AS DOUBLE) AS kpiscope_value \
         FROM {from} WHERE {ts_sql} IS NOT NULL{as_of} GROUP BY ALL ORDER BY ALL",
        from = source.from()
    );
    let width = group_by.len();
    let rows: Vec<InputRow> = side
        .query(&sql, |row| {
            let key = (0..width).map(|i| row.get::<_, Option<String>>(i)).collect::<Result<Vec<_>, _>>()?;
            Ok((key, row.get(width)?, row.get(width + 1)?))
        })
        .map_err(|e| {
            fail(format!("cannot compute value '{value}' from '{}': {}", source.name(), e.to_string().trim_end()))
        })?;

    let groups: Vec<&[InputRow]> = rows.chunk_by(|a, b| a.0 == b.0).collect();
    let columns: Vec<(Vec<i64>, Vec<Option<f64>>)> =
        groups.iter().map(|g| (g.iter().map(|r| r.1).collect(), g.iter().map(|r| r.2).collect())).collect();
    let series: Vec<SeriesRef<'_>> = columns.iter().map(|(ts, values)| (ts.as_slice(), values.as_slice())).collect();
    let mut table = Output::new(width, is_date);
    for (group, verdicts) in groups.iter().zip(detect_many(&series, &config)) {
        for (row, verdict) in group.iter().zip(verdicts.map_err(fail)?) {
            table.push(row, verdict);
        }
    }
    Ok(table.finish(&group_by))
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

    fn push(&mut self, row: &InputRow, verdict: kpiscope_engine::detect::Detection) {
        for (column, key) in self.groups.iter_mut().zip(&row.0) {
            column.push(key.clone());
        }
        self.ts.push(row.1);
        self.value.push(row.2);
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
        let ts = if self.is_date {
            Values::Date(self.ts.iter().map(|t| Some(t.div_euclid(MICROS_PER_DAY) as i32)).collect())
        } else {
            Values::Timestamp(self.ts.into_iter().map(Some).collect())
        };
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
