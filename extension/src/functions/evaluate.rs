//! Scoring against labels: `evaluate_detection` (flags per point: precision, recall, F1 and
//! point-adjusted F1), `compare_detectors` (the same for every detection method) and
//! `evaluate_rca` (cause sets per case: micro precision, recall, F1).

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::series::Spec;
use crate::source::{key_at, quote_ident, same_key, text_column, typed, Side, Source};
use crate::table::ResultTable;
use duckdb::arrow::array::BooleanArray;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::vtab::BindInfo;
use kpiscope_engine::evaluate::SetMatch;
use kpiscope_engine::evaluate::{compare_detectors, LabelledSeries, Scores};
use kpiscope_engine::frame::Column;

const PARAMS: &[(&str, Kind)] =
    &[("flag", Kind::Text), ("label", Kind::Text), ("ts", Kind::Text), ("group_by", Kind::TextList)];

fn compute(bind: &BindInfo) -> CallResult<ResultTable> {
    let name = params::source(bind)?;
    let reader = Side::of(bind)?.reader()?;
    let source = Source::open(&reader, "source", &name)?;
    let ts = source.time_column(params::text(bind, "ts")?)?;
    source.require_temporal("ts", &ts)?;
    let label = params::text(bind, "label")?.ok_or_else(|| {
        fail("label is required: a BOOLEAN column or a condition such as 'injected_anomaly IS NOT NULL'")
    })?;
    let label_sql = source.condition("label", &label)?;
    let flag = source.condition("flag", &params::text(bind, "flag")?.unwrap_or_else(|| "is_anomaly".into()))?;
    let group_by = params::text_list(bind, "group_by")?;
    source.require_columns("group_by", &group_by)?;
    let by_key: String = group_by.iter().map(|g| format!("{}, ", quote_ident(g))).collect();
    let order = format!(" ORDER BY {by_key}{} NULLS LAST", quote_ident(&ts));
    let (keys, groups) = grouped::<(bool, bool)>(&reader, &source, &group_by, &format!("{flag}, {label_sql}"), &order)?;
    drop(reader);
    let scores: Vec<Scores> = groups
        .iter()
        .map(|group| {
            let (flags, labels): (Vec<bool>, Vec<bool>) = group.iter().copied().unzip();
            Scores::of(&flags, &labels)
        })
        .collect();
    let mut columns = key_columns(&group_by, &keys);
    columns.extend(score_columns(&scores));
    Ok(ResultTable::new(columns))
}

/// One group's key: its `group_by` values as text.
type Key = Vec<Option<String>>;

/// The values `evaluate_*` read from each row after its group key: two columns from `at` on.
trait Cells: Sized {
    fn read(batch: &RecordBatch, at: usize) -> CallResult<Vec<Self>>;
}

/// A flag and a label (never NULL: `Source::condition` coalesces them).
impl Cells for (bool, bool) {
    fn read(batch: &RecordBatch, at: usize) -> CallResult<Vec<Self>> {
        let (a, b) = (typed::<BooleanArray>(batch, at)?, typed::<BooleanArray>(batch, at + 1)?);
        Ok((0..batch.num_rows()).map(|r| (a.value(r), b.value(r))).collect())
    }
}

/// A predicted and a labelled cause set (never NULL: coalesced to '').
impl Cells for (String, String) {
    fn read(batch: &RecordBatch, at: usize) -> CallResult<Vec<Self>> {
        let (a, b) = (text_column(batch, at)?, text_column(batch, at + 1)?);
        Ok((0..batch.num_rows()).map(|r| (a.value(r).to_string(), b.value(r).to_string())).collect())
    }
}

/// The rows of `SELECT <group_by as text>, <columns> FROM source<tail>` split into runs of
/// equal group key (`tail` orders by the keys first): the keys and the rows of each run, read
/// as Arrow batches (a key's text is copied once per run). Without `group_by` there is always
/// exactly one group, even for an empty source, so an ungrouped call always answers.
fn grouped<T: Cells>(
    reader: &crate::source::Reader,
    source: &Source,
    group_by: &[String],
    columns: &str,
    tail: &str,
) -> CallResult<(Vec<Key>, Vec<Vec<T>>)> {
    let keys: String = group_by.iter().map(|g| format!("CAST({} AS VARCHAR), ", quote_ident(g))).collect();
    let sql = format!("SELECT {keys}{columns} FROM {}{tail}", source.from());
    let width = group_by.len();
    let (mut keys, mut groups): (Vec<Key>, Vec<Vec<T>>) = (Vec::new(), Vec::new());
    reader
        .batches(&sql, |batch| {
            let columns = (0..width).map(|i| text_column(batch, i)).collect::<CallResult<Vec<_>>>()?;
            for (row, cells) in T::read(batch, width)?.into_iter().enumerate() {
                match groups.last_mut() {
                    Some(group) if keys.last().is_some_and(|k| same_key(k, &columns, row)) => group.push(cells),
                    _ => {
                        keys.push(key_at(&columns, row));
                        groups.push(vec![cells]);
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| e.reported(|text| fail(format!("cannot evaluate '{}': {text}", source.name()))))?;
    if width == 0 && groups.is_empty() {
        keys.push(Vec::new());
        groups.push(Vec::new());
    }
    Ok((keys, groups))
}

/// One text column per group key.
fn key_columns(group_by: &[String], keys: &[Key]) -> Vec<(String, Column)> {
    group_by
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), Column::Text(keys.iter().map(|k| k[i].clone()).collect())))
        .collect()
}

/// The confusion counts and scores, one row per entry of `scores`.
fn score_columns(scores: &[Scores]) -> Vec<(String, Column)> {
    let count = |f: fn(&Scores) -> u64| Column::BigInt(scores.iter().map(|s| Some(f(s) as i64)).collect());
    let metric = |f: fn(&Scores) -> Option<f64>| Column::Double(scores.iter().map(f).collect());
    vec![
        ("tp".to_string(), count(|s| s.tp)),
        ("fp".to_string(), count(|s| s.fp)),
        ("fn".to_string(), count(|s| s.fn_)),
        ("tn".to_string(), count(|s| s.tn)),
        ("precision".to_string(), metric(Scores::precision)),
        ("recall".to_string(), metric(Scores::recall)),
        ("f1".to_string(), metric(Scores::f1)),
        ("point_adjusted_f1".to_string(), metric(Scores::point_adjusted_f1)),
    ]
}

materialized_vtab!(EvaluateDetection, "evaluate_detection", compute, positional: &[Kind::Text], named: PARAMS);

const COMPARE_PARAMS: &[(&str, Kind)] = &[
    ("ts", Kind::Text),
    ("value", Kind::Text),
    ("group_by", Kind::TextList),
    ("label", Kind::Text),
    ("sensitivity", Kind::Text),
    ("period", Kind::Integer),
];

/// `compare_detectors(source, value := ..., label := ..., ts := ..., group_by := [...],
/// sensitivity := ..., period := ...)`: every detection method run over the series (each group
/// its own series) and scored against the labels, pooled over the groups; one row per method.
fn compute_compare(bind: &BindInfo) -> CallResult<ResultTable> {
    if params::text(bind, "label")?.is_none() {
        return Err(fail("label is required: a BOOLEAN column or a condition such as 'injected_anomaly IS NOT NULL'"));
    }
    let config = super::detect::arguments(bind)?.config().map_err(fail)?;
    let mut spec = Spec::parse(bind)?;
    spec.label = params::text(bind, "label")?;
    let input = spec.read(&Side::of(bind)?.reader()?, &[])?;
    let labelled: Vec<LabelledSeries<'_>> =
        input.groups.iter().map(|g| (g.ts.as_slice(), g.values.as_slice(), g.labels.as_slice())).collect();
    let results = compare_detectors(&labelled, &config).map_err(fail)?;
    let scores: Vec<Scores> = results.iter().map(|r| r.scores).collect();
    let mut columns =
        vec![("method".to_string(), Column::Text(results.iter().map(|r| Some(r.method.name().to_string())).collect()))];
    columns.extend(score_columns(&scores));
    columns.push(("rank".to_string(), Column::Integer(results.iter().map(|r| Some(r.rank as i32)).collect())));
    Ok(ResultTable::new(columns))
}

materialized_vtab!(CompareDetectors, "compare_detectors", compute_compare, positional: &[Kind::Text], named: COMPARE_PARAMS);

const RCA_PARAMS: &[(&str, Kind)] = &[("predicted", Kind::Text), ("label", Kind::Text), ("group_by", Kind::TextList)];

/// `evaluate_rca(source, predicted := 'predicted', label := 'label', group_by := [...])`: one row
/// per case with predicted and labelled cause sets as text (`a=1&b=2;c=3`), scored by micro-F1.
fn compute_rca(bind: &BindInfo) -> CallResult<ResultTable> {
    let name = params::source(bind)?;
    let reader = Side::of(bind)?.reader()?;
    let source = Source::open(&reader, "source", &name)?;
    let column = |name: &str| -> CallResult<String> {
        let column = params::text(bind, name)?.unwrap_or_else(|| name.to_string());
        source.require_column(name, &column)?;
        Ok(format!("coalesce(CAST({} AS VARCHAR), '')", quote_ident(&column)))
    };
    let (predicted, label) = (column("predicted")?, column("label")?);
    let group_by = params::text_list(bind, "group_by")?;
    source.require_columns("group_by", &group_by)?;
    let order = if group_by.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", (1..=group_by.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
    };
    let (keys, groups) =
        grouped::<(String, String)>(&reader, &source, &group_by, &format!("{predicted}, {label}"), &order)?;
    drop(reader);
    let scores: Vec<(u64, SetMatch)> = groups
        .iter()
        .map(|group| {
            let mut m = SetMatch::default();
            for (p, l) in group {
                m.add(p, l);
            }
            (group.len() as u64, m)
        })
        .collect();
    let mut columns = key_columns(&group_by, &keys);
    let count = |f: fn(&(u64, SetMatch)) -> u64| Column::BigInt(scores.iter().map(|s| Some(f(s) as i64)).collect());
    let metric = |f: fn(&SetMatch) -> Option<f64>| Column::Double(scores.iter().map(|(_, m)| f(m)).collect());
    columns.extend([
        ("cases".to_string(), count(|s| s.0)),
        ("tp".to_string(), count(|s| s.1.tp)),
        ("fp".to_string(), count(|s| s.1.fp)),
        ("fn".to_string(), count(|s| s.1.fn_)),
        ("precision".to_string(), metric(SetMatch::precision)),
        ("recall".to_string(), metric(SetMatch::recall)),
        ("f1".to_string(), metric(SetMatch::f1)),
    ]);
    Ok(ResultTable::new(columns))
}

materialized_vtab!(EvaluateRca, "evaluate_rca", compute_rca, positional: &[Kind::Text], named: RCA_PARAMS);
