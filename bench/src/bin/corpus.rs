//! `cargo run --release -p kpiscope-bench --bin corpus -- [train|test] [METHOD ...]`
//!
//! Detection on the generated corpus (`kpiscope_bench::corpus`: 14 regimes of cadence, noise
//! and anomaly kind), default settings otherwise. For each regime and method prints the event
//! F1 on the labelled series and the false alerts per 1,000 points of the clean series, on
//! the test half (seeds 11-20, never used for a choice) unless `train` is given. The last
//! column says whether `auto` (the default) is within 0.05 F1 of the best explicit method.

use anyhow::Result;
use kpiscope_bench::corpus::{EventScores, REGIMES, TEST, TRAIN};
use kpiscope_engine::detect::{detect, DetectConfig, Method};
use rayon::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let train = args.first().is_some_and(|a| a == "train");
    let seeds = if train { TRAIN } else { TEST };
    let named: Vec<Method> =
        args.iter().filter(|a| *a != "train" && *a != "test").map(|m| Method::parse(m)).collect::<Result<_, _>>()?;
    let methods = if named.is_empty() { Method::ALL.to_vec() } else { named };
    println!(
        "generated corpus, {} half (seeds {}-{}): event F1 / false alerts per 1,000 clean points",
        if train { "train" } else { "test" },
        seeds.start(),
        seeds.end()
    );
    print!("{:<30}", "regime");
    for m in &methods {
        print!(" {:>16}", m.name());
    }
    println!("  auto within 0.05");
    let mut totals = vec![EventScores::default(); methods.len()];
    for regime in &REGIMES {
        let cases: Vec<_> = seeds.clone().flat_map(|seed| regime.cases(seed)).collect();
        let scores: Vec<EventScores> = methods
            .par_iter()
            .map(|method| -> Result<EventScores> {
                let config = DetectConfig { method: *method, ..DetectConfig::default() };
                let mut scores = EventScores::default();
                for case in &cases {
                    let values: Vec<Option<f64>> = case.values.iter().map(|v| Some(*v)).collect();
                    let alerts: Vec<usize> = detect(&case.ts, &values, &config)?
                        .iter()
                        .enumerate()
                        .filter_map(|(i, d)| d.incident_start.then_some(i))
                        .collect();
                    scores.add(case, &alerts);
                }
                Ok(scores)
            })
            .collect::<Result<_>>()?;
        print!("{:<30}", regime.name);
        for (s, total) in scores.iter().zip(&mut totals) {
            print!(" {:>9.3} / {:>4.1}", s.f1(), s.clean_rate());
            *total += *s;
        }
        let auto = methods.iter().position(|m| *m == Method::Auto).map(|i| scores[i].f1());
        let best =
            methods.iter().zip(&scores).filter(|(m, _)| **m != Method::Auto).map(|(_, s)| s.f1()).fold(0.0, f64::max);
        match auto {
            Some(auto) => println!("  {} (best explicit {best:.3})", if auto + 0.05 >= best { "yes" } else { "NO" }),
            None => println!(),
        }
    }
    print!("{:<30}", "all regimes");
    for s in &totals {
        print!(" {:>9.3} / {:>4.1}", s.f1(), s.clean_rate());
    }
    println!();
    Ok(())
}
