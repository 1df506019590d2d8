//! Rows in, typed columns out: the shape every front of the engine shares (the DuckDB
//! extension, the Python package and its Spark front). A front gets its rows into
//! [`Grouped`] (SQL aggregates them itself; the others call [`sum_by`]), calls one function's
//! table builder (`detect::table`, `forecast::forecast_table`, ...) and converts the [`Table`]
//! to its own types. So each function's output names and types are written once, here, and
//! every front returns the same columns with the same values.

use crate::error::{EngineError, Result};
use crate::MICROS_PER_DAY;

/// One output column's values; `None` is a NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// DATE: days since 1970-01-01.
    Date(Vec<Option<i32>>),
    /// TIMESTAMP: microseconds since 1970-01-01.
    Timestamp(Vec<Option<i64>>),
    /// 32-bit integer.
    Integer(Vec<Option<i32>>),
    /// 64-bit integer.
    BigInt(Vec<Option<i64>>),
    /// Double.
    Double(Vec<Option<f64>>),
    /// Boolean.
    Boolean(Vec<Option<bool>>),
    /// Text.
    Text(Vec<Option<String>>),
}

impl Column {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Column::Date(v) | Column::Integer(v) => v.len(),
            Column::Timestamp(v) | Column::BigInt(v) => v.len(),
            Column::Double(v) => v.len(),
            Column::Boolean(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Named columns of equal length: one function's result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    columns: Vec<(String, Column)>,
}

impl Table {
    /// Builds a table. All columns have the same length: builders derive every column from
    /// the same rows, so a difference is a bug in the builder.
    pub fn new(columns: Vec<(String, Column)>) -> Table {
        let rows = columns.first().map_or(0, |(_, c)| c.len());
        assert!(columns.iter().all(|(_, c)| c.len() == rows), "result columns differ in length");
        Table { columns }
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[(String, Column)] {
        &self.columns
    }

    /// The columns, taken out of the table, so a front can free each one as soon as it has
    /// converted it (a large result then never exists twice in full).
    pub fn into_columns(self) -> Vec<(String, Column)> {
        self.columns
    }

    /// Column names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }
}

/// Times as an output column of the input's type: DATE when the input was one, else TIMESTAMP.
pub fn ts_column(is_date: bool, ts: Vec<i64>) -> Column {
    if is_date {
        Column::Date(ts.iter().map(|t| Some(t.div_euclid(MICROS_PER_DAY) as i32)).collect())
    } else {
        Column::Timestamp(ts.into_iter().map(Some).collect())
    }
}

/// Points a batch of groups aims at ([`Grouped::batch`]): enough groups to keep every core
/// busy, few enough that a batch's result rows stay small (~550 bytes a row for detection).
pub const BATCH_ROWS: usize = 65_536;

/// One group's series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    /// The group's values of the `group_by` columns, as text; NULL stays `None`.
    pub key: Vec<Option<String>>,
    /// Timestamps in microseconds, strictly increasing.
    pub ts: Vec<i64>,
    /// The value per timestamp; `None` when NULL.
    pub values: Vec<Option<f64>>,
    /// Per timestamp, whether any of its rows meets the `label` condition (empty when the
    /// function takes no labels).
    pub labels: Vec<bool>,
}

impl Group {
    /// The group as `col=value, ...` for messages; empty without `group_by`.
    pub fn describe(&self, group_by: &[String]) -> String {
        group_by
            .iter()
            .zip(&self.key)
            .map(|(name, value)| format!("{name}={}", value.as_deref().unwrap_or("NULL")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every group's series: the input of the series functions (detection, forecasts, change
/// points, seasonality).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grouped {
    /// The `group_by` column names.
    pub group_by: Vec<String>,
    /// Whether the times were DATEs (results are written back as DATE, else TIMESTAMP).
    pub is_date: bool,
    /// Groups in key order: text order, NULL last.
    pub groups: Vec<Group>,
}

/// An engine error in one group's series, with the group it happened in.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupError {
    /// The group as `col=value, ...`; empty without `group_by`.
    pub group: String,
    /// What went wrong.
    pub error: EngineError,
}

impl GroupError {
    /// The message every front shows: the value (column or expression) and the group named.
    pub fn message(&self, value: &str) -> String {
        let place = if self.group.is_empty() { String::new() } else { format!(" (group {})", self.group) };
        format!("value '{value}'{place}: {}", self.error)
    }
}

impl Grouped {
    /// The series of `rows` grouped by `group_by` (see [`sum_by`]); NULL keys stay `None`.
    pub fn from_rows(group_by: Vec<String>, is_date: bool, rows: Rows<'_>) -> Result<Grouped> {
        if rows.values.len() != 1 {
            return Err(EngineError::LengthMismatch { what: "value columns", left: rows.values.len(), right: 1 });
        }
        if rows.keys.len() != group_by.len() {
            return Err(EngineError::LengthMismatch {
                what: "group_by names and key columns",
                left: group_by.len(),
                right: rows.keys.len(),
            });
        }
        let groups = sum_by(&rows)?
            .into_iter()
            .map(|run| Group {
                key: run.key,
                ts: run.ts,
                values: run.sums.into_iter().next().unwrap_or_default(),
                labels: Vec::new(),
            })
            .collect();
        Ok(Grouped { group_by, is_date, groups })
    }

    /// The same `group_by` and time type over other groups (a part of these, or none).
    pub fn with_groups(&self, groups: Vec<Group>) -> Grouped {
        Grouped { group_by: self.group_by.clone(), is_date: self.is_date, groups }
    }

    /// The groups from `start` on holding up to about `rows` points (usually [`BATCH_ROWS`]): whole groups, at least
    /// one (a long series is a batch of its own). Fronts compute a large input a batch at a
    /// time, so only one batch's result rows exist at once.
    pub fn batch(&self, start: usize, rows: usize) -> Grouped {
        let groups = self.groups.get(start..).unwrap_or_default();
        let mut before = 0;
        let take = groups
            .iter()
            .take_while(|g| {
                let room = before < rows;
                before += g.ts.len();
                room
            })
            .count();
        self.with_groups(groups[..take].to_vec())
    }

    /// The `group_by` columns, each group's key repeated `counts[g]` times (its number of
    /// result rows).
    pub fn group_columns(&self, counts: &[usize]) -> Vec<(String, Column)> {
        self.group_by
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let values = self
                    .groups
                    .iter()
                    .zip(counts)
                    .flat_map(|(g, n)| std::iter::repeat_n(g.key[i].clone(), *n))
                    .collect();
                (name.clone(), Column::Text(values))
            })
            .collect()
    }

    /// Runs `f` on every group's series in parallel, naming the group of the first error.
    pub fn each<T: Send>(&self, f: impl Fn(&Group) -> Result<T> + Sync) -> std::result::Result<Vec<T>, GroupError> {
        use rayon::prelude::*;
        let results: Vec<_> = self.groups.par_iter().map(|g| f(g).map_err(|e| (g, e))).collect();
        results
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|(group, error)| GroupError { group: group.describe(&self.group_by), error })
    }
}

/// The column names a table builder gives after the group columns: what a `group_by`
/// column may not be called.
pub fn output_names(build: impl FnOnce(&Grouped) -> std::result::Result<Table, GroupError>) -> Vec<String> {
    build(&Grouped::default()).map(|t| t.names().into_iter().map(str::to_string).collect()).unwrap_or_default()
}

/// A text column, dictionary-encoded: row `i` holds `dictionary[codes[i]]`, `None` is NULL.
/// Arrow's dictionary arrays and pandas' categoricals have this shape already.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyColumn {
    /// The distinct texts.
    pub dictionary: Vec<String>,
    /// Per row, an index into `dictionary`.
    pub codes: Vec<Option<u32>>,
}

/// Raw rows as a front without SQL holds them, column by column.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// Key columns (group or dimension columns).
    pub keys: &'a [KeyColumn],
    /// Per row its time in microseconds; `None` without a time column (RCA leaves).
    pub ts: Option<&'a [Option<i64>]>,
    /// Value columns to sum.
    pub values: &'a [Vec<Option<f64>>],
}

/// Rows of one distinct key, summed per time.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The key, one text per key column.
    pub key: Vec<Option<String>>,
    /// Distinct times, ascending (a single 0 when the rows have no time column).
    pub ts: Vec<i64>,
    /// Per value column, its sum per time: NULLs ignored, all NULL stays NULL, NaN stays NaN.
    pub sums: Vec<Vec<Option<f64>>>,
}

/// Sums `rows` per distinct key and time, in key order (text order per column, NULL last),
/// then time order; rows without a time are left out. This is what the SQL front gets from
/// `GROUP BY key, ts ORDER BY key, ts` with `sum(value)`, so every front hands the engine
/// the same series. Rows of one key and time are summed in input order.
pub fn sum_by(rows: &Rows<'_>) -> Result<Vec<Run>> {
    let n = rows.ts.map_or_else(|| rows.values.first().map_or(0, Vec::len), <[_]>::len);
    for key in rows.keys {
        if key.codes.len() != n {
            return Err(EngineError::LengthMismatch { what: "key column and times", left: key.codes.len(), right: n });
        }
        if key.codes.iter().flatten().any(|&c| c as usize >= key.dictionary.len()) {
            return Err(EngineError::InvalidParameter {
                name: "key codes",
                expected: format!("below the dictionary's {} entries", key.dictionary.len()),
                got: "a larger code".into(),
            });
        }
    }
    if let Some(column) = rows.values.iter().find(|v| v.len() != n) {
        return Err(EngineError::LengthMismatch { what: "value column and times", left: column.len(), right: n });
    }
    // Each code's place in its dictionary's text order, NULL after every text, so rows sort
    // by integers instead of strings.
    let ranks: Vec<Vec<u32>> = rows
        .keys
        .iter()
        .map(|key| {
            let mut order: Vec<u32> = (0..key.dictionary.len() as u32).collect();
            order.sort_by(|a, b| key.dictionary[*a as usize].cmp(&key.dictionary[*b as usize]));
            let mut rank = vec![0; key.dictionary.len()];
            for (place, code) in order.into_iter().enumerate() {
                rank[code as usize] = place as u32;
            }
            rank
        })
        .collect();
    // One integer per row that orders like its key: each column's rank appended in base
    // (dictionary size + 1), renumbered densely whenever the next column would overflow.
    let mut id = vec![0u64; n];
    let mut bound: u64 = 1;
    for (key, rank) in rows.keys.iter().zip(&ranks) {
        let base = key.dictionary.len() as u64 + 1;
        if bound.checked_mul(base).is_none() {
            let mut distinct = id.clone();
            distinct.sort_unstable();
            distinct.dedup();
            for v in &mut id {
                *v = distinct.binary_search(v).unwrap_or_default() as u64;
            }
            bound = distinct.len() as u64;
        }
        for (v, code) in id.iter_mut().zip(&key.codes) {
            *v = *v * base + code.map_or(base - 1, |c| u64::from(rank[c as usize]));
        }
        bound *= base;
    }
    let time_of = |row: usize| rows.ts.map_or(Some(0), |ts| ts[row]);
    let mut order: Vec<(u64, i64, usize)> = (0..n).filter_map(|row| time_of(row).map(|t| (id[row], t, row))).collect();
    order.sort_unstable();
    let mut runs: Vec<Run> = Vec::new();
    let mut last: Option<(u64, i64)> = None;
    for &(key_id, t, row) in &order {
        let same_key = last.is_some_and(|(k, _)| k == key_id);
        if !same_key {
            let key = rows.keys.iter().map(|k| k.codes[row].map(|c| k.dictionary[c as usize].clone())).collect();
            runs.push(Run { key, ts: Vec::new(), sums: vec![Vec::new(); rows.values.len()] });
        }
        let run = runs.last_mut().expect("a run was just pushed for a new key");
        let new_time = !same_key || last.is_some_and(|(_, previous)| previous != t);
        if new_time {
            run.ts.push(t);
            for sums in &mut run.sums {
                sums.push(None);
            }
        }
        for (sums, column) in run.sums.iter_mut().zip(rows.values) {
            if let (Some(sum), Some(value)) = (sums.last_mut(), column[row]) {
                *sum = Some(sum.unwrap_or(0.0) + value);
            }
        }
        last = Some((key_id, t));
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_whole_groups_and_cover_every_group_once() {
        let group = |n: usize| Group { ts: (0..n as i64).collect(), values: vec![Some(1.0); n], ..Group::default() };
        let grouped = Grouped {
            group_by: vec!["g".into()],
            is_date: true,
            groups: [3, 4, 10, 1, 1, 2].into_iter().map(group).collect(),
        };
        let mut sizes = Vec::new();
        let mut start = 0;
        while start < grouped.groups.len() {
            let batch = grouped.batch(start, 5);
            start += batch.groups.len();
            sizes.push(batch.groups.iter().map(|g| g.ts.len()).collect::<Vec<_>>());
        }
        // A batch takes groups while it holds fewer than 5 points; a long group is alone.
        assert_eq!(sizes, vec![vec![3, 4], vec![10], vec![1, 1, 2]]);
        assert!(grouped.batch(6, 5).groups.is_empty());
    }

    fn key(dictionary: &[&str], codes: &[Option<u32>]) -> KeyColumn {
        KeyColumn { dictionary: dictionary.iter().map(|s| s.to_string()).collect(), codes: codes.to_vec() }
    }

    #[test]
    fn rows_are_summed_per_key_and_time_in_text_order_with_null_keys_last() {
        let keys = [key(&["b", "a"], &[Some(0), None, Some(1), Some(0), Some(1)])];
        let ts = [Some(2), Some(1), Some(5), Some(2), None];
        let values = [vec![Some(1.0), Some(4.0), None, Some(2.5), Some(9.0)]];
        let runs = sum_by(&Rows { keys: &keys, ts: Some(&ts), values: &values }).unwrap();
        let keys: Vec<Option<&str>> = runs.iter().map(|r| r.key[0].as_deref()).collect();
        assert_eq!(keys, [Some("a"), Some("b"), None]);
        assert_eq!((runs[0].ts.as_slice(), runs[0].sums[0].as_slice()), (&[5][..], &[None][..]), "all NULL stays NULL");
        assert_eq!((runs[1].ts.as_slice(), runs[1].sums[0].as_slice()), (&[2][..], &[Some(3.5)][..]));
        assert_eq!(runs[2].sums[0], [Some(4.0)]);
    }

    #[test]
    fn keys_of_many_wide_columns_still_order_column_by_column() {
        // Eight columns of 300 values: their ranks do not fit one u64 without renumbering.
        let dictionary: Vec<String> = (0..300).map(|i| format!("{i:03}")).collect();
        let codes = |k: u32| (0..6).map(|row| Some((row * 37 + k * 11) % 300)).collect::<Vec<_>>();
        let keys: Vec<KeyColumn> =
            (0..8).map(|k| KeyColumn { dictionary: dictionary.clone(), codes: codes(k) }).collect();
        let values = [vec![Some(1.0); 6]];
        let runs = sum_by(&Rows { keys: &keys, ts: None, values: &values }).unwrap();
        let seen: Vec<Vec<Option<String>>> = runs.iter().map(|r| r.key.clone()).collect();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(runs.len(), 6);
        assert_eq!(seen, sorted);
    }

    #[test]
    fn rows_without_a_time_column_sum_to_one_row_per_key() {
        let keys = [key(&["x", "y"], &[Some(1), Some(0), Some(1)])];
        let values = [vec![Some(1.0), Some(2.0), Some(3.0)], vec![Some(1.0), None, Some(1.0)]];
        let runs = sum_by(&Rows { keys: &keys, ts: None, values: &values }).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].sums, [vec![Some(4.0)], vec![Some(2.0)]]);
    }

    #[test]
    fn mismatched_lengths_and_codes_outside_the_dictionary_are_errors_not_panics() {
        let values = [vec![Some(1.0)]];
        let short = [key(&["a"], &[])];
        assert!(sum_by(&Rows { keys: &short, ts: Some(&[Some(1)]), values: &values }).is_err());
        let outside = [key(&["a"], &[Some(3)])];
        assert!(sum_by(&Rows { keys: &outside, ts: Some(&[Some(1)]), values: &values }).is_err());
        assert!(sum_by(&Rows { keys: &[], ts: Some(&[Some(1), Some(2)]), values: &values }).is_err());
    }

    #[test]
    fn a_group_error_names_the_value_and_the_group() {
        let error = GroupError { group: "region=EU".into(), error: EngineError::EmptyInput { what: "series" } };
        assert_eq!(error.message("revenue"), "value 'revenue' (group region=EU): series is empty");
    }
}
