//! Seasonality detection: which periods a series repeats itself over.
//!
//! The autocorrelation of the series minus its linear trend is computed for every lag up to a
//! third of the series;
//! the strongest local peak above [`MIN_STRENGTH`] is a season, and so is its strongest divisor
//! above it; when both exist, the longer one counts only when it is clearly stronger (hourly
//! data with a weekly pattern on top of the daily one: 168 and 24), otherwise it is a multiple
//! of the shorter one (14 for a weekly pattern).
//!
//! Hand-written instead of augurs' periodogram (`augurs-seasons`): its Welch estimate works on
//! power-of-two segments, so short series get coarse periods. On a 180-day series with a
//! weekly pattern it reported 16 (4 after differencing) where the autocorrelation gives 7.
//! The first differences were tried too: they amplify noise over smooth seasons.

use crate::error::Result;
use crate::frame::{Column, GroupError, Grouped, Table};
use crate::series::{default_period, regularize, MAX_PERIOD};
use crate::MICROS_PER_DAY;

/// Smallest autocorrelation that counts as a season.
pub const MIN_STRENGTH: f64 = 0.2;
/// How much stronger a multiple of a season must be to count as a season of its own.
const MULTIPLE_MARGIN: f64 = 0.1;
/// The most recent points analysed (keeps the cost at this many times the largest lag).
const MAX_POINTS: usize = 20_000;

/// One detected season.
#[derive(Debug, Clone, PartialEq)]
pub struct Season {
    /// Length in samples of the sampling grid.
    pub period: usize,
    /// Autocorrelation of the differenced series at that lag, in (0, 1].
    pub strength: f64,
}

/// The seasons of one series, strongest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Seasonality {
    /// Sampling step in microseconds.
    pub step: i64,
    /// The period the detectors use when none is given (from the cadence alone).
    pub default_period: usize,
    /// Detected seasons, strongest first; empty when the series has none.
    pub seasons: Vec<Season>,
}

fn autocorrelation(x: &[f64], max_lag: usize) -> Vec<f64> {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    let centred: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let variance: f64 = centred.iter().map(|v| v * v).sum();
    if variance <= 0.0 {
        return vec![0.0; max_lag + 1];
    }
    (0..=max_lag).map(|lag| centred.iter().zip(&centred[lag..]).map(|(a, b)| a * b).sum::<f64>() / variance).collect()
}

/// `values` minus their least-squares line.
fn detrend(values: &[f64]) -> Vec<f64> {
    let n = values.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        let dx = i as f64 - mean_x;
        sxy += dx * (v - mean_y);
        sxx += dx * dx;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    values.iter().enumerate().map(|(i, v)| v - mean_y - slope * (i as f64 - mean_x)).collect()
}

/// Values clipped to their median +- 4 robust standard deviations. The autocorrelation is a
/// sum of squares: one spike of twice the daily revenue (the demo's Web channel on 2024-05-13)
/// carried half the variance and hid the weekly season.
fn clip_outliers(mut values: Vec<f64>) -> Vec<f64> {
    if let Some((center, spread)) = crate::stats::robust_location_scale(&values) {
        if spread > 0.0 {
            for v in &mut values {
                // `max`/`min`, not `clamp`: near f64::MAX the bounds overflow to NaN, where
                // `clamp` panics and these leave the value as it is.
                *v = v.max(center - 4.0 * spread).min(center + 4.0 * spread);
            }
        }
    }
    values
}

/// Seasons of evenly spaced `values`, strongest first.
pub fn seasons(values: &[f64]) -> Vec<Season> {
    let values = &values[values.len().saturating_sub(MAX_POINTS)..];
    let detrended = clip_outliers(detrend(values));
    let max_lag = (detrended.len() / 3).min(MAX_PERIOD);
    if max_lag < 3 {
        return Vec::new();
    }
    let acf = autocorrelation(&detrended, max_lag + 1);
    let season = |lag: usize| Season { period: lag, strength: acf[lag] };
    // A season needs the series to decorrelate and then correlate again: high at the lag, and
    // clearly lower somewhere between half the lag and the lag (smooth series are highly
    // correlated at every short lag).
    let repeats = |lag: usize| {
        let dip = acf[lag / 2..lag].iter().copied().fold(f64::INFINITY, f64::min);
        acf[lag] >= MIN_STRENGTH && acf[lag] - dip >= MIN_STRENGTH
    };
    let peak = (2..=max_lag)
        .filter(|&lag| repeats(lag) && acf[lag] >= acf[lag - 1] && acf[lag] >= acf[lag + 1])
        .max_by(|&a, &b| acf[a].total_cmp(&acf[b]).then(b.cmp(&a)));
    let Some(peak) = peak else { return Vec::new() };
    // The strongest peak may be a multiple of the real season (14 for a weekly pattern) or a
    // longer season over a shorter one (168 over 24 for hourly data): look at its divisors.
    let divisor =
        (2..peak).filter(|&d| peak % d == 0 && repeats(d)).max_by(|&a, &b| acf[a].total_cmp(&acf[b]).then(b.cmp(&a)));
    match divisor {
        None => vec![season(peak)],
        Some(d) if acf[peak] >= acf[d] + MULTIPLE_MARGIN => vec![season(peak), season(d)],
        Some(d) => vec![season(d)],
    }
}

/// Seasons of a raw series (timestamps in microseconds, gaps and missing values allowed).
pub fn seasonality(ts: &[i64], values: &[Option<f64>]) -> Result<Seasonality> {
    let regular = regularize(ts, values)?;
    Ok(Seasonality {
        step: regular.step,
        default_period: default_period(regular.step),
        seasons: seasons(&regular.values),
    })
}

/// `detect_seasonality`'s result: per group its seasons, strongest first (period, in days,
/// strength, rank) and the period the other functions default to; a series without a season
/// still gets one row (period NULL), so every group is answered.
pub fn table(input: &Grouped) -> std::result::Result<Table, GroupError> {
    /// One output row: the season (period, period in days, strength, rank), if any.
    struct Row {
        season: Option<(i64, f64, f64, i32)>,
        default_period: i64,
    }
    let results = input.each(|g| seasonality(&g.ts, &g.values))?;
    let rows: Vec<Vec<Row>> = results
        .iter()
        .map(|r| {
            let default_period = r.default_period as i64;
            if r.seasons.is_empty() {
                return vec![Row { season: None, default_period }];
            }
            let days = |p: usize| p as f64 * r.step as f64 / MICROS_PER_DAY as f64;
            r.seasons
                .iter()
                .enumerate()
                .map(|(k, s)| Row {
                    season: Some((s.period as i64, days(s.period), s.strength, k as i32 + 1)),
                    default_period,
                })
                .collect()
        })
        .collect();
    let counts: Vec<usize> = rows.iter().map(Vec::len).collect();
    let mut columns = input.group_columns(&counts);
    let flat: Vec<Row> = rows.into_iter().flatten().collect();
    columns.extend([
        ("period".to_string(), Column::BigInt(flat.iter().map(|r| r.season.map(|s| s.0)).collect())),
        ("period_days".to_string(), Column::Double(flat.iter().map(|r| r.season.map(|s| s.1)).collect())),
        ("strength".to_string(), Column::Double(flat.iter().map(|r| r.season.map(|s| s.2)).collect())),
        ("rank".to_string(), Column::Integer(flat.iter().map(|r| r.season.map(|s| s.3)).collect())),
        ("default_period".to_string(), Column::BigInt(flat.iter().map(|r| Some(r.default_period)).collect())),
    ]);
    Ok(Table::new(columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn noise(n: usize, sd: f64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let normal = Normal::new(0.0, sd).expect("a valid sd");
        (0..n).map(|_| normal.sample(&mut rng)).collect()
    }

    #[test]
    fn a_weekly_pattern_on_a_trend_is_found_as_seven() {
        let e = noise(180, 4.0);
        let y: Vec<f64> =
            (0..180).map(|d| 100.0 + 0.5 * d as f64 + [0.0, 5.0, 3.0, 2.0, 8.0, 30.0, 20.0][d % 7] + e[d]).collect();
        let found = seasons(&y);
        assert_eq!(found.first().map(|s| s.period), Some(7), "{found:?}");
        assert!(found.iter().all(|s| s.period % 7 != 0 || s.period == 7), "multiples reported: {found:?}");
    }

    #[test]
    fn hourly_data_with_a_weekly_rhythm_has_both_seasons() {
        let e = noise(24 * 7 * 8, 4.0);
        let y: Vec<f64> = (0..24 * 7 * 8)
            .map(|h| {
                let daily = 20.0 * (std::f64::consts::TAU * (h % 24) as f64 / 24.0).sin();
                let weekend = if (h / 24) % 7 >= 5 { -40.0 } else { 0.0 };
                100.0 + daily + weekend + e[h]
            })
            .collect();
        let periods: Vec<usize> = seasons(&y).iter().map(|s| s.period).collect();
        assert!(periods.contains(&24) && periods.contains(&168), "{periods:?}");
    }

    #[test]
    fn one_spike_does_not_hide_the_weekly_season() {
        let mut values: Vec<f64> = (0..180)
            .map(|d| 100.0 + [0.0, 5.0, 3.0, -2.0, 8.0, 20.0, 18.0][d % 7] + ((d * 37) % 11) as f64 * 0.3)
            .collect();
        values[133] *= 3.0;
        let found = seasons(&values);
        assert_eq!(found.first().map(|s| s.period), Some(7), "{found:?}");
    }

    #[test]
    fn noise_short_and_constant_series_have_no_season() {
        let y = noise(300, 1.0);
        assert!(seasons(&y).is_empty(), "{:?}", seasons(&y));
        assert!(seasons(&[1.0, 2.0, 3.0]).is_empty());
        assert!(seasons(&[5.0; 100]).is_empty());
    }

    #[test]
    fn gaps_are_filled_and_the_cadence_default_is_reported() {
        let day = crate::MICROS_PER_DAY;
        let ts: Vec<i64> = (0..120).filter(|d| d % 17 != 5).map(|d| d * day).collect();
        let values: Vec<Option<f64>> =
            ts.iter().map(|t| Some([0.0, 5.0, 3.0, 2.0, 8.0, 30.0, 20.0][(t / day) as usize % 7])).collect();
        let s = seasonality(&ts, &values).expect("a valid series");
        assert_eq!((s.step, s.default_period), (day, 7));
        assert_eq!(s.seasons.first().map(|s| s.period), Some(7));
    }

    #[test]
    fn clipping_huge_or_infinite_values_does_not_panic() {
        let huge: Vec<f64> = (0..40).map(|i| if i % 2 == 0 { f64::MAX } else { -f64::MAX }).collect();
        assert_eq!(clip_outliers(huge).len(), 40);
        let infinite: Vec<f64> = (0..40).map(|i| if i < 25 { f64::INFINITY } else { i as f64 }).collect();
        assert_eq!(clip_outliers(infinite).len(), 40);
    }
}
