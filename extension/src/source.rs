//! Reads user tables for table functions that take a source by name.
//!
//! The extension keeps a second connection to the caller's database, opened at load time.
//! It sees committed tables and views of that database, not the caller's TEMP objects or
//! uncommitted changes: errors say so, because that is the first thing a user will hit.

use crate::guard::{fail, CallResult};
use duckdb::vtab::BindInfo;
use duckdb::Connection;
use std::sync::{Arc, Mutex};

/// A connection to the database that loaded the extension, handed to every function as
/// its extra info. One per `LOAD`: a process may load the extension into several databases,
/// and each must read its own tables. (It keeps its database open until the process exits;
/// the C API offers no way to run a query on the caller's own connection.)
#[derive(Clone)]
pub struct Side(Arc<Mutex<Connection>>);

impl Side {
    /// Wraps a connection opened by the entry point.
    pub fn new(connection: Connection) -> Self {
        Self(Arc::new(Mutex::new(connection)))
    }

    /// The side connection registered with the function being bound.
    pub fn of(bind: &BindInfo) -> CallResult<Self> {
        // SAFETY: every function is registered with a `Side` as extra info (functions::
        // register), which DuckDB keeps alive as long as the function exists.
        #[allow(unsafe_code)]
        let side = unsafe { bind.get_extra_info::<Side>().as_ref() };
        side.cloned().ok_or_else(|| fail("extension not initialised (LOAD kpiscope first)"))
    }

    /// Runs a query, mapping each row with `map`.
    pub fn query<T>(&self, sql: &str, map: impl FnMut(&duckdb::Row<'_>) -> duckdb::Result<T>) -> CallResult<Vec<T>> {
        // A panic while holding the lock is caught by the guard; the connection itself is
        // still usable, so recover it rather than failing every later call.
        let connection = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut stmt = connection.prepare(sql)?;
        let rows = stmt.query_map([], map)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// Quotes an identifier for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// SQL for a dimension column as a text key; NULL becomes the text `NULL` so it is a value
/// like any other (RCA leaves and tree rows need one).
pub fn key_sql(column: &str) -> String {
    format!("coalesce(CAST({} AS VARCHAR), 'NULL')", quote_ident(column))
}

/// Quotes a string literal for SQL.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A resolved source: the SQL to select from and its columns with their types.
pub struct Source {
    name: String,
    from: String,
    columns: Vec<(String, String)>,
}

/// Column types our functions treat as numbers.
const NUMERIC_TYPES: &[&str] = &[
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
];

/// Column types our functions treat as time.
const TEMPORAL_TYPES: &[&str] =
    &["DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"];

fn base_type(sql_type: &str) -> &str {
    sql_type.split('(').next().unwrap_or(sql_type).trim()
}

impl Source {
    /// Resolves `source`: a table or view name, or a parenthesised query.
    pub fn open(side: &Side, source: &str) -> CallResult<Self> {
        let trimmed = source.trim();
        if trimmed.is_empty() {
            return Err(fail("source must name a table or view, or be a parenthesised query"));
        }
        let from = if trimmed.starts_with('(') {
            format!("{trimmed} AS kpiscope_source")
        } else {
            format!("query_table({}) AS kpiscope_source", quote_literal(trimmed))
        };
        let columns = side
            .query(&format!("DESCRIBE SELECT * FROM {from}"), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(|e| {
                fail(format!(
                    "cannot read source '{trimmed}': {}. kpiscope reads through its own connection, \
                 so TEMP tables and uncommitted changes are invisible to it",
                    e.to_string().trim_end()
                ))
            })?;
        Ok(Self { name: trimmed.to_string(), from, columns })
    }

    fn column_type(&self, column: &str) -> Option<&str> {
        self.columns.iter().find(|(name, _)| name == column).map(|(_, t)| t.as_str())
    }

    fn names(&self) -> String {
        self.columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Checks that `column` exists, naming the alternatives when it does not.
    pub fn require_column(&self, role: &str, column: &str) -> CallResult<&str> {
        self.column_type(column).ok_or_else(|| {
            fail(format!("{role} column '{column}' not found in '{}'; columns are: {}", self.name, self.names()))
        })
    }

    /// Checks that `column` exists and holds dates or timestamps; true when it is a DATE.
    pub fn require_temporal(&self, role: &str, column: &str) -> CallResult<bool> {
        let sql_type = self.require_column(role, column)?;
        if !TEMPORAL_TYPES.contains(&base_type(sql_type)) {
            return Err(fail(format!("{role} column '{column}' must be a DATE or TIMESTAMP, but it is {sql_type}")));
        }
        Ok(sql_type == "DATE")
    }

    /// The only temporal column, used when the caller names none.
    pub fn sole_temporal_column(&self) -> CallResult<String> {
        let temporal: Vec<&str> = self
            .columns
            .iter()
            .filter(|(_, t)| TEMPORAL_TYPES.contains(&base_type(t)))
            .map(|(n, _)| n.as_str())
            .collect();
        match temporal.as_slice() {
            [only] => Ok(only.to_string()),
            [] => Err(fail(format!("'{}' has no DATE or TIMESTAMP column; columns are: {}", self.name, self.names()))),
            many => Err(fail(format!(
                "'{}' has several time columns ({}); pick one with ts := '...'",
                self.name,
                many.join(", ")
            ))),
        }
    }

    /// SQL for a value to aggregate per timestamp: a numeric column is summed; anything that
    /// is not a plain name is taken as an aggregate expression such as `sum(a) / sum(b)`.
    pub fn value_expression(&self, value: &str) -> CallResult<String> {
        if let Some(sql_type) = self.column_type(value) {
            if !NUMERIC_TYPES.contains(&base_type(sql_type)) {
                return Err(fail(format!("value column '{value}' must be numeric, but it is {sql_type}")));
            }
            return Ok(format!("sum({})", quote_ident(value)));
        }
        let plain_name = value.chars().all(|c| c.is_alphanumeric() || c == '_');
        if plain_name {
            return Err(fail(format!(
                "value column '{value}' not found in '{}'; columns are: {}",
                self.name,
                self.names()
            )));
        }
        Ok(value.to_string())
    }

    /// SQL for a per-row condition: a BOOLEAN column, or any SQL expression such as
    /// `injected_anomaly IS NOT NULL`. NULL counts as false.
    pub fn condition(&self, role: &str, text: &str) -> CallResult<String> {
        match self.column_type(text) {
            Some("BOOLEAN") => Ok(format!("coalesce({}, false)", quote_ident(text))),
            Some(other) => Err(fail(format!("{role} column '{text}' must be BOOLEAN, but it is {other}"))),
            None if text.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                Err(fail(format!("{role} column '{text}' not found in '{}'; columns are: {}", self.name, self.names())))
            }
            None => Ok(format!("coalesce(CAST(({text}) AS BOOLEAN), false)")),
        }
    }

    /// The FROM clause target.
    pub fn from(&self) -> &str {
        &self.from
    }

    /// The source as the user wrote it.
    pub fn name(&self) -> &str {
        &self.name
    }
}
