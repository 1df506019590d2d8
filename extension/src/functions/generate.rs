//! `generate_kpi_data(...)` and its ground truth `generate_kpi_anomalies(...)`.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::table::{ResultTable, Values};
use duckdb::vtab::BindInfo;
use kpiscope_engine::epoch_days;
use kpiscope_engine::synth::{generate, GeneratorConfig, MAX_DAYS};

const PARAMS: &[(&str, Kind)] =
    &[("days", Kind::Integer), ("start", Kind::Date), ("seed", Kind::Integer), ("anomalies", Kind::Integer)];

fn config(bind: &BindInfo) -> CallResult<GeneratorConfig> {
    let defaults = GeneratorConfig::default();
    Ok(GeneratorConfig {
        days: params::integer(bind, "days", 1, MAX_DAYS as i64)?.map_or(defaults.days, |d| d as u32),
        start: params::date(bind, "start")?.unwrap_or(defaults.start),
        seed: params::integer(bind, "seed", 0, i64::MAX)?.map_or(defaults.seed, |s| s as u64),
        anomalies: params::integer(bind, "anomalies", 0, MAX_DAYS as i64)?.map_or(defaults.anomalies, |a| a as u32),
    })
}

fn text(values: impl Iterator<Item = impl Into<String>>) -> Values {
    Values::Varchar(values.map(|v| Some(v.into())).collect())
}

fn data(bind: &BindInfo) -> CallResult<ResultTable> {
    let data = generate(&config(bind)?).map_err(fail)?;
    let rows = &data.rows;
    let col = |name: &str, values: Values| (name.to_string(), values);
    Ok(ResultTable::new(vec![
        col("day", Values::Date(rows.iter().map(|r| Some(epoch_days(r.day))).collect())),
        col("channel", text(rows.iter().map(|r| r.channel))),
        col("region", text(rows.iter().map(|r| r.region))),
        col("cohort", text(rows.iter().map(|r| r.cohort))),
        col("sessions", Values::BigInt(rows.iter().map(|r| Some(r.sessions)).collect())),
        col("dau", Values::BigInt(rows.iter().map(|r| Some(r.dau)).collect())),
        col("orders", Values::BigInt(rows.iter().map(|r| Some(r.orders)).collect())),
        col("successful_payments", Values::BigInt(rows.iter().map(|r| Some(r.successful_payments)).collect())),
        col("revenue", Values::Double(rows.iter().map(|r| Some(r.revenue)).collect())),
        col("conversion_rate", Values::Double(rows.iter().map(|r| r.conversion_rate).collect())),
        col("payment_success_rate", Values::Double(rows.iter().map(|r| r.payment_success_rate).collect())),
        col("bounce_rate", Values::Double(rows.iter().map(|r| Some(r.bounce_rate)).collect())),
        col("cac", Values::Double(rows.iter().map(|r| r.cac).collect())),
        col(
            "injected_anomaly",
            Values::Varchar(rows.iter().map(|r| r.injected_anomaly.map(|k| k.as_str().to_string())).collect()),
        ),
    ]))
}

fn anomalies(bind: &BindInfo) -> CallResult<ResultTable> {
    let data = generate(&config(bind)?).map_err(fail)?;
    let list = &data.anomalies;
    let col = |name: &str, values: Values| (name.to_string(), values);
    let dim = |pick: fn(&kpiscope_engine::synth::Scope) -> Option<&'static str>| {
        Values::Varchar(list.iter().map(|a| pick(&a.scope).map(str::to_string)).collect())
    };
    use kpiscope_engine::synth::{CHANNELS, COHORTS, REGIONS};
    Ok(ResultTable::new(vec![
        col("anomaly_id", Values::Integer(list.iter().map(|a| Some(a.id as i32)).collect())),
        col("kind", text(list.iter().map(|a| a.kind.as_str()))),
        col("driver", text(list.iter().map(|a| a.kind.driver()))),
        col("segment", text(list.iter().map(|a| a.scope.label()))),
        col("channel", dim(|s| s.channel.map(|i| CHANNELS[i]))),
        col("region", dim(|s| s.region.map(|i| REGIONS[i]))),
        col("cohort", dim(|s| s.cohort.map(|i| COHORTS[i]))),
        col("start_day", Values::Date(list.iter().map(|a| Some(epoch_days(a.start))).collect())),
        col("end_day", Values::Date(list.iter().map(|a| Some(epoch_days(a.end))).collect())),
        col("magnitude", Values::Double(list.iter().map(|a| Some(a.magnitude)).collect())),
        col("revenue_share", Values::Double(list.iter().map(|a| Some(a.revenue_share)).collect())),
    ]))
}

materialized_vtab!(GenerateKpiData, "generate_kpi_data", data, positional: &[], named: PARAMS);
materialized_vtab!(GenerateKpiAnomalies, "generate_kpi_anomalies", anomalies, positional: &[], named: PARAMS);
