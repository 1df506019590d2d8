//! Reading time series for the functions that take `ts`, `value` and `group_by`: the value
//! aggregated per timestamp and group by DuckDB, in group and time order, one series per group
//! (the engine's [`Grouped`]).

use crate::guard::{fail, CallResult};
use crate::params;
use crate::source::{key_at, quote_ident, same_key, text_column, typed, Reader, Source};
use duckdb::arrow::array::{Array, BooleanArray, Float64Array, Int64Array};
use duckdb::vtab::BindInfo;
use kpiscope_engine::frame::{Group, GroupError, Grouped};

/// What to read: the parameters every series function shares, parsed once.
pub struct Spec {
    /// The source as given.
    pub source: String,
    /// `ts`, when given (else the source's only time column).
    pub ts: Option<String>,
    /// `value`: a numeric column or an aggregate expression.
    pub value: String,
    /// `group_by` columns.
    pub group_by: Vec<String>,
    /// `as_of`: only rows up to this moment are read (replay).
    pub as_of: Option<chrono::NaiveDateTime>,
    /// `label`: a per-row condition, for functions scored against labels.
    pub label: Option<String>,
}

impl Spec {
    /// Parses the source, `ts`, `value` and `group_by`; `as_of` and `label` are left for the
    /// functions that declare them.
    pub fn parse(bind: &BindInfo) -> CallResult<Spec> {
        let value = params::text(bind, "value")?.ok_or_else(|| {
            fail("value is required: a numeric column (summed per timestamp) or an aggregate such as 'sum(orders) / sum(sessions)'")
        })?;
        Ok(Spec {
            source: params::source(bind)?,
            ts: params::text(bind, "ts")?,
            value,
            group_by: params::text_list(bind, "group_by")?,
            as_of: None,
            label: None,
        })
    }

    /// Reads the series. `reserved` are the function's output column names, which a group
    /// column may not take.
    pub fn read(self, reader: &Reader, reserved: &[String]) -> CallResult<Grouped> {
        let source = Source::open(reader, "source", &self.source)?;
        let ts = source.time_column(self.ts)?;
        let is_date = source.require_temporal("ts", &ts)?;
        let value = self.value;
        let value_sql = source.value_expression(&value)?;
        let group_by = self.group_by;
        source.require_columns("group_by", &group_by)?;
        if let Some(column) = group_by.iter().find(|c| reserved.contains(c)) {
            return Err(fail(format!(
                "group_by column '{column}' clashes with an output column; rename it in a query"
            )));
        }
        let ts_sql = quote_ident(&ts);
        // Replay: only rows known at `as_of` are read, so results are what was known then.
        let as_of = self
            .as_of
            .map(|t| format!(" AND CAST({ts_sql} AS TIMESTAMP) <= TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f")))
            .unwrap_or_default();
        let label = match &self.label {
            Some(label) => format!(", bool_or({}) AS kpiscope_label", source.condition("label", label)?),
            None => String::new(),
        };
        let width = group_by.len();
        let select_groups: String = group_by.iter().map(|g| format!("CAST({} AS VARCHAR), ", quote_ident(g))).collect();
        // Grouped by position (the keys and the timestamp), so a value that is not an aggregate
        // is refused by DuckDB instead of splitting a timestamp into several rows.
        let keys = (1..=width + 1).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {select_groups}epoch_us(CAST({ts_sql} AS TIMESTAMP)) AS kpiscope_ts, \
             CAST({value_sql} AS DOUBLE) AS kpiscope_value{label} \
             FROM {} WHERE {ts_sql} IS NOT NULL{as_of} GROUP BY {keys} ORDER BY {keys}",
            source.from()
        );
        let labelled = !label.is_empty();
        let mut groups: Vec<Group> = Vec::new();
        let mut infinite = false;
        reader
            .batches(&sql, |batch| {
                let keys = (0..width).map(|i| text_column(batch, i)).collect::<CallResult<Vec<_>>>()?;
                let ts = typed::<Int64Array>(batch, width)?;
                let values = typed::<Float64Array>(batch, width + 1)?;
                let labels = if labelled { Some(typed::<BooleanArray>(batch, width + 2)?) } else { None };
                for row in 0..batch.num_rows() {
                    // Rows come in key order, so a group ends where the key changes.
                    if !groups.last().is_some_and(|g| same_key(&g.key, &keys, row)) {
                        groups.push(Group { key: key_at(&keys, row), ..Group::default() });
                    }
                    let group = groups.last_mut().expect("pushed above");
                    // epoch_us is NULL only for the infinite timestamps; NULL ones were filtered.
                    infinite |= ts.is_null(row);
                    group.ts.push(ts.value(row));
                    group.values.push(values.is_valid(row).then(|| values.value(row)));
                    if let Some(labels) = labels {
                        group.labels.push(labels.is_valid(row) && labels.value(row));
                    }
                }
                Ok(())
            })
            .map_err(|e| {
                e.reported(|text| {
                    if text.contains("must appear in the GROUP BY clause") {
                        fail(format!(
                            "value '{value}' must aggregate the rows of each timestamp: write it with aggregates, \
                             e.g. 'sum(orders) / sum(sessions)' instead of 'orders / sessions'"
                        ))
                    } else {
                        fail(format!("cannot compute value '{value}' from '{}': {text}", source.name()))
                    }
                })
            })?;
        if infinite {
            return Err(source.infinite_times(&ts));
        }
        Ok(Grouped { group_by, is_date, groups })
    }
}

/// An engine error in one group, as this function's error message.
pub fn failed(value: &str) -> impl Fn(GroupError) -> Box<dyn std::error::Error> + '_ {
    move |error| fail(error.message(value))
}
