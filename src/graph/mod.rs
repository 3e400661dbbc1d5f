//! Object graph of a Go heap dump: pointers resolved to objects (interior pointers included),
//! reachability from the roots, strongly connected components (reference cycles), the dominator
//! tree and retained sizes, per object and per allocation site, and a path from a root.
//!
//! May import: `formats` (the heap dump's records), `model` (a dump as a profile), `spill`. Storage is
//! compressed rows of u32 indices ([`Edges`]); the algorithms are iterative (no recursion: graphs are millions of objects deep)
//! and run over its neighbour slices: Pearce's space-efficient Tarjan SCC, and the
//! Cooper–Harvey–Kennedy dominator iteration on post-order numbers. Past a memory budget
//! ([`Memory`]) the columns the dominator phase does not read are spilled.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::formats::heapdump::{sort_dedup, Addrs, HeapDump, RootKind, Sizes};

mod typing;

/// Index of a node: objects are `0..n`, the virtual root (which points at every root) is `n`.
pub type Node = u32;

const NONE: u32 = u32::MAX;

/// Objects sorted by address, compact: addresses in 4 bytes where the heap range allows
/// ([`Addrs`]), sizes in 4 ([`Sizes`]).
pub struct Table {
    addrs: Addrs,
    sizes: Sizes,
}

impl Table {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// Address of object `v`.
    pub fn addr(&self, v: Node) -> u64 {
        self.addrs.get(v as usize)
    }

    /// Size of object `v`.
    pub fn size(&self, v: Node) -> u64 {
        self.sizes.get(v as usize)
    }

    /// The object containing `addr`, if any.
    pub fn find(&self, addr: u64) -> Option<Node> {
        self.find_in(0, self.len(), addr)
    }

    /// Bytes of process memory held.
    pub fn memory(&self) -> usize {
        self.addrs.memory() + self.sizes.memory()
    }

    /// Moves the addresses and sizes to mapped temporary files in `dir`.
    fn spill(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        self.addrs.spill(dir)?;
        self.sizes.spill(dir)
    }

    /// The object containing `addr` among objects `lo..hi` (every object before `lo` starts
    /// lower and cannot be the answer unless it is `lo − 1`; none from `hi` on starts at or
    /// below `addr`).
    fn find_in(&self, lo: usize, hi: usize, addr: u64) -> Option<Node> {
        let i = self.addrs.first_above(lo.min(hi), hi, addr);
        if i == 0 {
            return None;
        }
        let (a, size) = (self.addrs.get(i - 1), self.sizes.get(i - 1));
        (addr >= a && addr < a.saturating_add(size.max(1))).then_some((i - 1) as Node)
    }
}

/// A class per object (an allocation site, a shape), `NONE` for none: one number per object, or
/// only the objects that have one when few do (a dump at the default `MemProfileRate` has an
/// allocation record for one object in thousands).
#[derive(Clone, Debug)]
pub enum Classes {
    /// Each object's class.
    Dense(Vec<u32>),
    /// (object, class) for the objects that have one, by object.
    Sparse(Vec<(Node, u32)>),
}

impl Classes {
    /// Object `v`'s class (`NONE`: none).
    pub fn get(&self, v: Node) -> u32 {
        match self {
            Classes::Dense(c) => c.get(v as usize).copied().unwrap_or(NONE),
            Classes::Sparse(c) => c
                .binary_search_by_key(&v, |&(o, _)| o)
                .map_or(NONE, |i| c[i].1),
        }
    }

    /// The objects that have a class, with it, ascending.
    pub fn each(&self) -> Box<dyn Iterator<Item = (Node, u32)> + '_> {
        match self {
            Classes::Dense(c) => Box::new(
                c.iter()
                    .enumerate()
                    .filter(|(_, &s)| s != NONE)
                    .map(|(v, &s)| (v as Node, s)),
            ),
            Classes::Sparse(c) => Box::new(c.iter().copied()),
        }
    }

    /// From (object, class) pairs for `n` objects: sparse when fewer than a quarter of them have
    /// a class (8 bytes each instead of 4 for every object).
    fn from_pairs(mut pairs: Vec<(Node, u32)>, n: usize) -> Classes {
        // Stable: of one object's pairs, the first stays.
        pairs.sort_by_key(|&(v, _)| v);
        pairs.dedup_by_key(|p| p.0);
        if pairs.len() < n / 4 {
            pairs.shrink_to_fit();
            return Classes::Sparse(pairs);
        }
        let mut dense = vec![NONE; n];
        for (v, s) in pairs {
            dense[v as usize] = s;
        }
        Classes::Dense(dense)
    }
}

/// The graph and everything computed on it.
pub struct ObjectGraph {
    /// Objects sorted by address.
    pub objects: Table,
    /// Allocation site (index into `sites`) of each object, `NONE` when not sampled.
    pub site_of: Classes,
    /// Allocation sites (one per allocating frame): the frames of one of its stacks, leaf first,
    /// as `function file:line`.
    pub sites: Vec<Vec<String>>,
    /// Edges, objects and the virtual root.
    pub edges: Edges,
    /// For each root edge of the virtual root, in order: its kind and description.
    pub root_labels: FxHashMap<Node, String>,
    /// The root each root target is counted under by `retained --by root` (its first root): a
    /// global by name (`main.sessions (bss)`), a goroutine stack by its frame's function, other
    /// roots by kind.
    pub root_groups: FxHashMap<Node, String>,
    /// True when the dump's globals have names (its binary was given).
    pub named_globals: bool,
    /// Each object's Go type (index into `type_names`), from the binary's DWARF ([`typing`]);
    /// empty without one.
    pub type_of: Classes,
    /// Type names: `main.session`, `[]main.session` (an object holding two or more).
    pub type_names: Vec<String>,
    /// BFS parents toward the virtual root, found when a path is first asked for.
    parent: std::sync::OnceLock<Vec<u32>>,
    /// Immediate dominator (`NONE` for the root and unreachable objects).
    pub idom: Vec<u32>,
    /// Retained sizes (the object's own size plus everything it dominates; 0 when
    /// unreachable), in 4 bytes each (4 GiB or more aside), the virtual root's last.
    retained: Sizes,
}

impl ObjectGraph {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there are no objects.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The virtual root.
    pub fn root(&self) -> Node {
        self.objects.len() as Node
    }

    /// The object containing `addr`, if any.
    pub fn find(&self, addr: u64) -> Option<Node> {
        self.objects.find(addr)
    }

    /// Address of object `v`.
    pub fn addr(&self, v: Node) -> u64 {
        self.objects.addr(v)
    }

    /// Size of object `v`.
    pub fn size(&self, v: Node) -> u64 {
        self.objects.size(v)
    }

    /// Retained size of `v` (the virtual root's: every reachable byte).
    pub fn retained(&self, v: Node) -> u64 {
        self.retained.get(v as usize)
    }

    /// BFS parent of each node toward the virtual root (`NONE` when unreachable), for paths;
    /// a BFS the first time.
    pub fn parent(&self) -> &[u32] {
        self.parent.get_or_init(|| bfs(&self.edges, self.root()))
    }

    /// Whether object `v` is reachable from a root (it has an immediate dominator).
    pub fn is_reachable(&self, v: Node) -> bool {
        (v as usize) < self.len() && self.idom[v as usize] != NONE
    }
}

/// A page table over the sorted objects: for each page of the address range, the first object
/// starting in it. A lookup then binary-searches one page's objects instead of all of them.
struct AddrIndex {
    base: u64,
    shift: u32,
    first: Vec<u32>,
}

impl AddrIndex {
    fn new(objects: &Table) -> AddrIndex {
        let n = objects.len();
        if n == 0 {
            return AddrIndex {
                base: 0,
                shift: 63,
                first: vec![0, 0],
            };
        }
        let (base, last) = (objects.addr(0), objects.addr(n as Node - 1));
        // Pages of 8 KiB, larger when the heap is sparse: at most one entry per object.
        let mut shift = 13u32;
        let limit = (n as u64).max(1 << 16);
        while ((last - base) >> shift) + 2 > limit {
            shift += 1;
        }
        let pages = (((last - base) >> shift) + 2) as usize;
        let mut first = vec![n as u32; pages];
        for i in (0..n).rev() {
            first[((objects.addr(i as Node) - base) >> shift) as usize] = i as u32;
        }
        for p in (0..pages - 1).rev() {
            first[p] = first[p].min(first[p + 1]);
        }
        AddrIndex { base, shift, first }
    }

    fn find(&self, objects: &Table, addr: u64) -> Option<Node> {
        if addr < self.base {
            return None;
        }
        let p = ((addr - self.base) >> self.shift) as usize;
        match self.first.get(p + 1) {
            Some(&end) => {
                let lo = self.first[p].saturating_sub(1) as usize;
                objects.find_in(lo, end as usize, addr)
            }
            // Past the last page: only the last object can hold it.
            None => objects.find_in(objects.len().saturating_sub(1), objects.len(), addr),
        }
    }
}

fn root_kind(k: RootKind) -> &'static str {
    match k {
        RootKind::Data => "global (data)",
        RootKind::Bss => "global (bss)",
        RootKind::Stack => "stack",
        RootKind::Context => "goroutine context",
        RootKind::Finalizer => "finalizer closure",
        RootKind::Finalizing => "object awaiting its finalizer",
        RootKind::DeferPanic => "defer/panic",
        RootKind::Other => "other root",
    }
}

fn section_of(k: RootKind) -> &'static str {
    if k == RootKind::Data {
        "data"
    } else {
        "bss"
    }
}

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

/// Edges in compressed rows: node `v`'s targets are `targets[start[v]..start[v + 1]]`, 4 bytes an
/// edge and 4 a node. (petgraph's `Csr` keeps 8 bytes a node and is built from a sorted edge list
/// of 8 bytes an edge: on a dump of 100M pointers that list alone was 800 MB.)
pub struct Edges {
    start: Vec<u32>,
    targets: Vec<u32>,
}

impl Edges {
    /// The nodes `v` points at, ascending, without repeats.
    pub fn neighbors(&self, v: Node) -> &[u32] {
        &self.targets[self.start[v as usize] as usize..self.start[v as usize + 1] as usize]
    }

    /// Number of nodes (objects and the virtual root).
    pub fn node_count(&self) -> usize {
        self.start.len() - 1
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        (self.start.capacity() + self.targets.capacity()) * 4
    }
}

/// How much memory a graph may hold before the columns a phase does not read go to a spill file
/// (`--memory-budget`, `--spill-dir`).
#[derive(Clone, Debug)]
pub struct Memory {
    /// Bytes; `u64::MAX`: never spill.
    pub budget: u64,
    /// Where spill files go (created and unlinked at once).
    pub spill_dir: std::path::PathBuf,
}

impl Default for Memory {
    fn default() -> Memory {
        Memory {
            budget: u64::MAX,
            spill_dir: crate::spill::default_dir(),
        }
    }
}

impl Memory {
    /// The default budget: a quarter of this machine's memory (4 GiB when unknown).
    pub fn default_budget() -> u64 {
        crate::spill::total_memory().map_or(4 << 30, |m| m / 4)
    }
}

/// Where a long step stands.
#[derive(Copy, Clone, Debug)]
pub struct Step<'a> {
    /// What is being done (`linking pointers`).
    pub phase: &'a str,
    /// Units done.
    pub done: u64,
    /// Units in all; 0 when unknown (then only the phase is shown).
    pub total: u64,
    /// Whether the units are bytes (else objects).
    pub bytes: bool,
    /// Objects read so far, when the units are bytes (0: not shown).
    pub objects: u64,
}

impl<'a> Step<'a> {
    /// A phase with no count.
    pub fn phase(phase: &'a str) -> Step<'a> {
        Step {
            phase,
            done: 0,
            total: 0,
            bytes: false,
            objects: 0,
        }
    }

    /// A phase counting objects.
    pub fn objects(phase: &'a str, done: u64, total: u64) -> Step<'a> {
        Step {
            phase,
            done,
            total,
            bytes: false,
            objects: 0,
        }
    }
}

/// Receives progress of long steps, from any thread.
pub type Progress<'a> = &'a (dyn Fn(Step<'_>) + Sync);

/// Builds the graph of a dump and runs reachability, dominators and retained sizes.
pub fn build(d: &HeapDump) -> ObjectGraph {
    build_with(&mut d.clone(), &|_| {})
}

/// [`build`], reporting each phase's progress; the dump's object columns are dropped as soon as
/// the edges are linked (they are most of its memory).
pub fn build_with(d: &mut HeapDump, progress: Progress) -> ObjectGraph {
    build_within(d, progress, &Memory::default())
}

/// [`build_with`] within a memory budget: when the dominator phase would take the graph past
/// `memory.budget`, the objects' addresses and sizes (which that phase does not read) go to a
/// spill file first. A spill that fails (a full disk) is a note on the dump, and the graph stays
/// in memory.
pub fn build_within(d: &mut HeapDump, progress: Progress, memory: &Memory) -> ObjectGraph {
    use rayon::prelude::*;
    let n = d.objects.len() as u32;
    // Objects in address order: the dump's own columns when it wrote them in that order (Go
    // walks its spans by address, mostly), else a sorted copy and the permutation.
    let sorted = {
        let a = &d.objects.addr;
        (1..a.len()).all(|i| a.get(i - 1) <= a.get(i))
    };
    let (mut objects, order) = if sorted {
        let addrs = std::mem::take(&mut d.objects.addr);
        let sizes = std::mem::take(&mut d.objects.size);
        (Table { addrs, sizes }, None)
    } else {
        progress(Step::phase("sorting objects by address"));
        let o = &d.objects;
        let mut order: Vec<u32> = (0..n).collect();
        order.par_sort_unstable_by_key(|&i| o.addr.get(i as usize));
        let (start, end) = (d.params.heap_start, d.params.heap_end);
        let mut addrs = Addrs::with_capacity(start, end, order.len());
        let mut sizes = Sizes::with_capacity(order.len());
        for &i in &order {
            addrs.push(o.addr.get(i as usize));
            sizes.push(o.size(i as usize));
        }
        // Linking needs only the pointers now.
        d.objects.addr = Addrs::default();
        d.objects.size = Sizes::default();
        (Table { addrs, sizes }, Some(order))
    };
    // Allocation sites from the alloc-sample records.
    let mut sites: Vec<Vec<String>> = Vec::new();
    // A site is the allocating frame (function file:line), whatever the callers: a recursive
    // constructor is one site, though each depth is its own bucket.
    let mut site_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut bucket_site: FxHashMap<u64, u32> = FxHashMap::default();
    let buckets: FxHashMap<u64, &crate::formats::heapdump::Bucket> =
        d.buckets.iter().map(|b| (b.id, b)).collect();
    let mut sampled: Vec<(Node, u32)> = Vec::new();
    for &(addr, bucket) in &d.samples {
        let (Some(node), Some(b)) = (objects.find(addr), buckets.get(&bucket)) else {
            continue;
        };
        let id = *bucket_site.entry(bucket).or_insert_with(|| {
            // Go 1.24+ records the allocator's own frames first (runtime.mallocgc →
            // runtime.makeslice → the program): the site is the first frame past them.
            let skip = crate::formats::heapdump::allocator_frames(&b.frames);
            let frames: Vec<String> = b.frames[skip..]
                .iter()
                .map(|(f, file, line)| format!("{f} {file}:{line}"))
                .collect();
            let leaf = frames.first().cloned().unwrap_or_default();
            *site_ids.entry(leaf).or_insert_with(|| {
                sites.push(frames);
                (sites.len() - 1) as u32
            })
        });
        sampled.push((node, id));
    }
    // The last record for an object wins, as before (a later sample of the same address).
    sampled.reverse();
    let site_of = Classes::from_pairs(sampled, objects.len());
    // Edges: each object's pointers resolved to the objects holding them, in place and in the
    // dump's order, on all threads; then the virtual root's edges to every root target.
    let index = AddrIndex::new(&objects);
    let linked = std::sync::atomic::AtomicU64::new(0);
    progress(Step::objects("linking pointers", 0, u64::from(n)));
    // Types from the binary's DWARF, while each pointer still has its offset.
    let (type_of, type_names) = match d.dwarf.clone() {
        Some(types) if d.objects.has_offsets() => {
            progress(Step::phase("typing objects from the binary's DWARF"));
            let (c, names, st) =
                typing::type_objects(d, &types, &objects, &index, order.as_deref());
            d.notes
                .push(typing_note(&st, &types.go_version, objects.len()));
            (c, names)
        }
        _ => (Classes::Sparse(Vec::new()), Vec::new()),
    };
    d.objects.drop_offsets();
    let (ends, rows) = d.objects.link_in_place(&|a| index.find(&objects, a), &|k| {
        let done = linked.fetch_add(k, std::sync::atomic::Ordering::Relaxed) + k;
        progress(Step::objects("linking pointers", done, u64::from(n)));
    });
    d.objects.clear();
    let mut root_labels: FxHashMap<Node, String> = FxHashMap::default();
    let mut root_groups: FxHashMap<Node, String> = FxHashMap::default();
    let mut root_row: Vec<u32> = Vec::with_capacity(d.roots.len());
    for r in &d.roots {
        if let Some(t) = index.find(&objects, r.target) {
            root_row.push(t);
            if root_labels.contains_key(&t) {
                continue;
            }
            let kind = root_kind(r.kind);
            let (label, group) = match r.kind {
                RootKind::Stack => match d.frames.get(r.owner as usize) {
                    Some(f) => {
                        let g = d.goroutines.get(f.goroutine as usize).map_or(0, |g| g.id);
                        (
                            format!("stack of goroutine {g}, {}", f.function),
                            format!("stack of {}", f.function),
                        )
                    }
                    None => (kind.to_string(), kind.to_string()),
                },
                RootKind::Data | RootKind::Bss => match d.global_at(r.slot) {
                    Some(g) => {
                        let name = format!("{} ({})", g.name, section_of(r.kind));
                        (name.clone(), name)
                    }
                    None => (kind.to_string(), kind.to_string()),
                },
                _ => (kind.to_string(), kind.to_string()),
            };
            root_labels.insert(t, label);
            root_groups.insert(t, group);
        }
    }
    let len = sort_dedup(&mut root_row);
    root_row.truncate(len);
    drop(index);
    // Rows in address order (the dominator and SCC passes read them at random, and a node's row
    // one lookup away was 2× slower there), built from the resolved ones, which then go.
    let edges = {
        let row = |i: usize| {
            let s = if i == 0 { 0 } else { ends[i - 1] as usize };
            &rows[s..ends[i] as usize]
        };
        let mut start = Vec::with_capacity(objects.len() + 2);
        let mut targets = Vec::with_capacity(rows.len() + root_row.len());
        start.push(0u32);
        for v in 0..n as usize {
            targets.extend_from_slice(row(order.as_ref().map_or(v, |o| o[v] as usize)));
            start.push(targets.len() as u32);
        }
        targets.extend_from_slice(&root_row);
        start.push(targets.len() as u32);
        Edges { start, targets }
    };
    drop((ends, rows, order));
    let total = objects.len() + 1;
    // The dominator phase adds, per node, its post-order position and number, a predecessor
    // row start and its dominator, and a predecessor per edge.
    let peak = objects.memory() as u64
        + edges.memory() as u64
        + 16 * total as u64
        + 4 * edges.edge_count() as u64;
    if peak > memory.budget {
        let dir = &memory.spill_dir;
        progress(Step::phase(&format!(
            "moving object addresses and sizes to {}",
            dir.display()
        )));
        if let Err(e) = objects.spill(dir) {
            d.notes.push(format!(
                "could not spill to {} ({e}); the graph stays in memory",
                dir.display()
            ));
        }
    }
    progress(Step::phase("computing dominators"));
    let (idom, post) = dominators(&edges, n, progress);
    progress(Step::phase("summing retained sizes"));
    // Post-order: every object before its immediate dominator.
    let mut retained = vec![0u64; total];
    for &v in &post {
        if v != n {
            retained[v as usize] += objects.size(v);
            let p = idom[v as usize];
            if p != NONE {
                retained[p as usize] += retained[v as usize];
            }
        }
    }
    drop(post);
    let retained = {
        let mut compact = Sizes::with_capacity(retained.len());
        for r in retained {
            compact.push(r);
        }
        compact
    };
    ObjectGraph {
        objects,
        site_of,
        sites,
        edges,
        root_labels,
        root_groups,
        named_globals: !d.globals.is_empty(),
        type_of,
        type_names,
        parent: std::sync::OnceLock::new(),
        idom,
        retained,
    }
}

/// What the typing found, for the reader: how much is typed and why the rest is not.
fn typing_note(st: &typing::Stats, go_version: &str, objects: usize) -> String {
    let mut s = format!(
        "types from the binary's DWARF ({}): {} of {objects} objects typed ({}), inferred from the pointers that reach them from {} typed globals",
        if go_version.is_empty() { "Go" } else { go_version },
        st.typed,
        mib(st.typed_bytes),
        st.from_globals,
    );
    let why: Vec<String> = [
        (
            st.untyped_pointers,
            "pointers through interfaces, funcs or unsafe.Pointer",
        ),
        (st.untyped_roots, "stack and other untyped roots"),
        (st.interior, "pointers into an object's middle"),
        (
            st.conflicts,
            "objects reached as two types (the first kept)",
        ),
        (
            st.disagree,
            "pointers the binary's types do not have (is it the dump's binary?)",
        ),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !why.is_empty() {
        s.push_str("; not followed: ");
        s.push_str(&why.join(", "));
    }
    s
}

/// Bytes as MiB with two decimals.
fn mib(bytes: u64) -> String {
    format!("{:.2}MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// BFS parents toward `root` (`NONE` for the root and what it does not reach).
fn bfs(edges: &Edges, root: u32) -> Vec<u32> {
    let mut parent = vec![NONE; edges.node_count()];
    let mut queue = std::collections::VecDeque::new();
    parent[root as usize] = root;
    queue.push_back(root);
    while let Some(v) = queue.pop_front() {
        for &w in edges.neighbors(v) {
            if parent[w as usize] == NONE {
                parent[w as usize] = v;
                queue.push_back(w);
            }
        }
    }
    parent[root as usize] = NONE;
    parent
}

/// Immediate dominators from `root` (Cooper, Harvey & Kennedy, "A Simple, Fast Dominance
/// Algorithm"), and the post-order it ran on (reachable nodes only, the root last).
///
/// The iteration runs on post-order numbers: predecessor lists in that order are read front to
/// back on every pass, and comparing two nodes' order is comparing their numbers, so neither a
/// numbering array nor the successor rows are touched while it runs.
fn dominators(edges: &Edges, root: u32, progress: Progress) -> (Vec<u32>, Vec<u32>) {
    let total = edges.node_count();
    // Post-order by iterative DFS; `po` is NONE until seen, OPEN while on the stack.
    const OPEN: u32 = NONE - 1;
    let mut po = vec![NONE; total];
    let mut post: Vec<u32> = Vec::new();
    let mut stack: Vec<(u32, u32)> = vec![(root, 0)];
    po[root as usize] = OPEN;
    while let Some(&mut (v, ref mut i)) = stack.last_mut() {
        let nb = edges.neighbors(v);
        if (*i as usize) < nb.len() {
            let w = nb[*i as usize];
            *i += 1;
            if po[w as usize] == NONE {
                po[w as usize] = OPEN;
                stack.push((w, 0));
            }
        } else {
            po[v as usize] = post.len() as u32;
            post.push(v);
            stack.pop();
        }
    }
    drop(stack);
    post.shrink_to_fit();
    let r = post.len();
    // Predecessors by post-order number, compressed rows.
    let mut pred_start = vec![0u32; r + 1];
    for &v in &post {
        for &w in edges.neighbors(v) {
            pred_start[po[w as usize] as usize + 1] += 1;
        }
    }
    for i in 0..r {
        pred_start[i + 1] += pred_start[i];
    }
    // Filled through `pred_start` itself: each row's cursor moves up to the next row's start,
    // then the array is shifted back by one.
    let mut preds = vec![0u32; pred_start[r] as usize];
    for (k, &v) in post.iter().enumerate() {
        for &w in edges.neighbors(v) {
            let row = po[w as usize] as usize;
            preds[pred_start[row] as usize] = k as u32;
            pred_start[row] += 1;
        }
    }
    drop(po);
    pred_start.copy_within(0..r, 1);
    pred_start[0] = 0;
    // The root is the last in post-order; every other node comes before its dominators.
    let top = (r - 1) as u32;
    let mut idom = vec![NONE; r];
    idom[top as usize] = top;
    let intersect = |idom: &[u32], mut a: u32, mut b: u32| {
        while a != b {
            while a < b {
                a = idom[a as usize];
            }
            while b < a {
                b = idom[b as usize];
            }
        }
        a
    };
    let mut changed = true;
    let mut pass = 0;
    while changed {
        changed = false;
        pass += 1;
        let phase = format!("computing dominators, pass {pass}");
        progress(Step::phase(&phase));
        for v in (0..top).rev() {
            let ps = &preds[pred_start[v as usize] as usize..pred_start[v as usize + 1] as usize];
            let mut new = NONE;
            for &p in ps {
                if idom[p as usize] == NONE {
                    continue;
                }
                new = if new == NONE {
                    p
                } else {
                    intersect(&idom, p, new)
                };
            }
            if new != NONE && idom[v as usize] != new {
                idom[v as usize] = new;
                changed = true;
            }
        }
    }
    drop(preds);
    drop(pred_start);
    // Back to node numbers.
    let mut out = vec![NONE; total];
    for (k, &d) in idom.iter().enumerate().take(top as usize) {
        out[post[k] as usize] = post[d as usize];
    }
    (out, post)
}

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
}

/// The node under the graph's root that a BFS path to `v` starts from (its root group is
/// [`ObjectGraph::root_groups`]); `None` when unreachable.
fn root_top(g: &ObjectGraph, v: Node) -> Option<Node> {
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
struct LiteCycle {
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
fn cycle_order(a: &LiteCycle, b: &LiteCycle) -> std::cmp::Ordering {
    b.reachable
        .cmp(&a.reachable)
        .then(b.retained.cmp(&a.retained))
        .then(b.bytes.cmp(&a.bytes))
        .then(a.first.cmp(&b.first))
}

/// Cycles of one shape as they are counted: sums, roots by their top node, and the first cycle
/// in report order (whose path the group shows).
struct Tally {
    cycles: usize,
    bytes: u64,
    retained: u64,
    roots: FxHashMap<Node, usize>,
    best: LiteCycle,
}

/// A group's key: reachable, objects per cycle, and the members' (site, count) ascending.
type ShapeKey = (bool, usize, Vec<(u32, u32)>);

/// What one pass over a run of components gathers: the groups, and the first cycles of each
/// kind (reachable, unreachable) in report order, at most `limit` each.
#[derive(Default)]
struct CycleTally {
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

/// The (site, count) list of a cycle's members, ascending by site.
fn site_key(g: &ObjectGraph, m: &[Node], scratch: &mut Vec<u32>) -> Vec<(u32, u32)> {
    scratch.clear();
    scratch.extend(m.iter().map(|&v| g.site_of.get(v)));
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
fn site_names(g: &ObjectGraph, key: &[(u32, u32)]) -> Vec<(String, usize)> {
    let mut names: Vec<(String, usize)> = key
        .iter()
        .map(|&(s, n)| {
            let name = match s {
                NONE => "(not sampled)".to_string(),
                s => g.sites[s as usize]
                    .first()
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
fn root_name(g: &ObjectGraph, top: Node) -> String {
    g.root_groups
        .get(&top)
        .cloned()
        .unwrap_or_else(|| "root".to_string())
}

fn cycle_report_of(g: &ObjectGraph, comps: &Components, keep: usize) -> CycleReport {
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
            CycleGroup {
                cycles: t.cycles,
                objects,
                sites: site_names(g, &key),
                bytes: t.bytes,
                retained_bytes: t.retained,
                reachable,
                roots,
                path: path_to(g, t.best.entry),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.reachable
            .cmp(&a.reachable)
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
fn entry_of(g: &ObjectGraph, m: &[Node]) -> Node {
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

fn path_len(g: &ObjectGraph, v: Node) -> usize {
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

/// Retained bytes per allocation site, counting each object once: an object adds its retained
/// size to its site unless an object of the same site dominates it.
pub fn retained_by_site(g: &ObjectGraph) -> Vec<(u32, u64, usize)> {
    retained_by_class(g, &g.site_of, g.sites.len())
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

/// Per site, its reachable object that retains the most (`NONE` for a site with none live); ties
/// go to the first object, or with `last_of_ties` to the last (as `retained --by site` has always
/// shown them).
fn best_object_per_site(g: &ObjectGraph, last_of_ties: bool) -> Vec<u32> {
    best_object_per_class(g, &g.site_of, g.sites.len(), last_of_ties)
}

/// [`best_object_per_site`] over any grouping of the objects (`class_of.get(v)`, `NONE` for none).
fn best_object_per_class(
    g: &ObjectGraph,
    class_of: &Classes,
    classes: usize,
    last_of_ties: bool,
) -> Vec<u32> {
    let mut best: Vec<(u64, u32)> = vec![(0, NONE); classes];
    for (v, s) in class_of.each() {
        let v = v as usize;
        if v >= g.len() || !g.is_reachable(v as Node) {
            continue;
        }
        let (bytes, at) = best[s as usize];
        let better = at == NONE
            || g.retained(v as Node) > bytes
            || (last_of_ties && g.retained(v as Node) == bytes);
        if better {
            best[s as usize] = (g.retained(v as Node), v as u32);
        }
    }
    best.into_iter().map(|(_, v)| v).collect()
}

/// The top `n` sites by retained bytes.
pub fn top_sites(g: &ObjectGraph, n: usize) -> Vec<SiteRetainer> {
    let best = best_object_per_site(g, false);
    retained_by_site(g)
        .into_iter()
        .take(n)
        .map(|(s, bytes, count)| SiteRetainer {
            site: g.sites[s as usize].first().cloned().unwrap_or_default(),
            retained_bytes: bytes,
            objects: count,
            path: match best[s as usize] {
                NONE => Vec::new(),
                v => path_to(g, v),
            },
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
fn cycle_functions_of(g: &ObjectGraph, comps: &Components) -> std::collections::BTreeSet<String> {
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
}

/// The top retainers by object or by allocation site.
pub fn retainers(g: &ObjectGraph, by_site: bool, top: usize) -> Vec<Retainer> {
    let limit = if top == 0 { usize::MAX } else { top };
    if by_site {
        // The path goes to the site's object that retains the most.
        let best = best_object_per_site(g, true);
        retained_by_site(g)
            .into_iter()
            .take(limit)
            .map(|(s, bytes, n)| Retainer {
                name: g.sites[s as usize].first().cloned().unwrap_or_default(),
                retained_bytes: bytes,
                objects: n,
                frames: g.sites[s as usize].clone(),
                path: match best[s as usize] {
                    NONE => Vec::new(),
                    v => path_to(g, v),
                },
            })
            .collect()
    } else {
        let mut objs: Vec<u32> = (0..g.len() as u32).filter(|&v| g.is_reachable(v)).collect();
        objs.sort_by(|&a, &b| g.retained(b).cmp(&g.retained(a)).then(a.cmp(&b)));
        objs.into_iter()
            .take(limit)
            .map(|v| Retainer {
                name: format!("{:#x}", g.addr(v)),
                retained_bytes: g.retained(v),
                objects: 1,
                frames: match g.site_of.get(v) {
                    u32::MAX => Vec::new(),
                    s => g.sites[s as usize].clone(),
                },
                path: path_to(g, v),
            })
            .collect()
    }
}

/// Retainers by [`shapes`]: each shape's retained bytes, each object once, with the path to
/// its largest retainer.
pub fn retainers_by_shape(g: &ObjectGraph, top: usize) -> Vec<Retainer> {
    let limit = if top == 0 { usize::MAX } else { top };
    let (class, names) = shapes(g);
    let best = best_object_per_class(g, &class, names.len(), false);
    retained_by_class(g, &class, names.len())
        .into_iter()
        .take(limit)
        .map(|(c, retained_bytes, objects)| Retainer {
            name: names[c as usize].clone(),
            retained_bytes,
            objects,
            frames: Vec::new(),
            path: match best[c as usize] {
                NONE => Vec::new(),
                v => path_to(g, v),
            },
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
    let best = best_object_per_class(g, &class, g.type_names.len() + 1, false);
    retained_by_class(g, &class, g.type_names.len() + 1)
        .into_iter()
        .take(limit)
        .map(|(c, retained_bytes, objects)| Retainer {
            name: g
                .type_names
                .get(c as usize)
                .cloned()
                .unwrap_or_else(|| "(untyped)".to_string()),
            retained_bytes,
            objects,
            frames: Vec::new(),
            path: match best[c as usize] {
                NONE => Vec::new(),
                v => path_to(g, v),
            },
        })
        .collect()
}

/// [`retained_by_root`] as retainers (no frames or paths: a root is where paths start).
pub fn retainers_by_root(g: &ObjectGraph, top: usize) -> Vec<Retainer> {
    let limit = if top == 0 { usize::MAX } else { top };
    retained_by_root(g)
        .into_iter()
        .take(limit)
        .map(|(name, retained_bytes, objects)| Retainer {
            name,
            retained_bytes,
            objects,
            frames: Vec::new(),
            path: Vec::new(),
        })
        .collect()
}

/// The live (reachable) objects of a dump as a profile: one sample per allocation site (its
/// stack), with `inuse_objects`, `inuse_space` and `retained_space` (each object counted once per
/// site, see [`retained_by_site`]; sums over several sites can count an object twice, so the
/// total of `retained_space` is not a heap size). Unsampled objects form one `(not sampled)`
/// site. Lets every diff, trend and report read heap dumps like heap profiles.
pub fn to_profile(
    g: &ObjectGraph,
    source: &str,
    version: &str,
    interner: &mut crate::model::Interner,
) -> crate::model::Profile {
    use crate::model::{Format, ProfileBuilder, ValueType};
    let n_sites = g.sites.len();
    let mut objects = vec![0i64; n_sites + 1];
    let mut bytes = vec![0i64; n_sites + 1];
    for v in 0..g.len() {
        if !g.is_reachable(v as Node) {
            continue;
        }
        let s = match g.site_of.get(v as Node) {
            NONE => n_sites,
            s => s as usize,
        };
        objects[s] += 1;
        bytes[s] += g.size(v as Node) as i64;
    }
    let mut retained = vec![0i64; n_sites + 1];
    for (s, b, _) in retained_by_site(g) {
        retained[s as usize] = b as i64;
    }
    let mut b = ProfileBuilder::new(
        Format::GoHeapDump,
        vec![
            ValueType::new("inuse_objects", "count"),
            ValueType::new("inuse_space", "bytes"),
            ValueType::new("retained_space", "bytes"),
        ],
    );
    b.meta_mut().source = source.to_string();
    b.meta_mut().default_sample_type = Some("inuse_space".into());
    b.meta_mut()
        .labels
        .insert("go_version".into(), version.to_string());
    let unsampled = (0..g.len())
        .filter(|&v| g.is_reachable(v as Node) && g.site_of.get(v as Node) == NONE)
        .count();
    if unsampled > 0 {
        b.meta_mut().warnings.push(format!(
            "{unsampled} live objects have no allocation sample (set runtime.MemProfileRate = 1 \
             before allocating to attribute every object); they are under `(not sampled)`"
        ));
    }
    for s in 0..=n_sites {
        if objects[s] == 0 {
            continue;
        }
        let frames: Vec<crate::model::FrameId> = if s == n_sites {
            vec![interner.symbol_frame("(not sampled)", "", 0)]
        } else {
            g.sites[s]
                .iter()
                .rev()
                .map(|f| {
                    let (func, loc) = f.rsplit_once(' ').unwrap_or((f.as_str(), ""));
                    let (file, line) = loc.rsplit_once(':').unwrap_or((loc, "0"));
                    interner.symbol_frame(func, file, line.parse().unwrap_or(0))
                })
                .collect()
        };
        let stack = interner.stack_from_root(frames);
        b.add_sample(stack, &[objects[s], bytes[s], retained[s]], &[]);
    }
    b.finish(interner).unwrap_or_else(|_| {
        ProfileBuilder::new(Format::GoHeapDump, Vec::new())
            .finish(interner)
            .expect("empty profile")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::heapdump::Root;

    /// A dump of `n` 16-byte objects at 0x1000 + 16·i with the given edges; object 0 is a root.
    fn dump(n: usize, edges: &[(usize, usize)]) -> HeapDump {
        let mut d = HeapDump::default();
        for i in 0..n {
            // Interior pointers (+8) resolve to the object too.
            let targets = edges
                .iter()
                .filter(|&&(a, _)| a == i)
                .map(|&(_, b)| 0x1000 + 16 * b as u64 + 8 * (b % 2) as u64);
            d.objects.push(0x1000 + 16 * i as u64, 16, targets);
        }
        d.roots.push(Root::global(RootKind::Bss, 0x1000));
        d
    }

    /// Reachable from the root without going through `skip`.
    fn reach(n: usize, edges: &[(usize, usize)], skip: Option<usize>) -> Vec<bool> {
        let mut seen = vec![false; n];
        if skip == Some(0) {
            return seen;
        }
        let mut todo = vec![0];
        seen[0] = true;
        while let Some(v) = todo.pop() {
            for &(a, b) in edges {
                if a == v && !seen[b] && Some(b) != skip {
                    seen[b] = true;
                    todo.push(b);
                }
            }
        }
        seen
    }

    fn table(objects: &[(u64, u64)], start: u64, end: u64) -> Table {
        let mut addrs = Addrs::new(start, end);
        let mut sizes = Sizes::default();
        for &(a, size) in objects {
            addrs.push(a);
            sizes.push(size);
        }
        Table { addrs, sizes }
    }

    fn brute_find(objects: &[(u64, u64)], addr: u64) -> Option<Node> {
        objects
            .iter()
            .position(|&(a, size)| addr >= a && addr < a + size.max(1))
            .map(|i| i as Node)
    }

    #[test]
    fn the_page_index_finds_what_a_full_search_finds() {
        let mut objects = Vec::new();
        let mut a = 0x00c0_0000_0000_u64;
        for i in 0..5000u64 {
            a += 8 + (i * 7919) % 20000 / 8 * 8; // gaps, some larger than a page
            let size = 16 + (i * 31) % 12000 / 8 * 8; // some objects span pages
            objects.push((a, size));
            a += size;
        }
        let end = a + 50_000;
        // Words from the heap start; full addresses when the range is unknown; and full
        // addresses after an unaligned one.
        let mut odd = objects.clone();
        odd[2500].0 += 1;
        for (objs, t) in [
            (&objects, table(&objects, 0x00c0_0000_0000, end)),
            (&objects, table(&objects, 0, 0)),
            (&odd, table(&odd, 0x00c0_0000_0000, end)),
        ] {
            let index = AddrIndex::new(&t);
            let mut probe = objs[0].0 - 100;
            while probe < end {
                let want = brute_find(objs, probe);
                assert_eq!(index.find(&t, probe), want, "{probe:#x}");
                assert_eq!(t.find(probe), want, "{probe:#x}");
                probe += 997;
            }
        }
        assert!(matches!(
            table(&objects, 0x00c0_0000_0000, end).addrs,
            Addrs::Words { .. }
        ));
        assert!(matches!(
            table(&odd, 0x00c0_0000_0000, end).addrs,
            Addrs::Full(_)
        ));
        let empty = table(&[], 0, 0);
        assert_eq!(AddrIndex::new(&empty).find(&empty, 5), None);
    }

    #[test]
    fn dominators_and_retained_sizes_match_brute_force() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for _ in 0..200 {
            let n = 2 + rnd(14);
            let edges: Vec<(usize, usize)> = (0..rnd(3 * n)).map(|_| (rnd(n), rnd(n))).collect();
            let g = build(&dump(n, &edges));
            let base = reach(n, &edges, None);
            for v in 0..n {
                assert_eq!(g.is_reachable(v as Node), base[v]);
                if !base[v] {
                    assert_eq!(g.retained(v as Node), 0);
                    continue;
                }
                // d dominates v iff v is unreachable once d is removed.
                let doms: Vec<usize> = (0..n)
                    .filter(|&d| d != v && !reach(n, &edges, Some(d))[v])
                    .collect();
                // The immediate dominator is the dominator dominated by all the others.
                let want = doms.iter().copied().find(|&d| {
                    doms.iter()
                        .all(|&o| o == d || !reach(n, &edges, Some(o))[d])
                });
                let got = match g.idom[v] {
                    x if x == g.root() || x == NONE => None,
                    x => Some(x as usize),
                };
                assert_eq!(got, want, "n={n} edges={edges:?} v={v}");
                // Retained = own size + everything only reachable through v.
                let without = reach(n, &edges, Some(v));
                let owned = (0..n).filter(|&w| base[w] && !without[w]).count() as u64;
                assert_eq!(g.retained(v as Node), 16 * owned, "v={v}");
            }
            // Cycles: v and w share a component iff each reaches the other.
            let comps = cycles(&g);
            for c in &comps {
                let v = c[0] as usize;
                assert!(c.len() > 1 || edges.contains(&(v, v)));
            }
        }
    }
}
