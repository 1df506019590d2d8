//! Opening kpiscope databases and running the project's SQL scripts.
//!
//! Every Rust program of the project (the CLI, the viewer, the reports, the tests) opens
//! DuckDB through here, so the extension is loaded one way everywhere: unsigned extensions
//! are allowed at open time (the only time DuckDB accepts that setting), then `LOAD`.

use duckdb::{AccessMode, Config, Connection};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub mod budget;
pub mod catalog;
pub mod feedback;
pub mod model;
pub mod read;
mod refresh;

pub use model::{Incremental, Loaded};
pub use refresh::{create_demo, fixed_steps, refresh_file, remove_database, run_refresh, Demo, Step};

/// Creates the demo KPI tables; `{days}`, `{seed}` and `{anomalies}` are filled in.
pub const DEMO_DATA_SQL: &str = include_str!("../../examples/demo/data.sql");
/// The demo's KPI model.
pub const DEMO_MODEL: &str = include_str!("../../examples/demo/kpiscope.toml");
/// Precision and recall of the demo's refreshed flags against its injected labels.
pub const DEMO_SCORES_SQL: &str = include_str!("../../examples/demo/scores.sql");
/// The fixed steps every refresh ends with (stamp, report register).
pub const REFRESH_SQL: &str = include_str!("../../sql/refresh.sql");
/// One view per dashboard tab over the refreshed tables.
pub const VIEWS_SQL: &str = include_str!("../../sql/views.sql");

/// A file kept beside database `db` under its stem: `companion("shop.duckdb", "alerts.duckdb")`
/// is `shop.alerts.duckdb` (the alert log, the feedback store).
pub fn companion(db: &Path, suffix: &str) -> PathBuf {
    let stem = db.file_stem().map_or("kpiscope".into(), |s| s.to_string_lossy().into_owned());
    db.with_file_name(format!("{stem}.{suffix}"))
}

/// File name of the built extension.
pub const EXTENSION_FILE: &str = "kpiscope.duckdb_extension";

/// Failures opening or preparing a database.
#[derive(Debug, Error)]
pub enum DbError {
    /// The extension file is not where we looked.
    #[error("extension not found at {0} (build it with `make build`, or pass --extension)")]
    ExtensionMissing(PathBuf),
    /// DuckDB refused to open the file.
    #[error("cannot open {path}: {source}")]
    Open {
        /// Database path, or `:memory:`.
        path: String,
        /// DuckDB's error.
        source: duckdb::Error,
    },
    /// `LOAD` failed.
    #[error("cannot load the kpiscope extension from {path}: {source}")]
    Load {
        /// Extension path.
        path: PathBuf,
        /// DuckDB's error.
        source: duckdb::Error,
    },
    /// A SQL script failed.
    #[error("{script} failed: {source}")]
    Script {
        /// Which script (and step).
        script: String,
        /// DuckDB's error.
        source: duckdb::Error,
    },
    /// The KPI model is wrong.
    #[error("{origin}:{}{message}", line.map(|l| format!("{l}: ")).unwrap_or_else(|| " ".into()))]
    Model {
        /// The model file, or the stored model.
        origin: String,
        /// Its line, when known.
        line: Option<usize>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A refresh without a model file on a database never refreshed with one.
    #[error("this database has no KPI model yet: pass --model kpiscope.toml (`kpiscope init` writes one)")]
    NoModel,
    /// Copying, replacing or removing a database file failed.
    #[error("{action} {path}: {source}")]
    File {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// How to open a database.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Database file; `None` for an in-memory database.
    pub path: Option<PathBuf>,
    /// Extension to load; `None` opens plain DuckDB, as a BI tool would.
    pub extension: Option<PathBuf>,
    /// Open read-only (readers of a refreshed database).
    pub read_only: bool,
}

/// Opens a database as described by `options`.
pub fn open(options: &OpenOptions) -> Result<Connection, DbError> {
    let label = options.path.as_ref().map_or(":memory:".to_string(), |p| p.display().to_string());
    let open_error = |source| DbError::Open { path: label.clone(), source };
    let mut config = Config::default();
    if options.extension.is_some() {
        config = config.allow_unsigned_extensions().map_err(open_error)?;
    }
    if options.read_only {
        config = config.access_mode(AccessMode::ReadOnly).map_err(open_error)?;
    }
    let connection = match &options.path {
        Some(path) => Connection::open_with_flags(path, config),
        None => Connection::open_in_memory_with_flags(config),
    }
    .map_err(open_error)?;
    if let Some(extension) = &options.extension {
        load_extension(&connection, extension)?;
    }
    Ok(connection)
}

/// Loads the extension into an open connection.
pub fn load_extension(connection: &Connection, extension: &Path) -> Result<(), DbError> {
    if !extension.is_file() {
        return Err(DbError::ExtensionMissing(extension.to_path_buf()));
    }
    let literal = extension.display().to_string().replace('\'', "''");
    connection
        .execute_batch(&format!("LOAD '{literal}'"))
        .map_err(|source| DbError::Load { path: extension.to_path_buf(), source })
}

/// The extension beside the running executable (where `make build` puts both), unless
/// `KPISCOPE_EXTENSION` names another file.
pub fn default_extension_path() -> PathBuf {
    if let Some(path) = std::env::var_os("KPISCOPE_EXTENSION") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(EXTENSION_FILE)))
        .unwrap_or_else(|| PathBuf::from(EXTENSION_FILE))
}

/// Runs a multi-statement script.
pub fn run_script(connection: &Connection, script: &str, sql: &str) -> Result<(), DbError> {
    connection.execute_batch(sql).map_err(|source| DbError::Script { script: script.to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_database_opens_without_the_extension() {
        let connection = open(&OpenOptions::default()).unwrap();
        let answer: i64 = connection.query_row("SELECT 41 + 1", [], |row| row.get(0)).unwrap();
        assert_eq!(answer, 42);
    }

    #[test]
    fn missing_extension_is_reported_with_a_fix() {
        let options =
            OpenOptions { extension: Some("/nonexistent/kpiscope.duckdb_extension".into()), ..Default::default() };
        let err = open(&options).unwrap_err().to_string();
        assert!(err.contains("make build"), "{err}");
    }

    #[test]
    fn demo_template_has_its_placeholders() {
        for placeholder in ["{days}", "{seed}", "{anomalies}"] {
            assert!(DEMO_DATA_SQL.contains(placeholder), "{placeholder} missing");
        }
    }
}
