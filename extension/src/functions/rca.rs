//! Root-cause analysis functions.
//!
//! `rca_contributions(source, dimensions := [...], ...)`: which segments moved a KPI, said in
//! one of two ways:
//! - explicit: `actual := 'real', expected := 'predict'`, one row per leaf; for a derived
//!   (ratio) KPI `actual_numerator :=, actual_denominator :=, expected_numerator :=,
//!   expected_denominator :=`;
//! - time-based: `ts := 'day', metric := 'revenue'` (or `numerator := 'orders',
//!   denominator := 'sessions'` for a ratio), `test := DATE '...'` (or a TIMESTAMP, for hourly
//!   data) against `baseline := 'previous_7d' | 'same_weekday_4w'` or `baseline_start :=,
//!   baseline_end :=`.
//!
//! `rca_anomalies(source, ts := ..., metric := ..., dimensions := [...], top := 3, ...)`:
//! detection on the KPI's total, then the top segments behind every anomalous time step; or,
//! with `anomalies := 'table'`, the top segments behind the times that table lists.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::source::{explain, key_sql, quote_ident, text_column, typed, Reader, Side, Source};
use crate::table::ResultTable;
use duckdb::arrow::array::{Array, Float64Array, Int64Array};
use duckdb::vtab::BindInfo;
use kpiscope_engine::rca::{
    anomalies_table, contributions_table, max_depth, top, Baseline, Leaves, LeavesBuilder, Step, Steps, TimedLeaves,
};

const CONTRIBUTION_PARAMS: &[(&str, Kind)] = &[
    ("dimensions", Kind::TextList),
    ("actual", Kind::Text),
    ("expected", Kind::Text),
    ("actual_numerator", Kind::Text),
    ("actual_denominator", Kind::Text),
    ("expected_numerator", Kind::Text),
    ("expected_denominator", Kind::Text),
    ("ts", Kind::Text),
    ("metric", Kind::Text),
    ("numerator", Kind::Text),
    ("denominator", Kind::Text),
    ("test", Kind::Timestamp),
    ("baseline", Kind::Text),
    ("baseline_start", Kind::Timestamp),
    ("baseline_end", Kind::Timestamp),
    ("max_depth", Kind::Integer),
];

const ANOMALY_PARAMS: &[(&str, Kind)] = &[
    ("dimensions", Kind::TextList),
    ("ts", Kind::Text),
    ("metric", Kind::Text),
    ("numerator", Kind::Text),
    ("denominator", Kind::Text),
    ("baseline", Kind::Text),
    ("max_depth", Kind::Integer),
    ("top", Kind::Integer),
    ("method", Kind::Text),
    ("sensitivity", Kind::Text),
    ("anomalies", Kind::Text),
];

fn summed(source: &Source, role: &str, column: &str) -> CallResult<String> {
    source.value_expression(column).and_then(|sql| {
        if sql.starts_with("sum(") {
            Ok(sql)
        } else {
            Err(fail(format!("{role} must be a numeric column, got '{column}'")))
        }
    })
}

/// The validated dimension columns and search depth shared by both functions.
fn dimensions(bind: &BindInfo, source: &Source) -> CallResult<(Vec<String>, usize)> {
    let dimensions = params::text_list(bind, "dimensions")?;
    if dimensions.is_empty() || dimensions.len() > 8 {
        return Err(fail("dimensions must list 1 to 8 columns to break the change down by"));
    }
    source.require_columns("dimensions", &dimensions)?;
    let max_depth = max_depth(params::integer(bind, "max_depth")?).map_err(fail)?;
    Ok((dimensions, max_depth))
}

fn key_columns(dimensions: &[String]) -> Vec<String> {
    dimensions.iter().map(|d| key_sql(d)).collect()
}

/// The time column: DATE or TIMESTAMP, and the SQL of each row's time in microseconds.
struct Time {
    is_date: bool,
    micros: String,
    column: String,
}

fn time_of(bind: &BindInfo, source: &Source) -> CallResult<Time> {
    let ts = source.time_column(params::text(bind, "ts")?)?;
    let is_date = source.require_temporal("ts", &ts)?;
    Ok(Time { is_date, micros: format!("epoch_us(CAST({} AS TIMESTAMP))", quote_ident(&ts)), column: ts })
}

/// Reads the KPI per leaf and time step: `metric` summed, or `numerator` and `denominator`
/// summed. `times` limits the times read (`None`: all; the baseline's span for a range).
fn timed_leaves(
    bind: &BindInfo,
    reader: &Reader,
    source: &Source,
    dimensions: &[String],
    time: &Time,
    filter: Option<String>,
) -> CallResult<TimedLeaves> {
    let text = |name| params::text(bind, name);
    let measures = match (text("metric")?, text("numerator")?, text("denominator")?) {
        (Some(metric), None, None) => vec![summed(source, "metric", &metric)?],
        (None, Some(n), Some(d)) => vec![summed(source, "numerator", &n)?, summed(source, "denominator", &d)?],
        _ => return Err(fail("give metric := 'column', or numerator := and denominator := for a ratio KPI")),
    };
    let filter = filter.unwrap_or_else(|| format!("{} IS NOT NULL", quote_ident(&time.column)));
    let sql = format!(
        "SELECT {}, {} AS kpiscope_t, {} FROM {} WHERE {filter} GROUP BY ALL ORDER BY ALL",
        key_columns(dimensions).join(", "),
        time.micros,
        measures.iter().map(|m| format!("CAST({m} AS DOUBLE)")).collect::<Vec<_>>().join(", "),
        source.from()
    );
    let width = dimensions.len();
    let mut timed = TimedLeaves::new(dimensions.to_vec());
    let mut infinite = false;
    reader
        .batches(&sql, |batch| {
            let keys = (0..width).map(|i| text_column(batch, i)).collect::<CallResult<Vec<_>>>()?;
            let ts = typed::<Int64Array>(batch, width)?;
            let sums = (0..measures.len())
                .map(|k| typed::<Float64Array>(batch, width + 1 + k))
                .collect::<CallResult<Vec<_>>>()?;
            let value = |k: usize, row: usize| finite(sums[k], row);
            for row in 0..batch.num_rows() {
                // epoch_us of a non-NULL time is NULL only for 'infinity' / '-infinity'.
                infinite |= ts.is_null(row);
                let denominator = (measures.len() == 2).then(|| value(1, row));
                // key_sql makes every key non-NULL.
                timed.push(keys.iter().map(|k| k.value(row)), ts.value(row), value(0, row), denominator);
            }
            Ok(())
        })
        .map_err(|e| e.reported(|text| fail(format!("cannot read '{}': {text}", source.name()))))?;
    if infinite {
        return Err(source.infinite_times(&time.column));
    }
    Ok(timed)
}

/// A sum as RCA reads it: NULL and non-finite sums count as 0.
fn finite(sums: &Float64Array, row: usize) -> f64 {
    Some(sums.value(row)).filter(|v| sums.is_valid(row) && v.is_finite()).unwrap_or(0.0)
}

fn micros(t: chrono::NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn baseline(bind: &BindInfo) -> CallResult<Baseline> {
    let start = params::timestamp(bind, "baseline_start")?.map(micros);
    let end = params::timestamp(bind, "baseline_end")?.map(micros);
    Baseline::from_arguments(params::text(bind, "baseline")?.as_deref(), start, end).map_err(fail)
}

/// Explicit leaves: the given columns summed per leaf, `(parameter, column)` pairs in the order
/// expected, actual (then expected and actual denominators for a ratio KPI).
fn explicit_leaves(
    reader: &Reader,
    source: &Source,
    dimensions: &[String],
    columns: &[(&str, String)],
) -> CallResult<Leaves> {
    let sums = columns
        .iter()
        .map(|(name, column)| Ok(format!("CAST({} AS DOUBLE)", summed(source, name, column)?)))
        .collect::<CallResult<Vec<_>>>()?;
    // Not ordered: the builder puts the leaves in key order itself, for less than DuckDB's sort
    // of the text keys costs (4 of 10 ms for B0's 21,600 leaves).
    let sql = format!(
        "SELECT {}, {} FROM {} GROUP BY ALL",
        key_columns(dimensions).join(", "),
        sums.join(", "),
        source.from()
    );
    let width = dimensions.len();
    let mut builder = LeavesBuilder::new(dimensions.to_vec());
    reader
        .batches(&sql, |batch| {
            let keys = (0..width).map(|i| text_column(batch, i)).collect::<CallResult<Vec<_>>>()?;
            let sums =
                (0..columns.len()).map(|k| typed::<Float64Array>(batch, width + k)).collect::<CallResult<Vec<_>>>()?;
            let value = |k: usize, row: usize| finite(sums[k], row);
            for row in 0..batch.num_rows() {
                // key_sql makes every key non-NULL.
                let key = keys.iter().map(|k| k.value(row));
                if columns.len() == 4 {
                    builder.push_ratio(key, [value(0, row), value(1, row)], [value(2, row), value(3, row)]);
                } else {
                    builder.push(key, value(0, row), value(1, row));
                }
            }
            Ok(())
        })
        .map_err(|e| e.reported(|text| fail(format!("cannot read leaves from '{}': {text}", source.name()))))?;
    Ok(builder.finish())
}

/// The explicit-mode columns given, `(parameter, column)` in [`explicit_leaves`]' order; `None`
/// when the call is time-based.
fn explicit_columns(bind: &BindInfo) -> CallResult<Option<Vec<(&'static str, String)>>> {
    const ADDITIVE: [&str; 2] = ["expected", "actual"];
    const RATIO: [&str; 4] = ["expected_numerator", "actual_numerator", "expected_denominator", "actual_denominator"];
    let read = |names: &[&'static str]| -> CallResult<Vec<(&'static str, Option<String>)>> {
        names.iter().map(|n| Ok((*n, params::text(bind, n)?))).collect()
    };
    let (additive, ratio) = (read(&ADDITIVE)?, read(&RATIO)?);
    let given = |set: &[(&'static str, Option<String>)]| set.iter().filter(|(_, c)| c.is_some()).count();
    match (given(&additive), given(&ratio)) {
        (0, 0) => Ok(None),
        (2, 0) | (0, 4) => Ok(Some(
            additive.into_iter().chain(ratio).filter_map(|(n, c)| c.map(|c| (n, c))).collect(),
        )),
        (0, _) => Err(fail(
            "a ratio KPI needs all four of actual_numerator, actual_denominator, expected_numerator and expected_denominator",
        )),
        (_, 0) => Err(fail("give both actual and expected columns")),
        _ => Err(fail("give either actual and expected, or the four numerator and denominator columns, not both")),
    }
}

fn contributions(bind: &BindInfo) -> CallResult<ResultTable> {
    let name = params::source(bind)?;
    let reader = Side::of(bind)?.reader()?;
    let source = Source::open(&reader, "source", &name)?;
    let (dimensions, max_depth) = dimensions(bind, &source)?;
    let leaves = match explicit_columns(bind)? {
        Some(columns) => explicit_leaves(&reader, &source, &dimensions, &columns)?,
        None => {
            let test = params::timestamp(bind, "test")?.ok_or_else(|| {
                fail("say what changed: test := DATE '...' (with ts and metric), or actual := and expected := columns")
            })?;
            let test = micros(test);
            let baseline = baseline(bind)?;
            let time = time_of(bind, &source)?;
            let filter = match (baseline.times(test), baseline) {
                (Some(mut times), _) => {
                    times.push(test);
                    format!("{} IN ({})", time.micros, times.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))
                }
                (None, Baseline::Range(start, end)) => {
                    format!("({0} BETWEEN {start} AND {end} OR {0} = {test})", time.micros)
                }
                (None, _) => unreachable!("only a range has no list of times"),
            };
            timed_leaves(bind, &reader, &source, &dimensions, &time, Some(filter))?.compare(test, baseline)
        }
    };
    drop(reader);
    Ok(contributions_table(&leaves, max_depth).into())
}

/// The `anomalies :=` table: per row its time and, when present, `expected`, `score` and
/// `severity` (the engine orders them and drops repeats).
fn given_steps(reader: &Reader, name: &str) -> CallResult<Vec<Step>> {
    let table = Source::open(reader, "anomalies", name)?;
    let ts = table.time_column(None)?;
    let optional = |column: &str, cast: &str| match table.require_column("anomalies", column) {
        Ok(_) => format!("CAST({} AS {cast})", quote_ident(column)),
        Err(_) => format!("NULL::{cast}"),
    };
    let sql = format!(
        "SELECT epoch_us(CAST({} AS TIMESTAMP)), {}, {}, {} FROM {} WHERE isfinite({})",
        quote_ident(&ts),
        optional("expected", "DOUBLE"),
        optional("score", "DOUBLE"),
        optional("severity", "VARCHAR"),
        table.from(),
        quote_ident(&ts)
    );
    reader
        .query(&sql, |row| {
            Ok(Step { t: row.get(0)?, expected: row.get(1)?, score: row.get(2)?, severity: row.get(3)? })
        })
        .map_err(|e| fail(format!("cannot read anomalies '{name}': {}", explain(&e))))
}

fn anomalies(bind: &BindInfo) -> CallResult<ResultTable> {
    let name = params::source(bind)?;
    let reader = Side::of(bind)?.reader()?;
    let source = Source::open(&reader, "source", &name)?;
    let (dimensions, max_depth) = dimensions(bind, &source)?;
    let top = top(params::integer(bind, "top")?).map_err(fail)?;
    let baseline = Baseline::from_arguments(params::text(bind, "baseline")?.as_deref(), None, None).map_err(fail)?;
    let config = super::detect::arguments(bind)?.config().map_err(fail)?;
    let given = match params::text(bind, "anomalies")? {
        Some(table) => Some(given_steps(&reader, &table)?),
        None => None,
    };
    let time = time_of(bind, &source)?;
    let timed = timed_leaves(bind, &reader, &source, &dimensions, &time, None)?;
    drop(reader);
    let steps = given.map_or(Steps::Detect(&config), Steps::Given);
    let table = anomalies_table(&timed, steps, baseline, max_depth, top, time.is_date).map_err(fail)?;
    Ok(table.into())
}

materialized_vtab!(RcaContributions, "rca_contributions", contributions, positional: &[Kind::Text], named: CONTRIBUTION_PARAMS);
materialized_vtab!(RcaAnomalies, "rca_anomalies", anomalies, positional: &[Kind::Text], named: ANOMALY_PARAMS);
