//! The Numenta Anomaly Benchmark: loading the corpus and scoring detections the way NAB does.
//!
//! Scoring, per file of `n` rows: rows in the probationary period (the first
//! `min(floor(0.15 n), 750)`) are ignored. Inside a label window `[l, r]` of width `w` only the
//! earliest detection `i` counts, worth `A_TP * s(-(r - i + 1) / w) / s(-1)`; a window without
//! one costs `A_FN`. A detection outside every window is worth `A_FP * u`, where `u = -1`
//! before the first window and `u = s(|i - r'| / (w' - 1))` after one (`r'`, `w'`: the last
//! preceding window), so false alarms just after a window cost little. `s(y) = 2 / (1 +
//! e^(5y)) - 1`, and `-1` for `y > 3`.

use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use std::collections::BTreeMap;
use std::path::Path;

/// Costs of one NAB application profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Name as NAB spells it.
    pub name: &'static str,
    /// Weight of a true positive.
    pub tp: f64,
    /// Weight of a false positive.
    pub fp: f64,
    /// Weight of a missed window.
    pub fn_: f64,
}

/// NAB's three profiles.
pub const PROFILES: [Profile; 3] = [
    Profile { name: "standard", tp: 1.0, fp: 0.11, fn_: 1.0 },
    Profile { name: "reward_low_FP_rate", tp: 1.0, fp: 0.22, fn_: 1.0 },
    Profile { name: "reward_low_FN_rate", tp: 1.0, fp: 0.11, fn_: 2.0 },
];

/// One series with its label windows as inclusive row ranges.
#[derive(Debug, Clone)]
pub struct NabFile {
    /// `category/file.csv`.
    pub name: String,
    /// Each row's timestamp in microseconds, in file order (eight files repeat or step back an
    /// hour at daylight-saving changes).
    pub rows: Vec<i64>,
    /// The series a user gets from SQL (`detect_anomalies` sums the rows of one timestamp and
    /// orders by time): distinct timestamps, ascending.
    pub ts: Vec<i64>,
    /// The summed value at each of `ts`.
    pub values: Vec<f64>,
    /// For each of `ts`, the first row carrying it: where NAB scores an alert on it.
    pub row_of: Vec<usize>,
    /// Label windows, `(first row, last row)`, in order.
    pub windows: Vec<(usize, usize)>,
}

impl NabFile {
    /// The rows NAB scores for alerts on the series points `points` (in order).
    pub fn alert_rows(&self, points: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut rows: Vec<usize> = points.into_iter().map(|i| self.row_of[i]).collect();
        rows.sort_unstable();
        rows
    }
}

fn scaled_sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// Rows NAB ignores at the start of a file.
pub fn probation(rows: usize) -> usize {
    ((rows as f64 * 0.15).floor() as usize).min(750)
}

/// Raw NAB score of one file, given the rows where the detector fired (in order).
pub fn score_file(rows: usize, windows: &[(usize, usize)], detections: &[usize], profile: &Profile) -> f64 {
    let max_tp = scaled_sigmoid(-1.0);
    let skip = probation(rows);
    let mut detected = vec![false; windows.len()];
    let mut total = 0.0;
    for &i in detections.iter().filter(|&&i| i >= skip) {
        // The window holding i, or the last one ending before it.
        let after = windows.partition_point(|&(l, _)| l <= i);
        match after.checked_sub(1).map(|k| (k, windows[k])) {
            Some((k, (_, r))) if i <= r => {
                if !detected[k] {
                    detected[k] = true;
                    let w = (r - windows[k].0 + 1) as f64;
                    total += profile.tp * scaled_sigmoid(-((r - i + 1) as f64) / w) / max_tp;
                }
            }
            Some((_, (l, r))) => {
                let width = (r - l + 1) as f64;
                total += profile.fp * scaled_sigmoid((i - r) as f64 / (width - 1.0).max(1.0));
            }
            None => total -= profile.fp,
        }
    }
    total - profile.fn_ * detected.iter().filter(|d| !**d).count() as f64
}

/// Normalised corpus score: 0 for a detector that never fires, 100 for a perfect one.
pub fn normalise(raw: f64, windows: usize, profile: &Profile) -> f64 {
    let null = -profile.fn_ * windows as f64;
    let perfect = profile.tp * windows as f64;
    100.0 * (raw - null) / (perfect - null)
}

/// Parses a NAB timestamp (`2014-02-14 14:30:00`, optionally with `.000000`) to microseconds.
pub fn parse_time(text: &str) -> Result<i64> {
    let trimmed = text.trim().trim_end_matches(".000000");
    let t = NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S")
        .with_context(|| format!("bad timestamp '{text}'"))?;
    Ok(t.and_utc().timestamp_micros())
}

/// Loads every file listed in `labels/combined_windows.json` under `root`.
pub fn load_corpus(root: &Path) -> Result<Vec<NabFile>> {
    let labels_path = root.join("labels/combined_windows.json");
    let labels: BTreeMap<String, Vec<[String; 2]>> = serde_json::from_str(
        &std::fs::read_to_string(&labels_path).with_context(|| format!("reading {}", labels_path.display()))?,
    )?;
    labels
        .into_iter()
        .map(|(name, spans)| {
            let path = root.join("data").join(&name);
            let mut reader = csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
            let (mut rows, mut raw) = (Vec::new(), Vec::new());
            for record in reader.records() {
                let record = record?;
                rows.push(parse_time(&record[0])?);
                raw.push(record[1].trim().parse::<f64>().with_context(|| format!("{name}: bad value"))?);
            }
            let mut sums: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
            for (row, (t, v)) in rows.iter().zip(&raw).enumerate() {
                sums.entry(*t).or_insert((0.0, row)).0 += v;
            }
            let ts: Vec<i64> = sums.keys().copied().collect();
            let (values, row_of): (Vec<f64>, Vec<usize>) = sums.into_values().unzip();
            let windows = spans
                .iter()
                .map(|[start, end]| {
                    let (start, end) = (parse_time(start)?, parse_time(end)?);
                    let l = rows.iter().position(|&t| t >= start).unwrap_or(rows.len());
                    let r = rows.iter().rposition(|&t| t <= end).unwrap_or(0);
                    Ok((l, r))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(NabFile { name, rows, ts, values, row_of, windows })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: Profile = PROFILES[0];

    #[test]
    fn detection_at_window_start_scores_one() {
        // 1000 rows: probation 150; one window rows 500..=599.
        let score = score_file(1000, &[(500, 599)], &[500], &STANDARD);
        assert!((score - 1.0).abs() < 1e-12, "{score}");
    }

    #[test]
    fn later_detection_in_window_scores_less_and_only_the_first_counts() {
        let early = score_file(1000, &[(500, 599)], &[550], &STANDARD);
        let late = score_file(1000, &[(500, 599)], &[599], &STANDARD);
        assert!(0.0 < late && late < early && early < 1.0, "{late} {early}");
        let twice = score_file(1000, &[(500, 599)], &[550, 560], &STANDARD);
        assert_eq!(twice, early);
    }

    #[test]
    fn missed_window_costs_fn_weight() {
        assert_eq!(score_file(1000, &[(500, 599)], &[], &STANDARD), -1.0);
        assert_eq!(score_file(1000, &[(500, 599)], &[], &PROFILES[2]), -2.0);
    }

    #[test]
    fn false_positives_cost_more_far_from_a_window() {
        // Before any window: -A_FP.
        let before = score_file(1000, &[(500, 599)], &[300, 500], &STANDARD);
        assert!((before - (1.0 - 0.11)).abs() < 1e-12, "{before}");
        let just_after = score_file(1000, &[(500, 599)], &[500, 601], &STANDARD) - 1.0;
        let far_after = score_file(1000, &[(500, 599)], &[500, 990], &STANDARD) - 1.0;
        assert!(far_after < just_after && just_after < 0.0, "{far_after} {just_after}");
        assert!((far_after + 0.11).abs() < 1e-3);
    }

    #[test]
    fn probation_rows_are_ignored() {
        assert_eq!(probation(1000), 150);
        assert_eq!(probation(100_000), 750);
        assert_eq!(score_file(1000, &[(500, 599)], &[10], &STANDARD), -1.0);
    }

    #[test]
    fn normalised_score_spans_null_to_perfect() {
        assert_eq!(normalise(-116.0, 116, &STANDARD), 0.0);
        assert_eq!(normalise(116.0, 116, &STANDARD), 100.0);
    }
}
