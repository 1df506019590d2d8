//! `cargo run --release -p kpiscope-bench --bin rca_generated -- [CASES]`
//!
//! Root-cause localisation of a derived (ratio) KPI on generated cases unlike the demo's:
//! 4 dimensions of 2-5 members with 50-100 leaves, a success rate per leaf (numerator over
//! denominator, with member effects), an expected value per leaf that is itself noisy (a
//! forecast: 3% noise on the volume, 2% on the rate), and 1-3 root causes of one or two
//! dimensions that do not share leaves and together cover at most half of them (the rest is
//! what "unchanged" means), each moving its rate by 10-40%. Runs what
//! `rca_contributions(..., actual_numerator :=, actual_denominator :=, expected_numerator :=,
//! expected_denominator :=)` runs (`analyze`, default depth) and prints, for the train half
//! (seeds 1-CASES) and the test half (seeds 10,001 on, never used for a choice), micro-F1 of
//! the root-cause sets, the exact-set rate and the median predicted and true set sizes.

use anyhow::Result;
use kpiscope_engine::evaluate::{parse_cause_set, SetMatch};
use kpiscope_engine::rca::{analyze, Leaves, LeavesBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

const DEPTH: usize = 3;

/// One case: its leaves and the labelled root causes as `a=x & b=y; c=z`.
fn case(seed: u64) -> (Leaves, String) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sizes: Vec<usize> = loop {
        let sizes: Vec<usize> = (0..4).map(|_| rng.random_range(2..=5)).collect();
        if (50..=100).contains(&sizes.iter().product::<usize>()) {
            break sizes;
        }
    };
    let names = ["country", "device", "plan", "provider"];
    let effects: Vec<Vec<f64>> = sizes.iter().map(|&n| (0..n).map(|_| rng.random_range(0.9..1.1)).collect()).collect();
    let base = rng.random_range(0.6..0.9);
    let leaves: Vec<Vec<usize>> = sizes.iter().fold(vec![vec![]], |acc, &n| {
        acc.into_iter().flat_map(|prefix| (0..n).map(move |m| [prefix.clone(), vec![m]].concat())).collect()
    });
    // Root causes: 1-3 segments fixing one or two dimensions, sharing no leaf.
    let mut causes: Vec<Vec<(usize, usize)>> = Vec::new();
    let wanted = rng.random_range(1..=3);
    for _ in 0..100 {
        if causes.len() == wanted {
            break;
        }
        let depth = rng.random_range(1..=2);
        let mut dims: Vec<usize> = (0..4).collect();
        for i in (1..4).rev() {
            dims.swap(i, rng.random_range(0..=i));
        }
        let mut cause: Vec<(usize, usize)> =
            dims[..depth].iter().map(|&d| (d, rng.random_range(0..sizes[d]))).collect();
        cause.sort_unstable();
        let overlaps =
            |a: &[(usize, usize)], b: &[(usize, usize)]| a.iter().all(|(d, m)| b.iter().all(|(e, n)| d != e || m == n));
        let covered = |c: &[(usize, usize)]| leaves.iter().filter(|l| c.iter().all(|&(d, m)| l[d] == m)).count();
        let taken: usize = causes.iter().map(|c| covered(c)).sum();
        if causes.iter().all(|c| !overlaps(c, &cause)) && 2 * (taken + covered(&cause)) <= leaves.len() {
            causes.push(cause);
        }
    }
    let changes: Vec<f64> =
        causes.iter().map(|_| rng.random_range(0.1..0.4) * if rng.random_bool(0.7) { -1.0 } else { 1.0 }).collect();
    let noise = |rng: &mut ChaCha8Rng, sd: f64| Normal::new(0.0, sd).map_or(0.0, |n| n.sample(rng));
    let mut out = LeavesBuilder::new(names.iter().map(|n| n.to_string()).collect());
    for leaf in &leaves {
        let volume = (rng.random_range(4.0..9.0_f64)).exp();
        let rate = (base * leaf.iter().enumerate().map(|(d, &m)| effects[d][m]).product::<f64>()).min(0.99);
        let change: f64 =
            causes.iter().zip(&changes).filter(|(c, _)| c.iter().all(|&(d, m)| leaf[d] == m)).map(|(_, x)| *x).sum();
        let actual_den = volume.round().max(1.0);
        let actual_num = (actual_den * (rate * (1.0 + change)).clamp(0.0, 1.0)).round();
        let expected_den = volume * (1.0 + noise(&mut rng, 0.03));
        let expected_num = expected_den * rate * (1.0 + noise(&mut rng, 0.02));
        let keys: Vec<String> = leaf.iter().enumerate().map(|(d, m)| format!("{}{m}", &names[d][..1])).collect();
        out.push_ratio(keys.iter().map(String::as_str), [expected_num, actual_num], [expected_den, actual_den]);
    }
    let out = out.finish();
    let label = causes
        .iter()
        .map(|c| c.iter().map(|&(d, m)| format!("{}={}{m}", names[d], &names[d][..1])).collect::<Vec<_>>().join(" & "))
        .collect::<Vec<_>>()
        .join("; ");
    (out, label)
}

fn median(mut v: Vec<usize>) -> f64 {
    v.sort_unstable();
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2] as f64,
        n => (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0,
    }
}

fn main() -> Result<()> {
    let cases: u64 = std::env::args().nth(1).map_or(Ok(200), |s| s.parse())?;
    println!("generated ratio-KPI cases, 50-100 leaves, 1-3 root causes; {cases} cases per half");
    for (half, first) in [("train", 1), ("test", 10_001)] {
        let (mut counts, mut exact, mut predicted_sizes, mut true_sizes) = (SetMatch::default(), 0, vec![], vec![]);
        for seed in first..first + cases {
            let (leaves, label) = case(seed);
            let predicted: Vec<String> = analyze(&leaves, DEPTH)
                .iter()
                .filter(|f| f.is_root_cause)
                .map(|f| f.contribution.segment.label(&leaves))
                .collect();
            let predicted = predicted.join("; ");
            let before = counts;
            counts.add(&predicted, &label);
            exact += u64::from(counts.fp == before.fp && counts.fn_ == before.fn_);
            predicted_sizes.push(parse_cause_set(&predicted).len());
            true_sizes.push(parse_cause_set(&label).len());
        }
        println!(
            "{half:<5} micro-F1 {:.3} (tp {} fp {} fn {}), exact set {:.3}, median set size predicted {:.1} / true {:.1}",
            counts.f1().unwrap_or(0.0),
            counts.tp,
            counts.fp,
            counts.fn_,
            exact as f64 / cases as f64,
            median(predicted_sizes),
            median(true_sizes)
        );
    }
    Ok(())
}
