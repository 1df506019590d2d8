//! kpiscope as a DuckDB loadable extension: a thin FFI shell over `kpiscope-engine`.
//!
//! This crate reads parameters and tables, calls the engine and writes DuckDB vectors; it
//! holds no statistics. Every callback runs inside [`guard::guarded`], so a panic becomes a
//! DuckDB error instead of killing the host process.

mod batched;
mod functions;
mod guard;
mod params;
mod series;
mod source;
mod table;

/// The entry point DuckDB calls: duckdb-rs's macro expands it into `unsafe extern "C"`,
/// `no_mangle` functions, the one place this crate may hold such code.
#[allow(unsafe_code)]
mod entry {
    use crate::{functions, guard, source};
    use duckdb::{duckdb_entrypoint_c_api, Connection};
    use std::error::Error;

    /// Called by DuckDB on `LOAD kpiscope`.
    #[duckdb_entrypoint_c_api(ext_name = "kpiscope", min_duckdb_version = "v1.5.6")]
    pub fn extension_entrypoint(con: Connection) -> Result<(), Box<dyn Error>> {
        guard::install_quiet_panic_hook();
        // Table functions read user tables through side connections to the same database: the
        // C API gives a bind callback no way to run queries on the caller's connection.
        functions::register(&con, &source::Side::open(&con)?)?;
        Ok(())
    }
}
