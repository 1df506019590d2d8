//! Generalised ESD (Rosner, 1983), walk-forward: each point is tested together with the
//! de-seasonalised residuals before it. The test removes the most extreme value up to
//! `max_outliers` times, comparing each studentised deviation `R_k` with its critical value
//! `lambda_k` (from Student's t); the point's z is `R / lambda` in units of the flagging
//! threshold, so it scores 50 exactly where the test (at `ALPHA`) calls it an outlier.
//! Hand-written: no crate offers a streaming ESD, and the test is a few lines over the t
//! quantile from `distrs`.

use super::Signal;

/// Residuals the test looks back over.
const WINDOW: usize = 56;
/// Share of the window that may be outliers.
const MAX_OUTLIER_SHARE: f64 = 0.1;
/// Significance level of the test.
const ALPHA: f64 = 0.05;
/// Residuals needed before testing.
const MIN_POINTS: usize = 15;

/// Rosner's critical value for the `k`-th removal (1-based) among `n` values.
fn critical(n: usize, k: usize) -> f64 {
    let remaining = (n - k + 1) as f64;
    let p = 1.0 - ALPHA / (2.0 * remaining);
    let df = remaining - 2.0;
    let t = distrs::StudentsT::ppf(p, df);
    (remaining - 1.0) * t / ((remaining * (df + t * t)).sqrt())
}

/// How far the last value of `window` is from the rest, as `R / lambda` at the step where
/// the test removes it (or against the cleaned rest if it never does); signed.
fn last_point_ratio(window: &[f64]) -> f64 {
    let n = window.len();
    let target = n - 1;
    let max_outliers = ((n as f64 * MAX_OUTLIER_SHARE).ceil() as usize).max(1);
    let mut kept: Vec<usize> = (0..n).collect();
    for k in 1..=max_outliers {
        let m = kept.len() as f64;
        let mean = kept.iter().map(|&i| window[i]).sum::<f64>() / m;
        let sd = (kept.iter().map(|&i| (window[i] - mean).powi(2)).sum::<f64>() / (m - 1.0)).sqrt();
        if sd.is_nan() || sd <= 0.0 {
            return 0.0;
        }
        let (position, &extreme) = kept
            .iter()
            .enumerate()
            .max_by(|a, b| (window[*a.1] - mean).abs().total_cmp(&(window[*b.1] - mean).abs()))
            .expect("kept is never empty here");
        let lambda = critical(n, k);
        if extreme == target || k == max_outliers {
            let r = (window[target] - mean) / sd;
            return r / lambda;
        }
        kept.remove(position);
    }
    0.0
}

/// `residuals[i]` is the seasonal residual of point `i`; `base[i]` the seasonal signal whose
/// expected value and spread the ESD signal reports. `threshold` is the z that scores 50.
pub(super) fn run(residuals: &[Option<f64>], base: &[Option<Signal>], threshold: f64) -> Vec<Option<Signal>> {
    let mut out = vec![None; residuals.len()];
    let mut history: Vec<f64> = Vec::new();
    let mut window = Vec::with_capacity(WINDOW + 1);
    for (i, residual) in residuals.iter().enumerate() {
        let Some(r) = *residual else { continue };
        if let Some(primary) = base[i].filter(|_| history.len() >= MIN_POINTS) {
            window.clear();
            window.extend_from_slice(&history[history.len().saturating_sub(WINDOW)..]);
            window.push(r);
            let z = threshold * last_point_ratio(&window);
            out[i] = Some(Signal { expected: primary.expected, spread: primary.spread, z });
        }
        history.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_values_match_rosners_table() {
        // Rosner (1983), n = 54, alpha 0.05: lambda_1 = 3.158.
        assert!((critical(54, 1) - 3.158).abs() < 0.01, "{}", critical(54, 1));
    }

    #[test]
    fn an_outlier_after_normal_points_passes_the_critical_value() {
        let mut window: Vec<f64> = (0..40).map(|i| f64::from(i % 5) - 2.0).collect();
        window.push(30.0);
        assert!(last_point_ratio(&window) > 1.0);
        window.pop();
        window.push(1.0);
        assert!(last_point_ratio(&window).abs() < 1.0);
        // Earlier outliers in the window are removed first and do not mask the new one.
        window.pop();
        window[3] = 40.0;
        window[17] = -35.0;
        window.push(25.0);
        assert!(last_point_ratio(&window) > 1.0);
    }
}
