//! Types for a dump's objects from its binary's DWARF, the way golang.org/x/debug's viewcore
//! does it: each typed global's pointer words give their targets a type (the pointer's static
//! pointee), and each typed object's pointer words do the same for theirs, breadth-first from the
//! globals. What this gives is inferred, not read from the object: exact when the pointer's
//! static type is the object's (no `unsafe` conversion on the way), which Go's type system makes
//! the rule. Pointers that cannot type their target are counted, never guessed through: an
//! interface's data word and `unsafe.Pointer` (static type unknown), stack slots (their DWARF
//! locations are frame-relative: not read), pointers into the middle of an object, targets smaller
//! than the type, and words the dump says are pointers where the type has none (a binary that
//! is not the dump's).

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::formats::gotypes::{GoTypes, Slot, TypeId};
use crate::formats::heapdump::{HeapDump, RootKind};

use super::{AddrIndex, Classes, Node, Table, NONE};

/// How the typing went: counts for the note the dump's reader sees.
#[derive(Debug, Default)]
pub(super) struct Stats {
    /// Globals (data, bss roots) whose type gave their target one.
    pub from_globals: u64,
    /// Objects typed.
    pub typed: u64,
    /// Their bytes.
    pub typed_bytes: u64,
    /// Pointers whose target's type is not known statically (interfaces, unsafe.Pointer).
    pub untyped_pointers: u64,
    /// Roots the DWARF does not type (stack slots, finalizers, globals without a type).
    pub untyped_roots: u64,
    /// Pointers into an object's middle (the object is typed by a pointer to its start, if any).
    pub interior: u64,
    /// Targets smaller than the pointer's type, or pointer words where the type has none.
    pub disagree: u64,
    /// Objects reached as two different types (the first stays).
    pub conflicts: u64,
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
    /// offset in it (after a malloc header); `(NONE, 0)` otherwise. Empty when nothing is typed.
    pub via: Vec<(Node, u32)>,
}

/// Each object's type, the types' names and layouts, what typed each object, and the counts.
// Over 120 lines: one breadth-first pass from the typed globals.
#[allow(clippy::too_many_lines)]
pub(super) fn type_objects(
    d: &HeapDump,
    types: &GoTypes,
    objects: &Table,
    index: &AddrIndex,
    order: Option<&[u32]>,
) -> (Typed, Stats) {
    let n = objects.len();
    let o = &d.objects;
    let mut ty: Vec<TypeId> = vec![NONE; n];
    let mut st = Stats::default();
    let mut queue: VecDeque<Node> = VecDeque::new();
    let dump_index = |v: Node| order.map_or(v as usize, |o| o[v as usize] as usize);
    // Go 1.22+ puts an 8-byte malloc header (the object's type) in front of small objects over
    // 512 bytes that hold pointers: pointers to such an object point past it, and its fields
    // start there.
    let headers = malloc_headers(&d.params.version);
    let header = |v: Node| -> u64 {
        let size = objects.size(v);
        if headers && size > 512 && size <= 32 << 10 {
            8
        } else {
            0
        }
    };
    // Whether an object's first word is a heap pointer (a swiss map's directory is; its one
    // group, when the map is small, starts with control bytes).
    let pointer_at_zero = |v: Node| {
        let r = o.pointers_of(dump_index(v));
        !r.is_empty() && o.offset(r.start) == Some(0)
    };
    // For each object typed through another object's pointer: that object and the pointer's
    // offset in it (after any malloc header), so a leak trace can name the field.
    let mut via: Vec<(Node, u32)> = vec![(NONE, 0); n];
    let give = |target: u64,
                p: TypeId,
                from: (Node, u64),
                ty: &mut Vec<TypeId>,
                via: &mut Vec<(Node, u32)>,
                st: &mut Stats,
                queue: &mut VecDeque<Node>| {
        let Some(t) = index.find(objects, target) else {
            return false;
        };
        let h = target - objects.addr(t);
        if h != 0 && h != header(t) {
            st.interior += 1;
            return false;
        }
        let p = match types.small_map_group.get(&p) {
            Some(&group) if !pointer_at_zero(t) => group,
            _ => p,
        };
        let size = types.size(p);
        if size == 0 {
            return false;
        }
        if objects.size(t) - h < size {
            st.disagree += 1;
            return false;
        }
        match ty[t as usize] {
            NONE => {
                ty[t as usize] = p;
                if let Ok(off) = u32::try_from(from.1) {
                    via[t as usize] = (from.0, off);
                }
                queue.push_back(t);
                true
            }
            q if q == p || types.resolve(q) == types.resolve(p) => false,
            _ => {
                st.conflicts += 1;
                false
            }
        }
    };
    for r in &d.roots {
        let typed = match r.kind {
            RootKind::Data | RootKind::Bss => types.global_at(r.slot),
            _ => None,
        };
        let Some((g, off)) = typed else {
            st.untyped_roots += 1;
            continue;
        };
        match types.slot(g, off) {
            Slot::To(p) => {
                give(
                    r.target,
                    p,
                    (NONE, 0),
                    &mut ty,
                    &mut via,
                    &mut st,
                    &mut queue,
                );
                st.from_globals += 1;
            }
            Slot::Untyped => st.untyped_pointers += 1,
            Slot::None => st.disagree += 1,
        }
    }
    while let Some(v) = queue.pop_front() {
        let t = ty[v as usize];
        let size = types.size(t);
        let h = header(v);
        for k in o.pointers_of(dump_index(v)) {
            let Some(off) = o.offset(k) else { break };
            let Some(off) = u64::from(off).checked_sub(h) else {
                st.disagree += 1;
                continue;
            };
            match types.slot(t, off % size) {
                Slot::To(p) => {
                    give(
                        o.target(k),
                        p,
                        (v, off),
                        &mut ty,
                        &mut via,
                        &mut st,
                        &mut queue,
                    );
                }
                Slot::Untyped => st.untyped_pointers += 1,
                Slot::None => st.disagree += 1,
            }
        }
    }
    // Names: the type, or a slice of it when the object holds two or more (a slice's backing
    // array, a map's groups).
    // Keyed by name: the DWARF can describe one type more than once.
    let mut by_type: FxHashMap<(TypeId, bool), u32> = FxHashMap::default();
    let mut by_name: FxHashMap<String, u32> = FxHashMap::default();
    let mut names: Vec<String> = Vec::new();
    let mut layouts: Vec<(TypeId, bool)> = Vec::new();
    let mut pairs: Vec<(Node, u32)> = Vec::new();
    for (v, &t) in ty.iter().enumerate() {
        if t == NONE {
            continue;
        }
        let many = objects.size(v as Node) - header(v as Node) >= 2 * types.size(t);
        let id = *by_type.entry((t, many)).or_insert_with(|| {
            let name = types.name(t);
            let name = if many {
                format!("[]{name}")
            } else {
                name.to_string()
            };
            *by_name.entry(name).or_insert_with_key(|name| {
                names.push(name.clone());
                layouts.push((t, many));
                names.len() as u32 - 1
            })
        });
        st.typed += 1;
        st.typed_bytes += objects.size(v as Node);
        pairs.push((v as Node, id));
    }
    drop(ty);
    if pairs.is_empty() {
        via = Vec::new();
    }
    let typed = Typed {
        type_of: Classes::from_pairs(pairs, n),
        names,
        layouts,
        via,
    };
    (typed, st)
}

/// Whether a runtime of this version (`go1.27.3`, `devel go1.23-…`) gives small objects a
/// malloc header: Go 1.22 and later.
fn malloc_headers(version: &str) -> bool {
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
