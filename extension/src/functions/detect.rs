//! `detect_anomalies(source, ts := ..., value := ..., group_by := [...], method := ...,
//! sensitivity := ..., period := ...)`.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::source::{quote_ident, Side, Source};
use crate::table::{ResultTable, Values};
use duckdb::vtab::BindInfo;
use kpiscope_engine::detect::{detect, DetectConfig, Method, Sensitivity, MAX_PERIOD};
use kpiscope_engine::MICROS_PER_DAY;

const PARAMS: &[(&str, Kind)] = &[
    ("ts", Kind::Text),
    ("value", Kind::Text),
    ("group_by", Kind::TextList),
    ("method", Kind::Text),
    ("sensitivity", Kind::Text),
    ("period", Kind::Integer),
];

/// Output columns after the group columns; a group column may not reuse these names.
const OUTPUT: &[&str] =
    &["ts", "value", "expected", "lower", "upper", "score", "is_anomaly", "severity", "explanation"];

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
    let config = DetectConfig {
        method: params::text(bind, "method")?.map(|m| Method::parse(&m)).transpose().map_err(fail)?,
        sensitivity: params::text(bind, "sensitivity")?
            .map(|s| Sensitivity::parse(&s))
            .transpose()
            .map_err(fail)?
            .unwrap_or_default(),
        period: params::integer(bind, "period", 1, MAX_PERIOD as i64)?.map(|p| p as usize),
    };

    let groups_sql: Vec<String> = group_by.iter().map(|g| format!("CAST({} AS VARCHAR)", quote_ident(g))).collect();
    let ts_sql = quote_ident(&ts);
    let select_groups = groups_sql.iter().map(|g| format!("{g}, ")).collect::<String>();
    let sql = format!(
        "SELECT {select_groups}epoch_us(CAST({ts_sql} AS TIMESTAMP)) AS kpiscope_ts, \
         CAST({value_sql} AS DOUBLE) AS kpiscope_value \
         FROM {from} WHERE {ts_sql} IS NOT NULL GROUP BY ALL ORDER BY ALL",
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

    let mut table = Output::new(width, is_date);
    for group in rows.chunk_by(|a, b| a.0 == b.0) {
        let ts: Vec<i64> = group.iter().map(|r| r.1).collect();
        let values: Vec<Option<f64>> = group.iter().map(|r| r.2).collect();
        let verdicts = detect(&ts, &values, &config).map_err(fail)?;
        for (row, verdict) in group.iter().zip(verdicts) {
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
        let named = [
            ts,
            Values::Double(self.value),
            Values::Double(self.expected),
            Values::Double(self.lower),
            Values::Double(self.upper),
            Values::Double(self.score),
            Values::Boolean(self.is_anomaly),
            Values::Varchar(self.severity),
            Values::Varchar(self.explanation),
        ];
        columns.extend(OUTPUT.iter().map(|n| n.to_string()).zip(named));
        ResultTable::new(columns)
    }
}

materialized_vtab!(DetectAnomalies, "detect_anomalies", compute, positional: &[Kind::Text], named: PARAMS);
