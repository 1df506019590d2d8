//! A generated, labelled detection corpus of many regimes, none of them the demo's.
//!
//! Each regime is a cadence (5 minutes, hourly, daily) with a kind of noise and a kind of
//! anomaly. A seed gives one clean series (no anomaly: its alerts are false by definition)
//! and one labelled series (three anomalies, each a window of points) per regime. Seeds 1-50
//! are the train half, which choices may look at; seeds 101-150 are the test half, reported
//! only. Seeds 201-250 are a fresh draw, added once a diagnostic had looked at the test half
//! (see `tails::Quiet::lone_extremes` in the engine): reported beside the test half, so there
//! is always a set no choice has seen. Fifty seeds a half, not ten: with 30 events per regime,
//! the best method of one ten-seed draw was often not the best of the next (5-minute Gaussian
//! spikes: `auto` 0.597 against `holt_winters`' 0.889 on seeds 1-10, 0.015 behind the ensemble
//! on seeds 21-80).
//! Scoring is per event, on the alerts a user receives (`incident_start`): an anomaly is found
//! when an alert falls in its window; any other alert is false, except within one window
//! length after an anomaly (the detector re-alarming as it settles on a new level is the same
//! incident to a person).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson, StudentT};

const MINUTE: i64 = 60_000_000;

/// How values scatter around the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    /// Gaussian, 2-8% of the level.
    Gaussian,
    /// Student t with 3 degrees of freedom: rare large deviations that are normal.
    HeavyTails,
    /// Poisson counts of a low rate (3-30 per step).
    Counts,
}

/// What is injected into the labelled series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anomaly {
    /// One point 6-10 noise units up or down (counts: the rate times 2.5-4 or down to 0).
    Spike,
    /// The level moves by 6-10 noise units and stays.
    LevelShift,
    /// The level ramps away over 60 points, up to 10 noise units, then stays.
    Drift,
    /// The noise grows fivefold for 40 points.
    Volatility,
}

/// One regime of the corpus.
#[derive(Debug, Clone, Copy)]
pub struct Regime {
    /// Short name, such as `hourly/heavy_tails/spike`.
    pub name: &'static str,
    /// Sampling step in minutes.
    pub step_minutes: i64,
    /// Points per series.
    pub len: usize,
    /// Noise kind.
    pub noise: Noise,
    /// Anomaly kind of the labelled series.
    pub anomaly: Anomaly,
    /// Whether the level trends (+-40% over the series) and the season's amplitude doubles
    /// halfway: normal changes a detector must follow.
    pub changing: bool,
}

const DAILY: i64 = 1440;

/// Every regime.
pub const REGIMES: [Regime; 14] = [
    Regime {
        name: "daily/gaussian/spike",
        step_minutes: DAILY,
        len: 730,
        noise: Noise::Gaussian,
        anomaly: Anomaly::Spike,
        changing: false,
    },
    Regime {
        name: "daily/heavy_tails/spike",
        step_minutes: DAILY,
        len: 730,
        noise: Noise::HeavyTails,
        anomaly: Anomaly::Spike,
        changing: false,
    },
    Regime {
        name: "daily/counts/spike",
        step_minutes: DAILY,
        len: 730,
        noise: Noise::Counts,
        anomaly: Anomaly::Spike,
        changing: false,
    },
    Regime {
        name: "daily/changing/spike",
        step_minutes: DAILY,
        len: 730,
        noise: Noise::Gaussian,
        anomaly: Anomaly::Spike,
        changing: true,
    },
    Regime {
        name: "daily/gaussian/level_shift",
        step_minutes: DAILY,
        len: 730,
        noise: Noise::Gaussian,
        anomaly: Anomaly::LevelShift,
        changing: false,
    },
    Regime {
        name: "hourly/gaussian/spike",
        step_minutes: 60,
        len: 1440,
        noise: Noise::Gaussian,
        anomaly: Anomaly::Spike,
        changing: false,
    },
    Regime {
        name: "hourly/heavy_tails/spike",
        step_minutes: 60,
        len: 1440,
        noise: Noise::HeavyTails,
        anomaly: Anomaly::Spike,
        changing: false,
    },
    Regime {
        name: "hourly/counts/spike",
        step_minutes: 60,
        len: 1440,
        noise: Noise::Counts,
        anomaly: Anomaly::Spike,
        changing: false,
    },
    Regime {
        name: "hourly/gaussian/level_shift",
        step_minutes: 60,
        len: 1440,
        noise: Noise::Gaussian,
        anomaly: Anomaly::LevelShift,
        changing: false,
    },
    Regime {
        name: "hourly/changing/drift",
        step_minutes: 60,
        len: 1440,
        noise: Noise::Gaussian,
        anomaly: Anomaly::Drift,
        changing: true,
    },
    Regime {
        name: "5min/gaussian/spike",
        step_minutes: 5,
        len: 4032,
        noise: Noise::Gaussian,
        anomaly: Anomaly::Spike,
        changing: false,
    },
    Regime {
        name: "5min/heavy_tails/level_shift",
        step_minutes: 5,
        len: 4032,
        noise: Noise::HeavyTails,
        anomaly: Anomaly::LevelShift,
        changing: false,
    },
    Regime {
        name: "5min/counts/spike",
        step_minutes: 5,
        len: 4032,
        noise: Noise::Counts,
        anomaly: Anomaly::Spike,
        changing: false,
    },
    Regime {
        name: "5min/gaussian/volatility",
        step_minutes: 5,
        len: 4032,
        noise: Noise::Gaussian,
        anomaly: Anomaly::Volatility,
        changing: false,
    },
];

/// Seeds of the half choices may look at.
pub const TRAIN: std::ops::RangeInclusive<u64> = 1..=50;
/// Seeds of the half that is only reported.
pub const TEST: std::ops::RangeInclusive<u64> = 101..=150;
/// Seeds of the fresh draw, only reported.
pub const FRESH: std::ops::RangeInclusive<u64> = 201..=250;

/// One generated series.
#[derive(Debug, Clone)]
pub struct Case {
    /// Timestamps in microseconds.
    pub ts: Vec<i64>,
    /// Values.
    pub values: Vec<f64>,
    /// Anomaly windows, `[start, end)` point ranges; empty for a clean series.
    pub windows: Vec<(usize, usize)>,
}

impl Regime {
    /// The clean and the labelled series of `seed`.
    pub fn cases(&self, seed: u64) -> [Case; 2] {
        let salt = self.name.bytes().fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
        [self.case(seed ^ salt, false), self.case(seed ^ salt ^ 0x9e37_79b9, true)]
    }

    fn case(&self, seed: u64, labelled: bool) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let per_day = (DAILY / self.step_minutes) as usize;
        let level: f64 = match self.noise {
            Noise::Counts => rng.random_range(3.0..30.0),
            _ => rng.random_range(50.0..5000.0),
        };
        let scatter = rng.random_range(0.02..0.08);
        let amplitude = rng.random_range(0.1..0.4);
        let trend = if self.changing { rng.random_range(-0.4..0.4) } else { 0.0 };
        let pattern = |i: usize| -> f64 {
            // Sub-daily data: a daily cycle; daily data: a weekday profile.
            let season = if per_day > 1 {
                (std::f64::consts::TAU * (i % per_day) as f64 / per_day as f64).sin()
            } else {
                [0.3, 0.2, 0.1, 0.1, 0.0, -0.8, -0.9][i % 7]
            };
            let grown = if self.changing && i >= self.len / 2 { 2.0 } else { 1.0 };
            level * (1.0 + trend * i as f64 / self.len as f64) * (1.0 + amplitude * grown * season).max(0.05)
        };
        let mut windows = Vec::new();
        if labelled {
            // Three anomalies in the last 70% of the series, at least a fifth of it apart.
            let span = self.len * 7 / 10 / 3;
            for k in 0..3 {
                let start = self.len * 3 / 10 + k * span + rng.random_range(0..span / 2);
                let width = match self.anomaly {
                    Anomaly::Spike => 1,
                    Anomaly::LevelShift => 10,
                    Anomaly::Drift => 60,
                    Anomaly::Volatility => 40,
                };
                windows.push((start, (start + width).min(self.len)));
            }
        }
        let mut shift = 0.0;
        let mut values = Vec::with_capacity(self.len);
        let unit = |base: f64| match self.noise {
            Noise::Counts => base.max(1.0).sqrt(),
            _ => scatter * base,
        };
        for i in 0..self.len {
            let base = pattern(i);
            let (mut spread, mut spike) = (1.0, 0.0);
            for &(start, end) in &windows {
                let sign = if (start / 7) % 2 == 0 { 1.0 } else { -1.0 };
                let size = 6.0 + 4.0 * ((start * 37) % 100) as f64 / 100.0;
                match self.anomaly {
                    Anomaly::Spike if i == start => spike = sign * size,
                    Anomaly::LevelShift if i == start => shift += sign * size,
                    Anomaly::Drift if (start..end).contains(&i) => shift += sign * size / (end - start) as f64,
                    Anomaly::Volatility if (start..end).contains(&i) => spread = 5.0,
                    _ => {}
                }
            }
            let mean = base + (shift + spike) * unit(base);
            let value = match self.noise {
                Noise::Gaussian => {
                    mean + spread * unit(base) * Normal::new(0.0, 1.0).map_or(0.0, |n| n.sample(&mut rng))
                }
                Noise::HeavyTails => {
                    mean + spread * 0.6 * unit(base) * StudentT::new(3.0).map_or(0.0, |t| t.sample(&mut rng))
                }
                Noise::Counts => {
                    let rate = (mean
                        + (spread - 1.0) * unit(base) * Normal::new(0.0, 1.0).map_or(0.0, |n| n.sample(&mut rng)))
                    .max(0.0);
                    if rate > 0.0 {
                        Poisson::new(rate).map_or(0.0, |p| p.sample(&mut rng))
                    } else {
                        0.0
                    }
                }
            };
            values.push(value);
        }
        let start = 1_700_000_000 * 1_000_000 / (DAILY * MINUTE) * (DAILY * MINUTE);
        let ts = (0..self.len as i64).map(|i| start + i * self.step_minutes * MINUTE).collect();
        Case { ts, values, windows }
    }
}

/// Event counts over some cases.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EventScores {
    /// Anomalies with an alert in their window.
    pub found: u64,
    /// Anomalies without one.
    pub missed: u64,
    /// Alerts outside every window (and its settling time) of the labelled series.
    pub false_alerts: u64,
    /// Alerts on the clean series.
    pub clean_alerts: u64,
    /// Points of the clean series.
    pub clean_points: u64,
}

impl std::ops::AddAssign for EventScores {
    fn add_assign(&mut self, other: Self) {
        self.found += other.found;
        self.missed += other.missed;
        self.false_alerts += other.false_alerts;
        self.clean_alerts += other.clean_alerts;
        self.clean_points += other.clean_points;
    }
}

impl std::iter::Sum for EventScores {
    fn sum<I: Iterator<Item = Self>>(scores: I) -> Self {
        scores.fold(Self::default(), |mut total, s| {
            total += s;
            total
        })
    }
}

impl EventScores {
    /// Adds one case's alerts (point indexes, in order).
    pub fn add(&mut self, case: &Case, alerts: &[usize]) {
        if case.windows.is_empty() {
            self.clean_alerts += alerts.len() as u64;
            self.clean_points += case.values.len() as u64;
            return;
        }
        for &(start, end) in &case.windows {
            if alerts.iter().any(|&a| (start..end).contains(&a)) {
                self.found += 1;
            } else {
                self.missed += 1;
            }
        }
        let settling =
            |a: usize| case.windows.iter().any(|&(start, end)| a >= start && a < end + (end - start).max(10));
        self.false_alerts += alerts.iter().filter(|&&a| !settling(a)).count() as u64;
    }

    /// Event F1 on the labelled series: found against missed and false alerts.
    pub fn f1(&self) -> f64 {
        let denominator = 2 * self.found + self.missed + self.false_alerts;
        if denominator == 0 {
            0.0
        } else {
            2.0 * self.found as f64 / denominator as f64
        }
    }

    /// Alerts per 1,000 points of the clean series.
    pub fn clean_rate(&self) -> f64 {
        if self.clean_points == 0 {
            0.0
        } else {
            1000.0 * self.clean_alerts as f64 / self.clean_points as f64
        }
    }
}

/// A 90% interval for `F1(a) - F1(b)` over cases scored by both (each a seed's clean and
/// labelled series): a paired bootstrap that redraws the cases with replacement (`draws`
/// times, from a fixed seed so the figure repeats). It tells a real gap from a draw of the
/// seeds.
pub fn gap_interval(a: &[EventScores], b: &[EventScores], draws: usize) -> (f64, f64) {
    let n = a.len().min(b.len());
    if n == 0 || draws == 0 {
        return (0.0, 0.0);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut gaps: Vec<f64> = (0..draws)
        .map(|_| {
            let (mut x, mut y) = (EventScores::default(), EventScores::default());
            for _ in 0..n {
                let k = rng.random_range(0..n);
                x += a[k];
                y += b[k];
            }
            x.f1() - y.f1()
        })
        .collect();
    gaps.sort_by(f64::total_cmp);
    let at = |q: f64| gaps[((draws - 1) as f64 * q).round() as usize];
    (at(0.05), at(0.95))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_clean_and_one_labelled_series_and_the_same_series_again() {
        for regime in &REGIMES {
            let [clean, labelled] = regime.cases(3);
            assert!(clean.windows.is_empty() && labelled.windows.len() == 3, "{}", regime.name);
            assert_eq!(clean.values.len(), regime.len);
            assert!(labelled.values.iter().all(|v| v.is_finite()));
            assert_eq!(regime.cases(3)[1].values, labelled.values);
            assert_ne!(regime.cases(4)[1].values, labelled.values);
        }
    }

    /// The alert-rate contract, regime by regime on the clean series of the test half: the
    /// default raises at most 1 alert per 1,000 points on every light-tailed or count noise
    /// that does not change (measured 0.1-0.6) and on all of them together (0.8), and never
    /// more than the plain ensemble. Heavy-tailed series and daily series whose weekly swing
    /// doubles are where it is still above 1 (see the README's benchmark table): there the
    /// corpus' anomalies lie within the noise's own 1-in-1,000 range.
    #[test]
    fn the_default_raises_few_alerts_on_series_without_anomalies() {
        use kpiscope_engine::detect::{detect, DetectConfig, Method};
        let rate = |regime: &Regime, method| {
            let mut scores = EventScores::default();
            for seed in TEST {
                let [clean, _] = regime.cases(seed);
                let values: Vec<Option<f64>> = clean.values.iter().map(|v| Some(*v)).collect();
                let config = DetectConfig { method, ..DetectConfig::default() };
                let verdicts = detect(&clean.ts, &values, &config).unwrap();
                let alerts: Vec<usize> = (0..verdicts.len()).filter(|&i| verdicts[i].incident_start).collect();
                scores.add(&clean, &alerts);
            }
            scores
        };
        let (mut auto_all, mut ensemble_all) = (EventScores::default(), EventScores::default());
        for regime in &REGIMES {
            let (auto, ensemble) = (rate(regime, Method::Auto), rate(regime, Method::Ensemble));
            let steady = regime.noise != Noise::HeavyTails && !regime.changing;
            assert!(!steady || auto.clean_rate() <= 1.0, "{}: {:.2} per 1,000 points", regime.name, auto.clean_rate());
            assert!(
                auto.clean_alerts <= ensemble.clean_alerts,
                "{}: auto {}, ensemble {} alerts",
                regime.name,
                auto.clean_alerts,
                ensemble.clean_alerts
            );
            auto_all += auto;
            ensemble_all += ensemble;
        }
        let (auto, ensemble) = (auto_all.clean_rate(), ensemble_all.clean_rate());
        assert!(auto <= 1.0 && auto < ensemble, "auto {auto:.2}, ensemble {ensemble:.2} per 1,000 points");
    }

    #[test]
    fn the_gap_interval_is_zero_for_equal_scores_and_above_zero_for_a_detector_better_on_every_case() {
        let case = |found, missed, false_alerts| EventScores { found, missed, false_alerts, ..EventScores::default() };
        let mixed: Vec<EventScores> = (0..10).map(|k| case(k % 4, 3 - k % 4, k % 3)).collect();
        assert_eq!(gap_interval(&mixed, &mixed, 500), (0.0, 0.0));
        let better: Vec<EventScores> = mixed.iter().map(|s| case(3, 0, s.false_alerts)).collect();
        let (low, high) = gap_interval(&better, &mixed, 500);
        assert!(0.0 < low && low <= high, "{low} {high}");
        assert_eq!(gap_interval(&[], &mixed, 500), (0.0, 0.0));
    }

    #[test]
    fn events_count_found_missed_and_false_alerts() {
        let case = Case { ts: vec![0; 100], values: vec![0.0; 100], windows: vec![(10, 11), (50, 60)] };
        let mut scores = EventScores::default();
        // 10 finds the first; 15 settles after it; 55 finds the second; 90 is false.
        scores.add(&case, &[10, 15, 55, 90]);
        assert_eq!((scores.found, scores.missed, scores.false_alerts), (2, 0, 1));
        scores.add(&Case { windows: vec![], ..case.clone() }, &[3]);
        assert_eq!((scores.clean_alerts, scores.clean_points), (1, 100));
        assert!((scores.clean_rate() - 10.0).abs() < 1e-12);
    }
}
