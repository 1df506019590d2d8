//! Series functions computed while DuckDB reads their result, a batch of groups at a time,
//! writing only the columns the query uses (projection pushdown).
//!
//! A function that materialises its whole result at bind holds every row at once (about
//! 550 bytes a row for detection, 4 GiB for 10,000 series of two years) and formats
//! columns nobody reads. Here the input series are read at bind, as for every function (so
//! a nested read happens on the binding thread, see `source`), and each call of `func`
//! turns the next groups into rows. Only for functions whose groups are independent: the
//! rows of a group do not depend on the others.

use crate::guard::{guarded, CallResult};
use crate::params::{self, Kind};
use crate::table::{logical_type, write_rows};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};
use kpiscope_engine::frame::{Grouped, Table, BATCH_ROWS};
use std::marker::PhantomData;
use std::sync::Mutex;

/// A series function whose groups are independent.
pub trait Batched: Sized + Send + Sync + 'static {
    /// SQL name, for errors.
    const NAME: &'static str;
    /// Positional parameters.
    const POSITIONAL: &'static [Kind];
    /// Named parameters.
    const NAMED: &'static [(&'static str, Kind)];

    /// Parses the call and reads its series.
    fn bind(bind: &BindInfo) -> CallResult<(Self, Grouped)>;

    /// The rows of `input`'s groups. `read(name)` says whether the query uses a column; one it
    /// does not use may be left NULL. On no groups, the result's columns are the schema.
    fn build(&self, input: &Grouped, read: &dyn Fn(&str) -> bool) -> CallResult<Table>;
}

/// The bind data: the function's settings and its input.
pub struct Bound<T> {
    function: T,
    input: Grouped,
    names: Vec<String>,
}

/// The init data: which columns the query reads, and how far the rows have got.
pub struct Progress {
    /// Per vector of the output chunk, the result column it holds.
    columns: Vec<Option<usize>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_group: usize,
    rows: Table,
    cursor: usize,
}

/// The table function of a [`Batched`] function.
pub struct BatchedVTab<T>(PhantomData<T>);

impl<T: Batched> Bound<T> {
    fn read(&self, columns: &[Option<usize>]) -> impl Fn(&str) -> bool + '_ {
        let read: Vec<&str> = columns.iter().flatten().filter_map(|&c| self.names.get(c)).map(String::as_str).collect();
        move |name| read.contains(&name)
    }
}

impl<T: Batched> VTab for BatchedVTab<T> {
    type BindData = Bound<T>;
    type InitData = Progress;

    fn bind(bind: &BindInfo) -> CallResult<Self::BindData> {
        guarded(T::NAME, || {
            let (function, input) = T::bind(bind)?;
            let schema = function.build(&input.with_groups(Vec::new()), &|_| true)?;
            for (name, column) in schema.columns() {
                bind.add_result_column(name, LogicalTypeHandle::from(logical_type(column)));
            }
            let names = schema.names().into_iter().map(str::to_string).collect();
            Ok(Bound { function, input, names })
        })
    }

    fn init(init: &InitInfo) -> CallResult<Self::InitData> {
        guarded(T::NAME, || {
            // Batches are computed in parallel inside the engine; DuckDB's threads would only
            // wait for each other on the state.
            init.set_max_threads(1);
            let columns = init.get_column_indices().into_iter().map(|c| usize::try_from(c).ok()).collect();
            Ok(Progress { columns, state: Mutex::default() })
        })
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> CallResult<()> {
        guarded(T::NAME, || {
            let (bound, progress) = (func.get_bind_data(), func.get_init_data());
            // No DuckDB call can re-enter us while this is held: only vectors are written.
            let mut state = progress.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            while state.cursor >= state.rows.rows() && state.next_group < bound.input.groups.len() {
                let batch = bound.input.batch(state.next_group, BATCH_ROWS);
                state.next_group += batch.groups.len();
                state.rows = bound.function.build(&batch, &bound.read(&progress.columns))?;
                state.cursor = 0;
            }
            let cursor = state.cursor;
            state.cursor += write_rows(&state.rows, &progress.columns, cursor, output);
            Ok(())
        })
    }

    fn supports_pushdown() -> bool {
        true
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        params::declare_positional(T::POSITIONAL)
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        params::declare(T::NAMED)
    }
}
