//! The Go types of a program, as its DWARF describes them (read by `symbolize::gotypes`), and the
//! one question a heap dump asks of them: what does the word at this offset of a value of this
//! type point to? No I/O here: the table is plain data, built elsewhere.
//!
//! Go's DWARF (cmd/link, `GOEXPERIMENT` aside) gives every type its Go name (`main.session`,
//! `[]*main.conn`, `map[string]*main.Entry`), a size, and for pointers their pointee; structs
//! their members' offsets, arrays their element and count. Maps are described as the runtime
//! lays them out: `map[K]V` is a pointer to `map<K,V>` (Go 1.24+: a directory `**table<K,V>`
//! whose tables point at arrays of `noalg.map.group[K]V`; before: `hash<K,V>` with `*bucket<K,V>`
//! arrays), so following pointer members types a map's innards too.

/// A type's index in [`GoTypes::types`].
pub type TypeId = u32;

/// What a type is, as far as pointers go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A pointer to a type (`None`: `unsafe.Pointer`, or a pointee the DWARF does not give).
    Pointer(Option<TypeId>),
    /// A struct: its members, by offset (zero-sized members dropped).
    Struct(Vec<Member>),
    /// An array: element type and count.
    Array(TypeId, u64),
    /// Another name for a type (`main.session` for its struct).
    Typedef(TypeId),
    /// An interface: its data word points at a value whose type the DWARF does not give
    /// statically (the dump's pointers to it are followed, untyped).
    Interface,
    /// A func value: a pointer to a closure (its code pointer, then what it captured), whose
    /// function the closure's first word names ([`GoTypes::closures`]).
    Func,
    /// A closure of one function (made from the binary's symbols): its code pointer, then the
    /// captured variables the DWARF places (Go 1.23+: `DW_AT_go_closure_offset` on the
    /// function's variables), by offset; words no capture covers hold what the DWARF does not
    /// say (Go 1.19's closures, captures an optimized build leaves out).
    Closure(Vec<Member>),
    /// Whatever holds no pointer: numbers, booleans, and types the table does not describe.
    Other,
}

/// A struct's member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Byte offset in the struct.
    pub offset: u64,
    /// Its type.
    pub ty: TypeId,
    /// Its Go name (`conn`; a slice header's `array`, a string's `str`).
    pub name: String,
}

/// A function's local variable or parameter on its frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Local {
    /// Its Go name (`p`, `~r0`).
    pub name: String,
    /// The pcs where it is there (all of them for a fixed location).
    pub pcs: std::ops::Range<u64>,
    /// Where it is: this many bytes from the frame's canonical frame address (negative).
    pub cfa_offset: i64,
    /// Its type.
    pub ty: TypeId,
    /// The bytes of the variable kept there: from `start` in its type, `len` of them (all of it
    /// for a variable kept whole; a run of its pieces, `DW_OP_piece`, for one kept in parts).
    pub start: u64,
    /// How many (`u64::MAX`: to the type's end).
    pub len: u64,
}

impl Local {
    /// Whether the `size` bytes of its type from `off` are kept here: an interface's data word
    /// is read with its type word, which must be in the same run of pieces.
    pub fn keeps(&self, off: u64, size: u64) -> bool {
        off >= self.start && off + size <= self.start.saturating_add(self.len)
    }
}

/// One type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoType {
    /// Its Go name (`main.session`, `*main.conn`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// What it is.
    pub kind: Kind,
}

/// What a pointer-sized word at some offset of a typed value points to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A pointer to this type.
    To(TypeId),
    /// A pointer whose target's type is not known statically (`unsafe.Pointer`, an interface's
    /// type or itab word).
    Untyped,
    /// An interface's data word: its target's type is the dynamic type the word before it (the
    /// type descriptor or itab) names ([`GoTypes::dynamic`], [`GoTypes::boxed`]).
    Dynamic,
    /// A func value: its target is a closure, of the function its first word is the code of.
    Func,
    /// No pointer there, as the type says (the dump says there is one: the binary is not the
    /// dump's, or the offset is in padding).
    None,
}

/// A program's types and typed globals.
#[derive(Clone, Debug, Default)]
pub struct GoTypes {
    /// The Go version that compiled it (`go1.27.3`), from the compile units' producer.
    pub go_version: String,
    /// Every type.
    pub types: Vec<GoType>,
    /// Globals: (address, size, type), sorted by address.
    pub globals: Vec<(u64, u64, TypeId)>,
    /// For Go 1.24+ swiss maps: a directory entry type (`*table<K,V>`) → the group type
    /// (`noalg.map.group[K]V`) its pointer holds instead when the map is small (no directory:
    /// the map's pointer goes straight to its one group).
    pub small_map_group: rustc_hash::FxHashMap<TypeId, TypeId>,
    /// The address of each type's runtime descriptor (from its DWARF `DW_AT_go_runtime_type`) →
    /// that type: what an `any` value's first word says it holds (an itab's second word).
    pub dynamic: rustc_hash::FxHashMap<u64, TypeId>,
    /// The entry address of each closure function (`main.makeCounter.func1`, a method value's
    /// `-fm` wrapper) → its [`Kind::Closure`] type, named `func main.makeCounter.func1`.
    pub closures: rustc_hash::FxHashMap<u64, TypeId>,
    /// The binary's text: a closure's first word lies here.
    pub text: std::ops::Range<u64>,
    /// Where the binary's section that holds its type data and itabs is.
    pub type_data: std::ops::Range<u64>,
    /// Each function's locals and parameters that can hold a pointer, where they are on its
    /// frame, by function name.
    pub locals: rustc_hash::FxHashMap<String, Vec<Local>>,
    /// Compile units whose DWARF could not be read (damaged or cut off), said for the reader:
    /// their types, globals and locals are left out, so what they describe stays untyped.
    pub unreadable: Option<String>,
}

/// How deep [`GoTypes::slot`] follows nested types before it gives up (a malformed table's
/// typedef loop).
const MAX_DEPTH: usize = 64;

impl GoTypes {
    /// The type behind any typedefs.
    pub fn resolve(&self, mut t: TypeId) -> TypeId {
        for _ in 0..MAX_DEPTH {
            match self.types.get(t as usize).map(|x| &x.kind) {
                Some(Kind::Typedef(u)) => t = *u,
                _ => break,
            }
        }
        t
    }

    /// Whether `t` is a closure's type ([`Kind::Closure`]).
    pub fn is_closure(&self, t: TypeId) -> bool {
        self.types
            .get(t as usize)
            .is_some_and(|x| matches!(x.kind, Kind::Closure(_)))
    }

    /// The type's size in bytes (0 for an id out of range).
    pub fn size(&self, t: TypeId) -> u64 {
        self.types.get(t as usize).map_or(0, |x| x.size)
    }

    /// The name a heap object of this type goes by: its Go name without the runtime's
    /// `noalg.` prefix.
    pub fn name(&self, t: TypeId) -> &str {
        let n = self.types.get(t as usize).map_or("?", |x| x.name.as_str());
        n.strip_prefix("noalg.").unwrap_or(n)
    }

    /// What the word at byte `off` of a value of type `t` points to.
    pub fn slot(&self, t: TypeId, off: u64) -> Slot {
        let (mut t, mut off) = (t, off);
        for _ in 0..MAX_DEPTH {
            let Some(ty) = self.types.get(t as usize) else {
                return Slot::None;
            };
            match &ty.kind {
                Kind::Typedef(u) => t = *u,
                Kind::Func => {
                    return if off == 0 { Slot::Func } else { Slot::None };
                }
                Kind::Pointer(p) => {
                    return match (off, p) {
                        (0, Some(p)) => Slot::To(*p),
                        (0, None) => Slot::Untyped,
                        _ => Slot::None,
                    }
                }
                Kind::Struct(members) => {
                    let Some(m) = self.member_at(members, off) else {
                        return Slot::None;
                    };
                    (t, off) = (m.ty, off - m.offset);
                }
                Kind::Array(elem, count) => {
                    let s = self.size(*elem);
                    if s == 0 || off / s >= *count {
                        return Slot::None;
                    }
                    (t, off) = (*elem, off % s);
                }
                // The type (or itab) word comes first and points outside the heap; the data
                // word's target has the type the first word names.
                Kind::Interface => {
                    return if off == 8 {
                        Slot::Dynamic
                    } else {
                        Slot::Untyped
                    }
                }
                // Its first word is code; a word no capture covers, a capture the DWARF left
                // out.
                Kind::Closure(captures) => match self.member_at(captures, off) {
                    Some(m) if off > 0 => (t, off) = (m.ty, off - m.offset),
                    _ if off > 0 => return Slot::Untyped,
                    _ => return Slot::None,
                },
                Kind::Other => return Slot::None,
            }
        }
        Slot::None
    }

    /// What an interface's data word points to when the value's dynamic type is `t`: Go stores a
    /// pointer-shaped value (a pointer, or a struct or array of one pointer) in the word itself,
    /// so the word points at the pointer's target; any other value is boxed, and the word points
    /// at a copy of it (`None`: a pointer without a pointee type, or a word where `t` holds none).
    pub fn boxed(&self, t: TypeId) -> Option<TypeId> {
        let r = self.resolve(t);
        let ty = self.types.get(r as usize)?;
        match &ty.kind {
            Kind::Pointer(p) => *p,
            Kind::Struct(m) if m.len() == 1 && ty.size == 8 => match self.slot(r, 0) {
                Slot::To(p) => Some(p),
                _ => None,
            },
            Kind::Array(_, 1) if ty.size == 8 => match self.slot(r, 0) {
                Slot::To(p) => Some(p),
                _ => None,
            },
            _ => Some(t),
        }
    }

    /// A closure's captured variable as Go 1.23+'s DWARF describes it (a variable of the closure's
    /// function with `DW_AT_go_closure_offset`): its name, offset in the closure and type, as a
    /// member of the closure; `None` where the word's type is not certain. A variable captured by
    /// reference is `&x` of type `*T` and its word points to `x`; but one captured by value that
    /// the compiler cannot keep in registers is also `&x` (a pointer it computes into the
    /// closure), its `T` inline. By value needs at most 128 bytes and a type the compiler cannot
    /// keep in registers; a `T` holding no pointer has no pointer word for the dump to list
    /// either way. Otherwise (a `T` of at most 128 bytes with pointers, not register-sized) it is
    /// left out. Also left out: generic closures' shape-typed captures (their types are the
    /// shape's, not the value's) and the compiler's own (`.dict`, `.closureptr`).
    pub fn capture(&self, name: &str, offset: u64, ty: TypeId) -> Option<Member> {
        let shape = |t: TypeId| self.name(t).contains("go.shape.");
        if name.starts_with(['.', '#']) || shape(ty) || offset == 0 {
            return None;
        }
        let name = match name.strip_prefix('&') {
            Some(x) => {
                let p = match self.types.get(self.resolve(ty) as usize)?.kind {
                    Kind::Pointer(Some(p)) => p,
                    _ => return None,
                };
                let by_reference =
                    self.size(p) > 128 || self.fits_registers(p, 0) || !self.has_pointers(p);
                if !by_reference || shape(p) {
                    return None;
                }
                x
            }
            None => name,
        };
        Some(Member {
            offset,
            ty,
            name: name.to_string(),
        })
    }

    /// Whether the compiler keeps values of `t` in registers (cmd/compile's `ssa.CanSSA`): at
    /// most 4 words, arrays of at most one element, structs of at most 4 fields, recursively.
    fn fits_registers(&self, t: TypeId, depth: usize) -> bool {
        let Some(ty) = self.types.get(t as usize) else {
            return false;
        };
        if ty.size > 32 || depth > MAX_DEPTH {
            return false;
        }
        match &ty.kind {
            Kind::Typedef(u) => self.fits_registers(*u, depth + 1),
            Kind::Array(e, n) => *n <= 1 && self.fits_registers(*e, depth + 1),
            Kind::Struct(m) => {
                m.len() <= 4 && m.iter().all(|m| self.fits_registers(m.ty, depth + 1))
            }
            _ => true,
        }
    }

    /// Whether a value of `t` holds a pointer word (looked for in its first 256 bytes; a larger
    /// type counts as holding one).
    fn has_pointers(&self, t: TypeId) -> bool {
        let size = self.size(t);
        size > 256 || (0..size / 8).any(|w| self.slot(t, 8 * w) != Slot::None)
    }

    /// The member of a struct that holds byte `off`: the last one starting at or before it,
    /// when `off` falls inside it.
    fn member_at<'a>(&self, members: &'a [Member], off: u64) -> Option<&'a Member> {
        let i = members.partition_point(|m| m.offset <= off);
        let m = members.get(i.checked_sub(1)?)?;
        (off - m.offset < self.size(m.ty)).then_some(m)
    }

    /// The Go expression that reaches the word at byte `off` of a value of type `t` from the
    /// value, as a leak trace shows one step: `.conn`, `[3]`, `.buckets[2].next`; empty for the
    /// value's own first word (a pointer). A slice's or a string's data word reads as the slice or
    /// string itself (its backing array is what it holds: `.buf`, not `.buf.array`).
    pub fn field_path(&self, t: TypeId, off: u64) -> String {
        let (mut t, mut off, mut out) = (t, off, String::new());
        for _ in 0..MAX_DEPTH {
            let Some(ty) = self.types.get(t as usize) else {
                break;
            };
            match &ty.kind {
                Kind::Typedef(u) => t = *u,
                Kind::Struct(members) | Kind::Closure(members) => {
                    let Some(m) = self.member_at(members, off) else {
                        break;
                    };
                    let data_word = m.offset == 0
                        && ((m.name == "array" && ty.name.starts_with("[]"))
                            || (m.name == "str" && ty.name == "string"));
                    if !data_word {
                        out.push('.');
                        out.push_str(&m.name);
                    }
                    (t, off) = (m.ty, off - m.offset);
                }
                Kind::Array(elem, count) => {
                    let s = self.size(*elem);
                    if s == 0 || off / s >= *count {
                        break;
                    }
                    out.push_str(&format!("[{}]", off / s));
                    (t, off) = (*elem, off % s);
                }
                Kind::Pointer(_) | Kind::Interface | Kind::Func | Kind::Other => break,
            }
        }
        out
    }

    /// The local of function `function` that holds byte `offset` of its frame (counted from
    /// the frame's start, `size` bytes below its canonical frame address) at `pc`: the local,
    /// and the offset in its type (a piece kept apart from the rest counts from its own start).
    pub fn local_at(
        &self,
        function: &str,
        pc: u64,
        size: u64,
        offset: u64,
    ) -> Option<(&Local, u64)> {
        let from_cfa = i64::try_from(offset).ok()? - i64::try_from(size).ok()?;
        self.locals.get(function)?.iter().find_map(|l| {
            let into = u64::try_from(from_cfa - l.cfa_offset).ok()?;
            let kept = l.len.min(self.size(l.ty).saturating_sub(l.start));
            (l.pcs.contains(&pc) && into < kept).then_some((l, l.start + into))
        })
    }

    /// [`GoTypes::local_at`] for a frame of a heap dump whose `pc` is where it resumes (a
    /// caller's return address): Go's DWARF moves what a call keeps on the frame there (a value
    /// spilled before the call is "in its register" up to the call and on the frame from the
    /// return address), so the locals are looked up at `pc`, then at `pc - 1` (the call
    /// itself) for what only that range describes.
    pub fn frame_local(
        &self,
        function: &str,
        pc: u64,
        size: u64,
        offset: u64,
    ) -> Option<(&Local, u64)> {
        self.local_at(function, pc, size, offset)
            .or_else(|| self.local_at(function, pc.checked_sub(1)?, size, offset))
    }

    /// The typed global whose bytes hold `addr`: its type and the offset in it.
    pub fn global_at(&self, addr: u64) -> Option<(TypeId, u64)> {
        let i = self.globals.partition_point(|g| g.0 <= addr);
        let &(start, size, t) = self.globals.get(i.checked_sub(1)?)?;
        (addr - start < size).then_some((t, addr - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `type session struct { id int; conn *conn; buf []byte }`, `type conn struct { s *session }`.
    fn table() -> GoTypes {
        let ty = |name: &str, size, kind| GoType {
            name: name.into(),
            size,
            kind,
        };
        let st = |members: &[(u64, TypeId, &str)]| {
            Kind::Struct(
                members
                    .iter()
                    .map(|&(offset, ty, name)| Member {
                        offset,
                        ty,
                        name: name.into(),
                    })
                    .collect(),
            )
        };
        GoTypes {
            types: vec![
                ty("int", 8, Kind::Other), // 0
                ty(
                    "main.session",
                    48,
                    st(&[(0, 0, "id"), (8, 2, "conn"), (16, 5, "buf")]),
                ), // 1
                ty("*main.conn", 8, Kind::Pointer(Some(3))), // 2
                ty("main.conn", 8, Kind::Typedef(4)), // 3
                ty("main.conn", 8, st(&[(0, 7, "owner")])), // 4
                ty(
                    "[]uint8",
                    24,
                    st(&[(0, 6, "array"), (8, 0, "len"), (16, 0, "cap")]),
                ), // 5
                ty("*uint8", 8, Kind::Pointer(Some(8))), // 6
                ty("*main.session", 8, Kind::Pointer(Some(1))), // 7
                ty("uint8", 1, Kind::Other), // 8
                ty("[4]*main.session", 32, Kind::Array(7, 4)), // 9
                ty("noalg.map.group[int]int", 16, Kind::Other), // 10
                ty("loop", 8, Kind::Typedef(11)), // 11
                ty("main.Shape", 16, Kind::Interface), // 12
                ty("main.wrap", 8, st(&[(0, 7, "s")])), // 13
                ty("[1]*main.session", 8, Kind::Array(7, 1)), // 14
                ty("unsafe.Pointer", 8, Kind::Pointer(None)), // 15
                ty("*[4]*main.session", 8, Kind::Pointer(Some(9))), // 16
                ty("[20]int", 160, Kind::Array(0, 20)), // 17
                ty("*[20]int", 8, Kind::Pointer(Some(17))), // 18
                ty("[4]int", 32, Kind::Array(0, 4)), // 19
                ty("*[4]int", 8, Kind::Pointer(Some(19))), // 20
                ty("*go.shape.uint8", 8, Kind::Pointer(Some(8))), // 21
                ty(
                    "func main.f.func1",
                    8,
                    Kind::Closure(vec![Member {
                        offset: 8,
                        ty: 7,
                        name: "c".into(),
                    }]),
                ), // 22
            ],
            globals: vec![(0x1000, 32, 9), (0x1020, 8, 7)],
            ..Default::default()
        }
    }

    /// A capture `&x` is a pointer where Go cannot have captured `x` by value inline: `x` fits
    /// registers, is over 128 bytes, or holds no pointer; otherwise (and for the compiler's own
    /// and generic shapes' captures) it is left untyped.
    #[test]
    fn closure_captures_are_typed_only_where_certain() {
        let t = table();
        let m = |name: &str, off, ty| t.capture(name, off, ty).map(|m| (m.name, m.ty));
        assert_eq!(m("c", 8, 7), Some(("c".into(), 7)), "by value, inline");
        assert_eq!(
            m("&c", 8, 2),
            Some(("c".into(), 2)),
            "one pointer: fits registers"
        );
        assert_eq!(
            m("&n", 8, 6),
            Some(("n".into(), 6)),
            "a byte: fits registers"
        );
        assert_eq!(
            m("&a", 8, 18),
            Some(("a".into(), 18)),
            "160 bytes: never by value"
        );
        assert_eq!(
            m("&a", 8, 20),
            Some(("a".into(), 20)),
            "no pointer in [4]int"
        );
        assert_eq!(
            m("&s", 8, 7),
            None,
            "a 48-byte struct with pointers: maybe inline"
        );
        assert_eq!(m("&a", 8, 16), None, "[4]*T: maybe inline");
        assert_eq!(m(".dict", 8, 7), None);
        assert_eq!(m("v", 8, 21), None, "a generic shape");
        assert_eq!(m("c", 0, 7), None, "the code pointer's word");
        assert_eq!(t.slot(22, 8), Slot::To(1));
        assert_eq!(t.slot(22, 16), Slot::Untyped, "a word no capture covers");
        assert_eq!(t.slot(22, 0), Slot::None, "the code pointer");
        assert_eq!(t.field_path(22, 8), ".c");
        assert!(t.is_closure(22));
    }

    #[test]
    fn slots_follow_members_arrays_and_typedefs() {
        let t = table();
        assert_eq!(t.slot(1, 8), Slot::To(3));
        assert_eq!(t.slot(1, 16), Slot::To(8));
        assert_eq!(t.slot(1, 0), Slot::None);
        assert_eq!(t.slot(1, 40), Slot::None, "past the last member");
        assert_eq!(t.slot(3, 0), Slot::To(1), "through the typedef");
        assert_eq!(t.slot(9, 24), Slot::To(1));
        assert_eq!(t.slot(9, 32), Slot::None);
        assert_eq!(t.slot(11, 0), Slot::None, "a typedef loop ends");
        assert_eq!(t.name(10), "map.group[int]int");
        assert_eq!(t.global_at(0x1018), Some((9, 0x18)));
        assert_eq!(t.global_at(0x1020), Some((7, 0)));
        assert_eq!(t.global_at(0x1028), None);
        assert_eq!(t.global_at(0x10), None);
    }

    /// An interface's data word is typed by its dynamic type: a pointer (or a struct or array of
    /// one pointer) is stored in the word, so its target is the pointee; anything else is boxed.
    #[test]
    fn interfaces_hold_their_dynamic_type_directly_or_boxed() {
        let t = table();
        assert_eq!(t.slot(12, 8), Slot::Dynamic);
        assert_eq!(t.slot(12, 0), Slot::Untyped, "the type or itab word");
        assert_eq!(t.boxed(7), Some(1), "*main.session: the session itself");
        assert_eq!(
            t.boxed(13),
            Some(1),
            "a struct of one pointer is pointer-shaped"
        );
        assert_eq!(t.boxed(14), Some(1), "so is an array of one");
        assert_eq!(t.boxed(1), Some(1), "a session value is boxed");
        assert_eq!(t.boxed(5), Some(5), "a slice header is boxed");
        assert_eq!(t.boxed(15), None, "unsafe.Pointer: no pointee");
        assert_eq!(t.boxed(99), None);
    }

    /// A frame's slot is the local whose location holds it at the pc: a 48-byte frame's byte 8
    /// is 40 below its CFA; `p` is there only from pc 0x20; the slice `s` fills the frame's top.
    #[test]
    fn a_frame_slot_is_the_local_there_at_the_pc() {
        let mut t = table();
        t.locals.insert(
            "main.hold".into(),
            vec![
                Local {
                    name: "p".into(),
                    pcs: 0x20..0x80,
                    cfa_offset: -40,
                    ty: 7,
                    start: 0,
                    len: u64::MAX,
                },
                Local {
                    name: "s".into(),
                    pcs: 0..u64::MAX,
                    cfa_offset: -24,
                    ty: 5,
                    start: 0,
                    len: u64::MAX,
                },
                // The last two words of a 24-byte value, kept at CFA-72 apart from its first.
                Local {
                    name: "q".into(),
                    pcs: 0..u64::MAX,
                    cfa_offset: -72,
                    ty: 5,
                    start: 8,
                    len: 16,
                },
            ],
        );
        let at = |pc, off| {
            t.local_at("main.hold", pc, 48, off)
                .map(|(l, o)| (l.name.clone(), o))
        };
        assert_eq!(at(0x30, 8), Some(("p".into(), 0)));
        assert_eq!(at(0x10, 8), None, "p is not there yet");
        assert_eq!(at(0x10, 24), Some(("s".into(), 0)));
        assert_eq!(at(0x10, 40), Some(("s".into(), 16)));
        assert_eq!(at(0x10, 48), None, "the CFA: past the frame");
        assert_eq!(at(0x10, 0), None, "no local there");
        assert_eq!(t.local_at("main.other", 0x30, 48, 8), None);
        // A piece: its words are the type's from its start.
        let at = |off| {
            t.local_at("main.hold", 0x10, 80, off)
                .map(|(l, o)| (l.name.clone(), o))
        };
        assert_eq!(at(8), Some(("q".into(), 8)));
        assert_eq!(at(16), Some(("q".into(), 16)));
        assert_eq!(at(24), None, "past the piece");
        let q = &t.locals["main.hold"][2];
        assert!(
            q.keeps(8, 16) && !q.keeps(0, 16),
            "an interface at 0 is split"
        );
    }

    #[test]
    fn field_paths_name_members_and_indexes_and_skip_a_slices_data_word() {
        let t = table();
        assert_eq!(t.field_path(1, 8), ".conn");
        assert_eq!(
            t.field_path(1, 16),
            ".buf",
            "the slice's data word is the slice"
        );
        assert_eq!(t.field_path(3, 0), ".owner", "through the typedef");
        assert_eq!(t.field_path(9, 24), "[3]");
        assert_eq!(t.field_path(7, 0), "", "a pointer's own word");
        assert_eq!(t.field_path(1, 40), "", "past the last member");
        assert_eq!(t.field_path(11, 0), "", "a typedef loop ends");
    }
}
