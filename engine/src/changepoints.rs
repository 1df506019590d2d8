//! Structural breaks: where the level of a series moved for good.
//!
//! Bayesian online change-point detection (augurs' BOCPD with a Normal-Gamma prior) runs on the
//! series with its seasonal profile removed and scaled to unit robust spread (the prior assumes
//! unit scale, and a weekly pattern is not a break). Each change point then gets the means of
//! the raw values on either side and a probability: one minus the p-value of Welch's t-test
//! between the de-seasonalised segments before and after it.

use crate::error::{EngineError, Result};
use crate::frame::{ts_column, Column, GroupError, Grouped, Table};
use crate::stats::{median, robust_location_scale};
use augurs::changepoint::{Detector, NormalGammaDetector};

/// The verdict for one point.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePoint {
    /// Whether a new segment starts here.
    pub is_change_point: bool,
    /// For change points: 1 - p-value of the difference in means of the adjacent segments.
    pub probability: Option<f64>,
    /// Mean of the segment before (for other points: of the point's own segment).
    pub mean_before: f64,
    /// Mean of the segment from here on (for other points: of the point's own segment).
    pub mean_after: f64,
}

fn welch_confidence(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let stats = |x: &[f64]| {
        let m = x.iter().sum::<f64>() / x.len() as f64;
        let v = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64;
        (m, v / x.len() as f64)
    };
    let ((ma, va), (mb, vb)) = (stats(a), stats(b));
    let se = (va + vb).sqrt();
    if se == 0.0 {
        return Some(if ma == mb { 0.0 } else { 1.0 });
    }
    let t = (ma - mb).abs() / se;
    let df = (va + vb).powi(2) / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64);
    let p = 2.0 * (1.0 - distrs::StudentsT::cdf(t, df.max(1.0)));
    Some((1.0 - p).clamp(0.0, 1.0))
}

/// Points BOCPD scores directly. Its cost grows with the square of the length (20,000 points
/// took 24 s, 2,000 points 0.2 s), so longer series are scored as means of consecutive blocks.
pub const MAX_DIRECT: usize = 3_000;

/// How far from the series' robust centre a standardised point may lie (see [`breaks`]).
const STANDARDIZED_BOUND: f64 = 1e6;

/// Where new segments start in the de-seasonalised series `adjusted` (robust `location` and
/// `scale` > 0). Series longer than [`MAX_DIRECT`] are averaged over blocks first (rescaled to
/// unit robust spread again, since means are less noisy) and a break is placed at the start of
/// its block.
fn breaks(adjusted: &[f64], location: f64, scale: f64) -> Vec<usize> {
    let block = adjusted.len().div_ceil(MAX_DIRECT);
    let (points, location, scale) = if block == 1 {
        (adjusted.to_vec(), location, scale)
    } else {
        let means: Vec<f64> = adjusted.chunks(block).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect();
        match robust_location_scale(&means) {
            Some((l, s)) if s > 0.0 => (means, l, s),
            _ => return Vec::new(),
        }
    };
    // Bounded at a million robust units: a far outlier (1e308 among hundreds) would otherwise
    // overflow the Normal-Gamma posterior's sums of squares into NaN, which augurs panics on.
    // Any point that far out is a break either way.
    let standardized: Vec<f64> = points
        .iter()
        .map(|v| {
            let z = (v - location) / scale;
            if z.is_nan() {
                0.0
            } else {
                z.clamp(-STANDARDIZED_BOUND, STANDARDIZED_BOUND)
            }
        })
        .collect();
    // augurs reports the index before each change (and always 0).
    let mut starts: Vec<usize> = NormalGammaDetector::default()
        .detect_changepoints(&standardized)
        .into_iter()
        .filter(|&i| i > 0)
        .map(|i| (i + 1) * block)
        .filter(|&i| i < adjusted.len())
        .collect();
    starts.dedup();
    starts
}

/// Change points of a regular series (no gaps; fill them first) with seasonal `period`.
pub fn change_points(y: &[f64], period: usize) -> Result<Vec<ChangePoint>> {
    if y.is_empty() {
        return Err(EngineError::EmptyInput { what: "series" });
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(EngineError::InvalidParameter {
            name: "values",
            expected: "finite numbers (fill gaps first)".into(),
            got: "a non-finite value".into(),
        });
    }
    let period = period.max(1);
    // Seasonal profile: each phase's median offset from the overall median.
    let center = median(y).unwrap_or(0.0);
    let profile: Vec<f64> = (0..period)
        .map(|p| median(&y.iter().skip(p).step_by(period).copied().collect::<Vec<_>>()).unwrap_or(center) - center)
        .collect();
    let adjusted: Vec<f64> = y.iter().enumerate().map(|(i, v)| v - profile[i % period]).collect();
    let (location, scale) = robust_location_scale(&adjusted).unwrap_or((0.0, 0.0));
    let starts = if scale > 0.0 { breaks(&adjusted, location, scale) } else { Vec::new() };
    let mut bounds = vec![0];
    bounds.extend(&starts);
    bounds.push(y.len());
    let mean = |r: std::ops::Range<usize>| y[r.clone()].iter().sum::<f64>() / r.len().max(1) as f64;
    let mut out = Vec::with_capacity(y.len());
    for (k, window) in bounds.windows(2).enumerate() {
        let (start, end) = (window[0], window[1]);
        let own = mean(start..end);
        for i in start..end {
            let opens = i == start && k > 0;
            out.push(if opens {
                let before = bounds[k - 1]..start;
                ChangePoint {
                    is_change_point: true,
                    probability: welch_confidence(&adjusted[before.clone()], &adjusted[start..end]),
                    mean_before: mean(before),
                    mean_after: own,
                }
            } else {
                ChangePoint { is_change_point: false, probability: None, mean_before: own, mean_after: own }
            });
        }
    }
    Ok(out)
}

/// Change points of a raw series: placed on its sampling grid with gaps filled
/// ([`crate::series::regularize`]), period implied by the step unless given. Returns the grid
/// timestamps, the (filled) values and the verdicts.
pub fn change_points_series(
    ts: &[i64],
    values: &[Option<f64>],
    period: Option<usize>,
) -> Result<(Vec<i64>, Vec<f64>, Vec<ChangePoint>)> {
    let regular = crate::series::regularize(ts, values)?;
    let period = period.unwrap_or_else(|| crate::series::default_period(regular.step));
    let verdicts = change_points(&regular.values, period)?;
    Ok((regular.ts, regular.values, verdicts))
}

/// `change_points`' result: per group and step of the sampling grid, `ts`, the (filled)
/// value, whether a segment starts there, its probability and the means either side.
pub fn table(input: &Grouped, period: Option<usize>) -> std::result::Result<Table, GroupError> {
    let results = input.each(|g| change_points_series(&g.ts, &g.values, period))?;
    let counts: Vec<usize> = results.iter().map(|r| r.0.len()).collect();
    let mut columns = input.group_columns(&counts);
    let verdicts: Vec<&ChangePoint> = results.iter().flat_map(|r| r.2.iter()).collect();
    let mean = |f: fn(&ChangePoint) -> f64| Column::Double(verdicts.iter().map(|c| Some(f(c))).collect());
    columns.extend([
        ("ts".to_string(), ts_column(input.is_date, results.iter().flat_map(|r| r.0.iter().copied()).collect())),
        ("value".to_string(), Column::Double(results.iter().flat_map(|r| r.1.iter().map(|v| Some(*v))).collect())),
        ("is_change_point".to_string(), Column::Boolean(verdicts.iter().map(|c| Some(c.is_change_point)).collect())),
        ("probability".to_string(), Column::Double(verdicts.iter().map(|c| c.probability).collect())),
        ("mean_before".to_string(), mean(|c| c.mean_before)),
        ("mean_after".to_string(), mean(|c| c.mean_after)),
    ]);
    Ok(Table::new(columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize, level: impl Fn(usize) -> f64) -> Vec<f64> {
        (0..n).map(|i| level(i) + [0.0, 3.0, 5.0, 4.0, 8.0, 20.0, 15.0][i % 7] + ((i * 37) % 11) as f64 * 0.5).collect()
    }

    #[test]
    fn finds_a_level_shift_and_not_the_weekly_pattern() {
        let y = noisy(140, |i| if i < 80 { 100.0 } else { 160.0 });
        let out = change_points(&y, 7).unwrap();
        let found: Vec<usize> = out.iter().enumerate().filter(|(_, c)| c.is_change_point).map(|(i, _)| i).collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!((78..=82).contains(&found[0]), "{found:?}");
        let cp = &out[found[0]];
        assert!(cp.mean_after - cp.mean_before > 50.0);
        assert!(cp.probability.unwrap() > 0.99);
    }

    #[test]
    fn a_long_series_is_scored_in_blocks_and_still_finds_its_break() {
        let y = noisy(20_000, |i| if i < 12_000 { 100.0 } else { 130.0 });
        let out = change_points(&y, 7).unwrap();
        let found: Vec<usize> = out.iter().enumerate().filter(|(_, c)| c.is_change_point).map(|(i, _)| i).collect();
        assert!(found.iter().any(|&i| (11_990..=12_010).contains(&i)), "{found:?}");
    }

    #[test]
    fn a_steady_series_has_no_change_points() {
        let out = change_points(&noisy(140, |_| 100.0), 7).unwrap();
        assert!(out.iter().all(|c| !c.is_change_point && c.probability.is_none()));
        assert!(change_points(&[5.0; 10], 7).unwrap().iter().all(|c| !c.is_change_point));
        assert!(change_points(&[], 7).is_err());
    }

    #[test]
    fn a_far_outlier_is_a_break_not_a_panic() {
        let mut y: Vec<f64> = (0..60).map(|i| 100.0 + (i % 7) as f64 + (i * 37 % 11) as f64 * 0.3).collect();
        y[30] = 1e308;
        y[31] = -1e308;
        assert!(change_points(&y, 7).is_ok());
    }
}
