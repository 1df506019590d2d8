//! What-if over a KPI driver tree, and the same tree splitting an observed change.
//!
//! A driver tree says how a KPI is made of others, multiplicatively (`revenue = sessions x
//! conversion_rate x payment_success_rate x aov`); it is data, so other trees are a value away.
//! A scenario moves some leaves ("levers") by relative amounts and recomputes every node. The
//! change of the root is split among the levers in proportion to the log of each lever's
//! factor: for a product that split is exact and independent of the order in which the levers
//! are applied (it is the Shapley split of the log change).

use crate::error::{EngineError, Result};
use std::collections::BTreeMap;

/// A node: a leaf (no drivers) or the product of its drivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverNode {
    /// KPI name.
    pub name: String,
    /// The KPIs it is the product of; empty for a leaf.
    pub drivers: Vec<String>,
}

/// A multiplicative driver tree; the first node is the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverTree {
    /// Nodes, root first.
    pub nodes: Vec<DriverNode>,
}

impl DriverTree {
    /// The default tree, revenue = sessions x conversion_rate x payment_success_rate x aov,
    /// through its intermediate KPIs: `orders = sessions x conversion_rate`,
    /// `successful_payments = orders x payment_success_rate`, `revenue = successful_payments x aov`.
    pub fn revenue() -> Self {
        let node = |name: &str, drivers: &[&str]| DriverNode {
            name: name.into(),
            drivers: drivers.iter().map(|d| d.to_string()).collect(),
        };
        Self {
            nodes: vec![
                node("revenue", &["successful_payments", "aov"]),
                node("successful_payments", &["orders", "payment_success_rate"]),
                node("orders", &["sessions", "conversion_rate"]),
                node("sessions", &[]),
                node("conversion_rate", &[]),
                node("payment_success_rate", &[]),
                node("aov", &[]),
            ],
        }
    }

    /// A tree from `(node, parent)` rows, as a user keeps it in a table: exactly one row has no
    /// parent (the root), every parent is itself a node, and every node hangs off the root.
    /// Each inner node is the product of the nodes naming it as parent.
    pub fn from_edges(edges: &[(String, Option<String>)]) -> Result<Self> {
        let invalid = |expected: &str, got: String| EngineError::InvalidParameter {
            name: "tree",
            expected: expected.into(),
            got,
        };
        if edges.is_empty() || edges.len() > 200 {
            return Err(invalid("1 to 200 nodes", format!("{} rows", edges.len())));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (node, _) in edges {
            if node.trim().is_empty() || !seen.insert(node.as_str()) {
                return Err(invalid("unique, non-empty node names", format!("'{node}'")));
            }
        }
        let roots: Vec<&str> = edges.iter().filter(|(_, p)| p.is_none()).map(|(n, _)| n.as_str()).collect();
        let [root] = roots.as_slice() else {
            return Err(invalid("exactly one node without a parent (the root)", format!("{} such nodes", roots.len())));
        };
        if let Some((node, Some(parent))) =
            edges.iter().find(|(_, p)| p.as_ref().is_some_and(|p| !seen.contains(p.as_str())))
        {
            return Err(invalid("every parent to be a node of the tree", format!("'{node}' has parent '{parent}'")));
        }
        // Breadth-first from the root: root first, and anything not reached is in a cycle.
        let mut order = vec![root.to_string()];
        let mut at = 0;
        while at < order.len() {
            let children =
                edges.iter().filter(|(_, p)| p.as_deref() == Some(order[at].as_str())).map(|(n, _)| n.clone());
            order.extend(children.collect::<Vec<_>>());
            at += 1;
        }
        if order.len() != edges.len() {
            let stray = edges.iter().find(|(n, _)| !order.contains(n)).map(|(n, _)| n.clone()).unwrap_or_default();
            return Err(invalid("every node to hang off the root (no cycles)", format!("'{stray}' does not")));
        }
        let nodes = order
            .into_iter()
            .map(|name| {
                let drivers =
                    edges.iter().filter(|(_, p)| p.as_deref() == Some(name.as_str())).map(|(n, _)| n.clone()).collect();
                DriverNode { name, drivers }
            })
            .collect();
        Ok(Self { nodes })
    }

    /// Leaf names, in node order.
    pub fn leaves(&self) -> Vec<&str> {
        self.nodes.iter().filter(|n| n.drivers.is_empty()).map(|n| n.name.as_str()).collect()
    }

    fn value(&self, name: &str, leaves: &BTreeMap<String, f64>, depth: usize) -> Result<f64> {
        if depth > self.nodes.len() {
            return Err(EngineError::InvalidParameter { name: "tree", expected: "no cycles".into(), got: name.into() });
        }
        let node = self.nodes.iter().find(|n| n.name == name).ok_or_else(|| EngineError::InvalidParameter {
            name: "tree",
            expected: "every driver defined as a node".into(),
            got: format!("'{name}' is missing"),
        })?;
        if node.drivers.is_empty() {
            return leaves.get(name).copied().ok_or_else(|| EngineError::InvalidParameter {
                name: "baseline",
                expected: "a value for every leaf".into(),
                got: format!("none for '{name}'"),
            });
        }
        node.drivers.iter().map(|d| self.value(d, leaves, depth + 1)).product()
    }

    /// Every node's value given the leaves'.
    pub fn evaluate(&self, leaves: &BTreeMap<String, f64>) -> Result<Vec<(String, f64)>> {
        self.nodes.iter().map(|n| Ok((n.name.clone(), self.value(&n.name, leaves, 0)?))).collect()
    }
}

/// One node of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRow {
    /// KPI.
    pub kpi: String,
    /// Value before.
    pub baseline: f64,
    /// Value in the scenario.
    pub scenario: f64,
    /// The lever's relative change, for levers.
    pub lever: Option<f64>,
    /// For levers: their part of the root's change, in the root's units.
    pub contribution: Option<f64>,
}

/// Splits `total` (the root's change) among factors by the log of each: exact for products.
fn log_split(factors: &[(String, f64)], total: f64) -> Vec<(String, f64)> {
    let logs: Vec<f64> = factors.iter().map(|(_, f)| f.ln()).collect();
    let sum: f64 = logs.iter().sum();
    factors
        .iter()
        .zip(&logs)
        .map(|((name, _), l)| (name.clone(), if sum.abs() > 1e-15 { total * l / sum } else { 0.0 }))
        .collect()
}

/// Runs a scenario: `levers` maps leaf names to relative changes (-0.1 = 10% down).
pub fn simulate(
    tree: &DriverTree,
    baseline: &BTreeMap<String, f64>,
    levers: &BTreeMap<String, f64>,
) -> Result<Vec<ScenarioRow>> {
    let leaves = tree.leaves();
    for (name, change) in levers {
        if !leaves.contains(&name.as_str()) {
            return Err(EngineError::InvalidParameter {
                name: "levers",
                expected: format!("changes of the tree's leaves ({})", leaves.join(", ")),
                got: format!("'{name}'"),
            });
        }
        if !(change.is_finite() && *change > -1.0) {
            return Err(EngineError::InvalidParameter {
                name: "levers",
                expected: "relative changes above -1 (-0.1 = 10% down)".into(),
                got: format!("{name} = {change}"),
            });
        }
    }
    let mut moved = baseline.clone();
    for (name, change) in levers {
        if let Some(v) = moved.get_mut(name) {
            *v *= 1.0 + change;
        }
    }
    let before = tree.evaluate(baseline)?;
    let after = tree.evaluate(&moved)?;
    let root_change = after[0].1 - before[0].1;
    let factors: Vec<(String, f64)> = levers.iter().map(|(n, c)| (n.clone(), 1.0 + c)).collect();
    let split: BTreeMap<String, f64> = log_split(&factors, root_change).into_iter().collect();
    Ok(before
        .into_iter()
        .zip(after)
        .map(|((kpi, baseline), (_, scenario))| ScenarioRow {
            lever: levers.get(&kpi).copied(),
            contribution: split.get(&kpi).copied(),
            kpi,
            baseline,
            scenario,
        })
        .collect())
}

/// Splits an observed change of the root between two states of the leaves among the leaves.
pub fn decompose(
    tree: &DriverTree,
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> Result<Vec<(String, f64)>> {
    let total = tree.evaluate(after)?[0].1 - tree.evaluate(before)?[0].1;
    let factors: Vec<(String, f64)> = tree
        .leaves()
        .into_iter()
        .map(|leaf| {
            let (b, a) = (before.get(leaf).copied().unwrap_or(0.0), after.get(leaf).copied().unwrap_or(0.0));
            (leaf.to_string(), if b > 0.0 && a > 0.0 { a / b } else { 1.0 })
        })
        .collect();
    Ok(log_split(&factors, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline() -> BTreeMap<String, f64> {
        [("sessions", 1000.0), ("conversion_rate", 0.05), ("payment_success_rate", 0.9), ("aov", 50.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn scenario_recomputes_every_node_and_splits_the_change_exactly() {
        let levers: BTreeMap<String, f64> =
            [("conversion_rate".to_string(), -0.1), ("sessions".to_string(), 0.05)].into_iter().collect();
        let rows = simulate(&DriverTree::revenue(), &baseline(), &levers).unwrap();
        assert_eq!(rows[0].kpi, "revenue");
        assert!((rows[0].baseline - 2250.0).abs() < 1e-9);
        assert!((rows[0].scenario - 2250.0 * 0.9 * 1.05).abs() < 1e-9);
        let orders = rows.iter().find(|r| r.kpi == "orders").unwrap();
        assert!((orders.scenario - 1050.0 * 0.045).abs() < 1e-9);
        let split: f64 = rows.iter().filter_map(|r| r.contribution).sum();
        assert!((split - (rows[0].scenario - rows[0].baseline)).abs() < 1e-9);
        let conversion = rows.iter().find(|r| r.kpi == "conversion_rate").unwrap();
        assert!(conversion.contribution.unwrap() < 0.0 && conversion.lever == Some(-0.1));
    }

    #[test]
    fn levers_must_be_leaves_above_minus_one() {
        let tree = DriverTree::revenue();
        let bad = |name: &str, change: f64| {
            let levers: BTreeMap<String, f64> = [(name.to_string(), change)].into_iter().collect();
            simulate(&tree, &baseline(), &levers).unwrap_err().to_string()
        };
        assert!(bad("orders", 0.1).contains("leaves (sessions, conversion_rate, payment_success_rate, aov)"));
        assert!(bad("sessions", -1.0).contains("above -1"));
    }

    fn edges(rows: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        rows.iter().map(|(n, p)| (n.to_string(), p.map(str::to_string))).collect()
    }

    #[test]
    fn a_tree_from_edges_evaluates_like_the_built_in_one() {
        let tree = DriverTree::from_edges(&edges(&[
            ("sessions", Some("orders")),
            ("revenue", None),
            ("aov", Some("revenue")),
            ("successful_payments", Some("revenue")),
            ("orders", Some("successful_payments")),
            ("payment_success_rate", Some("successful_payments")),
            ("conversion_rate", Some("orders")),
        ]))
        .unwrap();
        assert_eq!(tree.nodes[0].name, "revenue");
        let mut leaves = tree.leaves();
        leaves.sort_unstable();
        assert_eq!(leaves, ["aov", "conversion_rate", "payment_success_rate", "sessions"]);
        let ours = tree.evaluate(&baseline()).unwrap();
        let builtin = DriverTree::revenue().evaluate(&baseline()).unwrap();
        assert!((ours[0].1 - builtin[0].1).abs() < 1e-9);
    }

    #[test]
    fn malformed_trees_are_refused_with_the_reason() {
        let err = |rows: &[(&str, Option<&str>)]| DriverTree::from_edges(&edges(rows)).unwrap_err().to_string();
        assert!(err(&[("a", None), ("b", None)]).contains("exactly one node without a parent"));
        assert!(err(&[("a", None), ("b", Some("zz"))]).contains("'b' has parent 'zz'"));
        assert!(err(&[("a", None), ("b", Some("c")), ("c", Some("b"))]).contains("no cycles"));
        assert!(err(&[("a", None), ("a", Some("a"))]).contains("unique"));
        assert!(err(&[]).contains("1 to 200 nodes"));
    }

    #[test]
    fn observed_change_is_split_among_the_drivers() {
        let mut after = baseline();
        after.insert("aov".into(), 55.0);
        after.insert("sessions".into(), 800.0);
        let parts = decompose(&DriverTree::revenue(), &baseline(), &after).unwrap();
        let total: f64 = parts.iter().map(|p| p.1).sum();
        assert!((total - (800.0 * 0.05 * 0.9 * 55.0 - 2250.0)).abs() < 1e-9);
        let aov = parts.iter().find(|p| p.0 == "aov").unwrap().1;
        assert!(aov > 0.0);
        assert_eq!(parts.iter().find(|p| p.0 == "conversion_rate").unwrap().1, 0.0);
    }
}
