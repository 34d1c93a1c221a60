//! The order `terraform apply` makes the changes in: a graph of create, update and
//! delete nodes with the edges Terraform draws from references ("Resource Graph",
//! developer.hashicorp.com/terraform/internals/graph):
//! - a create or update runs after the creates and updates of what it references;
//! - a delete runs after the deletes of what references it (dependents go first);
//! - a replace (`["delete","create"]`) deletes first; with `create_before_destroy`
//!   (`["create","delete"]`) it creates first, and the old object is deleted after the
//!   dependents were updated to the new one.
//!
//! [decision] Terraform runs independent nodes in parallel; vpcsim applies them one at a
//! time: deletes, then updates, then creates, each in `resource_changes` order (which
//! Terraform sorts by address). The output says so.

use std::collections::{BTreeMap, BTreeSet};

use super::changes::Phase;
use super::plan_json::{config_address, split_reference, ConfigRefs, ResourceChange};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    pub phase: Phase,
    pub rc: usize,
}

/// What each change's resource depends on (config addresses): configuration
/// references and `depends_on`, or for resources gone from the configuration, the
/// `depends_on` the prior state recorded.
pub fn dependencies(
    changes: &[ResourceChange],
    refs: &ConfigRefs,
    prior_depends: &BTreeMap<String, Vec<String>>,
) -> Vec<BTreeSet<String>> {
    changes
        .iter()
        .map(|rc| {
            let ca = config_address(&rc.address);
            let mut d = refs.depends.get(&ca).cloned().unwrap_or_default();
            if let Some(p) = prior_depends.get(&rc.address) {
                d.extend(p.iter().filter_map(|x| split_reference(x)).map(|x| x.0));
            }
            d.remove(&ca);
            d
        })
        .collect()
}

/// The nodes of the plan in apply order, and whether a cycle had to be broken.
pub fn order(changes: &[ResourceChange], deps: &[BTreeSet<String>]) -> (Vec<Node>, bool) {
    let mut nodes: Vec<Node> = vec![];
    // (before, after) pairs.
    let mut edges: Vec<(Node, Node)> = vec![];
    let mut of: BTreeMap<String, Vec<Node>> = BTreeMap::new();
    for (i, rc) in changes.iter().enumerate() {
        if rc.mode != "managed" {
            continue;
        }
        let a: Vec<&str> = rc.change.actions.iter().map(String::as_str).collect();
        let (c, d, u) = (
            Node {
                phase: Phase::Create,
                rc: i,
            },
            Node {
                phase: Phase::Delete,
                rc: i,
            },
            Node {
                phase: Phase::Update,
                rc: i,
            },
        );
        let mine = match a.as_slice() {
            ["create"] => vec![c],
            ["delete"] => vec![d],
            ["update"] => vec![u],
            ["delete", "create"] => {
                edges.push((d, c));
                vec![d, c]
            }
            ["create", "delete"] => {
                edges.push((c, d));
                vec![c, d]
            }
            _ => vec![],
        };
        nodes.extend(&mine);
        of.entry(config_address(&rc.address))
            .or_default()
            .extend(mine);
    }
    for (i, rc) in changes.iter().enumerate() {
        for dep in &deps[i] {
            let Some(theirs) = of.get(dep) else { continue };
            let mine: Vec<Node> = of
                .get(&config_address(&rc.address))
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n.rc == i)
                .collect();
            for m in &mine {
                for t in theirs {
                    match (m.phase, t.phase) {
                        (Phase::Create | Phase::Update, Phase::Create | Phase::Update) => {
                            edges.push((*t, *m))
                        }
                        // I depend on them: I am deleted before they are.
                        (Phase::Delete, Phase::Delete) => edges.push((*m, *t)),
                        // Their old object goes after I moved to their new one
                        // (create_before_destroy).
                        (Phase::Create | Phase::Update, Phase::Delete)
                            if changes[t.rc].change.actions.first().map(String::as_str)
                                == Some("create") =>
                        {
                            edges.push((*m, *t))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    // Kahn's algorithm, the ready node with the smallest (phase, index) first.
    let mut indeg: BTreeMap<Node, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    let mut out_edges: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
    for (a, b) in &edges {
        if a == b || !indeg.contains_key(a) || !indeg.contains_key(b) {
            continue;
        }
        out_edges.entry(*a).or_default().push(*b);
        *indeg.entry(*b).or_default() += 1;
    }
    let mut ready: BTreeSet<Node> = indeg
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut done = vec![];
    while let Some(n) = ready.pop_first() {
        done.push(n);
        for m in out_edges.get(&n).cloned().unwrap_or_default() {
            if let Some(d) = indeg.get_mut(&m) {
                *d -= 1;
                if *d == 0 {
                    ready.insert(m);
                }
            }
        }
    }
    let cycle = done.len() < nodes.len();
    if cycle {
        let mut rest: Vec<Node> = nodes.into_iter().filter(|n| !done.contains(n)).collect();
        rest.sort();
        done.extend(rest);
    }
    (done, cycle)
}
