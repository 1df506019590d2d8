//! A column-oriented result set computed at bind time and streamed out in vector-sized
//! chunks. Every table function builds one of these, so writing DuckDB vectors lives in one
//! place.

use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::BindInfo;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One output column's values; `None` is SQL NULL.
pub enum Values {
    /// DATE: days since 1970-01-01.
    Date(Vec<Option<i32>>),
    /// TIMESTAMP: microseconds since 1970-01-01.
    Timestamp(Vec<Option<i64>>),
    /// INTEGER.
    Integer(Vec<Option<i32>>),
    /// BIGINT.
    BigInt(Vec<Option<i64>>),
    /// DOUBLE.
    Double(Vec<Option<f64>>),
    /// BOOLEAN.
    Boolean(Vec<Option<bool>>),
    /// VARCHAR.
    Varchar(Vec<Option<String>>),
}

impl Values {
    fn logical_type(&self) -> LogicalTypeId {
        match self {
            Values::Date(_) => LogicalTypeId::Date,
            Values::Timestamp(_) => LogicalTypeId::Timestamp,
            Values::Integer(_) => LogicalTypeId::Integer,
            Values::BigInt(_) => LogicalTypeId::Bigint,
            Values::Double(_) => LogicalTypeId::Double,
            Values::Boolean(_) => LogicalTypeId::Boolean,
            Values::Varchar(_) => LogicalTypeId::Varchar,
        }
    }

    fn len(&self) -> usize {
        match self {
            Values::Date(v) | Values::Integer(v) => v.len(),
            Values::Timestamp(v) | Values::BigInt(v) => v.len(),
            Values::Double(v) => v.len(),
            Values::Boolean(v) => v.len(),
            Values::Varchar(v) => v.len(),
        }
    }
}

/// Named columns of equal length.
pub struct ResultTable {
    columns: Vec<(String, Values)>,
}

impl ResultTable {
    /// Builds a table; all columns must have the same length.
    pub fn new(columns: Vec<(String, Values)>) -> Self {
        let rows = columns.first().map_or(0, |(_, v)| v.len());
        assert!(columns.iter().all(|(_, v)| v.len() == rows), "result columns differ in length");
        Self { columns }
    }

    /// Declares the columns as the function's result schema.
    pub fn declare(&self, bind: &BindInfo) {
        for (name, values) in &self.columns {
            bind.add_result_column(name, LogicalTypeHandle::from(values.logical_type()));
        }
    }

    /// Column names, in order.
    #[cfg(test)]
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(name, _)| name.as_str()).collect()
    }

    fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, v)| v.len())
    }

    /// Writes the next chunk of rows, advancing `cursor`; writes zero rows when done.
    pub fn write_next(&self, cursor: &AtomicUsize, output: &mut DataChunkHandle) {
        let capacity = if self.columns.is_empty() { 0 } else { output.flat_vector(0).capacity() };
        let start = cursor.fetch_add(capacity, Ordering::Relaxed).min(self.rows());
        let end = (start + capacity).min(self.rows());
        for (index, (_, values)) in self.columns.iter().enumerate() {
            let mut vector = output.flat_vector(index);
            match values {
                Values::Date(v) | Values::Integer(v) => write_primitive(&mut vector, &v[start..end]),
                Values::Timestamp(v) | Values::BigInt(v) => write_primitive(&mut vector, &v[start..end]),
                Values::Double(v) => write_primitive(&mut vector, &v[start..end]),
                Values::Boolean(v) => write_primitive(&mut vector, &v[start..end]),
                Values::Varchar(v) => {
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
    // SAFETY: the vector's physical type matches T (both come from the same `Values`
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
