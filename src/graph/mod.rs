//! Object graph of a Go heap dump: pointers resolved to objects (interior pointers included),
//! reachability from the roots, strongly connected components (reference cycles), the dominator
//! tree and retained sizes, per object and per allocation site, and a path from a root.
//!
//! May import: `formats` (the heap dump's records), `model` (a dump as a profile), `spill`, `units` (sizes on paths). Storage is
//! compressed rows of u32 indices ([`Edges`]); the algorithms are iterative (no recursion: graphs are millions of objects deep)
//! and run over its neighbour slices: Pearce's space-efficient Tarjan SCC, and the
//! Cooper–Harvey–Kennedy dominator iteration on post-order numbers. Past a memory budget
//! ([`Memory`]) the columns the dominator phase does not read are spilled.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::formats::heapdump::{sort_dedup, Addrs, HeapDump, RootKind, Sizes, NO_OBJECT};

mod build;
mod cycles;
mod dominators;
mod profile;
mod retained;
mod summary;
mod typing;

pub use build::*;
pub use cycles::*;
use dominators::*;
pub use profile::*;
pub use retained::*;
pub use summary::*;

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

    /// Asks the processor for object `v`'s size, to be read at random soon.
    pub fn prefetch_size(&self, v: Node) {
        self.sizes.prefetch(v as usize);
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

    /// From a column of every object's class (`NONE`: none): sparse when fewer than a quarter of
    /// them have one, else the column itself.
    fn from_column(column: Vec<u32>) -> Classes {
        let have = column.iter().filter(|&&c| c != NONE).count();
        if have < column.len() / 4 {
            let pairs: Vec<(Node, u32)> = column
                .iter()
                .enumerate()
                .filter(|(_, &c)| c != NONE)
                .map(|(v, &c)| (v as Node, c))
                .collect();
            return Classes::Sparse(pairs);
        }
        Classes::Dense(column)
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
    /// For each type name, its DWARF type and whether its objects hold several of it.
    pub type_layouts: Vec<(crate::formats::gotypes::TypeId, bool)>,
    /// For each object typed through another object's pointer: that object and the pointer's
    /// offset in it, packed; empty without types. What names a leak trace's fields; read only
    /// when paths are printed, so kept in a spill file (its pages the page cache's).
    pub typed_via: crate::spill::Column<u64>,
    /// The binary's types, when given.
    pub go_types: Option<std::sync::Arc<crate::formats::gotypes::GoTypes>>,
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

    /// A dump without allocation records: its sites retain nothing, and the summary keeps the
    /// roots' view for `report`; a summary saved before these fields were kept reads as one
    /// whose sites answer.
    #[test]
    fn a_summary_says_how_much_the_sites_retain_and_what_the_roots_do() {
        let g = build(&dump(4, &[(0, 1), (1, 2)]));
        let s = summarize(&g, "d");
        assert_eq!(s.site_coverage, 0.0);
        assert!(s.top_retainers.is_empty() && s.top_types.is_empty());
        assert_eq!(s.top_roots.len(), 1);
        assert_eq!(
            (s.top_roots[0].retained_bytes, s.top_roots[0].objects),
            (48, 3)
        );
        let mut old = serde_json::to_value(&s).unwrap();
        for field in ["site_coverage", "top_roots", "top_types"] {
            old.as_object_mut().unwrap().remove(field);
        }
        let back: GraphSummary = serde_json::from_value(old).unwrap();
        assert_eq!(back.site_coverage, 1.0);
        assert!(back.top_roots.is_empty());
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
