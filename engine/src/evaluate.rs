//! Scoring flags against labels: point-wise precision, recall and F1, and the point-adjusted
//! variant common in anomaly-detection papers (a labelled run counts as fully detected when
//! any of its points is flagged; false alarms count as usual).

use crate::detect::{detect_many, DetectConfig, Method, SeriesRef};
use crate::error::Result;

/// Confusion counts and the scores derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    /// Flagged and labelled.
    pub tp: u64,
    /// Flagged, not labelled.
    pub fp: u64,
    /// Labelled, not flagged.
    pub fn_: u64,
    /// Neither.
    pub tn: u64,
    /// True positives after point adjustment.
    pub pa_tp: u64,
    /// False negatives after point adjustment.
    pub pa_fn: u64,
}

impl std::ops::AddAssign for Scores {
    /// Pools the counts of another series (micro-averaging).
    fn add_assign(&mut self, other: Self) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.tn += other.tn;
        self.pa_tp += other.pa_tp;
        self.pa_fn += other.pa_fn;
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

impl Scores {
    /// Counts over one series in time order.
    pub fn of(flags: &[bool], labels: &[bool]) -> Self {
        let mut scores = Self::default();
        for (flag, label) in flags.iter().zip(labels) {
            match (flag, label) {
                (true, true) => scores.tp += 1,
                (true, false) => scores.fp += 1,
                (false, true) => scores.fn_ += 1,
                (false, false) => scores.tn += 1,
            }
        }
        let mut start = 0;
        while start < labels.len() {
            if !labels[start] {
                start += 1;
                continue;
            }
            let end = (start..labels.len()).find(|&i| !labels[i]).unwrap_or(labels.len());
            let run = (end - start) as u64;
            if flags[start..end].iter().any(|f| *f) {
                scores.pa_tp += run;
            } else {
                scores.pa_fn += run;
            }
            start = end;
        }
        scores
    }

    /// tp / (tp + fp); `None` without flags.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); `None` without labels.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// 2 tp / (2 tp + fp + fn); `None` with neither flags nor labels.
    pub fn f1(&self) -> Option<f64> {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// F1 after point adjustment.
    pub fn point_adjusted_f1(&self) -> Option<f64> {
        ratio(2 * self.pa_tp, 2 * self.pa_tp + self.fp + self.pa_fn)
    }
}

/// One detection method's scores against the labels, pooled over every series.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorScore {
    /// The method.
    pub method: Method,
    /// Counts and scores.
    pub scores: Scores,
    /// 1 = highest F1 (ties: higher point-adjusted F1, then the order of [`Method::ALL`]);
    /// methods without an F1 rank last.
    pub rank: usize,
}

/// A labelled series: timestamps, values and labels as for [`crate::detect::detect`].
pub type LabelledSeries<'a> = (&'a [i64], &'a [Option<f64>], &'a [bool]);

/// Runs every detection method over `series` with the rest of `config` and scores its flags
/// against the labels (micro-averaged over the series).
pub fn compare_detectors(series: &[LabelledSeries<'_>], config: &DetectConfig) -> Result<Vec<DetectorScore>> {
    let refs: Vec<SeriesRef<'_>> = series.iter().map(|(ts, values, _)| (*ts, *values)).collect();
    let mut out = Vec::with_capacity(Method::ALL.len());
    for &method in Method::ALL {
        let mut scores = Scores::default();
        let verdicts = detect_many(&refs, &DetectConfig { method, ..config.clone() });
        for ((_, _, labels), verdicts) in series.iter().zip(verdicts) {
            let flags: Vec<bool> = verdicts?.iter().map(|d| d.is_anomaly).collect();
            scores += Scores::of(&flags, labels);
        }
        out.push(DetectorScore { method, scores, rank: 0 });
    }
    let key = |s: &DetectorScore| (s.scores.f1().unwrap_or(-1.0), s.scores.point_adjusted_f1().unwrap_or(-1.0));
    let ranks = crate::stats::ranks(out.len(), |a, b| {
        let (ka, kb) = (key(&out[a]), key(&out[b]));
        kb.0.total_cmp(&ka.0).then(kb.1.total_cmp(&ka.1))
    });
    for (score, rank) in out.iter_mut().zip(ranks) {
        score.rank = rank;
    }
    Ok(out)
}

/// A set of root-cause elements written as text, as Squeeze and RiskLoc label them and as
/// [`crate::rca::Segment::label`] prints them: elements separated by `;`, each a set of `dim=value` pairs
/// joined by `&` (spaces ignored). Duplicates collapse.
pub fn parse_cause_set(text: &str) -> std::collections::BTreeSet<std::collections::BTreeSet<String>> {
    text.split(';')
        .map(|element| element.split('&').map(|pair| pair.trim().replace(' ', "")).filter(|p| !p.is_empty()).collect())
        .filter(|element: &std::collections::BTreeSet<String>| !element.is_empty())
        .collect()
}

/// Micro-averaged match counts of predicted against labelled cause sets: an element is a true
/// positive only when it equals a labelled element exactly (the Squeeze / RiskLoc convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetMatch {
    /// Predicted elements that are labelled.
    pub tp: u64,
    /// Predicted elements that are not.
    pub fp: u64,
    /// Labelled elements not predicted.
    pub fn_: u64,
}

impl SetMatch {
    /// Adds one case.
    pub fn add(&mut self, predicted: &str, label: &str) {
        let (predicted, label) = (parse_cause_set(predicted), parse_cause_set(label));
        let tp = predicted.intersection(&label).count() as u64;
        self.tp += tp;
        self.fp += predicted.len() as u64 - tp;
        self.fn_ += label.len() as u64 - tp;
    }

    /// Micro precision: the share of predicted elements that are labelled; `None` when nothing
    /// was predicted.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }

    /// Micro recall: the share of labelled elements that were predicted; `None` when nothing is
    /// labelled.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Micro F1; `None` when there is nothing to score.
    pub fn f1(&self) -> Option<f64> {
        let denominator = 2 * self.tp + self.fp + self.fn_;
        (denominator > 0).then(|| 2.0 * self.tp as f64 / denominator as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_sets_match_exactly_and_ignore_formatting() {
        let mut m = SetMatch::default();
        m.add("channel=App & region=South; cohort=New", "region=South&channel=App;channel=Web");
        assert_eq!((m.tp, m.fp, m.fn_), (1, 1, 1));
        m.add("", "");
        assert_eq!(m.f1(), Some(0.5));
        assert_eq!((m.precision(), m.recall()), (Some(0.5), Some(0.5)));
        assert_eq!(SetMatch::default().f1(), None);
        assert_eq!((SetMatch::default().precision(), SetMatch::default().recall()), (None, None));
    }

    #[test]
    fn counts_points_and_adjusts_runs() {
        let labels = [false, true, true, true, false, true, false];
        let flags = [true, false, true, false, false, false, false];
        let s = Scores::of(&flags, &labels);
        assert_eq!((s.tp, s.fp, s.fn_, s.tn), (1, 1, 3, 2));
        // The first run (3 points) is hit once, so all 3 count; the second run is missed.
        assert_eq!((s.pa_tp, s.pa_fn), (3, 1));
        assert_eq!(s.precision(), Some(0.5));
        assert_eq!(s.recall(), Some(0.25));
        assert_eq!(s.f1(), Some(2.0 / 6.0));
        assert_eq!(s.point_adjusted_f1(), Some(6.0 / 8.0));
    }

    #[test]
    fn empty_and_label_free_series_have_undefined_scores() {
        let s = Scores::of(&[], &[]);
        assert_eq!((s.precision(), s.recall(), s.f1()), (None, None, None));
        let quiet = Scores::of(&[false, false], &[false, false]);
        assert_eq!(quiet.tn, 2);
        assert_eq!(quiet.f1(), None);
    }

    #[test]
    fn every_detector_is_scored_and_ranked_by_f1() {
        let day = crate::MICROS_PER_DAY;
        let ts: Vec<i64> = (0..200).map(|d| d * day).collect();
        let mut values: Vec<Option<f64>> = (0..200)
            .map(|d| Some(100.0 + [0.0, 4.0, 2.0, 3.0, 6.0, 15.0, 12.0][d % 7] + ((d * 37) % 11) as f64 * 0.3))
            .collect();
        let mut labels = vec![false; 200];
        for d in [120, 150, 180] {
            values[d] = values[d].map(|v| v * 1.6);
            labels[d] = true;
        }
        let scores = compare_detectors(&[(&ts, &values, &labels)], &DetectConfig::default()).expect("valid series");
        assert_eq!(scores.len(), Method::ALL.len());
        let mut ranks: Vec<usize> = scores.iter().map(|s| s.rank).collect();
        ranks.sort_unstable();
        assert_eq!(ranks, (1..=Method::ALL.len()).collect::<Vec<_>>());
        let best = scores.iter().find(|s| s.rank == 1).expect("a first rank");
        assert!(scores.iter().all(|s| s.scores.f1().unwrap_or(0.0) <= best.scores.f1().unwrap_or(0.0)));
        assert_eq!(best.scores.tp + best.scores.fn_, 3, "three labelled days");
        assert!(best.scores.f1().unwrap_or(0.0) > 0.5, "{best:?}");
    }
}
