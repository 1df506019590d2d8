//! End-to-end tests through real clients: the DuckDB CLI from PyPI, the `kpiscope` binary,
//! and the Rust client. One binary, one module per client.

mod duckdb_cli;
mod kpiscope_cli;
mod reports;
mod rust_client;
mod serve;
mod viewer;
