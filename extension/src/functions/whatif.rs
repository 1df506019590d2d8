//! The KPI driver tree in SQL.
//!
//! - `what_if(source, levers := MAP {'conversion_rate': -0.1}, ts := 'day', days := 28, tree := ...)`:
//!   baseline vs scenario for every KPI of the tree, and each lever's part of the root's change.
//!   The baseline is taken over the last `days` days of `source`.
//! - `decompose_change(source, test := DATE, baseline := DATE, ts := 'day', tree := ...)`: the
//!   observed change of the root between two days, split among the leaves.
//!
//! The tree is revenue = sessions x conversion_rate x payment_success_rate x aov unless `tree`
//! names a table (or parenthesised query) with columns `kpi`, `parent` (NULL for the root) and
//! `expression`: the SQL aggregate giving each leaf's value over a set of rows.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::source::{explain, quote_ident, Reader, Side, Source};
use crate::table::ResultTable;
use chrono::Duration;
use duckdb::vtab::BindInfo;
use kpiscope_engine::frame::Column;
use kpiscope_engine::whatif::{decompose, simulate, DriverTree};
use std::collections::BTreeMap;

/// A driver tree and the SQL of each leaf's value over a set of rows.
struct Tree {
    tree: DriverTree,
    leaves: Vec<(String, String)>,
}

/// The default tree's leaves over `source`; `{day}` is the day of each row. Volumes are daily
/// averages, rates are ratios of sums.
const REVENUE_LEAVES: [(&str, &str); 4] = [
    ("sessions", "CAST(sum(sessions) AS DOUBLE) / count(DISTINCT {day})"),
    ("conversion_rate", "CAST(sum(orders) AS DOUBLE) / sum(sessions)"),
    ("payment_success_rate", "CAST(sum(successful_payments) AS DOUBLE) / sum(orders)"),
    ("aov", "CAST(sum(revenue) AS DOUBLE) / sum(successful_payments)"),
];

fn load_tree(reader: &Reader, bind: &BindInfo, source: &Source, day: &str) -> CallResult<Tree> {
    let Some(name) = params::text(bind, "tree")? else {
        for column in ["sessions", "orders", "successful_payments", "revenue"] {
            source.value_expression(column).map_err(|_| {
                fail(format!(
                    "the revenue tree needs a numeric column '{column}' in '{}' (sessions, orders, successful_payments, \
                     revenue); or define your own with tree := 'table'",
                    source.name()
                ))
            })?;
        }
        let leaves = REVENUE_LEAVES.iter().map(|(leaf, sql)| (leaf.to_string(), sql.replace("{day}", day))).collect();
        return Ok(Tree { tree: DriverTree::revenue(), leaves });
    };
    let table = Source::open(reader, "tree", &name)?;
    for column in ["kpi", "parent", "expression"] {
        table.require_column("tree", column)?;
    }
    let rows = reader
        .query(
            &format!(
                "SELECT CAST(kpi AS VARCHAR), CAST(parent AS VARCHAR), CAST(expression AS VARCHAR) FROM {}",
                table.from()
            ),
            |row| {
                Ok((
                    row.get::<_, Option<String>>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            },
        )
        .map_err(|e| fail(format!("cannot read tree '{name}': {}", explain(&e))))?;
    let mut edges = Vec::with_capacity(rows.len());
    let mut expressions = BTreeMap::new();
    for (kpi, parent, expression) in rows {
        let kpi = kpi.ok_or_else(|| fail(format!("tree '{name}' has a row without a kpi")))?;
        if let Some(expression) = expression.filter(|e| !e.trim().is_empty()) {
            expressions.insert(kpi.clone(), expression);
        }
        edges.push((kpi, parent));
    }
    let tree = DriverTree::from_edges(&edges).map_err(fail)?;
    let leaves = tree
        .leaves()
        .into_iter()
        .map(|leaf| {
            let sql = expressions.get(leaf).ok_or_else(|| {
                fail(format!("tree leaf '{leaf}' needs an expression, e.g. 'sum(visits) / count(DISTINCT day)'"))
            })?;
            Ok((leaf.to_string(), format!("CAST(({sql}) AS DOUBLE)")))
        })
        .collect::<CallResult<_>>()?;
    Ok(Tree { tree, leaves })
}

/// Each leaf's value over the rows of `source` matching `condition` (`what` names them in errors).
fn leaf_values(
    reader: &Reader,
    source: &Source,
    tree: &Tree,
    condition: &str,
    what: &str,
) -> CallResult<BTreeMap<String, f64>> {
    let select = tree.leaves.iter().map(|(_, sql)| sql.as_str()).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT count(*), {select} FROM {} WHERE {condition}", source.from());
    let rows = reader
        .query(&sql, |row| {
            let values =
                (1..=tree.leaves.len()).map(|k| row.get::<_, Option<f64>>(k)).collect::<Result<Vec<_>, _>>()?;
            Ok((row.get::<_, i64>(0)?, values))
        })
        .map_err(|e| fail(format!("cannot evaluate the tree over '{}': {}", source.name(), explain(&e))))?;
    let (count, values) = rows.into_iter().next().unwrap_or((0, Vec::new()));
    if count == 0 {
        return Err(fail(format!("'{}' has no rows {what}", source.name())));
    }
    tree.leaves
        .iter()
        .zip(values)
        .map(|((leaf, _), value)| match value {
            Some(v) if v.is_finite() => Ok((leaf.clone(), v)),
            _ => Err(fail(format!("tree leaf '{leaf}' has no value {what} (a division by zero?)"))),
        })
        .collect()
}

fn day_of(source: &Source, bind: &BindInfo) -> CallResult<String> {
    let ts = source.time_column(params::text(bind, "ts")?)?;
    source.require_temporal("ts", &ts)?;
    Ok(format!("CAST({} AS DATE)", quote_ident(&ts)))
}

const WHAT_IF_PARAMS: &[(&str, Kind)] =
    &[("levers", Kind::DoubleMap), ("ts", Kind::Text), ("days", Kind::Integer), ("tree", Kind::Text)];

fn what_if(bind: &BindInfo) -> CallResult<ResultTable> {
    let name = params::source(bind)?;
    let reader = Side::of(bind)?.reader()?;
    let source = Source::open(&reader, "source", &name)?;
    let levers: BTreeMap<String, f64> = params::double_map(bind, "levers")?.into_iter().collect();
    let days = params::integer_in(bind, "days", 1, 3660)?.unwrap_or(28);
    let day = day_of(&source, bind)?;
    let tree = load_tree(&reader, bind, &source, &day)?;
    let window = format!("{day} > (SELECT max({day}) FROM {}) - {days}", source.from());
    let baseline = leaf_values(&reader, &source, &tree, &window, "to take a baseline from")?;
    drop(reader);
    let rows = simulate(&tree.tree, &baseline, &levers).map_err(fail)?;
    let col = |name: &str, values: Column| (name.to_string(), values);
    Ok(ResultTable::new(vec![
        col("kpi", Column::Text(rows.iter().map(|r| Some(r.kpi.clone())).collect())),
        col("baseline", Column::Double(rows.iter().map(|r| Some(r.baseline)).collect())),
        col("scenario", Column::Double(rows.iter().map(|r| Some(r.scenario)).collect())),
        col("delta", Column::Double(rows.iter().map(|r| Some(r.scenario - r.baseline)).collect())),
        col("delta_pct", Column::Double(rows.iter().map(|r| relative(r.scenario, r.baseline)).collect())),
        col("lever", Column::Double(rows.iter().map(|r| r.lever).collect())),
        col("contribution", Column::Double(rows.iter().map(|r| r.contribution).collect())),
    ]))
}

fn relative(after: f64, before: f64) -> Option<f64> {
    (before != 0.0).then(|| after / before - 1.0)
}

materialized_vtab!(WhatIf, "what_if", what_if, positional: &[Kind::Text], named: WHAT_IF_PARAMS);

const DECOMPOSE_PARAMS: &[(&str, Kind)] =
    &[("test", Kind::Date), ("baseline", Kind::Date), ("ts", Kind::Text), ("tree", Kind::Text)];

fn decompose_change(bind: &BindInfo) -> CallResult<ResultTable> {
    let name = params::source(bind)?;
    let reader = Side::of(bind)?.reader()?;
    let source = Source::open(&reader, "source", &name)?;
    let test = params::date(bind, "test")?.ok_or_else(|| fail("test := DATE '...' is required: the day to explain"))?;
    let base = match params::date(bind, "baseline")? {
        Some(base) => base,
        None => test
            .checked_sub_signed(Duration::days(7))
            .ok_or_else(|| fail(format!("test {test} has no day a week before it; give baseline := DATE '...'")))?,
    };
    if base == test {
        return Err(fail("baseline must be another day than test"));
    }
    let day = day_of(&source, bind)?;
    let tree = load_tree(&reader, bind, &source, &day)?;
    let on = |d: chrono::NaiveDate| format!("{day} = DATE '{d}'");
    let before = leaf_values(&reader, &source, &tree, &on(base), &format!("on the baseline day {base}"))?;
    let after = leaf_values(&reader, &source, &tree, &on(test), &format!("on the test day {test}"))?;
    drop(reader);
    let parts: BTreeMap<String, f64> = decompose(&tree.tree, &before, &after).map_err(fail)?.into_iter().collect();
    let (before, after) = (tree.tree.evaluate(&before).map_err(fail)?, tree.tree.evaluate(&after).map_err(fail)?);
    let total = after[0].1 - before[0].1;
    let share = |c: f64| (total != 0.0).then(|| c / total);
    let rows: Vec<_> =
        before.iter().zip(&after).map(|((kpi, b), (_, a))| (kpi.clone(), *b, *a, parts.get(kpi).copied())).collect();
    let col = |name: &str, values: Column| (name.to_string(), values);
    Ok(ResultTable::new(vec![
        col("kpi", Column::Text(rows.iter().map(|r| Some(r.0.clone())).collect())),
        col("is_leaf", Column::Boolean(rows.iter().map(|r| Some(r.3.is_some())).collect())),
        col("baseline", Column::Double(rows.iter().map(|r| Some(r.1)).collect())),
        col("actual", Column::Double(rows.iter().map(|r| Some(r.2)).collect())),
        col("delta", Column::Double(rows.iter().map(|r| Some(r.2 - r.1)).collect())),
        col("delta_pct", Column::Double(rows.iter().map(|r| relative(r.2, r.1)).collect())),
        col("contribution", Column::Double(rows.iter().map(|r| r.3).collect())),
        col("share", Column::Double(rows.iter().map(|r| r.3.and_then(share)).collect())),
    ]))
}

materialized_vtab!(DecomposeChange, "decompose_change", decompose_change, positional: &[Kind::Text], named: DECOMPOSE_PARAMS);
