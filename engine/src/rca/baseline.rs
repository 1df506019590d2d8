//! What a time step is compared with, and the leaves that comparison yields from rows over
//! time.

use super::Leaves;
use crate::MICROS_PER_DAY;

/// Which earlier times a time-based comparison uses as its baseline. Times are microseconds
/// since the Unix epoch; "same weekday" and "previous days" keep the time of day, so they fit
/// daily, weekly and hourly data alike (an hour is compared with the same hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The same time of day on each of the N days before.
    PreviousDays(u32),
    /// The same time of the week in each of the N weeks before.
    SameWeekday(u32),
    /// Every time in a fixed span (inclusive).
    Range(i64, i64),
}

impl Baseline {
    /// Parses `previous_7d` or `same_weekday_4w`.
    pub fn parse(name: &str) -> crate::error::Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "previous_7d" => Ok(Self::PreviousDays(7)),
            "same_weekday_4w" => Ok(Self::SameWeekday(4)),
            _ => Err(crate::EngineError::InvalidParameter {
                name: "baseline",
                expected: "one of previous_7d, same_weekday_4w".into(),
                got: format!("'{name}'"),
            }),
        }
    }

    /// The baseline a call asks for: a `name`, or a span from `start` to `end` (microseconds;
    /// an `end` at midnight names its whole day, as a DATE does); neither gives the same time
    /// of the week over four weeks, which refresh and the viewer use.
    pub fn from_arguments(name: Option<&str>, start: Option<i64>, end: Option<i64>) -> crate::error::Result<Self> {
        use crate::EngineError::InvalidSettings;
        match (name, start, end) {
            (None, Some(start), Some(end)) if start <= end => {
                if end.saturating_sub(start) >= 3660 * MICROS_PER_DAY {
                    return Err(InvalidSettings { reason: "the baseline range spans more than 3660 days" });
                }
                let end =
                    if end.rem_euclid(MICROS_PER_DAY) == 0 { end.saturating_add(MICROS_PER_DAY - 1) } else { end };
                Ok(Self::Range(start, end))
            }
            (None, Some(_), Some(_)) => {
                Err(InvalidSettings { reason: "baseline_start must not be after baseline_end" })
            }
            (None, Some(_), None) | (None, None, Some(_)) => Err(InvalidSettings {
                reason: "give both baseline_start and baseline_end, or baseline := 'previous_7d'",
            }),
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                Err(InvalidSettings { reason: "give either baseline or baseline_start/baseline_end, not both" })
            }
            (Some(name), None, None) => Self::parse(name),
            (None, None, None) => Ok(Self::SameWeekday(4)),
        }
    }

    /// The baseline times for `test`, oldest first; `None` for a span (any time inside it).
    pub fn times(self, test: i64) -> Option<Vec<i64>> {
        const WEEK: i64 = 7 * MICROS_PER_DAY;
        let back = |n: u32, step: i64| (1..=i64::from(n)).rev().map(|k| test.saturating_sub(k * step)).collect();
        match self {
            Self::PreviousDays(n) => Some(back(n, MICROS_PER_DAY)),
            Self::SameWeekday(n) => Some(back(n, WEEK)),
            Self::Range(..) => None,
        }
    }

    /// Whether `t` is a baseline time for `test`.
    pub fn includes(self, t: i64, test: i64) -> bool {
        match self {
            Self::Range(start, end) => (start..=end).contains(&t) && t != test,
            other => other.times(test).is_some_and(|times| times.contains(&t)),
        }
    }
}

/// Values per leaf and time step: the input of time-based root-cause analysis.
#[derive(Debug, Clone, Default)]
pub struct TimedLeaves {
    /// Dimension names.
    pub dimensions: Vec<String>,
    /// Each distinct leaf's dimension values, in the order first seen.
    keys: Vec<Vec<String>>,
    /// Per row: the leaf (an index into `keys`), time (microseconds), numerator, denominator
    /// (ratio KPIs).
    rows: Vec<(u32, i64, f64, Option<f64>)>,
    /// Leaf of each key, for rows that do not come grouped by leaf.
    lookup: std::collections::HashMap<Vec<String>, u32>,
}

impl TimedLeaves {
    /// No rows yet, over these dimensions.
    pub fn new(dimensions: Vec<String>) -> Self {
        Self { dimensions, ..Self::default() }
    }

    /// From rows of (dimension values, time, numerator, denominator).
    pub fn from_rows(
        dimensions: Vec<String>,
        rows: impl IntoIterator<Item = (Vec<String>, i64, f64, Option<f64>)>,
    ) -> Self {
        let mut timed = Self::new(dimensions);
        for (key, t, num, den) in rows {
            timed.push(key.iter().map(String::as_str), t, num, den);
        }
        timed
    }

    /// Adds a row. `key` is the leaf's dimension values, borrowed: rows that come grouped by
    /// leaf (a reader's sorted batches) copy a leaf's text once, when it first appears.
    pub fn push<'a>(&mut self, key: impl IntoIterator<Item = &'a str> + Clone, t: i64, num: f64, den: Option<f64>) {
        let same = |k: &Vec<String>| k.iter().map(String::as_str).eq(key.clone());
        let leaf = match self.rows.last() {
            Some(&(last, ..)) if same(&self.keys[last as usize]) => last,
            _ => {
                let owned: Vec<String> = key.into_iter().map(str::to_string).collect();
                let next = self.keys.len() as u32;
                *self.lookup.entry(owned.clone()).or_insert_with(|| {
                    self.keys.push(owned);
                    next
                })
            }
        };
        self.rows.push((leaf, t, num, den));
    }

    /// Whether the KPI is a ratio (rows carry denominators).
    pub fn is_ratio(&self) -> bool {
        self.rows.first().is_some_and(|r| r.3.is_some())
    }

    /// The KPI per time step over all leaves, in time order: the sum, or the ratio of sums.
    pub fn totals(&self) -> Vec<(i64, Option<f64>)> {
        let mut by_time: std::collections::BTreeMap<i64, [f64; 2]> = std::collections::BTreeMap::new();
        for (_, t, num, den) in &self.rows {
            let entry = by_time.entry(*t).or_insert([0.0; 2]);
            entry[0] += num;
            entry[1] += den.unwrap_or(0.0);
        }
        let ratio = self.is_ratio();
        by_time
            .into_iter()
            .map(|(t, [num, den])| (t, if ratio { (den > 0.0).then(|| num / den) } else { Some(num) }))
            .collect()
    }

    /// Leaves comparing `test` with the median of each leaf's values over the baseline
    /// times: one unusual baseline time (an earlier anomaly) must not make the test look odd.
    /// Baseline times without a row for a leaf are skipped. Leaves come in key order.
    pub fn compare(&self, test: i64, baseline: Baseline) -> Leaves {
        /// Test (numerator, denominator), and the baseline's numerators and denominators.
        #[derive(Default)]
        struct Cell([f64; 2], Vec<f64>, Vec<f64>);
        let mut cells: Vec<Option<Cell>> = Vec::new();
        cells.resize_with(self.keys.len(), || None);
        let times = baseline.times(test);
        for &(leaf, t, num, den) in &self.rows {
            let on_test = t == test;
            let in_baseline = match &times {
                Some(times) => times.contains(&t),
                None => baseline.includes(t, test),
            };
            if !on_test && !in_baseline {
                continue;
            }
            let cell = cells[leaf as usize].get_or_insert_with(Cell::default);
            if on_test {
                cell.0[0] += num;
                cell.0[1] += den.unwrap_or(0.0);
            } else {
                cell.1.push(num);
                cell.2.push(den.unwrap_or(0.0));
            }
        }
        let mut order: Vec<usize> = (0..self.keys.len()).filter(|&k| cells[k].is_some()).collect();
        order.sort_by(|&a, &b| self.keys[a].cmp(&self.keys[b]));
        let cells: Vec<(&Vec<String>, Cell)> =
            order.into_iter().filter_map(|k| cells[k].take().map(|cell| (&self.keys[k], cell))).collect();
        let median = |v: &[f64]| crate::stats::median(v).unwrap_or(0.0);
        let mut builder = super::LeavesBuilder::new(self.dimensions.clone());
        let ratio = self.is_ratio();
        for (key, cell) in &cells {
            let (keys, numerators) = (key.iter().map(String::as_str), [median(&cell.1), cell.0[0]]);
            if ratio {
                builder.push_ratio(keys, numerators, [median(&cell.2), cell.0[1]]);
            } else {
                builder.push(keys, numerators[0], numerators[1]);
            }
        }
        builder.finish()
    }
}
