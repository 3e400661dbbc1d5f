//! Building the object graph from a heap dump: objects in address order, pointers linked
//! into rows, roots under one virtual root, then dominators and retained sizes.

use super::*;

/// A page table over the sorted objects: for each page of the address range, the first object
/// starting in it. A lookup then binary-searches one page's objects instead of all of them.
pub(super) struct AddrIndex {
    base: u64,
    shift: u32,
    first: Vec<u32>,
}

impl AddrIndex {
    pub(super) fn new(objects: &Table) -> AddrIndex {
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

    pub(super) fn find(&self, objects: &Table, addr: u64) -> Option<Node> {
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

pub(super) fn root_kind(k: RootKind) -> &'static str {
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

pub(super) fn section_of(k: RootKind) -> &'static str {
    if k == RootKind::Data {
        "data"
    } else {
        "bss"
    }
}

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
    let n = d.objects.len() as u32;
    let (mut objects, order) = address_order(d, progress);
    let (sites, site_of) = allocation_sites(d, &objects);
    // Edges: each object's pointers resolved to the objects holding them, in place and in the
    // dump's order, on all threads; then the virtual root's edges to every root target.
    let index = AddrIndex::new(&objects);
    let find = |a: u64| index.find(&objects, a).unwrap_or(NO_OBJECT);
    let typed = type_dump(d, &objects, &index, order.as_deref(), progress, memory);
    // Typing flags the resolved pointers; unflagged, an object's number is the whole word.
    let mask = if typed.is_some() {
        !typing::INTERIOR
    } else {
        u32::MAX
    };
    let (type_of, type_names, type_layouts, via, go_types) = match typed {
        Some((t, go)) => (t.type_of, t.names, t.layouts, t.via, Some(go)),
        None => (
            Classes::Sparse(Vec::new()),
            Vec::new(),
            Vec::new(),
            typing::Via::Mem(Vec::new()),
            None,
        ),
    };
    // What typed each object is read only when a path is printed: written to its spill file on
    // a thread of its own while the graph is built (the dominators' pass leaves a core idle).
    let dir = memory.spill_dir.clone();
    let typed_via = std::thread::spawn(move || via.finish(&dir));
    d.objects.drop_offsets();
    let linked = std::sync::atomic::AtomicU64::new(0);
    progress(Step::objects("linking pointers", 0, u64::from(n)));
    let node = |t: u32| (t != NO_OBJECT).then_some(t & mask);
    let (ends, rows) = d.objects.link_in_place(&find, &node, &|k| {
        let done = linked.fetch_add(k, std::sync::atomic::Ordering::Relaxed) + k;
        progress(Step::objects("linking pointers", done, u64::from(n)));
    });
    d.objects.clear();
    let (root_row, root_labels, root_groups) = roots(d, &objects, &index);
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
    let retained = retained_sizes(&objects, &idom, post, n);
    let (typed_via, via_error) = typed_via
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    if let Some(e) = via_error {
        d.notes.push(format!(
            "could not keep which pointer typed each object ({e}, in {}): traces name a step's field only where the holder's type has one field that can point to it",
            memory.spill_dir.display()
        ));
    }
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
        type_layouts,
        typed_via,
        go_types,
        parent: std::sync::OnceLock::new(),
        idom,
        retained,
    }
}

/// Types from the binary's DWARF, while each pointer still has its offset: the pointers are
/// resolved first, each flagged when it points into its object's middle, so typing reads their
/// objects instead of looking them up again. `None` without DWARF or offsets, or with more
/// objects than typing numbers (a note says so).
fn type_dump(
    d: &mut HeapDump,
    objects: &Table,
    index: &AddrIndex,
    order: Option<&[u32]>,
    progress: Progress,
    memory: &Memory,
) -> Option<(
    typing::Typed,
    std::sync::Arc<crate::formats::gotypes::GoTypes>,
)> {
    let n = d.objects.len() as u32;
    let typeable = d.dwarf.is_some() && d.objects.has_offsets();
    match d.dwarf.clone() {
        Some(types) if typeable && n < typing::INTERIOR => {
            progress(Step::phase("resolving pointers"));
            let headers = typing::malloc_headers(&d.params.version);
            let resolve =
                |a: u64| typing::flag_interior(objects, headers, index.find(objects, a), a);
            d.objects.resolve_in_place(&resolve);
            progress(Step::phase("typing objects from the binary's DWARF"));
            let (typed, st) = typing::type_objects(
                d,
                &types,
                objects,
                &resolve,
                order,
                progress,
                &memory.spill_dir,
            );
            d.notes
                .push(typing_note(&st, &types.go_version, objects.len()));
            if let Some(damaged) = &types.unreadable {
                d.notes.push(format!("the binary's DWARF: {damaged}"));
            }
            Some((typed, types))
        }
        Some(_) if typeable => {
            d.notes.push(format!(
                "not typed from the binary's DWARF: {n} objects, more than typing numbers ({})",
                typing::INTERIOR - 1
            ));
            None
        }
        _ => None,
    }
}

/// What the typing found, for the reader: how much is typed and why the rest is not.
pub(super) fn typing_note(st: &typing::Stats, go_version: &str, objects: usize) -> String {
    let mut s = format!(
        "types from the binary's DWARF ({}): {} of {objects} objects typed exactly ({}): through the pointers that reach them from {} typed globals",
        if go_version.is_empty() { "Go" } else { go_version },
        st.typed,
        mib(st.typed_bytes),
        st.from_globals,
    );
    let also: Vec<String> = [
        (st.from_stacks, "goroutines' stack slots"),
        (st.from_headers, "objects' malloc headers"),
        (st.through_interfaces, "interface values' dynamic types"),
        (st.closures, "func values' closures"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !also.is_empty() {
        s.push_str(&format!(", and from {}", also.join(" and ")));
    }
    if st.inferred > 0 {
        s.push_str(&format!(
            "; {} more inferred ({}), named \"T{}\": {} whose size, pointer words and the exact types of what they point to fit one type only of those objects of their size are typed as exactly, and {} more through their pointers",
            st.inferred,
            mib(st.inferred_bytes),
            typing::INFERRED,
            plural(st.inferred_seeds, "object"),
            st.inferred - st.inferred_seeds,
        ));
        if st.inferred_conflicts > 0 {
            s.push_str(&format!(
                " ({} of those pointers reach an object typed otherwise: the first type kept)",
                st.inferred_conflicts
            ));
        }
    }
    let why: Vec<String> = [
        (
            st.untyped_pointers,
            "pointers through funcs, unsafe.Pointer or interfaces of types the binary does not name",
        ),
        (
            st.untyped_roots,
            "roots no type describes (stack slots without a local, finalizers…)",
        ),
        (st.interior, "pointers into an object's middle"),
        (
            st.conflicts,
            "objects reached as two types (the first kept)",
        ),
        (
            st.ambiguous,
            "objects whose size and pointers fit two or more types (left untyped)",
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

/// `n` and the noun, plural unless `n` is 1 (`1 object`, `3 objects`).
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Bytes as MiB with two decimals.
pub(super) fn mib(bytes: u64) -> String {
    format!("{:.2}MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// BFS parents toward `root` (`NONE` for the root and what it does not reach).
pub(super) fn bfs(edges: &Edges, root: u32) -> Vec<u32> {
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

/// The objects in address order: the dump's own columns when it wrote them in that order (Go
/// walks its spans by address, mostly), else a sorted copy and the permutation (dump index of
/// each address-order position).
fn address_order(d: &mut HeapDump, progress: Progress) -> (Table, Option<Vec<u32>>) {
    use rayon::prelude::*;
    let n = d.objects.len() as u32;
    let sorted = {
        let a = &d.objects.addr;
        (1..a.len()).all(|i| a.get(i - 1) <= a.get(i))
    };
    if sorted {
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
    }
}

/// Allocation sites from the alloc-sample records, and each sampled object's site. A site is
/// the allocating frame (function file:line), whatever the callers: a recursive constructor is
/// one site, though each depth is its own bucket.
fn allocation_sites(d: &HeapDump, objects: &Table) -> (Vec<Vec<String>>, Classes) {
    let mut sites: Vec<Vec<String>> = Vec::new();
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
            let skip = crate::formats::allocators::allocator_frames(&b.frames);
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
    (sites, site_of)
}

/// The virtual root's row (every root's target, once) and each root target's label and group.
#[allow(clippy::type_complexity)]
fn roots(
    d: &HeapDump,
    objects: &Table,
    index: &AddrIndex,
) -> (Vec<u32>, FxHashMap<Node, String>, FxHashMap<Node, String>) {
    let mut root_labels: FxHashMap<Node, String> = FxHashMap::default();
    let mut root_groups: FxHashMap<Node, String> = FxHashMap::default();
    let mut root_row: Vec<u32> = Vec::with_capacity(d.roots.len());
    for r in &d.roots {
        if let Some(t) = index.find(objects, r.target) {
            root_row.push(t);
            if root_labels.contains_key(&t) {
                continue;
            }
            let kind = root_kind(r.kind);
            let (label, group) = match r.kind {
                RootKind::Stack => match d.frames.get(r.owner as usize) {
                    Some(f) => {
                        let g = d.goroutines.get(f.goroutine as usize).map_or(0, |g| g.id);
                        // The local that holds it, where the binary's DWARF says.
                        let local = d
                            .dwarf
                            .as_ref()
                            .and_then(|t| typing::stack_local(d, t, r))
                            .map_or(String::new(), |(l, _, function)| {
                                if function == f.function {
                                    format!(" (local {})", l.name)
                                } else {
                                    format!(" (argument {} of {function})", l.name)
                                }
                            });
                        (
                            format!("stack of goroutine {g}, {}{local}", f.function),
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
    (root_row, root_labels, root_groups)
}

/// Each object's retained size: its own plus its dominator-tree children's, summed in post-order
/// (every object before its immediate dominator).
fn retained_sizes(objects: &Table, idom: &[u32], post: Vec<u32>, n: u32) -> Sizes {
    let total = objects.len() + 1;
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
    let mut compact = Sizes::with_capacity(retained.len());
    for r in retained {
        compact.push(r);
    }
    compact
}
