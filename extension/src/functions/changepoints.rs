//! `change_points(source, ts := ..., value := ..., group_by := [...], period := ...)`: structural
//! breaks per series, one row per step of the sampling grid.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::series::{self, Spec};
use crate::source::Side;
use crate::table::ResultTable;
use duckdb::vtab::BindInfo;
use kpiscope_engine::changepoints::table;
use kpiscope_engine::frame::output_names;

const PARAMS: &[(&str, Kind)] =
    &[("ts", Kind::Text), ("value", Kind::Text), ("group_by", Kind::TextList), ("period", Kind::Integer)];

fn compute(bind: &BindInfo) -> CallResult<ResultTable> {
    let period = kpiscope_engine::series::period(params::integer(bind, "period")?).map_err(fail)?;
    let spec = Spec::parse(bind)?;
    let value = spec.value.clone();
    let input = spec.read(&Side::of(bind)?.reader()?, &output_names(|g| table(g, period)))?;
    Ok(table(&input, period).map_err(series::failed(&value))?.into())
}

materialized_vtab!(ChangePoints, "change_points", compute, positional: &[Kind::Text], named: PARAMS);
