//! `cargo run --release -p kpiscope-bench --bin rca_synthetic -- [SEEDS] [DAYS] [FIRST]`
//!
//! Root-cause analysis on `generate_kpi_data` (SEEDS seeds from FIRST, default 20 from 1, DAYS
//! days each, default 180; seeds 101-200 are held out: never used to tune): for every injected
//! anomaly, the leaves (channel x region x cohort) on its first day against the median of
//! the same weekday over the previous 4 weeks, per leaf, on the KPI the anomaly hits (revenue; conversion =
//! orders / sessions for conversion drops; payment success = successful payments / orders for
//! payment failures). Reports how often the injected segment ranks first, how often the
//! root-cause set is exactly that segment, and how often it is empty.

use anyhow::Result;
use kpiscope_engine::rca::{analyze, Baseline, TimedLeaves};
use kpiscope_engine::synth::{generate, AnomalyKind, GeneratorConfig, KpiRow};
use kpiscope_engine::{epoch_days, MICROS_PER_DAY};
use std::collections::BTreeMap;

/// (numerator, denominator) of the KPI an anomaly kind hits; denominator 1 for additive.
fn kpi(kind: AnomalyKind, row: &KpiRow) -> (f64, Option<f64>) {
    match kind {
        AnomalyKind::ConversionDrop => (row.orders as f64, Some(row.sessions as f64)),
        AnomalyKind::PaymentFailure => (row.successful_payments as f64, Some(row.orders as f64)),
        _ => (row.revenue, None),
    }
}

fn main() -> Result<()> {
    let seeds: u64 = std::env::args().nth(1).map_or(Ok(20), |s| s.parse())?;
    let days: u32 = std::env::args().nth(2).map_or(Ok(180), |s| s.parse())?;
    let first: u64 = std::env::args().nth(3).map_or(Ok(1), |s| s.parse())?;
    let (mut cases, mut top1, mut exact, mut empty) = (0, 0, 0, 0);
    let mut by_kind: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for seed in first..first + seeds {
        let data = generate(&GeneratorConfig { seed, days, ..GeneratorConfig::default() })?;
        for anomaly in &data.anomalies {
            let dimensions = vec!["channel".to_string(), "region".to_string(), "cohort".to_string()];
            let rows = data
                .rows
                .iter()
                .map(|row| {
                    let (num, den) = kpi(anomaly.kind, row);
                    let key = vec![row.channel.to_string(), row.region.to_string(), row.cohort.to_string()];
                    (key, i64::from(epoch_days(row.day)) * MICROS_PER_DAY, num, den)
                })
                .collect::<Vec<_>>();
            let daily = TimedLeaves::from_rows(dimensions, rows);
            let leaves = daily.compare(i64::from(epoch_days(anomaly.start)) * MICROS_PER_DAY, Baseline::SameWeekday(4));
            let findings = analyze(&leaves, 3);
            let truth = anomaly.scope.label();
            let first = findings.first().map(|f| f.contribution.segment.label(&leaves)).unwrap_or_default();
            let causes: Vec<String> =
                findings.iter().filter(|f| f.is_root_cause).map(|f| f.contribution.segment.label(&leaves)).collect();
            let counts = by_kind.entry(anomaly.kind.as_str()).or_insert([0; 3]);
            counts[0] += 1;
            cases += 1;
            if first == truth {
                top1 += 1;
                counts[1] += 1;
            }
            if causes.is_empty() {
                empty += 1;
            }
            if causes == [truth.clone()] {
                exact += 1;
                counts[2] += 1;
            }
            if std::env::var_os("RCA_DEBUG").is_some() && causes != [truth.clone()] {
                eprintln!(
                    "seed {seed} {} {}: truth {truth}, first {first}, causes {causes:?}",
                    anomaly.kind.as_str(),
                    anomaly.start
                );
            }
        }
    }
    println!("generate_kpi_data, seeds {first}..={}, {days} days: {cases} injected anomalies", first + seeds - 1);
    println!("{:<16} {:>6} {:>10} {:>16}", "kind", "cases", "rank 1", "exact cause set");
    for (kind, [n, t, e]) in &by_kind {
        println!("{kind:<16} {n:>6} {t:>10} {e:>16}");
    }
    println!(
        "{:<16} {cases:>6} {top1:>10} {exact:>16}   (top-1 {:.3}, exact {:.3}; no root cause for {empty})",
        "all",
        top1 as f64 / cases as f64,
        exact as f64 / cases as f64
    );
    Ok(())
}
