//! What the graph says in a few lines: object descriptions, paths from roots, the summary
//! that reports and dump commands print.

use super::*;

/// The node under the graph's root that a BFS path to `v` starts from (its root group is
/// [`ObjectGraph::root_groups`]); `None` when unreachable.
pub(super) fn root_top(g: &ObjectGraph, v: Node) -> Option<Node> {
    if !g.is_reachable(v) {
        return None;
    }
    let mut cur = v;
    while g.parent()[cur as usize] != g.root() && g.parent()[cur as usize] != NONE {
        cur = g.parent()[cur as usize];
    }
    Some(cur)
}

/// Describes an object: its type when known, address, size and allocation site.
pub fn describe(g: &ObjectGraph, v: Node) -> String {
    let (a, size) = (g.addr(v), g.size(v));
    let typed = match g.type_of.get(v) {
        NONE => String::new(),
        t => format!("{} ", g.type_names[t as usize]),
    };
    match g.site_of.get(v) {
        NONE => format!("{typed}{a:#x} ({size} B)"),
        s => format!(
            "{typed}{a:#x} ({size} B) allocated at {}",
            g.sites[s as usize].first().map_or("?", String::as_str)
        ),
    }
}

/// The path from a root to `v` (root description first), or empty when unreachable.
pub fn path_to(g: &ObjectGraph, v: Node) -> Vec<String> {
    if !g.is_reachable(v) {
        return Vec::new();
    }
    let mut chain = vec![v];
    let mut cur = v;
    while g.parent()[cur as usize] != g.root() && g.parent()[cur as usize] != NONE {
        cur = g.parent()[cur as usize];
        chain.push(cur);
    }
    chain.reverse();
    let mut out = vec![format!(
        "root: {}",
        g.root_labels.get(&chain[0]).map_or("root", String::as_str)
    )];
    out.extend(chain.iter().map(|&o| describe(g, o)));
    out
}

/// What a report keeps of a heap dump's object graph: sizes, cycle counts, the top retainers,
/// and what each allocating function's objects retain. Computed once when the dump is read; the
/// graph itself is dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphSummary {
    /// The dump.
    pub source: String,
    /// Live objects.
    pub reachable_objects: usize,
    /// Their bytes.
    pub reachable_bytes: u64,
    /// Reference cycles reachable from roots.
    pub reachable_cycles: usize,
    /// Unreachable cycles (garbage not yet collected).
    pub unreachable_cycles: usize,
    /// Top allocation sites by retained bytes (at most 5).
    pub top_retainers: Vec<SiteRetainer>,
    /// Per allocating function (a site's leaf function, without file:line).
    pub retention: std::collections::BTreeMap<String, Retention>,
    /// Allocating functions of the objects in reachable cycles.
    pub cycle_functions: std::collections::BTreeSet<String>,
}

/// The [`GraphSummary`] of a graph.
pub fn summarize(g: &ObjectGraph, source: &str) -> GraphSummary {
    // One search for the strongly connected components serves both the counts and the members.
    let comps = components(g);
    let cycle_functions = cycle_functions_of(g, &comps);
    let live = (0..comps.len())
        .filter(|&i| g.is_reachable(comps.get(i)[0]))
        .count();
    GraphSummary {
        source: source.to_string(),
        reachable_objects: (0..g.len()).filter(|&v| g.is_reachable(v as Node)).count(),
        reachable_bytes: (0..g.len())
            .filter(|&v| g.is_reachable(v as Node))
            .map(|v| g.size(v as Node))
            .sum(),
        reachable_cycles: live,
        unreachable_cycles: comps.len() - live,
        top_retainers: top_sites(g, 5),
        retention: retention_by_function(g),
        cycle_functions,
    }
}

/// Allocating functions (a site's leaf, without file:line) of the objects in reachable cycles.
pub(super) fn cycle_functions_of(
    g: &ObjectGraph,
    comps: &Components,
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for comp in (0..comps.len()).map(|i| comps.get(i)) {
        if !comp.first().is_some_and(|&v| g.is_reachable(v)) {
            continue;
        }
        for &v in comp {
            if let Some(f) = g
                .sites
                .get(g.site_of.get(v) as usize)
                .and_then(|s| s.first())
            {
                let func = f.rsplit_once(' ').map_or(f.as_str(), |(f, _)| f);
                out.insert(func.to_string());
            }
        }
    }
    out
}

/// Facts about a dump shown in every header of `cycles` and `retained`.
#[derive(Clone, Debug, Serialize)]
pub struct DumpSummary {
    /// The file.
    pub source: String,
    /// Runtime version.
    pub go_version: String,
    /// Objects.
    pub objects: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Reachable objects.
    pub reachable: usize,
    /// Their bytes.
    pub reachable_bytes: u64,
}

/// The [`DumpSummary`] of a graph.
pub fn dump_summary(source: &str, go_version: &str, g: &ObjectGraph) -> DumpSummary {
    let reach = (0..g.len()).filter(|&v| g.is_reachable(v as Node));
    DumpSummary {
        source: source.to_string(),
        go_version: go_version.to_string(),
        objects: g.len(),
        bytes: (0..g.len() as Node).map(|v| g.size(v)).sum(),
        reachable: reach.clone().count(),
        reachable_bytes: reach.map(|v| g.size(v as Node)).sum(),
    }
}
