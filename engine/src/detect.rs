//! Walk-forward anomaly detection over one regularly sampled series.
//!
//! Every point is scored only from the points before it, so a replay at any past moment
//! gives exactly what was known then. The first detector is a robust seasonal baseline:
//! the expected value is the median of the same seasonal phase over the previous cycles
//! plus the median recent residual (which absorbs trend), and the band is a multiple of the
//! robust spread (MAD) of recent residuals. Medians keep one bad day from poisoning the
//! baseline of the days after it.

use crate::error::{EngineError, Result};
use crate::stats::{median_in_place, robust_location_scale};
use crate::MICROS_PER_DAY;

/// Score at which a point becomes an anomaly; see [`score_from_z`].
pub const ANOMALY_SCORE: f64 = 50.0;
/// Score at which an anomaly becomes `major`.
pub const MAJOR_SCORE: f64 = 70.0;
/// Score at which an anomaly becomes `critical`.
pub const CRITICAL_SCORE: f64 = 90.0;
/// Upper bound for a seasonal period, in samples.
pub const MAX_PERIOD: usize = 1_000;

/// Seasonal cycles the baseline median looks back over.
const BASELINE_CYCLES: usize = 4;
/// Lags used when there is no seasonality (period 1).
const NON_SEASONAL_LAGS: usize = 7;
/// Same-phase values needed before a baseline exists.
const MIN_BASELINE_POINTS: usize = 2;

/// Which detector scores the points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Robust seasonal baseline: same-phase median plus residual median, MAD band.
    SeasonalMad,
}

impl Method {
    /// Every method name the SQL layer accepts.
    pub const NAMES: &'static [&'static str] = &["seasonal_mad"];

    /// Parses a method name as written in SQL.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "seasonal_mad" => Ok(Self::SeasonalMad),
            _ => Err(EngineError::InvalidParameter {
                name: "method",
                expected: format!("one of {}", Self::NAMES.join(", ")),
                got: format!("'{name}'"),
            }),
        }
    }
}

/// How readily points are flagged: the robust z-score that maps to [`ANOMALY_SCORE`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sensitivity {
    threshold: f64,
}

impl Sensitivity {
    /// Every sensitivity name the SQL layer accepts, with its z threshold.
    pub const LEVELS: &'static [(&'static str, f64)] = &[("low", 4.5), ("medium", 3.5), ("high", 2.8)];

    /// Parses `low`, `medium` or `high`.
    pub fn parse(name: &str) -> Result<Self> {
        let wanted = name.trim().to_ascii_lowercase();
        Self::LEVELS.iter().find(|(level, _)| *level == wanted).map(|&(_, threshold)| Self { threshold }).ok_or_else(
            || EngineError::InvalidParameter {
                name: "sensitivity",
                expected: "one of low, medium, high".into(),
                got: format!("'{name}'"),
            },
        )
    }

    /// The robust z-score at which a point is flagged.
    pub fn threshold(self) -> f64 {
        self.threshold
    }
}

impl Default for Sensitivity {
    fn default() -> Self {
        Self { threshold: 3.5 }
    }
}

/// Severity levels, from the 0-100 score by the documented cut-offs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Score below 50: not an anomaly.
    None,
    /// Score 50 to 70.
    Minor,
    /// Score 70 to 90.
    Major,
    /// Score 90 and above.
    Critical,
}

impl Severity {
    /// Level for a score.
    pub fn from_score(score: f64) -> Self {
        if score >= CRITICAL_SCORE {
            Self::Critical
        } else if score >= MAJOR_SCORE {
            Self::Major
        } else if score >= ANOMALY_SCORE {
            Self::Minor
        } else {
            Self::None
        }
    }

    /// Lower-case name used in SQL output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }
}

/// Detection settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DetectConfig {
    /// Detector; `None` means the default.
    pub method: Option<Method>,
    /// Flagging threshold.
    pub sensitivity: Sensitivity,
    /// Seasonal period in samples; `None` infers it from the sampling step
    /// (7 for daily data, 24 for hourly, none otherwise).
    pub period: Option<usize>,
}

/// The verdict for one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Expected value from the past; `None` while warming up.
    pub expected: Option<f64>,
    /// Lower edge of the normal band.
    pub lower: Option<f64>,
    /// Upper edge of the normal band.
    pub upper: Option<f64>,
    /// 0-100 anomaly score; `None` while warming up or when the value is missing.
    pub score: Option<f64>,
    /// Whether the point is flagged (score at or above [`ANOMALY_SCORE`]).
    pub is_anomaly: bool,
    /// Level derived from the score.
    pub severity: Severity,
    /// One sentence saying why.
    pub explanation: String,
}

/// Maps a robust z-score to 0-100 so that `|z| == threshold` scores exactly 50, twice the
/// threshold scores about 94, and the score never saturates below infinity.
pub fn score_from_z(z: f64, threshold: f64) -> f64 {
    let ratio = z.abs() / threshold;
    100.0 * (1.0 - 0.5_f64.powf(ratio * ratio))
}

/// The sampling step: the most common gap between consecutive timestamps.
fn sampling_step(ts: &[i64]) -> i64 {
    let mut gaps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    let mut best = (MICROS_PER_DAY, 0usize);
    for run in gaps.chunk_by(|a, b| a == b) {
        if run.len() > best.1 {
            best = (run[0], run.len());
        }
    }
    best.0
}

/// Seasonal period implied by the sampling step when none is given.
fn default_period(step: i64) -> usize {
    const HOUR: i64 = MICROS_PER_DAY / 24;
    match step {
        MICROS_PER_DAY => 7,
        HOUR => 24,
        _ => 1,
    }
}

/// Scores every point of a series; `values[i]` is `None` (or non-finite) where missing.
///
/// Timestamps are microseconds and must be strictly increasing; gaps are allowed (seasonal
/// phase follows the clock, not the row number).
pub fn detect(ts: &[i64], values: &[Option<f64>], config: &DetectConfig) -> Result<Vec<Detection>> {
    if ts.len() != values.len() {
        return Err(EngineError::LengthMismatch { what: "timestamps and values", left: ts.len(), right: values.len() });
    }
    if let Some(position) = ts.windows(2).position(|w| w[1] <= w[0]) {
        return Err(EngineError::UnsortedTimestamps { position: position + 1 });
    }
    let step = sampling_step(ts);
    let period = match config.period {
        Some(p) if p == 0 || p > MAX_PERIOD => {
            return Err(EngineError::InvalidParameter {
                name: "period",
                expected: format!("between 1 and {MAX_PERIOD}"),
                got: p.to_string(),
            })
        }
        Some(p) => p,
        None => default_period(step),
    };
    let (lag, lags) = if period > 1 { (period, BASELINE_CYCLES) } else { (1, NON_SEASONAL_LAGS) };
    let residual_window = (2 * lag * lags).max(28);
    // A spread estimated from fewer points is too noisy: it raised false alarms in tests.
    let min_residuals = (2 * lag).max(14);
    let threshold = config.sensitivity.threshold();

    // Slot numbers place each point on the sampling grid, so lags survive gaps.
    let origin = ts.first().copied().unwrap_or(0);
    let slots: Vec<i64> = ts.iter().map(|t| ((t - origin) as f64 / step as f64).round() as i64).collect();
    let finite = |i: usize| values[i].filter(|v| v.is_finite());

    let mut residuals: Vec<f64> = Vec::new();
    let mut out = Vec::with_capacity(ts.len());
    let mut same_phase = Vec::with_capacity(lags);
    for i in 0..ts.len() {
        same_phase.clear();
        for k in 1..=lags {
            let target = slots[i] - (k * lag) as i64;
            if let Ok(j) = slots[..i].binary_search(&target) {
                if let Some(v) = finite(j) {
                    same_phase.push(v);
                }
            }
        }
        let baseline = if same_phase.len() >= MIN_BASELINE_POINTS { median_in_place(&mut same_phase) } else { None };
        let recent = &residuals[residuals.len().saturating_sub(residual_window)..];
        let value = finite(i);
        let detection = match (baseline, recent.len() >= min_residuals) {
            (Some(base), true) => {
                let (center, spread) = robust_location_scale(recent).unwrap_or((0.0, 0.0));
                let expected = base + center;
                let scale = spread.max(1e-9 * expected.abs().max(1.0));
                score_point(value, expected, scale, threshold)
            }
            _ => Detection {
                expected: baseline,
                lower: None,
                upper: None,
                score: None,
                is_anomaly: false,
                severity: Severity::None,
                explanation: format!(
                    "warming up: scoring starts after {MIN_BASELINE_POINTS} seasonal cycles \
                     (period {period}) and {min_residuals} more points"
                ),
            },
        };
        if let (Some(v), Some(base)) = (value, baseline) {
            residuals.push(v - base);
        }
        out.push(detection);
    }
    Ok(out)
}

fn score_point(value: Option<f64>, expected: f64, scale: f64, threshold: f64) -> Detection {
    let lower = expected - threshold * scale;
    let upper = expected + threshold * scale;
    let Some(value) = value else {
        return Detection {
            expected: Some(expected),
            lower: Some(lower),
            upper: Some(upper),
            score: None,
            is_anomaly: false,
            severity: Severity::None,
            explanation: "missing value (NULL or not finite): not scored".into(),
        };
    };
    let z = (value - expected) / scale;
    let score = score_from_z(z, threshold);
    let severity = Severity::from_score(score);
    let is_anomaly = severity != Severity::None;
    let explanation = if is_anomaly {
        let relative = if expected != 0.0 {
            format!("{:+.1}% vs expected", 100.0 * (value - expected) / expected.abs())
        } else {
            format!("{:+.4} vs expected", value - expected)
        };
        format!(
            "{} {:.2} (normal band {:.2} to {:.2}); robust z {:+.1}; seasonal_mad",
            relative, expected, lower, upper, z
        )
    } else {
        format!("within normal band {lower:.2} to {upper:.2}")
    };
    Detection {
        expected: Some(expected),
        lower: Some(lower),
        upper: Some(upper),
        score: Some(score),
        is_anomaly,
        severity,
        explanation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daily(n: usize) -> Vec<i64> {
        (0..n as i64).map(|d| d * MICROS_PER_DAY).collect()
    }

    /// A weekly pattern plus seeded Gaussian noise (sd 1).
    fn weekly_series(n: usize) -> Vec<Option<f64>> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        (0..n)
            .map(|i| {
                let noise: f64 = StandardNormal.sample(&mut rng);
                Some(100.0 + [0.0, 5.0, 3.0, -2.0, 8.0, 20.0, 18.0][i % 7] + noise)
            })
            .collect()
    }

    #[test]
    fn flags_a_spike_and_only_the_spike() {
        let mut values = weekly_series(120);
        values[90] = Some(200.0);
        let out = detect(&daily(120), &values, &DetectConfig::default()).unwrap();
        let flagged: Vec<usize> = out.iter().enumerate().filter(|(_, d)| d.is_anomaly).map(|(i, _)| i).collect();
        assert_eq!(flagged, vec![90]);
        assert_eq!(out[90].severity, Severity::Critical);
        assert!(out[90].explanation.contains("vs expected"));
    }

    #[test]
    fn scoring_uses_only_the_past() {
        let values = weekly_series(100);
        let full = detect(&daily(100), &values, &DetectConfig::default()).unwrap();
        for cut in [30, 57, 99] {
            let prefix = detect(&daily(cut + 1), &values[..=cut], &DetectConfig::default()).unwrap();
            assert_eq!(prefix[cut], full[cut], "point {cut} depends on the future");
        }
    }

    #[test]
    fn warm_up_points_are_unscored_not_flagged() {
        let out = detect(&daily(10), &weekly_series(10), &DetectConfig::default()).unwrap();
        assert!(out.iter().all(|d| d.score.is_none() && !d.is_anomaly));
        assert!(out[0].explanation.starts_with("warming up"));
    }

    #[test]
    fn missing_values_are_reported_not_scored() {
        let mut values = weekly_series(60);
        values[50] = None;
        values[51] = Some(f64::NAN);
        let out = detect(&daily(60), &values, &DetectConfig::default()).unwrap();
        assert!(out[50].score.is_none() && out[51].score.is_none());
        assert!(out[51].explanation.starts_with("missing value"));
        assert!(out[52].score.is_some());
    }

    #[test]
    fn gaps_keep_the_weekly_phase() {
        let ts: Vec<i64> = daily(120).into_iter().enumerate().filter(|(i, _)| i % 11 != 3).map(|(_, t)| t).collect();
        let all = weekly_series(120);
        let values: Vec<Option<f64>> = (0..120).filter(|i| i % 11 != 3).map(|i| all[i]).collect();
        let out = detect(&ts, &values, &DetectConfig::default()).unwrap();
        assert!(out.iter().all(|d| !d.is_anomaly), "a regular series with gaps raised alarms");
    }

    #[test]
    fn rejects_unsorted_and_bad_period() {
        let err = detect(&[2, 1], &[Some(1.0), Some(2.0)], &DetectConfig::default()).unwrap_err();
        assert_eq!(err, EngineError::UnsortedTimestamps { position: 1 });
        let config = DetectConfig { period: Some(0), ..DetectConfig::default() };
        assert!(matches!(
            detect(&daily(3), &[Some(1.0); 3], &config),
            Err(EngineError::InvalidParameter { name: "period", .. })
        ));
    }

    #[test]
    fn severity_cut_offs_cover_every_level() {
        let t = Sensitivity::default().threshold();
        let levels: Vec<Severity> =
            [0.5, 1.1, 1.5, 2.5].iter().map(|m| Severity::from_score(score_from_z(m * t, t))).collect();
        assert_eq!(levels, vec![Severity::None, Severity::Minor, Severity::Major, Severity::Critical]);
        assert!((score_from_z(t, t) - ANOMALY_SCORE).abs() < 1e-9);
    }

    #[test]
    fn parses_names_and_lists_choices_in_errors() {
        assert_eq!(Method::parse("Seasonal_MAD").unwrap(), Method::SeasonalMad);
        let err = Method::parse("magic").unwrap_err().to_string();
        assert!(err.contains("seasonal_mad") && err.contains("'magic'"), "{err}");
        assert!(Sensitivity::parse("extreme").is_err());
    }
}
