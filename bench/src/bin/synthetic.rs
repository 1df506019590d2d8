//! `cargo run --release -p kpiscope-bench --bin synthetic -- [SEEDS] [DAYS] [FIRST] [METHOD]`
//!
//! Scores every detection method (or METHOD) on `generate_kpi_data` (default settings) over
//! SEEDS seeds from FIRST (default 20 from 1; seeds 101-200 are held out, never used to tune),
//! DAYS days each (default 180): revenue on the daily total (a day is labelled when any segment
//! carries an anomaly) and per segment (channel x region x cohort, each row against its own
//! label). Prints micro precision, recall and F1 over all seeds, per day and per event: an
//! injected incident (a run of labelled days) is found when any of its days is flagged, and
//! every flagged day outside the incidents of its series is a false alarm.

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

/// Event-level counts: incidents found (tp), missed (fn), flagged days outside them (fp).
fn events(flags: &[bool], labels: &[bool]) -> Scores {
    let mut scores = Scores::default();
    let mut i = 0;
    while i < labels.len() {
        if labels[i] {
            let start = i;
            while i < labels.len() && labels[i] {
                i += 1;
            }
            if flags[start..i].iter().any(|f| *f) {
                scores.tp += 1;
            } else {
                scores.fn_ += 1;
            }
        } else {
            scores.fp += u64::from(flags[i]);
            i += 1;
        }
    }
    scores
}

fn main() -> Result<()> {
    let seeds: u64 = std::env::args().nth(1).map_or(Ok(20), |s| s.parse())?;
    let days: u32 = std::env::args().nth(2).map_or(Ok(180), |s| s.parse())?;
    let first: u64 = std::env::args().nth(3).map_or(Ok(1), |s| s.parse())?;
    let only = std::env::args().nth(4).map(|m| Method::parse(&m)).transpose()?;
    let methods = [
        Method::Auto,
        Method::Ensemble,
        Method::SeasonalMad,
        Method::HoltWinters,
        Method::LevelShift,
        Method::Esd,
        Method::ForecastBand,
        Method::IsolationForest,
    ];
    let methods: Vec<Method> = methods.into_iter().filter(|m| only.is_none_or(|o| o == *m)).collect();
    let mut totals: Vec<[Scores; 4]> = methods.iter().map(|_| Default::default()).collect();
    for seed in first..first + seeds {
        let data = generate(&GeneratorConfig { seed, days, ..GeneratorConfig::default() })?;
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
        for (method, [total, segment, total_events, segment_events]) in methods.iter().zip(totals.iter_mut()) {
            let sensitivity = match std::env::var("SENSITIVITY") {
                Ok(level) => kpiscope_engine::detect::Sensitivity::parse(&level)?,
                Err(_) => Default::default(),
            };
            let config = DetectConfig { method: *method, sensitivity, ..DetectConfig::default() };
            let flags = |values: &[f64]| -> Result<Vec<bool>> {
                let values: Vec<Option<f64>> = values.iter().map(|v| Some(*v)).collect();
                Ok(detect(&ts, &values, &config)?.iter().map(|d| d.is_anomaly).collect())
            };
            let total_flags = flags(&total_value)?;
            *total += Scores::of(&total_flags, &total_label);
            *total_events += events(&total_flags, &total_label);
            for (labels, values) in segments.values() {
                let flags = flags(values)?;
                *segment += Scores::of(&flags, labels);
                *segment_events += events(&flags, labels);
            }
        }
    }
    println!("generate_kpi_data, seeds {first}..={}, {days} days, revenue", first + seeds - 1);
    for (method, [total, segment, total_events, segment_events]) in methods.iter().zip(&totals) {
        println!("{:<13} daily total  {}", method.name(), line(total));
        println!("{:<13} per segment  {}", "", line(segment));
        println!("{:<13} events, total    {}", "", line(total_events));
        println!("{:<13} events, segment  {}", "", line(segment_events));
    }
    Ok(())
}
