//! Retained sizes grouped: by allocation site, root, shape, type and function; the top
//! retainers of each grouping.

use super::*;

/// What each root retains, each object counted once: the dominator tree's subtrees under the
/// virtual root, grouped by the root their top object is counted under ([`ObjectGraph::root_groups`]);
/// an object reached from several roots and dominated by none of them is under "several roots".
/// (group, retained bytes, objects), largest first.
pub fn retained_by_root(g: &ObjectGraph) -> Vec<(String, u64, usize)> {
    let root = g.root();
    // The top of each object's dominator chain (its child of the virtual root), memoized.
    let mut top = vec![NONE; g.len()];
    let mut chain = Vec::new();
    let mut sums: FxHashMap<u32, (u64, usize)> = FxHashMap::default();
    for v in 0..g.len() as u32 {
        if !g.is_reachable(v) {
            continue;
        }
        let mut cur = v;
        chain.clear();
        while top[cur as usize] == NONE {
            chain.push(cur);
            let up = g.idom[cur as usize];
            if up == root || up == NONE {
                top[cur as usize] = cur;
                break;
            }
            cur = up;
        }
        let t = top[cur as usize];
        for &c in &chain {
            top[c as usize] = t;
        }
        let e = sums.entry(t).or_default();
        e.0 += g.size(v);
        e.1 += 1;
    }
    let mut groups: FxHashMap<&str, (u64, usize)> = FxHashMap::default();
    for (t, (bytes, n)) in sums {
        let name = g
            .root_groups
            .get(&t)
            .map_or("several roots", String::as_str);
        let e = groups.entry(name).or_default();
        e.0 += bytes;
        e.1 += n;
    }
    let mut out: Vec<(String, u64, usize)> = groups
        .into_iter()
        .map(|(k, (b, n))| (k.to_string(), b, n))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Retained bytes per allocation site, counting each object once: an object adds its retained
/// size to its site unless an object of the same site dominates it.
pub fn retained_by_site(g: &ObjectGraph) -> Vec<(u32, u64, usize)> {
    retained_by_class(g, &g.site_of, g.sites.len())
}

/// Below this share of the reachable heap retained by the allocation sites between them
/// ([`site_coverage`]), the sites cannot answer what holds the heap: `retained` and `report` rank
/// by root and type instead.
pub const SITE_COVERAGE_FLOOR: f64 = 0.01;

/// The share of the reachable heap (`reachable_bytes`) the allocation sites retain between them
/// ([`retained_by_site`]),
/// at most 1: how much of it a ranking by site can explain. Go records one allocation per
/// MemProfileRate (512 KiB by default), so a process left at its default has records for a few
/// of its objects, and its sites may retain a sliver of a large heap.
pub fn site_coverage(by_site: &[(u32, u64, usize)], reachable_bytes: u64) -> f64 {
    if reachable_bytes == 0 {
        return 1.0;
    }
    let by_sites: u64 = by_site.iter().map(|(_, b, _)| b).sum();
    (by_sites as f64 / reachable_bytes as f64).min(1.0)
}

/// Objects grouped by shape, for dumps without allocation records: size and how many pointers
/// into the heap it holds (`4 shapes` where sites would all be "(not sampled)"). Returns each
/// object's shape id and the shapes' names.
pub fn shapes(g: &ObjectGraph) -> (Classes, Vec<String>) {
    let mut ids: FxHashMap<(u64, usize), u32> = FxHashMap::default();
    let mut names = Vec::new();
    let class = (0..g.len() as u32)
        .map(|v| {
            let key = (g.size(v), g.edges.neighbors(v).len());
            *ids.entry(key).or_insert_with(|| {
                names.push(format!(
                    "{} B objects pointing at {} object{}",
                    key.0,
                    key.1,
                    if key.1 == 1 { "" } else { "s" }
                ));
                names.len() as u32 - 1
            })
        })
        .collect();
    (Classes::Dense(class), names)
}

/// [`retained_by_site`] over any grouping of the objects (`class_of.get(v)`, `NONE` for none).
pub fn retained_by_class(
    g: &ObjectGraph,
    class_of: &Classes,
    classes: usize,
) -> Vec<(u32, u64, usize)> {
    let total = g.edges.node_count();
    // Children lists of the dominator tree, filled through `start` itself (each row's cursor
    // moves up to the next row's start, then the array shifts back by one).
    let mut start = vec![0u32; total + 1];
    for v in 0..g.len() {
        if g.idom[v] != NONE {
            start[g.idom[v] as usize + 1] += 1;
        }
    }
    for i in 0..total {
        start[i + 1] += start[i];
    }
    let mut kids = vec![0u32; start[total] as usize];
    for v in 0..g.len() {
        let p = g.idom[v];
        if p != NONE {
            kids[start[p as usize] as usize] = v as u32;
            start[p as usize] += 1;
        }
    }
    start.copy_within(0..total, 1);
    start[0] = 0;
    let class = |v: u32| {
        if (v as usize) < g.len() {
            class_of.get(v)
        } else {
            NONE
        }
    };
    let mut active = vec![0u32; classes];
    let mut sum = vec![(0u64, 0usize); classes];
    // Depth-first down the dominator tree: (node, its next child); a class counts an object's
    // retained bytes unless an object of that class is above it.
    let mut stack: Vec<(u32, u32)> = vec![(g.root(), start[g.root() as usize])];
    while let Some(&mut (v, ref mut next)) = stack.last_mut() {
        if *next < start[v as usize + 1] {
            let k = kids[*next as usize];
            *next += 1;
            let s = class(k);
            if s != NONE {
                if active[s as usize] == 0 {
                    sum[s as usize].0 += g.retained(k);
                }
                sum[s as usize].1 += 1;
                active[s as usize] += 1;
            }
            stack.push((k, start[k as usize]));
        } else {
            stack.pop();
            let s = class(v);
            if s != NONE {
                active[s as usize] -= 1;
            }
        }
    }
    let mut out: Vec<(u32, u64, usize)> = sum
        .into_iter()
        .enumerate()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(i, (b, n))| (i as u32, b, n))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// One allocation site and what it retains, with a path from a root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteRetainer {
    /// Allocating frame (`function file:line`).
    pub site: String,
    /// Retained bytes (each object once).
    pub retained_bytes: u64,
    /// Live objects.
    pub objects: usize,
    /// Path from a root to the site's object that retains the most.
    pub path: Vec<String>,
}

/// Per site, its reachable object that retains the most (`NONE` for a site with none live); of
/// objects that retain as much, the first in address order.
pub(super) fn best_object_per_site(g: &ObjectGraph) -> Vec<u32> {
    best_object_per_class(g, &g.site_of, g.sites.len())
}

/// [`best_object_per_site`] over any grouping of the objects (`class_of.get(v)`, `NONE` for none).
pub(super) fn best_object_per_class(
    g: &ObjectGraph,
    class_of: &Classes,
    classes: usize,
) -> Vec<u32> {
    let mut best: Vec<(u64, u32)> = vec![(0, NONE); classes];
    for (v, s) in class_of.each() {
        let v = v as usize;
        if v >= g.len() || !g.is_reachable(v as Node) {
            continue;
        }
        let (bytes, at) = best[s as usize];
        if at == NONE || g.retained(v as Node) > bytes {
            best[s as usize] = (g.retained(v as Node), v as u32);
        }
    }
    best.into_iter().map(|(_, v)| v).collect()
}

/// The top `n` sites by retained bytes, from their [`retained_by_site`].
pub fn top_sites(g: &ObjectGraph, by_site: Vec<(u32, u64, usize)>, n: usize) -> Vec<SiteRetainer> {
    if n == 0 {
        return Vec::new();
    }
    site_retainers(g, by_site, n)
        .into_iter()
        .map(|r| SiteRetainer {
            site: r.name,
            retained_bytes: r.retained_bytes,
            objects: r.objects,
            path: r.path,
        })
        .collect()
}

/// What the objects of one allocating function retain (see [`retention_by_function`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    /// Retained bytes, summed over the function's sites (each site counts an object once).
    pub bytes: u64,
    /// A path from a root to the function's object that retains the most.
    pub path: Vec<String>,
}

/// What each allocating function's objects retain, summed over its sites, and the path to the one
/// that retains the most, for every function of the dump in one pass over the objects.
pub fn retention_by_function(g: &ObjectGraph) -> std::collections::BTreeMap<String, Retention> {
    let function_of_site: Vec<&str> = g
        .sites
        .iter()
        .map(|s| s.first().map_or("", |f| f.split(' ').next().unwrap_or(f)))
        .collect();
    let mut ids: FxHashMap<&str, usize> = FxHashMap::default();
    let mut names: Vec<&str> = Vec::new();
    let site_fn: Vec<usize> = function_of_site
        .iter()
        .map(|f| {
            *ids.entry(f).or_insert_with(|| {
                names.push(f);
                names.len() - 1
            })
        })
        .collect();
    let mut bytes = vec![0u64; names.len()];
    let mut live = vec![false; names.len()];
    for (s, b, _) in retained_by_site(g) {
        bytes[site_fn[s as usize]] += b;
        live[site_fn[s as usize]] = true;
    }
    let mut best: Vec<Option<usize>> = vec![None; names.len()];
    for v in 0..g.len() {
        let s = g.site_of.get(v as Node);
        if s == NONE || !g.is_reachable(v as Node) {
            continue;
        }
        let f = site_fn[s as usize];
        if best[f].is_none_or(|b| g.retained(v as Node) > g.retained(b as Node)) {
            best[f] = Some(v);
        }
    }
    names
        .iter()
        .enumerate()
        .filter(|(f, _)| live[*f])
        .filter_map(|(f, name)| {
            let v = best[f]?;
            Some((
                name.to_string(),
                Retention {
                    bytes: bytes[f],
                    path: path_to(g, v as u32),
                },
            ))
        })
        .collect()
}

/// One retainer (object or site).
#[derive(Clone, Debug, Serialize)]
pub struct Retainer {
    /// `0x…` for an object, the leaf frame for a site.
    pub name: String,
    /// Retained bytes.
    pub retained_bytes: u64,
    /// Objects (1 for an object; the site's live objects).
    pub objects: usize,
    /// Frames of the allocation site, leaf first.
    pub frames: Vec<String>,
    /// Why it is alive: a path from a root (for a site, to its largest retainer).
    pub path: Vec<String>,
    /// How many of its objects have a trace like the path's ([`trace_fingerprints`]: the same
    /// root, types and fields but for indexes); 0 where not counted.
    #[serde(skip_serializing_if = "is_zero")]
    pub traces_like: usize,
    /// Owned by the Go runtime (allocated in `runtime.*`, a runtime type or global, a runtime
    /// goroutine's stack): listed after the program's own.
    pub runtime: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Whether a site's leaf frame, a type or a root names the Go runtime's own memory (goroutine
/// descriptors and stacks, Ps and Ms, the runtime's globals), which the program cannot free.
pub fn is_runtime_name(name: &str) -> bool {
    let name = name.trim_start_matches(['[', ']', '*']);
    name.starts_with("runtime.")
        || name.starts_with("internal/runtime/")
        || name.starts_with("stack of runtime.")
}

/// The path from a root to a class's best object ([`best_object_per_class`]); empty for none.
fn path_to_best(g: &ObjectGraph, best: &[u32], class: u32) -> Vec<String> {
    match best[class as usize] {
        NONE => Vec::new(),
        v => path_to(g, v),
    }
}

/// The first `limit` of `items` (already ranked), the program's own first and the runtime's
/// after, each in its rank order: one look at each item, however long the list.
fn own_first<T>(items: Vec<T>, limit: usize, runtime: impl Fn(&T) -> bool) -> Vec<T> {
    let (mut own, mut theirs) = (Vec::new(), Vec::new());
    for t in items {
        if own.len() == limit {
            break;
        }
        match runtime(&t) {
            true if theirs.len() < limit => theirs.push(t),
            true => {}
            false => own.push(t),
        }
    }
    let room = limit - own.len();
    own.extend(theirs.into_iter().take(room));
    own
}

/// The top `top` allocation sites of [`retained_by_site`] (`by_site`), each with the path to its
/// object that retains the most.
pub fn site_retainers(
    g: &ObjectGraph,
    by_site: Vec<(u32, u64, usize)>,
    top: usize,
) -> Vec<Retainer> {
    let limit = if top == 0 { usize::MAX } else { top };
    let best = best_object_per_site(g);
    let site_runtime = |s: u32| {
        g.sites[s as usize]
            .first()
            .is_some_and(|f| is_runtime_name(f))
    };
    own_first(by_site, limit, |&(s, _, _)| site_runtime(s))
        .into_iter()
        .map(|(s, bytes, n)| Retainer {
            name: g.sites[s as usize].first().cloned().unwrap_or_default(),
            retained_bytes: bytes,
            objects: n,
            frames: g.sites[s as usize].clone(),
            path: path_to_best(g, &best, s),
            traces_like: 0,
            runtime: site_runtime(s),
        })
        .collect()
}

/// The top retainers by object or by allocation site.
pub fn retainers(g: &ObjectGraph, by_site: bool, top: usize) -> Vec<Retainer> {
    let limit = if top == 0 { usize::MAX } else { top };
    if by_site {
        site_retainers(g, retained_by_site(g), top)
    } else {
        let object_runtime = |v: u32| match g.site_of.get(v) {
            u32::MAX => false,
            s => g.sites[s as usize]
                .first()
                .is_some_and(|f| is_runtime_name(f)),
        };
        let mut objs: Vec<u32> = (0..g.len() as u32).filter(|&v| g.is_reachable(v)).collect();
        objs.sort_by(|&a, &b| g.retained(b).cmp(&g.retained(a)).then(a.cmp(&b)));
        own_first(objs, limit, |&v| object_runtime(v))
            .into_iter()
            .map(|v| Retainer {
                name: format!("{:#x}", g.addr(v)),
                retained_bytes: g.retained(v),
                objects: 1,
                frames: match g.site_of.get(v) {
                    u32::MAX => Vec::new(),
                    s => g.sites[s as usize].clone(),
                },
                path: path_to(g, v),
                traces_like: 0,
                runtime: object_runtime(v),
            })
            .collect()
    }
}

/// Retainers by [`shapes`]: each shape's retained bytes, each object once, with the path to
/// its largest retainer.
pub fn retainers_by_shape(g: &ObjectGraph, top: usize) -> Vec<Retainer> {
    let limit = if top == 0 { usize::MAX } else { top };
    let (class, names) = shapes(g);
    let best = best_object_per_class(g, &class, names.len());
    retained_by_class(g, &class, names.len())
        .into_iter()
        .take(limit)
        .map(|(c, retained_bytes, objects)| Retainer {
            name: names[c as usize].clone(),
            retained_bytes,
            objects,
            frames: Vec::new(),
            path: path_to_best(g, &best, c),
            traces_like: 0,
            runtime: false,
        })
        .collect()
}

/// Retainers by Go type ([`ObjectGraph::type_of`], from the binary's DWARF): each type's
/// retained bytes, each object once, untyped objects as `(untyped)`, with the path to each
/// type's largest retainer. Empty when the dump has no types.
pub fn retainers_by_type(g: &ObjectGraph, top: usize) -> Vec<Retainer> {
    if g.type_names.is_empty() {
        return Vec::new();
    }
    let limit = if top == 0 { usize::MAX } else { top };
    let untyped = g.type_names.len() as u32;
    let class = Classes::Dense(
        (0..g.len() as Node)
            .map(|v| match g.type_of.get(v) {
                NONE => untyped,
                t => t,
            })
            .collect(),
    );
    let best = best_object_per_class(g, &class, g.type_names.len() + 1);
    let name = |c: u32| {
        g.type_names
            .get(c as usize)
            .cloned()
            .unwrap_or_else(|| "(untyped)".to_string())
    };
    let list = retained_by_class(g, &class, g.type_names.len() + 1);
    let like = traces_like(g, &class, &best);
    own_first(list, limit, |&(c, _, _)| is_runtime_name(&name(c)))
        .into_iter()
        .map(|(c, retained_bytes, objects)| Retainer {
            runtime: is_runtime_name(&name(c)),
            name: name(c),
            retained_bytes,
            objects,
            frames: Vec::new(),
            path: path_to_best(g, &best, c),
            traces_like: like.get(c as usize).copied().unwrap_or(0),
        })
        .collect()
}

/// For each class, how many of its objects share the trace fingerprint of its best object
/// ([`trace_fingerprints`]); one pass over the objects.
fn traces_like(g: &ObjectGraph, class: &Classes, best: &[u32]) -> Vec<usize> {
    let fp = trace_fingerprints(g);
    let want: Vec<u64> = best
        .iter()
        .map(|&b| if b == NONE { 0 } else { fp[b as usize] })
        .collect();
    let mut like = vec![0usize; best.len()];
    for (v, c) in class.each() {
        let f = fp.get(v as usize).copied().unwrap_or(0);
        if f != 0 && want.get(c as usize) == Some(&f) {
            like[c as usize] += 1;
        }
    }
    like
}

/// [`retained_by_root`] as retainers (no frames or paths: a root is where paths start).
pub fn retainers_by_root(g: &ObjectGraph, top: usize) -> Vec<Retainer> {
    let limit = if top == 0 { usize::MAX } else { top };
    own_first(retained_by_root(g), limit, |(name, _, _)| {
        is_runtime_name(name)
    })
    .into_iter()
    .map(|(name, retained_bytes, objects)| Retainer {
        runtime: is_runtime_name(&name),
        name,
        retained_bytes,
        objects,
        frames: Vec::new(),
        path: Vec::new(),
        traces_like: 0,
    })
    .collect()
}
