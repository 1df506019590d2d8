//! `forecast_kpi(source, ts := ..., value := ..., group_by := [...], horizon := 30, level := 0.9,
//! model := 'auto', period := ...)` and `compare_models(source, ..., horizon := 14, folds := 3)`.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{Kind, Named};
use crate::series::{self, Spec};
use crate::source::Side;
use crate::table::ResultTable;
use duckdb::vtab::BindInfo;
use kpiscope_engine::forecast::{compare_table, forecast_table, ForecastArguments, ForecastSettings};
use kpiscope_engine::frame::output_names;

const FORECAST_PARAMS: &[(&str, Kind)] = &[
    ("ts", Kind::Text),
    ("value", Kind::Text),
    ("group_by", Kind::TextList),
    ("horizon", Kind::Integer),
    ("level", Kind::Double),
    ("model", Kind::Text),
    ("period", Kind::Integer),
];

const COMPARE_PARAMS: &[(&str, Kind)] = &[
    ("ts", Kind::Text),
    ("value", Kind::Text),
    ("group_by", Kind::TextList),
    ("horizon", Kind::Integer),
    ("folds", Kind::Integer),
    ("level", Kind::Double),
    ("period", Kind::Integer),
];

/// The settings `forecast_kpi` takes besides its source columns (the in-query form takes
/// exactly these; `folds` is `compare_models`' own).
pub(super) const SETTINGS: &[&str] = &["horizon", "level", "model", "period"];

/// The forecast settings as given to this call.
pub(super) fn settings(named: &impl Named, default_horizon: usize) -> CallResult<ForecastSettings> {
    ForecastArguments {
        horizon: named.integer("horizon")?,
        level: named.double("level")?,
        model: named.text("model")?,
        period: named.integer("period")?,
        folds: named.integer("folds")?,
    }
    .settings(default_horizon)
    .map_err(fail)
}

fn forecasts(bind: &BindInfo) -> CallResult<ResultTable> {
    let settings = settings(bind, 30)?;
    let spec = Spec::parse(bind)?;
    let value = spec.value.clone();
    let input = spec.read(&Side::of(bind)?.reader()?, &output_names(|g| forecast_table(g, &settings)))?;
    Ok(forecast_table(&input, &settings).map_err(series::failed(&value))?.into())
}

fn comparisons(bind: &BindInfo) -> CallResult<ResultTable> {
    let settings = settings(bind, 14)?;
    let spec = Spec::parse(bind)?;
    let value = spec.value.clone();
    let input = spec.read(&Side::of(bind)?.reader()?, &output_names(|g| compare_table(g, &settings)))?;
    Ok(compare_table(&input, &settings).map_err(series::failed(&value))?.into())
}

materialized_vtab!(ForecastKpi, "forecast_kpi", forecasts, positional: &[Kind::Text], named: FORECAST_PARAMS);
materialized_vtab!(CompareModels, "compare_models", comparisons, positional: &[Kind::Text], named: COMPARE_PARAMS);
