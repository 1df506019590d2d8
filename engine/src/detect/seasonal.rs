//! Robust seasonal baseline: the median of the same seasonal phase over the previous cycles,
//! plus the median of recent residuals (which absorbs trend); the spread is the MAD of those
//! residuals. Medians keep one bad day from poisoning the baseline of the days after it.

use super::{Series, Signal};
use crate::stats::{median_in_place, robust_location_scale_with};

/// Seasonal cycles the baseline median looks back over.
const CYCLES: usize = 6;
/// Lags used when there is no seasonality (period 1).
const NON_SEASONAL_LAGS: usize = 7;
/// Same-phase values needed before a baseline exists.
pub(super) const MIN_BASELINE_POINTS: usize = 2;

/// Per point: the signal (once warmed up) and the raw residual `value - same-phase median`.
pub(super) struct Output {
    pub signals: Vec<Option<Signal>>,
    pub residuals: Vec<Option<f64>>,
}

/// Points of residual history the spread needs before scoring starts.
pub(super) fn min_residuals(period: usize) -> usize {
    // A spread estimated from fewer points is too noisy: it raised false alarms in tests.
    (2 * period).max(14)
}

pub(super) fn run(series: &Series) -> Output {
    let (lag, lags) = if series.period > 1 { (series.period, CYCLES) } else { (1, NON_SEASONAL_LAGS) };
    let window = (2 * lag * lags).max(28);
    let needed = min_residuals(series.period);
    let n = series.len();
    let mut history: Vec<f64> = Vec::new();
    let mut out = Output { signals: Vec::with_capacity(n), residuals: Vec::with_capacity(n) };
    let (mut same_phase, mut scratch) = (Vec::with_capacity(lags), Vec::new());
    for i in 0..n {
        same_phase.clear();
        for k in 1..=lags {
            if let Some(v) = series.at_slot(i, series.slots[i] - (k * lag) as i64) {
                same_phase.push(v);
            }
        }
        let base = if same_phase.len() >= MIN_BASELINE_POINTS { median_in_place(&mut same_phase) } else { None };
        let recent = &history[history.len().saturating_sub(window)..];
        let signal = match base {
            Some(base) if recent.len() >= needed => robust_location_scale_with(recent, &mut scratch)
                .map(|(center, spread)| Signal::new(base + center, spread, series.values[i])),
            _ => None,
        };
        let residual = series.values[i].zip(base).map(|(v, b)| v - b);
        if let Some(r) = residual {
            history.push(r);
        }
        out.signals.push(signal);
        out.residuals.push(residual);
    }
    out
}
