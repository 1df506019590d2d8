//! Synthetic daily KPI data with segment-local anomalies and their ground truth.
//!
//! One row per day x channel x region x cohort. Volumes follow a multiplicative model
//! (segment base x trend x weekday effect x shared daily factor x noise); counts come from
//! binomial draws so ratios stay consistent with them (conversion = orders / sessions,
//! payment success = successful payments / orders). Each injected anomaly hits a chosen
//! *scope* (one cell, or every cell matching some dimension values) for a few days, so
//! detection and root-cause analysis can be scored against the labels.
//!
//! The data depend only on the configuration: a ChaCha generator seeded with `seed`
//! draws every random number in a fixed order.

use chrono::{Datelike, Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, StandardNormal};

use crate::error::{EngineError, Result};
use crate::frame::{Column, Table};

/// Channel values, in output order.
pub const CHANNELS: [&str; 2] = ["App", "Web"];
/// Region values, in output order.
pub const REGIONS: [&str; 4] = ["North", "South", "East", "West"];
/// Cohort values, in output order.
pub const COHORTS: [&str; 2] = ["New", "Repeat"];
/// Longest series the generator makes (ten years).
pub const MAX_DAYS: u32 = 3_660;
/// Days before the first anomaly, so detectors have history to learn from.
pub const WARM_UP_DAYS: u32 = 28;
/// Each anomaly gets its own slot of this many days, so incidents never overlap.
pub const SLOT_DAYS: u32 = 7;
/// Smallest change an anomaly makes to the all-segment daily revenue, as a fraction.
/// Anomalies are sized so they are visible in the total as well as in their segments: the
/// total's day-to-day noise is about 2%, so 12% is about five standard deviations.
pub const MIN_TOTAL_IMPACT: f64 = 0.12;
/// Scope draws before settling for the largest scope, so generation always terminates.
const MAX_SCOPE_DRAWS: usize = 200;

/// Generator settings, mirroring the SQL parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Number of days (1 to [`MAX_DAYS`]).
    pub days: u32,
    /// First day.
    pub start: NaiveDate,
    /// Random seed; equal seeds give equal data.
    pub seed: u64,
    /// Number of anomalies to inject (see [`max_anomalies`]).
    pub anomalies: u32,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            days: 180,
            start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid literal date"),
            seed: 42,
            anomalies: 8,
        }
    }
}

/// Kinds of injected anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum AnomalyKind {
    /// Sessions fall (an outage of a traffic source).
    TrafficDrop,
    /// Conversion falls (a broken checkout step).
    ConversionDrop,
    /// Payment success falls (a failing payment provider).
    PaymentFailure,
    /// Sessions and everything downstream jump for a day (a viral post, a flash sale).
    Spike,
    /// Sessions move to a new level for several days (a lost partner, a tracking change).
    LevelShift,
}

impl AnomalyKind {
    const ALL: &'static [AnomalyKind] = <Self as strum::VariantArray>::VARIANTS;

    /// Name used in the `injected_anomaly` column.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The driver the anomaly changes.
    pub fn driver(self) -> &'static str {
        match self {
            Self::TrafficDrop | Self::Spike | Self::LevelShift => "sessions",
            Self::ConversionDrop => "conversion_rate",
            Self::PaymentFailure => "payment_success_rate",
        }
    }

    fn duration(self, rng: &mut ChaCha8Rng) -> u32 {
        match self {
            Self::Spike => 1,
            Self::TrafficDrop | Self::ConversionDrop => rng.random_range(1..=2),
            Self::PaymentFailure => rng.random_range(1..=3),
            Self::LevelShift => 5,
        }
    }

    /// Relative change applied to the driver (negative for drops).
    fn magnitude(self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Self::TrafficDrop => -rng.random_range(0.40..0.65),
            Self::ConversionDrop => -rng.random_range(0.35..0.60),
            Self::PaymentFailure => -rng.random_range(0.40..0.70),
            Self::Spike => rng.random_range(1.5..3.0),
            Self::LevelShift => {
                let size = rng.random_range(0.30..0.45);
                if rng.random_bool(0.5) {
                    size
                } else {
                    -size
                }
            }
        }
    }
}

/// Which cells an anomaly hits: `None` in a dimension means every value of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// Index into [`CHANNELS`].
    pub channel: Option<usize>,
    /// Index into [`REGIONS`].
    pub region: Option<usize>,
    /// Index into [`COHORTS`].
    pub cohort: Option<usize>,
}

impl Scope {
    /// Whether the cell (channel, region, cohort indices) is inside the scope.
    pub fn contains(&self, cell: (usize, usize, usize)) -> bool {
        self.channel.is_none_or(|c| c == cell.0)
            && self.region.is_none_or(|r| r == cell.1)
            && self.cohort.is_none_or(|c| c == cell.2)
    }

    /// Human and machine readable form, e.g. `channel=App & region=South`.
    pub fn label(&self) -> String {
        let parts: Vec<String> = [
            self.channel.map(|c| format!("channel={}", CHANNELS[c])),
            self.region.map(|r| format!("region={}", REGIONS[r])),
            self.cohort.map(|c| format!("cohort={}", COHORTS[c])),
        ]
        .into_iter()
        .flatten()
        .collect();
        parts.join(" & ")
    }
}

/// One injected anomaly: the ground truth for detection and root-cause analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedAnomaly {
    /// 1-based id in order of start day.
    pub id: u32,
    /// What happened.
    pub kind: AnomalyKind,
    /// Where it happened.
    pub scope: Scope,
    /// First affected day.
    pub start: NaiveDate,
    /// Last affected day (inclusive).
    pub end: NaiveDate,
    /// Relative change applied to [`AnomalyKind::driver`] inside the scope.
    pub magnitude: f64,
    /// The scope's share of expected daily revenue, before the anomaly.
    pub revenue_share: f64,
}

/// One generated row.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiRow {
    /// Calendar day.
    pub day: NaiveDate,
    /// Channel value.
    pub channel: &'static str,
    /// Region value.
    pub region: &'static str,
    /// Cohort value.
    pub cohort: &'static str,
    /// Visits.
    pub sessions: i64,
    /// Distinct active users.
    pub dau: i64,
    /// Orders placed.
    pub orders: i64,
    /// Orders whose payment went through.
    pub successful_payments: i64,
    /// Revenue of successful payments.
    pub revenue: f64,
    /// orders / sessions; `None` when there were no sessions.
    pub conversion_rate: Option<f64>,
    /// successful_payments / orders; `None` when there were no orders.
    pub payment_success_rate: Option<f64>,
    /// Share of single-page sessions.
    pub bounce_rate: f64,
    /// Marketing spend per order; `None` when there were no orders.
    pub cac: Option<f64>,
    /// Kind of the anomaly active in this cell on this day, if any.
    pub injected_anomaly: Option<AnomalyKind>,
}

/// Generated rows and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiData {
    /// Rows ordered by day, channel, region, cohort.
    pub rows: Vec<KpiRow>,
    /// Injected anomalies ordered by start day.
    pub anomalies: Vec<InjectedAnomaly>,
}

/// How many anomalies fit in `days` days (one per slot after the warm-up).
pub fn max_anomalies(days: u32) -> u32 {
    days.saturating_sub(WARM_UP_DAYS) / SLOT_DAYS
}

type Cell = (usize, usize, usize);

fn cells() -> impl Iterator<Item = Cell> {
    (0..CHANNELS.len()).flat_map(|c| (0..REGIONS.len()).flat_map(move |r| (0..COHORTS.len()).map(move |k| (c, r, k))))
}

/// Noise-free segment parameters: the model behind the data.
struct Segment {
    sessions: f64,
    growth_per_day: f64,
    conversion: f64,
    payment_success: f64,
    order_value: f64,
    sessions_per_user: f64,
    bounce: f64,
    cost_per_session: f64,
    weekday_sessions: [f64; 7],
}

impl Segment {
    fn new((channel, region, cohort): Cell) -> Self {
        let app = channel == 0;
        let repeat = cohort == 1;
        let region_volume = [1.3, 1.0, 0.8, 0.6][region];
        let region_conversion = [1.0, 0.95, 1.05, 1.0][region];
        Self {
            sessions: if app { 60_000.0 } else { 90_000.0 } * region_volume * if repeat { 0.6 } else { 0.4 },
            growth_per_day: if app { 0.0012 } else { 0.0003 },
            conversion: if app { 0.032 } else { 0.024 } * region_conversion * if repeat { 1.3 } else { 0.75 },
            payment_success: if app { 0.93 } else { 0.955 },
            order_value: if app { 48.0 } else { 62.0 } * if repeat { 1.15 } else { 1.0 },
            sessions_per_user: if app { 1.7 } else { 1.25 },
            bounce: if app { 0.28 } else { 0.42 } + if repeat { 0.0 } else { 0.1 },
            cost_per_session: if app { 0.35 } else { 0.25 } * if repeat { 0.3 } else { 1.0 },
            weekday_sessions: if app {
                [0.95, 0.95, 0.97, 1.0, 1.05, 1.15, 1.12]
            } else {
                [1.08, 1.06, 1.04, 1.02, 0.98, 0.88, 0.86]
            },
        }
    }

    fn expected_revenue(&self) -> f64 {
        self.sessions * self.conversion * self.payment_success * self.order_value
    }
}

const WEEKDAY_CONVERSION: [f64; 7] = [1.0, 1.0, 1.0, 1.0, 1.03, 1.06, 1.04];

fn lognormal(rng: &mut ChaCha8Rng, sd: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    (sd * z).exp()
}

fn binomial(rng: &mut ChaCha8Rng, trials: i64, p: f64) -> i64 {
    let p = p.clamp(0.0, 1.0);
    match Binomial::new(trials.max(0) as u64, p) {
        Ok(dist) => dist.sample(rng) as i64,
        Err(_) => 0,
    }
}

fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Scopes an anomaly may take, from one cell to a whole dimension value.
const SCOPE_SHAPES: [(bool, bool, bool); 7] = [
    (true, false, false),
    (false, true, false),
    (false, false, true),
    (true, true, false),
    (false, true, true),
    (true, false, true),
    (true, true, true),
];

fn random_scope(rng: &mut ChaCha8Rng) -> Scope {
    let (c, r, k) = SCOPE_SHAPES[rng.random_range(0..SCOPE_SHAPES.len())];
    Scope {
        channel: c.then(|| rng.random_range(0..CHANNELS.len())),
        region: r.then(|| rng.random_range(0..REGIONS.len())),
        cohort: k.then(|| rng.random_range(0..COHORTS.len())),
    }
}

fn revenue_share(scope: &Scope, segments: &[(Cell, Segment)]) -> f64 {
    let total: f64 = segments.iter().map(|(_, s)| s.expected_revenue()).sum();
    let inside: f64 =
        segments.iter().filter(|(cell, _)| scope.contains(*cell)).map(|(_, s)| s.expected_revenue()).sum();
    inside / total
}

/// Revenue moves roughly in proportion to the driver, so share x |change| estimates the
/// change in the total.
fn total_impact(magnitude: f64, share: f64) -> f64 {
    share * magnitude.abs()
}

fn place_anomalies(
    config: &GeneratorConfig,
    rng: &mut ChaCha8Rng,
    segments: &[(Cell, Segment)],
) -> Vec<InjectedAnomaly> {
    let slots = max_anomalies(config.days) as usize;
    let mut slot_ids: Vec<usize> = (0..slots).collect();
    // Partial Fisher-Yates: the first `anomalies` entries become a random choice of slots.
    for i in 0..config.anomalies as usize {
        let j = rng.random_range(i..slots);
        slot_ids.swap(i, j);
    }
    let mut chosen = slot_ids[..config.anomalies as usize].to_vec();
    chosen.sort_unstable();
    let kind_offset = rng.random_range(0..AnomalyKind::ALL.len());
    chosen
        .into_iter()
        .enumerate()
        .map(|(i, slot)| {
            let kind = AnomalyKind::ALL[(i + kind_offset) % AnomalyKind::ALL.len()];
            let duration = kind.duration(rng);
            let magnitude = kind.magnitude(rng);
            // Spikes may hit a single cell (they can be large); drops need a scope big
            // enough to show in the total. Redraw until the total moves enough.
            let fit = |scope: Scope| {
                let share = revenue_share(&scope, segments);
                let magnitude = if kind == AnomalyKind::Spike {
                    magnitude.max(MIN_TOTAL_IMPACT * 2.0 / share).min(12.0)
                } else {
                    magnitude
                };
                (scope, magnitude, share)
            };
            let (scope, magnitude, share) = (0..MAX_SCOPE_DRAWS)
                .map(|_| fit(random_scope(rng)))
                .find(|&(_, m, share)| total_impact(m, share) >= MIN_TOTAL_IMPACT)
                .unwrap_or_else(|| {
                    // Every cohort=Repeat cell: the largest single-value scope.
                    let (scope, m, share) = fit(Scope { channel: None, region: None, cohort: Some(1) });
                    (scope, m.signum() * (MIN_TOTAL_IMPACT / share).max(m.abs()), share)
                });
            let latest_offset = SLOT_DAYS - 1 - duration;
            let first = WARM_UP_DAYS + slot as u32 * SLOT_DAYS + rng.random_range(0..=latest_offset);
            let start = config.start + Days::new(first as u64);
            InjectedAnomaly {
                id: i as u32 + 1,
                kind,
                scope,
                start,
                end: start + Days::new(duration as u64 - 1),
                magnitude,
                revenue_share: share,
            }
        })
        .collect()
}

fn validate(config: &GeneratorConfig) -> Result<()> {
    if config.days == 0 || config.days > MAX_DAYS {
        return Err(EngineError::InvalidParameter {
            name: "days",
            expected: format!("between 1 and {MAX_DAYS}"),
            got: config.days.to_string(),
        });
    }
    let most = max_anomalies(config.days);
    if config.anomalies > most {
        return Err(EngineError::InvalidParameter {
            name: "anomalies",
            expected: format!(
                "between 0 and {most} for {} days (each needs a {SLOT_DAYS}-day slot after a \
                 {WARM_UP_DAYS}-day warm-up)",
                config.days
            ),
            got: config.anomalies.to_string(),
        });
    }
    if config.start.checked_add_days(Days::new(config.days as u64)).is_none() {
        return Err(EngineError::InvalidParameter {
            name: "start",
            expected: "a date that leaves room for the requested days".into(),
            got: config.start.to_string(),
        });
    }
    Ok(())
}

/// Generates the data set described by `config`.
pub fn generate(config: &GeneratorConfig) -> Result<KpiData> {
    validate(config)?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let segments: Vec<(Cell, Segment)> = cells().map(|cell| (cell, Segment::new(cell))).collect();
    let anomalies = place_anomalies(config, &mut rng, &segments);

    let mut rows = Vec::with_capacity(config.days as usize * segments.len());
    for d in 0..config.days {
        let day = config.start + Days::new(d as u64);
        let weekday = day.weekday().num_days_from_monday() as usize;
        let shared = lognormal(&mut rng, 0.01);
        for (cell, seg) in &segments {
            let active = anomalies.iter().find(|a| a.start <= day && day <= a.end && a.scope.contains(*cell));
            let effect = |kind: AnomalyKind| match active {
                Some(a) if a.kind == kind => 1.0 + a.magnitude,
                _ => 1.0,
            };
            let traffic =
                effect(AnomalyKind::TrafficDrop) * effect(AnomalyKind::Spike) * effect(AnomalyKind::LevelShift);
            let trend = (1.0 + seg.growth_per_day).powi(d as i32);
            let sessions =
                (seg.sessions * trend * seg.weekday_sessions[weekday] * shared * traffic * lognormal(&mut rng, 0.03))
                    .round() as i64;
            let conversion = seg.conversion
                * WEEKDAY_CONVERSION[weekday]
                * lognormal(&mut rng, 0.03)
                * effect(AnomalyKind::ConversionDrop);
            let orders = binomial(&mut rng, sessions, conversion);
            let success =
                (seg.payment_success * lognormal(&mut rng, 0.005)).min(0.995) * effect(AnomalyKind::PaymentFailure);
            let successful_payments = binomial(&mut rng, orders, success);
            let order_value = seg.order_value * lognormal(&mut rng, 0.03);
            let revenue = (successful_payments as f64 * order_value * 100.0).round() / 100.0;
            let dau = (sessions as f64 / seg.sessions_per_user * lognormal(&mut rng, 0.02)).round() as i64;
            let bounce_rate = (seg.bounce * lognormal(&mut rng, 0.03)).clamp(0.0, 1.0);
            let spend = seg.cost_per_session * seg.sessions * trend * lognormal(&mut rng, 0.05);
            rows.push(KpiRow {
                day,
                channel: CHANNELS[cell.0],
                region: REGIONS[cell.1],
                cohort: COHORTS[cell.2],
                sessions,
                dau,
                orders,
                successful_payments,
                revenue,
                conversion_rate: ratio(orders, sessions),
                payment_success_rate: ratio(successful_payments, orders),
                bounce_rate,
                cac: (orders > 0).then(|| (spend * 100.0).round() / 100.0 / orders as f64),
                injected_anomaly: active.map(|a| a.kind),
            });
        }
    }
    Ok(KpiData { rows, anomalies })
}

/// `generate_kpi_data`' settings as a front receives them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GeneratorArguments {
    /// `days`.
    pub days: Option<i64>,
    /// `start`.
    pub start: Option<NaiveDate>,
    /// `seed`.
    pub seed: Option<i64>,
    /// `anomalies`.
    pub anomalies: Option<i64>,
}

impl GeneratorArguments {
    /// The checked configuration, with defaults for what was not given.
    pub fn config(&self) -> Result<GeneratorConfig> {
        use crate::args::integer;
        let defaults = GeneratorConfig::default();
        let config = GeneratorConfig {
            days: integer("days", self.days, 1, MAX_DAYS as i64)?.map_or(defaults.days, |d| d as u32),
            start: self.start.unwrap_or(defaults.start),
            seed: integer("seed", self.seed, 0, i64::MAX)?.map_or(defaults.seed, |s| s as u64),
            anomalies: integer("anomalies", self.anomalies, 0, MAX_DAYS as i64)?
                .map_or(defaults.anomalies, |a| a as u32),
        };
        validate(&config)?;
        Ok(config)
    }
}

/// `generate_kpi_data`'s result: one row per day and segment.
pub fn data_table(data: &KpiData) -> Table {
    let rows = &data.rows;
    let text = |f: fn(&KpiRow) -> &'static str| Column::Text(rows.iter().map(|r| Some(f(r).to_string())).collect());
    let count = |f: fn(&KpiRow) -> i64| Column::BigInt(rows.iter().map(|r| Some(f(r))).collect());
    let number = |f: fn(&KpiRow) -> Option<f64>| Column::Double(rows.iter().map(f).collect());
    let col = |name: &str, values: Column| (name.to_string(), values);
    Table::new(vec![
        col("day", Column::Date(rows.iter().map(|r| Some(crate::epoch_days(r.day))).collect())),
        col("channel", text(|r| r.channel)),
        col("region", text(|r| r.region)),
        col("cohort", text(|r| r.cohort)),
        col("sessions", count(|r| r.sessions)),
        col("dau", count(|r| r.dau)),
        col("orders", count(|r| r.orders)),
        col("successful_payments", count(|r| r.successful_payments)),
        col("revenue", number(|r| Some(r.revenue))),
        col("conversion_rate", number(|r| r.conversion_rate)),
        col("payment_success_rate", number(|r| r.payment_success_rate)),
        col("bounce_rate", number(|r| Some(r.bounce_rate))),
        col("cac", number(|r| r.cac)),
        col(
            "injected_anomaly",
            Column::Text(rows.iter().map(|r| r.injected_anomaly.map(|k| k.as_str().to_string())).collect()),
        ),
    ])
}

/// `generate_kpi_anomalies`' result: the ground truth, one row per injected anomaly.
pub fn anomalies_table(data: &KpiData) -> Table {
    let list = &data.anomalies;
    let col = |name: &str, values: Column| (name.to_string(), values);
    let text = |f: &dyn Fn(&InjectedAnomaly) -> Option<String>| Column::Text(list.iter().map(f).collect());
    let day = |f: fn(&InjectedAnomaly) -> NaiveDate| {
        Column::Date(list.iter().map(|a| Some(crate::epoch_days(f(a)))).collect())
    };
    let number = |f: fn(&InjectedAnomaly) -> f64| Column::Double(list.iter().map(|a| Some(f(a))).collect());
    Table::new(vec![
        col("anomaly_id", Column::Integer(list.iter().map(|a| Some(a.id as i32)).collect())),
        col("kind", text(&|a| Some(a.kind.as_str().to_string()))),
        col("driver", text(&|a| Some(a.kind.driver().to_string()))),
        col("segment", text(&|a| Some(a.scope.label()))),
        col("channel", text(&|a| a.scope.channel.map(|i| CHANNELS[i].to_string()))),
        col("region", text(&|a| a.scope.region.map(|i| REGIONS[i].to_string()))),
        col("cohort", text(&|a| a.scope.cohort.map(|i| COHORTS[i].to_string()))),
        col("start_day", day(|a| a.start)),
        col("end_day", day(|a| a.end)),
        col("magnitude", number(|a| a.magnitude)),
        col("revenue_share", number(|a| a.revenue_share)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_gives_one_row_per_day_and_cell() {
        let data = generate(&GeneratorConfig::default()).unwrap();
        assert_eq!(data.rows.len(), 180 * 16);
        assert_eq!(data.anomalies.len(), 8);
        assert_eq!(data.rows[0].day, NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        assert_eq!((data.rows[0].channel, data.rows[0].region, data.rows[0].cohort), ("App", "North", "New"));
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let config = GeneratorConfig::default();
        assert_eq!(generate(&config).unwrap(), generate(&config).unwrap());
        let other = generate(&GeneratorConfig { seed: 7, ..config.clone() }).unwrap();
        assert_ne!(other.rows, generate(&config).unwrap().rows);
    }

    #[test]
    fn ratios_match_their_counts() {
        for row in generate(&GeneratorConfig::default()).unwrap().rows {
            assert!(row.orders <= row.sessions && row.successful_payments <= row.orders);
            assert_eq!(row.conversion_rate, Some(row.orders as f64 / row.sessions as f64));
            assert_eq!(row.payment_success_rate, ratio(row.successful_payments, row.orders));
        }
    }

    #[test]
    fn anomalies_are_segment_local_non_overlapping_and_labelled() {
        let data = generate(&GeneratorConfig { seed: 3, anomalies: 12, ..GeneratorConfig::default() }).unwrap();
        for pair in data.anomalies.windows(2) {
            assert!(pair[0].end < pair[1].start);
        }
        for a in &data.anomalies {
            assert!(a.revenue_share < 1.0, "anomaly {} hits every segment", a.id);
            assert!(a.revenue_share * a.magnitude.abs() >= MIN_TOTAL_IMPACT);
            let labelled = data
                .rows
                .iter()
                .filter(|r| r.injected_anomaly == Some(a.kind) && a.start <= r.day && r.day <= a.end)
                .count();
            let cells = cells().filter(|c| a.scope.contains(*c)).count();
            let days = (a.end - a.start).num_days() as usize + 1;
            assert_eq!(labelled, cells * days, "anomaly {} labels", a.id);
        }
        let unlabelled_days = data.rows.iter().filter(|r| r.injected_anomaly.is_none()).count();
        assert!(unlabelled_days > data.rows.len() / 2);
    }

    #[test]
    fn rejects_impossible_requests() {
        let too_many = GeneratorConfig { days: 40, anomalies: 3, ..GeneratorConfig::default() };
        let err = generate(&too_many).unwrap_err().to_string();
        assert!(err.contains("anomalies must be between 0 and 1 for 40 days"), "{err}");
        assert!(generate(&GeneratorConfig { days: 0, anomalies: 0, ..GeneratorConfig::default() }).is_err());
        let short = generate(&GeneratorConfig { days: 1, anomalies: 0, ..GeneratorConfig::default() }).unwrap();
        assert_eq!(short.rows.len(), 16);
    }

    #[test]
    fn scope_labels_read_like_filters() {
        let scope = Scope { channel: Some(0), region: Some(1), cohort: None };
        assert_eq!(scope.label(), "channel=App & region=South");
        assert!(scope.contains((0, 1, 1)) && !scope.contains((1, 1, 1)));
    }
}
