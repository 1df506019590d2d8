//! `kpiscope._kpiscope`: the engine for Python, a thin shell like the DuckDB extension. The
//! pure-Python package (`kpiscope/__init__.py`) turns DataFrames into columns (times as
//! microseconds, keys dictionary-encoded, values with a validity mask); this module sums them
//! into the engine's series ([`frame::sum_by`], what SQL's `GROUP BY` does for the extension),
//! runs the same table builders as the SQL functions and hands the columns back. Engine errors
//! become `ValueError("kpiscope: ...")`; a panic becomes `RuntimeError`, never an abort.

use kpiscope_engine::frame::{self, Column, Grouped, KeyColumn, Rows, Table, BATCH_ROWS};
use kpiscope_engine::{changepoints, detect, forecast, rca, synth};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

/// An error as Python sees it: `ValueError("kpiscope: ...")`.
fn refused(message: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("kpiscope: {message}"))
}

/// Runs engine work without the GIL, turning a panic into `RuntimeError` (the interpreter
/// must survive anything a user passes).
fn guarded<T: Send>(py: Python<'_>, work: impl FnOnce() -> PyResult<T> + Send) -> PyResult<T> {
    py.detach(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(PyRuntimeError::new_err(format!("kpiscope: internal error: {what}")))
        })
    })
}

/// One key column from Python: its dictionary and per row a code (-1 for NULL).
type KeyIn<'py> = (Vec<String>, PyReadonlyArray1<'py, i32>);

/// Rows as the Python package passes them: key columns, times (microseconds) and value columns,
/// each with a validity mask (`true` = not NULL).
struct Input {
    keys: Vec<KeyColumn>,
    ts: Option<Vec<Option<i64>>>,
    values: Vec<Vec<Option<f64>>>,
}

fn masked<T: Copy + numpy::Element>(
    values: &PyReadonlyArray1<'_, T>,
    valid: &PyReadonlyArray1<'_, bool>,
) -> PyResult<Vec<Option<T>>> {
    let (values, valid) = (values.as_slice()?, valid.as_slice()?);
    if values.len() != valid.len() {
        return Err(refused(format!("a column and its mask differ in length ({} vs {})", values.len(), valid.len())));
    }
    Ok(values.iter().zip(valid).map(|(v, ok)| ok.then_some(*v)).collect())
}

impl Input {
    fn read(
        keys: Vec<KeyIn<'_>>,
        ts: Option<(PyReadonlyArray1<'_, i64>, PyReadonlyArray1<'_, bool>)>,
        values: Vec<(PyReadonlyArray1<'_, f64>, PyReadonlyArray1<'_, bool>)>,
    ) -> PyResult<Input> {
        let keys = keys
            .into_iter()
            .map(|(dictionary, codes)| {
                let codes = codes.as_slice()?.iter().map(|&c| u32::try_from(c).ok()).collect();
                Ok(KeyColumn { dictionary, codes })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let ts = ts.map(|(t, valid)| masked(&t, &valid)).transpose()?;
        let values = values.iter().map(|(v, valid)| masked(v, valid)).collect::<PyResult<Vec<_>>>()?;
        Ok(Input { keys, ts, values })
    }

    fn rows(&self) -> Rows<'_> {
        Rows { keys: &self.keys, ts: self.ts.as_deref(), values: &self.values }
    }

    fn grouped(&self, group_by: Vec<String>, is_date: bool) -> PyResult<Grouped> {
        Grouped::from_rows(group_by, is_date, self.rows()).map_err(refused)
    }
}

/// Result columns in the buffers Python receives, filled a table (a batch of groups) at a
/// time, so a large result never exists twice: as engine rows and as arrays. Numbers are
/// `(values, valid)`; text is Arrow string chunks `(offsets, utf8 bytes, valid)`, which Python
/// wraps without copying (a list of `str` costs ~60 bytes an object and made a 29-million-row
/// detection run out of 24 GiB).
#[derive(Default)]
struct Gathered(Vec<(String, Buffers)>);

enum Buffers {
    Date(Vec<i32>, Vec<bool>),
    Timestamp(Vec<i64>, Vec<bool>),
    Integer(Vec<i32>, Vec<bool>),
    BigInt(Vec<i64>, Vec<bool>),
    Double(Vec<f64>, Vec<bool>),
    Boolean(Vec<bool>, Vec<bool>),
    Text(Vec<TextChunk>),
}

/// 32-bit offsets, UTF-8 bytes, validity.
type TextChunk = (Vec<i32>, Vec<u8>, Vec<bool>);

impl Buffers {
    fn empty(column: &Column) -> Self {
        match column {
            Column::Date(_) => Buffers::Date(Vec::new(), Vec::new()),
            Column::Timestamp(_) => Buffers::Timestamp(Vec::new(), Vec::new()),
            Column::Integer(_) => Buffers::Integer(Vec::new(), Vec::new()),
            Column::BigInt(_) => Buffers::BigInt(Vec::new(), Vec::new()),
            Column::Double(_) => Buffers::Double(Vec::new(), Vec::new()),
            Column::Boolean(_) => Buffers::Boolean(Vec::new(), Vec::new()),
            Column::Text(_) => Buffers::Text(vec![(vec![0], Vec::new(), Vec::new())]),
        }
    }

    /// Appends a column of the same type; `false` when the types differ.
    fn push(&mut self, column: Column) -> bool {
        fn numbers<T: Copy + Default>(data: &mut Vec<T>, valid: &mut Vec<bool>, values: Vec<Option<T>>) -> bool {
            data.extend(values.iter().map(|v| v.unwrap_or_default()));
            valid.extend(values.iter().map(Option::is_some));
            true
        }
        match (self, column) {
            (Buffers::Date(d, v), Column::Date(c)) | (Buffers::Integer(d, v), Column::Integer(c)) => numbers(d, v, c),
            (Buffers::Timestamp(d, v), Column::Timestamp(c)) | (Buffers::BigInt(d, v), Column::BigInt(c)) => {
                numbers(d, v, c)
            }
            (Buffers::Double(d, v), Column::Double(c)) => numbers(d, v, c),
            (Buffers::Boolean(d, v), Column::Boolean(c)) => numbers(d, v, c),
            (Buffers::Text(chunks), Column::Text(c)) => {
                push_text(chunks, c);
                true
            }
            _ => false,
        }
    }
}

/// Appends text to the last chunk; a chunk closes before its bytes pass 1 GiB, well inside
/// what 32-bit offsets address.
fn push_text(chunks: &mut Vec<TextChunk>, values: Vec<Option<String>>) {
    const CHUNK_BYTES: usize = 1 << 30;
    for value in values {
        let text = value.as_deref().unwrap_or("");
        if chunks.last().is_none_or(|(_, data, valid)| !valid.is_empty() && data.len() + text.len() > CHUNK_BYTES) {
            chunks.push((vec![0], Vec::new(), Vec::new()));
        }
        let Some((offsets, data, valid)) = chunks.last_mut() else { continue };
        data.extend_from_slice(text.as_bytes());
        // Engine text is keys and explanations, far below 1 GiB, so the offset always fits.
        offsets.push(i32::try_from(data.len()).unwrap_or(i32::MAX));
        valid.push(value.is_some());
    }
}

impl Gathered {
    /// A per-group function's result over `grouped`, computed a batch of groups at a time (at
    /// least one batch, for the columns of an empty result).
    fn batches(grouped: &Grouped, table: impl Fn(&Grouped) -> Result<Table, frame::GroupError>) -> PyResult<Gathered> {
        let (mut gathered, mut start) = (Gathered::default(), 0);
        loop {
            let batch = grouped.batch(start, BATCH_ROWS);
            start += batch.groups.len();
            gathered.push(table(&batch).map_err(|e| refused(e.message("value")))?)?;
            if start >= grouped.groups.len() {
                return Ok(gathered);
            }
        }
    }

    /// Appends a table's rows; every table must have the first one's columns.
    fn push(&mut self, table: Table) -> PyResult<()> {
        if self.0.is_empty() {
            self.0 = table.columns().iter().map(|(name, column)| (name.to_string(), Buffers::empty(column))).collect();
        }
        let columns = table.into_columns();
        if columns.len() != self.0.len() {
            return Err(PyRuntimeError::new_err("kpiscope: internal error: batches differ in columns"));
        }
        for ((_, buffers), (_, column)) in self.0.iter_mut().zip(columns) {
            if !buffers.push(column) {
                return Err(PyRuntimeError::new_err("kpiscope: internal error: batches differ in column types"));
            }
        }
        Ok(())
    }

    /// The columns as a list of `(name, (kind, payload))`, each buffer handed to numpy without
    /// a copy.
    fn into_python(self, py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
        let list = PyList::empty(py);
        for (name, buffers) in self.0 {
            let numbers = |kind, data, valid| (kind, (data, PyArray1::from_vec(py, valid))).into_pyobject(py);
            let item = match buffers {
                Buffers::Date(d, v) => numbers("date", PyArray1::from_vec(py, d).into_any(), v)?,
                Buffers::Timestamp(d, v) => numbers("timestamp", PyArray1::from_vec(py, d).into_any(), v)?,
                Buffers::Integer(d, v) => numbers("int32", PyArray1::from_vec(py, d).into_any(), v)?,
                Buffers::BigInt(d, v) => numbers("int64", PyArray1::from_vec(py, d).into_any(), v)?,
                Buffers::Double(d, v) => numbers("float64", PyArray1::from_vec(py, d).into_any(), v)?,
                Buffers::Boolean(d, v) => numbers("bool", PyArray1::from_vec(py, d).into_any(), v)?,
                Buffers::Text(chunks) => {
                    let list = PyList::empty(py);
                    for (offsets, data, valid) in chunks {
                        let arrays = (
                            PyArray1::from_vec(py, offsets),
                            PyArray1::from_vec(py, data),
                            PyArray1::from_vec(py, valid),
                        );
                        list.append(arrays)?;
                    }
                    ("string", list).into_pyobject(py)?
                }
            };
            list.append((name, item))?;
        }
        Ok(list)
    }
}

/// One table for Python (see [`Gathered`]).
fn to_python(py: Python<'_>, table: Table) -> PyResult<Bound<'_, PyList>> {
    let mut gathered = Gathered::default();
    gathered.push(table)?;
    gathered.into_python(py)
}

type TsIn<'py> = (PyReadonlyArray1<'py, i64>, PyReadonlyArray1<'py, bool>);
type ValueIn<'py> = (PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, bool>);

/// The series functions' input as one tuple: `group_by` names, whether times are dates, the
/// key columns, the times and the value column.
type SeriesIn<'py> = (Vec<String>, bool, Vec<KeyIn<'py>>, TsIn<'py>, ValueIn<'py>);

/// A series input read into rows, with its `group_by` names and date flag.
fn series_input(series: SeriesIn<'_>) -> PyResult<(Input, Vec<String>, bool)> {
    let (group_by, is_date, keys, ts, value) = series;
    Ok((Input::read(keys, Some(ts), vec![value])?, group_by, is_date))
}

/// `detect_anomalies`: the same table as the SQL function.
#[pyfunction]
#[pyo3(signature = (series, events, method=None, sensitivity=None, period=None,
    direction=None, min_delta=None, min_pct=None, min_history=None, cooldown=None, unit=None))]
#[allow(clippy::too_many_arguments)]
fn detect_anomalies<'py>(
    py: Python<'py>,
    series: SeriesIn<'py>,
    events: Vec<(i32, String, bool)>,
    method: Option<String>,
    sensitivity: Option<String>,
    period: Option<i64>,
    direction: Option<String>,
    min_delta: Option<f64>,
    min_pct: Option<f64>,
    min_history: Option<i64>,
    cooldown: Option<i64>,
    unit: Option<String>,
) -> PyResult<Bound<'py, PyList>> {
    let arguments = detect::DetectArguments {
        method,
        sensitivity,
        period,
        direction,
        min_delta,
        min_pct,
        min_history,
        cooldown,
        unit,
    };
    let (input, group_by, is_date) = series_input(series)?;
    let gathered = guarded(py, move || {
        let mut config = arguments.config().map_err(refused)?;
        config.events = events.into_iter().map(|(day, name, suppress)| detect::Event { day, name, suppress }).collect();
        let grouped = input.grouped(group_by, is_date)?;
        drop(input);
        Gathered::batches(&grouped, |batch| detect::table(batch, &config))
    })?;
    gathered.into_python(py)
}

/// `forecast_kpi` (`backtest` false) or `compare_models` (true).
#[pyfunction]
#[pyo3(signature = (series, backtest, horizon=None, level=None, model=None,
    period=None, folds=None))]
#[allow(clippy::too_many_arguments)]
fn forecast_kpi<'py>(
    py: Python<'py>,
    series: SeriesIn<'py>,
    backtest: bool,
    horizon: Option<i64>,
    level: Option<f64>,
    model: Option<String>,
    period: Option<i64>,
    folds: Option<i64>,
) -> PyResult<Bound<'py, PyList>> {
    let arguments = forecast::ForecastArguments { horizon, level, model, period, folds };
    let (input, group_by, is_date) = series_input(series)?;
    let table = guarded(py, move || {
        let grouped = input.grouped(group_by, is_date)?;
        let result = if backtest {
            forecast::compare_table(&grouped, &arguments.settings(14).map_err(refused)?)
        } else {
            forecast::forecast_table(&grouped, &arguments.settings(30).map_err(refused)?)
        };
        result.map_err(|e| refused(e.message("value")))
    })?;
    to_python(py, table)
}

/// `change_points`.
#[pyfunction]
#[pyo3(signature = (series, period=None))]
fn change_points<'py>(py: Python<'py>, series: SeriesIn<'py>, period: Option<i64>) -> PyResult<Bound<'py, PyList>> {
    let (input, group_by, is_date) = series_input(series)?;
    let gathered = guarded(py, move || {
        let period = kpiscope_engine::series::period(period).map_err(refused)?;
        let grouped = input.grouped(group_by, is_date)?;
        drop(input);
        Gathered::batches(&grouped, |batch| changepoints::table(batch, period))
    })?;
    gathered.into_python(py)
}

/// `generate_kpi_data` (`anomalies` false) or `generate_kpi_anomalies` (true); `start` is
/// an ISO date.
#[pyfunction]
#[pyo3(signature = (ground_truth, days=None, start=None, seed=None, anomalies=None))]
fn generate<'py>(
    py: Python<'py>,
    ground_truth: bool,
    days: Option<i64>,
    start: Option<String>,
    seed: Option<i64>,
    anomalies: Option<i64>,
) -> PyResult<Bound<'py, PyList>> {
    let table = guarded(py, move || {
        let start = start
            .map(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d"))
            .transpose()
            .map_err(|_| refused("start must be a date"))?;
        let config = synth::GeneratorArguments { days, start, seed, anomalies }.config().map_err(refused)?;
        let data = synth::generate(&config).map_err(refused)?;
        Ok(if ground_truth { synth::anomalies_table(&data) } else { synth::data_table(&data) })
    })?;
    to_python(py, table)
}

/// `rca_contributions`: explicit leaves (`ts` absent; values expected, actual, and for a
/// ratio the expected and actual denominators) or over time (`ts` given; values the metric,
/// or numerator and denominator) at `test` against `baseline`.
#[pyfunction]
#[pyo3(signature = (dimensions, keys, ts, values, test=None, baseline=None, baseline_start=None,
    baseline_end=None, max_depth=None))]
#[allow(clippy::too_many_arguments)]
fn rca_contributions<'py>(
    py: Python<'py>,
    dimensions: Vec<String>,
    keys: Vec<KeyIn<'py>>,
    ts: Option<TsIn<'py>>,
    values: Vec<ValueIn<'py>>,
    test: Option<i64>,
    baseline: Option<String>,
    baseline_start: Option<i64>,
    baseline_end: Option<i64>,
    max_depth: Option<i64>,
) -> PyResult<Bound<'py, PyList>> {
    let timed = ts.is_some();
    let input = Input::read(keys, ts, values)?;
    let table = guarded(py, move || {
        let max_depth = rca::max_depth(max_depth).map_err(refused)?;
        let runs = frame::sum_by(&input.rows()).map_err(refused)?;
        let leaves = if timed {
            let test = test.ok_or_else(|| refused("test is required with ts: the time step to explain"))?;
            let baseline =
                rca::Baseline::from_arguments(baseline.as_deref(), baseline_start, baseline_end).map_err(refused)?;
            rca::timed_from_runs(dimensions, &runs).compare(test, baseline)
        } else {
            rca::leaves_from_runs(dimensions, &runs)
        };
        Ok(rca::contributions_table(&leaves, max_depth))
    })?;
    to_python(py, table)
}

/// A row of the `anomalies` table: time, expected, score, severity.
type StepIn = (i64, Option<f64>, Option<f64>, Option<String>);

/// `rca_anomalies`: detection on the KPI's total (or the caller's `anomalies` steps), then the
/// top segments behind each step; values the metric, or numerator and denominator.
#[pyfunction]
#[pyo3(signature = (dimensions, keys, ts, values, is_date, anomalies=None, baseline=None, max_depth=None,
    top=None, method=None, sensitivity=None))]
#[allow(clippy::too_many_arguments)]
fn rca_anomalies<'py>(
    py: Python<'py>,
    dimensions: Vec<String>,
    keys: Vec<KeyIn<'py>>,
    ts: TsIn<'py>,
    values: Vec<ValueIn<'py>>,
    is_date: bool,
    anomalies: Option<Vec<StepIn>>,
    baseline: Option<String>,
    max_depth: Option<i64>,
    top: Option<i64>,
    method: Option<String>,
    sensitivity: Option<String>,
) -> PyResult<Bound<'py, PyList>> {
    let input = Input::read(keys, Some(ts), values)?;
    let table = guarded(py, move || {
        let max_depth = rca::max_depth(max_depth).map_err(refused)?;
        let top = rca::top(top).map_err(refused)?;
        let baseline = rca::Baseline::from_arguments(baseline.as_deref(), None, None).map_err(refused)?;
        let arguments = detect::DetectArguments { method, sensitivity, ..Default::default() };
        let config = arguments.config().map_err(refused)?;
        let runs = frame::sum_by(&input.rows()).map_err(refused)?;
        let timed = rca::timed_from_runs(dimensions, &runs);
        let steps = match anomalies {
            Some(given) => rca::Steps::Given(
                given
                    .into_iter()
                    .map(|(t, expected, score, severity)| rca::Step { t, expected, score, severity })
                    .collect(),
            ),
            None => rca::Steps::Detect(&config),
        };
        rca::anomalies_table(&timed, steps, baseline, max_depth, top, is_date).map_err(refused)
    })?;
    to_python(py, table)
}

/// The compiled part of the `kpiscope` package.
#[pymodule]
fn _kpiscope(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(detect_anomalies, module)?)?;
    module.add_function(wrap_pyfunction!(forecast_kpi, module)?)?;
    module.add_function(wrap_pyfunction!(change_points, module)?)?;
    module.add_function(wrap_pyfunction!(generate, module)?)?;
    module.add_function(wrap_pyfunction!(rca_contributions, module)?)?;
    module.add_function(wrap_pyfunction!(rca_anomalies, module)?)?;
    Ok(())
}
