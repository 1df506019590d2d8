//! Query results as plain values, for the viewer's tables, CSV downloads and the reports.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use duckdb::types::{TimeUnit, ValueRef};
use duckdb::{Connection, ToSql};
use std::fmt;

/// One cell of a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// DOUBLE, FLOAT or DECIMAL.
    Float(f64),
    /// VARCHAR, and any type without a closer match (shown as DuckDB prints it).
    Text(String),
    /// DATE.
    Date(NaiveDate),
    /// TIMESTAMP (microseconds dropped).
    Timestamp(NaiveDateTime),
}

impl Cell {
    /// The value as a float, when it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(v) => Some(*v as f64),
            Cell::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// A DATE (at midnight) or TIMESTAMP as a point in time.
    pub fn as_moment(&self) -> Option<NaiveDateTime> {
        match self {
            Cell::Date(d) => d.and_hms_opt(0, 0, 0),
            Cell::Timestamp(t) => Some(*t),
            _ => None,
        }
    }

    /// The value as text for CSV: empty for NULL, full precision for numbers.
    pub fn csv(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Float(v) => v.to_string(),
            other => {
                let text = other.to_string();
                if text.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", text.replace('"', "\"\""))
                } else {
                    text
                }
            }
        }
    }
}

/// How a TIMESTAMP cell is written as text (microseconds dropped); parse it back with this.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => Ok(()),
            Cell::Bool(v) => write!(f, "{v}"),
            Cell::Int(v) => write!(f, "{v}"),
            Cell::Float(v) if v.abs() >= 1000.0 => write!(f, "{v:.0}"),
            Cell::Float(v) if v.abs() >= 1.0 => write!(f, "{v:.2}"),
            Cell::Float(v) => write!(f, "{v:.4}"),
            Cell::Text(v) => f.write_str(v),
            Cell::Timestamp(v) => write!(f, "{}", v.format(TIMESTAMP_FORMAT)),
            Cell::Date(v) => write!(f, "{v}"),
        }
    }
}

/// A materialised query result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The cell of `row` in column `name` (NULL when the column does not exist).
    pub fn get<'a>(&'a self, row: &'a [Cell], name: &str) -> &'a Cell {
        self.column(name).and_then(|i| row.get(i)).unwrap_or(&Cell::Null)
    }

    /// The whole table as CSV with a header line.
    pub fn to_csv(&self) -> String {
        let mut out = self.columns.join(",");
        out.push('\n');
        for row in &self.rows {
            out.push_str(&row.iter().map(Cell::csv).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        out
    }
}

/// Runs a query with bound parameters and collects every row.
pub fn query(connection: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<Table, duckdb::Error> {
    let mut statement = connection.prepare(sql)?;
    let mut rows = statement.query(params)?;
    let mut out = Vec::new();
    let mut width = 0;
    while let Some(row) = rows.next()? {
        let stmt = row.as_ref();
        width = stmt.column_count();
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(cell(row.get_ref(i)?));
        }
        out.push(cells);
    }
    drop(rows);
    let columns = statement.column_names();
    debug_assert!(out.is_empty() || columns.len() == width);
    Ok(Table { columns, rows: out })
}

fn cell(value: ValueRef<'_>) -> Cell {
    match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Boolean(v) => Cell::Bool(v),
        ValueRef::TinyInt(v) => Cell::Int(v.into()),
        ValueRef::SmallInt(v) => Cell::Int(v.into()),
        ValueRef::Int(v) => Cell::Int(v.into()),
        ValueRef::BigInt(v) => Cell::Int(v),
        ValueRef::UTinyInt(v) => Cell::Int(v.into()),
        ValueRef::USmallInt(v) => Cell::Int(v.into()),
        ValueRef::UInt(v) => Cell::Int(v.into()),
        ValueRef::UBigInt(v) => i64::try_from(v).map_or(Cell::Float(v as f64), Cell::Int),
        ValueRef::HugeInt(v) => i64::try_from(v).map_or(Cell::Float(v as f64), Cell::Int),
        ValueRef::Float(v) => Cell::Float(v.into()),
        ValueRef::Double(v) => Cell::Float(v),
        ValueRef::Decimal(v) => Cell::Float(v.to_string().parse().unwrap_or(f64::NAN)),
        ValueRef::Text(bytes) => Cell::Text(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Date32(days) => NaiveDate::from_epoch_days(days).map_or(Cell::Null, Cell::Date),
        ValueRef::Timestamp(unit, v) => {
            let micros = match unit {
                TimeUnit::Second => v.saturating_mul(1_000_000),
                TimeUnit::Millisecond => v.saturating_mul(1000),
                TimeUnit::Microsecond => v,
                TimeUnit::Nanosecond => v / 1000,
            };
            DateTime::from_timestamp_micros(micros - micros.rem_euclid(1_000_000))
                .map_or(Cell::Null, |t| Cell::Timestamp(t.naive_utc()))
        }
        other => Cell::Text(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_cells_and_csv_quoting() {
        let connection = Connection::open_in_memory().unwrap();
        let table = query(
            &connection,
            "SELECT 1::BIGINT AS n, 2.5::DOUBLE AS x, 'a,\"b' AS s, DATE '2024-03-27' AS d, NULL AS z, ?::VARCHAR AS p",
            &[&"bound"],
        )
        .unwrap();
        assert_eq!(table.columns, ["n", "x", "s", "d", "z", "p"]);
        assert_eq!(table.rows[0][3], Cell::Date(NaiveDate::from_ymd_opt(2024, 3, 27).unwrap()));
        assert_eq!(table.to_csv(), "n,x,s,d,z,p\n1,2.5,\"a,\"\"b\",2024-03-27,,bound\n");
    }
}
