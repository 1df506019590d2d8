//! Forecast band: a forecasting model (MSTL over the seasonal period, ETS without one),
//! refitted once per block of `period` slots on the slots before the block, forecasts the
//! block; a point's band is that forecast plus the median and spread of the walk-forward
//! errors of the points before it. Refitting per block instead of per point keeps the cost at
//! one fit per season (a 730-day series: ~105 small fits), and because blocks are fixed on the
//! sampling grid, a replay with `as_of` sees the same fits as the live run.

use super::{Series, Signal};
use crate::forecast::{forecast, Model, MAX_HORIZON};
use crate::stats::robust_location_scale_with;

/// Blocks are at least this many slots long (non-seasonal series refit weekly on daily data).
const MIN_BLOCK: usize = 7;
/// Seasons of history each fit sees (and at least `MIN_TRAIN` slots, at most `MAX_TRAIN`).
const TRAIN_CYCLES: usize = 12;
const MIN_TRAIN: usize = 28;
const MAX_TRAIN: usize = 4_000;
/// Walk-forward errors the band is estimated from, and how many it needs.
const ERRORS: usize = 56;
const MIN_ERRORS: usize = 14;
/// Relative spread below which forecast errors are rounding noise.
const ROUNDING: f64 = 1e-6;
/// Training values are clipped to this many spreads around their forecast. On the synthetic
/// benchmark (seeds 1-20, daily total F1): unclipped 0.708, 3 spreads 0.879, 2 spreads 0.903.
const CLIP: f64 = 2.0;

/// The training values for the block starting at `start`: the last slots before it, gaps
/// filled with the previous value (the models need a regular grid), `None` when too short.
/// `written[k]` is what point `k` left in its slot for training (`None`: nothing); a later
/// point in the same slot overwrites an earlier one. Built from the points rather than a
/// slot-indexed array so that memory follows the number of points, not the span of the grid.
fn training(period: usize, slots: &[i64], written: &[Option<Option<f64>>], start: i64) -> Option<Vec<f64>> {
    let wanted = (TRAIN_CYCLES * period).clamp(MIN_TRAIN, MAX_TRAIN) as i64;
    let from = (start - wanted).max(0);
    let mut k = slots.partition_point(|&s| s < from);
    let end = slots.partition_point(|&s| s < start);
    let cells: Vec<Option<f64>> = (from..start)
        .map(|slot| {
            let mut cell = None;
            while k < end && slots[k] == slot {
                if let Some(value) = written[k] {
                    cell = value;
                }
                k += 1;
            }
            cell
        })
        .collect();
    let mut last = cells.iter().flatten().next().copied()?;
    let y: Vec<f64> = cells
        .iter()
        .map(|v| {
            last = v.unwrap_or(last);
            last
        })
        .collect();
    (y.len() >= MIN_TRAIN).then_some(y)
}

pub(super) fn run(series: &Series) -> Vec<Option<Signal>> {
    let n = series.len();
    let mut out = vec![None; n];
    // Filled point by point: the model trains on the values seen so far, with the ones far
    // outside their band clipped to its edge so that an anomaly does not bend the next
    // block's forecast.
    let mut written: Vec<Option<Option<f64>>> = vec![None; n];
    let period = series.period;
    let block = period.clamp(MIN_BLOCK, MAX_HORIZON) as i64;
    let model = if period > 1 { Model::Mstl } else { Model::Ets };
    let mut fitted: Option<(i64, Option<Vec<f64>>)> = None;
    let (mut errors, mut scratch) = (Vec::new(), Vec::new());
    for (i, (&slot, &value)) in series.slots.iter().zip(&series.values).enumerate() {
        let start = slot - slot % block;
        if fitted.as_ref().is_none_or(|(s, _)| *s != start) {
            let point = training(period, &series.slots, &written, start)
                .and_then(|y| forecast(&y, period, model, block as usize, 0.9).ok())
                .map(|f| f.point);
            fitted = Some((start, point));
        }
        let Some(yhat) = fitted.as_ref().and_then(|(_, p)| p.as_ref()).map(|p| p[(slot - start) as usize]) else {
            written[i] = Some(value);
            continue;
        };
        let recent = &errors[errors.len().saturating_sub(ERRORS)..];
        let band = (recent.len() >= MIN_ERRORS).then(|| robust_location_scale_with(recent, &mut scratch)).flatten();
        // Model fits carry rounding noise: on a flat series the errors are all ~1e-12 and
        // would make that noise look like a deviation.
        let band = band.map(|(center, spread)| (center, spread.max(ROUNDING * yhat.abs())));
        out[i] = band.map(|(center, spread)| Signal::new(yhat + center, spread, value));
        if let Some(v) = value {
            errors.push(v - yhat);
            written[i] = Some(Some(match band {
                // `max`/`min`, not `clamp`, which panics on the NaN bounds that overflow yields.
                Some((center, spread)) => v.max(yhat + center - CLIP * spread).min(yhat + center + CLIP * spread),
                None => v,
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(n: usize) -> Series {
        let values = (0..n)
            .map(|d| Some(100.0 + [0.0, 5.0, 3.0, 2.0, 8.0, 30.0, 20.0][d % 7] + f64::from((d * 7 % 5) as u8)))
            .collect();
        Series { values, slots: (0..n as i64).collect(), period: 7, week: None }
    }

    #[test]
    fn a_spike_stands_out_of_the_band_and_normal_days_stay_inside() {
        let mut series = weekly(200);
        series.values[150] = Some(series.values[150].unwrap_or(0.0) + 60.0);
        let signals = run(&series);
        let z = |i: usize| signals[i].map_or(0.0, |s| s.z);
        assert!(z(150) > 5.0, "spike z {}", z(150));
        let calm = (60..150).filter(|&i| z(i).abs() > 3.5).count();
        assert_eq!(calm, 0, "normal days outside the band");
    }

    #[test]
    fn a_gap_of_many_seasons_costs_no_memory_and_the_series_resumes() {
        // One point 10 million days after the others: the old slot array asked for 80 MB.
        let mut series = weekly(200);
        series.slots.push(10_000_000);
        series.values.push(Some(100.0));
        let signals = run(&series);
        assert_eq!(signals.len(), 201);
        assert!(signals[200].is_none(), "nothing to train on before a point so far away");
    }

    #[test]
    fn a_point_is_scored_from_its_past_only() {
        let series = weekly(120);
        let full = run(&series);
        let cut = Series {
            values: series.values[..100].to_vec(),
            slots: series.slots[..100].to_vec(),
            period: 7,
            week: None,
        };
        assert_eq!(run(&cut)[..], full[..100]);
    }
}
