//! Types for a dump's objects from its binary's DWARF, the way golang.org/x/debug's viewcore
//! does it: each typed global's pointer words give their targets a type (the pointer's static
//! pointee), and each typed object's pointer words do the same for theirs, breadth-first from the
//! globals. What this gives is inferred, not read from the object: exact when the pointer's
//! static type is the object's (no `unsafe` conversion on the way), which Go's type system makes
//! the rule. An interface's data word types its target by the dynamic type its first word says:
//! a type descriptor (whose DWARF type has its address), or an itab (the dump's itab records give
//! its descriptor), read from the dump, not guessed; a func value's closure by the function its
//! code pointer is. Pointers that cannot type their target are counted, never guessed through:
//! `unsafe.Pointer` and funcs (static type unknown), interfaces whose first word the binary does
//! not name, stack slots no local of the frame's function covers at its pc, a closure's captured
//! words the DWARF does not place (before Go 1.23, or left out of an optimized build), pointers
//! into the middle of an object, targets smaller than the type, and words the dump says are
//! pointers where the type has none (a binary that is not the dump's). A stack
//! slot is typed by the local there (its DWARF location at the frame's pc, from the frame's
//! canonical frame address, whole or in pieces), or by the argument of the function the frame
//! calls that is spilled there (past the callee's canonical frame address); an interface's,
//! global or local, by the word before it when that word is part of the same variable.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::formats::gotypes::{GoTypes, Local, Slot, TypeId};
use crate::formats::heapdump::{HeapDump, Root, RootKind};

use super::{Classes, Node, Progress, Step, Table, NONE, NO_OBJECT};
use crate::spill::prefetch;

/// The local a goroutine's stack root's slot holds, from the binary's DWARF, with the function
/// whose local it is: the local its frame's function keeps there at the frame's pc; else, for a
/// slot where a call's register arguments are spilled (in the caller's frame, past the callee's
/// canonical frame address, which is the caller's stack pointer), the argument of the function
/// the frame calls (the frame before it in the dump: one deeper, the same goroutine).
pub(super) fn stack_local<'t>(
    d: &'t HeapDump,
    types: &'t GoTypes,
    r: &Root,
) -> Option<(&'t Local, u64, &'t str)> {
    let i = r.owner as usize;
    let f = d.frames.get(i)?;
    if let Some((l, into)) = types.frame_local(&f.function, f.pc, f.size, r.slot) {
        return Some((l, into, &f.function));
    }
    let c = d.frames.get(i.checked_sub(1)?)?;
    if c.goroutine != f.goroutine || c.depth + 1 != f.depth {
        return None;
    }
    // From the callee's CFA, the slot is `r.slot` bytes up: a frame of size 0 there.
    let (l, into) = types.frame_local(&c.function, c.pc, 0, r.slot)?;
    (l.cfa_offset >= 0).then_some((l, into, &c.function))
}

/// How the typing went: counts for the note the dump's reader sees.
#[derive(Debug, Default)]
pub(super) struct Stats {
    /// Globals (data, bss roots) whose type gave their target one.
    pub from_globals: u64,
    /// Stack slots whose local's type gave their target one.
    pub from_stacks: u64,
    /// Objects no pointer typed that their malloc header did.
    pub from_headers: u64,
    /// Objects typed.
    pub typed: u64,
    /// Their bytes.
    pub typed_bytes: u64,
    /// Pointers whose target's type is not known statically (unsafe.Pointer, funcs, interfaces
    /// whose type word the binary does not name).
    pub untyped_pointers: u64,
    /// Interface data words followed as the dynamic type their type or itab word names.
    pub through_interfaces: u64,
    /// Func values followed to a closure of the function its code pointer names.
    pub closures: u64,
    /// Roots the DWARF does not type (stack slots, finalizers, globals without a type).
    pub untyped_roots: u64,
    /// Pointers into an object's middle (the object is typed by a pointer to its start, if any).
    pub interior: u64,
    /// Targets smaller than the pointer's type, or pointer words where the type has none.
    pub disagree: u64,
    /// Objects reached as two different types (the first stays).
    pub conflicts: u64,
    /// Objects no pointer or header typed whose type is inferred from their size and pointers
    /// ([`infer_by_layout`]).
    pub inferred_seeds: u64,
    /// Objects that fit two or more types that way (left untyped).
    pub ambiguous: u64,
    /// Objects typed as inferred: the seeds and what their pointers typed.
    pub inferred: u64,
    /// Their bytes.
    pub inferred_bytes: u64,
    /// Conflicts met while following the inferred objects' pointers.
    pub inferred_conflicts: u64,
}

impl Stats {
    /// Adds the pointer counts one thread gathered.
    fn add(&mut self, o: &Stats) {
        self.untyped_pointers += o.untyped_pointers;
        self.through_interfaces += o.through_interfaces;
        self.closures += o.closures;
        self.interior += o.interior;
        self.conflicts += o.conflicts;
        self.disagree += o.disagree;
    }
}

/// What typing gives the graph.
pub(super) struct Typed {
    /// Each object's type (index into `names`; in address order).
    pub type_of: Classes,
    /// The types' names (`main.session`, or `[]main.session` for an object that holds two or
    /// more), with [`INFERRED`] after those of objects typed by inference.
    pub names: Vec<String>,
    /// For each name, the DWARF type and whether its objects hold several of it.
    pub layouts: Vec<(TypeId, bool)>,
    /// For each object typed through another object's pointer, that object and the pointer's
    /// offset in it (after a malloc header), packed by [`pack_via`]; `NO_VIA` otherwise. Empty
    /// when nothing is typed. Written out by [`Via::finish`].
    pub via: Via,
}

/// Each object's type, the types' names and layouts, what typed each object, and the counts.
// Over 120 lines: one breadth-first search from the typed globals, a level at a time.
#[allow(clippy::too_many_lines)]
pub(super) fn type_objects(
    d: &HeapDump,
    types: &GoTypes,
    objects: &Table,
    resolve: &(dyn Fn(u64) -> u32 + Sync),
    order: Option<&[u32]>,
    progress: Progress,
    spill_dir: &std::path::Path,
) -> (Typed, Stats) {
    let n = objects.len();
    let o = &d.objects;
    let mut ty: Vec<TypeId> = vec![NONE; n];
    let mut st = Stats::default();
    let dump_index = |v: Node| order.map_or(v as usize, |o| o[v as usize] as usize);
    // Go 1.22+ puts an 8-byte malloc header (the object's type) in front of small objects over
    // 512 bytes that hold pointers: pointers to such an object point past it, and its fields
    // start there.
    let headers = malloc_headers(&d.params.version);
    let header = |v: Node| header_size(headers, objects.size(v));
    // Whether an object's first word is a heap pointer (a swiss map's directory is; its one
    // group, when the map is small, starts with control bytes).
    let pointer_at_zero = |v: Node| {
        let r = o.pointers_of(dump_index(v));
        !r.is_empty() && o.offset(r.start) == Some(0)
    };
    // For each object typed through another object's pointer: that object and the pointer's
    // offset in it (after any malloc header), so a leak trace can name the field.
    let mut via = Via::new(spill_dir, n);
    // What a pointer to `target` of static pointee type `p` can type: the object and its type,
    // or nothing (counted). Reads only the objects' columns: safe on every thread.
    // Which types a small swiss map's pointer may stand for (a lookup per pointer otherwise).
    let mut small_map = vec![false; types.types.len()];
    for &t in types.small_map_group.keys() {
        if let Some(b) = small_map.get_mut(t as usize) {
            *b = true;
        }
    }
    // `target` is the pointer's object as resolved ([`flag_interior`]).
    let propose = |target: u32, p: TypeId, st: &mut Stats| -> Option<(Node, TypeId)> {
        if target == NO_OBJECT {
            return None;
        }
        if target & INTERIOR != 0 {
            st.interior += 1;
            return None;
        }
        let (t, h) = (target, header(target));
        let small_map = small_map.get(p as usize).copied().unwrap_or(false);
        let p = match small_map.then(|| types.small_map_group.get(&p)).flatten() {
            Some(&group) if !pointer_at_zero(t) => group,
            _ => p,
        };
        let size = types.size(p);
        if size == 0 {
            return None;
        }
        if objects.size(t) - h < size {
            st.disagree += 1;
            return None;
        }
        Some((t, p))
    };
    // The first proposal for an object types it; a later one of another type is a conflict.
    let accept = |(t, p): (Node, TypeId),
                  from: (Node, u32),
                  ty: &mut Vec<TypeId>,
                  via: &mut Via,
                  st: &mut Stats,
                  next: &mut Level| match ty[t as usize] {
        NONE => {
            ty[t as usize] = p;
            via.set(t, pack_via(from.0, from.1));
            push(next, t);
        }
        q if q == p || types.resolve(q) == types.resolve(p) => {}
        _ => st.conflicts += 1,
    };
    // The static pointee an interface's data word has, from the word before it (its type or
    // itab word): `None` (counted) where the binary names no type there.
    // itab (or descriptor) → descriptor.
    let itabs: FxHashMap<u64, u64> = d.itabs.iter().copied().collect();
    let dynamic = |word: Option<u64>, st: &mut Stats| -> Option<TypeId> {
        let p = word
            .map(|w| itabs.get(&w).copied().unwrap_or(w))
            .and_then(|descriptor| types.dynamic.get(&descriptor))
            .and_then(|&t| types.boxed(t));
        match p {
            Some(_) => st.through_interfaces += 1,
            None => st.untyped_pointers += 1,
        }
        p
    };
    // A func value's closure: the type of the function its first word (the code pointer) is.
    let closure = |target: u32, st: &mut Stats| -> Option<TypeId> {
        let c = (target != NO_OBJECT)
            .then(|| o.first_word(dump_index(target & !INTERIOR)))
            .flatten()
            .and_then(|w| types.closures.get(&w).copied());
        match c {
            Some(_) => st.closures += 1,
            None => st.untyped_pointers += 1,
        }
        c
    };
    // What a pointer in a slot of this static kind types its target as (counted when nothing):
    // `word` reads the word before it, an interface's type or itab word, only when needed.
    let pointee = |slot: Slot,
                   word: &dyn Fn() -> Option<u64>,
                   target: u32,
                   st: &mut Stats|
     -> Option<TypeId> {
        match slot {
            Slot::To(p) => Some(p),
            Slot::Dynamic => dynamic(word(), st),
            Slot::Func => closure(target, st),
            Slot::Untyped => {
                st.untyped_pointers += 1;
                None
            }
            Slot::None => {
                st.disagree += 1;
                None
            }
        }
    };
    let mut frontier: Level = Vec::new();
    for (i, r) in d.roots.iter().enumerate() {
        // A stack slot is typed by the local its frame's function keeps there at the frame's pc
        // (a caller's pc is its return address: [`GoTypes::frame_local`]).
        let stack = r.kind == RootKind::Stack;
        let mut local = None;
        let typed = match r.kind {
            RootKind::Data | RootKind::Bss => types.global_at(r.slot),
            RootKind::Stack => stack_local(d, types, r).map(|(l, into, _)| {
                local = Some(l);
                (l.ty, into)
            }),
            _ => None,
        };
        let Some((g, off)) = typed else {
            st.untyped_roots += 1;
            continue;
        };
        let slot = match types.slot(g, off) {
            // A frame's slot the local does not hold a pointer in: a word the DWARF does not
            // describe at this pc, not a disagreement.
            Slot::None if stack => {
                st.untyped_roots += 1;
                continue;
            }
            // An interface's data word kept in a piece apart from its type word: the word
            // before it on the frame is not its type.
            Slot::Dynamic
                if local.is_some_and(|l| !off.checked_sub(8).is_some_and(|w| l.keeps(w, 16))) =>
            {
                st.untyped_roots += 1;
                continue;
            }
            slot => slot,
        };
        // An interface global's or local's type or itab word, kept by the reader.
        let word = || d.root_type_word(i);
        let target = resolve(r.target);
        let pointee = pointee(slot, &word, target, &mut st);
        if let Some(p) = pointee {
            if let Some(found) = propose(target, p, &mut st) {
                let (ty, via) = (&mut ty, &mut via);
                accept(found, (NONE, 0), ty, via, &mut st, &mut frontier);
            }
            if stack {
                st.from_stacks += 1;
            } else {
                st.from_globals += 1;
            }
        }
    }
    // Breadth-first, a level at a time: each level's pointers are read and checked on every
    // thread (the memory-bound part), then applied in the level's order, so the first pointer
    // to reach an object types it exactly as a one-thread search would.
    let mut next: Level = Vec::new();
    // Then the objects the pointers left untyped whose malloc header (Go 1.22+) names the type
    // they were allocated as: the runtime's own record, and what they point to from there. Then
    // those whose type is inferred from their size and pointers, and what they point to: every
    // object typed from there on is inferred, not exact.
    let mut then = if headers { Next::Headers } else { Next::Layout };
    // The objects typed exactly, and the conflicts met until then (set when inference starts).
    let mut exact: Vec<u64> = Vec::new();
    let mut conflicts_before_inference = 0;
    loop {
        while !frontier.is_empty() {
            // A window of the level at a time: what its pointers propose stays small.
            let pointer_count = |v: Node| o.pointers_of(dump_index(v)).len();
            for window in frontier.iter().flat_map(|b| windows(b, &pointer_count)) {
                use rayon::prelude::*;
                let ty_now = &ty;
                // In stages, each one loop over the chunk: the objects' rows, then their
                // pointers, then the pointers' targets. The heap is read at random; a loop whose
                // steps do not wait on each other keeps many of those reads in flight at once
                // (one step per object through all three kept one or two: 40 % slower). The
                // pointers go in batches: one object can have millions (a slice's backing array).
                let propose_all = |chunk: &[Node]| {
                    let (mut out, mut st) = (Vec::new(), Stats::default());
                    // What a batch of pointers proposes, in order.
                    let flush = |pointers: &mut Vec<(Node, u32, usize, Slot, u32)>,
                                 out: &mut Vec<Proposal>,
                                 st: &mut Stats| {
                        for i in 0..pointers.len() {
                            // Their targets' sizes and types are read at random: ask for those
                            // of one a few pointers ahead.
                            if let Some(&(.., t)) = pointers.get(i + PREFETCH) {
                                if t != NO_OBJECT {
                                    let t = t & !INTERIOR;
                                    objects.prefetch_size(t);
                                    prefetch(ty_now, t as usize);
                                }
                            }
                            let (v, off, k, slot, target) = pointers[i];
                            let word = || o.type_word(k);
                            let Some(p) = pointee(slot, &word, target, st) else {
                                continue;
                            };
                            let Some(f) = propose(target, p, st) else {
                                continue;
                            };
                            // A target typed at an earlier level: the same type changes nothing,
                            // another is a conflict; neither needs the one-thread pass below.
                            match ty_now[f.0 as usize] {
                                NONE => out.push((f, (v, off))),
                                q if q == f.1 || types.resolve(q) == types.resolve(f.1) => {}
                                _ => st.conflicts += 1,
                            }
                        }
                        pointers.clear();
                    };
                    let rows: Vec<(Node, TypeId, u64, std::ops::Range<usize>)> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| {
                            if let Some(&w) = chunk.get(i + PREFETCH) {
                                objects.prefetch_size(w);
                                prefetch(ty_now, w as usize);
                                o.prefetch_row(dump_index(w));
                            }
                            (
                                v,
                                ty_now[v as usize],
                                header(v),
                                o.pointers_of(dump_index(v)),
                            )
                        })
                        .collect();
                    let mut pointers = Vec::with_capacity(BATCH);
                    for (j, &(v, t, h, ref row)) in rows.iter().enumerate() {
                        // The rows lie at random: ask for the start of one a few rows ahead.
                        if let Some((.., ahead)) = rows.get(j + 4) {
                            o.prefetch_pointer(ahead.start);
                        }
                        let row = row.clone();
                        let size = types.size(t);
                        // A closure's words after its code pointer are what it captured: one
                        // value (no elements), typed where Go 1.23+'s DWARF places a capture.
                        let closure = types.is_closure(t);
                        for k in row {
                            let Some(off) = o.offset(k) else { break };
                            let Some(off) = u64::from(off).checked_sub(h) else {
                                st.disagree += 1;
                                continue;
                            };
                            let slot = if closure {
                                types.slot(t, off)
                            } else {
                                types.slot(t, off % size)
                            };
                            let off = u32::try_from(off).unwrap_or(u32::MAX);
                            pointers.push((v, off, k, slot, o.resolved(k)));
                            if pointers.len() == BATCH {
                                flush(&mut pointers, &mut out, &mut st);
                            }
                        }
                    }
                    flush(&mut pointers, &mut out, &mut st);
                    (out, st)
                };
                // A small level (a linked list's one node) on this thread: handing it to the
                // pool costs more than reading it (a ring of 100,000 nodes is 100,000 levels).
                let found: Vec<(Vec<Proposal>, Stats)> = if window.len() <= 2048 {
                    vec![propose_all(window)]
                } else {
                    window.par_chunks(2048).map(propose_all).collect()
                };
                for (list, part) in found {
                    st.add(&part);
                    for (i, &(f, from)) in list.iter().enumerate() {
                        // The targets are read at random: ask for one a few proposals ahead,
                        // so that its read is under way when its turn comes.
                        if let Some(&((t, _), _)) = list.get(i + PREFETCH) {
                            prefetch(&ty, t as usize);
                        }
                        accept(f, from, &mut ty, &mut via, &mut st, &mut next);
                    }
                }
            }
            frontier = std::mem::take(&mut next);
        }
        match then {
            Next::Done => break,
            Next::Layout => {
                then = Next::Done;
                progress(Step::phase("inferring the types of objects nothing typed"));
                exact = typed_set(&ty);
                conflicts_before_inference = st.conflicts;
                frontier = infer_by_layout(
                    types,
                    objects,
                    o,
                    &dump_index,
                    &header,
                    &mut ty,
                    &exact,
                    &mut st,
                );
                continue;
            }
            Next::Headers => then = Next::Layout,
        }
        // The kept first words by dump index (the objects are in address order here).
        let words: FxHashMap<u32, u64> = o
            .first_words()
            .iter()
            .filter(|(_, w)| types.dynamic.contains_key(w))
            .map(|&(i, w)| (i as u32, w))
            .collect();
        if words.is_empty() {
            continue;
        }
        for v in 0..n as Node {
            let Some(w) = words.get(&(dump_index(v) as u32)) else {
                continue;
            };
            let t = types.dynamic[w];
            if ty[v as usize] != NONE || header(v) != 8 {
                continue;
            }
            if objects.size(v) - 8 < types.size(t) {
                st.disagree += 1;
                continue;
            }
            ty[v as usize] = t;
            st.from_headers += 1;
            push(&mut frontier, v);
        }
    }
    progress(Step::phase("naming the objects' types"));
    // Names: the type, or a slice of it when the object holds two or more (a slice's backing
    // array, a map's groups).
    // Keyed by name: the DWARF can describe one type more than once.
    let mut by_type: FxHashMap<(TypeId, bool, bool), u32> = FxHashMap::default();
    let mut by_name: FxHashMap<String, u32> = FxHashMap::default();
    let mut names: Vec<String> = Vec::new();
    let mut layouts: Vec<(TypeId, bool)> = Vec::new();
    // Each object's type becomes its name's index in place: no second column of the heap's
    // size while the first is alive.
    st.inferred_conflicts = st.conflicts - conflicts_before_inference;
    st.conflicts = conflicts_before_inference;
    // Neighbours are mostly of one type, size and kind (a span's objects): the last key's name.
    let mut last: Option<((TypeId, u64, bool), u32)> = None;
    for (v, t) in ty.iter_mut().enumerate() {
        if *t == NONE {
            continue;
        }
        let size = objects.size(v as Node);
        let inferred = !exact.is_empty() && !is_set(&exact, v);
        if inferred {
            st.inferred += 1;
            st.inferred_bytes += size;
        } else {
            st.typed += 1;
            st.typed_bytes += size;
        }
        let key = (*t, size, inferred);
        if let Some((k, name)) = last {
            if k == key {
                *t = name;
                continue;
            }
        }
        let many = !types.is_closure(*t) && size - header(v as Node) >= 2 * types.size(*t);
        let ty_id = *t;
        *t = *by_type.entry((ty_id, many, inferred)).or_insert_with(|| {
            let name = types.name(ty_id);
            let name = format!(
                "{}{name}{}",
                if many { "[]" } else { "" },
                if inferred { INFERRED } else { "" }
            );
            *by_name.entry(name).or_insert_with_key(|name| {
                names.push(name.clone());
                layouts.push((ty_id, many));
                names.len() as u32 - 1
            })
        });
        last = Some((key, *t));
    }
    if st.typed + st.inferred == 0 {
        via = Via::Mem(Vec::new());
    }
    let typed = Typed {
        type_of: Classes::from_column(ty),
        names,
        layouts,
        via,
    };
    (typed, st)
}

/// What typed each object ([`Typed::via`]), as the search finds it: logged to files in the
/// spill folder (a column of 8 bytes an object, written at random, held by the page cache
/// instead of the process, at typing's peak), or in memory where those cannot be made.
pub(super) enum Via {
    Mem(Vec<u64>),
    Log(crate::spill::Scatter<u64>),
}

impl Via {
    fn new(dir: &std::path::Path, n: usize) -> Via {
        match crate::spill::Scatter::new(dir, n, NO_VIA) {
            Ok(s) => Via::Log(s),
            Err(_) => Via::Mem(vec![NO_VIA; n]),
        }
    }

    fn set(&mut self, t: Node, w: u64) {
        match self {
            Via::Mem(v) => v[t as usize] = w,
            Via::Log(s) => s.set(t as usize, w),
        }
    }

    /// The column, spilled to `dir` (in memory where it cannot be), and why it is empty if its
    /// log could not be written. Reads and writes files only: run beside the graph's build.
    pub(super) fn finish(
        self,
        dir: &std::path::Path,
    ) -> (crate::spill::Column<u64>, Option<std::io::Error>) {
        match self {
            Via::Mem(v) => {
                let mut c = crate::spill::Column::Mem(v);
                if !c.is_empty() {
                    let _ = c.spill(dir);
                }
                (c, None)
            }
            Via::Log(s) => match s.finish() {
                Ok(c) => (c, None),
                Err(e) => (crate::spill::Column::default(), Some(e)),
            },
        }
    }
}

/// How many proposals or pointers ahead typing asks for what it will read at random.
const PREFETCH: usize = 16;

/// What typing seeds its search with once the pointers have typed all they reach.
enum Next {
    /// The objects whose malloc header names their type (Go 1.22+).
    Headers,
    /// The objects whose type is inferred from their size and pointers.
    Layout,
    /// Nothing more.
    Done,
}

/// What follows the name of a type given by inference ([`infer_by_layout`]), not exactly.
pub const INFERRED: &str = " (inferred)";

/// The objects typed, one bit each.
fn typed_set(ty: &[TypeId]) -> Vec<u64> {
    let mut bits = vec![0u64; ty.len().div_ceil(64)];
    for (v, &t) in ty.iter().enumerate() {
        if t != NONE {
            bits[v / 64] |= 1 << (v % 64);
        }
    }
    bits
}

/// Whether `v`'s bit is set.
fn is_set(bits: &[u64], v: usize) -> bool {
    bits.get(v / 64).is_some_and(|w| w >> (v % 64) & 1 == 1)
}

/// Objects inferred a window at a time (what a window infers is held until applied).
const INFER_WINDOW: usize = 1 << 20;

/// Types, for the objects with pointers that neither a pointer nor a malloc header typed, by
/// inference: the size class an object is in and the words the runtime's pointer bitmap marks
/// are what its allocation left (the dump lists each non-nil pointer word), so an object can be
/// of a type only where that type's pointer words cover those words. Among the types objects of
/// the same size were typed as exactly (`exact`), the one that does, and whose fields' static
/// types the objects it points to were typed as exactly, for one of them at least: its own
/// evidence, never its size alone. An object that fits two or more is left untyped (counted);
/// one without pointers (a number, a string's bytes) is too. Sets `ty`; returns the objects
/// typed, the next level of the search.
#[allow(clippy::too_many_arguments)]
fn infer_by_layout(
    types: &GoTypes,
    objects: &Table,
    o: &crate::formats::heapdump::Objects,
    dump_index: &(dyn Fn(Node) -> usize + Sync),
    header: &(dyn Fn(Node) -> u64 + Sync),
    ty: &mut [TypeId],
    exact: &[u64],
    st: &mut Stats,
) -> Level {
    use rayon::prelude::*;
    let n = ty.len();
    // In one pass: the sizes of the objects to infer (untyped, with pointers), and the types
    // objects of each size were typed as exactly (closures are typed by their code pointer, not
    // their layout).
    let (sizes, pairs) = {
        let ty = &*ty;
        let (sizes, pairs, _) = (0..n)
            .into_par_iter()
            .with_min_len(1 << 16)
            .fold(
                || (FxHashSet::default(), FxHashSet::default(), (u64::MAX, NONE)),
                |(mut sizes, mut pairs, last), v| {
                    // Neighbours are mostly of one size and type (a span's objects).
                    let key = (objects.size(v as Node), ty[v]);
                    if key.1 == NONE {
                        if !o.pointers_of(dump_index(v as Node)).is_empty() {
                            sizes.insert(key.0);
                        }
                    } else if key != last && !types.is_closure(key.1) {
                        pairs.insert((key.0, types.resolve(key.1)));
                    }
                    (sizes, pairs, key)
                },
            )
            .reduce(
                || (FxHashSet::default(), FxHashSet::default(), (u64::MAX, NONE)),
                |mut a, b| {
                    a.0.extend(b.0);
                    a.1.extend(b.1);
                    a
                },
            );
        (sizes, pairs)
    };
    let candidates: FxHashMap<u64, Vec<TypeId>> = {
        let pairs = pairs.into_iter().filter(|(size, _)| sizes.contains(size));
        let mut by_size: FxHashMap<u64, Vec<TypeId>> = FxHashMap::default();
        for (size, t) in pairs {
            by_size.entry(size).or_default().push(t);
        }
        for list in by_size.values_mut() {
            list.sort_unstable();
        }
        by_size
    };
    let mut level: Level = Vec::new();
    if candidates.is_empty() {
        return level;
    }
    for start in (0..n).step_by(INFER_WINDOW) {
        let end = (start + INFER_WINDOW).min(n);
        let ty_now = &*ty;
        // Each object's pointers: offset after the header, and the exact type of the target.
        let found: Vec<(Node, Fit)> = (start..end)
            .into_par_iter()
            .with_min_len(4096)
            .map_init(Vec::new, |pointers: &mut Vec<(u64, TypeId)>, v| {
                let v = v as Node;
                if ty_now[v as usize] != NONE {
                    return None;
                }
                let row = o.pointers_of(dump_index(v));
                if row.is_empty() {
                    return None;
                }
                let size = objects.size(v);
                let list = candidates.get(&size)?;
                let h = header(v);
                pointers.clear();
                for k in row {
                    let off = u64::from(o.offset(k)?).checked_sub(h)?;
                    let t = o.resolved(k);
                    let target = if t & INTERIOR == 0 && is_set(exact, t as usize) {
                        ty_now[t as usize]
                    } else {
                        NONE
                    };
                    pointers.push((off, target));
                }
                Some((v, fit(types, list, size - h, pointers)))
            })
            .flatten()
            .collect();
        for (v, f) in found {
            match f {
                Fit::One(t) => {
                    ty[v as usize] = t;
                    st.inferred_seeds += 1;
                    push(&mut level, v);
                }
                Fit::Several => st.ambiguous += 1,
                Fit::None => {}
            }
        }
    }
    level
}

/// What types an object's pointers fit ([`fit`]).
#[derive(Debug, PartialEq, Eq)]
enum Fit {
    /// One type (by name: the DWARF can describe a type twice).
    One(TypeId),
    /// Two or more.
    Several,
    /// None.
    None,
}

/// Which of `candidates` an object of `body` bytes (after any malloc header) can be of: its
/// `pointers` (offset, and the exact type of the object pointed to or `NONE`) all lie on the
/// type's pointer words (each element's, where the object holds two or more), and at least one
/// points at an object of the type its field says (none at one of another).
fn fit(types: &GoTypes, candidates: &[TypeId], body: u64, pointers: &[(u64, TypeId)]) -> Fit {
    let same = |a: TypeId, b: TypeId| {
        let (a, b) = (types.resolve(a), types.resolve(b));
        a == b || types.name(a) == types.name(b)
    };
    // A small swiss map's pointer types its one group.
    let agrees = |p: TypeId, target: TypeId| {
        same(p, target)
            || types
                .small_map_group
                .get(&p)
                .is_some_and(|&g| same(g, target))
    };
    let mut found: Option<TypeId> = None;
    for &t in candidates {
        let size = types.size(t);
        if size == 0 || size > body {
            continue;
        }
        let many = body >= 2 * size;
        let mut evidence = false;
        let fits = pointers.iter().all(|&(off, target)| {
            let off = if many { off % size } else { off };
            match types.slot(t, off) {
                Slot::None => false,
                Slot::To(p) if target != NONE => {
                    let agree = agrees(p, target);
                    evidence |= agree;
                    agree
                }
                _ => true,
            }
        });
        if !(fits && evidence) {
            continue;
        }
        match found {
            None => found = Some(t),
            Some(f) if same(f, t) => {}
            Some(_) => return Fit::Several,
        }
    }
    found.map_or(Fit::None, Fit::One)
}

/// A level of the typing's search, in blocks of [`WINDOW`] objects (a window of the level is
/// read at a time): it grows a block at a time, never copied to grow (a level of millions
/// of objects, copied to a twice larger vector, held both at once).
type Level = Vec<Vec<Node>>;

/// Objects in a block of a [`Level`].
const WINDOW: usize = 1 << 16;

/// Appends an object to a level.
fn push(level: &mut Level, v: Node) {
    match level.last_mut() {
        Some(b) if b.len() < WINDOW => b.push(v),
        _ => {
            let mut b = Vec::with_capacity(WINDOW);
            b.push(v);
            level.push(b);
        }
    }
}

/// Pointers a window of a level holds at most (but for an object with more, alone in its own):
/// what they propose is held until the window is applied.
const WINDOW_POINTERS: usize = 1 << 18;

/// A block of a level cut into windows of at most [`WINDOW_POINTERS`] pointers (`count`: an
/// object's), in order. A level of a few objects can hold millions of pointers: a big map's
/// groups.
fn windows<'a>(block: &'a [Node], count: &(dyn Fn(Node) -> usize + Sync)) -> Vec<&'a [Node]> {
    use rayon::prelude::*;
    let counts: Vec<usize> = if block.len() <= 2048 {
        block.iter().map(|&v| count(v)).collect()
    } else {
        block.par_iter().map(|&v| count(v)).collect()
    };
    let (mut out, mut start, mut sum) = (Vec::new(), 0, 0);
    for (i, &c) in counts.iter().enumerate() {
        if i > start && sum + c > WINDOW_POINTERS {
            out.push(&block[start..i]);
            (start, sum) = (i, 0);
        }
        sum += c;
    }
    if start < block.len() {
        out.push(&block[start..]);
    }
    out
}

/// Pointers read at a time by one thread of the typing's search: their reads in flight together.
const BATCH: usize = 4096;

/// An object a pointer can type, with its type, and the object and offset of that pointer.
type Proposal = ((Node, TypeId), (Node, u32));

/// No object typed this one through its pointer.
pub(super) const NO_VIA: u64 = u64::MAX;

/// An object and a byte offset in it, in one word.
pub(super) fn pack_via(from: Node, off: u32) -> u64 {
    (u64::from(from) << 32) | u64::from(off)
}

/// [`pack_via`]'s object and offset; `None` for [`NO_VIA`] or an offset past 4 GiB.
pub(super) fn unpack_via(w: u64) -> Option<(Node, u32)> {
    let (from, off) = ((w >> 32) as Node, w as u32);
    (w != NO_VIA && from != NONE && off != u32::MAX).then_some((from, off))
}

/// The flag on a resolved pointer ([`flag_interior`]) that points into its object's middle;
/// objects are numbered below it.
pub(super) const INTERIOR: u32 = 1 << 31;

/// A pointer to `a` resolved for typing: its object `t` (from the address index), flagged
/// [`INTERIOR`] unless `a` is the object's start or just past its malloc header (Go 1.22+,
/// `headers`), where a typed pointer to it points; [`NO_OBJECT`] without one.
pub(super) fn flag_interior(objects: &Table, headers: bool, t: Option<Node>, a: u64) -> u32 {
    let Some(t) = t else { return NO_OBJECT };
    let h = a - objects.addr(t);
    if h == 0 || h == header_size(headers, objects.size(t)) {
        t
    } else {
        t | INTERIOR
    }
}

/// The bytes of malloc header in front of an object of this size (Go 1.22+, `headers`): 8
/// for small objects over 512 bytes that hold pointers (only those are typed through one).
fn header_size(headers: bool, size: u64) -> u64 {
    if headers && size > 512 && size <= 32 << 10 {
        8
    } else {
        0
    }
}

/// Whether a runtime of this version (`go1.27.3`, `devel go1.23-…`) gives small objects a
/// malloc header: Go 1.22 and later.
pub(super) fn malloc_headers(version: &str) -> bool {
    let Some(rest) = version.split("go1.").nth(1) else {
        return false;
    };
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    minor.parse::<u32>().is_ok_and(|m| m >= 22)
}

#[cfg(test)]
mod tests {
    use super::{fit, Fit, NONE};
    use crate::formats::gotypes::{GoType, GoTypes, Kind, Member};

    /// X and Y (no pointers), A {*X; *Y}, B {*X; int}, C {int; *Y}, D {unsafe.Pointer; *Y},
    /// and A described twice.
    fn table() -> GoTypes {
        let ty = |name: &str, size, kind| GoType {
            name: name.into(),
            size,
            kind,
        };
        let st = |members: &[(u64, u32)]| {
            Kind::Struct(
                members
                    .iter()
                    .map(|&(offset, ty)| Member {
                        offset,
                        ty,
                        name: format!("f{offset}"),
                    })
                    .collect(),
            )
        };
        GoTypes {
            types: vec![
                ty("int", 8, Kind::Other),                    // 0
                ty("main.A", 16, st(&[(0, 2), (8, 3)])),      // 1
                ty("*main.X", 8, Kind::Pointer(Some(4))),     // 2
                ty("*main.Y", 8, Kind::Pointer(Some(5))),     // 3
                ty("main.X", 8, Kind::Other),                 // 4
                ty("main.Y", 8, Kind::Other),                 // 5
                ty("main.B", 16, st(&[(0, 2), (8, 0)])),      // 6
                ty("main.C", 16, st(&[(0, 0), (8, 3)])),      // 7
                ty("unsafe.Pointer", 8, Kind::Pointer(None)), // 8
                ty("main.D", 16, st(&[(0, 8), (8, 3)])),      // 9
                ty("main.A", 16, st(&[(0, 2), (8, 3)])),      // 10
            ],
            ..GoTypes::default()
        }
    }

    #[test]
    fn inference_needs_one_type_and_its_own_evidence() {
        let t = table();
        let (x, y) = (4, 5);
        assert_eq!(fit(&t, &[1, 6], 16, &[(0, x), (8, y)]), Fit::One(1));
        assert_eq!(
            fit(&t, &[1, 6], 16, &[(0, x)]),
            Fit::Several,
            "A and B both hold a *X first"
        );
        assert_eq!(
            fit(&t, &[1, 6], 16, &[(0, NONE), (8, NONE)]),
            Fit::None,
            "no target typed: the layout alone is no evidence"
        );
        assert_eq!(
            fit(&t, &[1, 6], 16, &[(0, y)]),
            Fit::None,
            "its first word points at a Y"
        );
        assert_eq!(
            fit(&t, &[6, 7], 16, &[(0, x), (8, y)]),
            Fit::None,
            "B has no pointer at 8, C none at 0"
        );
        assert_eq!(
            fit(&t, &[1, 7, 9], 16, &[(8, y)]),
            Fit::Several,
            "A, C and D all hold a *Y second"
        );
        assert_eq!(
            fit(&t, &[1, 10], 16, &[(8, y)]),
            Fit::One(1),
            "one type described twice"
        );
        assert_eq!(
            fit(&t, &[1], 8, &[(0, x)]),
            Fit::None,
            "an object smaller than the type"
        );
        // An array of *X: every word a pointer to an X.
        assert_eq!(fit(&t, &[2], 32, &[(0, x), (16, x)]), Fit::One(2));
        assert_eq!(fit(&t, &[2], 32, &[(0, x), (16, y)]), Fit::None);
    }

    #[test]
    fn malloc_headers_from_go_1_22() {
        assert!(super::malloc_headers("go1.27.3"));
        assert!(super::malloc_headers("go1.22rc1"));
        assert!(super::malloc_headers("devel go1.26-abc"));
        assert!(!super::malloc_headers("go1.21.13"));
        assert!(!super::malloc_headers("go1.19.8"));
        assert!(!super::malloc_headers(""));
    }
}
