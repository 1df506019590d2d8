//! The SQL functions. Each module adapts one engine capability: parameters in, a
//! [`ResultTable`](crate::table::ResultTable) out.

mod changepoints;
mod detect;
mod evaluate;
mod forecast;
mod generate;
mod inquery;
mod rca;
mod seasonality;
mod tree;
mod whatif;

use crate::batched::BatchedVTab;
use crate::source::Side;
use duckdb::Connection;
use std::error::Error;

/// Registers every function with the connection that loaded the extension; `side` is how
/// they read that database's tables.
pub fn register(con: &Connection, side: &Side) -> Result<(), Box<dyn Error>> {
    con.register_table_function_with_extra_info::<generate::GenerateKpiData, _>("generate_kpi_data", side)?;
    con.register_table_function_with_extra_info::<generate::GenerateKpiAnomalies, _>("generate_kpi_anomalies", side)?;
    con.register_table_function_with_extra_info::<BatchedVTab<detect::DetectAnomalies>, _>("detect_anomalies", side)?;
    con.register_table_function_with_extra_info::<evaluate::EvaluateDetection, _>("evaluate_detection", side)?;
    con.register_table_function_with_extra_info::<evaluate::CompareDetectors, _>("compare_detectors", side)?;
    con.register_table_function_with_extra_info::<rca::RcaContributions, _>("rca_contributions", side)?;
    con.register_table_function_with_extra_info::<rca::RcaAnomalies, _>("rca_anomalies", side)?;
    con.register_table_function_with_extra_info::<evaluate::EvaluateRca, _>("evaluate_rca", side)?;
    con.register_table_function_with_extra_info::<forecast::ForecastKpi, _>("forecast_kpi", side)?;
    con.register_table_function_with_extra_info::<BatchedVTab<changepoints::ChangePoints>, _>("change_points", side)?;
    con.register_table_function_with_extra_info::<seasonality::DetectSeasonality, _>("detect_seasonality", side)?;
    con.register_table_function_with_extra_info::<forecast::CompareModels, _>("compare_models", side)?;
    con.register_table_function_with_extra_info::<whatif::WhatIf, _>("what_if", side)?;
    con.register_table_function_with_extra_info::<whatif::DecomposeChange, _>("decompose_change", side)?;
    con.register_table_function_with_extra_info::<tree::RcaTree, _>("rca_tree", side)?;
    con.register_table_function_with_extra_info::<tree::RcaTreeImportance, _>("rca_tree_importance", side)?;
    con.register_scalar_function::<inquery::InQuery<inquery::Detect>>("kpiscope_detect")?;
    con.register_scalar_function::<inquery::InQuery<inquery::Forecast>>("kpiscope_forecast")?;
    con.register_scalar_function::<inquery::InQuery<inquery::ChangePoints>>("kpiscope_change_points")?;
    con.register_scalar_function::<inquery::InQuery<inquery::Seasonality>>("kpiscope_seasonality")?;
    Ok(())
}

/// Implements `VTab` for a function whose whole result is computed at bind time by
/// `$compute(&BindInfo) -> CallResult<ResultTable>`.
macro_rules! materialized_vtab {
    ($vtab:ident, $sql_name:literal, $compute:path, positional: $positional:expr, named: $named:expr) => {
        /// Table function `$sql_name`.
        pub struct $vtab;

        impl duckdb::vtab::VTab for $vtab {
            type BindData = crate::table::ResultTable;
            type InitData = crate::table::Cursor;

            fn bind(bind: &duckdb::vtab::BindInfo) -> crate::guard::CallResult<Self::BindData> {
                crate::guard::guarded($sql_name, || {
                    let table = $compute(bind)?;
                    table.declare(bind);
                    Ok(table)
                })
            }

            fn init(_: &duckdb::vtab::InitInfo) -> crate::guard::CallResult<Self::InitData> {
                Ok(crate::table::Cursor::default())
            }

            fn func(
                func: &duckdb::vtab::TableFunctionInfo<Self>,
                output: &mut duckdb::core::DataChunkHandle,
            ) -> crate::guard::CallResult<()> {
                crate::guard::guarded($sql_name, || {
                    func.get_bind_data().write_next(&func.get_init_data().0, output);
                    Ok(())
                })
            }

            fn parameters() -> Option<Vec<duckdb::core::LogicalTypeHandle>> {
                let positional: &[crate::params::Kind] = $positional;
                crate::params::declare_positional(positional)
            }

            fn named_parameters() -> Option<Vec<(String, duckdb::core::LogicalTypeHandle)>> {
                crate::params::declare($named)
            }
        }
    };
}
pub(crate) use materialized_vtab;
