//! `cargo run --release -p kpiscope-bench --bin forecast_speed`
//!
//! Time to forecast one daily series of 730 points 30 days ahead with each model (median of
//! 20 runs), the "under 20 ms" check.

use anyhow::Result;
use kpiscope_engine::forecast::{forecast, Model};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::time::Instant;

fn main() -> Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let noise = Normal::new(0.0, 4.0)?;
    let y: Vec<f64> = (0..730)
        .map(|d| 500.0 + 0.2 * d as f64 + [0.0, 8.0, 6.0, 4.0, 12.0, 40.0, 30.0][d % 7] + noise.sample(&mut rng))
        .collect();
    println!("{:<16} {:>10}", "model", "ms (median of 20)");
    for model in [Model::SeasonalNaive, Model::Ets, Model::Mstl, Model::Auto] {
        let mut times: Vec<f64> = (0..20)
            .map(|_| {
                let started = Instant::now();
                let f = forecast(&y, 7, model, 30, 0.9).map(|f| f.point.len());
                assert_eq!(f.ok(), Some(30));
                1000.0 * started.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{:<16} {:>10.2}", model.name(), times[10]);
    }
    Ok(())
}
