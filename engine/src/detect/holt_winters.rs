//! Forecast band from an online additive Holt-Winters model (level, trend, seasonal phase).
//!
//! Hand-written rather than taken from augurs: scoring must be walk-forward and O(1) per
//! point, so the model is updated one observation at a time, which augurs' batch fit/predict
//! API does not offer. Residuals larger than a few spreads are clipped before updating the
//! state, so an anomaly does not drag the forecast of the points after it.

use super::{Series, Signal};
use crate::stats::robust_location_scale;

const ALPHA: f64 = 0.2;
const BETA: f64 = 0.01;
const GAMMA: f64 = 0.15;
/// Residuals beyond this many spreads update the state as if they were this large.
const CLIP: f64 = 3.0;
/// Smoothing of the running mean absolute residual.
const SPREAD_DECAY: f64 = 0.05;
/// Mean absolute deviation to standard deviation, for normal residuals.
const MEAN_ABS_TO_SD: f64 = 1.253_314_137_315_500_3;

pub(super) fn run(series: &Series) -> Vec<Option<Signal>> {
    let period = series.period.max(1);
    let n = series.len();
    let mut out = vec![None; n];
    // Initialise from the first two cycles of observed values.
    let observed: Vec<(usize, f64)> = (0..n).filter_map(|i| series.values[i].map(|v| (i, v))).collect();
    if observed.len() < 2 * period + 2 {
        return out;
    }
    let first: f64 = observed[..period].iter().map(|(_, v)| v).sum::<f64>() / period as f64;
    let second: f64 = observed[period..2 * period].iter().map(|(_, v)| v).sum::<f64>() / period as f64;
    let mut level = first;
    let mut trend = (second - first) / period as f64;
    let mut seasonal = vec![0.0; period];
    for &(i, v) in &observed[..period] {
        seasonal[series.phase(i)] = v - first;
    }
    let mut last_slot = series.slots[observed[0].0];
    level -= trend * (period as f64 - 1.0) / 2.0;
    // The spread starts as the robust spread of the first residuals, then follows a running
    // mean of absolute residuals; no signal until it exists.
    let needed = super::seasonal::min_residuals(period);
    let mut first_residuals = Vec::with_capacity(needed);
    let mut mean_abs: Option<f64> = None;
    for &(i, v) in &observed[1..] {
        let h = (series.slots[i] - last_slot).max(1) as f64;
        let phase = series.phase(i);
        let forecast = level + h * trend + seasonal[phase];
        let residual = v - forecast;
        if let Some(mad) = mean_abs {
            out[i] = Some(Signal::new(forecast, mad * MEAN_ABS_TO_SD, Some(v)));
        }
        let clip = mean_abs.map_or(f64::INFINITY, |m| CLIP * m * MEAN_ABS_TO_SD);
        // `min`/`max`, not `clamp`: with values near f64::MAX the spread overflows to NaN, and
        // `clamp` panics on a NaN bound where these leave the residual unclipped.
        let e = residual.max(-clip).min(clip);
        let new_level = level + h * trend + ALPHA * e;
        trend += BETA * ALPHA * e;
        seasonal[phase] += GAMMA * (1.0 - ALPHA) * e;
        level = new_level;
        last_slot = series.slots[i];
        match mean_abs.as_mut() {
            Some(m) => *m += SPREAD_DECAY * (residual.abs().min(clip) - *m),
            None if i > 2 * period => {
                first_residuals.push(residual);
                if first_residuals.len() == needed {
                    mean_abs = robust_location_scale(&first_residuals).map(|(_, sd)| sd / MEAN_ABS_TO_SD);
                }
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A weekly pattern on a rising trend, with a small deterministic wobble.
    fn trending(n: usize) -> Vec<Option<f64>> {
        (0..n)
            .map(|i| {
                Some(100.0 + 0.5 * i as f64 + [0.0, 4.0, 2.0, -3.0, 6.0, 15.0, 12.0][i % 7] + [0.3, -0.2, 0.1][i % 3])
            })
            .collect()
    }

    #[test]
    fn follows_trend_and_season_and_scores_a_spike_without_being_dragged_by_it() {
        let mut values = trending(200);
        values[150] = Some(values[150].unwrap() + 40.0);
        let signals = run(&Series::regular(values.clone(), 7));
        assert!(signals[..14].iter().all(Option::is_none), "no signal before two cycles");
        let z = |i: usize| signals[i].unwrap().z;
        assert!((100..150).all(|i| z(i).abs() < 3.0), "the trend and the season are learnt");
        assert!(z(150) > 10.0, "the spike stands out: z {}", z(150));
        // Clipping keeps the state: the points after the spike are forecast as before it.
        assert!((151..160).all(|i| z(i).abs() < 3.0), "z after the spike {:?}", (151..160).map(z).collect::<Vec<_>>());
    }

    #[test]
    fn a_series_shorter_than_two_cycles_gets_no_signal() {
        assert!(run(&Series::regular(trending(15), 7)).iter().all(Option::is_none));
    }
}
