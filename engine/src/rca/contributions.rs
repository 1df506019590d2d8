//! Each segment's part in a change: shares of an additive KPI's change, mix and rate effects
//! of a ratio KPI's.

use super::{index, Cuboid, Leaves, Segment};

/// One segment's part in a change.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The segment.
    pub segment: Segment,
    /// Baseline value (ratio KPIs: the segment's baseline ratio).
    pub baseline: f64,
    /// Actual value (ratio KPIs: the segment's actual ratio).
    pub actual: Option<f64>,
    /// `actual - baseline` (ratio KPIs: the segment's ratio change).
    pub delta: f64,
    /// Share of the total change, 1.0 = 100% (additive: delta / total delta; ratio:
    /// (mix + rate) / total ratio change). Shares within one cuboid sum to 1.
    pub contribution: f64,
    /// Ratio KPIs: change of the total ratio due to the segment's change of weight.
    pub mix_effect: Option<f64>,
    /// Ratio KPIs: change of the total ratio due to the segment's change of rate.
    pub rate_effect: Option<f64>,
    /// Adtributor's surprise: Jensen-Shannon divergence of the segment's share before and after.
    pub surprise: f64,
    /// Adtributor's explanatory power: the segment's part of the total change.
    pub explanatory_power: f64,
}

fn surprise(p: f64, q: f64) -> f64 {
    let term = |x: f64, m: f64| if x > 0.0 { x * (2.0 * x / (x + m)).log2() } else { 0.0 };
    0.5 * (term(p, q) + term(q, p))
}

fn share(part: f64, whole: f64) -> f64 {
    if whole != 0.0 {
        part / whole
    } else {
        0.0
    }
}

/// Contributions of every segment with up to `max_depth` fixed dimensions.
pub fn contributions(leaves: &Leaves, max_depth: usize) -> Vec<Contribution> {
    contributions_in(leaves, &index(leaves, max_depth))
}

/// [`contributions`] over cuboids already indexed.
pub(super) fn contributions_in(leaves: &Leaves, cuboids: &[Cuboid]) -> Vec<Contribution> {
    let (e_total, a_total) = (leaves.expected.iter().sum::<f64>(), leaves.actual.iter().sum::<f64>());
    let mut out = Vec::new();
    for cuboid in cuboids {
        let segments = (0..cuboid.count).map(|s| cuboid.segment(s));
        match &leaves.denominators {
            None => {
                for (segment, [e, a]) in segments.zip(cuboid.sums(|i| [leaves.expected[i], leaves.actual[i]])) {
                    let ep = share(a - e, a_total - e_total);
                    out.push(Contribution {
                        segment,
                        baseline: e,
                        actual: Some(a),
                        delta: a - e,
                        contribution: ep,
                        mix_effect: None,
                        rate_effect: None,
                        surprise: surprise(share(e, e_total), share(a, a_total)),
                        explanatory_power: ep,
                    });
                }
            }
            Some((de, da)) => {
                let (de_total, da_total) = (de.iter().sum::<f64>(), da.iter().sum::<f64>());
                let (r0, r1) = (share(e_total, de_total), share(a_total, da_total));
                let sums = cuboid.sums(|i| [leaves.expected[i], leaves.actual[i], de[i], da[i]]);
                for (segment, [ne, na, de_s, da_s]) in segments.zip(sums) {
                    let (w0, w1) = (share(de_s, de_total), share(da_s, da_total));
                    // A segment without baseline volume is new: its baseline rate is the total's.
                    let rate0 = if de_s > 0.0 { ne / de_s } else { r0 };
                    let rate1 = (da_s > 0.0).then(|| na / da_s);
                    // mix + rate over a cuboid sums exactly to r1 - r0 (see README).
                    let mix = (w1 - w0) * (rate0 - r0);
                    let rate = w1 * (rate1.unwrap_or(rate0) - rate0);
                    out.push(Contribution {
                        segment,
                        baseline: rate0,
                        actual: rate1,
                        delta: rate1.unwrap_or(rate0) - rate0,
                        contribution: share(mix + rate, r1 - r0),
                        mix_effect: Some(mix),
                        rate_effect: Some(rate),
                        surprise: surprise(w0, w1),
                        explanatory_power: share(mix + rate, r1 - r0),
                    });
                }
            }
        }
    }
    out
}
