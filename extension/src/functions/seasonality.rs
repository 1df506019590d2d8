//! `detect_seasonality(source, ts := ..., value := ..., group_by := [...])`: the seasonal
//! periods of each series, strongest first, to pass as `period :=` to the other functions.

use super::materialized_vtab;
use crate::guard::CallResult;
use crate::params::Kind;
use crate::series::Spec;
use crate::source::Side;
use crate::table::{ResultTable, Values};
use duckdb::vtab::BindInfo;
use kpiscope_engine::seasonality::seasonality;
use kpiscope_engine::MICROS_PER_DAY;

const PARAMS: &[(&str, Kind)] = &[("ts", Kind::Text), ("value", Kind::Text), ("group_by", Kind::TextList)];

const OUTPUT: &[&str] = &["period", "period_days", "strength", "rank", "default_period"];

/// One output row: the season (period, period in days, strength, rank), if any.
struct Row {
    season: Option<(i64, f64, f64, i32)>,
    default_period: i64,
}

fn compute(bind: &BindInfo) -> CallResult<ResultTable> {
    let spec = Spec::parse(bind)?;
    let value = spec.value.clone();
    let input = spec.read(&Side::of(bind)?.reader()?, OUTPUT)?;
    let results = input.each(&value, |g| seasonality(&g.ts, &g.values))?;
    // A series without a season still gets a row (period NULL), so every group is answered.
    let rows: Vec<Vec<Row>> = results
        .iter()
        .map(|r| {
            let default_period = r.default_period as i64;
            if r.seasons.is_empty() {
                return vec![Row { season: None, default_period }];
            }
            let days = |p: usize| p as f64 * r.step as f64 / MICROS_PER_DAY as f64;
            r.seasons
                .iter()
                .enumerate()
                .map(|(k, s)| Row {
                    season: Some((s.period as i64, days(s.period), s.strength, k as i32 + 1)),
                    default_period,
                })
                .collect()
        })
        .collect();
    let counts: Vec<usize> = rows.iter().map(Vec::len).collect();
    let mut columns = input.group_columns(&counts);
    let flat: Vec<Row> = rows.into_iter().flatten().collect();
    columns.extend([
        ("period".to_string(), Values::BigInt(flat.iter().map(|r| r.season.map(|s| s.0)).collect())),
        ("period_days".to_string(), Values::Double(flat.iter().map(|r| r.season.map(|s| s.1)).collect())),
        ("strength".to_string(), Values::Double(flat.iter().map(|r| r.season.map(|s| s.2)).collect())),
        ("rank".to_string(), Values::Integer(flat.iter().map(|r| r.season.map(|s| s.3)).collect())),
        ("default_period".to_string(), Values::BigInt(flat.iter().map(|r| Some(r.default_period)).collect())),
    ]);
    Ok(ResultTable::new(columns))
}

materialized_vtab!(DetectSeasonality, "detect_seasonality", compute, positional: &[Kind::Text], named: PARAMS);
