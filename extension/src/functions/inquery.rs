//! In-query functions: `kpiscope_detect`, `kpiscope_forecast`, `kpiscope_change_points` and
//! `kpiscope_seasonality` take one series as two lists (times, values) and an optional options
//! struct, and return the table function's rows for it as a LIST of STRUCTs:
//!
//! ```sql
//! SELECT channel, unnest(kpiscope_detect(list(day), list(revenue), {'sensitivity': 'high'}), recursive := true)
//! FROM df GROUP BY channel
//! ```
//!
//! They run inside the caller's query, so they see everything it can read (DataFrames scanned
//! by the Python client, TEMP tables, the caller's open transaction), and DuckDB's own
//! `GROUP BY` builds and parallelises the series. They are scalar functions over lists, not
//! aggregates: duckdb-rs wraps scalar functions safely, and `list()` already is the aggregate.

use crate::guard::{fail, guarded, CallResult};
use crate::params::{Named, Options, Setting};
use crate::table::{logical_type, write_column};
use duckdb::core::{DataChunkHandle, FlatVector, ListVector, LogicalTypeHandle, LogicalTypeId, StructVector};
use duckdb::ffi::duckdb_string_t;
use duckdb::types::DuckString;
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::arrow::WritableVector;
use kpiscope_engine::frame::{Grouped, Rows, Table};
use kpiscope_engine::{changepoints, detect, forecast, seasonality, MICROS_PER_DAY};
use std::marker::PhantomData;

/// One analysis of a single series, as an in-query function.
pub trait Analysis {
    /// The SQL name.
    const NAME: &'static str;
    /// The option names it takes.
    const OPTIONS: &'static [&'static str];
    /// The analysis' rows for `series` (one group, no group columns).
    fn build(series: &Grouped, options: &Options) -> CallResult<Table>;
}

/// `kpiscope_detect(ts_list, value_list [, options])`: `detect_anomalies` on one series.
pub struct Detect;

impl Analysis for Detect {
    const NAME: &'static str = "kpiscope_detect";
    const OPTIONS: &'static [&'static str] = super::detect::SETTINGS;
    fn build(series: &Grouped, options: &Options) -> CallResult<Table> {
        let config = super::detect::arguments(options)?.config().map_err(fail)?;
        detect::table(series, &config).map_err(|e| fail(e.error))
    }
}

/// `kpiscope_forecast(ts_list, value_list [, options])`: `forecast_kpi` on one series.
pub struct Forecast;

impl Analysis for Forecast {
    const NAME: &'static str = "kpiscope_forecast";
    const OPTIONS: &'static [&'static str] = super::forecast::SETTINGS;
    fn build(series: &Grouped, options: &Options) -> CallResult<Table> {
        let settings = super::forecast::settings(options, 30)?;
        forecast::forecast_table(series, &settings).map_err(|e| fail(e.error))
    }
}

/// `kpiscope_change_points(ts_list, value_list [, options])`: `change_points` on one series.
pub struct ChangePoints;

impl Analysis for ChangePoints {
    const NAME: &'static str = "kpiscope_change_points";
    const OPTIONS: &'static [&'static str] = &["period"];
    fn build(series: &Grouped, options: &Options) -> CallResult<Table> {
        let period = kpiscope_engine::series::period(options.integer("period")?).map_err(fail)?;
        changepoints::table(series, period).map_err(|e| fail(e.error))
    }
}

/// `kpiscope_seasonality(ts_list, value_list)`: `detect_seasonality` on one series.
pub struct Seasonality;

impl Analysis for Seasonality {
    const NAME: &'static str = "kpiscope_seasonality";
    const OPTIONS: &'static [&'static str] = &[];
    fn build(series: &Grouped, _: &Options) -> CallResult<Table> {
        seasonality::table(series).map_err(|e| fail(e.error))
    }
}

/// The scalar function of an [`Analysis`].
pub struct InQuery<A>(PhantomData<A>);

impl<A: Analysis> InQuery<A> {
    /// The result's element type: the analysis' columns (from a run on no series) as a STRUCT.
    fn element_type(is_date: bool) -> LogicalTypeHandle {
        let empty = Grouped { is_date, ..Grouped::default() };
        let columns = A::build(&empty, &Options::default()).map(Table::into_columns).unwrap_or_default();
        let fields: Vec<(&str, LogicalTypeHandle)> = columns
            .iter()
            .map(|(name, column)| (name.as_str(), LogicalTypeHandle::from(logical_type(column))))
            .collect();
        LogicalTypeHandle::struct_type(&fields)
    }

    fn compute(input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> CallResult<()> {
        let rows = input.len();
        let times = input.list_vector(0);
        let is_date = input.flat_vector(0).logical_type().child(0).id() == LogicalTypeId::Date;
        let values = input.list_vector(1);
        let (time_elements, value_elements) = (times.child(times.len()), values.child(values.len()));
        let options = (input.num_columns() > 2).then(|| input.struct_vector(2));
        let mut tables: Vec<Option<Table>> = Vec::with_capacity(rows);
        for row in 0..rows {
            if times.row_is_null(row as u64) || values.row_is_null(row as u64) {
                tables.push(None);
                continue;
            }
            let options = match &options {
                Some(vector) => read_options(vector, row)?,
                None => Options::default(),
            };
            options.check(A::OPTIONS)?;
            let series = read_series((&times, &time_elements), (&values, &value_elements), row, is_date)?;
            tables.push(Some(A::build(&series, &options)?));
        }
        let total: usize = tables.iter().flatten().map(Table::rows).sum();
        let mut list = output.list_vector();
        let elements = list.struct_child(total);
        let mut at = 0;
        for (row, table) in tables.iter().enumerate() {
            let Some(table) = table else {
                list.set_null(row);
                continue;
            };
            for (index, (_, column)) in table.columns().iter().enumerate() {
                write_column(&mut elements.child(index, total), column, 0..table.rows(), at);
            }
            list.set_entry(row, at, table.rows());
            at += table.rows();
        }
        list.set_len(total);
        Ok(())
    }
}

impl<A: Analysis> VScalar for InQuery<A> {
    type State = ();

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> CallResult<()> {
        guarded(A::NAME, || Self::compute(input, output))
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        let list = |id: LogicalTypeId| LogicalTypeHandle::list(&LogicalTypeHandle::from(id));
        let mut signatures = Vec::new();
        for (time, is_date) in [(LogicalTypeId::Date, true), (LogicalTypeId::Timestamp, false)] {
            let result = || LogicalTypeHandle::list(&Self::element_type(is_date));
            let series = || vec![list(time), list(LogicalTypeId::Double)];
            signatures.push(ScalarFunctionSignature::exact(series(), result()));
            if !A::OPTIONS.is_empty() {
                let with_options = series().into_iter().chain([LogicalTypeHandle::from(LogicalTypeId::Any)]).collect();
                signatures.push(ScalarFunctionSignature::exact(with_options, result()));
            }
        }
        signatures
    }
}

/// One row's series: the two lists, element by element, as the engine's one-group input
/// (duplicate times summed, NULL and non-finite values missing, as the table functions do).
/// Each list comes with its element vector (read once per chunk, not per row).
fn read_series(
    (times, time_child): (&ListVector<'_>, &FlatVector<'_>),
    (values, value_child): (&ListVector<'_>, &FlatVector<'_>),
    row: usize,
    is_date: bool,
) -> CallResult<Grouped> {
    let (t_offset, t_len) = times.get_entry(row);
    let (v_offset, v_len) = values.get_entry(row);
    if t_len != v_len {
        return Err(fail(format!(
            "the time and value lists must be equally long (one value per time), got {t_len} and {v_len}"
        )));
    }
    let ts: Vec<Option<i64>> = if is_date {
        read_numbers::<i32>(time_child, t_offset, t_len).map(|d| d.map(|d| i64::from(d) * MICROS_PER_DAY)).collect()
    } else {
        read_numbers::<i64>(time_child, t_offset, t_len).collect()
    };
    let values: Vec<Option<f64>> = read_numbers::<f64>(value_child, v_offset, v_len).collect();
    Grouped::from_rows(Vec::new(), is_date, Rows { keys: &[], ts: Some(&ts), values: &[values] }).map_err(fail)
}

/// `len` values of a flat vector of `T` from `offset`, NULL as `None`.
fn read_numbers<'a, T: Copy + 'a>(
    vector: &'a FlatVector<'_>,
    offset: usize,
    len: usize,
) -> impl Iterator<Item = Option<T>> + 'a {
    // SAFETY: DuckDB typed the vector (the signature's child type is T's) and it holds at
    // least `offset + len` values: the list entry says so.
    #[allow(unsafe_code)]
    let data = unsafe { vector.as_slice_with_len::<T>(offset + len) };
    (offset..offset + len).map(move |i| (!vector.row_is_null(i as u64)).then(|| data[i]))
}

/// The options struct of one row: each field's name with its text or number. A NULL struct
/// is no options; a NULL field, or one of another type, is an error.
fn read_options(vector: &StructVector<'_>, row: usize) -> CallResult<Options> {
    if vector.row_is_null(row as u64) {
        return Ok(Options::default());
    }
    let struct_type = vector.logical_type();
    if struct_type.id() != LogicalTypeId::Struct {
        return Err(fail("options must be a struct such as {'sensitivity': 'high', 'period': 7}"));
    }
    let mut options = Vec::new();
    for index in 0..vector.num_children() {
        let name = struct_type.child_name(index);
        let field = struct_type.child(index);
        let child = vector.child(index, row + 1);
        if child.row_is_null(row as u64) {
            return Err(fail(format!("option {name} must not be NULL")));
        }
        let setting = match field.id() {
            LogicalTypeId::Varchar => {
                let mut raw = first::<duckdb_string_t>(&child, row);
                raw.as_mut().map(|raw| Setting::Text(DuckString::new(raw).as_str().into_owned()))
            }
            LogicalTypeId::Tinyint => first::<i8>(&child, row).map(|v| Setting::Number(f64::from(v))),
            LogicalTypeId::Smallint => first::<i16>(&child, row).map(|v| Setting::Number(f64::from(v))),
            LogicalTypeId::Integer => first::<i32>(&child, row).map(|v| Setting::Number(f64::from(v))),
            LogicalTypeId::Bigint => first::<i64>(&child, row).map(|v| Setting::Number(v as f64)),
            LogicalTypeId::Float => first::<f32>(&child, row).map(|v| Setting::Number(f64::from(v))),
            LogicalTypeId::Double => first::<f64>(&child, row).map(Setting::Number),
            LogicalTypeId::Decimal => {
                read_decimal(&child, row, field.decimal_width(), field.decimal_scale()).map(Setting::Number)
            }
            _ => None,
        }
        .ok_or_else(|| fail(format!("option {name} must be text or a number")))?;
        options.push((name, setting));
    }
    Ok(Options(options))
}

/// One value of a flat vector of `T`.
fn first<T: Copy>(vector: &FlatVector<'_>, row: usize) -> Option<T> {
    read_numbers::<T>(vector, row, 1).next().flatten()
}

/// A DECIMAL value (`0.05` is one in SQL): stored as an integer of a width-dependent size.
fn read_decimal(vector: &FlatVector<'_>, row: usize, width: u8, scale: u8) -> Option<f64> {
    let raw = match width {
        0..=4 => first::<i16>(vector, row).map(f64::from),
        5..=9 => first::<i32>(vector, row).map(f64::from),
        10..=18 => first::<i64>(vector, row).map(|v| v as f64),
        _ => first::<i128>(vector, row).map(|v| v as f64),
    };
    raw.map(|v| v / 10f64.powi(i32::from(scale)))
}
