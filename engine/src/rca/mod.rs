//! Root-cause analysis over leaves of a multi-dimensional KPI: which segments moved it.
//!
//! A *leaf* is one combination of dimension values (e.g. `channel=App, region=South,
//! cohort=New`) with an expected and an actual value; a *segment* fixes some dimensions and
//! sums the leaves under it. [`contributions`] explains a change segment by segment (additive
//! KPIs by share of the total change; ratio KPIs split exactly into mix and rate effects);
//! [`localize`] finds the smallest set of segments whose leaves hold the anomaly.
//!
//! Localisation, in the family of Squeeze / HotSpot / RiskLoc: those algorithms share the
//! observations that (1) leaves under a root cause deviate together while the others stay
//! within noise, and (2) the root cause is the most general segment whose leaves are (almost)
//! all abnormal. We use both: leaves are marked abnormal by a robust test on their relative
//! deviation (noise scale from the MAD of all deviations, so no threshold to tune per data
//! set); every segment of every cuboid is scored in one pass per cuboid; then a greedy cover
//! picks, while abnormal leaves remain, the segment covering the most of them among those
//! whose leaves are nearly all abnormal, preferring fewer fixed dimensions on ties.
//!
//! The parts: [`contributions`](contributions()) (each segment's part in a change), `localize`
//! (the root-cause set), `baseline` (what a time step is compared with, and leaves built from
//! rows over time); [`analyze`] joins the first two.

mod baseline;
mod contributions;
mod localize;
mod output;

pub use baseline::{Baseline, TimedLeaves};
pub use contributions::{contributions, Contribution};
pub use localize::{leaf_states, localize, LeafState, LocalizeConfig};
pub use output::{
    anomalies_table, contributions_table, leaves_from_runs, max_depth, timed_from_runs, top, Step, Steps,
};

use std::collections::HashMap;

/// Leaves with their dimension values coded as small integers.
#[derive(Debug, Clone, Default)]
pub struct Leaves {
    /// Dimension names, e.g. `["channel", "region"]`.
    pub dimensions: Vec<String>,
    /// Value names per dimension, in text order; `codes` index into these.
    pub values: Vec<Vec<String>>,
    /// Each leaf's value code of every dimension, leaf after leaf: leaf `i`'s code of
    /// dimension `d` is `codes[i * dimensions.len() + d]` (see [`Leaves::code`]). One flat
    /// vector, not one per leaf: an RCA call over 21,600 leaves spent most of its time in the
    /// allocator.
    pub codes: Vec<u32>,
    /// Per leaf, the expected (baseline) value; for ratio KPIs, the numerator.
    pub expected: Vec<f64>,
    /// Per leaf, the actual value; for ratio KPIs, the numerator.
    pub actual: Vec<f64>,
    /// For ratio KPIs: per leaf, the expected and actual denominators.
    pub denominators: Option<(Vec<f64>, Vec<f64>)>,
}

impl Leaves {
    /// Builds leaves from string-valued dimension columns (see [`LeavesBuilder`] for the order).
    pub fn from_rows(dimensions: Vec<String>, rows: impl IntoIterator<Item = (Vec<String>, f64, f64)>) -> Self {
        let mut builder = LeavesBuilder::new(dimensions);
        for (keys, expected, actual) in rows {
            builder.push(keys.iter().map(String::as_str), expected, actual);
        }
        builder.finish()
    }

    /// Leaf `leaf`'s value code of dimension `dimension`.
    pub fn code(&self, leaf: usize, dimension: usize) -> u32 {
        self.codes[leaf * self.dimensions.len() + dimension]
    }

    fn len(&self) -> usize {
        self.expected.len()
    }
}

/// Leaves built a row at a time from borrowed text (a reader's column buffers); a value's
/// text is copied once, when first seen. [`LeavesBuilder::finish`] puts them in key order
/// whatever order they came in, so no front needs to sort its rows first.
#[derive(Debug, Clone, Default)]
pub struct LeavesBuilder {
    leaves: Leaves,
    lookup: Vec<HashMap<String, u32>>,
    denominators: Vec<[f64; 2]>,
}

impl LeavesBuilder {
    /// No leaves yet, over these dimensions.
    pub fn new(dimensions: Vec<String>) -> Self {
        let width = dimensions.len();
        let leaves = Leaves { values: vec![Vec::new(); width], dimensions, ..Default::default() };
        Self { leaves, lookup: vec![HashMap::new(); width], denominators: Vec::new() }
    }

    /// Adds one leaf: its value of each dimension, in the dimensions' order.
    pub fn push<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>, expected: f64, actual: f64) {
        for (key, (lookup, values)) in keys.into_iter().zip(self.lookup.iter_mut().zip(&mut self.leaves.values)) {
            let code = match lookup.get(key) {
                Some(&code) => code,
                None => {
                    let code = values.len() as u32;
                    lookup.insert(key.to_string(), code);
                    values.push(key.to_string());
                    code
                }
            };
            self.leaves.codes.push(code);
        }
        self.leaves.expected.push(expected);
        self.leaves.actual.push(actual);
    }

    /// Adds one leaf of a ratio KPI: [`LeavesBuilder::push`] with the leaf's expected and
    /// actual denominators. Give either every leaf its denominators or none.
    pub fn push_ratio<'a>(
        &mut self,
        keys: impl IntoIterator<Item = &'a str>,
        numerators: [f64; 2],
        denominators: [f64; 2],
    ) {
        self.push(keys, numerators[0], numerators[1]);
        self.denominators.push(denominators);
    }

    /// The leaves in key order: each dimension's values in text order, the leaves by their
    /// values dimension after dimension (as `ORDER BY` the dimensions would give them; leaves
    /// with the same key keep their order). Segment order, and so the order of equal findings,
    /// then never depends on the order rows were read in.
    pub fn finish(self) -> Leaves {
        let Self { mut leaves, denominators, .. } = self;
        let width = leaves.dimensions.len();
        let n = leaves.len();
        for (d, values) in leaves.values.iter_mut().enumerate() {
            let mut order: Vec<u32> = (0..values.len() as u32).collect();
            order.sort_unstable_by(|&a, &b| values[a as usize].cmp(&values[b as usize]));
            let mut rank = vec![0u32; values.len()];
            for (place, &code) in order.iter().enumerate() {
                rank[code as usize] = place as u32;
            }
            let mut sorted: Vec<String> =
                order.iter().map(|&code| std::mem::take(&mut values[code as usize])).collect();
            std::mem::swap(values, &mut sorted);
            for i in 0..n {
                let code = &mut leaves.codes[i * width + d];
                *code = rank[*code as usize];
            }
        }
        let key = |i: usize| &leaves.codes[i * width..(i + 1) * width];
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| key(a).cmp(key(b)));
        let codes = order.iter().flat_map(|&i| key(i).iter().copied()).collect();
        let pick = |v: &[f64]| order.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        let ratio = (denominators.len() == n && n > 0).then(|| {
            (order.iter().map(|&i| denominators[i][0]).collect(), order.iter().map(|&i| denominators[i][1]).collect())
        });
        Leaves {
            expected: pick(&leaves.expected),
            actual: pick(&leaves.actual),
            codes,
            denominators: ratio,
            dimensions: leaves.dimensions,
            values: leaves.values,
        }
    }
}

/// A segment: the fixed `(dimension, value code)` pairs, in dimension order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Segment(pub Vec<(usize, u32)>);

impl Segment {
    /// `channel=App & region=South`.
    pub fn label(&self, leaves: &Leaves) -> String {
        let mut text = String::new();
        for (k, &(d, v)) in self.0.iter().enumerate() {
            if k > 0 {
                text.push_str(" & ");
            }
            text.push_str(&leaves.dimensions[d]);
            text.push('=');
            text.push_str(&leaves.values[d][v as usize]);
        }
        text
    }

    /// `channel, region`.
    pub fn dimension_names(&self, leaves: &Leaves) -> String {
        self.0.iter().map(|&(d, _)| leaves.dimensions[d].as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// Every subset of dimensions with 1 to `max_depth` members (the cuboids), smallest first.
fn cuboids(dimensions: usize, max_depth: usize) -> Vec<Vec<usize>> {
    let mut all: Vec<Vec<usize>> = (1u32..(1 << dimensions))
        .map(|mask| (0..dimensions).filter(|d| mask & (1 << d) != 0).collect::<Vec<_>>())
        .filter(|dims| dims.len() <= max_depth)
        .collect();
    all.sort_by_key(|dims| dims.len());
    all
}

/// One cuboid (a set of fixed dimensions): its segments in order, and each leaf's segment.
struct Cuboid {
    /// The fixed dimensions.
    dims: Vec<usize>,
    /// Each segment's value code of every fixed dimension, segment after segment.
    values: Vec<u32>,
    /// Segments (1 for the root, which fixes nothing).
    count: usize,
    /// Each leaf's segment.
    of_leaf: Vec<u32>,
}

impl Cuboid {
    fn depth(&self) -> usize {
        self.dims.len()
    }

    /// Segment `s`'s value codes, in the order of `dims`.
    fn codes(&self, s: usize) -> &[u32] {
        let depth = self.depth();
        &self.values[s * depth..(s + 1) * depth]
    }

    /// Segment `s`.
    fn segment(&self, s: usize) -> Segment {
        Segment(self.dims.iter().copied().zip(self.codes(s).iter().copied()).collect())
    }

    /// Sums of leaf quantities per segment, in segment order.
    fn sums<const N: usize>(&self, quantity: impl Fn(usize) -> [f64; N]) -> Vec<[f64; N]> {
        let mut sums = vec![[0.0; N]; self.count];
        for (i, &s) in self.of_leaf.iter().enumerate() {
            let (sum, q) = (&mut sums[s as usize], quantity(i));
            for k in 0..N {
                sum[k] += q[k];
            }
        }
        sums
    }

    /// The leaves of each segment: where each segment's run starts (one more entry than
    /// segments), and the leaf indexes segment after segment.
    fn members(&self) -> (Vec<usize>, Vec<u32>) {
        let mut starts = vec![0usize; self.count + 1];
        for &s in &self.of_leaf {
            starts[s as usize + 1] += 1;
        }
        for s in 0..self.count {
            starts[s + 1] += starts[s];
        }
        let mut next = starts.clone();
        let mut leaves = vec![0u32; self.of_leaf.len()];
        for (i, &s) in self.of_leaf.iter().enumerate() {
            leaves[next[s as usize]] = i as u32;
            next[s as usize] += 1;
        }
        (starts, leaves)
    }
}

/// Every cuboid up to `max_depth` dimensions, smallest first ([`cuboids`]' order).
///
/// Each cuboid's segment ids come from its parent's (the same dimensions but the last): a
/// leaf's key is `parent id * values of the last dimension + its value`, so ids are small
/// integers found by indexing rather than by hashing a key per leaf and cuboid (that hashing
/// was most of an RCA call), and they follow the segments' order.
fn index(leaves: &Leaves, max_depth: usize) -> Vec<Cuboid> {
    let n = leaves.len();
    let root = Cuboid { dims: Vec::new(), values: Vec::new(), count: 1, of_leaf: vec![0; n] };
    let mut built: Vec<Cuboid> = Vec::new();
    for dims in cuboids(leaves.dimensions.len(), max_depth) {
        let Some((&last, head)) = dims.split_last() else { continue };
        let parent = built.iter().find(|c| c.dims.as_slice() == head).unwrap_or(&root);
        let card = (0..n).map(|i| u64::from(leaves.code(i, last)) + 1).max().unwrap_or(0);
        let keys: Vec<u64> =
            (0..n).map(|i| u64::from(parent.of_leaf[i]) * card + u64::from(leaves.code(i, last))).collect();
        // Dense when the key space is near the number of leaves (the common case: a full or
        // nearly full grid); otherwise the distinct keys sorted.
        let space = (parent.count as u64).saturating_mul(card);
        let (distinct, of_leaf): (Vec<u64>, Vec<u32>) = if space <= 2 * n as u64 + 1024 {
            let mut id = vec![u32::MAX; space as usize];
            keys.iter().for_each(|&k| id[k as usize] = 0);
            let distinct: Vec<u64> = (0..space).filter(|&k| id[k as usize] == 0).collect();
            distinct.iter().enumerate().for_each(|(s, &k)| id[k as usize] = s as u32);
            let of_leaf = keys.iter().map(|&k| id[k as usize]).collect();
            (distinct, of_leaf)
        } else {
            let mut distinct = keys.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let of_leaf = keys.iter().map(|k| distinct.binary_search(k).unwrap_or_default() as u32).collect();
            (distinct, of_leaf)
        };
        let mut values = Vec::with_capacity(distinct.len() * dims.len());
        for &k in &distinct {
            values.extend_from_slice(parent.codes((k / card) as usize));
            values.push((k % card) as u32);
        }
        built.push(Cuboid { dims, values, count: distinct.len(), of_leaf });
    }
    built
}

/// A contribution with its verdict and rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The segment's part in the change.
    pub contribution: Contribution,
    /// Whether localisation put the segment in the root-cause set.
    pub is_root_cause: bool,
}

/// Contributions of every segment up to `max_depth`, root causes first, then by |contribution|
/// (fewer dimensions first on ties). Ratio KPIs are localised on leaf rates: each leaf's
/// baseline numerator is rescaled to its actual volume, so a change of traffic alone is not an
/// anomaly of the rate.
pub fn analyze(leaves: &Leaves, max_depth: usize) -> Vec<Finding> {
    let rescaled: Option<Vec<f64>> = leaves.denominators.as_ref().map(|(expected_den, actual_den)| {
        (0..leaves.len())
            .map(|i| {
                let e = leaves.expected[i];
                if expected_den[i] > 0.0 {
                    e / expected_den[i] * actual_den[i]
                } else {
                    e
                }
            })
            .collect()
    });
    let cuboids = index(leaves, max_depth);
    let config = LocalizeConfig { max_depth, ..LocalizeConfig::default() };
    let expected = rescaled.as_deref().unwrap_or(&leaves.expected);
    // Contributions come cuboid after cuboid, each in segment order: a segment's row is its
    // cuboid's first row plus its index.
    let mut first = Vec::with_capacity(cuboids.len());
    let mut rows = 0;
    for cuboid in &cuboids {
        first.push(rows);
        rows += cuboid.count;
    }
    let mut causes = vec![false; rows];
    for (c, s) in localize::localize_in(expected, &leaves.actual, &cuboids, &config) {
        causes[first[c] + s] = true;
    }
    let mut findings: Vec<Finding> = contributions::contributions_in(leaves, &cuboids)
        .into_iter()
        .zip(causes)
        .map(|(contribution, is_root_cause)| Finding { is_root_cause, contribution })
        .collect();
    findings.sort_by(|a, b| {
        b.is_root_cause
            .cmp(&a.is_root_cause)
            .then(b.contribution.contribution.abs().total_cmp(&a.contribution.contribution.abs()))
            .then(a.contribution.segment.0.len().cmp(&b.contribution.segment.0.len()))
    });
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MICROS_PER_DAY;

    #[test]
    fn the_cuboid_index_groups_leaves_as_their_keys_do() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // Dense grids and sparse ones (few leaves over many values: the sorted-keys path).
        for (leaf_count, values) in [(200, [3u32, 4, 2, 5]), (40, [1000, 900, 3, 7000]), (1, [1, 1, 1, 1])] {
            let rows: Vec<(Vec<String>, f64, f64)> = (0..leaf_count)
                .map(|_| {
                    let key = values.iter().map(|&v| format!("v{}", rng.random_range(0..v))).collect();
                    (key, rng.random_range(0.0..10.0), rng.random_range(0.0..10.0))
                })
                .collect();
            let leaves = Leaves::from_rows(vec!["a".into(), "b".into(), "c".into(), "d".into()], rows);
            for (cuboid, dims) in index(&leaves, 3).iter().zip(cuboids(4, 3)) {
                let mut expected: std::collections::BTreeMap<Vec<u32>, f64> = Default::default();
                for i in 0..leaves.len() {
                    *expected.entry(dims.iter().map(|&d| leaves.code(i, d)).collect()).or_default() += leaves.actual[i];
                }
                let segments: Vec<Vec<u32>> = (0..cuboid.count).map(|s| cuboid.codes(s).to_vec()).collect();
                assert_eq!(segments, expected.keys().cloned().collect::<Vec<_>>(), "{dims:?}");
                assert_eq!(cuboid.dims, dims);
                assert!((0..cuboid.count).all(|s| cuboid.segment(s).0.iter().map(|p| p.0).eq(dims.iter().copied())));
                for (s, sum) in cuboid.sums(|i| [leaves.actual[i]]).iter().zip(expected.values()) {
                    assert!((s[0] - sum).abs() < 1e-9);
                }
                for i in 0..leaves.len() {
                    let key: Vec<u32> = dims.iter().map(|&d| leaves.code(i, d)).collect();
                    assert_eq!(segments[cuboid.of_leaf[i] as usize], key);
                }
            }
        }
    }

    #[test]
    fn leaves_come_in_key_order_whatever_order_they_were_pushed_in() {
        let rows = [("b", "y", 1.0), ("a", "z", 2.0), ("b", "x", 3.0), ("a", "x", 4.0)];
        let build = |order: &[usize]| {
            let mut builder = LeavesBuilder::new(vec!["d".into(), "e".into()]);
            for &k in order {
                let (d, e, v) = rows[k];
                builder.push_ratio([d, e], [v, 10.0 * v], [100.0 * v, 1000.0 * v]);
            }
            builder.finish()
        };
        let leaves = build(&[0, 1, 2, 3]);
        assert_eq!(
            leaves.values,
            vec![vec!["a".to_string(), "b".into()], vec!["x".to_string(), "y".into(), "z".into()]]
        );
        // (a, x), (a, z), (b, x), (b, y): each leaf's denominators move with it.
        assert_eq!(leaves.codes, vec![0, 0, 0, 2, 1, 0, 1, 1]);
        assert_eq!(leaves.expected, vec![4.0, 2.0, 3.0, 1.0]);
        assert_eq!(leaves.actual, vec![40.0, 20.0, 30.0, 10.0]);
        assert_eq!(leaves.denominators, Some((vec![400.0, 200.0, 300.0, 100.0], vec![4000.0, 2000.0, 3000.0, 1000.0])));
        let shuffled = build(&[3, 1, 0, 2]);
        assert_eq!(
            (shuffled.values, shuffled.codes, shuffled.expected, shuffled.denominators),
            (leaves.values, leaves.codes, leaves.expected, leaves.denominators)
        );
    }

    /// 3 x 4 x 2 leaves of 100 each, with the listed (segment predicate, factor) applied.
    fn grid(change: impl Fn(&[u32]) -> f64) -> Leaves {
        let mut rows = Vec::new();
        for a in 0..3u32 {
            for b in 0..4u32 {
                for c in 0..2u32 {
                    let codes = [a, b, c];
                    let noise = 1.0 + 0.002 * f64::from((a * 7 + b * 3 + c) % 5);
                    rows.push((
                        vec![format!("a{a}"), format!("b{b}"), format!("c{c}")],
                        100.0,
                        100.0 * noise * change(&codes),
                    ));
                }
            }
        }
        Leaves::from_rows(vec!["a".into(), "b".into(), "c".into()], rows)
    }

    #[test]
    fn localizes_a_single_dimension_value() {
        let leaves = grid(|c| if c[0] == 1 { 0.5 } else { 1.0 });
        let found: Vec<String> =
            localize(&leaves, &LocalizeConfig::default()).iter().map(|s| s.label(&leaves)).collect();
        assert_eq!(found, ["a=a1"]);
    }

    #[test]
    fn localizes_a_combination_and_a_second_element() {
        let leaves = grid(|c| if (c[0] == 2 && c[1] == 3) || c[2] == 1 && c[1] == 0 { 1.8 } else { 1.0 });
        let mut found: Vec<String> =
            localize(&leaves, &LocalizeConfig::default()).iter().map(|s| s.label(&leaves)).collect();
        found.sort();
        assert_eq!(found, ["a=a2 & b=b3", "b=b0 & c=c1"]);
    }

    #[test]
    fn nothing_abnormal_means_no_root_cause() {
        let leaves = grid(|_| 1.0);
        assert!(localize(&leaves, &LocalizeConfig::default()).is_empty());
    }

    #[test]
    fn additive_contributions_of_a_dimension_sum_to_one() {
        let leaves = grid(|c| if c[0] == 1 { 0.5 } else { 1.0 });
        let rows = contributions(&leaves, 2);
        for dims in [vec![0usize], vec![1], vec![0, 1]] {
            let sum: f64 = rows
                .iter()
                .filter(|r| r.segment.0.iter().map(|p| p.0).collect::<Vec<_>>() == dims)
                .map(|r| r.contribution)
                .sum();
            assert!((sum - 1.0).abs() < 1e-9, "{dims:?}: {sum}");
        }
        let a1 = rows.iter().find(|r| r.segment.label(&leaves) == "a=a1").unwrap();
        assert!(a1.contribution > 0.9 && a1.surprise > 0.0);
    }

    /// Leaves of a x b x c (2 x 4 x 2) with a deterministic +-8% scatter and `change(codes)`
    /// on top.
    fn noisy_grid(change: impl Fn(&[u32]) -> f64) -> Leaves {
        let mut rows = Vec::new();
        for (k, (a, b, c)) in (0..2).flat_map(|a| (0..4).flat_map(move |b| (0..2).map(move |c| (a, b, c)))).enumerate()
        {
            let expected = 1000.0 * (1 + b) as f64 * if c == 1 { 3.0 } else { 1.0 };
            let scatter = [0.08, -0.07, 0.05, -0.08, 0.02, -0.03, 0.07, -0.05][k % 8];
            let actual = expected * (1.0 + scatter) * (1.0 + change(&[a, b, c]));
            rows.push((vec![format!("a{a}"), format!("b{b}"), format!("c{c}")], expected, actual));
        }
        Leaves::from_rows(vec!["a".into(), "b".into(), "c".into()], rows)
    }

    #[test]
    fn a_change_of_half_the_cells_within_leaf_noise_is_still_localised() {
        // +35% on a=a1 (8 of 16 leaves), each leaf within about 5 times the scatter.
        let leaves = noisy_grid(|c| if c[0] == 1 { 0.35 } else { 0.0 });
        let causes = localize(&leaves, &LocalizeConfig::default());
        assert_eq!(causes.iter().map(|s| s.label(&leaves)).collect::<Vec<_>>(), ["a=a1"]);
        // No change at all: no cause, however the noise falls.
        assert!(localize(&noisy_grid(|_| 0.0), &LocalizeConfig::default()).is_empty());
    }

    #[test]
    fn a_child_holding_most_of_its_parents_volume_is_named_not_the_parent() {
        // a=a1 & c=c1 holds 75% of a=a1's volume; only it moved.
        let leaves = noisy_grid(|c| if c[0] == 1 && c[2] == 1 { -0.6 } else { 0.0 });
        let causes = localize(&leaves, &LocalizeConfig::default());
        assert_eq!(causes.iter().map(|s| s.label(&leaves)).collect::<Vec<_>>(), ["a=a1 & c=c1"]);
    }

    #[test]
    fn baselines_pick_their_times_keeping_the_time_of_day() {
        const D: i64 = MICROS_PER_DAY;
        assert_eq!(Baseline::PreviousDays(3).times(100 * D), Some(vec![97 * D, 98 * D, 99 * D]));
        assert_eq!(Baseline::SameWeekday(2).times(100 * D), Some(vec![86 * D, 93 * D]));
        let hour = 3_600_000_000;
        assert_eq!(Baseline::SameWeekday(1).times(100 * D + 5 * hour), Some(vec![93 * D + 5 * hour]));
        assert!(Baseline::Range(5 * D, 7 * D).includes(6 * D, 100 * D));
        assert!(!Baseline::Range(5 * D, 7 * D).includes(8 * D, 100 * D));
        assert!(Baseline::parse("last_year").unwrap_err().to_string().contains("previous_7d"));
    }

    #[test]
    fn timed_rows_in_any_order_give_the_same_leaves_in_key_order() {
        const D: i64 = MICROS_PER_DAY;
        let row = |k: &str, day: i64, v: f64| (vec![k.to_string(), "x".to_string()], day * D, v, None);
        let ordered = vec![row("a", 1, 1.0), row("a", 2, 2.0), row("b", 1, 5.0), row("b", 2, 7.0), row("c", 2, 9.0)];
        let shuffled =
            vec![ordered[4].clone(), ordered[2].clone(), ordered[0].clone(), ordered[3].clone(), ordered[1].clone()];
        let dims = || vec!["k".to_string(), "j".to_string()];
        let (a, b) = (TimedLeaves::from_rows(dims(), ordered), TimedLeaves::from_rows(dims(), shuffled));
        let (a, b) = (a.compare(2 * D, Baseline::PreviousDays(1)), b.compare(2 * D, Baseline::PreviousDays(1)));
        assert_eq!(a.values, vec![vec!["a".to_string(), "b".into(), "c".into()], vec!["x".to_string()]]);
        assert_eq!((a.values, a.codes, a.expected, a.actual), (b.values, b.codes, b.expected, b.actual));
    }

    #[test]
    fn time_comparison_uses_the_median_baseline_value() {
        const D: i64 = MICROS_PER_DAY;
        let key = |s: &str| vec![s.to_string()];
        let rows = vec![
            (key("A"), D, 10.0, None),
            (key("A"), 2 * D, 1000.0, None), // an earlier anomaly in the baseline
            (key("A"), 3 * D, 12.0, None),
            (key("A"), 4 * D, 5.0, None),
            (key("B"), 4 * D, 7.0, None),
        ];
        let timed = TimedLeaves::from_rows(vec!["d".into()], rows);
        let leaves = timed.compare(4 * D, Baseline::PreviousDays(3));
        assert_eq!(leaves.expected, vec![12.0, 0.0]);
        assert_eq!(leaves.actual, vec![5.0, 7.0]);
        assert_eq!(
            timed.totals(),
            vec![(D, Some(10.0)), (2 * D, Some(1000.0)), (3 * D, Some(12.0)), (4 * D, Some(12.0))]
        );
        let spanned = timed.compare(4 * D, Baseline::Range(D, 3 * D));
        assert_eq!(spanned.expected, vec![12.0, 0.0]);
    }

    #[test]
    fn ratio_mix_and_rate_effects_add_up_to_the_total_change() {
        // Two channels: conversion = orders / sessions. App's rate drops; Web gains traffic.
        let mut leaves = Leaves::from_rows(
            vec!["channel".into()],
            vec![(vec!["App".into()], 30.0, 15.0), (vec!["Web".into()], 20.0, 24.0)],
        );
        leaves.denominators = Some((vec![1000.0, 1000.0], vec![1000.0, 1200.0]));
        let rows = contributions(&leaves, 1);
        let (r0, r1) = (50.0 / 2000.0, 39.0 / 2200.0);
        let total: f64 = rows.iter().map(|r| r.mix_effect.unwrap() + r.rate_effect.unwrap()).sum();
        assert!((total - (r1 - r0)).abs() < 1e-12, "{total} vs {}", r1 - r0);
        let shares: f64 = rows.iter().map(|r| r.contribution).sum();
        assert!((shares - 1.0).abs() < 1e-9);
        let app = &rows[0];
        assert!(app.rate_effect.unwrap() < 0.0 && app.contribution > 0.5);
    }
}
