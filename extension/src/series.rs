//! Reading time series for the functions that take `ts`, `value` and `group_by`: the value
//! aggregated per timestamp and group, in group and time order, one series per group.

use crate::guard::{fail, CallResult};
use crate::params;
use crate::source::{quote_ident, Side, Source};
use crate::table::Values;
use duckdb::vtab::BindInfo;
use kpiscope_engine::MICROS_PER_DAY;

/// One group's series.
pub struct Group {
    /// The group's values of the `group_by` columns (as text; NULL stays NULL).
    pub key: Vec<Option<String>>,
    /// Timestamps in microseconds, strictly increasing.
    pub ts: Vec<i64>,
    /// The aggregated value per timestamp; `None` when NULL.
    pub values: Vec<Option<f64>>,
    /// Per timestamp, whether any of its rows meets the `label` condition (empty when the
    /// function takes no `label`).
    pub labels: Vec<bool>,
}

/// Every group's series, and how to write timestamps back.
pub struct Series {
    /// The `group_by` columns.
    pub group_by: Vec<String>,
    /// Whether `ts` is a DATE (else written back as TIMESTAMP).
    pub is_date: bool,
    /// Groups in key order.
    pub groups: Vec<Group>,
}

/// Reads the series named by the `ts`, `value`, `group_by` and (if declared) `as_of` and
/// `label` parameters. `reserved` are the function's output column names, which a group column may
/// not take.
pub fn read(bind: &BindInfo, reserved: &[&str]) -> CallResult<Series> {
    let side = Side::of(bind)?;
    let source = Source::open(&side, &bind.get_parameter(0).to_string())?;
    let ts = match params::text(bind, "ts")? {
        Some(ts) => ts,
        None => source.sole_temporal_column()?,
    };
    let is_date = source.require_temporal("ts", &ts)?;
    let value = params::text(bind, "value")?.ok_or_else(|| {
        fail("value is required: a numeric column (summed per timestamp) or an aggregate such as 'sum(orders) / sum(sessions)'")
    })?;
    let value_sql = source.value_expression(&value)?;
    let group_by = params::text_list(bind, "group_by")?;
    for column in &group_by {
        source.require_column("group_by", column)?;
        if reserved.contains(&column.as_str()) {
            return Err(fail(format!(
                "group_by column '{column}' clashes with an output column; rename it in a query"
            )));
        }
    }
    let ts_sql = quote_ident(&ts);
    // Replay: only rows known at `as_of` are read, so results are what was known then.
    let as_of = params::timestamp(bind, "as_of")?
        .map(|t| format!(" AND CAST({ts_sql} AS TIMESTAMP) <= TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f")))
        .unwrap_or_default();
    let label = match params::text(bind, "label")? {
        Some(label) => format!(", bool_or({}) AS kpiscope_label", source.condition("label", &label)?),
        None => String::new(),
    };
    let select_groups: String = group_by.iter().map(|g| format!("CAST({} AS VARCHAR), ", quote_ident(g))).collect();
    let sql = format!(
        "SELECT {select_groups}epoch_us(CAST({ts_sql} AS TIMESTAMP)) AS kpiscope_ts, \
         CAST({value_sql} AS DOUBLE) AS kpiscope_value{label} \
         FROM {} WHERE {ts_sql} IS NOT NULL{as_of} GROUP BY ALL ORDER BY ALL",
        source.from()
    );
    let width = group_by.len();
    let labelled = !label.is_empty();
    type Row = (Vec<Option<String>>, i64, Option<f64>, bool);
    let rows: Vec<Row> = side
        .query(&sql, |row| {
            let key = (0..width).map(|i| row.get::<_, Option<String>>(i)).collect::<Result<Vec<_>, _>>()?;
            let label = if labelled { row.get(width + 2)? } else { false };
            Ok((key, row.get(width)?, row.get(width + 1)?, label))
        })
        .map_err(|e| {
            fail(format!("cannot compute value '{value}' from '{}': {}", source.name(), e.to_string().trim_end()))
        })?;
    let groups = rows
        .chunk_by(|a, b| a.0 == b.0)
        .map(|g| Group {
            key: g[0].0.clone(),
            ts: g.iter().map(|r| r.1).collect(),
            values: g.iter().map(|r| r.2).collect(),
            labels: if labelled { g.iter().map(|r| r.3).collect() } else { Vec::new() },
        })
        .collect();
    Ok(Series { group_by, is_date, groups })
}

/// Timestamps (microseconds) as an output column of the input's type: DATE or TIMESTAMP.
pub fn ts_values(is_date: bool, ts: Vec<i64>) -> Values {
    if is_date {
        Values::Date(ts.iter().map(|t| Some(t.div_euclid(MICROS_PER_DAY) as i32)).collect())
    } else {
        Values::Timestamp(ts.into_iter().map(Some).collect())
    }
}

impl Series {
    /// The group columns, each group's key repeated `counts[g]` times (its number of rows).
    pub fn group_columns(&self, counts: &[usize]) -> Vec<(String, Values)> {
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
                (name.clone(), Values::Varchar(values))
            })
            .collect()
    }
}
