//! `cargo run --release -p kpiscope-bench --bin m4 -- [M4_DIR] [--model NAME]`
//!
//! Forecasting accuracy on M4 Hourly (414 series, h = 48, season 24) and Weekly (359 series,
//! h = 13) from `../shared/data/m4`, with M4's definitions: sMAPE = 200/h sum |y - yhat| /
//! (|y| + |yhat|); MASE scaled by the in-sample mean absolute seasonal difference (m = 24
//! hourly, 1 weekly); OWA = (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2) / 2 with Naive2's
//! official scores. Also the 90% interval's coverage and the time per series. Series run in
//! parallel on all cores; the time per series is the total wall time over the count.

use anyhow::{Context, Result};
use kpiscope_engine::forecast::{forecast, Model};
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

fn read_wide(path: &Path) -> Result<Vec<Vec<f64>>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record?;
        let values: Vec<f64> = record
            .iter()
            .skip(1)
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<_, _>>()?;
        out.push(values);
    }
    Ok(out)
}

/// Official Naive2 (sMAPE, MASE) for a frequency column suffix such as "Hourly".
fn naive2(dir: &Path, frequency: &str) -> Result<(f64, f64)> {
    let mut reader = csv::Reader::from_path(dir.join("M4_official_point_forecast_scores_by_frequency.csv"))?;
    let headers = reader.headers()?.clone();
    let col = |name: String| headers.iter().position(|h| h == name).with_context(|| format!("no column {name}"));
    let (s, m) = (col(format!("sMAPE_{frequency}"))?, col(format!("MASE_{frequency}"))?);
    for record in reader.records() {
        let record = record?;
        if &record[0] == "Naive2" {
            return Ok((record[s].parse()?, record[m].parse()?));
        }
    }
    anyhow::bail!("Naive2 not in the official scores")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().filter(|a| !a.starts_with("--")).map_or("../shared/data/m4", String::as_str);
    let model = match args.iter().position(|a| a == "--model") {
        Some(i) => Model::parse(args.get(i + 1).context("--model needs a name")?)?,
        None => Model::Auto,
    };
    let dir = Path::new(dir);
    println!("M4, model {}", model.name());
    println!(
        "{:<8} {:>6} {:>8} {:>8} {:>8} {:>10} {:>12}",
        "set", "series", "sMAPE", "MASE", "OWA", "coverage", "ms/series"
    );
    // Models see weekly data with a yearly season of 52 weeks; MASE scales by M4's m = 1.
    for (frequency, horizon, season, period) in [("Hourly", 48, 24, 24), ("Weekly", 13, 1, 52)] {
        let train = read_wide(&dir.join(format!("{frequency}-train.csv")))?;
        let test = read_wide(&dir.join(format!("{frequency}-test.csv")))?;
        let started = Instant::now();
        let scores: Vec<(f64, f64, f64)> = train
            .par_iter()
            .zip(test.par_iter())
            .map(|(y, actual)| -> Result<(f64, f64, f64)> {
                let f = forecast(y, period, model, horizon, 0.9)?;
                let smape = 200.0 / horizon as f64
                    * actual.iter().zip(&f.point).map(|(a, p)| (a - p).abs() / (a.abs() + p.abs())).sum::<f64>();
                let scale =
                    y.windows(season + 1).map(|w| (w[season] - w[0]).abs()).sum::<f64>() / (y.len() - season) as f64;
                let mase =
                    actual.iter().zip(&f.point).map(|(a, p)| (a - p).abs()).sum::<f64>() / horizon as f64 / scale;
                let inside = (0..horizon).filter(|&i| f.lower[i] <= actual[i] && actual[i] <= f.upper[i]).count();
                Ok((smape, mase, inside as f64 / horizon as f64))
            })
            .collect::<Result<_>>()?;
        let seconds = started.elapsed().as_secs_f64();
        let n = scores.len() as f64;
        let mean = |k: usize| scores.iter().map(|s| [s.0, s.1, s.2][k]).sum::<f64>() / n;
        let (naive_smape, naive_mase) = naive2(dir, frequency)?;
        let owa = (mean(0) / naive_smape + mean(1) / naive_mase) / 2.0;
        println!(
            "{frequency:<8} {:>6} {:>8.3} {:>8.3} {owa:>8.3} {:>10.3} {:>12.1}",
            scores.len(),
            mean(0),
            mean(1),
            mean(2),
            1000.0 * seconds / n
        );
    }
    Ok(())
}
