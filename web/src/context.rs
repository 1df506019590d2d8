//! What every page needs from the database: the catalogue (KPIs, dimensions, levers, grain)
//! and the data-as-of stamp, read once per request through the shared read model.

use crate::error::AppError;
use duckdb::Connection;
pub use kpiscope_db::catalog::{Catalog as Context, Kpi};

/// Reads the catalogue; a database never refreshed with a model is a 503 saying what to run.
pub fn load(connection: &Connection) -> Result<Context, AppError> {
    Context::read(connection).map_err(|e| match e {
        kpiscope_db::catalog::CatalogError::NotRefreshed => AppError::unavailable(e.to_string()),
        other => AppError::internal(other),
    })
}
