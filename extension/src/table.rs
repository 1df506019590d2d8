//! A function's result (an engine [`Table`], computed at bind time) streamed out in
//! vector-sized chunks, so writing DuckDB vectors lives in one place.

use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;
use kpiscope_engine::frame::{Column, Table};
use std::sync::atomic::{AtomicUsize, Ordering};

/// DuckDB's type for an engine column.
fn logical_type(column: &Column) -> LogicalTypeId {
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
        let capacity = if self.0.columns().is_empty() { 0 } else { output.flat_vector(0).capacity() };
        let start = cursor.fetch_add(capacity, Ordering::Relaxed).min(self.rows());
        let end = (start + capacity).min(self.rows());
        for (index, (_, values)) in self.0.columns().iter().enumerate() {
            let mut vector = output.flat_vector(index);
            match values {
                Column::Date(v) | Column::Integer(v) => write_primitive(&mut vector, &v[start..end]),
                Column::Timestamp(v) | Column::BigInt(v) => write_primitive(&mut vector, &v[start..end]),
                Column::Double(v) => write_primitive(&mut vector, &v[start..end]),
                Column::Boolean(v) => write_primitive(&mut vector, &v[start..end]),
                Column::Text(v) => {
                    for (row, value) in v[start..end].iter().enumerate() {
                        match value {
                            Some(text) => vector.insert(row, text.as_str()),
                            None => vector.set_null(row),
                        }
                    }
                }
            }
        }
        output.set_len(end - start);
    }
}

fn write_primitive<T: Copy + Default>(vector: &mut duckdb::core::FlatVector<'_>, values: &[Option<T>]) {
    // SAFETY: the vector's physical type matches T (both come from the same `Column`
    // variant) and `values` is no longer than the chunk capacity `write_next` sized it to.
    #[allow(unsafe_code)]
    let slots = unsafe { vector.as_mut_slice_with_len::<T>(values.len()) };
    for (slot, value) in slots.iter_mut().zip(values) {
        *slot = value.unwrap_or_default();
    }
    for (row, value) in values.iter().enumerate() {
        if value.is_none() {
            vector.set_null(row);
        }
    }
}

/// Init data shared by every table function: how many rows have been handed out.
#[derive(Default)]
pub struct Cursor(pub AtomicUsize);
