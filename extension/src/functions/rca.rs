//! `rca_contributions(source, dimensions := [...], ...)`: which segments moved a KPI.
//!
//! Two ways to say what changed:
//! - explicit: `actual := 'real', expected := 'predict'`, one row per leaf;
//! - time-based: `ts := 'day', metric := 'revenue'` (or `numerator := 'orders',
//!   denominator := 'sessions'` for a ratio), `test := DATE '...'` against `baseline :=
//!   'previous_7d' | 'same_weekday_4w'` or `baseline_start := DATE, baseline_end := DATE`
//!   (per leaf, the median of its daily values over the baseline days).

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::source::{quote_ident, Side, Source};
use crate::table::{ResultTable, Values};
use chrono::NaiveDate;
use duckdb::vtab::BindInfo;
use kpiscope_engine::rca::{analyze, Contribution, Leaves};

const PARAMS: &[(&str, Kind)] = &[
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

/// The per-leaf quantities to aggregate: (actual, expected) pairs of SQL expressions, one
/// pair for an additive KPI, two (numerator, denominator) for a ratio.
struct Plan {
    pairs: Vec<(String, String)>,
    from_where: String,
}

fn summed(source: &Source, role: &str, column: &str) -> CallResult<String> {
    source.value_expression(column).and_then(|sql| {
        if sql.starts_with("sum(") {
            Ok(sql)
        } else {
            Err(fail(format!("{role} must be a numeric column, got '{column}'")))
        }
    })
}

fn baseline_days(bind: &BindInfo, test: NaiveDate) -> CallResult<Vec<NaiveDate>> {
    let start = params::date(bind, "baseline_start")?;
    let end = params::date(bind, "baseline_end")?;
    let named = params::text(bind, "baseline")?;
    let days: Vec<NaiveDate> = match (named.as_deref(), start, end) {
        (None, Some(start), Some(end)) if start <= end => start.iter_days().take_while(|d| *d <= end).collect(),
        (None, Some(_), Some(_)) => return Err(fail("baseline_start must not be after baseline_end")),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(fail("give both baseline_start and baseline_end, or baseline := 'previous_7d'"))
        }
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(fail("give either baseline or baseline_start/baseline_end, not both"))
        }
        (Some("previous_7d") | None, None, None) => (1..=7).map(|k| test - chrono::Days::new(k)).collect(),
        (Some("same_weekday_4w"), None, None) => (1..=4).map(|k| test - chrono::Days::new(7 * k)).collect(),
        (Some(other), None, None) => {
            return Err(fail(format!("baseline must be one of previous_7d, same_weekday_4w, got '{other}'")))
        }
    };
    if days.len() > 3660 {
        return Err(fail(format!("the baseline spans {} days; at most 3660", days.len())));
    }
    Ok(days)
}

fn plan(bind: &BindInfo, source: &Source, dimensions: &[String]) -> CallResult<Plan> {
    let text = |name| params::text(bind, name);
    if let (Some(actual), Some(expected)) = (text("actual")?, text("expected")?) {
        return Ok(Plan {
            pairs: vec![(summed(source, "actual", &actual)?, summed(source, "expected", &expected)?)],
            from_where: source.from().to_string(),
        });
    }
    if text("actual")?.is_some() || text("expected")?.is_some() {
        return Err(fail("give both actual and expected columns"));
    }
    let test = params::date(bind, "test")?.ok_or_else(|| {
        fail("say what changed: test := DATE '...' (with ts and metric), or actual := and expected := columns")
    })?;
    let ts = match text("ts")? {
        Some(ts) => ts,
        None => source.sole_temporal_column()?,
    };
    source.require_temporal("ts", &ts)?;
    let measures = match (text("metric")?, text("numerator")?, text("denominator")?) {
        (Some(metric), None, None) => vec![summed(source, "metric", &metric)?],
        (None, Some(n), Some(d)) => vec![summed(source, "numerator", &n)?, summed(source, "denominator", &d)?],
        _ => return Err(fail("give metric := 'column', or numerator := and denominator := for a ratio KPI")),
    };
    let days = baseline_days(bind, test)?;
    let day = format!("CAST({} AS DATE)", quote_ident(&ts));
    let list = days.iter().map(|d| format!("DATE '{d}'")).collect::<Vec<_>>().join(", ");
    // Daily totals per leaf first, so the baseline can be a median over days: one unusual
    // day in the baseline (an earlier anomaly) must not make every other day look odd.
    let dims: String = dimensions.iter().map(|d| format!("{}, ", quote_ident(d))).collect();
    let sums: Vec<String> = measures.iter().enumerate().map(|(k, sum)| format!("{sum} AS kpiscope_m{k}")).collect();
    let from_where = format!(
        "(SELECT {dims}{day} AS kpiscope_day, {} FROM {} WHERE {day} IN (DATE '{test}', {list}) GROUP BY ALL) AS kpiscope_daily",
        sums.join(", "),
        source.from()
    );
    let pairs = (0..measures.len())
        .map(|k| {
            (
                format!("coalesce(sum(kpiscope_m{k}) FILTER (kpiscope_day = DATE '{test}'), 0)"),
                format!("coalesce(median(kpiscope_m{k}) FILTER (kpiscope_day <> DATE '{test}'), 0)"),
            )
        })
        .collect();
    Ok(Plan { pairs, from_where })
}

fn compute(bind: &BindInfo) -> CallResult<ResultTable> {
    let side = Side::of(bind)?;
    let source = Source::open(&side, &bind.get_parameter(0).to_string())?;
    let dimensions = params::text_list(bind, "dimensions")?;
    if dimensions.is_empty() || dimensions.len() > 8 {
        return Err(fail("dimensions must list 1 to 8 columns to break the change down by"));
    }
    for column in &dimensions {
        source.require_column("dimensions", column)?;
    }
    let max_depth = params::integer(bind, "max_depth", 1, 4)?.unwrap_or(3) as usize;
    let plan = plan(bind, &source, &dimensions)?;
    let keys: Vec<String> =
        dimensions.iter().map(|d| format!("coalesce(CAST({} AS VARCHAR), 'NULL')", quote_ident(d))).collect();
    let measures: Vec<String> = plan.pairs.iter().flat_map(|(a, e)| [a.clone(), e.clone()]).collect();
    let sql = format!(
        "SELECT {}, {} FROM {} GROUP BY ALL ORDER BY ALL",
        keys.join(", "),
        measures.iter().map(|m| format!("CAST({m} AS DOUBLE)")).collect::<Vec<_>>().join(", "),
        plan.from_where
    );
    let width = dimensions.len();
    let rows: Vec<(Vec<String>, Vec<f64>)> = side
        .query(&sql, |row| {
            let key = (0..width).map(|i| row.get::<_, String>(i)).collect::<Result<Vec<_>, _>>()?;
            let values = (0..measures.len())
                .map(|k| row.get::<_, Option<f64>>(width + k).map(|v| v.filter(|v| v.is_finite()).unwrap_or(0.0)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key, values))
        })
        .map_err(|e| fail(format!("cannot read leaves from '{}': {}", source.name(), e.to_string().trim_end())))?;

    // values = [actual, expected] or [num actual, num expected, den actual, den expected].
    let mut leaves = Leaves::from_rows(dimensions.clone(), rows.iter().map(|(k, v)| (k.clone(), v[1], v[0])));
    let ratio = plan.pairs.len() == 2;
    if ratio {
        leaves.denominators = Some((rows.iter().map(|r| r.1[3]).collect(), rows.iter().map(|r| r.1[2]).collect()));
    }
    let findings = analyze(&leaves, max_depth);
    let col = |name: &str, values: Values| (name.to_string(), values);
    let doubles = |f: &dyn Fn(&Contribution) -> Option<f64>| {
        Values::Double(findings.iter().map(|finding| f(&finding.contribution)).collect())
    };
    let rows_out: Vec<&Contribution> = findings.iter().map(|f| &f.contribution).collect();
    Ok(ResultTable::new(vec![
        col("dimensions", Values::Varchar(rows_out.iter().map(|r| Some(r.segment.dimension_names(&leaves))).collect())),
        col("segment", Values::Varchar(rows_out.iter().map(|r| Some(r.segment.label(&leaves))).collect())),
        col("baseline", doubles(&|r| Some(r.baseline))),
        col("actual", doubles(&|r| r.actual)),
        col("delta", doubles(&|r| Some(r.delta))),
        col("contribution", doubles(&|r| Some(r.contribution))),
        col("mix_effect", doubles(&|r| r.mix_effect)),
        col("rate_effect", doubles(&|r| r.rate_effect)),
        col("surprise", doubles(&|r| Some(r.surprise))),
        col("explanatory_power", doubles(&|r| Some(r.explanatory_power))),
        col("is_root_cause", Values::Boolean(findings.iter().map(|f| Some(f.is_root_cause)).collect())),
        col("rank", Values::BigInt((1..=rows_out.len() as i64).map(Some).collect())),
    ]))
}

materialized_vtab!(RcaContributions, "rca_contributions", compute, positional: &[Kind::Text], named: PARAMS);
