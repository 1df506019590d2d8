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
    let center = median_in_place(scratch)?;
    for v in scratch.iter_mut() {
        *v = (*v - center).abs();
    }
    let mad = median_in_place(scratch)? * MAD_TO_SD;
    if mad > 0.0 {
        return Some((center, mad));
    }
    let mean_abs = scratch.iter().sum::<f64>() / scratch.len() as f64;
    Some((center, mean_abs * (std::f64::consts::PI / 2.0).sqrt()))
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
