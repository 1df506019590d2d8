//! `cargo run --release -p kpiscope-bench --bin synthetic -- [SEEDS]`
//!
//! Scores every detection method on `generate_kpi_data` (default settings) over seeds 1..=SEEDS
//! (default 20): revenue on the daily total (a day is labelled when any segment carries an
//! anomaly) and per segment (channel x region x cohort, each row against its own label).
//! Prints micro precision, recall and F1 over all seeds.

use anyhow::Result;
use kpiscope_engine::detect::{detect, DetectConfig, Method};
use kpiscope_engine::evaluate::Scores;
use kpiscope_engine::synth::{generate, GeneratorConfig};
use kpiscope_engine::MICROS_PER_DAY;
use std::collections::BTreeMap;

fn line(s: &Scores) -> String {
    let metric = |v: Option<f64>| v.unwrap_or(0.0);
    format!(
        "P {:.3}  R {:.3}  F1 {:.3}  (tp {} fp {} fn {})",
        metric(s.precision()),
        metric(s.recall()),
        metric(s.f1()),
        s.tp,
        s.fp,
        s.fn_
    )
}

/// Keyed series: (label per day, value per day).
type Series = BTreeMap<String, (Vec<bool>, Vec<f64>)>;

fn main() -> Result<()> {
    let seeds: u64 = std::env::args().nth(1).map_or(Ok(20), |s| s.parse())?;
    let methods = [
        Method::Ensemble,
        Method::SeasonalMad,
        Method::HoltWinters,
        Method::LevelShift,
        Method::Esd,
        Method::ForecastBand,
        Method::IsolationForest,
    ];
    let mut totals: Vec<(Scores, Scores)> = methods.iter().map(|_| Default::default()).collect();
    for seed in 1..=seeds {
        let data = generate(&GeneratorConfig { seed, ..GeneratorConfig::default() })?;
        let days = data.rows.len() / 16;
        let ts: Vec<i64> = (0..days as i64).map(|d| d * MICROS_PER_DAY).collect();
        let (mut total_label, mut total_value) = (vec![false; days], vec![0.0; days]);
        let mut segments = Series::new();
        for (k, row) in data.rows.iter().enumerate() {
            let day = k / 16;
            total_label[day] |= row.injected_anomaly.is_some();
            total_value[day] += row.revenue;
            let entry = segments
                .entry(format!("{}/{}/{}", row.channel, row.region, row.cohort))
                .or_insert_with(|| (Vec::new(), Vec::new()));
            entry.0.push(row.injected_anomaly.is_some());
            entry.1.push(row.revenue);
        }
        for (method, (total, segment)) in methods.iter().zip(totals.iter_mut()) {
            let config = DetectConfig { method: *method, ..DetectConfig::default() };
            let flags = |values: &[f64]| -> Result<Vec<bool>> {
                let values: Vec<Option<f64>> = values.iter().map(|v| Some(*v)).collect();
                Ok(detect(&ts, &values, &config)?.iter().map(|d| d.is_anomaly).collect())
            };
            *total += Scores::of(&flags(&total_value)?, &total_label);
            for (labels, values) in segments.values() {
                *segment += Scores::of(&flags(values)?, labels);
            }
        }
    }
    println!("generate_kpi_data, seeds 1..={seeds}, revenue");
    for (method, (total, segment)) in methods.iter().zip(&totals) {
        println!("{:<13} daily total  {}", method.name(), line(total));
        println!("{:<13} per segment  {}", "", line(segment));
    }
    Ok(())
}
