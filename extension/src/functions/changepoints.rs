//! `change_points(source, ts := ..., value := ..., group_by := [...], period := ...)`: structural
//! breaks per series, one row per step of the sampling grid.

use super::materialized_vtab;
use crate::guard::CallResult;
use crate::params::Kind;
use crate::series::{self, Spec};
use crate::source::Side;
use crate::table::{ResultTable, Values};
use duckdb::vtab::BindInfo;
use kpiscope_engine::changepoints::change_points_series;

const PARAMS: &[(&str, Kind)] =
    &[("ts", Kind::Text), ("value", Kind::Text), ("group_by", Kind::TextList), ("period", Kind::Integer)];

const OUTPUT: &[&str] = &["ts", "value", "is_change_point", "probability", "mean_before", "mean_after"];

fn compute(bind: &BindInfo) -> CallResult<ResultTable> {
    let period = super::period(bind)?;
    let spec = Spec::parse(bind)?;
    let value = spec.value.clone();
    let input = spec.read(&Side::of(bind)?.reader()?, OUTPUT)?;
    let results = input.each(&value, |g| change_points_series(&g.ts, &g.values, period))?;
    let counts: Vec<usize> = results.iter().map(|r| r.0.len()).collect();
    let mut columns = input.group_columns(&counts);
    let ts: Vec<i64> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let verdicts: Vec<_> = results.iter().flat_map(|r| r.2.iter()).collect();
    columns.extend([
        ("ts".to_string(), series::ts_values(input.is_date, ts)),
        ("value".to_string(), Values::Double(results.iter().flat_map(|r| r.1.iter().map(|v| Some(*v))).collect())),
        ("is_change_point".to_string(), Values::Boolean(verdicts.iter().map(|c| Some(c.is_change_point)).collect())),
        ("probability".to_string(), Values::Double(verdicts.iter().map(|c| c.probability).collect())),
        ("mean_before".to_string(), Values::Double(verdicts.iter().map(|c| Some(c.mean_before)).collect())),
        ("mean_after".to_string(), Values::Double(verdicts.iter().map(|c| Some(c.mean_after)).collect())),
    ]);
    Ok(ResultTable::new(columns))
}

materialized_vtab!(ChangePoints, "change_points", compute, positional: &[Kind::Text], named: PARAMS);
