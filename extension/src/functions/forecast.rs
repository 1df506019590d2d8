//! `forecast_kpi(source, ts := ..., value := ..., group_by := [...], horizon := 30, level := 0.9,
//! model := 'auto', period := ...)` and `compare_models(source, ..., horizon := 14, folds := 3)`.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::series::{self, Spec};
use crate::source::Side;
use crate::table::{ResultTable, Values};
use duckdb::vtab::BindInfo;
use kpiscope_engine::forecast::{compare_series, forecast_series, Model, MAX_HORIZON};

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

const FORECAST_OUTPUT: &[&str] = &["ts", "yhat", "yhat_lower", "yhat_upper", "model"];
const COMPARE_OUTPUT: &[&str] = &["model", "folds", "mae", "rmse", "smape", "mase", "coverage", "rank"];

/// Shared settings: horizon, level and period.
fn settings(bind: &BindInfo, default_horizon: i64) -> CallResult<(usize, f64, Option<usize>)> {
    let horizon = params::integer(bind, "horizon", 1, MAX_HORIZON as i64)?.unwrap_or(default_horizon) as usize;
    let level = params::double(bind, "level", 0.01, 0.999)?.unwrap_or(0.9);
    let period = super::period(bind)?;
    Ok((horizon, level, period))
}

fn forecasts(bind: &BindInfo) -> CallResult<ResultTable> {
    let (horizon, level, period) = settings(bind, 30)?;
    let model = params::text(bind, "model")?.map(|m| Model::parse(&m)).transpose().map_err(fail)?.unwrap_or_default();
    let spec = Spec::parse(bind)?;
    let value = spec.value.clone();
    let input = spec.read(&Side::of(bind)?.reader()?, FORECAST_OUTPUT)?;
    let results = input.each(&value, |g| forecast_series(&g.ts, &g.values, period, model, horizon, level))?;
    let counts: Vec<usize> = results.iter().map(|r| r.ts.len()).collect();
    let mut columns = input.group_columns(&counts);
    let ts: Vec<i64> = results.iter().flat_map(|r| r.ts.iter().copied()).collect();
    let number = |f: fn(&kpiscope_engine::forecast::Forecast) -> &Vec<f64>| {
        Values::Double(results.iter().flat_map(|r| f(&r.forecast).iter().map(|v| Some(*v))).collect())
    };
    columns.extend([
        ("ts".to_string(), series::ts_values(input.is_date, ts)),
        ("yhat".to_string(), number(|f| &f.point)),
        ("yhat_lower".to_string(), number(|f| &f.lower)),
        ("yhat_upper".to_string(), number(|f| &f.upper)),
        (
            "model".to_string(),
            Values::Varchar(
                results.iter().flat_map(|r| std::iter::repeat_n(Some(r.forecast.label()), r.ts.len())).collect(),
            ),
        ),
    ]);
    Ok(ResultTable::new(columns))
}

fn comparisons(bind: &BindInfo) -> CallResult<ResultTable> {
    let (horizon, level, period) = settings(bind, 14)?;
    let folds = params::integer(bind, "folds", 1, 20)?.unwrap_or(3) as usize;
    let spec = Spec::parse(bind)?;
    let value = spec.value.clone();
    let input = spec.read(&Side::of(bind)?.reader()?, COMPARE_OUTPUT)?;
    let results = input.each(&value, |g| compare_series(&g.ts, &g.values, period, horizon, folds, level))?;
    let counts: Vec<usize> = results.iter().map(Vec::len).collect();
    let mut columns = input.group_columns(&counts);
    let rows: Vec<&kpiscope_engine::forecast::ModelScore> = results.iter().flatten().collect();
    let metric = |f: fn(&kpiscope_engine::forecast::ModelScore) -> f64| {
        Values::Double(rows.iter().map(|s| Some(f(s)).filter(|v| v.is_finite())).collect())
    };
    columns.extend([
        ("model".to_string(), Values::Varchar(rows.iter().map(|s| Some(s.model.name().to_string())).collect())),
        ("folds".to_string(), Values::BigInt(rows.iter().map(|s| Some(s.folds as i64)).collect())),
        ("mae".to_string(), metric(|s| s.mae)),
        ("rmse".to_string(), metric(|s| s.rmse)),
        ("smape".to_string(), metric(|s| s.smape)),
        ("mase".to_string(), metric(|s| s.mase)),
        ("coverage".to_string(), metric(|s| s.coverage)),
        ("rank".to_string(), Values::BigInt(rows.iter().map(|s| Some(s.rank as i64)).collect())),
    ]);
    Ok(ResultTable::new(columns))
}

materialized_vtab!(ForecastKpi, "forecast_kpi", forecasts, positional: &[Kind::Text], named: FORECAST_PARAMS);
materialized_vtab!(CompareModels, "compare_models", comparisons, positional: &[Kind::Text], named: COMPARE_PARAMS);
