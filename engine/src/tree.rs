//! The decision-tree view of root causes: which dimension values separate anomalous rows from
//! normal ones, as a small tree the viewer can draw.
//!
//! A CART classification tree with Gini impurity over categorical dimensions. Each split sends a
//! set of a dimension's values left and the rest right; for a binary target the best such set
//! is always a prefix of the values ordered by anomaly rate (Breiman et al., 1984), so a split
//! search is one sort and one pass per dimension.
//!
//! Written by hand: linfa-trees 0.8 (the crate the original design named) misses splits inside subtrees when
//! features have tied values, which categorical codes always do. Its split search walks the
//! presorted order of *all* rows and skips rows outside the subtree before comparing a row's
//! value with the next one, so the boundary between two groups of equal values is never tried
//! when the group's last row lies in another subtree (verified on a 2 x 4 grid: it would not
//! split `region=South` by channel). Jitter hides that, but then splits cut categories by row
//! order.
use crate::error::{EngineError, Result};
use std::collections::BTreeMap;

/// Smallest relative impurity decrease worth a split.
const MIN_RELATIVE_GAIN: f64 = 0.01;

/// One node of the fitted tree, in depth-first order (root first).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based id, depth-first.
    pub id: usize,
    /// Parent's id; `None` for the root.
    pub parent: Option<usize>,
    /// Root is 0.
    pub depth: usize,
    /// The condition on the edge from the parent, e.g. `region IN ('South')`; empty for the root.
    pub rule: String,
    /// All conditions from the root, joined with `AND`.
    pub path: String,
    /// Rows reaching the node.
    pub samples: usize,
    /// Anomalous rows among them.
    pub anomalous: usize,
    /// Gini impurity of the node.
    pub impurity: f64,
    /// Whether the node is a leaf.
    pub is_leaf: bool,
}

impl Node {
    /// Share of anomalous rows in the node.
    pub fn share(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.anomalous as f64 / self.samples as f64
        }
    }
}

/// A fitted tree: its nodes and each dimension's importance (summing to 1 when any split).
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    /// Nodes, depth-first.
    pub nodes: Vec<Node>,
    /// `(dimension, importance)` in input order.
    pub importances: Vec<(String, f64)>,
}

fn gini(anomalous: usize, samples: usize) -> f64 {
    if samples == 0 {
        return 0.0;
    }
    let p = anomalous as f64 / samples as f64;
    2.0 * p * (1.0 - p)
}

/// The tree's input: a combination of dimension values, how many of its rows are labelled,
/// and how many rows it stands for. Fronts pass counts per distinct combination (what a
/// `GROUP BY` gives), so the tree's work grows with the combinations, not the rows.
pub type Counts = (Vec<String>, usize, usize);

/// The best split of `members` on one dimension: (weighted child impurity, values sent left).
fn best_split(rows: &[Counts], members: &[usize], dimension: usize) -> Option<(f64, Vec<String>)> {
    let mut stats: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for &i in members {
        let entry = stats.entry(rows[i].0[dimension].as_str()).or_default();
        entry.0 += rows[i].1;
        entry.1 += rows[i].2;
    }
    let mut values: Vec<(&str, usize, usize)> = stats.into_iter().map(|(v, (a, n))| (v, a, n)).collect();
    // A value with no rows (counts of zero) sorts with rate 0, not NaN.
    let rate = |a: usize, n: usize| if n == 0 { 0.0 } else { a as f64 / n as f64 };
    values.sort_by(|a, b| rate(a.1, a.2).total_cmp(&rate(b.1, b.2)).then(a.0.cmp(b.0)));
    let (total_anomalous, total) = values.iter().fold((0, 0), |(a, n), v| (a + v.1, n + v.2));
    let (mut left_anomalous, mut left) = (0, 0);
    let mut best: Option<(f64, usize)> = None;
    for (k, &(_, a, n)) in values.iter().enumerate().take(values.len().saturating_sub(1)) {
        left_anomalous += a;
        left += n;
        let right = total - left;
        let score = (left as f64 * gini(left_anomalous, left)
            + right as f64 * gini(total_anomalous - left_anomalous, right))
            / total as f64;
        if best.is_none_or(|(b, _)| score < b - 1e-12) {
            best = Some((score, k + 1));
        }
    }
    best.map(|(score, k)| (score, values[..k].iter().map(|v| v.0.to_string()).collect()))
}

fn in_list(dimension: &str, values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect();
    format!("{dimension} IN ({})", quoted.join(", "))
}

/// Fits a tree of at most `max_depth` levels separating the labelled rows.
pub fn fit(dimensions: &[String], rows: &[Counts], max_depth: usize) -> Result<Tree> {
    if !(1..=8).contains(&max_depth) {
        return Err(EngineError::InvalidParameter {
            name: "max_depth",
            expected: "between 1 and 8".into(),
            got: max_depth.to_string(),
        });
    }
    let anomalous = |members: &[usize]| members.iter().map(|&i| rows[i].1).sum::<usize>();
    let samples = |members: &[usize]| members.iter().map(|&i| rows[i].2).sum::<usize>();
    let mut nodes = Vec::new();
    let mut decrease = vec![0.0; dimensions.len()];
    struct Frame {
        members: Vec<usize>,
        parent: Option<usize>,
        depth: usize,
        rule: String,
        path: String,
    }
    let mut stack = vec![Frame {
        members: (0..rows.len()).collect(),
        parent: None,
        depth: 0,
        rule: String::new(),
        path: String::new(),
    }];
    while let Some(frame) = stack.pop() {
        let id = nodes.len() + 1;
        let (hits, size) = (anomalous(&frame.members), samples(&frame.members));
        let impurity = gini(hits, size);
        // Best split over all dimensions, if it lowers the impurity.
        let split = (frame.depth < max_depth && impurity > 0.0)
            .then(|| {
                (0..dimensions.len())
                    .filter_map(|d| best_split(rows, &frame.members, d).map(|(score, left)| (score, d, left)))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
            })
            .flatten()
            // A split must lower the node's impurity by at least 1%: smaller gains split noise.
            .filter(|(score, _, _)| *score < impurity * (1.0 - MIN_RELATIVE_GAIN));
        nodes.push(Node {
            id,
            parent: frame.parent,
            depth: frame.depth,
            rule: frame.rule,
            path: frame.path.clone(),
            samples: size,
            anomalous: hits,
            impurity,
            is_leaf: split.is_none(),
        });
        let Some((score, d, left_values)) = split else { continue };
        decrease[d] += size as f64 * (impurity - score);
        let left_values: std::collections::HashSet<&str> = left_values.iter().map(String::as_str).collect();
        let (left, right): (Vec<usize>, Vec<usize>) =
            frame.members.iter().partition(|&&i| left_values.contains(rows[i].0[d].as_str()));
        for members in [right, left] {
            let mut present: Vec<&str> = members.iter().map(|&i| rows[i].0[d].as_str()).collect();
            present.sort_unstable();
            present.dedup();
            let rule = in_list(&dimensions[d], &present);
            let path = if frame.path.is_empty() { rule.clone() } else { format!("{} AND {rule}", frame.path) };
            // Pushed right first, so the left (lower anomaly rate) branch is numbered first.
            stack.push(Frame { members, parent: Some(id), depth: frame.depth + 1, rule, path });
        }
    }
    let total: f64 = decrease.iter().sum();
    let importances = dimensions
        .iter()
        .zip(&decrease)
        .map(|(name, d)| (name.clone(), if total > 0.0 { d / total } else { 0.0 }))
        .collect();
    Ok(Tree { nodes, importances })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five rows of each channel x region, as one count per row.
    fn rows(anomalous: impl Fn(&str, &str) -> bool) -> Vec<Counts> {
        let mut out = Vec::new();
        for channel in ["App", "Web"] {
            for region in ["North", "South", "East", "West"] {
                for _ in 0..5 {
                    out.push((
                        vec![channel.to_string(), region.to_string()],
                        usize::from(anomalous(channel, region)),
                        1,
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn counts_per_combination_fit_the_same_tree_as_their_rows() {
        let label = |c: &str, r: &str| c == "App" && r == "South" || r == "West" && c == "Web";
        let one_per_row = rows(label);
        let mut summed: Vec<Counts> = Vec::new();
        for (key, a, n) in one_per_row.iter().cloned() {
            match summed.iter_mut().find(|s| s.0 == key) {
                Some(s) => (s.1, s.2) = (s.1 + a, s.2 + n),
                None => summed.push((key, a, n)),
            }
        }
        assert_eq!(summed.len(), 8);
        assert_eq!(fit(&dims(), &one_per_row, 3).unwrap(), fit(&dims(), &summed, 3).unwrap());
    }

    fn dims() -> Vec<String> {
        vec!["channel".into(), "region".into()]
    }

    #[test]
    fn finds_a_categorical_combination() {
        let tree = fit(&dims(), &rows(|c, r| c == "App" && r == "South"), 3).unwrap();
        let pure_leaf = tree.nodes.iter().find(|n| n.is_leaf && n.anomalous > 0).unwrap();
        assert_eq!(pure_leaf.share(), 1.0);
        assert_eq!(pure_leaf.samples, 5);
        assert!(
            pure_leaf.path.contains("channel IN ('App')") && pure_leaf.path.contains("region IN ('South')"),
            "{}",
            pure_leaf.path
        );
        assert!(tree.nodes.iter().filter(|n| n.is_leaf && n.anomalous > 0).count() == 1);
        let total: f64 = tree.importances.iter().map(|(_, i)| i).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }

    #[test]
    fn groups_values_into_one_split() {
        let tree = fit(&dims(), &rows(|_, r| r == "South" || r == "West"), 2).unwrap();
        assert_eq!(tree.nodes[0].samples, 40);
        let split = &tree.nodes[1..];
        assert!(split.iter().any(|n| n.rule == "region IN ('South', 'West')" && n.share() == 1.0), "{split:?}");
        assert_eq!(tree.importances[0].1, 0.0);
    }

    #[test]
    fn nothing_to_separate_gives_a_single_leaf() {
        let tree = fit(&dims(), &rows(|_, _| false), 3).unwrap();
        assert_eq!(tree.nodes.len(), 1);
        assert!(tree.nodes[0].is_leaf && tree.nodes[0].anomalous == 0);
        assert!(fit(&dims(), &[], 3).unwrap().nodes[0].samples == 0);
        assert!(fit(&dims(), &rows(|_, _| true), 0).is_err());
    }
}
