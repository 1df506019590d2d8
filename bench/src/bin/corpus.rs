//! `cargo run --release -p kpiscope-bench --bin corpus -- [train|test|fresh] [low|medium|high] [METHOD ...]`
//!
//! Detection on the generated corpus (`kpiscope_bench::corpus`: 14 regimes of cadence, noise
//! and anomaly kind), at the sensitivity given (`medium`, the default, unless named) and
//! default settings otherwise. For each regime and method prints the event
//! F1 on the labelled series and the false alerts per 1,000 points of the clean series, on
//! the test half (seeds 101-150, never used for a choice) unless `train` (seeds 1-50) or
//! `fresh` (seeds 201-250, a draw no diagnostic has looked at) is given. The last
//! column says whether `auto` (the default) is within 0.05 F1 of the best explicit method, and
//! gives a 90% interval for `auto`'s F1 minus that method's, from a paired bootstrap over the
//! seeds ([`gap_interval`]): a gap whose interval spans zero may be the draw of the seeds.

use anyhow::Result;
use kpiscope_bench::corpus::{gap_interval, EventScores, FRESH, REGIMES, TEST, TRAIN};
use kpiscope_engine::detect::{detect, DetectConfig, Method, Sensitivity};
use rayon::prelude::*;

/// The seed sets an argument may name.
const HALVES: [&str; 3] = ["train", "test", "fresh"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let half = args.iter().find(|a| HALVES.contains(&a.as_str())).map_or("test", String::as_str);
    let seeds = match half {
        "train" => TRAIN,
        "fresh" => FRESH,
        _ => TEST,
    };
    let levels: Vec<&str> = Sensitivity::LEVELS.iter().map(|(level, _)| *level).collect();
    let sensitivity = match args.iter().find(|a| levels.contains(&a.as_str())) {
        Some(level) => Sensitivity::parse(level)?,
        None => Sensitivity::default(),
    };
    let named: Vec<Method> = args
        .iter()
        .filter(|a| !HALVES.contains(&a.as_str()) && !levels.contains(&a.as_str()))
        .map(|m| Method::parse(m))
        .collect::<Result<_, _>>()?;
    let methods = if named.is_empty() { Method::ALL.to_vec() } else { named };
    println!(
        "generated corpus, {half} seeds ({}-{}), sensitivity z {}: event F1 / false alerts per 1,000 clean points",
        seeds.start(),
        seeds.end(),
        sensitivity.threshold()
    );
    print!("{:<30}", "regime");
    for m in &methods {
        print!(" {:>16}", m.name());
    }
    println!("  auto within 0.05");
    let mut totals = vec![EventScores::default(); methods.len()];
    for regime in &REGIMES {
        let cases: Vec<_> = seeds.clone().map(|seed| regime.cases(seed)).collect();
        // Per method, one score per seed (its clean and labelled series), for the bootstrap.
        let per_seed: Vec<Vec<EventScores>> = methods
            .par_iter()
            .map(|method| -> Result<Vec<EventScores>> {
                let config = DetectConfig { method: *method, sensitivity, ..DetectConfig::default() };
                cases
                    .iter()
                    .map(|pair| {
                        let mut scores = EventScores::default();
                        for case in pair {
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
                    .collect()
            })
            .collect::<Result<_>>()?;
        let scores: Vec<EventScores> = per_seed.iter().map(|seeds| seeds.iter().copied().sum()).collect();
        print!("{:<30}", regime.name);
        for (s, total) in scores.iter().zip(&mut totals) {
            print!(" {:>9.3} / {:>4.1}", s.f1(), s.clean_rate());
            *total += *s;
        }
        let auto = methods.iter().position(|m| *m == Method::Auto);
        let best = (0..methods.len())
            .filter(|&i| methods[i] != Method::Auto)
            .max_by(|&i, &j| scores[i].f1().total_cmp(&scores[j].f1()));
        match (auto, best) {
            (Some(auto), Some(best)) => {
                let (f1, best_f1) = (scores[auto].f1(), scores[best].f1());
                let (low, high) = gap_interval(&per_seed[auto], &per_seed[best], 2_000);
                println!(
                    "  {} (best explicit {best_f1:.3}, {}; gap {:+.3}, 90% {low:+.3} to {high:+.3})",
                    if f1 + 0.05 >= best_f1 { "yes" } else { "NO" },
                    methods[best].name(),
                    f1 - best_f1
                );
            }
            _ => println!(),
        }
    }
    print!("{:<30}", "all regimes");
    for s in &totals {
        print!(" {:>9.3} / {:>4.1}", s.f1(), s.clean_rate());
    }
    println!();
    Ok(())
}
