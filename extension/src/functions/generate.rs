//! `generate_kpi_data(...)` and its ground truth `generate_kpi_anomalies(...)`.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::table::ResultTable;
use duckdb::vtab::BindInfo;
use kpiscope_engine::synth::{anomalies_table, data_table, generate, GeneratorArguments, KpiData};

const PARAMS: &[(&str, Kind)] =
    &[("days", Kind::Integer), ("start", Kind::Date), ("seed", Kind::Integer), ("anomalies", Kind::Integer)];

fn data(bind: &BindInfo) -> CallResult<ResultTable> {
    Ok(data_table(&generated(bind)?).into())
}

fn anomalies(bind: &BindInfo) -> CallResult<ResultTable> {
    Ok(anomalies_table(&generated(bind)?).into())
}

fn generated(bind: &BindInfo) -> CallResult<KpiData> {
    let arguments = GeneratorArguments {
        days: params::integer(bind, "days")?,
        start: params::date(bind, "start")?,
        seed: params::integer(bind, "seed")?,
        anomalies: params::integer(bind, "anomalies")?,
    };
    generate(&arguments.config().map_err(fail)?).map_err(fail)
}

materialized_vtab!(GenerateKpiData, "generate_kpi_data", data, positional: &[], named: PARAMS);
materialized_vtab!(GenerateKpiAnomalies, "generate_kpi_anomalies", anomalies, positional: &[], named: PARAMS);
