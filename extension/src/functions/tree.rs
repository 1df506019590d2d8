//! `rca_tree(source, dimensions := [...], label := 'condition', max_depth := 3)`: a decision
//! tree over the dimensions separating the rows where `label` holds, as one row per node; and
//! `rca_tree_importance(...)` with the same parameters: each dimension's importance.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::source::{key_sql, text_column, typed, Side, Source};
use crate::table::ResultTable;
use duckdb::arrow::array::Int64Array;
use duckdb::vtab::BindInfo;
use kpiscope_engine::frame::Column;
use kpiscope_engine::tree::{fit, Counts, Tree};

const PARAMS: &[(&str, Kind)] = &[("dimensions", Kind::TextList), ("label", Kind::Text), ("max_depth", Kind::Integer)];

fn fitted(bind: &BindInfo) -> CallResult<Tree> {
    let name = params::source(bind)?;
    let reader = Side::of(bind)?.reader()?;
    let source = Source::open(&reader, "source", &name)?;
    let dimensions = params::text_list(bind, "dimensions")?;
    if dimensions.is_empty() || dimensions.len() > 16 {
        return Err(fail("dimensions must list 1 to 16 columns for the tree to split on"));
    }
    source.require_columns("dimensions", &dimensions)?;
    let label = params::text(bind, "label")?.ok_or_else(|| {
        fail("label is required: a BOOLEAN column or a condition such as 'is_anomaly' or 'delta < 0'")
    })?;
    let label_sql = source.condition("label", &label)?;
    let max_depth = params::integer_in(bind, "max_depth", 1, 8)?.unwrap_or(3) as usize;
    let keys: Vec<String> = dimensions.iter().map(|d| key_sql(d)).collect();
    // Counted per combination of values by DuckDB: the tree needs no more than that.
    let sql = format!(
        "SELECT {}, count(*) FILTER (WHERE {label_sql}), count(*) FROM {} GROUP BY ALL",
        keys.join(", "),
        source.from()
    );
    let width = dimensions.len();
    let mut rows: Vec<Counts> = Vec::new();
    reader
        .batches(&sql, |batch| {
            let keys = (0..width).map(|i| text_column(batch, i)).collect::<CallResult<Vec<_>>>()?;
            let (labelled, total) = (typed::<Int64Array>(batch, width)?, typed::<Int64Array>(batch, width + 1)?);
            let count = |column: &Int64Array, row: usize| usize::try_from(column.value(row)).unwrap_or(0);
            for row in 0..batch.num_rows() {
                // key_sql makes every key non-NULL; counts are never NULL.
                let key = keys.iter().map(|k| k.value(row).to_string()).collect();
                rows.push((key, count(labelled, row), count(total, row)));
            }
            Ok(())
        })
        .map_err(|e| e.reported(|text| fail(format!("cannot read '{}': {text}", source.name()))))?;
    drop(reader);
    fit(&dimensions, &rows, max_depth).map_err(fail)
}

fn nodes(bind: &BindInfo) -> CallResult<ResultTable> {
    let tree = fitted(bind)?;
    let n = &tree.nodes;
    let col = |name: &str, values: Column| (name.to_string(), values);
    Ok(ResultTable::new(vec![
        col("node_id", Column::BigInt(n.iter().map(|x| Some(x.id as i64)).collect())),
        col("parent_id", Column::BigInt(n.iter().map(|x| x.parent.map(|p| p as i64)).collect())),
        col("depth", Column::BigInt(n.iter().map(|x| Some(x.depth as i64)).collect())),
        col("rule", Column::Text(n.iter().map(|x| Some(x.rule.clone())).collect())),
        col("path", Column::Text(n.iter().map(|x| Some(x.path.clone())).collect())),
        col("samples", Column::BigInt(n.iter().map(|x| Some(x.samples as i64)).collect())),
        col("anomalous", Column::BigInt(n.iter().map(|x| Some(x.anomalous as i64)).collect())),
        col("share", Column::Double(n.iter().map(|x| Some(x.share())).collect())),
        col("impurity", Column::Double(n.iter().map(|x| Some(x.impurity)).collect())),
        col("is_leaf", Column::Boolean(n.iter().map(|x| Some(x.is_leaf)).collect())),
    ]))
}

fn importances(bind: &BindInfo) -> CallResult<ResultTable> {
    let tree = fitted(bind)?;
    let i = &tree.importances;
    Ok(ResultTable::new(vec![
        ("dimension".to_string(), Column::Text(i.iter().map(|(d, _)| Some(d.clone())).collect())),
        ("importance".to_string(), Column::Double(i.iter().map(|(_, v)| Some(*v)).collect())),
    ]))
}

materialized_vtab!(RcaTree, "rca_tree", nodes, positional: &[Kind::Text], named: PARAMS);
materialized_vtab!(RcaTreeImportance, "rca_tree_importance", importances, positional: &[Kind::Text], named: PARAMS);
