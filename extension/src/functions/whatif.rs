//! `what_if(source, levers := MAP {'conversion_rate': -0.1, 'sessions': 0.05}, ts := 'day', days := 28)`:
//! baseline vs scenario for every KPI of the revenue driver tree, and each lever's part of the
//! revenue change. The baseline is the daily average over the last `days` days of `source`,
//! which needs the columns sessions, orders, successful_payments and revenue.

use super::materialized_vtab;
use crate::guard::{fail, CallResult};
use crate::params::{self, Kind};
use crate::source::{quote_ident, Side, Source};
use crate::table::{ResultTable, Values};
use duckdb::vtab::BindInfo;
use kpiscope_engine::whatif::{simulate, DriverTree};
use std::collections::BTreeMap;

const PARAMS: &[(&str, Kind)] = &[("levers", Kind::DoubleMap), ("ts", Kind::Text), ("days", Kind::Integer)];

fn compute(bind: &BindInfo) -> CallResult<ResultTable> {
    let side = Side::of(bind)?;
    let source = Source::open(&side, &bind.get_parameter(0).to_string())?;
    let levers: BTreeMap<String, f64> = params::double_map(bind, "levers")?.into_iter().collect();
    let days = params::integer(bind, "days", 1, 3660)?.unwrap_or(28);
    let ts = match params::text(bind, "ts")? {
        Some(ts) => ts,
        None => source.sole_temporal_column()?,
    };
    source.require_temporal("ts", &ts)?;
    let mut sums = Vec::new();
    for column in ["sessions", "orders", "successful_payments", "revenue"] {
        sums.push(source.value_expression(column).map_err(|_| {
            fail(format!(
                "what_if's revenue tree needs a numeric column '{column}' in '{}' (sessions, orders, successful_payments, revenue)",
                source.name()
            ))
        })?);
    }
    let day = format!("CAST({} AS DATE)", quote_ident(&ts));
    let sql = format!(
        "SELECT {}, count(DISTINCT {day}) FROM {} WHERE {day} > (SELECT max({day}) FROM {}) - {days}",
        sums.iter().map(|s| format!("CAST({s} AS DOUBLE)")).collect::<Vec<_>>().join(", "),
        source.from(),
        source.from()
    );
    let rows = side
        .query(&sql, |row| {
            let totals = (0..4).map(|k| row.get::<_, Option<f64>>(k)).collect::<Result<Vec<_>, _>>()?;
            Ok((totals, row.get::<_, i64>(4)?))
        })
        .map_err(|e| fail(format!("cannot read '{}': {}", source.name(), e.to_string().trim_end())))?;
    let (totals, counted) = match rows.into_iter().next() {
        Some((totals, n)) if n > 0 => (totals, n as f64),
        _ => return Err(fail(format!("'{}' has no rows to take a baseline from", source.name()))),
    };
    let [sessions, orders, payments, revenue] = [0, 1, 2, 3].map(|k| totals[k].unwrap_or(0.0));
    if sessions <= 0.0 || orders <= 0.0 || payments <= 0.0 {
        return Err(fail("the baseline needs positive sessions, orders and successful_payments"));
    }
    let baseline: BTreeMap<String, f64> = [
        ("sessions", sessions / counted),
        ("conversion_rate", orders / sessions),
        ("payment_success_rate", payments / orders),
        ("aov", revenue / payments),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let rows = simulate(&DriverTree::revenue(), &baseline, &levers).map_err(fail)?;
    let col = |name: &str, values: Values| (name.to_string(), values);
    Ok(ResultTable::new(vec![
        col("kpi", Values::Varchar(rows.iter().map(|r| Some(r.kpi.clone())).collect())),
        col("baseline", Values::Double(rows.iter().map(|r| Some(r.baseline)).collect())),
        col("scenario", Values::Double(rows.iter().map(|r| Some(r.scenario)).collect())),
        col("delta", Values::Double(rows.iter().map(|r| Some(r.scenario - r.baseline)).collect())),
        col(
            "delta_pct",
            Values::Double(rows.iter().map(|r| (r.baseline != 0.0).then(|| r.scenario / r.baseline - 1.0)).collect()),
        ),
        col("lever", Values::Double(rows.iter().map(|r| r.lever).collect())),
        col("contribution", Values::Double(rows.iter().map(|r| r.contribution).collect())),
    ]))
}

materialized_vtab!(WhatIf, "what_if", compute, positional: &[Kind::Text], named: PARAMS);
