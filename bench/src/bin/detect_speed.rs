//! `cargo run --release -p kpiscope-bench --bin detect_speed -- [SERIES] [DAYS] [METHOD]`
//!
//! Detection throughput: SERIES (default 10,000) daily series of DAYS (default 730) points,
//! with a weekly pattern, trend and noise, scored with METHOD (default `ensemble`) on all
//! cores.
//! Prints rows per second and the process's peak resident memory.

use anyhow::Result;
use kpiscope_engine::detect::{detect_many, DetectConfig, Method, SeriesRef};
use kpiscope_engine::MICROS_PER_DAY;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::time::Instant;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let series: usize = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let days: usize = args.next().map_or(Ok(730), |s| s.parse())?;
    let method = args.next().map_or(Ok(Method::default()), |m| Method::parse(&m))?;
    let ts: Vec<i64> = (0..days as i64).map(|d| d * MICROS_PER_DAY).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let noise = Normal::new(0.0, 3.0)?;
    let data: Vec<Vec<Option<f64>>> = (0..series)
        .map(|s| {
            let level = 100.0 + (s % 97) as f64;
            (0..days)
                .map(|d| {
                    Some(
                        level + 0.02 * d as f64 + [0.0, 4.0, 3.0, 2.0, 6.0, 15.0, 12.0][d % 7] + noise.sample(&mut rng),
                    )
                })
                .collect()
        })
        .collect();
    let refs: Vec<SeriesRef<'_>> = data.iter().map(|v| (ts.as_slice(), v.as_slice())).collect();
    let started = Instant::now();
    let results = detect_many(&refs, &DetectConfig { method, ..DetectConfig::default() });
    let seconds = started.elapsed().as_secs_f64();
    let flagged: usize =
        results.iter().map(|r| r.as_ref().map_or(0, |v| v.iter().filter(|d| d.is_anomaly).count())).sum();
    let rows = series * days;
    println!(
        "{} on {series} series x {days} days = {rows} rows in {seconds:.2} s on {} threads: {:.0} rows/s; {flagged} flagged; peak RSS {:.0} MiB",
        method.name(),
        rayon::current_num_threads(),
        rows as f64 / seconds,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}
