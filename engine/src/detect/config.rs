//! The public vocabulary of detection: methods, sensitivity, severity, noise controls, the
//! configuration and the verdict of a point.

use super::*;

/// Score at which a point becomes an anomaly; see [`score_from_z`].
pub const ANOMALY_SCORE: f64 = 50.0;
/// Score at which an anomaly becomes `major`.
pub const MAJOR_SCORE: f64 = 70.0;
/// Score at which an anomaly becomes `critical`.
pub const CRITICAL_SCORE: f64 = 90.0;

/// Which detector scores the points. Names as in SQL: the variant in snake case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
pub enum Method {
    /// Chosen per series from its first points' cadence (see [`Method::resolve`]): for daily
    /// and coarser data the `ensemble` with its threshold calibrated by the series' tails; for
    /// sub-daily data `streaming`, or that calibrated ensemble while the series' tails are light
    /// and its alerts rare.
    #[default]
    Auto,
    /// The seasonal z-score, confirmed by Holt-Winters or the level shift (see the module docs).
    Ensemble,
    /// Robust seasonal baseline.
    SeasonalMad,
    /// Online Holt-Winters forecast band.
    HoltWinters,
    /// Run-of-points level shift.
    LevelShift,
    /// Generalised ESD on the seasonal residuals.
    Esd,
    /// Band around an MSTL/ETS forecast refitted once per season.
    ForecastBand,
    /// Isolation forest on features of the seasonal residual.
    IsolationForest,
    /// The ensemble's z-scores calibrated per series by their anomaly likelihood, for long,
    /// noisy, high-frequency streams (see the `streaming` module).
    Streaming,
}

impl Method {
    /// Every method, in the order of [`Method::NAMES`].
    pub const ALL: &'static [Method] = <Self as strum::VariantArray>::VARIANTS;

    /// Every method name the SQL layer accepts.
    pub const NAMES: &'static [&'static str] = <Self as strum::VariantNames>::VARIANTS;

    /// Points whose cadence decides what `auto` resolves to (see [`Method::resolve`]).
    pub const AUTO_PROBE: usize = 50;

    /// The cooldown `auto` gives `streaming` when none is set: the one NAB's 5-minute streams
    /// score best with (75.1 at 100; 74.7 at 50; past ~110 an incident swallows the next one).
    pub const AUTO_STREAMING_COOLDOWN: usize = 100;

    /// Parses a method name as written in SQL.
    pub fn parse(name: &str) -> Result<Self> {
        crate::error::parse_name(name, "method")
    }

    /// The name used in SQL and explanations.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The method that scores a series with timestamps `ts`: `auto` becomes `streaming` when
    /// its first [`Method::AUTO_PROBE`] points are sampled more often than daily (operational
    /// streams: long, noisy, heavy-tailed; the per-series likelihood calibration is what keeps
    /// their alerts down; while such a series is quiet and light-tailed, the calibrated
    /// ensemble speaks for it point by point), and the tail-calibrated `ensemble` otherwise
    /// (business KPIs, where the weekly season and a second detector's confirmation matter
    /// most). Only the first points decide, so a replay as of any later point makes the same
    /// choice. Every other method is itself.
    pub fn resolve(self, ts: &[i64]) -> Method {
        match self {
            Self::Auto if series::sampling_step(&ts[..ts.len().min(Self::AUTO_PROBE)]) < MICROS_PER_DAY => {
                Self::Streaming
            }
            Self::Auto => Self::Ensemble,
            other => other,
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
    pub const LEVELS: &'static [(&'static str, f64)] = &[("low", 5.4), ("medium", 4.2), ("high", 3.4)];

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
    /// `medium`. It was 3.5 until the event-level measure: on the generator's seeds 1-100 (365
    /// days) per-segment revenue raised 1,369 false alarms (2.3 per 1,000 segment-days, most
    /// far from any incident) for 4,901 of 4,914 incidents found, event F1 0.876; at 4.2, 331
    /// false alarms for 4,856 found, F1 0.961 (held-out seeds 101-200: 0.960), and the daily
    /// total's point F1 went from 0.979 to 0.987 (0.984).
    fn default() -> Self {
        Self { threshold: Self::LEVELS[1].1 }
    }
}

/// Which deviations may raise an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::EnumString, strum::VariantNames)]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
pub enum Direction {
    /// Above and below expected.
    #[default]
    Both,
    /// Only above expected.
    Up,
    /// Only below expected.
    Down,
}

impl Direction {
    /// Parses `both`, `up` or `down`.
    pub fn parse(name: &str) -> Result<Self> {
        crate::error::parse_name(name, "direction")
    }

    pub(super) fn allows(self, delta: f64) -> bool {
        match self {
            Self::Both => true,
            Self::Up => delta > 0.0,
            Self::Down => delta < 0.0,
        }
    }
}

/// Severity levels, from the 0-100 score by the documented cut-offs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Severity {
    /// Not an anomaly.
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
        self.into()
    }
}

/// Conditions a statistically unusual point must also meet to be an anomaly.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NoiseControls {
    /// Smallest |value - expected| that counts.
    pub min_delta: f64,
    /// Smallest |value - expected| / |expected| that counts (0.05 = 5%).
    pub min_pct: f64,
    /// Which deviations count.
    pub direction: Direction,
    /// Points at the start of the series that are never scored (on top of the detectors' own
    /// warm-up).
    pub min_history: usize,
    /// An anomaly within this many points after the previous one joins its incident instead
    /// of opening (and alerting on) a new one; 0 merges only consecutive points. `None`: 0,
    /// except [`Method::AUTO_STREAMING_COOLDOWN`] when `auto` chose `streaming`.
    pub cooldown: Option<usize>,
}

/// A known event (holiday, campaign, outage) on a day: it explains the points of that day,
/// and when `suppress` is set it also keeps them from being flagged.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Days since 1970-01-01.
    pub day: i32,
    /// What happened.
    pub name: String,
    /// Whether points of that day must not be flagged.
    pub suppress: bool,
}

/// Detection settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DetectConfig {
    /// Detector.
    pub method: Method,
    /// Flagging threshold.
    pub sensitivity: Sensitivity,
    /// Seasonal period in samples; `None` infers it from the sampling step
    /// (7 for daily data, 24 for hourly, none otherwise).
    pub period: Option<usize>,
    /// Noise controls.
    pub noise: NoiseControls,
    /// Known events by day; several may share a day.
    pub events: Vec<Event>,
    /// How explanations show values (`3.1%` for a share).
    pub unit: crate::units::Unit,
    /// Leave every explanation empty: a front sets this when nobody reads the column (SQL's
    /// projection), since formatting the sentences is a large share of detection's cost on
    /// millions of points. Every other field of the verdict is the same either way.
    pub skip_explanations: bool,
}

impl DetectConfig {
    /// The method and cooldown that score a series with timestamps `ts` ([`Method::resolve`];
    /// the cooldown as [`NoiseControls::cooldown`] says).
    pub fn resolve(&self, ts: &[i64]) -> (Method, usize) {
        let method = self.method.resolve(ts);
        let cooldown = match self.noise.cooldown {
            Some(cooldown) => cooldown,
            None if self.method == Method::Auto && method == Method::Streaming => Method::AUTO_STREAMING_COOLDOWN,
            None => 0,
        };
        (method, cooldown)
    }
}

/// `detect_anomalies`' settings as a front receives them: each one optional, names as text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DetectArguments {
    /// `method`.
    pub method: Option<String>,
    /// `sensitivity`.
    pub sensitivity: Option<String>,
    /// `period`, in samples.
    pub period: Option<i64>,
    /// `direction`.
    pub direction: Option<String>,
    /// `min_delta`.
    pub min_delta: Option<f64>,
    /// `min_pct`.
    pub min_pct: Option<f64>,
    /// `min_history`.
    pub min_history: Option<i64>,
    /// `cooldown`.
    pub cooldown: Option<i64>,
    /// `unit`: how explanations show values.
    pub unit: Option<String>,
}

impl DetectArguments {
    /// The settings, checked, with defaults for what was not given (events come separately).
    pub fn config(&self) -> Result<DetectConfig> {
        use crate::args::{integer, number};
        Ok(DetectConfig {
            method: self.method.as_deref().map(Method::parse).transpose()?.unwrap_or_default(),
            sensitivity: self.sensitivity.as_deref().map(Sensitivity::parse).transpose()?.unwrap_or_default(),
            period: crate::series::period(self.period)?,
            noise: NoiseControls {
                min_delta: number("min_delta", self.min_delta, 0.0, f64::MAX)?.unwrap_or(0.0),
                min_pct: number("min_pct", self.min_pct, 0.0, f64::MAX)?.unwrap_or(0.0),
                direction: self.direction.as_deref().map(Direction::parse).transpose()?.unwrap_or_default(),
                min_history: integer("min_history", self.min_history, 0, 1_000_000)?.unwrap_or(0) as usize,
                cooldown: integer("cooldown", self.cooldown, 0, 1_000_000)?.map(|c| c as usize),
            },
            events: Vec::new(),
            unit: self.unit.as_deref().map(|u| crate::error::parse_name(u, "unit")).transpose()?.unwrap_or_default(),
            skip_explanations: false,
        })
    }
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
    /// Whether the point is an anomaly: score at or above [`ANOMALY_SCORE`] and every noise
    /// control met.
    pub is_anomaly: bool,
    /// Level from the score; `none` when not an anomaly.
    pub severity: Severity,
    /// 1-based number of the incident (run of consecutive anomalies) the point belongs to.
    pub incident_id: Option<u32>,
    /// Whether the point opens its incident (the one to alert on).
    pub incident_start: bool,
    /// One sentence saying why.
    pub explanation: String,
}

/// Maps a robust z-score to 0-100 so that `|z| == threshold` scores exactly 50, twice the
/// threshold scores about 94, and the score never saturates below infinity.
pub fn score_from_z(z: f64, threshold: f64) -> f64 {
    let ratio = z.abs() / threshold;
    100.0 * (1.0 - 0.5_f64.powf(ratio * ratio))
}
