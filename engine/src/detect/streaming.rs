//! The `streaming` method's scoring: the ensemble's z-scores calibrated per series, for long,
//! noisy, high-frequency streams (NAB-style server, sensor and social-media metrics).
//!
//! Four walk-forward parts, each chosen on NAB (standard profile, cooldown 50; optimised /
//! default threshold, the model without that part against the model with it, when the part
//! was added):
//!
//! - an anomaly likelihood over two horizons ([`Likelihood`]): the last 5 points catch
//!   spikes while the series is young ([`Scorer::SPIKES_UNTIL`]), the last 120 catch
//!   sustained shifts and drifts that no single point shows (68.0 / 67.6 -> 70.0 / 69.0 when
//!   added, at 100 points);
//! - a likelihood of the series' volatility ([`Volatility`]): the mean absolute change
//!   over the last 100 points against its slow average, which sees a stream that starts to
//!   flicker or goes quiet while its level stays where it was (71.3 / 69.8 -> 72.6 / 70.0);
//! - a range rule ([`Range`]): a value beyond everything the series has shown, by more than
//!   2% of that range, is an anomaly whatever the likelihood says (after Numenta's "spatial
//!   anomaly"; 66.0 / 66.0 -> 70.0 / 69.0 when added, at 5%);
//! - a square-root scale for count data ([`Scale`]): counts (tweets, requests, taxi rides)
//!   have a spread that grows with their level, which the root makes even (68.9 / 67.0 ->
//!   70.0 / 69.0).
//!
//! The likelihoods are calibrated so that the corpus optimum sits at the default threshold:
//! 50 is a one-in-10^7 excursion ([`Likelihood::OFFSET`]).

use super::ANOMALY_SCORE;
use std::collections::VecDeque;

/// The scale the detectors see a series on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scale {
    /// Values as they are.
    Identity,
    /// `sqrt(v + 3/8)` (Anscombe's transform): Poisson-like counts get a near-constant spread.
    Sqrt,
}

impl Scale {
    /// Rows that decide whether a series is count data. `detect` reports no point before
    /// them, so a replay that reports anything has seen the same rows and picks the same
    /// scale. The likelihood scores nothing this early anyway ([`LongRun::MIN_VALUES`]).
    pub(super) const PROBE: usize = 50;

    /// `Sqrt` when the first [`Self::PROBE`] present values are all non-negative integers.
    pub(super) fn for_values(values: &[Option<f64>]) -> Self {
        let mut probe = values.iter().take(Self::PROBE).flatten().filter(|v| v.is_finite()).peekable();
        if probe.peek().is_some() && probe.all(|v| *v >= 0.0 && v.fract() == 0.0) {
            Self::Sqrt
        } else {
            Self::Identity
        }
    }

    /// From the series' units to the detectors' scale. A negative value (not a count, but
    /// possible later in a series that started as one) maps to the mirror image.
    pub(super) fn forward(self, v: f64) -> f64 {
        match self {
            Self::Identity => v,
            Self::Sqrt => v.signum() * (v.abs() + 0.375).sqrt(),
        }
    }

    /// Back to the series' units (for the expected value and the band).
    pub(super) fn back(self, y: f64) -> f64 {
        match self {
            Self::Identity => y,
            Self::Sqrt => y.signum() * (y * y - 0.375).max(0.0),
        }
    }
}

/// Whether a value leaves the range of every earlier value by more than [`Range::MARGIN`]
/// of that range, once [`Range::MIN_HISTORY`] values have been seen.
#[derive(Debug, Default)]
pub(super) struct Range {
    low: f64,
    high: f64,
    seen: usize,
}

impl Range {
    /// Values seen before a new extreme counts: a young series sets records all the time
    /// (NAB: 200 gave 65.4 / 65.3, 500 gave 66.3 / 66.2, 750 gave 65.4 / 65.4 before the other
    /// parts were added).
    const MIN_HISTORY: usize = 500;
    /// How far beyond the range, as a share of it. Once the spike horizon retires the range
    /// rule is what sees spikes, and a tighter margin pays (NAB, cooldown 50: 0.01 gave 73.9 /
    /// 73.9, 0.02 74.4 / 74.3, 0.03 74.2 / 74.0, 0.05 73.7 / 73.5, 0.1 72.2 / 72.0).
    const MARGIN: f64 = 0.02;

    /// Checks `value` against the range so far, then widens the range by it.
    pub(super) fn exceeds(&mut self, value: f64) -> bool {
        if self.seen == 0 {
            (self.low, self.high) = (value, value);
        }
        let margin = Self::MARGIN * (self.high - self.low);
        let outside = self.seen >= Self::MIN_HISTORY
            && self.high > self.low
            && (value > self.high + margin || value < self.low - margin);
        self.low = self.low.min(value);
        self.high = self.high.max(value);
        self.seen += 1;
        outside
    }
}

/// The `streaming` score of one series: the highest of the three likelihoods, and 100 for a
/// value beyond the series' range.
pub(super) struct Scorer {
    /// Points scored so far.
    scored: usize,
    fast: Likelihood,
    slow: Likelihood,
    /// The long run of |z| both horizons compare with.
    z_run: LongRun,
    range: Range,
    volatility: Volatility,
    /// The likelihood of the volatility's deviation, already a mean over its window.
    volatile: Likelihood,
    volatility_run: LongRun,
}

impl Scorer {
    /// Scored points after which the spike horizon (the 5-point likelihood) is silent. A
    /// stream with that much history has shown its spikes (Twitter volumes spike every few
    /// hours): a spike within its range is its normal behaviour, and one that matters leaves
    /// the range (the range rule) or lasts (the 120-point horizon). Before the range rule
    /// starts (500 values) and for a while after, the spike horizon is what sees spikes. NAB,
    /// cooldown 50 (before the margin and the 120 points): never silent 71.7 / 71.6, after
    /// 1,000 73.2 / 73.0, 2,000 72.9 / 72.7, 3,000 73.7 / 73.5, 4,000 73.3 / 73.2, 6,000 72.9
    /// / 72.7; the odd and even files scored apart went 71.7 and 73.6 -> 74.1 and 74.2.
    pub(super) const SPIKES_UNTIL: usize = 3_000;

    /// A scorer whose incidents merge alarms `cooldown` points apart.
    pub(super) fn new(cooldown: usize) -> Self {
        Self {
            scored: 0,
            fast: Likelihood::new(Likelihood::FAST, Likelihood::FAST_SHRINK, cooldown),
            slow: Likelihood::new(Likelihood::SLOW, Likelihood::SLOW_SHRINK, cooldown),
            z_run: LongRun::default(),
            range: Range::default(),
            volatility: Volatility::default(),
            volatile: Likelihood::new(1, 0.0, cooldown),
            volatility_run: LongRun::default(),
        }
    }

    /// Takes every present value (on the detectors' scale), warm-up included, and tells
    /// whether it left the range of the ones before.
    pub(super) fn observe(&mut self, value: f64) -> bool {
        self.volatility.observe(value);
        self.range.exceeds(value)
    }

    /// The 0-100 score of a scored point with combined z-score `z`; `outside` from
    /// [`Self::observe`].
    pub(super) fn score(&mut self, z: f64, outside: bool) -> f64 {
        let z = LongRun::cap(z);
        let spike = if self.scored < Self::SPIKES_UNTIL { self.fast.score(z, &self.z_run) } else { 0.0 };
        self.scored += 1;
        let drift = self.slow.score(z, &self.z_run);
        self.z_run.push(z);
        let deviation = LongRun::cap(self.volatility.deviation);
        let volatile = self.volatile.score(deviation, &self.volatility_run);
        self.volatility_run.push(deviation);
        let likely = spike.max(drift).max(volatile);
        if outside {
            100.0
        } else {
            likely
        }
    }
}

/// How far the series' recent volatility (the mean absolute change between neighbours over
/// the last [`Volatility::WINDOW`] values) is from its slow average, as `|ln(recent /
/// average)|`.
#[derive(Debug, Default)]
pub(super) struct Volatility {
    changes: VecDeque<f64>,
    last: Option<f64>,
    average: Option<f64>,
    /// The latest deviation; 0 until the window is full.
    deviation: f64,
}

impl Volatility {
    /// Changes in the recent mean (NAB: 20 gave 69.0 / 66.8, 50 gave 69.6 / 67.6, 200 gave
    /// 71.1 / 69.2).
    const WINDOW: usize = 100;
    /// Weight of each new recent mean in the slow average: it follows over ~1,000 points
    /// (0.0003 gave the same, 0.003 gave 71.9 / 69.9).
    const RATE: f64 = 0.001;
    /// Floor, as a share of the average, that keeps a flat stretch from being infinitely
    /// calm (0.001 gave the same, 0.1 gave 72.1 / 69.4).
    const FLOOR: f64 = 0.01;

    /// Takes the next present value.
    pub(super) fn observe(&mut self, value: f64) {
        if let Some(last) = self.last.replace(value) {
            self.changes.push_back((value - last).abs());
            if self.changes.len() > Self::WINDOW {
                self.changes.pop_front();
            }
        }
        if self.changes.len() == Self::WINDOW {
            let recent = self.changes.iter().sum::<f64>() / Self::WINDOW as f64;
            let average = *self.average.get_or_insert(recent);
            let floor = Self::FLOOR * average + 1e-9;
            self.deviation = ((recent + floor) / (average + floor)).ln().abs();
            self.average = Some(average + Self::RATE * (recent - average));
        }
    }
}

/// The long-run distribution of one stream of |z| (capped): the mean and spread of its last
/// [`LongRun::LEN`] values. The spike and drift horizons share one; the volatility has its
/// own.
#[derive(Debug, Default)]
pub(super) struct LongRun {
    values: VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
}

impl LongRun {
    /// Values in the long-run distribution.
    const LEN: usize = 8_000;
    /// |z| beyond this counts as this: one absurd point (a counter reset, a bad reading)
    /// would otherwise dominate the 5-point mean and the long-run spread for thousands of
    /// points, and the range rule speaks for true extremes (NAB: 30 gave 70.8 / 70.6, 100
    /// gave 70.7 / 69.3, no cap 70.2 / 69.0).
    const Z_CAP: f64 = 50.0;
    /// Values needed before scoring (NAB standard: 100 gave 59.9, 15-50 give 60.7; short
    /// streams get their first scores sooner).
    pub(super) const MIN_VALUES: usize = 50;

    /// |z|, capped at [`Self::Z_CAP`].
    pub(super) fn cap(z: f64) -> f64 {
        z.abs().min(Self::Z_CAP)
    }

    /// Mean and spread, once [`Self::MIN_VALUES`] values are in.
    fn moments(&self) -> Option<(f64, f64)> {
        (self.values.len() >= Self::MIN_VALUES).then(|| {
            let n = self.values.len() as f64;
            let mean = self.sum / n;
            (mean, (self.sum_sq / n - mean * mean).max(0.0).sqrt().max(1e-3))
        })
    }

    /// Adds a capped value, dropping the oldest beyond [`Self::LEN`].
    pub(super) fn push(&mut self, z: f64) {
        self.values.push_back(z);
        self.sum += z;
        self.sum_sq += z * z;
        if self.values.len() > Self::LEN {
            let old = self.values.pop_front().unwrap_or(0.0);
            self.sum -= old;
            self.sum_sq -= old * old;
        }
    }
}

/// Anomaly likelihood (after Numenta's HTM detector): how improbable the recent average |z|
/// is given the distribution of |z| over the long run of this series ([`LongRun`]). A series
/// whose z-scores are always large (heavy tails, discrete values) stops alarming on its
/// ordinary days, and one that is usually calm alarms on a smaller excursion.
#[derive(Debug)]
pub(super) struct Likelihood {
    short: VecDeque<f64>,
    /// |z| values averaged for the current point.
    short_len: usize,
    /// A mean of `short_len` values varies less than one value: its spread is the values'
    /// spread over `short_len^shrink`.
    shrink: f64,
    /// Points scored so far, and which of them scored an anomaly (within the last
    /// [`LongRun::LEN`]).
    calls: usize,
    excursions: VecDeque<usize>,
    /// The incidents' cooldown: excursions this close belong to the current incident.
    cooldown: usize,
}

impl Likelihood {
    /// The spike horizon. Chosen on NAB (standard profile, optimised / default threshold,
    /// before the slow horizon existed): 10 and 2,000 gave 52.1 / 33.1 and 3 gave 53.6 / 52.8
    /// under the old two-season warm-up; with the short warm-up 3 gives 60.7 / 58.9, 4 gives
    /// 62.0 / 61.0, 5 gives 62.4 / 62.2 and 6 gives 61.3 / 60.7.
    pub(super) const FAST: usize = 5;
    /// Independent values would shrink by the square root (0.5); neighbouring |z| are
    /// correlated, and 0.25 fits (5 values: 0 gave 62.4 / 51.2, 0.5 gave 62.4 / 55.7, 0.3 gave
    /// 62.4 / 61.3): it put the corpus optimum at the default threshold.
    pub(super) const FAST_SHRINK: f64 = 0.25;
    /// The drift horizon. When it was added: 50 gave 69.3 / 67.7, 100 70.0 / 69.0, 150 68.2 /
    /// 67.7, 288 64.2 / 63.6; with the spike horizon retiring and the 2% margin (cooldown 50):
    /// 100 gave 74.4 / 74.3, 110 74.7 / 74.6, 120 74.9 / 74.7, 130 74.9 / 74.5, 150 74.7 /
    /// 74.1, 200 70.5 / 68.4.
    pub(super) const SLOW: usize = 120;
    /// Over 100 points or more the correlation of neighbours matters less (0.4 gave 68.7 / 68.3 at
    /// 150 points, 0.6 gave 61.3 / 57.3 at 100; at 150 points with the retiring spike
    /// horizon 0.45 gave 73.0 / 72.2 and 0.55 72.8 / 72.3, against 74.7 / 74.1).
    pub(super) const SLOW_SHRINK: f64 = 0.5;
    /// Subtracted from `10 * -log10(tail)`, so that 50 is a one-in-10^7 excursion: the
    /// tails of correlated, heavy-tailed |z| are not probabilities, and this puts the corpus
    /// optimum (a threshold of 71 without it) at the default threshold 50 (NAB, with the
    /// volatility: 72.6 / 70.0 without it, 72.0 / 71.7 with it).
    pub(super) const OFFSET: f64 = 20.0;

    /// A likelihood over the mean of the last `short_len` |z|.
    pub(super) fn new(short_len: usize, shrink: f64, cooldown: usize) -> Self {
        Self {
            short: VecDeque::with_capacity(short_len + 1),
            short_len,
            shrink,
            calls: 0,
            excursions: VecDeque::new(),
            cooldown,
        }
    }

    /// 0-100: `10 * -log10(tail probability) - OFFSET`, capped; a one-in-10^7 excursion scores
    /// 50.
    /// An excursion this series already made `k` times within the long window, in earlier
    /// incidents, is `k + 1` times as likely, so its tail is multiplied by that: spiky streams
    /// stop repeating their alarms. Excursions of the current incident (within the cooldown)
    /// do not count. NAB (cooldown 50), optimised / default: standard 62.4 / 62.2 -> 63.2 /
    /// 63.2 (63.1 / 62.4 counting them too), low-FP 48.8 / 47.0 -> 51.7 / 51.6, low-FN 69.5 /
    /// 69.1 -> 69.1 / 68.9.
    /// `z` is capped ([`LongRun::cap`]); `long` is the distribution before it.
    pub(super) fn score(&mut self, z: f64, long: &LongRun) -> f64 {
        let raw = self.tail_score(z, long);
        self.calls += 1;
        while self.excursions.front().is_some_and(|&at| at + LongRun::LEN < self.calls) {
            self.excursions.pop_front();
        }
        // The current incident: the chain of excursions each within the cooldown of the next.
        let mut next = self.calls;
        let current = self
            .excursions
            .iter()
            .rev()
            .take_while(|&&at| {
                let joined = at + self.cooldown + 1 >= next;
                next = at;
                joined
            })
            .count();
        let seen = (self.excursions.len() - current) as f64;
        if raw >= ANOMALY_SCORE {
            self.excursions.push_back(self.calls);
        }
        (raw - 10.0 * (1.0 + seen).log10()).max(0.0)
    }

    /// The score from the tail probability alone.
    fn tail_score(&mut self, z: f64, long: &LongRun) -> f64 {
        self.short.push_back(z);
        if self.short.len() > self.short_len {
            self.short.pop_front();
        }
        let Some((mean, sd)) = long.moments() else { return 0.0 };
        let recent = self.short.iter().sum::<f64>() / self.short.len() as f64;
        let sd = sd / (self.short.len() as f64).powf(self.shrink);
        let tail = 0.5 * libm::erfc((recent - mean) / sd / std::f64::consts::SQRT_2);
        (-10.0 * tail.max(1e-300).log10() - Self::OFFSET).clamp(0.0, 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One horizon with a long run of its own.
    struct Horizon(Likelihood, LongRun);

    impl Horizon {
        fn score(&mut self, z: f64) -> f64 {
            let z = LongRun::cap(z);
            let score = self.0.score(z, &self.1);
            self.1.push(z);
            score
        }
    }

    fn fast(cooldown: usize) -> Horizon {
        Horizon(Likelihood::new(Likelihood::FAST, Likelihood::FAST_SHRINK, cooldown), LongRun::default())
    }

    /// Scores `calm` ordinary |z| values, then the excursion `z` for `run` points, returning
    /// the highest score of the excursion.
    fn excursion(likelihood: &mut Horizon, calm: usize, z: f64, run: usize) -> f64 {
        for k in 0..calm {
            likelihood.score(0.5 + 0.1 * (k % 7) as f64);
        }
        (0..run).map(|_| likelihood.score(z)).fold(0.0, f64::max)
    }

    #[test]
    fn likelihood_scores_a_first_excursion_high_and_a_repeated_one_lower() {
        let mut likelihood = fast(0);
        let first = excursion(&mut likelihood, 500, 6.0, 5);
        assert!(first >= ANOMALY_SCORE, "first excursion {first}");
        let second = excursion(&mut likelihood, 500, 6.0, 5);
        assert!(second < first, "a repeat is less surprising: {second} vs {first}");
        // Nothing scores before the long-run distribution has its minimum.
        assert_eq!(fast(0).score(50.0), 0.0);
    }

    #[test]
    fn likelihood_does_not_count_the_current_incident_as_a_repeat() {
        // Three bursts 20 points apart: one incident under a cooldown of 50, three without.
        let third_burst = |cooldown: usize| {
            let mut likelihood = fast(cooldown);
            excursion(&mut likelihood, 500, 6.0, 5);
            excursion(&mut likelihood, 20, 6.0, 5);
            excursion(&mut likelihood, 20, 6.0, 5)
        };
        let (one_incident, separate) = (third_burst(50), third_burst(0));
        assert!(one_incident >= ANOMALY_SCORE, "{one_incident}");
        assert!(separate < one_incident, "{separate} vs {one_incident}");
    }

    #[test]
    fn the_slow_likelihood_catches_a_sustained_shift_the_fast_one_misses() {
        let mut quick = fast(50);
        let mut slow = Horizon(Likelihood::new(Likelihood::SLOW, Likelihood::SLOW_SHRINK, 50), LongRun::default());
        let calm = |k: usize| 0.3 + 0.7 * ((k * 7919) % 13) as f64 / 12.0;
        for k in 0..2_000 {
            quick.score(calm(k));
            slow.score(calm(k));
        }
        // |z| a little above its usual mean, for 100 points: no single point stands out.
        let (mut fast_max, mut slow_max) = (0.0_f64, 0.0_f64);
        for k in 0..100 {
            fast_max = fast_max.max(quick.score(calm(k) + 0.3));
            slow_max = slow_max.max(slow.score(calm(k) + 0.3));
        }
        assert!(fast_max < ANOMALY_SCORE && slow_max >= ANOMALY_SCORE, "fast {fast_max}, slow {slow_max}");
    }

    #[test]
    fn volatility_sees_a_stream_that_starts_to_flicker_or_goes_quiet() {
        let wiggle = |k: usize| ((k * 7919) % 13) as f64 / 12.0;
        let calm = || {
            let mut volatility = Volatility::default();
            (0..3_000).for_each(|k| volatility.observe(100.0 + wiggle(k)));
            volatility
        };
        assert!(calm().deviation < 0.1, "{}", calm().deviation);
        let mut flicker = calm();
        (0..Volatility::WINDOW).for_each(|k| flicker.observe(100.0 + 5.0 * wiggle(k)));
        assert!(flicker.deviation > 1.0, "five times the changes: {}", flicker.deviation);
        let mut quiet = calm();
        (0..Volatility::WINDOW).for_each(|_| quiet.observe(100.0));
        assert!(quiet.deviation > 3.0, "no changes at all: {}", quiet.deviation);
    }

    #[test]
    fn spikes_within_the_range_stop_alarming_once_the_stream_has_history() {
        // Ordinary |z| spread evenly over 0-2; the spike is three points at 8: a burst the
        // 5-point horizon sees and the 120-point one hardly notices.
        let calm = |k: usize| ((k * 7919) % 101) as f64 / 50.0;
        let spike_after = |points: usize| {
            let mut scorer = Scorer::new(0);
            (0..points).for_each(|k| _ = scorer.score(calm(k), false));
            (0..3).map(|_| scorer.score(8.0, false)).fold(0.0, f64::max)
        };
        let young = spike_after(600);
        assert!(young >= ANOMALY_SCORE, "a young stream's spike: {young}");
        let mature = spike_after(Scorer::SPIKES_UNTIL);
        assert!(mature < ANOMALY_SCORE, "a spike within a long stream's range: {mature}");
        let mut scorer = Scorer::new(0);
        (0..Scorer::SPIKES_UNTIL).for_each(|k| _ = scorer.score(calm(k), false));
        assert_eq!(scorer.score(8.0, true), 100.0, "a spike beyond the range still alarms");
    }

    #[test]
    fn a_value_beyond_the_range_counts_only_after_enough_history() {
        let mut range = Range::default();
        assert!(!range.exceeds(10.0), "the first value sets the range");
        assert!(!range.exceeds(1e9), "too little history for a record to mean anything");
        let mut range = Range::default();
        for k in 0..Range::MIN_HISTORY {
            assert!(!range.exceeds((k % 10) as f64));
        }
        assert!(!range.exceeds(9.1), "within 2% of the range 0-9");
        assert!(range.exceeds(9.3) && range.exceeds(-1.0), "beyond 2% of the range 0-9.1");
        assert!(!range.exceeds(9.3), "the range has widened to include it");
    }

    #[test]
    fn counts_get_the_square_root_scale_and_come_back_unchanged() {
        let counts: Vec<Option<f64>> = (0..80).map(|k| Some((k % 9) as f64)).chain([Some(2.5)]).collect();
        assert_eq!(Scale::for_values(&counts), Scale::Sqrt, "a fraction after the probe does not count");
        let mut measured = counts.clone();
        measured[3] = Some(2.5);
        assert_eq!(Scale::for_values(&measured), Scale::Identity);
        assert_eq!(Scale::for_values(&[Some(-1.0), Some(2.0)]), Scale::Identity);
        assert_eq!(Scale::for_values(&[None, None]), Scale::Identity);
        for v in [0.0, 1.0, 17.0, 1e6, -4.0] {
            assert!((Scale::Sqrt.back(Scale::Sqrt.forward(v)) - v).abs() < 1e-6 * v.abs().max(1.0), "{v}");
        }
        assert_eq!(Scale::Sqrt.back(0.1), 0.0, "below the transform's floor is zero, not negative");
    }
}
