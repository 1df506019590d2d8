//! RCA between the fronts and the engine: leaves from summed rows, and the result tables
//! every front returns (`rca_contributions`, and `rca_anomalies`, which chains detection on
//! the KPI's total with the localisation of every anomalous time step).

use super::{analyze, Baseline, Finding, Leaves, LeavesBuilder, TimedLeaves};
use crate::detect::{detect, DetectConfig};
use crate::error::Result;
use crate::frame::{ts_column, Column, Run, Table};
use rayon::prelude::*;

/// The `max_depth` setting: dimensions a segment may fix, 1 to 4 (3 when not given).
pub fn max_depth(given: Option<i64>) -> Result<usize> {
    Ok(crate::args::integer("max_depth", given, 1, 4)?.map_or(3, |d| d as usize))
}

/// The `top` setting of `rca_anomalies`: findings kept per time step, 1 to 1000 (3 when not
/// given).
pub fn top(given: Option<i64>) -> Result<usize> {
    Ok(crate::args::integer("top", given, 1, 1000)?.map_or(3, |t| t as usize))
}

/// A leaf's key: NULL dimension values are the text `NULL`, a value like any other.
fn key(run: &Run) -> Vec<String> {
    run.key.iter().map(|k| k.clone().unwrap_or_else(|| "NULL".to_string())).collect()
}

/// A sum as RCA reads it: NULL and non-finite sums count as 0.
fn finite(sum: Option<f64>) -> f64 {
    sum.filter(|v| v.is_finite()).unwrap_or(0.0)
}

/// Explicit leaves from rows summed per leaf ([`crate::frame::sum_by`] without times): the
/// sums in the order expected, actual, and for a ratio KPI expected and actual denominators.
pub fn leaves_from_runs(dimensions: Vec<String>, runs: &[Run]) -> Leaves {
    let sum = |run: &Run, k: usize| finite(run.sums.get(k).and_then(|s| s.first().copied()).flatten());
    let mut builder = LeavesBuilder::new(dimensions);
    for run in runs {
        let key = key(run);
        let keys = key.iter().map(String::as_str);
        if run.sums.len() == 4 {
            builder.push_ratio(keys, [sum(run, 0), sum(run, 1)], [sum(run, 2), sum(run, 3)]);
        } else {
            builder.push(keys, sum(run, 0), sum(run, 1));
        }
    }
    builder.finish()
}

/// Timed leaves from rows summed per leaf and time: the KPI's sum, or for a ratio KPI its
/// numerator and denominator sums.
pub fn timed_from_runs(dimensions: Vec<String>, runs: &[Run]) -> TimedLeaves {
    let mut timed = TimedLeaves::new(dimensions);
    for run in runs {
        let key = key(run);
        for (i, t) in run.ts.iter().enumerate() {
            let denominator = run.sums.get(1).map(|d| finite(d[i]));
            timed.push(key.iter().map(String::as_str), *t, finite(run.sums[0][i]), denominator);
        }
    }
    timed
}

/// The columns describing findings; each finding comes with the leaves its segment codes
/// refer to.
fn finding_columns(findings: &[(&Finding, &Leaves)]) -> Vec<(String, Column)> {
    let text = |f: &dyn Fn(&Finding, &Leaves) -> String| {
        Column::Text(findings.iter().map(|(x, leaves)| Some(f(x, leaves))).collect())
    };
    let number = |f: &dyn Fn(&Finding) -> Option<f64>| Column::Double(findings.iter().map(|(x, _)| f(x)).collect());
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
        ("is_root_cause".into(), Column::Boolean(findings.iter().map(|(f, _)| Some(f.is_root_cause)).collect())),
    ]
}

/// `rca_contributions`' result: every segment's finding, root causes first, with its rank.
pub fn contributions_table(leaves: &Leaves, max_depth: usize) -> Table {
    let findings = analyze(leaves, max_depth);
    let pairs: Vec<(&Finding, &Leaves)> = findings.iter().map(|f| (f, leaves)).collect();
    let mut columns = finding_columns(&pairs);
    columns.push(("rank".to_string(), Column::BigInt((1..=findings.len() as i64).map(Some).collect())));
    Table::new(columns)
}

/// A time step to explain, with what its detector said: a row of the caller's `anomalies`
/// table, or a step this engine's detector flagged.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Time (microseconds since 1970).
    pub t: i64,
    /// The detector's expected value, if it gave one.
    pub expected: Option<f64>,
    /// The detector's 0-100 score, if it gave one.
    pub score: Option<f64>,
    /// The detector's severity, if it gave one.
    pub severity: Option<String>,
}

impl Step {
    /// Time first, then expected, score and severity (NULL first; NaN equal to NaN), so equal
    /// rows sort together.
    fn order(a: &Step, b: &Step) -> std::cmp::Ordering {
        let number = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (x, y) => x.is_some().cmp(&y.is_some()),
        };
        a.t.cmp(&b.t)
            .then(number(a.expected, b.expected))
            .then(number(a.score, b.score))
            .then(a.severity.cmp(&b.severity))
    }
}

/// Which time steps `rca_anomalies` explains.
pub enum Steps<'a> {
    /// Those the detector flags on the KPI's total.
    Detect(&'a DetectConfig),
    /// Those the caller lists (times without data are skipped).
    Given(Vec<Step>),
}

/// `rca_anomalies`' result: per time step to explain, its `top` findings against `baseline`,
/// one row per finding with the step's value and verdict. Steps are localised in parallel.
pub fn anomalies_table(
    timed: &TimedLeaves,
    steps: Steps<'_>,
    baseline: Baseline,
    max_depth: usize,
    top: usize,
    is_date: bool,
) -> Result<Table> {
    let totals = timed.totals();
    let (ts, values): (Vec<i64>, Vec<Option<f64>>) = totals.iter().copied().unzip();
    let steps: Vec<(Step, Option<f64>)> = match steps {
        Steps::Detect(config) => detect(&ts, &values, config)?
            .into_iter()
            .zip(&totals)
            .filter(|(verdict, _)| verdict.is_anomaly)
            .map(|(verdict, (t, value))| {
                let severity = Some(verdict.severity.as_str().to_string());
                (Step { t: *t, expected: verdict.expected, score: verdict.score, severity }, *value)
            })
            .collect(),
        Steps::Given(mut given) => {
            // In time order, each distinct step once, whatever order and repeats the caller's
            // table has: every front hands its rows over as they are, so they agree.
            given.sort_by(Step::order);
            given.dedup_by(|a, b| Step::order(a, b).is_eq());
            given
                .into_iter()
                .filter_map(|step| {
                    let value = values[ts.binary_search(&step.t).ok()?];
                    Some((step, value))
                })
                .collect()
        }
    };
    let explained: Vec<(Leaves, Vec<Finding>)> = steps
        .par_iter()
        .map(|(step, _)| {
            let leaves = timed.compare(step.t, baseline);
            let findings = analyze(&leaves, max_depth).into_iter().take(top).collect();
            (leaves, findings)
        })
        .collect();
    // One row per finding: the index of its step, its rank among the step's findings.
    let rows: Vec<(usize, usize, &Finding)> = explained
        .iter()
        .enumerate()
        .flat_map(|(i, (_, findings))| findings.iter().enumerate().map(move |(rank, finding)| (i, rank + 1, finding)))
        .collect();
    let of_step = |f: &dyn Fn(&Step, Option<f64>) -> Option<f64>| {
        Column::Double(rows.iter().map(|(i, ..)| f(&steps[*i].0, steps[*i].1)).collect())
    };
    let mut columns = vec![
        ("ts".to_string(), ts_column(is_date, rows.iter().map(|(i, ..)| steps[*i].0.t).collect())),
        ("value".to_string(), of_step(&|_, value| value)),
        ("expected".to_string(), of_step(&|step, _| step.expected)),
        ("score".to_string(), of_step(&|step, _| step.score)),
        ("severity".to_string(), Column::Text(rows.iter().map(|(i, ..)| steps[*i].0.severity.clone()).collect())),
        ("rank".to_string(), Column::BigInt(rows.iter().map(|(_, rank, _)| Some(*rank as i64)).collect())),
    ];
    let pairs: Vec<(&Finding, &Leaves)> = rows.iter().map(|(i, _, finding)| (*finding, &explained[*i].0)).collect();
    columns.extend(finding_columns(&pairs));
    Ok(Table::new(columns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::DetectArguments;
    use crate::MICROS_PER_DAY as D;

    /// 120 days of three segments with a weekly pattern; on day 100 segment `b` triples.
    fn spiked() -> TimedLeaves {
        let rows = (0..120).flat_map(|day| {
            ["a", "b", "c"].into_iter().enumerate().map(move |(i, segment)| {
                let usual = 100.0 * (i + 1) as f64 + 10.0 * (day % 7) as f64 + (day * 7 % 5) as f64;
                let value = if day == 100 && segment == "b" { 3.0 * usual } else { usual };
                (vec![segment.to_string()], day * D, value, None)
            })
        });
        TimedLeaves::from_rows(vec!["segment".into()], rows)
    }

    fn column<'t>(table: &'t Table, name: &str) -> &'t Column {
        &table.columns().iter().find(|(n, _)| n == name).expect("column exists").1
    }

    #[test]
    fn a_detected_spike_is_explained_by_the_segment_that_moved() {
        let config = DetectArguments::default().config().unwrap();
        let table = anomalies_table(&spiked(), Steps::Detect(&config), Baseline::SameWeekday(4), 1, 3, true).unwrap();
        let (Column::Date(ts), Column::Text(segment), Column::BigInt(rank)) =
            (column(&table, "ts"), column(&table, "segment"), column(&table, "rank"))
        else {
            panic!("unexpected column types")
        };
        let first = ts.iter().position(|t| *t == Some(100)).expect("day 100 is explained");
        assert_eq!((segment[first].as_deref(), rank[first]), (Some("segment=b"), Some(1)));
        let Column::Text(severity) = column(&table, "severity") else { panic!("severity is text") };
        assert!(severity[first].as_deref().is_some_and(|s| s != "none"), "{:?}", severity[first]);
    }

    #[test]
    fn given_steps_keep_their_verdict_and_steps_without_data_are_skipped() {
        let step = |day: i64| Step { t: day * D, expected: Some(1.0), score: None, severity: Some("high".into()) };
        // Out of order and repeated: the engine sorts them and explains each distinct step once.
        let steps = Steps::Given(vec![step(500), step(100), step(100)]);
        let table = anomalies_table(&spiked(), steps, Baseline::SameWeekday(4), 1, 2, false).unwrap();
        let Column::Timestamp(ts) = column(&table, "ts") else { panic!("hourly-capable timestamps") };
        assert!(!ts.is_empty() && ts.iter().all(|t| *t == Some(100 * D)), "{ts:?}");
        assert_eq!(column(&table, "rank"), &Column::BigInt((1..=ts.len() as i64).map(Some).collect()));
        assert!(ts.len() <= 2, "top bounds the findings per step");
        assert_eq!(column(&table, "expected"), &Column::Double(vec![Some(1.0); ts.len()]));
        assert_eq!(column(&table, "score"), &Column::Double(vec![None; ts.len()]));
    }
}
