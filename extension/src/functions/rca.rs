//! Root-cause analysis functions.
//!
//! `rca_contributions(source, dimensions := [...], ...)`: which segments moved a KPI, said in
//! one of two ways:
//! - explicit: `actual := 'real', expected := 'predict'`, one row per leaf;
//! - time-based: `ts := 'day', metric := 'revenue'` (or `numerator := 'orders',
//!   denominator := 'sessions'` for a ratio), `test := DATE '...'` against `baseline :=
//!   'previous_7d' | 'same_weekday_4w'` or `baseline_start := DATE, baseline_end := DATE`.
//!
//! `rca_anomalies(source, ts := ..., metric := ..., dimensions := [...], top := 3, ...)`:
//! detection on the KPI's total, then the top segments behind every anomalous day.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::source::{explain, key_sql, quote_ident, Reader, Side, Source};
use crate::table::{ResultTable, Values};
use duckdb::vtab::BindInfo;
use kpiscope_engine::detect::{detect, DetectConfig, Detection};
use kpiscope_engine::epoch_days;
use kpiscope_engine::rca::{analyze, Baseline, DailyLeaves, Finding, Leaves};
use kpiscope_engine::MICROS_PER_DAY;

const CONTRIBUTION_PARAMS: &[(&str, Kind)] = &[
    ("dimensions", Kind::TextList),
    ("actual", Kind::Text),
    ("expected", Kind::Text),
    ("ts", Kind::Text),
    ("metric", Kind::Text),
    ("numerator", Kind::Text),
    ("denominator", Kind::Text),
    ("test", Kind::Date),
    ("baseline", Kind::Text),
    ("baseline_start", Kind::Date),
    ("baseline_end", Kind::Date),
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
    let max_depth = params::integer(bind, "max_depth", 1, 4)?.unwrap_or(3) as usize;
    Ok((dimensions, max_depth))
}

fn key_columns(dimensions: &[String]) -> Vec<String> {
    dimensions.iter().map(|d| key_sql(d)).collect()
}

/// Reads the KPI per leaf and day: `metric` summed, or `numerator` and `denominator` summed.
/// `days` limits the days read.
fn daily_leaves(
    bind: &BindInfo,
    reader: &Reader,
    source: &Source,
    dimensions: &[String],
    days: Option<&[i32]>,
) -> CallResult<DailyLeaves> {
    let text = |name| params::text(bind, name);
    let measures = match (text("metric")?, text("numerator")?, text("denominator")?) {
        (Some(metric), None, None) => vec![summed(source, "metric", &metric)?],
        (None, Some(n), Some(d)) => vec![summed(source, "numerator", &n)?, summed(source, "denominator", &d)?],
        _ => return Err(fail("give metric := 'column', or numerator := and denominator := for a ratio KPI")),
    };
    let ts = source.time_column(text("ts")?)?;
    source.require_temporal("ts", &ts)?;
    let day = format!("CAST({} AS DATE)", quote_ident(&ts));
    let filter = match days {
        Some(days) => format!(
            "{day} IN ({})",
            days.iter().map(|d| format!("DATE '1970-01-01' + {d}")).collect::<Vec<_>>().join(", ")
        ),
        None => format!("{day} IS NOT NULL"),
    };
    let sql = format!(
        "SELECT {}, CAST({day} - DATE '1970-01-01' AS INTEGER), {} FROM {} WHERE {filter} GROUP BY ALL ORDER BY ALL",
        key_columns(dimensions).join(", "),
        measures.iter().map(|m| format!("CAST({m} AS DOUBLE)")).collect::<Vec<_>>().join(", "),
        source.from()
    );
    let width = dimensions.len();
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite()).unwrap_or(0.0);
    let rows = reader
        .query(&sql, |row| {
            let key = (0..width).map(|i| row.get::<_, String>(i)).collect::<Result<Vec<_>, _>>()?;
            let denominator = if measures.len() == 2 { Some(finite(row.get(width + 2)?)) } else { None };
            Ok((key, row.get::<_, Option<i32>>(width)?, finite(row.get(width + 1)?), denominator))
        })
        .map_err(|e| fail(format!("cannot read '{}': {}", source.name(), explain(&e))))?;
    let rows = rows
        .into_iter()
        .map(|(key, day, value, denominator)| match day {
            Some(day) => Ok((key, day, value, denominator)),
            // CAST to DATE of a non-NULL time is NULL only for 'infinity' / '-infinity'.
            None => Err(fail(format!(
                "ts column '{ts}' holds 'infinity' or '-infinity'; filter them out, e.g. \
                 '(SELECT * FROM {} WHERE isfinite({}))'",
                source.name(),
                quote_ident(&ts)
            ))),
        })
        .collect::<CallResult<Vec<_>>>()?;
    Ok(DailyLeaves { dimensions: dimensions.to_vec(), rows })
}

fn baseline(bind: &BindInfo) -> CallResult<Baseline> {
    let start = params::date(bind, "baseline_start")?;
    let end = params::date(bind, "baseline_end")?;
    match (params::text(bind, "baseline")?, start, end) {
        (None, Some(start), Some(end)) if start <= end => {
            if (end - start).num_days() >= 3660 {
                return Err(fail("the baseline range spans more than 3660 days"));
            }
            Ok(Baseline::Range(epoch_days(start), epoch_days(end)))
        }
        (None, Some(_), Some(_)) => Err(fail("baseline_start must not be after baseline_end")),
        (None, Some(_), None) | (None, None, Some(_)) => {
            Err(fail("give both baseline_start and baseline_end, or baseline := 'previous_7d'"))
        }
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            Err(fail("give either baseline or baseline_start/baseline_end, not both"))
        }
        (Some(name), None, None) => Baseline::parse(&name).map_err(fail),
        (None, None, None) => Ok(Baseline::PreviousDays(7)),
    }
}

/// Explicit leaves: `actual` and `expected` summed per leaf.
fn explicit_leaves(
    reader: &Reader,
    source: &Source,
    dimensions: &[String],
    actual: &str,
    expected: &str,
) -> CallResult<Leaves> {
    let sql = format!(
        "SELECT {}, CAST({} AS DOUBLE), CAST({} AS DOUBLE) FROM {} GROUP BY ALL ORDER BY ALL",
        key_columns(dimensions).join(", "),
        summed(source, "expected", expected)?,
        summed(source, "actual", actual)?,
        source.from()
    );
    let width = dimensions.len();
    let rows = reader
        .query(&sql, |row| {
            let key = (0..width).map(|i| row.get::<_, String>(i)).collect::<Result<Vec<_>, _>>()?;
            let value = |k| row.get::<_, Option<f64>>(k).map(|v| v.filter(|v| v.is_finite()).unwrap_or(0.0));
            Ok((key, value(width)?, value(width + 1)?))
        })
        .map_err(|e| fail(format!("cannot read leaves from '{}': {}", source.name(), explain(&e))))?;
    Ok(Leaves::from_rows(dimensions.to_vec(), rows))
}

fn contributions(bind: &BindInfo) -> CallResult<ResultTable> {
    let name = params::source(bind)?;
    let reader = Side::of(bind)?.reader()?;
    let source = Source::open(&reader, "source", &name)?;
    let (dimensions, max_depth) = dimensions(bind, &source)?;
    let leaves = match (params::text(bind, "actual")?, params::text(bind, "expected")?) {
        (Some(actual), Some(expected)) => explicit_leaves(&reader, &source, &dimensions, &actual, &expected)?,
        (Some(_), None) | (None, Some(_)) => return Err(fail("give both actual and expected columns")),
        (None, None) => {
            let test = params::date(bind, "test")?.ok_or_else(|| {
                fail("say what changed: test := DATE '...' (with ts and metric), or actual := and expected := columns")
            })?;
            let test = epoch_days(test);
            let baseline = baseline(bind)?;
            let mut days = baseline.days(test);
            days.push(test);
            daily_leaves(bind, &reader, &source, &dimensions, Some(&days))?.compare(test, baseline)
        }
    };
    drop(reader);
    let findings = analyze(&leaves, max_depth);
    let pairs: Vec<(&Finding, &Leaves)> = findings.iter().map(|f| (f, &leaves)).collect();
    let mut columns = finding_columns(&pairs);
    columns.push(("rank".to_string(), Values::BigInt((1..=findings.len() as i64).map(Some).collect())));
    Ok(ResultTable::new(columns))
}

/// The columns describing findings, shared by both functions; each finding comes with the
/// leaves its segment codes refer to.
fn finding_columns(findings: &[(&Finding, &Leaves)]) -> Vec<(String, Values)> {
    let text = |f: &dyn Fn(&Finding, &Leaves) -> String| {
        Values::Varchar(findings.iter().map(|(x, leaves)| Some(f(x, leaves))).collect())
    };
    let number = |f: &dyn Fn(&Finding) -> Option<f64>| Values::Double(findings.iter().map(|(x, _)| f(x)).collect());
    vec![
        ("dimensions".into(), text(&|f, leaves| f.contribution.segment.dimension_names(leaves))),
        ("segment".into(), text(&|f, leaves| f.contribution.segment.label(leaves))),
        ("baseline".into(), number(&|f| Some(f.contribution.baseline))),
        ("actual".into(), number(&|f| f.contribution.actual)),
        ("delta".into(), number(&|f| Some(f.contribution.delta))),
        ("contribution".into(), number(&|f| Some(f.contribution.contribution))),
        ("mix_effect".into(), number(&|f| f.contribution.mix_effect)),
        ("rate_effect".into(), number(&|f| f.contribution.rate_effect)),
        ("surprise".into(), number(&|f| Some(f.contribution.surprise))),
        ("explanatory_power".into(), number(&|f| Some(f.contribution.explanatory_power))),
        ("is_root_cause".into(), Values::Boolean(findings.iter().map(|(f, _)| Some(f.is_root_cause)).collect())),
    ]
}

/// A day the detector flagged, with the leaves comparing it to its baseline.
struct AnomalousDay<'a> {
    day: i32,
    value: Option<f64>,
    verdict: &'a Detection,
    leaves: Leaves,
}

fn anomalies(bind: &BindInfo) -> CallResult<ResultTable> {
    let name = params::source(bind)?;
    let reader = Side::of(bind)?.reader()?;
    let source = Source::open(&reader, "source", &name)?;
    let (dimensions, max_depth) = dimensions(bind, &source)?;
    let top = params::integer(bind, "top", 1, 1000)?.unwrap_or(3) as usize;
    let baseline = match params::text(bind, "baseline")? {
        Some(name) => Baseline::parse(&name).map_err(fail)?,
        None => Baseline::SameWeekday(4),
    };
    let (method, sensitivity) = super::detect::method_and_sensitivity(bind)?;
    let config = DetectConfig { method, sensitivity, ..DetectConfig::default() };
    let daily = daily_leaves(bind, &reader, &source, &dimensions, None)?;
    drop(reader);
    let totals = daily.totals();
    // Days far from today (DuckDB dates reach 5 million years) do not fit as microseconds.
    let ts: Vec<i64> = totals
        .iter()
        .map(|(d, _)| i64::from(*d).checked_mul(MICROS_PER_DAY))
        .collect::<Option<_>>()
        .ok_or_else(|| fail("ts holds dates beyond the TIMESTAMP range (years 290308 BC to 294247)"))?;
    let values: Vec<Option<f64>> = totals.iter().map(|(_, v)| *v).collect();
    let verdicts = detect(&ts, &values, &config).map_err(fail)?;

    // Per anomalous day, its top findings; then one output row per finding.
    let days: Vec<AnomalousDay> = totals
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| verdict.is_anomaly)
        .map(|((day, value), verdict)| AnomalousDay {
            day: *day,
            value: *value,
            verdict,
            leaves: daily.compare(*day, baseline),
        })
        .collect();
    let analyses: Vec<Vec<Finding>> =
        days.iter().map(|d| analyze(&d.leaves, max_depth).into_iter().take(top).collect()).collect();
    let rows: Vec<(&AnomalousDay, usize, &Finding)> = days
        .iter()
        .zip(&analyses)
        .flat_map(|(day, findings)| findings.iter().enumerate().map(move |(rank, f)| (day, rank + 1, f)))
        .collect();
    let number = |f: &dyn Fn(&AnomalousDay) -> Option<f64>| Values::Double(rows.iter().map(|(d, _, _)| f(d)).collect());
    let mut columns = vec![
        ("ts".to_string(), Values::Date(rows.iter().map(|(d, _, _)| Some(d.day)).collect())),
        ("value".to_string(), number(&|d| d.value)),
        ("expected".to_string(), number(&|d| d.verdict.expected)),
        ("score".to_string(), number(&|d| d.verdict.score)),
        (
            "severity".to_string(),
            Values::Varchar(rows.iter().map(|(d, _, _)| Some(d.verdict.severity.as_str().to_string())).collect()),
        ),
        ("rank".to_string(), Values::BigInt(rows.iter().map(|(_, rank, _)| Some(*rank as i64)).collect())),
    ];
    let pairs: Vec<(&Finding, &Leaves)> = rows.iter().map(|(d, _, f)| (*f, &d.leaves)).collect();
    columns.extend(finding_columns(&pairs));
    Ok(ResultTable::new(columns))
}

materialized_vtab!(RcaContributions, "rca_contributions", contributions, positional: &[Kind::Text], named: CONTRIBUTION_PARAMS);
materialized_vtab!(RcaAnomalies, "rca_anomalies", anomalies, positional: &[Kind::Text], named: ANOMALY_PARAMS);
