//! A runner for the subset of DuckDB's sqllogictest dialect our `.test` files use.
//!
//! Written here because no runner on crates.io parses DuckDB's dialect offline (docs/ARCHITECTURE.md, "Testing").
//! Records are separated by blank lines:
//!
//! ```text
//! require kpiscope            loads the extension; failure to load fails the file
//! statement ok                the SQL must succeed
//! statement error             the SQL must fail; text after ---- must occur in the message
//! query <types> [rowsort]     the SQL's rows, tab-separated, must equal the text after ----
//! ```
//!
//! Values print as DuckDB's runner prints them: NULL, true/false, ISO dates, and numbers
//! in their shortest exact form (round in SQL to compare floating point).

use duckdb::types::{TimeUnit, Value};
use duckdb::Connection;
use std::path::Path;

/// One parsed record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// `require NAME`.
    Require {
        /// Extension name.
        name: String,
        /// 1-based line.
        line: usize,
    },
    /// `statement ok|error`.
    Statement {
        /// SQL text.
        sql: String,
        /// `None` for ok; `Some(substring)` for error (possibly empty: any error).
        error: Option<String>,
        /// 1-based line.
        line: usize,
    },
    /// `query ...`.
    Query {
        /// SQL text.
        sql: String,
        /// Expected rows, tab-separated values.
        expected: Vec<String>,
        /// Sort rows before comparing.
        rowsort: bool,
        /// 1-based line.
        line: usize,
    },
}

/// Parses a `.test` file.
pub fn parse(text: &str) -> Result<Vec<Record>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        i += 1;
        // The body runs to the next blank line; `----` splits SQL from the expectation.
        let mut sql = Vec::new();
        let mut after = Vec::new();
        let mut in_after = false;
        while i < lines.len() && !lines[i].trim().is_empty() {
            if lines[i].trim_end() == "----" {
                in_after = true;
            } else if in_after {
                after.push(lines[i].trim_end().to_string());
            } else {
                sql.push(lines[i]);
            }
            i += 1;
        }
        let sql = sql.join("\n");
        let record = match words.as_slice() {
            ["require", name] => Record::Require { name: name.to_string(), line: start },
            ["statement", "ok"] => Record::Statement { sql, error: None, line: start },
            ["statement", "error"] => Record::Statement { sql, error: Some(after.join("\n")), line: start },
            ["query", _types, rest @ ..] => {
                Record::Query { sql, expected: after, rowsort: rest.contains(&"rowsort"), line: start }
            }
            _ => return Err(format!("line {start}: cannot parse '{line}'")),
        };
        records.push(record);
    }
    Ok(records)
}

/// Renders one value the way expected results are written.
pub fn render(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Boolean(b) => b.to_string(),
        Value::TinyInt(v) => v.to_string(),
        Value::SmallInt(v) => v.to_string(),
        Value::Int(v) => v.to_string(),
        Value::BigInt(v) => v.to_string(),
        Value::HugeInt(v) => v.to_string(),
        Value::UTinyInt(v) => v.to_string(),
        Value::USmallInt(v) => v.to_string(),
        Value::UInt(v) => v.to_string(),
        Value::UBigInt(v) => v.to_string(),
        // Debug keeps the ".0" of integral values, as DuckDB prints DOUBLEs.
        Value::Float(v) => format!("{v:?}"),
        Value::Double(v) => format!("{v:?}"),
        Value::Decimal(v) => v.to_string(),
        Value::Text(s) if s.is_empty() => "(empty)".into(),
        Value::Text(s) => s.clone(),
        Value::Date32(days) => epoch_days_to_iso(i64::from(*days)),
        Value::Timestamp(unit, amount) => {
            let micros = match unit {
                TimeUnit::Second => amount * 1_000_000,
                TimeUnit::Millisecond => amount * 1_000,
                TimeUnit::Microsecond => *amount,
                TimeUnit::Nanosecond => amount / 1_000,
            };
            chrono::DateTime::from_timestamp_micros(micros)
                .map_or_else(|| format!("<timestamp {micros}>"), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        }
        Value::List(items) => format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}

fn epoch_days_to_iso(days: i64) -> String {
    chrono::DateTime::from_timestamp(days * 86_400, 0)
        .map_or_else(|| format!("<date {days}>"), |t| t.format("%Y-%m-%d").to_string())
}

fn query_rows(connection: &Connection, sql: &str) -> duckdb::Result<Vec<String>> {
    let mut stmt = connection.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let width = row.as_ref().column_count();
        let cells: Vec<String> =
            (0..width).map(|i| row.get::<_, Value>(i).map(|v| render(&v))).collect::<duckdb::Result<_>>()?;
        out.push(cells.join("\t"));
    }
    Ok(out)
}

/// Outcome of one file: how many records passed and a message per failure.
#[derive(Debug, Default)]
pub struct FileReport {
    /// Records that behaved as expected.
    pub passed: usize,
    /// One message per record that did not.
    pub failures: Vec<String>,
}

/// Runs a file's records against a fresh in-memory database; `extension` is what
/// `require kpiscope` loads.
pub fn run_file(path: &Path, extension: &Path) -> FileReport {
    let mut report = FileReport::default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            report.failures.push(format!("cannot read: {e}"));
            return report;
        }
    };
    let records = match parse(&text) {
        Ok(records) => records,
        Err(e) => {
            report.failures.push(e);
            return report;
        }
    };
    // Unsigned loading must be allowed at open time, before `require` asks for it.
    let connection =
        match duckdb::Config::default().allow_unsigned_extensions().and_then(Connection::open_in_memory_with_flags) {
            Ok(connection) => connection,
            Err(e) => {
                report.failures.push(format!("cannot open DuckDB: {e}"));
                return report;
            }
        };
    for record in records {
        let outcome = match &record {
            Record::Require { name, line } => {
                if name != "kpiscope" {
                    Err(format!("line {line}: unknown requirement '{name}'"))
                } else {
                    kpiscope_db::load_extension(&connection, extension).map_err(|e| format!("line {line}: {e}"))
                }
            }
            Record::Statement { sql, error, line } => match (connection.execute_batch(sql), error) {
                (Ok(()), None) => Ok(()),
                (Err(e), None) => Err(format!("line {line}: statement failed: {e}\n  {sql}")),
                (Ok(()), Some(_)) => {
                    Err(format!("line {line}: statement succeeded but an error was expected\n  {sql}"))
                }
                (Err(e), Some(expected)) if e.to_string().contains(expected.as_str()) => Ok(()),
                (Err(e), Some(expected)) => {
                    Err(format!("line {line}: error message\n  {e}\ndoes not contain\n  {expected}"))
                }
            },
            Record::Query { sql, expected, rowsort, line } => match query_rows(&connection, sql) {
                Err(e) => Err(format!("line {line}: query failed: {e}\n  {sql}")),
                Ok(mut actual) => {
                    let mut expected = expected.clone();
                    if *rowsort {
                        actual.sort();
                        expected.sort();
                    }
                    if actual == expected {
                        Ok(())
                    } else {
                        Err(format!(
                            "line {line}: wrong result\n  {sql}\nexpected:\n{}\nactual:\n{}",
                            expected.join("\n"),
                            actual.join("\n")
                        ))
                    }
                }
            },
        };
        match outcome {
            Ok(()) => report.passed += 1,
            Err(message) => {
                let fatal = matches!(record, Record::Require { .. });
                report.failures.push(message);
                if fatal {
                    break;
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_record_kind() {
        let text = "# c\nrequire kpiscope\n\nstatement ok\nCREATE TABLE t(a INT)\n\nstatement error\nSELECT x\n----\nnot found\n\nquery IT rowsort\nSELECT 1,\n 'a'\n----\n1\ta\n";
        let records = parse(text).unwrap();
        assert_eq!(records.len(), 4);
        assert_eq!(records[0], Record::Require { name: "kpiscope".into(), line: 2 });
        assert_eq!(records[2], Record::Statement { sql: "SELECT x".into(), error: Some("not found".into()), line: 7 });
        assert_eq!(
            records[3],
            Record::Query { sql: "SELECT 1,\n 'a'".into(), expected: vec!["1\ta".into()], rowsort: true, line: 12 }
        );
    }

    #[test]
    fn rejects_unknown_records() {
        assert!(parse("frobnicate\nSELECT 1\n").unwrap_err().contains("line 1"));
    }

    #[test]
    fn renders_values_like_the_reference_runner() {
        assert_eq!(render(&Value::Null), "NULL");
        assert_eq!(render(&Value::Date32(19_723)), "2024-01-01");
        assert_eq!(render(&Value::Date32(-1)), "1969-12-31");
        assert_eq!(
            render(&Value::Timestamp(TimeUnit::Microsecond, 86_400_000_000 + 3_723_000_000)),
            "1970-01-02 01:02:03"
        );
        assert_eq!(render(&Value::Double(2.5)), "2.5");
        assert_eq!(render(&Value::Double(3.0)), "3.0");
        assert_eq!(render(&Value::Text(String::new())), "(empty)");
    }

    #[test]
    fn a_wrong_expectation_fails_the_file() {
        let dir = std::env::temp_dir().join(format!("kpiscope-slt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("wrong.test");
        std::fs::write(&file, "query I\nSELECT 1\n----\n2\n\nstatement error\nSELECT 1\n----\n\n").unwrap();
        let report = run_file(&file, Path::new("/nonexistent"));
        assert_eq!(report.passed, 0);
        assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    }
}
