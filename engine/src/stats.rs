//! Robust statistics over small windows.
//!
//! Hand-written because the windows are tiny (tens of points) and scored once per point:
//! a crate's general quantile machinery would allocate more than it saves. NaN never reaches
//! these functions: callers drop missing values first.

/// Scale factor that makes the median absolute deviation a consistent estimator of the
/// standard deviation under normality.
pub const MAD_TO_SD: f64 = 1.482_602_218_505_602;

/// Median of `values`, reordering them in place; `None` when empty.
pub fn median_in_place(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = values[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lower + upper) / 2.0)
}

/// Median of `values` without disturbing them.
pub fn median(values: &[f64]) -> Option<f64> {
    median_in_place(&mut values.to_vec())
}

/// Robust location and scale (median, standard-deviation-equivalent spread) of `values`.
///
/// The spread is the scaled MAD; when more than half the values are identical the MAD is zero
/// and the mean absolute deviation (scaled to a standard deviation) is used instead, so a
/// mostly-flat history still yields a usable, non-zero band when it has any variation.
pub fn robust_location_scale(values: &[f64]) -> Option<(f64, f64)> {
    robust_location_scale_with(values, &mut Vec::new())
}

/// [`robust_location_scale`] reusing `scratch`, for hot loops that call it once per point.
pub fn robust_location_scale_with(values: &[f64], scratch: &mut Vec<f64>) -> Option<(f64, f64)> {
    scratch.clear();
    scratch.extend_from_slice(values);
    scratch.sort_unstable_by(f64::total_cmp);
    location_scale_of_sorted(scratch)
}

/// [`robust_location_scale`] of values sorted by `f64::total_cmp`. Read outwards from the
/// median, the deviations from it form two sorted runs, so their median is an order
/// statistic of two sorted sequences: two binary searches, no copy, no selection.
fn location_scale_of_sorted(sorted: &[f64]) -> Option<(f64, f64)> {
    let n = sorted.len();
    let mid = n / 2;
    let middle = |k: &dyn Fn(usize) -> f64| if n % 2 == 1 { k(mid) } else { (k(mid - 1) + k(mid)) / 2.0 };
    let upper = *sorted.get(mid)?;
    let center = if n % 2 == 1 { upper } else { (sorted[mid - 1] + upper) / 2.0 };
    let deviation = |v: f64| (v - center).abs();
    let split = sorted.partition_point(|v| v.total_cmp(&center).is_lt());
    let (below, above) = sorted.split_at(split);
    let left = |j: usize| deviation(below[below.len() - 1 - j]);
    let right = |j: usize| deviation(above[j]);
    let mad = middle(&|k| kth_of_two(&left, below.len(), &right, above.len(), k)) * MAD_TO_SD;
    if mad > 0.0 {
        return Some((center, mad));
    }
    let mean_abs = sorted.iter().map(|&v| deviation(v)).sum::<f64>() / n as f64;
    Some((center, mean_abs * (std::f64::consts::PI / 2.0).sqrt()))
}

/// The `k`-th smallest (from 0) of two ascending sequences `a` (`na` items) and `b` (`nb`),
/// `k < na + nb`: the number `j` taken from `a` is the first at which `a[j]` is no smaller
/// than the `b` item it would displace.
fn kth_of_two(a: &dyn Fn(usize) -> f64, na: usize, b: &dyn Fn(usize) -> f64, nb: usize, k: usize) -> f64 {
    let (mut lo, mut hi) = ((k + 1).saturating_sub(nb), (k + 1).min(na));
    while lo < hi {
        let j = (lo + hi) / 2;
        if a(j).total_cmp(&b(k - j)).is_lt() {
            lo = j + 1;
        } else {
            hi = j;
        }
    }
    let from_a = lo.checked_sub(1).map(a);
    let from_b = (lo <= k).then(|| b(k - lo));
    match (from_a, from_b) {
        (Some(x), Some(y)) => x.max(y),
        (x, y) => x.or(y).expect("k is below na + nb"),
    }
}

/// The last `capacity` values of a stream, kept sorted, so that [`robust_location_scale`]
/// over a sliding window costs one insertion and one removal per step instead of copying
/// and partitioning the window (the detectors' windows reach thousands of points on
/// 5-minute data). Gives exactly what [`robust_location_scale`] gives on the same values.
#[derive(Debug, Clone, Default)]
pub struct SlidingWindow {
    capacity: usize,
    arrival: std::collections::VecDeque<f64>,
    sorted: Vec<f64>,
}

impl SlidingWindow {
    /// An empty window of at most `capacity` values.
    pub fn new(capacity: usize) -> Self {
        SlidingWindow { capacity, ..SlidingWindow::default() }
    }

    /// Adds `value`, dropping the oldest value when the window is full.
    pub fn push(&mut self, value: f64) {
        let at = self.sorted.partition_point(|v| v.total_cmp(&value).is_lt());
        self.sorted.insert(at, value);
        self.arrival.push_back(value);
        if self.arrival.len() > self.capacity {
            let oldest = self.arrival.pop_front().expect("longer than the capacity");
            let at = self.sorted.partition_point(|v| v.total_cmp(&oldest).is_lt());
            self.sorted.remove(at);
        }
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// [`robust_location_scale`] of the values held.
    pub fn location_scale(&self) -> Option<(f64, f64)> {
        location_scale_of_sorted(&self.sorted)
    }
}

/// 1-based ranks of `n` items in the order `cmp` gives them (the first is rank 1); ties keep
/// the items' own order.
pub fn ranks(n: usize, mut cmp: impl FnMut(usize, usize) -> std::cmp::Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
    let mut ranks = vec![0; n];
    for (rank, i) in order.into_iter().enumerate() {
        ranks[i] = rank + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_order_and_ties_keep_the_item_order() {
        let keys: [f64; 4] = [3.0, 1.0, 3.0, 2.0];
        assert_eq!(ranks(4, |a, b| keys[a].total_cmp(&keys[b])), vec![3, 1, 4, 2]);
        assert!(ranks(0, |_, _| std::cmp::Ordering::Equal).is_empty());
    }

    /// The definition: median, then the median of the absolute deviations from it.
    fn by_definition(values: &[f64]) -> Option<(f64, f64)> {
        let center = median(values)?;
        let deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
        let mad = median(&deviations)? * MAD_TO_SD;
        let mean_abs = deviations.iter().sum::<f64>() / values.len() as f64;
        Some((center, if mad > 0.0 { mad } else { mean_abs * (std::f64::consts::PI / 2.0).sqrt() }))
    }

    #[test]
    fn the_sliding_window_agrees_with_the_definition_at_every_step() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for capacity in [1, 2, 3, 8, 57, 300] {
            let mut window = SlidingWindow::new(capacity);
            let mut all = Vec::new();
            for step in 0..1_500 {
                // Ties, flat stretches, signed zeros and outliers: where a median goes wrong.
                let value = match rng.random_range(0..6) {
                    0 => 5.0,
                    1 => -0.0,
                    2 => 0.0,
                    3 => rng.random_range(-1e6..1e6),
                    _ => rng.random_range(0..4) as f64,
                };
                window.push(value);
                all.push(value);
                let held = &all[all.len().saturating_sub(capacity)..];
                assert_eq!(window.len(), held.len());
                let (center, scale) = window.location_scale().unwrap();
                let (want_center, want_scale) = by_definition(held).unwrap();
                assert_eq!(center, want_center, "step {step}, capacity {capacity}");
                assert!((scale - want_scale).abs() <= 1e-9 * want_scale.abs(), "step {step}: {scale} vs {want_scale}");
                assert_eq!(robust_location_scale(held), window.location_scale());
            }
        }
        assert_eq!(SlidingWindow::new(4).location_scale(), None);
    }

    #[test]
    fn median_of_odd_and_even_lengths() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn scale_ignores_a_single_outlier() {
        let (center, scale) = robust_location_scale(&[10.0, 11.0, 9.0, 10.0, 1000.0]).unwrap();
        assert_eq!(center, 10.0);
        assert!(scale < 2.0, "scale {scale}");
    }

    #[test]
    fn scale_falls_back_when_mad_is_zero() {
        let (_, scale) = robust_location_scale(&[5.0, 5.0, 5.0, 5.0, 9.0]).unwrap();
        assert!(scale > 0.0);
        let (_, flat) = robust_location_scale(&[5.0; 4]).unwrap();
        assert_eq!(flat, 0.0);
    }
}
