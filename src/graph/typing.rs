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
//! canonical frame address); an interface's, global or local, by the word before it.

use rustc_hash::FxHashMap;

use crate::formats::gotypes::{GoTypes, Slot, TypeId};
use crate::formats::heapdump::{HeapDump, RootKind};

use super::{Classes, Node, Table, NONE, NO_OBJECT};

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
    /// more).
    pub names: Vec<String>,
    /// For each name, the DWARF type and whether its objects hold several of it.
    pub layouts: Vec<(TypeId, bool)>,
    /// For each object typed through another object's pointer, that object and the pointer's
    /// offset in it (after a malloc header), packed by [`pack_via`]; `NO_VIA` otherwise. Empty
    /// when nothing is typed.
    pub via: Vec<u64>,
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
    let mut via: Vec<u64> = vec![NO_VIA; n];
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
                  via: &mut Vec<u64>,
                  st: &mut Stats,
                  next: &mut Level| match ty[t as usize] {
        NONE => {
            ty[t as usize] = p;
            via[t as usize] = pack_via(from.0, from.1);
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
        // (a caller's pc is its return address: the call is the byte before).
        let stack = r.kind == RootKind::Stack;
        let typed = match r.kind {
            RootKind::Data | RootKind::Bss => types.global_at(r.slot),
            RootKind::Stack => d.frames.get(r.owner as usize).and_then(|f| {
                let pc = f.pc.saturating_sub(1);
                types
                    .local_at(&f.function, pc, f.size, r.slot)
                    .map(|(l, into)| (l.ty, into))
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
    // they were allocated as: the runtime's own record, and what they point to from there.
    let mut seeded = !headers;
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
                        for (v, off, k, slot, target) in pointers.drain(..) {
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
                    };
                    let rows: Vec<(Node, TypeId, u64, std::ops::Range<usize>)> = chunk
                        .iter()
                        .map(|&v| {
                            (
                                v,
                                ty_now[v as usize],
                                header(v),
                                o.pointers_of(dump_index(v)),
                            )
                        })
                        .collect();
                    let mut pointers = Vec::with_capacity(BATCH);
                    for (v, t, h, row) in rows {
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
                    for (f, from) in list {
                        accept(f, from, &mut ty, &mut via, &mut st, &mut next);
                    }
                }
            }
            frontier = std::mem::take(&mut next);
        }
        if seeded {
            break;
        }
        seeded = true;
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
    // Names: the type, or a slice of it when the object holds two or more (a slice's backing
    // array, a map's groups).
    // Keyed by name: the DWARF can describe one type more than once.
    let mut by_type: FxHashMap<(TypeId, bool), u32> = FxHashMap::default();
    let mut by_name: FxHashMap<String, u32> = FxHashMap::default();
    let mut names: Vec<String> = Vec::new();
    let mut layouts: Vec<(TypeId, bool)> = Vec::new();
    // Each object's type becomes its name's index in place: no second column of the heap's
    // size while the first is alive.
    for (v, t) in ty.iter_mut().enumerate() {
        if *t == NONE {
            continue;
        }
        let many = !types.is_closure(*t)
            && objects.size(v as Node) - header(v as Node) >= 2 * types.size(*t);
        let ty_id = *t;
        *t = *by_type.entry((ty_id, many)).or_insert_with(|| {
            let name = types.name(ty_id);
            let name = if many {
                format!("[]{name}")
            } else {
                name.to_string()
            };
            *by_name.entry(name).or_insert_with_key(|name| {
                names.push(name.clone());
                layouts.push((ty_id, many));
                names.len() as u32 - 1
            })
        });
        st.typed += 1;
        st.typed_bytes += objects.size(v as Node);
    }
    if st.typed == 0 {
        via = Vec::new();
    }
    let typed = Typed {
        type_of: Classes::from_column(ty),
        names,
        layouts,
        via,
    };
    (typed, st)
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
