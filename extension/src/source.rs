//! Reads user tables for table functions that take a source by name.
//!
//! The C API gives a bind callback no way to run a query on the caller's own connection, so
//! the extension reads through side connections to the same database (see
//! docs/ARCHITECTURE.md, "The side connections"). They see committed tables and views of that
//! database, not the caller's TEMP objects or uncommitted changes: errors say so, because that
//! is the first thing a user will hit.
//!
//! Three rules keep a side read from harming the caller:
//! - every statement we run is one `SELECT * FROM query('...')`, with all text the user gave
//!   inside that string literal: DuckDB's `query()` accepts exactly one SELECT statement, so
//!   no argument can smuggle in a second statement;
//! - every read runs in a `READ ONLY` transaction, so nothing can write even if a check is
//!   missed (`nextval`, a function with side effects);
//! - no lock is held while a query runs: a source that itself calls kpiscope (a view over
//!   `detect_anomalies`) is read on another connection of the pool, never a deadlock.

use crate::guard::{fail, CallResult};
use duckdb::arrow::array::{Array, ArrayRef, StringArray};
use duckdb::arrow::compute::cast;
use duckdb::arrow::datatypes::DataType;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::vtab::BindInfo;
use duckdb::Connection;
use std::cell::Cell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Side connections per database. Each nesting level of a kpiscope call inside another one's
/// source, and each concurrent call, holds one while it reads.
pub const POOL_SIZE: usize = 8;

/// How long a nested read waits for a free connection before giving up. A top-level read
/// waits as long as it takes (the connections it waits for are held by reads that end); a
/// nested one might wait for a connection that its own caller holds.
const NESTED_WAIT: Duration = Duration::from_secs(10);

thread_local! {
    /// Side connections this thread holds: above zero, a read is nested inside another.
    static HELD: Cell<usize> = const { Cell::new(0) };
}

struct Pool {
    free: Mutex<Vec<Connection>>,
    returned: Condvar,
}

impl Pool {
    fn free(&self) -> MutexGuard<'_, Vec<Connection>> {
        // The list is only pushed and popped; a panic elsewhere cannot leave it inconsistent.
        self.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The side connections of the database that loaded the extension, handed to every function
/// as its extra info. One pool per `LOAD`: a process may load the extension into several
/// databases, and each must read its own tables.
///
/// The connections are opened at load time because the database handle DuckDB gives the
/// entry point is valid only during the load. They keep their database open until the
/// process exits.
#[derive(Clone)]
pub struct Side(Arc<Pool>);

impl Side {
    /// Opens [`POOL_SIZE`] connections beside `connection` (call at load time only).
    pub fn open(connection: &Connection) -> duckdb::Result<Self> {
        let free = (0..POOL_SIZE).map(|_| connection.try_clone()).collect::<duckdb::Result<Vec<_>>>()?;
        Ok(Self(Arc::new(Pool { free: Mutex::new(free), returned: Condvar::new() })))
    }

    /// The side connections registered with the function being bound.
    pub fn of(bind: &BindInfo) -> CallResult<Self> {
        // SAFETY: every function is registered with a `Side` as extra info (functions::
        // register), which DuckDB keeps alive as long as the function exists.
        #[allow(unsafe_code)]
        let side = unsafe { bind.get_extra_info::<Side>().as_ref() };
        side.cloned().ok_or_else(|| fail("extension not initialised (LOAD kpiscope first)"))
    }

    /// A read-only session on a free connection, for the duration of one function's bind.
    pub fn reader(&self) -> CallResult<Reader> {
        let nested = HELD.get() > 0;
        let mut free = self.0.free();
        let connection = loop {
            if let Some(connection) = free.pop() {
                break connection;
            }
            if nested {
                let (guard, timeout) =
                    self.0.returned.wait_timeout(free, NESTED_WAIT).unwrap_or_else(|poisoned| poisoned.into_inner());
                free = guard;
                if timeout.timed_out() && free.is_empty() {
                    return Err(fail(format!(
                        "all {POOL_SIZE} side connections are busy with nested or concurrent kpiscope calls; \
                         materialise the inner result first (CREATE TABLE ... AS SELECT ...) or retry"
                    )));
                }
            } else {
                free = self.0.returned.wait(free).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        drop(free);
        let reader = Reader { connection: Some(connection), pool: self.0.clone() };
        HELD.set(HELD.get() + 1);
        reader.execute("BEGIN TRANSACTION READ ONLY")?;
        Ok(reader)
    }
}

/// One side connection in a read-only transaction; given back to the pool when dropped.
pub struct Reader {
    connection: Option<Connection>,
    pool: Arc<Pool>,
}

impl Reader {
    fn connection(&self) -> &Connection {
        self.connection.as_ref().expect("present until drop")
    }

    fn execute(&self, sql: &str) -> CallResult<()> {
        self.connection().execute_batch(sql).map_err(|e| fail(format!("side connection: {e}")))
    }

    /// Runs one SELECT statement, mapping each row with `map`. `select` is passed to DuckDB's
    /// `query()` as a string literal, which refuses anything but a single SELECT.
    pub fn query<T>(
        &self,
        select: &str,
        map: impl FnMut(&duckdb::Row<'_>) -> duckdb::Result<T>,
    ) -> duckdb::Result<Vec<T>> {
        let sql = format!("SELECT * FROM query({})", quote_literal(select));
        let mut stmt = self.connection().prepare(&sql)?;
        let rows = stmt.query_map([], map)?;
        rows.collect()
    }

    /// Runs one SELECT statement (passed to `query()` like [`Reader::query`]) and hands its
    /// result to `each` one Arrow batch at a time: columnar, so a large source costs no
    /// per-row conversion.
    pub fn batches(&self, select: &str, mut each: impl FnMut(&RecordBatch) -> CallResult<()>) -> Result<(), ReadError> {
        let sql = format!("SELECT * FROM query({})", quote_literal(select));
        let mut stmt = self.connection().prepare(&sql).map_err(ReadError::Query)?;
        // The result is complete once executed, so fetching its batches cannot fail midway.
        for batch in stmt.query_arrow([]).map_err(ReadError::Query)? {
            each(&batch).map_err(ReadError::Rows)?;
        }
        Ok(())
    }

    /// The columns and types `select` returns, without running it.
    pub fn describe(&self, select: &str) -> duckdb::Result<Vec<(String, String)>> {
        let sql =
            format!("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM query({}))", quote_literal(select));
        let mut stmt = self.connection().prepare(&sql)?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
        rows.collect()
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        HELD.set(HELD.get().saturating_sub(1));
        if let Some(connection) = self.connection.take() {
            // Ends the read-only transaction (also after a failed query, which aborts it).
            let _ = connection.execute_batch("ROLLBACK");
            self.pool.free().push(connection);
            self.pool.returned.notify_one();
        }
    }
}

/// Why [`Reader::batches`] failed: DuckDB refused or failed the query, or the rows were
/// refused by the caller.
pub enum ReadError {
    /// DuckDB's error.
    Query(duckdb::Error),
    /// The caller's error for a batch.
    Rows(Box<dyn std::error::Error>),
}

impl ReadError {
    /// The error to report: the caller's own as it is, DuckDB's put in words by `message`
    /// from its [`explain`]ed text.
    pub fn reported(self, message: impl FnOnce(String) -> Box<dyn std::error::Error>) -> Box<dyn std::error::Error> {
        match self {
            ReadError::Rows(e) => e,
            ReadError::Query(e) => message(explain(&e)),
        }
    }
}

/// Column `index` of a batch from [`Reader::batches`] as `A`: the reading query fixes every
/// column's type, so another type is a bug here, reported as an error rather than a panic.
pub fn typed<A: Array + 'static>(batch: &RecordBatch, index: usize) -> CallResult<&A> {
    downcast(batch.column(index))
}

fn downcast<A: Array + 'static>(column: &ArrayRef) -> CallResult<&A> {
    column
        .as_any()
        .downcast_ref::<A>()
        .ok_or_else(|| fail(format!("internal error: a column read is {}", column.data_type())))
}

/// A VARCHAR column of `batch` as Arrow UTF-8, whichever string layout DuckDB chose.
pub fn text_column(batch: &RecordBatch, index: usize) -> CallResult<StringArray> {
    let column = cast(batch.column(index), &DataType::Utf8).map_err(|e| fail(format!("internal error: {e}")))?;
    Ok(downcast::<StringArray>(&column)?.clone())
}

/// Whether `row` of a batch's key columns holds `key` (text, NULL as `None`). Readers sort by
/// the key, so a run of rows with equal keys is one group: comparing with the last group's key
/// copies a key's text once per group ([`key_at`]), not per row.
pub fn same_key(key: &[Option<String>], columns: &[StringArray], row: usize) -> bool {
    key.len() == columns.len()
        && key.iter().zip(columns).all(|(k, c)| k.as_deref() == c.is_valid(row).then(|| c.value(row)))
}

/// The key of `row` in a batch's key columns, owned.
pub fn key_at(columns: &[StringArray], row: usize) -> Vec<Option<String>> {
    columns.iter().map(|c| c.is_valid(row).then(|| c.value(row).to_string())).collect()
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

/// DuckDB's message, trimmed, with a hint where DuckDB's own words would puzzle a user.
pub fn explain(error: &duckdb::Error) -> String {
    let text = error.to_string();
    // DuckDB appends the position in our generated query ("LINE 1: ... query('...')"), which
    // points into SQL the user never wrote.
    let text = text.split("\n\nLINE ").next().unwrap_or(&text).trim_end().to_string();
    if text.contains("Expected a single SELECT statement") {
        return "it must be a single SELECT statement (kpiscope functions only read)".to_string();
    }
    text
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

/// Whether `text` is a plain column name rather than an expression.
fn is_plain_name(text: &str) -> bool {
    text.chars().all(|c| c.is_alphanumeric() || c == '_')
}

impl Source {
    /// The error for a time column holding 'infinity' (`epoch_us` of it is NULL, so readers
    /// find it in their batches).
    pub fn infinite_times(&self, ts: &str) -> Box<dyn std::error::Error> {
        fail(format!(
            "ts column '{ts}' holds 'infinity' or '-infinity'; filter them out, e.g. \
             '(SELECT * FROM {} WHERE isfinite({}))'",
            self.name,
            quote_ident(ts)
        ))
    }

    /// Resolves `source`: a table or view name, or a parenthesised query. `role` names the
    /// parameter in errors (`source`, `events`, `tree`).
    pub fn open(reader: &Reader, role: &str, source: &str) -> CallResult<Self> {
        let trimmed = source.trim();
        if trimmed.is_empty() {
            return Err(fail(format!("{role} must name a table or view, or be a parenthesised query")));
        }
        let from = if trimmed.starts_with('(') {
            format!("{trimmed} AS kpiscope_source")
        } else {
            format!("query_table({}) AS kpiscope_source", quote_literal(trimmed))
        };
        let columns = reader.describe(&format!("SELECT * FROM {from}")).map_err(|e| {
            let hint = if trimmed.starts_with('(') {
                ""
            } else if trimmed.contains('"') {
                ". A name with quotes can be read as a parenthesised query: '(SELECT * FROM \"my\"\"table\")'"
            } else {
                ". kpiscope reads through its own connection, so TEMP tables, DataFrames and uncommitted \
                 changes are invisible to it; for those use the in-query form, e.g. SELECT g, \
                 kpiscope_detect(list(ts), list(value)) FROM t GROUP BY g"
            };
            fail(format!("cannot read {role} '{trimmed}': {}{hint}", explain(&e)))
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

    /// Checks a list of columns: each exists, none twice.
    pub fn require_columns(&self, role: &str, columns: &[String]) -> CallResult<()> {
        for (i, column) in columns.iter().enumerate() {
            self.require_column(role, column)?;
            if columns[..i].contains(column) {
                return Err(fail(format!("{role} lists '{column}' twice")));
            }
        }
        Ok(())
    }

    /// Checks that `column` exists and holds dates or timestamps; true when it is a DATE.
    pub fn require_temporal(&self, role: &str, column: &str) -> CallResult<bool> {
        let sql_type = self.require_column(role, column)?;
        if !TEMPORAL_TYPES.contains(&base_type(sql_type)) {
            return Err(fail(format!("{role} column '{column}' must be a DATE or TIMESTAMP, but it is {sql_type}")));
        }
        Ok(sql_type == "DATE")
    }

    /// The `ts` column the caller named, or else the only temporal column.
    pub fn time_column(&self, named: Option<String>) -> CallResult<String> {
        if let Some(ts) = named {
            return Ok(ts);
        }
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
        if is_plain_name(value) {
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
            None if is_plain_name(text) => {
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
