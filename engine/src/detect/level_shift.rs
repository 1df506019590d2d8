//! Level shifts: the median of the last few de-seasonalised residuals against the median and
//! spread of the residuals before them. Fires when a run of points moved together, which a
//! point detector scores weakly once its baseline starts to follow the new level.

use super::Signal;
use crate::stats::{median_in_place, SlidingWindow};

/// Residuals in the "recent" run (including the current point).
const RUN: usize = 3;
/// Residuals in the reference window before the run.
const REFERENCE: usize = 28;

/// `residuals[i]` is the seasonal residual of point `i`; `base[i]` the seasonal expected
/// value it was measured against.
pub(super) fn run(residuals: &[Option<f64>], base: &[Option<Signal>]) -> Vec<Option<Signal>> {
    let mut out = vec![None; residuals.len()];
    let observed: Vec<(usize, f64)> = residuals.iter().enumerate().filter_map(|(i, r)| r.map(|r| (i, r))).collect();
    let mut run = Vec::with_capacity(RUN);
    // The REFERENCE residuals before the run of point k: observed[..k + 1 - RUN], the last ones.
    let mut reference = SlidingWindow::new(REFERENCE);
    for k in 0..observed.len() {
        if k >= RUN {
            reference.push(observed[k - RUN].1);
        }
        if k < RUN + 14 {
            continue;
        }
        let (i, _) = observed[k];
        let Some(primary) = base[i] else { continue };
        let Some((center, spread)) = reference.location_scale() else { continue };
        run.clear();
        run.extend(observed[k + 1 - RUN..=k].iter().map(|p| p.1));
        let Some(shift) = median_in_place(&mut run) else { continue };
        // The median of RUN normal residuals spreads about 1.2 / sqrt(RUN) as wide as one.
        let run_spread = spread * 1.2 / (RUN as f64).sqrt();
        let z = (shift - center) / run_spread.max(f64::MIN_POSITIVE);
        out[i] = Some(Signal { expected: primary.expected, spread: primary.spread, z });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(residuals: &[f64]) -> Vec<f64> {
        let residuals: Vec<Option<f64>> = residuals.iter().map(|r| Some(*r)).collect();
        let base = vec![Some(Signal { expected: 0.0, spread: 1.0, z: 0.0 }); residuals.len()];
        run(&residuals, &base).iter().map(|s| s.map_or(0.0, |s| s.z)).collect()
    }

    /// Residuals of a deterministic +-1 wobble.
    fn wobble(n: usize) -> Vec<f64> {
        (0..n).map(|i| [0.8, -0.5, 0.2, -0.9, 0.4, -0.1, 0.6][i % 7]).collect()
    }

    #[test]
    fn a_run_that_moved_together_scores_and_a_single_spike_does_not() {
        let mut shifted = wobble(60);
        shifted[50..].iter_mut().for_each(|r| *r += 8.0);
        let z = scores(&shifted);
        assert!(z[49].abs() < 2.0 && z[50].abs() < 2.0, "one shifted point is not a run yet");
        assert!(z[52] > 5.0, "three shifted points are: z {}", z[52]);
        let mut spiked = wobble(60);
        spiked[50] += 8.0;
        assert!(scores(&spiked)[50..53].iter().all(|z| z.abs() < 2.0), "the median of the run ignores one spike");
    }

    #[test]
    fn nothing_is_scored_without_the_base_detectors_signal() {
        let residuals: Vec<Option<f64>> = wobble(60).into_iter().map(Some).collect();
        assert!(run(&residuals, &vec![None; 60]).iter().all(Option::is_none));
    }
}
