//! `cargo run --release -p kpiscope-bench --bin nab -- [NAB_ROOT] [--method NAME] [--cooldown ROWS] [--per-file] [--alerts CSV]`
//!
//! Runs the detector over every NAB file, as SQL gives it (rows of one timestamp summed, in
//! time order), and prints the normalised NAB score for each profile, at the corpus-optimised
//! threshold and at the default threshold (score 50), plus the time per file. The default
//! method is the SQL default (`auto`). `--alerts` also scores alerts made elsewhere (a CSV of
//! `file,ts` rows, such as `bench/scripts/nab_sql.py` writes from `detect_anomalies`), so the
//! SQL path can be checked against this one. `--per-file` adds, at the default threshold, each file's standard
//! score with its windows found, its alarms outside them and its time, worst first: where to
//! look next.

use anyhow::{Context, Result};
use kpiscope_bench::nab::{load_corpus, normalise, parse_time, probation, score_file, NabFile, PROFILES};
use kpiscope_engine::detect::{detect, incidents, DetectConfig, Method, NoiseControls, ANOMALY_SCORE};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = args.first().filter(|a| !a.starts_with("--")).map_or("../shared/data/nab", String::as_str);
    let method = match args.iter().position(|a| a == "--method") {
        Some(i) => Method::parse(args.get(i + 1).context("--method needs a name")?)?,
        None => Method::default(),
    };
    let cooldown: Option<usize> = match args.iter().position(|a| a == "--cooldown") {
        Some(i) => Some(args.get(i + 1).context("--cooldown needs rows")?.parse()?),
        None => None,
    };
    let files = load_corpus(&PathBuf::from(root))?;
    // The cooldown reaches the detector too, so the default-threshold alerts are exactly the
    // `incident_start` rows of `detect_anomalies(..., method := ..., cooldown := ...)`.
    let noise = NoiseControls { cooldown, ..NoiseControls::default() };
    let config = DetectConfig { method, noise, ..DetectConfig::default() };

    let started = Instant::now();
    let mut scored = Vec::with_capacity(files.len());
    let mut cooldowns = Vec::with_capacity(files.len());
    let mut seconds_per_file = Vec::with_capacity(files.len());
    let mut slowest = (0.0, String::new());
    for file in &files {
        let t = Instant::now();
        let values: Vec<Option<f64>> = file.values.iter().map(|v| Some(*v)).collect();
        let verdicts = detect(&file.ts, &values, &config)?;
        let seconds = t.elapsed().as_secs_f64();
        if seconds > slowest.0 {
            slowest = (seconds, file.name.clone());
        }
        seconds_per_file.push(seconds);
        scored.push(verdicts.iter().map(|d| d.score.unwrap_or(0.0)).collect::<Vec<f64>>());
        cooldowns.push(config.resolve(&file.ts).1);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rows: usize = files.iter().map(|f| f.rows.len()).sum();
    let windows: usize = files.iter().map(|f| f.windows.len()).sum();

    // The alerts: the first point of each incident at `threshold`, on the rows NAB scores.
    let alerts = |file: &NabFile, scores: &[f64], cooldown: usize, threshold: f64| -> Vec<usize> {
        file.alert_rows(
            incidents(scores.iter().map(|s| *s >= threshold), cooldown)
                .iter()
                .enumerate()
                .filter_map(|(i, incident)| incident.is_some_and(|(_, opens)| opens).then_some(i)),
        )
    };
    let corpus_score = |threshold: f64, profile| -> f64 {
        files
            .iter()
            .zip(scored.iter().zip(&cooldowns))
            .map(|(file, (scores, cooldown))| {
                score_file(file.rows.len(), &file.windows, &alerts(file, scores, *cooldown, threshold), profile)
            })
            .sum()
    };
    println!("NAB v1.1: {} files, {rows} rows, {windows} windows; method {}", files.len(), config.method.name());
    println!("{:<20} {:>12} {:>10} {:>14}", "profile", "optimised", "threshold", "default (50)");
    for profile in &PROFILES {
        let (best, threshold) = (0..=400)
            .map(|k| f64::from(k) * 0.25)
            .map(|th| (normalise(corpus_score(th, profile), windows, profile), th))
            .fold((f64::NEG_INFINITY, 0.0), |a, b| if b.0 > a.0 { b } else { a });
        let default = normalise(corpus_score(ANOMALY_SCORE, profile), windows, profile);
        println!("{:<20} {:>12.1} {:>10.2} {:>14.1}", profile.name, best, threshold, default);
    }
    if args.iter().any(|a| a == "--per-file") {
        let mut rows: Vec<(f64, &str, usize, usize, usize, f64)> = files
            .iter()
            .zip(scored.iter().zip(&cooldowns))
            .zip(&seconds_per_file)
            .map(|((file, (scores, cooldown)), seconds)| {
                let skip = probation(file.rows.len());
                let hits: Vec<usize> =
                    alerts(file, scores, *cooldown, ANOMALY_SCORE).into_iter().filter(|&i| i >= skip).collect();
                let inside = |i: usize| file.windows.iter().any(|&(l, r)| l <= i && i <= r);
                let found = file.windows.iter().filter(|&&(l, r)| hits.iter().any(|&i| l <= i && i <= r)).count();
                let outside = hits.iter().filter(|&&i| !inside(i)).count();
                let score = score_file(file.rows.len(), &file.windows, &hits, &PROFILES[0]);
                (score, file.name.as_str(), file.windows.len(), found, outside, 1000.0 * seconds)
            })
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        println!("{:>8} {:>8} {:>6} {:>8} {:>8}  file", "standard", "windows", "found", "outside", "ms");
        for (score, name, windows, found, outside, ms) in rows {
            println!("{score:>8.2} {windows:>8} {found:>6} {outside:>8} {ms:>8.1}  {name}");
        }
    }
    if let Some(path) = args.iter().position(|a| a == "--alerts").map(|i| args.get(i + 1)) {
        let path = path.context("--alerts needs a CSV file")?;
        let mut given: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        for record in csv::Reader::from_path(path).with_context(|| format!("reading {path}"))?.records() {
            let record = record?;
            given.entry(record[0].to_string()).or_default().push(parse_time(&record[1])?);
        }
        let scores: Vec<f64> = PROFILES
            .iter()
            .map(|profile| {
                let raw: f64 = files
                    .iter()
                    .map(|file| {
                        let points =
                            given.get(&file.name).into_iter().flatten().filter_map(|t| file.ts.binary_search(t).ok());
                        score_file(file.rows.len(), &file.windows, &file.alert_rows(points), profile)
                    })
                    .sum();
                normalise(raw, windows, profile)
            })
            .collect();
        println!(
            "alerts from {path}: {} {:.1}, {} {:.1}, {} {:.1} ({} alerts)",
            PROFILES[0].name,
            scores[0],
            PROFILES[1].name,
            scores[1],
            PROFILES[2].name,
            scores[2],
            given.values().map(Vec::len).sum::<usize>()
        );
    }
    println!(
        "time: {:.1} ms per file on average, {:.2} µs per row, slowest {:.1} ms ({})",
        1000.0 * elapsed / files.len() as f64,
        1e6 * elapsed / rows as f64,
        1000.0 * slowest.0,
        slowest.1
    );
    Ok(())
}
