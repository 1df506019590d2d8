//! A function's result (an engine [`Table`], computed at bind time) streamed out in
//! vector-sized chunks, so writing DuckDB vectors lives in one place.

use duckdb::core::{DataChunkHandle, FlatVector, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;
use kpiscope_engine::frame::{Column, Table};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// DuckDB's type for an engine column.
pub fn logical_type(column: &Column) -> LogicalTypeId {
    match column {
        Column::Date(_) => LogicalTypeId::Date,
        Column::Timestamp(_) => LogicalTypeId::Timestamp,
        Column::Integer(_) => LogicalTypeId::Integer,
        Column::BigInt(_) => LogicalTypeId::Bigint,
        Column::Double(_) => LogicalTypeId::Double,
        Column::Boolean(_) => LogicalTypeId::Boolean,
        Column::Text(_) => LogicalTypeId::Varchar,
    }
}

/// A function's result as its bind data.
pub struct ResultTable(Table);

impl From<Table> for ResultTable {
    fn from(table: Table) -> Self {
        ResultTable(table)
    }
}

impl ResultTable {
    /// Builds a table from columns of equal length.
    pub fn new(columns: Vec<(String, Column)>) -> Self {
        ResultTable(Table::new(columns))
    }

    /// Declares the columns as the function's result schema.
    pub fn declare(&self, bind: &BindInfo) {
        for (name, column) in self.0.columns() {
            bind.add_result_column(name, LogicalTypeHandle::from(logical_type(column)));
        }
    }

    fn rows(&self) -> usize {
        self.0.rows()
    }

    /// Writes the next chunk of rows, advancing `cursor`; writes zero rows when done.
    pub fn write_next(&self, cursor: &AtomicUsize, output: &mut DataChunkHandle) {
        let start = cursor.fetch_add(chunk_capacity(output), Ordering::Relaxed).min(self.rows());
        let every: Vec<Option<usize>> = (0..self.0.columns().len()).map(Some).collect();
        write_rows(&self.0, &every, start, output);
    }
}

/// How many rows one output chunk takes.
pub fn chunk_capacity(output: &DataChunkHandle) -> usize {
    if output.num_columns() == 0 {
        0
    } else {
        output.flat_vector(0).capacity()
    }
}

/// Writes rows of `table` from `start` on into `output`, as many as fit, and returns how many.
/// `columns[j]` is the table column for the chunk's vector `j`; `None` (a column DuckDB asks
/// for that the function does not have, such as the row id of `count(*)`) is written as NULLs.
pub fn write_rows(table: &Table, columns: &[Option<usize>], start: usize, output: &mut DataChunkHandle) -> usize {
    let end = (start + chunk_capacity(output)).min(table.rows()).max(start);
    for (index, column) in columns.iter().enumerate() {
        let mut vector = output.flat_vector(index);
        match column.and_then(|c| table.columns().get(c)) {
            Some((_, values)) => write_column(&mut vector, values, start..end, 0),
            None => (0..end - start).for_each(|row| vector.set_null(row)),
        }
    }
    output.set_len(end - start);
    end - start
}

/// Writes `column[range]` into `vector` from row `at` on; the vector must hold
/// `at + range.len()` rows of the column's type. The one place engine values become DuckDB
/// vectors (table functions' chunks and the in-query functions' lists).
pub fn write_column(vector: &mut FlatVector<'_>, column: &Column, range: Range<usize>, at: usize) {
    match column {
        Column::Date(v) | Column::Integer(v) => write_primitive(vector, &v[range], at),
        Column::Timestamp(v) | Column::BigInt(v) => write_primitive(vector, &v[range], at),
        Column::Double(v) => write_primitive(vector, &v[range], at),
        Column::Boolean(v) => write_primitive(vector, &v[range], at),
        Column::Text(v) => {
            for (row, value) in v[range].iter().enumerate() {
                match value {
                    Some(text) => vector.insert(at + row, text.as_str()),
                    None => vector.set_null(at + row),
                }
            }
        }
    }
}

fn write_primitive<T: Copy + Default>(vector: &mut FlatVector<'_>, values: &[Option<T>], at: usize) {
    // SAFETY: the vector's physical type matches T (both come from the same `Column`
    // variant) and the caller sized it to hold `at + values.len()` rows.
    #[allow(unsafe_code)]
    let slots = unsafe { vector.as_mut_slice_with_len::<T>(at + values.len()) };
    for (slot, value) in slots[at..].iter_mut().zip(values) {
        *slot = value.unwrap_or_default();
    }
    for (row, value) in values.iter().enumerate() {
        if value.is_none() {
            vector.set_null(at + row);
        }
    }
}

/// Init data shared by every table function: how many rows have been handed out.
#[derive(Default)]
pub struct Cursor(pub AtomicUsize);
