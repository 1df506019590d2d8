//! Scoring flags against labels: point-wise precision, recall and F1, and the point-adjusted
//! variant common in anomaly-detection papers (a labelled run counts as fully detected when
//! any of its points is flagged; false alarms count as usual).

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
