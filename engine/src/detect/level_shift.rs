//! Level shifts: the median of the last few de-seasonalised residuals against the median and
//! spread of the residuals before them. Fires when a run of points moved together, which a
//! point detector scores weakly once its baseline starts to follow the new level.

use super::Signal;
use crate::stats::{median_in_place, robust_location_scale_with};

/// Residuals in the "recent" run (including the current point).
const RUN: usize = 3;
/// Residuals in the reference window before the run.
const REFERENCE: usize = 28;

/// `residuals[i]` is the seasonal residual of point `i`; `base[i]` the seasonal expected
/// value it was measured against.
pub(super) fn run(residuals: &[Option<f64>], base: &[Option<Signal>], warm_up: usize) -> Vec<Option<Signal>> {
    let mut out = vec![None; residuals.len()];
    let observed: Vec<(usize, f64)> = residuals.iter().enumerate().filter_map(|(i, r)| r.map(|r| (i, r))).collect();
    let (mut run, mut scratch) = (Vec::with_capacity(RUN), Vec::new());
    for k in (RUN + 14)..observed.len() {
        let (i, _) = observed[k];
        let Some(primary) = base[i].filter(|_| i >= warm_up) else { continue };
        let reference: Vec<f64> =
            observed[k.saturating_sub(RUN - 1 + REFERENCE)..k + 1 - RUN].iter().map(|p| p.1).collect();
        let Some((center, spread)) = robust_location_scale_with(&reference, &mut scratch) else { continue };
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
