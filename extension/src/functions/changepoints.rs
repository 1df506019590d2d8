//! `change_points(source, ts := ..., value := ..., group_by := [...], period := ...)`: structural
//! breaks per series, one row per step of the sampling grid, computed a batch of series at a
//! time as DuckDB reads them (`batched`).

use crate::batched::Batched;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::series::{self, Spec};
use crate::source::Side;
use duckdb::vtab::BindInfo;
use kpiscope_engine::changepoints::table;
use kpiscope_engine::frame::{output_names, Grouped, Table};

const PARAMS: &[(&str, Kind)] =
    &[("ts", Kind::Text), ("value", Kind::Text), ("group_by", Kind::TextList), ("period", Kind::Integer)];

/// `change_points`: its period and the value as given (for errors).
pub struct ChangePoints {
    period: Option<usize>,
    value: String,
}

impl Batched for ChangePoints {
    const NAME: &'static str = "change_points";
    const POSITIONAL: &'static [Kind] = &[Kind::Text];
    const NAMED: &'static [(&'static str, Kind)] = PARAMS;

    fn bind(bind: &BindInfo) -> CallResult<(Self, Grouped)> {
        let period = kpiscope_engine::series::period(params::integer(bind, "period")?).map_err(fail)?;
        let spec = Spec::parse(bind)?;
        let value = spec.value.clone();
        let input = spec.read(&Side::of(bind)?.reader()?, &output_names(|g| table(g, period)))?;
        Ok((ChangePoints { period, value }, input))
    }

    fn build(&self, input: &Grouped, _read: &dyn Fn(&str) -> bool) -> CallResult<Table> {
        table(input, self.period).map_err(series::failed(&self.value))
    }
}
