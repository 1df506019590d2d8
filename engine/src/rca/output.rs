//! RCA between the fronts and the engine: leaves from summed rows, and the result columns
//! every front returns (`rca_contributions`, and the finding columns `rca_anomalies` shares).

use super::{analyze, Finding, Leaves, TimedLeaves};
use crate::error::Result;
use crate::frame::{Column, Run, Table};

/// The `max_depth` setting: dimensions a segment may fix, 1 to 4 (3 when not given).
pub fn max_depth(given: Option<i64>) -> Result<usize> {
    Ok(crate::args::integer("max_depth", given, 1, 4)?.map_or(3, |d| d as usize))
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
    let sum = |run: &Run, k: usize| run.sums.get(k).and_then(|s| s.first().copied()).flatten();
    let ratio = runs.first().is_some_and(|r| r.sums.len() == 4);
    let mut leaves = Leaves::from_rows(dimensions, runs.iter().map(|r| (key(r), finite(sum(r, 0)), finite(sum(r, 1)))));
    if ratio {
        leaves.denominators = Some(runs.iter().map(|r| (finite(sum(r, 2)), finite(sum(r, 3)))).unzip());
    }
    leaves
}

/// Timed leaves from rows summed per leaf and time: the KPI's sum, or for a ratio KPI its
/// numerator and denominator sums.
pub fn timed_from_runs(dimensions: Vec<String>, runs: &[Run]) -> TimedLeaves {
    let rows = runs
        .iter()
        .flat_map(|run| {
            let key = key(run);
            run.ts.iter().enumerate().map(move |(i, t)| {
                let denominator = run.sums.get(1).map(|d| finite(d[i]));
                (key.clone(), *t, finite(run.sums[0][i]), denominator)
            })
        })
        .collect();
    TimedLeaves { dimensions, rows }
}

/// The columns describing findings; each finding comes with the leaves its segment codes
/// refer to.
pub fn finding_columns(findings: &[(&Finding, &Leaves)]) -> Vec<(String, Column)> {
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
