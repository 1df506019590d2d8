//! `detect_seasonality(source, ts := ..., value := ..., group_by := [...])`: the seasonal
//! periods of each series, strongest first, to pass as `period :=` to the other functions.

use super::materialized_vtab;
use crate::guard::CallResult;
use crate::params::Kind;
use crate::series::{self, Spec};
use crate::source::Side;
use crate::table::ResultTable;
use duckdb::vtab::BindInfo;
use kpiscope_engine::frame::output_names;
use kpiscope_engine::seasonality::table;

const PARAMS: &[(&str, Kind)] = &[("ts", Kind::Text), ("value", Kind::Text), ("group_by", Kind::TextList)];

fn compute(bind: &BindInfo) -> CallResult<ResultTable> {
    let spec = Spec::parse(bind)?;
    let value = spec.value.clone();
    let input = spec.read(&Side::of(bind)?.reader()?, &output_names(table))?;
    Ok(table(&input).map_err(series::failed(&value))?.into())
}

materialized_vtab!(DetectSeasonality, "detect_seasonality", compute, positional: &[Kind::Text], named: PARAMS);
