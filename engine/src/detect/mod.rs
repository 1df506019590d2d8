//! Walk-forward anomaly detection over one regularly sampled series.
//!
//! Every point is scored only from the points before it, so a replay at any past moment
//! gives exactly what was known then. Three detectors each turn a point into a robust
//! z-score (deviation in units of their own walk-forward residual spread):
//!
//! - `seasonal_mad`: same-phase median + median residual, MAD band ([`seasonal`]);
//! - `holt_winters`: online additive Holt-Winters forecast band ([`holt_winters`]);
//! - `level_shift`: the median of the last 3 residuals against the ones before
//!   ([`level_shift`]).
//!
//! Three more can be chosen alone: generalised ESD on the seasonal residuals ([`esd`]), a band
//! around a forecast refitted once per season ([`forecast_band`]) and an isolation
//! forest ([`isolation_forest`]); the last two refit models and are ~100x slower, so they stay
//! out of the ensemble.
//!
//! `ensemble` (the default) takes the seasonal z-score, capped at twice the strongest of the
//! other two: a point is flagged only when a second detector confirms the deviation at half
//! strength, which removes single-detector false alarms while a real spike, drop or shift
//! moves at least two of them (see [`combine`]). The z-score maps to a 0-100 score;
//! noise controls (minimum deltas, direction, cold start) then decide `is_anomaly`, and
//! consecutive anomalies are merged into incidents.

mod config;
mod esd;
mod forecast_band;
mod grid;
mod holt_winters;
mod isolation_forest;
mod judge;
mod level_shift;
mod seasonal;
mod streaming;
mod tails;

use crate::error::{EngineError, Result};
use crate::frame::{ts_column, Column, GroupError, Grouped, Table};
use crate::series::{self, default_period, Grid, MAX_PERIOD};
use crate::MICROS_PER_DAY;
use streaming::Scale;

pub use config::*;
use grid::{place_on_grid, Series, Signal};
use judge::{combine, judge, warming_up};
use seasonal::Follow;

/// Numbers the incidents of a run of flags: a flagged point within `cooldown` points after the
/// previous flagged point joins its incident. Returns, per point, the 1-based incident and
/// whether the point opens it.
pub fn incidents(flags: impl IntoIterator<Item = bool>, cooldown: usize) -> Vec<Option<(u32, bool)>> {
    let mut last_flag: Option<usize> = None;
    let mut count = 0u32;
    flags
        .into_iter()
        .enumerate()
        .map(|(i, flagged)| {
            if !flagged {
                return None;
            }
            let opens = last_flag.is_none_or(|last| i - last > cooldown + 1);
            last_flag = Some(i);
            if opens {
                count += 1;
            }
            Some((count, opens))
        })
        .collect()
}

/// Scores every point of a series; `values[i]` is `None` (or non-finite) where missing.
///
/// Timestamps are microseconds and must be strictly increasing; gaps are allowed (seasonal
/// phase follows the clock, not the row number).
pub fn detect(ts: &[i64], values: &[Option<f64>], config: &DetectConfig) -> Result<Vec<Detection>> {
    let (method, cooldown) = config.resolve(ts);
    let mut out = score(ts, values, config, method, cooldown, config.method == Method::Auto)?;
    if !config.events.is_empty() {
        for (detection, t) in out.iter_mut().zip(ts) {
            apply_events(detection, t.div_euclid(crate::MICROS_PER_DAY) as i32, config);
        }
    }
    let numbered = incidents(out.iter().map(|d| d.is_anomaly).collect::<Vec<_>>(), cooldown);
    for (detection, incident) in out.iter_mut().zip(numbered) {
        if let Some((id, opens)) = incident {
            detection.incident_id = Some(id);
            detection.incident_start = opens;
        }
    }
    Ok(out)
}

/// The detectors' z-scores at one point, the primary's first.
type Fired = Vec<(Method, f64)>;

/// Every point's verdict from one (resolved) method, before events and incidents. For `auto`,
/// the ensemble's threshold scales with the series' tails ([`tails`]), sub-daily series are
/// scored by `streaming` or, while they are quiet, by that calibrated ensemble
/// ([`tails::Quiet`]), and each explanation ends with the method that spoke.
fn score(
    ts: &[i64],
    values: &[Option<f64>],
    config: &DetectConfig,
    method: Method,
    cooldown: usize,
    auto: bool,
) -> Result<Vec<Detection>> {
    let streams = method == Method::Streaming;
    let scale = if streams { Scale::for_values(values) } else { Scale::Identity };
    let series = place_on_grid(ts, values, config, scale)?;
    let threshold = config.sensitivity.threshold();
    // `auto` on daily data: the ensemble's seasonal baseline follows a weekday that changed.
    let follow = if auto && !streams { Follow::Phases(threshold) } else { Follow::Nothing };
    let seasonal = seasonal::run(&series, follow);
    // `streaming` reports nothing before its scale is settled, so a replay shows the same
    // expected values and bands as the live run from the first point on.
    let warm_up = if streams { config.noise.min_history.max(Scale::PROBE) } else { config.noise.min_history };
    let detectors: Vec<(Method, Vec<Option<Signal>>)> = match method {
        Method::SeasonalMad => vec![(Method::SeasonalMad, seasonal.signals)],
        Method::HoltWinters => vec![(Method::HoltWinters, holt_winters::run(&series))],
        Method::LevelShift => {
            vec![(Method::LevelShift, level_shift::run(&seasonal.residuals, &seasonal.signals))]
        }
        Method::Esd => vec![(Method::Esd, esd::run(&seasonal.residuals, &seasonal.signals, threshold))],
        Method::ForecastBand => vec![(Method::ForecastBand, forecast_band::run(&series))],
        Method::IsolationForest => {
            let phases: Vec<f64> = (0..series.len()).map(|i| series.phase(i) as f64 / series.period as f64).collect();
            let forest = isolation_forest::run(&seasonal.residuals, &phases, &seasonal.signals, series.period);
            vec![(Method::IsolationForest, forest)]
        }
        Method::Auto | Method::Ensemble | Method::Streaming => {
            let shift = level_shift::run(&seasonal.residuals, &seasonal.signals);
            let hw = holt_winters::run(&series);
            vec![(Method::SeasonalMad, seasonal.signals), (Method::HoltWinters, hw), (Method::LevelShift, shift)]
        }
    };
    // `auto` on sub-daily data: the calibrated ensemble's own seasonal baseline, which follows a
    // step, the level shifts on its residuals, and its steps (see [`seasonal`]). The
    // streaming likelihood keeps the plain baseline it was tuned with.
    let levelled = (auto && streams).then(|| {
        let levelled = seasonal::run(&series, Follow::Steps(threshold * seasonal::STEP_SHARE));
        let shift = level_shift::run(&levelled.residuals, &levelled.signals);
        (levelled.signals, shift, levelled.steps)
    });
    let mut steps = levelled.iter().flat_map(|(_, _, steps)| steps).peekable();
    let mut streaming = streams.then(|| streaming::Scorer::new(cooldown));
    let mut tails = auto.then(|| if streams { tails::Tails::default() } else { tails::Tails::learning_flagged() });
    let mut quiet = (auto && streams).then(tails::Quiet::default);
    let mut out: Vec<Detection> = Vec::with_capacity(series.len());
    for i in 0..series.len() {
        let outside = match (&mut streaming, series.values[i]) {
            (Some(scorer), Some(v)) => scorer.observe(v),
            _ => false,
        };
        let primary = detectors[0].1[i];
        // The calibration learns from the ensemble's own verdicts (noise controls,
        // `min_history` and events leave it alone, so they only ever remove flags).
        let factor = tails.as_ref().map_or(1.0, tails::Tails::factor);
        // The detectors' z-scores at this point and their combination, for the calibration and
        // the verdict alike.
        let fired: Fired = match primary {
            Some(_) => detectors.iter().filter_map(|(m, s)| s[i].map(|s| (*m, s.z))).collect(),
            None => Vec::new(),
        };
        let z = combine(&fired);
        // What the calibrated ensemble sees: on sub-daily data, the re-levelled baseline.
        let calibrated: Option<(Option<Signal>, Fired)> = levelled.as_ref().map(|(seasonal, shift, _)| {
            let fired = match seasonal[i] {
                Some(own) => [
                    (Method::SeasonalMad, Some(own)),
                    (Method::HoltWinters, detectors[1].1[i]),
                    (Method::LevelShift, shift[i]),
                ]
                .into_iter()
                .filter_map(|(m, s)| s.map(|s| (m, s.z)))
                .collect(),
                None => Vec::new(),
            };
            (seasonal[i], fired)
        });
        let ensemble_z = calibrated.as_ref().map_or(z, |(_, fired)| combine(fired));
        if let (Some(tails), Some(_)) = (&mut tails, primary) {
            // Not from a step the baseline took: its run (learnt from before it was known to
            // be one) and the season in which its form settles.
            while steps.next_if(|step| step.settled <= i).is_some() {}
            let step = steps.peek().filter(|step| step.taken <= i);
            if step.is_none() {
                tails.observe(i, ensemble_z, threshold * factor);
            }
            if let Some(step) = step.filter(|step| step.taken == i) {
                tails.forget(step.run_start);
            }
        }
        let detection = match primary.filter(|_| i >= warm_up) {
            None => warming_up(&series, config),
            Some(primary) => {
                let plain_threshold = threshold;
                let threshold = threshold * factor;
                let (score, spoke) = match (&mut streaming, series.values[i]) {
                    (Some(scorer), Some(_)) => {
                        let streamed = scorer.score(z, outside);
                        // `auto`: the calibrated ensemble's score, where it speaks, or where the
                        // tails are heavy but come alone and the point clears a steeper bar.
                        let ensemble = quiet.as_mut().zip(tails.as_ref()).and_then(|(quiet, tails)| {
                            let calibrated = score_from_z(ensemble_z, threshold);
                            if quiet.speaks(tails, calibrated >= ANOMALY_SCORE) {
                                return Some(calibrated);
                            }
                            let lone = score_from_z(ensemble_z, plain_threshold * quiet.lone_extremes(tails)?);
                            let alerts = lone >= ANOMALY_SCORE;
                            if alerts {
                                quiet.alerted_alone();
                            }
                            alerts.then_some(lone)
                        });
                        ensemble.map_or((streamed, Method::Streaming), |score| (score, Method::Ensemble))
                    }
                    _ => (score_from_z(ensemble_z, threshold), method),
                };
                let value = values[i].filter(|v| v.is_finite());
                // The band and the detectors named are those of whoever spoke.
                let (primary, fired) = match (&calibrated, spoke) {
                    (Some((Some(own), fired)), Method::Ensemble) => (*own, fired.as_slice()),
                    _ => (primary, fired.as_slice()),
                };
                let mut detection = judge(value, primary, scale, fired, score, threshold, config);
                if !config.skip_explanations {
                    if outside && detection.is_anomaly && spoke == Method::Streaming {
                        detection.explanation.push_str("; beyond the range of every earlier value");
                    }
                    if auto {
                        detection.explanation.push_str(&format!(" (auto: {})", spoke.name()));
                    }
                }
                detection
            }
        };
        out.push(detection);
        if let (Some(quiet), Some(_)) = (&mut quiet, primary) {
            quiet.observe(ensemble_z);
        }
    }
    Ok(out)
}

/// Marks a point with the events of its day: named in the explanation, and unflagged by a
/// suppressing event (its score stays, so the unusual value remains visible).
fn apply_events(detection: &mut Detection, day: i32, config: &DetectConfig) {
    let today: Vec<&Event> = config.events.iter().filter(|e| e.day == day).collect();
    if today.is_empty() {
        return;
    }
    let suppressed = detection.is_anomaly && today.iter().any(|e| e.suppress);
    if !config.skip_explanations {
        let names = today.iter().map(|e| format!("'{}'", e.name)).collect::<Vec<_>>().join(", ");
        detection.explanation = if suppressed {
            format!("suppressed by event {names} (would be {}): {}", detection.severity.as_str(), detection.explanation)
        } else {
            let stop = if detection.explanation.ends_with('.') { "" } else { "." };
            format!("{}{stop} Event: {names}.", detection.explanation)
        };
    }
    if suppressed {
        detection.is_anomaly = false;
        detection.severity = Severity::None;
    }
}

/// One series for [`detect_many`]: timestamps and values as for [`detect`].
pub type SeriesRef<'a> = (&'a [i64], &'a [Option<f64>]);

/// Scores many independent series (the groups of a `group_by`) in parallel on all cores.
pub fn detect_many(series: &[SeriesRef<'_>], config: &DetectConfig) -> Vec<Result<Vec<Detection>>> {
    use rayon::prelude::*;
    series.par_iter().map(|(ts, values)| detect(ts, values, config)).collect()
}

/// `detect_anomalies`' result: per group and time step, the group columns, `ts`, `value` and
/// the verdict's columns (see [`Detection`]), for every front.
pub fn table(input: &Grouped, config: &DetectConfig) -> std::result::Result<Table, GroupError> {
    let verdicts = input.each(|g| detect(&g.ts, &g.values, config))?;
    let counts: Vec<usize> = verdicts.iter().map(Vec::len).collect();
    let mut columns = input.group_columns(&counts);
    let rows: Vec<&Detection> = verdicts.iter().flatten().collect();
    let number = |f: fn(&Detection) -> Option<f64>| Column::Double(rows.iter().map(|d| f(d)).collect());
    columns.extend([
        ("ts".to_string(), ts_column(input.is_date, input.groups.iter().flat_map(|g| g.ts.iter().copied()).collect())),
        ("value".to_string(), Column::Double(input.groups.iter().flat_map(|g| g.values.iter().copied()).collect())),
        ("expected".to_string(), number(|d| d.expected)),
        ("lower".to_string(), number(|d| d.lower)),
        ("upper".to_string(), number(|d| d.upper)),
        ("score".to_string(), number(|d| d.score)),
        ("is_anomaly".to_string(), Column::Boolean(rows.iter().map(|d| Some(d.is_anomaly)).collect())),
        ("severity".to_string(), Column::Text(rows.iter().map(|d| Some(d.severity.as_str().to_string())).collect())),
        ("incident_id".to_string(), Column::BigInt(rows.iter().map(|d| d.incident_id.map(i64::from)).collect())),
        ("incident_start".to_string(), Column::Boolean(rows.iter().map(|d| Some(d.incident_start)).collect())),
    ]);
    // Moved, not cloned: on millions of rows the explanations are most of the result's memory.
    // Skipped ones are NULL rather than empty sentences.
    let explained = !config.skip_explanations;
    let explanation = verdicts.into_iter().flatten().map(|d| explained.then_some(d.explanation)).collect();
    columns.push(("explanation".to_string(), Column::Text(explanation)));
    Ok(Table::new(columns))
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
    fn skipping_explanations_changes_nothing_else() {
        let mut values = weekly_series(200);
        values[90] = Some(200.0);
        values[120] = None;
        let events = vec![Event { day: 150, name: "sale".into(), suppress: true }];
        values[150] = Some(300.0);
        for method in [Method::Auto, Method::Ensemble, Method::Streaming, Method::Esd] {
            let config = DetectConfig { method, events: events.clone(), ..DetectConfig::default() };
            let full = detect(&daily(200), &values, &config).unwrap();
            let quiet = DetectConfig { skip_explanations: true, ..config };
            let bare = detect(&daily(200), &values, &quiet).unwrap();
            assert!(full.iter().all(|d| !d.explanation.is_empty()));
            assert!(bare.iter().all(|d| d.explanation.is_empty()));
            let strip = |d: &Detection| Detection { explanation: String::new(), ..d.clone() };
            assert_eq!(full.iter().map(strip).collect::<Vec<_>>(), bare, "{method:?}");
            // The spike is flagged and the event's day suppressed (streaming is still warming up).
            let warming = method == Method::Streaming;
            assert!(warming || (full[90].is_anomaly && full[150].explanation.starts_with("suppressed")), "{method:?}");
        }
    }

    #[test]
    fn the_default_season_follows_the_cadence() {
        let minutes = |m: i64| m * 60_000_000;
        assert_eq!(default_period(MICROS_PER_DAY), 7);
        assert_eq!(default_period(minutes(60)), 24);
        assert_eq!(default_period(minutes(5)), 288);
        assert_eq!(default_period(minutes(1)), 1, "1440 samples a day is beyond MAX_PERIOD");
        assert_eq!(default_period(minutes(7)), 1, "7 minutes do not divide the day");
        assert_eq!(default_period(7 * MICROS_PER_DAY), 1);
    }

    #[test]
    fn events_suppress_or_explain_the_points_of_their_day() {
        let mut values = weekly_series(120);
        values[90] = Some(200.0);
        let event = |suppress| Event { day: 90, name: "Black Friday".into(), suppress };
        let config = DetectConfig { events: vec![event(true)], ..DetectConfig::default() };
        let out = detect(&daily(120), &values, &config).unwrap();
        assert!(out.iter().all(|d| !d.is_anomaly && d.incident_id.is_none()), "suppressed");
        assert!(out[90].explanation.starts_with("suppressed by event 'Black Friday' (would be critical)"));
        assert!(out[90].score.unwrap() > 90.0, "the score still shows how unusual it was");
        let config = DetectConfig { events: vec![event(false)], ..DetectConfig::default() };
        let out = detect(&daily(120), &values, &config).unwrap();
        assert!(out[90].is_anomaly && out[90].explanation.ends_with("Event: 'Black Friday'."));
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
    fn streaming_replay_equals_the_live_run_at_every_cut() {
        // Counts for the first 40 rows, then a fraction: the full run is not count data, while
        // a replay cut inside the first 50 rows could think it is.
        let values: Vec<Option<f64>> =
            (0..700u64).map(|i| Some(if i == 40 { 12.5 } else { ((i * 7919) % 23) as f64 + 10.0 })).collect();
        // Daily data: its warm-up (28 rows) ends inside the 50 rows that decide the scale.
        let ts = daily(700);
        let config = DetectConfig { method: Method::Streaming, ..DetectConfig::default() };
        let full = detect(&ts, &values, &config).unwrap();
        for cut in (0..700).step_by(3) {
            let prefix = detect(&ts[..=cut], &values[..=cut], &config).unwrap();
            assert_eq!(prefix[..], full[..=cut], "replay at row {cut} differs from the live run");
        }
    }

    #[test]
    fn auto_resolves_to_streaming_on_sub_daily_data_and_the_calibrated_ensemble_on_daily_data() {
        let hourly = hourly_with_weekends().0;
        assert_eq!(Method::Auto.resolve(&hourly), Method::Streaming);
        assert_eq!(Method::Auto.resolve(&daily(30)), Method::Ensemble);
        assert_eq!(Method::Esd.resolve(&hourly), Method::Esd);
        let config = DetectConfig::default();
        assert_eq!(config.resolve(&hourly), (Method::Streaming, Method::AUTO_STREAMING_COOLDOWN));
        let given = DetectConfig { noise: NoiseControls { cooldown: Some(0), ..NoiseControls::default() }, ..config };
        assert_eq!(given.resolve(&hourly), (Method::Streaming, 0), "a cooldown given is kept");
        let out = detect(&daily(120), &weekly_series(120), &DetectConfig::default()).unwrap();
        assert!(out.iter().filter(|d| d.score.is_some()).all(|d| d.explanation.ends_with("(auto: ensemble)")));
    }

    /// From `seed`: 730 days of Student t(3) noise, then 730 days of Gaussian noise, both of
    /// scale 3 around 100.
    fn heavy_and_gaussian_days(seed: u64) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal, StudentT};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let t3 = StudentT::new(3.0).unwrap();
        let heavy = (0..730).map(|_| Some(100.0 + 3.0 * t3.sample(&mut rng))).collect();
        let gaussian = (0..730)
            .map(|_| {
                let noise: f64 = StandardNormal.sample(&mut rng);
                Some(100.0 + 3.0 * noise)
            })
            .collect();
        (heavy, gaussian)
    }

    #[test]
    fn auto_raises_fewer_alarms_than_the_ensemble_on_heavy_tails_and_the_same_on_gaussian_noise() {
        let (heavy, gaussian) = heavy_and_gaussian_days(11);
        let flags = |values: &[Option<f64>], method| {
            let config = DetectConfig { method, ..DetectConfig::default() };
            detect(&daily(730), values, &config).unwrap().iter().filter(|d| d.is_anomaly).count()
        };
        let (auto, ensemble) = (flags(&heavy, Method::Auto), flags(&heavy, Method::Ensemble));
        assert!(ensemble >= 5 && 2 * auto <= ensemble, "heavy tails: auto {auto}, ensemble {ensemble}");
        assert_eq!(flags(&gaussian, Method::Auto), flags(&gaussian, Method::Ensemble));
    }

    #[test]
    fn auto_widens_its_daily_band_to_the_heavy_tail_even_where_the_tail_clears_the_bar() {
        // Over the last 100 of 730 days, the median of auto's band over the plain ensemble's:
        // the tail factor.
        let widening = |values: &[Option<f64>]| {
            let half_width = |method| {
                let config = DetectConfig { method, ..DetectConfig::default() };
                detect(&daily(730), values, &config).unwrap()[630..]
                    .iter()
                    .map(|d| d.upper.unwrap() - d.expected.unwrap())
                    .collect::<Vec<f64>>()
            };
            let mut ratios: Vec<f64> =
                half_width(Method::Auto).iter().zip(half_width(Method::Ensemble)).map(|(a, e)| a / e).collect();
            ratios.sort_by(f64::total_cmp);
            ratios[ratios.len() / 2]
        };
        let (mut heavy, mut gaussian) = (0.0, 0.0_f64);
        for seed in 1..=4 {
            let (t, normal) = heavy_and_gaussian_days(seed);
            heavy += widening(&t) / 4.0;
            gaussian = gaussian.max(widening(&normal));
        }
        // Measured 1.42 and 1.03; learning only from unflagged points, the Student t(3) series
        // (whose 99th percentile over all points calls for ~1.6) got 1.26.
        assert!(heavy > 1.36, "heavy tails: {heavy}");
        assert!(gaussian < 1.1, "gaussian: {gaussian}");
    }

    /// Six weeks of hourly data without weekends (noise as in [`hourly`]) and a +8 spike at
    /// hour 800.
    fn hourly_with_a_spike(heavy: bool) -> (Vec<i64>, Vec<Option<f64>>) {
        let (ts, mut values) = hourly(1.0, heavy);
        values[800] = values[800].map(|v| v + 8.0);
        (ts, values)
    }

    #[test]
    fn auto_lets_the_ensemble_speak_for_a_quiet_light_tailed_stream_and_mostly_streaming_on_heavy_tails() {
        let spoke = |out: &[Detection], method: &str| {
            out.iter().filter(|d| d.explanation.ends_with(&format!("(auto: {method})"))).count()
        };
        let flagged = |out: &[Detection]| (0..out.len()).filter(|&i| out[i].is_anomaly).collect::<Vec<_>>();
        let streaming = DetectConfig { method: Method::Streaming, ..DetectConfig::default() };
        let (ts, values) = hourly_with_a_spike(false);
        let out = detect(&ts, &values, &DetectConfig::default()).unwrap();
        assert_eq!(flagged(&out), [800], "only the spike");
        assert!(out[800].explanation.ends_with("(auto: ensemble)"), "{}", out[800].explanation);
        assert_eq!(spoke(&out, "streaming"), 0);
        let alone = flagged(&detect(&ts, &values, &streaming).unwrap());
        assert!(alone.contains(&800) && alone.len() > 1, "streaming alone also flags noise: {alone:?}");
        let (ts, values) = hourly_with_a_spike(true);
        let out = detect(&ts, &values, &DetectConfig::default()).unwrap();
        let alone = detect(&ts, &values, &streaming).unwrap();
        let alerts = |out: &[Detection]| out.iter().filter(|d| d.incident_start).count();
        // The ensemble speaks while the tails are unknown or look light; by row 500 they are
        // known to be heavy.
        assert_eq!(spoke(&out[500..], "ensemble"), 0, "heavy tails are streamed once known");
        assert!(spoke(&out[500..], "streaming") > 500);
        assert!(alerts(&out) <= alerts(&alone), "no more alerts than streaming alone");
    }

    #[test]
    fn auto_lets_the_ensemble_flag_a_lone_extreme_spike_on_heavy_tails_within_a_budget() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StudentT};
        // Sixty days of an hourly KPI with Student-t noise (2 degrees of freedom: heavy tails
        // whose extremes come alone) and one spike.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let t2 = StudentT::new(2.0).unwrap();
        let hour = MICROS_PER_DAY / 24;
        let (ts, mut values): (Vec<i64>, Vec<Option<f64>>) = (0..60 * 24)
            .map(|h: i64| {
                let daily = 100.0 + 30.0 * (std::f64::consts::TAU * (h % 24) as f64 / 24.0).sin();
                (h * hour, Some(daily + t2.sample(&mut rng)))
            })
            .unzip();
        values[580] = values[580].map(|v| v + 40.0);
        let out = detect(&ts, &values, &DetectConfig::default()).unwrap();
        assert!(out[580].is_anomaly && out[580].explanation.ends_with("(auto: ensemble)"), "{}", out[580].explanation);
        // Such tails have lone extremes of their own: the ensemble speaks for a few at most.
        let ensemble =
            (500..out.len()).filter(|&i| out[i].is_anomaly && out[i].explanation.ends_with("(auto: ensemble)")).count();
        assert!((1..=tails::Quiet::LONE_BUDGET).contains(&ensemble), "{ensemble}");
    }

    #[test]
    fn auto_alerts_once_per_level_shift_of_a_quiet_hourly_series() {
        let (ts, mut values) = hourly(1.0, false);
        for (i, v) in values.iter_mut().enumerate() {
            let shift = if i >= 700 {
                16.0
            } else if i >= 450 {
                8.0
            } else {
                0.0
            };
            *v = v.map(|v| v + shift);
        }
        let out = detect(&ts, &values, &DetectConfig::default()).unwrap();
        let alerts: Vec<usize> = (0..out.len()).filter(|&i| out[i].incident_start).collect();
        assert_eq!(alerts, [450, 700], "one alert at each shift");
        assert!(out[700].explanation.ends_with("(auto: ensemble)"), "{}", out[700].explanation);
    }

    #[test]
    fn auto_keeps_the_ensemble_through_level_shifts_that_scale_the_daily_cycle() {
        let (ts, mut values) = hourly(1.0, false);
        // Each shift scales the day's curve by 8% (6-10 noise units), up, back and up again.
        let shifts = [(300, 1.08), (550, 1.0), (800, 1.08)];
        for (i, v) in values.iter_mut().enumerate() {
            let scale = shifts.iter().rev().find(|&&(at, _)| i >= at).map_or(1.0, |&(_, scale)| scale);
            *v = v.map(|v| v * scale);
        }
        let out = detect(&ts, &values, &DetectConfig::default()).unwrap();
        let alerts: Vec<usize> = (0..out.len()).filter(|&i| out[i].incident_start).collect();
        for (at, _) in shifts {
            assert!(alerts.iter().any(|&a| (at..at + 10).contains(&a)), "shift at {at} not alerted: {alerts:?}");
        }
        assert!(out[800..].iter().all(|d| d.explanation.ends_with("(auto: ensemble)")), "the gate stays open");
        // Steps re-map earlier points, from what was known at the time: replay stays exact.
        for cut in (290..900).step_by(29) {
            let prefix = detect(&ts[..=cut], &values[..=cut], &DetectConfig::default()).unwrap();
            assert_eq!(prefix[..], out[..=cut], "replay at row {cut} differs from the live run");
        }
    }

    #[test]
    fn auto_replay_on_a_sub_daily_stream_equals_the_live_run_at_every_cut() {
        let (ts, values) = hourly_with_a_spike(false);
        let config = DetectConfig::default();
        let full = detect(&ts, &values, &config).unwrap();
        // From the first cut whose rows show the cadence (a lone row cannot).
        for cut in (Method::AUTO_PROBE..ts.len()).step_by(11) {
            let prefix = detect(&ts[..=cut], &values[..=cut], &config).unwrap();
            assert_eq!(prefix[..], full[..=cut], "replay at row {cut} differs from the live run");
        }
    }

    #[test]
    fn auto_replay_equals_the_live_run_at_every_cut() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StudentT};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let t3 = StudentT::new(3.0).unwrap();
        let values: Vec<Option<f64>> = (0..400).map(|_| Some(50.0 + 2.0 * t3.sample(&mut rng))).collect();
        let config = DetectConfig::default();
        let full = detect(&daily(400), &values, &config).unwrap();
        for cut in (0..400).step_by(7) {
            let prefix = detect(&daily(cut + 1), &values[..=cut], &config).unwrap();
            assert_eq!(prefix[..], full[..=cut], "replay at row {cut} differs from the live run");
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

    /// Six weeks of hourly data, seeded noise (sd 1) on a daily curve, with weekends at half
    /// the weekday level.
    fn hourly_with_weekends() -> (Vec<i64>, Vec<Option<f64>>) {
        hourly(0.5, false)
    }

    /// Six weeks of hourly data: a daily curve, weekends at `weekend` times the weekday level,
    /// plus seeded noise of sd about 1 (Student t with 3 degrees of freedom when `heavy`, else
    /// Gaussian).
    fn hourly(weekend: f64, heavy: bool) -> (Vec<i64>, Vec<Option<f64>>) {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal, StudentT};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let t3 = StudentT::new(3.0).unwrap();
        let hour = MICROS_PER_DAY / 24;
        (0..6 * 168)
            .map(|h: i64| {
                let noise: f64 =
                    if heavy { t3.sample(&mut rng) / 3f64.sqrt() } else { StandardNormal.sample(&mut rng) };
                let level = if (h / 24) % 7 >= 5 { weekend } else { 1.0 };
                let daily = 100.0 + 30.0 * (std::f64::consts::TAU * (h % 24) as f64 / 24.0).sin();
                (h * hour, Some(level * daily + noise))
            })
            .unzip()
    }

    #[test]
    fn sub_daily_data_compares_with_the_same_hour_of_earlier_weeks() {
        let (ts, values) = hourly_with_weekends();
        let flagged_after_two_weeks = |period: Option<usize>| {
            let config = DetectConfig { method: Method::Ensemble, period, ..DetectConfig::default() };
            detect(&ts, &values, &config).unwrap().iter().skip(2 * 168).filter(|d| d.is_anomaly).count()
        };
        assert_eq!(flagged_after_two_weeks(None), 0, "weekends are the weekly norm");
        assert!(flagged_after_two_weeks(Some(24)) > 0, "a daily season alone flags the weekends");
    }

    #[test]
    fn streaming_scores_counts_on_their_root_but_reports_in_counts() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Poisson};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let poisson = Poisson::new(40.0).unwrap();
        let mut values: Vec<Option<f64>> = (0..1_200).map(|_| Some(poisson.sample(&mut rng))).collect();
        values[1_000] = Some(160.0);
        let ts: Vec<i64> = (0..1_200).map(|i| i * 300_000_000).collect();
        let config = DetectConfig { method: Method::Streaming, ..DetectConfig::default() };
        let out = detect(&ts, &values, &config).unwrap();
        let spike = &out[1_000];
        assert!(spike.is_anomaly, "{}", spike.explanation);
        let (expected, lower, upper) = (spike.expected.unwrap(), spike.lower.unwrap(), spike.upper.unwrap());
        assert!((35.0..45.0).contains(&expected), "expected {expected} is in counts, not their root");
        assert!(lower < expected && expected < upper && upper < 160.0, "{lower} {expected} {upper}");
        assert!(spike.explanation.contains("beyond the range of every earlier value"), "{}", spike.explanation);
    }

    #[test]
    fn gaps_keep_the_weekly_phase() {
        let ts: Vec<i64> = daily(120).into_iter().enumerate().filter(|(i, _)| i % 11 != 3).map(|(_, t)| t).collect();
        let all = weekly_series(120);
        let values: Vec<Option<f64>> = (0..120).filter(|i| i % 11 != 3).map(|i| all[i]).collect();
        let out = detect(&ts, &values, &DetectConfig::default()).unwrap();
        let alarms: Vec<&String> = out.iter().filter(|d| d.is_anomaly).map(|d| &d.explanation).collect();
        assert!(alarms.is_empty(), "a regular series with gaps raised alarms: {alarms:?}");
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
    fn incidents_merge_runs_and_respect_the_cooldown() {
        let flags = [true, true, false, true, false, false, false, true];
        let ids = |cooldown| incidents(flags, cooldown);
        assert_eq!(
            ids(0),
            vec![Some((1, true)), Some((1, false)), None, Some((2, true)), None, None, None, Some((3, true))]
        );
        assert_eq!(ids(1)[3], Some((1, false)));
        assert_eq!(ids(3)[7], Some((1, false)));
    }

    #[test]
    fn noise_controls_hold_back_small_or_wrong_way_changes() {
        let mut values = weekly_series(120);
        values[90] = Some(200.0);
        values[100] = Some(20.0);
        let run = |noise: NoiseControls| {
            let config = DetectConfig { noise, ..DetectConfig::default() };
            detect(&daily(120), &values, &config).unwrap()
        };
        let up = run(NoiseControls { direction: Direction::Up, ..Default::default() });
        assert!(up[90].is_anomaly && !up[100].is_anomaly);
        assert!(up[100].explanation.contains("direction up only"), "{}", up[100].explanation);
        // The spike is about +70%, the drop about -80%.
        let big = run(NoiseControls { min_pct: 0.75, ..Default::default() });
        assert!(!big[90].is_anomaly && big[100].is_anomaly);
        let late = run(NoiseControls { min_history: 95, ..Default::default() });
        assert!(!late[90].is_anomaly && late[90].score.is_none() && late[100].is_anomaly);
        assert_eq!(late[100].incident_id, Some(1));
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
