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

/// Describes an object on a path from a root: its type when known, address, size, what it
/// retains (the bytes freed were it gone: LeakCanary's "retaining" at each step of a trace) and
/// allocation site.
pub fn describe(g: &ObjectGraph, v: Node) -> String {
    let (a, size) = (g.addr(v), g.size(v));
    let typed = match g.type_of.get(v) {
        NONE => String::new(),
        t => format!("{} ", g.type_names[t as usize]),
    };
    let retains = crate::units::human(g.retained(v) as i64, "bytes");
    match g.site_of.get(v) {
        NONE => format!("{typed}{a:#x} ({size} B, retains {retains})"),
        s => format!(
            "{typed}{a:#x} ({size} B, retains {retains}) allocated at {}",
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
    out.push(describe(g, chain[0]));
    out.extend(chain.windows(2).map(|w| match field_from(g, w[0], w[1]) {
        Some(field) => format!("{field} {}", describe(g, w[1])),
        None => describe(g, w[1]),
    }));
    out
}

/// The field of object `from` whose pointer holds `v` (`.conn`, `[12]`, `[3].next`), from the
/// binary's DWARF, when `v` was typed through that very pointer; `None` otherwise (no types, or
/// `v` reached its type through another object: its field in `from` is not known).
pub fn field_from(g: &ObjectGraph, from: Node, v: Node) -> Option<String> {
    let go = g.go_types.as_ref()?;
    let (p, off) = typing::unpack_via(*g.typed_via.get(v as usize)?)?;
    if p != from {
        return None;
    }
    let &(ty, many) = g.type_layouts.get(g.type_of.get(from) as usize)?;
    let (off, size) = (u64::from(off), go.size(ty));
    if size == 0 {
        return None;
    }
    // A closure is one value past its size (its code pointer's): its captures by name.
    let label = if go.is_closure(ty) {
        go.field_path(ty, off)
    } else if many || off >= size {
        format!("[{}]{}", off / size, go.field_path(ty, off % size))
    } else {
        go.field_path(ty, off)
    };
    (!label.is_empty()).then_some(label)
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
    /// The share of the reachable bytes the allocation sites retain between them
    /// ([`site_coverage`]): below [`SITE_COVERAGE_FLOOR`] the sites cannot say what holds the
    /// heap (a process at Go's default MemProfileRate), and the roots and types answer instead.
    /// 1 in a store saved before it was kept.
    #[serde(default = "all_of_it")]
    pub site_coverage: f64,
    /// Top roots by retained bytes (at most 5): globals by name with the binary, goroutine stacks
    /// by function, other roots by kind.
    #[serde(default)]
    pub top_roots: Vec<NamedRetainer>,
    /// Top Go types by retained bytes (at most 5), each object counted once, with the binary's
    /// DWARF; empty without types.
    #[serde(default)]
    pub top_types: Vec<NamedRetainer>,
    /// Per allocating function (a site's leaf function, without file:line).
    pub retention: std::collections::BTreeMap<String, Retention>,
    /// Allocating functions of the objects in reachable cycles.
    pub cycle_functions: std::collections::BTreeSet<String>,
}

fn all_of_it() -> f64 {
    1.0
}

/// A retainer of [`GraphSummary`] named by a root or a Go type: what `retained --by root` and
/// `--by type` list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedRetainer {
    /// The root or the type (`main.sessions (bss)`, `main.session`, `(untyped)`).
    pub name: String,
    /// Retained bytes (each object once).
    pub retained_bytes: u64,
    /// Live objects (of a type; those a root retains).
    pub objects: usize,
    /// Path from a root to the type's object that retains the most (empty for a root).
    pub path: Vec<String>,
    /// How many of the type's objects have a trace like the path's (the same root, types and
    /// fields but for indexes); 0 where not counted.
    #[serde(default)]
    pub traces_like: usize,
}

impl From<Retainer> for NamedRetainer {
    fn from(r: Retainer) -> Self {
        NamedRetainer {
            name: r.name,
            retained_bytes: r.retained_bytes,
            objects: r.objects,
            path: r.path,
            traces_like: r.traces_like,
        }
    }
}

/// The [`GraphSummary`] of a graph.
pub fn summarize(g: &ObjectGraph, source: &str) -> GraphSummary {
    // One search for the strongly connected components serves both the counts and the members.
    let comps = components(g);
    let cycle_functions = cycle_functions_of(g, &comps);
    let live = (0..comps.len())
        .filter(|&i| g.is_reachable(comps.get(i)[0]))
        .count();
    let (reachable_objects, reachable_bytes) = (0..g.len() as Node)
        .filter(|&v| g.is_reachable(v))
        .fold((0, 0), |(n, bytes), v| (n + 1, bytes + g.size(v)));
    let by_site = retained_by_site(g);
    let named = |list: Vec<Retainer>| list.into_iter().map(NamedRetainer::from).collect();
    GraphSummary {
        source: source.to_string(),
        reachable_objects,
        reachable_bytes,
        reachable_cycles: live,
        unreachable_cycles: comps.len() - live,
        site_coverage: site_coverage(&by_site, reachable_bytes),
        top_retainers: top_sites(g, by_site, 5),
        top_roots: named(retainers_by_root(g, 5)),
        top_types: named(retainers_by_type(g, 5)),
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

/// The field of object `from` that points at `v`, as a cycle's shape names it: [`field_from`]
/// where `v` was typed through it, else the one pointer field of `from`'s type that holds a
/// pointer to `v`'s type, when there is exactly one and the type has no interface or
/// `unsafe.Pointer` word (which could hold it instead). A statement about the type (`main.Child`
/// reaches a `main.Parent` through its `Parent`), not about which word holds the pointer.
pub fn field_to(g: &ObjectGraph, from: Node, v: Node) -> Option<String> {
    if let Some(f) = field_from(g, from, v) {
        return Some(f);
    }
    let go = g.go_types.as_ref()?;
    let &(t, many) = g.type_layouts.get(g.type_of.get(from) as usize)?;
    let &(want, _) = g.type_layouts.get(g.type_of.get(v) as usize)?;
    if many {
        return None; // which element holds it is not known
    }
    let want = go.name(want);
    // A closure's captures lie past its type's size (its code pointer's): the object's words,
    // those no capture covers untyped.
    let end = if go.is_closure(t) {
        g.size(from)
    } else {
        go.size(t)
    };
    let mut found = None;
    for off in (0..end).step_by(8) {
        match go.slot(t, off) {
            crate::formats::gotypes::Slot::To(p)
                if go.name(p) == want && found.replace(off).is_some() =>
            {
                return None;
            }
            crate::formats::gotypes::Slot::Untyped | crate::formats::gotypes::Slot::Dynamic => {
                return None
            }
            _ => {}
        }
    }
    found
        .map(|off| go.field_path(t, off))
        .filter(|f| !f.is_empty())
}

/// A cycle's shape in Go types and fields, from its members (at most [`SHAPE_MEMBERS`] of them):
/// `main.Parent.Child → main.Child.Parent → main.Parent` where each type's one edge in the cycle
/// leads to the next (from `entry`'s type, the member a path from a root reaches first), else its
/// edges listed. `None` when a member is untyped or an edge's field is not known.
pub fn cycle_shape(g: &ObjectGraph, members: &[Node], entry: Node) -> Option<String> {
    if g.go_types.is_none() || members.len() > SHAPE_MEMBERS {
        return None;
    }
    let inside: rustc_hash::FxHashSet<Node> = members.iter().copied().collect();
    let name = |v: Node| -> Option<&str> {
        match g.type_of.get(v) {
            NONE => None,
            t => g.type_names.get(t as usize).map(String::as_str),
        }
    };
    // Type-level edges: (from type, field, to type).
    let mut edges: std::collections::BTreeSet<(String, String, String)> = Default::default();
    for &u in members {
        let from = name(u)?;
        for &w in g.edges.neighbors(u) {
            if !inside.contains(&w) {
                continue;
            }
            let field = field_to(g, u, w)?;
            edges.insert((from.to_string(), field, name(w)?.to_string()));
        }
    }
    let first = match name(entry) {
        Some(n) if edges.iter().any(|e| e.0 == n) => n.to_string(),
        _ => edges.iter().next()?.0.clone(),
    };
    // One edge out of each type, all one loop: the chain from the first type back to it.
    let mut out_of: FxHashMap<&str, Vec<(&str, &str)>> = FxHashMap::default();
    for (a, f, b) in &edges {
        out_of.entry(a).or_default().push((f, b));
    }
    if out_of.values().all(|v| v.len() == 1) && out_of.len() == edges.len() {
        let mut chain = String::new();
        let mut at = first.as_str();
        for _ in 0..edges.len() {
            let (f, b) = out_of.get(at)?[0];
            chain.push_str(&format!("{at}{f} → "));
            at = b;
        }
        if at == first {
            chain.push_str(at);
            return Some(chain);
        }
    }
    Some(
        edges
            .iter()
            .map(|(a, f, b)| format!("{a}{f} → {b}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The largest cycle [`cycle_shape`] describes: its members' edges are walked once.
pub const SHAPE_MEMBERS: usize = 64;

/// For each object, a fingerprint of its path from a root ([`path_to`]) in what a leak trace
/// says of it (the root, each step's type or allocation site and field, indexes dropped:
/// `[12345]` and `[7]` read alike); 0 for an unreachable object. Objects whose traces differ only
/// in indexes and addresses share one: "5,000,000 traces like this". One pass, parents first.
pub fn trace_fingerprints(g: &ObjectGraph) -> Vec<u64> {
    use std::hash::{Hash, Hasher};
    let parent = g.parent();
    let root = g.root();
    let mut fp = vec![0u64; g.len()];
    let mut chain: Vec<Node> = Vec::new();
    let step = |p: Node, v: Node, up: u64| -> u64 {
        let mut h = rustc_hash::FxHasher::default();
        up.hash(&mut h);
        if p == root {
            g.root_labels.get(&v).hash(&mut h);
        } else if let Some(f) = field_from(g, p, v) {
            // Indexes dropped: `[3].next` reads as `[].next`.
            let mut depth = 0;
            for c in f.chars() {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ if depth > 0 => continue,
                    _ => {}
                }
                c.hash(&mut h);
            }
        }
        match (g.type_of.get(v), g.site_of.get(v)) {
            (NONE, NONE) => (0u8, g.size(v)).hash(&mut h),
            (NONE, s) => (1u8, u64::from(s)).hash(&mut h),
            (t, _) => (2u8, u64::from(t)).hash(&mut h),
        }
        h.finish() | 1
    };
    for v in 0..g.len() as Node {
        if fp[v as usize] != 0 || !g.is_reachable(v) {
            continue;
        }
        // Up to the first ancestor already done (or the root), then down.
        chain.clear();
        let mut cur = v;
        while cur != root && cur != NONE && fp[cur as usize] == 0 {
            chain.push(cur);
            cur = parent[cur as usize];
        }
        let mut up = if cur == root || cur == NONE {
            0
        } else {
            fp[cur as usize]
        };
        while let Some(c) = chain.pop() {
            let p = parent[c as usize];
            up = step(p, c, up);
            fp[c as usize] = up;
        }
    }
    fp
}
