//! Cycles: strongly connected components, summarised per component and grouped by shape
//! and root.

use super::*;

/// Strongly connected components with more than one object, or one object pointing at itself:
/// reference cycles. Iterative Tarjan over the objects (the virtual root is left out).
pub fn cycles(g: &ObjectGraph) -> Vec<Vec<Node>> {
    let c = components(g);
    (0..c.len()).map(|i| c.get(i).to_vec()).collect()
}

/// Reference cycles, flat: members of all of them in one vector (each cycle's members
/// ascending), and where each ends. Millions of two-object cycles take 8 bytes each, not a
/// vector each.
pub struct Components {
    members: Vec<Node>,
    ends: Vec<u32>,
}

impl Components {
    /// Number of cycles.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The members of cycle `i`, ascending.
    pub fn get(&self, i: usize) -> &[Node] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.members[start..self.ends[i] as usize]
    }
}

/// [`cycles`], flat.
pub fn components(g: &ObjectGraph) -> Components {
    // Pearce's space-efficient variant of Tarjan ("A space-efficient algorithm for finding
    // strongly connected components", 2016): one number per object (`rindex`: its visit index
    // while open, then its component's number, counted down from n − 1 so that it never lowers
    // an open node's), instead of an index, a low-link and an on-stack flag.
    let n = g.len();
    let mut out = Components {
        members: Vec::new(),
        ends: Vec::new(),
    };
    if n == 0 {
        return out;
    }
    let mut rindex = vec![0u32; n];
    let mut index = 1u32;
    let mut c = n as u32 - 1;
    // The DFS: (node, next neighbour, still a component's root).
    let mut call: Vec<(u32, u32, bool)> = Vec::new();
    // Visited nodes whose component is not complete yet.
    let mut stack: Vec<u32> = Vec::new();
    for s in 0..n as u32 {
        if rindex[s as usize] != 0 {
            continue;
        }
        rindex[s as usize] = index;
        index += 1;
        call.push((s, 0, true));
        while let Some(&mut (v, ref mut i, ref mut root)) = call.last_mut() {
            let nb = g.edges.neighbors(v);
            if (*i as usize) < nb.len() {
                let w = nb[*i as usize];
                if w as usize >= n {
                    *i += 1;
                    continue;
                }
                if rindex[w as usize] == 0 {
                    // Visit w; this edge is looked at again when it is done.
                    rindex[w as usize] = index;
                    index += 1;
                    call.push((w, 0, true));
                    continue;
                }
                if rindex[w as usize] < rindex[v as usize] {
                    rindex[v as usize] = rindex[w as usize];
                    *root = false;
                }
                *i += 1;
                continue;
            }
            let (v, _, root) = call.pop().unwrap_or((v, 0, false));
            if !root {
                stack.push(v);
                continue;
            }
            index -= 1;
            let start = out.members.len();
            while let Some(&w) = stack.last() {
                if rindex[v as usize] > rindex[w as usize] {
                    break;
                }
                stack.pop();
                rindex[w as usize] = c;
                index -= 1;
                out.members.push(w);
            }
            rindex[v as usize] = c;
            c = c.wrapping_sub(1);
            out.members.push(v);
            let len = out.members.len() - start;
            let self_loop = len == 1 && g.edges.neighbors(v).contains(&v);
            if len > 1 || self_loop {
                out.members[start..].sort_unstable();
                out.ends.push(out.members.len() as u32);
            } else {
                out.members.truncate(start);
            }
        }
    }
    out
}

/// One reference cycle as reported.
#[derive(Clone, Debug, Serialize)]
pub struct Cycle {
    /// Objects in the cycle.
    pub objects: usize,
    /// Their own bytes.
    pub bytes: u64,
    /// Bytes retained through the cycle: the retained sizes of the members no other member
    /// dominates (0 when unreachable).
    pub retained_bytes: u64,
    /// Reachable from a root (else: garbage the GC has not collected yet).
    pub reachable: bool,
    /// Allocation sites of the members (leaf function and line), with counts.
    pub sites: Vec<(String, usize)>,
    /// Addresses of up to 8 members.
    pub addresses: Vec<String>,
    /// A path from a root to a member: the root, then objects with their sites.
    pub path: Vec<String>,
    /// The root that path starts from, as `retained --by root` counts it (a global by name, a
    /// stack by function, other roots by kind); `None` when unreachable.
    pub root: Option<String>,
}

/// The site of objects with no allocation record.
const NOT_SAMPLED: &str = "(not sampled)";

/// Cycles of one shape: the same number of objects from the same allocation sites, reachable or
/// not. A heap of five million session↔conn pairs is one line, not five million.
#[derive(Clone, Debug, Serialize)]
pub struct CycleGroup {
    /// How many cycles.
    pub cycles: usize,
    /// Objects in each.
    pub objects: usize,
    /// Allocation sites of each cycle's members, with counts.
    pub sites: Vec<(String, usize)>,
    /// Their own bytes, all cycles together.
    pub bytes: u64,
    /// Bytes retained through them, summed over the cycles.
    pub retained_bytes: u64,
    /// Reachable from a root.
    pub reachable: bool,
    /// The roots they are reachable from, with how many cycles each.
    pub roots: Vec<(String, usize)>,
    /// The path from a root to the largest of them.
    pub path: Vec<String>,
    /// Its shape in Go types and fields, from the binary's DWARF ([`cycle_shape`]):
    /// `main.Parent.Child → main.Child.Parent → main.Parent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<String>,
    /// The Go runtime's own: every member allocated in the runtime (its goroutine and timer
    /// structures), which the program cannot free.
    pub runtime: bool,
}

/// The cycles of a dump as `cycles` reports them: how many of each kind, all of them grouped by
/// shape, and the first `keep` of each kind (reachable, unreachable) in full, largest retained
/// first; `keep` 0 keeps all.
pub struct CycleReport {
    /// Cycles reachable from a root.
    pub reachable: usize,
    /// Cycles no root reaches (garbage not collected yet).
    pub unreachable: usize,
    /// Every cycle, by shape ([`CycleGroup`]), largest retained first.
    pub groups: Vec<CycleGroup>,
    /// The cycles kept in full.
    pub cycles: Vec<Cycle>,
}

/// One cycle before any of its strings are made.
#[derive(Copy, Clone)]
pub(super) struct LiteCycle {
    comp: u32,
    reachable: bool,
    bytes: u64,
    retained: u64,
    /// The lowest member (the last tie-break of the order).
    first: Node,
    /// The member closest to a root.
    entry: Node,
    /// The node under the graph's root that the entry's BFS path starts from; `NONE` when
    /// unreachable.
    top: Node,
}

/// The order cycles are reported in: reachable first, then by retained and own bytes, then by
/// the lowest member's address (members are ascending and no two cycles share one).
pub(super) fn cycle_order(a: &LiteCycle, b: &LiteCycle) -> std::cmp::Ordering {
    b.reachable
        .cmp(&a.reachable)
        .then(b.retained.cmp(&a.retained))
        .then(b.bytes.cmp(&a.bytes))
        .then(a.first.cmp(&b.first))
}

/// Cycles of one shape as they are counted: sums, roots by their top node, and the first cycle
/// in report order (whose path the group shows).
pub(super) struct Tally {
    cycles: usize,
    bytes: u64,
    retained: u64,
    roots: FxHashMap<Node, usize>,
    best: LiteCycle,
}

/// A group's key: reachable, objects per cycle, and the members' (site, count) ascending.
pub(super) type ShapeKey = (bool, usize, Vec<(u32, u32)>);

/// What one pass over a run of components gathers: the groups, and the first cycles of each
/// kind (reachable, unreachable) in report order, at most `limit` each.
#[derive(Default)]
pub(super) struct CycleTally {
    groups: FxHashMap<ShapeKey, Tally>,
    reachable: usize,
    unreachable: usize,
    top: [Vec<LiteCycle>; 2],
}

impl CycleTally {
    fn add(&mut self, key: ShapeKey, c: LiteCycle, limit: usize) {
        if c.reachable {
            self.reachable += 1;
        } else {
            self.unreachable += 1;
        }
        let t = self.groups.entry(key).or_insert_with(|| Tally {
            cycles: 0,
            bytes: 0,
            retained: 0,
            roots: FxHashMap::default(),
            best: c,
        });
        t.cycles += 1;
        t.bytes += c.bytes;
        t.retained += c.retained;
        if c.top != NONE {
            *t.roots.entry(c.top).or_default() += 1;
        }
        if cycle_order(&c, &t.best).is_lt() {
            t.best = c;
        }
        let top = &mut self.top[usize::from(!c.reachable)];
        top.push(c);
        if limit != usize::MAX && top.len() >= 2 * limit.max(1024) {
            top.sort_unstable_by(cycle_order);
            top.truncate(limit);
        }
    }

    fn merge(mut self, other: CycleTally, limit: usize) -> CycleTally {
        self.reachable += other.reachable;
        self.unreachable += other.unreachable;
        for (key, t) in other.groups {
            match self.groups.entry(key) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(t);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    let mine = e.get_mut();
                    mine.cycles += t.cycles;
                    mine.bytes += t.bytes;
                    mine.retained += t.retained;
                    for (r, n) in t.roots {
                        *mine.roots.entry(r).or_default() += n;
                    }
                    if cycle_order(&t.best, &mine.best).is_lt() {
                        mine.best = t.best;
                    }
                }
            }
        }
        for (mine, theirs) in self.top.iter_mut().zip(other.top) {
            mine.extend(theirs);
            if limit != usize::MAX && mine.len() > limit {
                mine.sort_unstable_by(cycle_order);
                mine.truncate(limit);
            }
        }
        self
    }
}

/// The cycles of a graph, grouped, with the first `keep` of each kind in full (see
/// [`CycleReport`]).
pub fn cycle_report(g: &ObjectGraph, keep: usize) -> CycleReport {
    cycle_report_of(g, &components(g), keep)
}

/// The cycles of a graph, largest retained first (unreachable ones by size, after).
pub fn report_cycles(g: &ObjectGraph) -> Vec<Cycle> {
    cycle_report(g, 0).cycles
}

/// What names a cycle member: its allocation site when it has a record, else its Go type from
/// the binary's DWARF (numbered after the sites), else `NONE`.
fn member_class(g: &ObjectGraph, v: Node) -> u32 {
    match (g.site_of.get(v), g.type_of.get(v)) {
        (NONE, NONE) => NONE,
        (NONE, t) => g.sites.len() as u32 + t,
        (s, _) => s,
    }
}

/// The (class, count) list of a cycle's members ([`member_class`]: site, else type), ascending.
pub(super) fn site_key(g: &ObjectGraph, m: &[Node], scratch: &mut Vec<u32>) -> Vec<(u32, u32)> {
    scratch.clear();
    scratch.extend(m.iter().map(|&v| member_class(g, v)));
    scratch.sort_unstable();
    let mut key: Vec<(u32, u32)> = Vec::new();
    for &s in scratch.iter() {
        match key.last_mut() {
            Some((k, n)) if *k == s => *n += 1,
            _ => key.push((s, 1)),
        }
    }
    key
}

/// The site names of a [`site_key`], most members first.
pub(super) fn site_names(g: &ObjectGraph, key: &[(u32, u32)]) -> Vec<(String, usize)> {
    let mut names: Vec<(String, usize)> = key
        .iter()
        .map(|&(s, n)| {
            let name = match s {
                NONE => NOT_SAMPLED.to_string(),
                s if (s as usize) < g.sites.len() => g.sites[s as usize]
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "?".into()),
                t => g
                    .type_names
                    .get(t as usize - g.sites.len())
                    .cloned()
                    .unwrap_or_else(|| "?".into()),
            };
            (name, n as usize)
        })
        .collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    names
}

/// The name a root's top node goes by ([`ObjectGraph::root_groups`]).
pub(super) fn root_name(g: &ObjectGraph, top: Node) -> String {
    g.root_groups
        .get(&top)
        .cloned()
        .unwrap_or_else(|| "root".to_string())
}

pub(super) fn cycle_report_of(g: &ObjectGraph, comps: &Components, keep: usize) -> CycleReport {
    use rayon::prelude::*;
    let limit = if keep == 0 { usize::MAX } else { keep };
    // One pass over the components, in parallel runs: each cycle is counted into its group and
    // offered to the bounded lists of the first cycles; nothing is held per cycle.
    let tally = (0..comps.len())
        .into_par_iter()
        .with_min_len(4096)
        .fold(
            || (CycleTally::default(), Vec::new()),
            |(mut t, mut scratch), i| {
                let m = comps.get(i);
                let reachable = g.is_reachable(m[0]);
                let retained = if reachable {
                    m.iter()
                        .filter(|&&v| m.binary_search(&g.idom[v as usize]).is_err())
                        .map(|&v| g.retained(v))
                        .sum()
                } else {
                    0
                };
                let entry = entry_of(g, m);
                let c = LiteCycle {
                    comp: i as u32,
                    reachable,
                    bytes: m.iter().map(|&v| g.size(v)).sum(),
                    retained,
                    first: m[0],
                    entry,
                    top: root_top(g, entry).unwrap_or(NONE),
                };
                let key = (reachable, m.len(), site_key(g, m, &mut scratch));
                t.add(key, c, limit);
                (t, scratch)
            },
        )
        .map(|(t, _)| t)
        .reduce(CycleTally::default, |a, b| a.merge(b, limit));
    let mut groups: Vec<CycleGroup> = tally
        .groups
        .into_iter()
        .map(|((reachable, objects, key), t)| {
            let mut by_name: FxHashMap<String, usize> = FxHashMap::default();
            for (top, n) in t.roots {
                *by_name.entry(root_name(g, top)).or_default() += n;
            }
            let mut roots: Vec<(String, usize)> = by_name.into_iter().collect();
            roots.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let sites = site_names(g, &key);
            // The runtime's own: its allocation sites, or objects with none (not sampled) that
            // only the runtime's roots reach (`runtime.allp`, `runtime.allm`).
            let runtime_site = |s: &str| super::retained::is_runtime_name(s);
            let runtime = sites
                .iter()
                .all(|(s, _)| runtime_site(s) || s == NOT_SAMPLED)
                && (sites.iter().any(|(s, _)| runtime_site(s))
                    || (!roots.is_empty()
                        && roots
                            .iter()
                            .all(|(r, _)| super::retained::is_runtime_name(r))));
            CycleGroup {
                cycles: t.cycles,
                objects,
                runtime,
                sites,
                bytes: t.bytes,
                retained_bytes: t.retained,
                reachable,
                roots,
                path: path_to(g, t.best.entry),
                fields: cycle_shape(g, comps.get(t.best.comp as usize), t.best.entry),
            }
        })
        .collect();
    // The program's own before the runtime's, within reachable and unreachable.
    groups.sort_by(|a, b| {
        b.reachable
            .cmp(&a.reachable)
            .then(a.runtime.cmp(&b.runtime))
            .then(b.retained_bytes.cmp(&a.retained_bytes))
            .then(b.bytes.cmp(&a.bytes))
            .then_with(|| a.sites.cmp(&b.sites))
    });
    let mut scratch = Vec::new();
    let mut cycles = Vec::new();
    for mut top in tally.top {
        top.sort_unstable_by(cycle_order);
        top.truncate(limit);
        for c in top {
            let m = comps.get(c.comp as usize);
            cycles.push(Cycle {
                objects: m.len(),
                bytes: c.bytes,
                retained_bytes: c.retained,
                reachable: c.reachable,
                sites: site_names(g, &site_key(g, m, &mut scratch)),
                addresses: m
                    .iter()
                    .take(8)
                    .map(|&v| format!("{:#x}", g.addr(v)))
                    .collect(),
                path: path_to(g, c.entry),
                root: (c.top != NONE).then(|| root_name(g, c.top)),
            });
        }
    }
    CycleReport {
        reachable: tally.reachable,
        unreachable: tally.unreachable,
        groups,
        cycles,
    }
}

/// The member of a cycle closest to a root (the first such when several are), or its first
/// member when it is unreachable. A big cycle's members lie on one another's paths (a ring's
/// paths run along the ring): their depths are remembered as found, so the cost is the members
/// and one path, not members × depth.
pub(super) fn entry_of(g: &ObjectGraph, m: &[Node]) -> Node {
    if !g.is_reachable(m[0]) {
        return m[0];
    }
    if m.len() <= 8 {
        return m
            .iter()
            .copied()
            .min_by_key(|&v| path_len(g, v))
            .unwrap_or(m[0]);
    }
    let mut depth: FxHashMap<Node, usize> = FxHashMap::default();
    let mut chain = Vec::new();
    let mut best = (usize::MAX, m[0]);
    for &v in m {
        chain.clear();
        let mut cur = v;
        let mut d = loop {
            if let Some(&d) = depth.get(&cur) {
                break d;
            }
            if cur == g.root() || cur == NONE {
                break 0;
            }
            chain.push(cur);
            cur = g.parent()[cur as usize];
        };
        for &c in chain.iter().rev() {
            d += 1;
            depth.insert(c, d);
        }
        let dv = depth.get(&v).copied().unwrap_or(d);
        if dv < best.0 {
            best = (dv, v);
        }
    }
    best.1
}

pub(super) fn path_len(g: &ObjectGraph, v: Node) -> usize {
    if !g.is_reachable(v) {
        return usize::MAX;
    }
    let mut n = 0;
    let mut cur = v;
    while cur != g.root() && cur != NONE {
        cur = g.parent()[cur as usize];
        n += 1;
    }
    n
}
