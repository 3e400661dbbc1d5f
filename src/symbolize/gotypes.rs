//! A Go binary's DWARF types and typed globals, for typing a heap dump's objects
//! ([`crate::formats::gotypes`]). Reads what cmd/link writes: `DW_TAG_base_type`,
//! `pointer_type`, `structure_type` (members with constant offsets), `array_type` (a
//! `subrange_type` child with the count), `typedef`, `subroutine_type`, Go's own `DW_AT_go_kind`
//! (0x2900), and compile-unit-level `variable`s located by `DW_OP_addr`. Anything else is a type
//! that holds no pointer the dump can follow. Malformed or truncated DWARF is an error string,
//! never a panic; so is a compressed section that would inflate past a bound.

use std::borrow::Cow;
use std::path::Path;

use gimli::{constants, AttributeValue, EndianSlice, RunTimeEndian, UnitSectionOffset};
use object::{Object, ObjectSection, ObjectSymbol};
use rustc_hash::FxHashMap;

use crate::formats::gotypes::{GoType, GoTypes, Kind, Local, Member, TypeId};

/// The most a debug section may inflate to (Go binaries of hundreds of MB have DWARF of tens).
const MAX_SECTION: u64 = 1 << 30;

/// `DW_AT_go_kind`: Go's `reflect.Kind` of a type.
const DW_AT_GO_KIND: u16 = 0x2900;
/// `DW_AT_go_runtime_type`: where the type's runtime descriptor is, from the start of the
/// binary's type data (the `type:*` symbol; `type.*` before Go 1.20).
const DW_AT_GO_RUNTIME_TYPE: u16 = 0x2904;
/// `DW_AT_go_closure_offset` (Go 1.23+): where a closure function's captured variable is in
/// the closure, in bytes.
const DW_AT_GO_CLOSURE_OFFSET: u16 = 0x2907;
/// `reflect.Interface`.
const GO_KIND_INTERFACE: u64 = 20;

/// A type entry before references are resolved: references are `.debug_info` offsets.
struct Raw {
    name: String,
    size: Option<u64>,
    tag: constants::DwTag,
    go_kind: u64,
    /// `DW_AT_go_runtime_type`, when given.
    runtime_type: Option<u64>,
    /// The `DW_AT_type` reference.
    target: Option<usize>,
    /// Members (offset, name, type) of a struct; the count of an array.
    members: Vec<(u64, String, usize)>,
    count: Option<u64>,
}

/// Reads the types and globals of the binary (or separate debug file) at `path`.
pub fn load(path: &Path) -> Result<GoTypes, String> {
    let data = super::elf::read(path)?;
    parse(&data).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads the types and globals of a binary's (or debug file's) bytes.
pub fn parse(data: &[u8]) -> Result<GoTypes, String> {
    let file = object::File::parse(data).map_err(|e| format!("not an object file: {e}"))?;
    from_object(&file)
}

fn from_object(file: &object::File<'_>) -> Result<GoTypes, String> {
    if file.section_by_name(".debug_info").is_none() {
        return Err("no DWARF (built with -ldflags=-w, or stripped)".into());
    }
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let mut refused = None;
    let sections = gimli::DwarfSections::load(|id| -> Result<Cow<'_, [u8]>, String> {
        let Some(s) = file.section_by_name(id.name()) else {
            return Ok(Cow::Borrowed(&[][..]));
        };
        if let Ok(r) = s.compressed_file_range() {
            if r.uncompressed_size > MAX_SECTION {
                refused = Some(format!(
                    "{} would inflate to {} bytes (more than {MAX_SECTION})",
                    id.name(),
                    r.uncompressed_size
                ));
                return Ok(Cow::Borrowed(&[][..]));
            }
        }
        s.uncompressed_data()
            .map_err(|e| format!("{}: cannot decompress: {e}", id.name()))
    })?;
    if let Some(r) = refused {
        return Err(r);
    }
    let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
    let (mut types, captures) = read(&dwarf, endian)
        .map_err(|(at, e)| format!("DWARF unreadable at .debug_info offset {at:#x}: {e}"))?;
    // The descriptors' offsets are from the start of the type data, `runtime.types` (which Go
    // 1.27's `type:*` is 8 bytes past).
    let symbol = |names: &[&str]| {
        file.symbols()
            .find(|s| s.name().is_ok_and(|n| names.contains(&n)))
            .map(|s| s.address())
    };
    let base = symbol(&["runtime.types"]).or_else(|| symbol(&["type:*", "type.*"]));
    let relative = std::mem::take(&mut types.dynamic);
    if let Some(base) = base {
        types.dynamic = relative
            .into_iter()
            .map(|(off, t)| (base.wrapping_add(off), t))
            .collect();
        // Interface values' first words lie in the section that holds the type data (their
        // descriptors, and Go 1.27's itabs).
        if let Some(section) = file
            .sections()
            .map(|s| span(&s))
            .find(|r| r.contains(&base))
        {
            types.type_data = section;
        }
    }
    if let Some(text) = file.section_by_name(".text") {
        types.text = span(&text);
    }
    add_closures(
        &mut types,
        &captures,
        file.symbols()
            .filter(|s| s.kind() == object::SymbolKind::Text)
            .filter_map(|s| Some((s.address(), s.name().ok()?))),
    );
    Ok(types)
}

/// The addresses a section spans.
fn span<'a>(s: &impl ObjectSection<'a>) -> std::ops::Range<u64> {
    s.address()..s.address().saturating_add(s.size())
}

/// A [`Kind::Closure`] type for each function of the binary a closure can run: a function
/// literal (`main.makeCounter.func1`, `main.main.func2.1`), a method value's wrapper (`-fm`), a
/// `go` or `defer` statement's (`gowrap1`, `deferwrap1`), with the captures the DWARF gives for
/// a function of that name.
fn add_closures<'a>(
    types: &mut GoTypes,
    captures: &Captures,
    functions: impl Iterator<Item = (u64, &'a str)>,
) {
    let closure = |name: &str| {
        name.ends_with("-fm")
            || name.rsplit('.').any(|part| {
                ["func", "gowrap", "deferwrap"].iter().any(|p| {
                    part.strip_prefix(p)
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
            })
    };
    for (addr, name) in functions {
        if addr == 0 || !closure(name) || types.closures.contains_key(&addr) {
            continue;
        }
        types.closures.insert(addr, types.types.len() as TypeId);
        types.types.push(GoType {
            name: format!("func {name}"),
            size: 8,
            kind: Kind::Closure(captures.get(name).cloned().unwrap_or_default()),
        });
    }
}

type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// Closure functions' captures, by function name.
type Captures = FxHashMap<String, Vec<Member>>;

/// The DWARF's types and globals, and closure functions' captures by function name; an error
/// with the `.debug_info` offset of the unit or entry.
// Over 120 lines: one pass over the DWARF entries, one arm per tag.
#[allow(clippy::too_many_lines)]
fn read(
    dwarf: &gimli::Dwarf<R<'_>>,
    endian: RunTimeEndian,
) -> Result<(GoTypes, Captures), (usize, gimli::Error)> {
    let mut raws: Vec<Raw> = Vec::new();
    let mut id_of: FxHashMap<usize, TypeId> = FxHashMap::default();
    let mut globals_raw: Vec<(u64, usize)> = Vec::new();
    let mut locals = LocalsRaw::default();
    let mut producer = String::new();
    let mut units = dwarf.units();
    let mut unit_at = 0usize;
    // Units that could not be read, the first one's offset and error; units read.
    let (mut skipped, mut first_error, mut read_units) = (0usize, None, 0usize);
    loop {
        let header = match units.next() {
            Ok(Some(header)) => header,
            Ok(None) => break,
            // A header that cannot be read ends the walk (where the next unit starts is not
            // known): what came before is kept.
            Err(e) => {
                skipped += 1;
                first_error.get_or_insert((unit_at, e));
                break;
            }
        };
        if let UnitSectionOffset::DebugInfoOffset(o) = header.offset() {
            unit_at = o.0;
        }
        // What this unit adds, taken back if it cannot be read to its end: a damaged unit's
        // entries are left out whole, never half-read.
        let mark = (
            raws.len(),
            globals_raw.len(),
            locals.raw.len(),
            locals.captures.len(),
        );
        let unit_read = read_unit(
            dwarf,
            endian,
            header,
            unit_at,
            &mut raws,
            &mut id_of,
            &mut globals_raw,
            &mut locals,
            &mut producer,
        );
        match unit_read {
            Ok(()) => read_units += 1,
            Err(e) => {
                skipped += 1;
                first_error.get_or_insert(e);
                raws.truncate(mark.0);
                id_of.retain(|_, &mut id| (id as usize) < mark.0);
                globals_raw.truncate(mark.1);
                locals.raw.truncate(mark.2);
                locals.captures.truncate(mark.3);
            }
        }
    }
    if read_units == 0 {
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    let mut types = resolve(raws, &id_of, globals_raw, producer);
    let captures = locals.captures(&types, &id_of);
    types.locals = locals.resolve(&types, &id_of);
    if let Some((at, e)) = first_error {
        types.unreadable = Some(format!(
            "{skipped} of the DWARF's compile units could not be read (the first at .debug_info offset {at:#x}: {e}): the types, globals and locals they describe are left out, and what only they type stays untyped"
        ));
    }
    Ok((types, captures))
}

/// Reads one compile unit's entries into the tables of [`read`].
// Over 120 lines: one pass over the unit's entries, one arm per tag.
#[allow(clippy::too_many_lines, clippy::too_many_arguments)]
fn read_unit(
    dwarf: &gimli::Dwarf<R<'_>>,
    endian: RunTimeEndian,
    header: gimli::UnitHeader<R<'_>>,
    unit_at: usize,
    raws: &mut Vec<Raw>,
    id_of: &mut FxHashMap<usize, TypeId>,
    globals_raw: &mut Vec<(u64, usize)>,
    locals: &mut LocalsRaw,
    producer: &mut String,
) -> Result<(), (usize, gimli::Error)> {
    // Entries straight from the header: a unit's line program (which `Dwarf::unit` parses,
    // and a symbol file may lack) is not needed.
    let abbrevs = dwarf.abbreviations(&header).map_err(|e| (unit_at, e))?;
    let mut entries = header.entries(&abbrevs);
    let mut depth = 0isize;
    // The unit, for its location lists (read when a local needs one: it parses the line
    // program's header, which a symbol file lacks).
    let mut unit: Option<Option<gimli::Unit<R<'_>>>> = None;
    // The function whose locals are being read: its depth and index in `locals.functions`.
    let mut function: Option<(isize, u32)> = None;
    // The struct or array whose children are being read (index into `raws`), by depth.
    let mut parent: Vec<(isize, usize)> = Vec::new();
    while let Some((delta, entry)) = entries.next_dfs().map_err(|e| (unit_at, e))? {
        depth += delta;
        while parent.last().is_some_and(|&(d, _)| d >= depth) {
            parent.pop();
        }
        if function.is_some_and(|(d, _)| d >= depth) {
            function = None;
        }
        let Some(at) = entry.offset().to_debug_info_offset(&header).map(|o| o.0) else {
            continue;
        };
        let err = |e| (at, e);
        let (mut name, mut produced_by) = (String::new(), String::new());
        let (mut size, mut target, mut location, mut member_at, mut count) =
            (None, None, None, None, None);
        let mut location_list = None;
        let mut go_kind = 0u64;
        let mut runtime_type = None;
        let mut closure_offset = None;
        let mut attrs = entry.attrs();
        while let Some(a) = attrs.next().map_err(err)? {
            match a.name() {
                constants::DW_AT_name | constants::DW_AT_producer => {
                    let text = match a.value() {
                        AttributeValue::String(s) => Some(s),
                        AttributeValue::DebugStrRef(o) => dwarf.debug_str.get_str(o).ok(),
                        AttributeValue::DebugLineStrRef(o) => dwarf.debug_line_str.get_str(o).ok(),
                        _ => None,
                    };
                    if let Some(s) = text {
                        let s = String::from_utf8_lossy(s.slice()).into_owned();
                        if a.name() == constants::DW_AT_name {
                            name = s;
                        } else {
                            produced_by = s;
                        }
                    }
                }
                constants::DW_AT_byte_size => size = a.udata_value(),
                constants::DW_AT_count => count = a.udata_value(),
                constants::DW_AT_upper_bound => count = a.udata_value().map(|u| u + 1),
                constants::DW_AT_data_member_location => member_at = a.udata_value(),
                constants::DW_AT_type => {
                    target = match a.value() {
                        AttributeValue::UnitRef(r) => r.to_debug_info_offset(&header).map(|o| o.0),
                        AttributeValue::DebugInfoRef(o) => Some(o.0),
                        _ => None,
                    }
                }
                constants::DW_AT_location => {
                    location = match a.value() {
                        AttributeValue::Exprloc(e) => Some(e.0.slice()),
                        AttributeValue::Block(b) => Some(b.slice()),
                        v => {
                            location_list = Some(v);
                            None
                        }
                    }
                }
                n if n.0 == DW_AT_GO_KIND => go_kind = a.udata_value().unwrap_or(0),
                n if n.0 == DW_AT_GO_CLOSURE_OFFSET => closure_offset = a.udata_value(),
                n if n.0 == DW_AT_GO_RUNTIME_TYPE => {
                    runtime_type = match a.value() {
                        AttributeValue::Addr(v) => Some(v),
                        v => v.udata_value(),
                    }
                    .filter(|v| *v != 0);
                }
                _ => {}
            }
        }
        let tag = entry.tag();
        match tag {
            constants::DW_TAG_compile_unit if producer.is_empty() => {
                // "Go cmd/compile go1.27.3; regabi"
                if let Some(v) = produced_by
                    .split_whitespace()
                    .find(|w| w.starts_with("go1"))
                {
                    *producer = v.trim_end_matches(';').to_string();
                }
            }
            constants::DW_TAG_base_type
            | constants::DW_TAG_pointer_type
            | constants::DW_TAG_structure_type
            | constants::DW_TAG_array_type
            | constants::DW_TAG_typedef
            | constants::DW_TAG_subroutine_type => {
                id_of.insert(at, raws.len() as TypeId);
                if matches!(
                    tag,
                    constants::DW_TAG_structure_type | constants::DW_TAG_array_type
                ) {
                    parent.push((depth, raws.len()));
                }
                raws.push(Raw {
                    name,
                    size,
                    tag,
                    go_kind,
                    runtime_type,
                    target,
                    members: Vec::new(),
                    count: None,
                });
            }
            constants::DW_TAG_member => {
                if let (Some(&(d, p)), Some(t)) = (parent.last(), target) {
                    if d == depth - 1 {
                        raws[p].members.push((member_at.unwrap_or(0), name, t));
                    }
                }
            }
            constants::DW_TAG_subrange_type => {
                if let Some(&(d, p)) = parent.last() {
                    if d == depth - 1 {
                        raws[p].count = count;
                    }
                }
            }
            constants::DW_TAG_subprogram if depth == 1 && !name.is_empty() => {
                function = Some((depth, locals.function(name)));
            }
            // A function's own locals and parameters (not those of what it inlined), where
            // they are on its frame: from its canonical frame address, over a range of pcs.
            constants::DW_TAG_variable | constants::DW_TAG_formal_parameter
                if function.is_some_and(|(d, _)| d == depth - 1) =>
            {
                let (Some((_, f)), Some(t)) = (function, target) else {
                    continue;
                };
                if let Some(off) = closure_offset {
                    locals.captures.push((f, off, t, name.clone()));
                }
                if let Some(loc) = location {
                    for (cfa_offset, start, len) in stack_runs(loc) {
                        locals.raw.push(RawLocal {
                            function: f,
                            pcs: 0..u64::MAX,
                            cfa_offset,
                            start,
                            len,
                            ty: t,
                            name: name.clone(),
                        });
                    }
                } else if let Some(list) = location_list {
                    let unit = unit.get_or_insert_with(|| gimli::Unit::new(dwarf, header).ok());
                    let Some(unit) = unit.as_ref() else { continue };
                    let Ok(Some(mut iter)) = dwarf.attr_locations(unit, list) else {
                        continue;
                    };
                    while let Ok(Some(e)) = iter.next() {
                        for (cfa_offset, start, len) in stack_runs(e.data.0.slice()) {
                            locals.raw.push(RawLocal {
                                function: f,
                                pcs: e.range.begin..e.range.end,
                                cfa_offset,
                                start,
                                len,
                                ty: t,
                                name: name.clone(),
                            });
                        }
                    }
                }
            }
            // Globals are the compile unit's own variables (depth 1), at a fixed address.
            constants::DW_TAG_variable if depth == 1 => {
                if let (Some(loc), Some(t)) = (location, target) {
                    if let Some(addr) = op_addr(loc, endian) {
                        globals_raw.push((addr, t));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A local (or a run of its pieces) where it is on a frame, as read: its type is the
/// `.debug_info` offset of its type entry.
struct RawLocal {
    function: u32,
    pcs: std::ops::Range<u64>,
    cfa_offset: i64,
    start: u64,
    len: u64,
    ty: usize,
    name: String,
}

/// Functions' locals as read, before their types are resolved.
#[derive(Default)]
struct LocalsRaw {
    functions: Vec<String>,
    index: FxHashMap<String, u32>,
    raw: Vec<RawLocal>,
    /// Closure functions' captured variables: (function, offset in the closure, `.debug_info`
    /// offset of the type, name).
    captures: Vec<(u32, u64, usize, String)>,
}

impl LocalsRaw {
    fn function(&mut self, name: String) -> u32 {
        let next = self.functions.len() as u32;
        *self.index.entry(name).or_insert_with_key(|n| {
            self.functions.push(n.clone());
            next
        })
    }

    /// By function name, the captures whose type is certain ([`GoTypes::capture`]), by offset.
    fn captures(&self, types: &GoTypes, id_of: &FxHashMap<usize, TypeId>) -> Captures {
        let mut out = Captures::default();
        for (f, off, t, name) in &self.captures {
            let Some(m) = id_of.get(t).and_then(|&ty| types.capture(name, *off, ty)) else {
                continue;
            };
            out.entry(self.functions[*f as usize].clone())
                .or_default()
                .push(m);
        }
        for m in out.values_mut() {
            m.sort_by_key(|m| m.offset);
            m.dedup_by_key(|m| m.offset);
        }
        out
    }

    /// By function name, the locals whose type can hold a pointer.
    fn resolve(
        self,
        types: &GoTypes,
        id_of: &FxHashMap<usize, TypeId>,
    ) -> FxHashMap<String, Vec<Local>> {
        let mut out: FxHashMap<String, Vec<Local>> = FxHashMap::default();
        for l in self.raw {
            let Some(&ty) = id_of.get(&l.ty) else {
                continue;
            };
            if matches!(types.types[types.resolve(ty) as usize].kind, Kind::Other) {
                continue;
            }
            out.entry(self.functions[l.function as usize].clone())
                .or_default()
                .push(Local {
                    name: l.name,
                    pcs: l.pcs,
                    cfa_offset: l.cfa_offset,
                    ty,
                    start: l.start,
                    len: l.len,
                });
        }
        out
    }
}

/// Where one location operation, at the reader's position, puts a value: `Some(Some(off))` on
/// the frame, `off` bytes from the canonical frame address (`DW_OP_fbreg N`: Go's frame base is
/// the CFA; `DW_OP_call_frame_cfa`, optionally `DW_OP_plus_uconst N`); `Some(None)` in a
/// register (`DW_OP_reg0..31`, `DW_OP_regx N`); `None` for any other operation or a cut one.
fn frame_place(r: &mut R<'_>) -> Option<Option<i64>> {
    use gimli::Reader as _;
    Some(match r.read_u8().ok()? {
        0x91 => Some(r.read_sleb128().ok()?),
        0x9c => {
            let mut ahead = *r;
            if ahead.read_u8().ok() == Some(0x23) {
                let n = i64::try_from(ahead.read_uleb128().ok()?).ok()?;
                *r = ahead;
                Some(n)
            } else {
                Some(0)
            }
        }
        0x50..=0x6f => None,
        0x90 => {
            r.read_uleb128().ok()?;
            None
        }
        _ => return None,
    })
}

/// The offset from the canonical frame address of a location that is one place on the frame
/// ([`frame_place`]) and nothing else.
fn cfa_offset(loc: &[u8]) -> Option<i64> {
    let mut r = EndianSlice::new(loc, RunTimeEndian::Little);
    let off = frame_place(&mut r)??;
    r.is_empty().then_some(off)
}

/// Where on the frame a local's location keeps it: `(offset from the CFA, start in its type,
/// length)`. A whole location ([`cfa_offset`]) is one run of the whole type (`len` `u64::MAX`);
/// a location in pieces (`DW_OP_piece`: Go splits slices, strings, interfaces and structs
/// between registers and stack slots) gives a run per stretch of pieces that lie one after
/// another on the frame as in the type. Pieces in registers or optimized out are left out; an
/// expression with any other operation gives nothing (never a guess).
fn stack_runs(loc: &[u8]) -> Vec<(i64, u64, u64)> {
    if let Some(off) = cfa_offset(loc) {
        return vec![(off, 0, u64::MAX)];
    }
    use gimli::Reader as _;
    let mut r = EndianSlice::new(loc, RunTimeEndian::Little);
    let mut runs: Vec<(i64, u64, u64)> = Vec::new();
    // The piece's start in the type; where the last piece on the frame ended (None: the last
    // piece was elsewhere).
    let (mut start, mut last_end) = (0u64, None::<i64>);
    while !r.is_empty() {
        // A piece with no location is optimized out.
        let at = match r.slice().first() {
            Some(0x93) => None,
            _ => match frame_place(&mut r) {
                Some(at) => at,
                None => return Vec::new(),
            },
        };
        // Every piece ends with its DW_OP_piece.
        if r.read_u8().ok() != Some(0x93) {
            return Vec::new();
        }
        let Ok(size) = r.read_uleb128() else {
            return Vec::new();
        };
        last_end = at.and_then(|at| {
            match runs.last_mut() {
                Some(run) if last_end == Some(at) => run.2 = run.2.saturating_add(size),
                _ => runs.push((at, start, size)),
            }
            at.checked_add(i64::try_from(size).ok()?)
        });
        start = start.saturating_add(size);
    }
    runs
}

/// The address of a location that is one `DW_OP_addr`.
fn op_addr(loc: &[u8], endian: RunTimeEndian) -> Option<u64> {
    use gimli::Endianity;
    match loc {
        [0x03, rest @ ..] if rest.len() == 8 => Some(endian.read_u64(rest)),
        [0x03, rest @ ..] if rest.len() == 4 => Some(u64::from(endian.read_u32(rest))),
        _ => None,
    }
}

fn resolve(
    raws: Vec<Raw>,
    id_of: &FxHashMap<usize, TypeId>,
    globals_raw: Vec<(u64, usize)>,
    go_version: String,
) -> GoTypes {
    let id = |r: usize| id_of.get(&r).copied();
    let mut types: Vec<GoType> = raws
        .iter()
        .map(|r| {
            let kind = if r.go_kind == GO_KIND_INTERFACE {
                Kind::Interface
            } else {
                match r.tag {
                    constants::DW_TAG_pointer_type => Kind::Pointer(r.target.and_then(id)),
                    // A func value: a pointer to a closure whose layout the DWARF does not give.
                    constants::DW_TAG_subroutine_type => Kind::Func,
                    constants::DW_TAG_typedef => {
                        r.target.and_then(id).map_or(Kind::Other, Kind::Typedef)
                    }
                    constants::DW_TAG_array_type => match (r.target.and_then(id), r.count) {
                        (Some(e), Some(c)) => Kind::Array(e, c),
                        _ => Kind::Other,
                    },
                    constants::DW_TAG_structure_type => Kind::Struct(
                        r.members
                            .iter()
                            .filter_map(|(o, name, t)| {
                                Some(Member {
                                    offset: *o,
                                    ty: id(*t)?,
                                    name: name.clone(),
                                })
                            })
                            .collect(),
                    ),
                    _ => Kind::Other,
                }
            };
            // An interface is two words; Go 1.2x describes a named one as a typedef of go kind
            // interface with no size of its own.
            let size = r.size.unwrap_or(match r.tag {
                _ if kind == Kind::Interface => 16,
                constants::DW_TAG_pointer_type | constants::DW_TAG_subroutine_type => 8,
                _ => 0,
            });
            GoType {
                name: r.name.clone(),
                size,
                kind,
            }
        })
        .collect();
    // Typedefs without a size take their target's; arrays without one, count × element.
    for i in 0..types.len() {
        if types[i].size == 0 {
            let mut t = i;
            for _ in 0..64 {
                match types[t].kind {
                    Kind::Typedef(u) => t = u as usize,
                    _ => break,
                }
            }
            types[i].size = match types[t].kind {
                Kind::Array(e, c) => types
                    .get(e as usize)
                    .map_or(0, |x| x.size)
                    .saturating_mul(c),
                _ => types[t].size,
            };
        }
    }
    // Members by offset; zero-sized ones (a struct{} field) cannot hold a pointer and would hide
    // the member at their offset.
    let sizes: Vec<u64> = types.iter().map(|t| t.size).collect();
    for t in &mut types {
        if let Kind::Struct(m) = &mut t.kind {
            m.retain(|m| sizes.get(m.ty as usize).is_some_and(|&s| s > 0));
            m.sort_by_key(|m| m.offset);
        }
    }
    let mut globals: Vec<(u64, u64, TypeId)> = globals_raw
        .into_iter()
        .filter_map(|(a, t)| {
            let t = id(t)?;
            Some((a, sizes[t as usize], t))
        })
        .filter(|g| g.1 > 0)
        .collect();
    globals.sort_unstable();
    globals.dedup_by_key(|g| g.0);
    // Relative to the binary's type data until `from_object` knows where that starts.
    let mut dynamic = FxHashMap::default();
    for (i, r) in raws.iter().enumerate() {
        if let Some(off) = r.runtime_type {
            dynamic.entry(off).or_insert(i as TypeId);
        }
    }
    let mut g = GoTypes {
        go_version,
        types,
        globals,
        small_map_group: FxHashMap::default(),
        dynamic,
        closures: FxHashMap::default(),
        text: 0..0,
        type_data: 0..0,
        locals: FxHashMap::default(),
        unreadable: None,
    };
    g.small_map_group = small_map_groups(&g, &raws, id_of);
    g
}

/// Go 1.24+ swiss maps: `*table<K,V>` → the group type a small map's directory pointer holds
/// instead (the `data` of the table's `groups`).
fn small_map_groups(
    g: &GoTypes,
    raws: &[Raw],
    id_of: &FxHashMap<usize, TypeId>,
) -> FxHashMap<TypeId, TypeId> {
    let member = |t: TypeId, name: &str| -> Option<TypeId> {
        let t = g.resolve(t);
        let (_, _, r) = raws.get(t as usize)?.members.iter().find(|m| m.1 == name)?;
        id_of.get(r).copied()
    };
    let mut out = FxHashMap::default();
    for (i, t) in g.types.iter().enumerate() {
        let Kind::Pointer(Some(table)) = t.kind else {
            continue;
        };
        if !g.name(table).starts_with("table<") {
            continue;
        }
        let group = member(table, "groups")
            .and_then(|r| member(r, "data"))
            .and_then(|d| match g.types.get(g.resolve(d) as usize)?.kind {
                Kind::Pointer(Some(p)) => Some(p),
                _ => None,
            });
        if let Some(group) = group {
            out.insert(i as TypeId, group);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Damaged DWARF (bytes flipped, zeroed or cut off in `.debug_info` or `.debug_abbrev` of a
    /// real Go 1.27.3 build) is an error with its offset, or the types of the units that read
    /// (a damaged unit is left out whole, and said); and whatever types it gives, asking them
    /// for slots, sizes, boxes and field paths at the first words never panics nor loops (a
    /// damaged type may refer to itself).
    #[test]
    fn damaged_dwarf_is_an_error_or_types_never_a_panic() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/go/typesgen/typesgen-go1.27.3.debug");
        let data = std::fs::read(path).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let mut sections: FxHashMap<String, Vec<u8>> = FxHashMap::default();
        for s in file.sections() {
            if let (Ok(name), Ok(bytes)) = (s.name(), s.uncompressed_data()) {
                if name.starts_with(".debug_") {
                    sections.insert(name.to_string(), bytes.into_owned());
                }
            }
        }
        let read_sections = |s: &FxHashMap<String, Vec<u8>>| {
            let loaded = gimli::DwarfSections::load(|id| {
                Ok::<_, ()>(s.get(id.name()).map_or(&[][..], Vec::as_slice))
            })
            .unwrap();
            let dwarf = loaded.borrow(|x| EndianSlice::new(x, RunTimeEndian::Little));
            read(&dwarf, RunTimeEndian::Little).map(|(types, _)| types)
        };
        let whole = read_sections(&sections).expect("the undamaged DWARF reads");
        assert!(whole.types.len() > 1000, "{}", whole.types.len());
        // A fixed pseudo-random walk (xorshift): the same cases every run.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as usize
        };
        let (mut errors, mut read_ok, mut partly) = (0, 0, 0);
        for case in 0..120 {
            let mut damaged = sections.clone();
            let name = [".debug_info", ".debug_abbrev"][case % 2];
            let buf = damaged.get_mut(name).unwrap();
            match case % 3 {
                0 => {
                    for _ in 0..1 + case % 7 {
                        let at = next() % buf.len();
                        buf[at] = next() as u8;
                    }
                }
                1 => buf.truncate(next() % buf.len()),
                _ => {
                    let at = next() % buf.len();
                    let end = (at + 1 + next() % 64).min(buf.len());
                    buf[at..end].fill(0);
                }
            }
            match read_sections(&damaged) {
                Err(_) => errors += 1,
                Ok(types) => {
                    read_ok += 1;
                    if let Some(note) = &types.unreadable {
                        partly += 1;
                        assert!(note.contains("could not be read"), "{note}");
                        assert!(types.types.len() <= whole.types.len());
                    }
                    for t in 0..types.types.len() as TypeId {
                        let _ = (types.size(t), types.boxed(t), types.name(t));
                        for off in (0..64).step_by(8) {
                            let _ = (types.slot(t, off), types.field_path(t, off));
                        }
                    }
                }
            }
        }
        eprintln!("{errors} errors, {read_ok} read, {partly} of them in part");
        // Both outcomes are met; a damaged unit is left out and the rest read.
        assert!(errors > 0 && read_ok > 0, "{errors} errors, {read_ok} read");
        assert!(partly > 0, "no case was read in part");
    }

    /// Go's stack locations: `DW_OP_fbreg N` (its frame base is the CFA), the CFA itself, the CFA
    /// plus a constant; anything else (a register, a longer expression) is not a frame slot.
    #[test]
    fn frame_slots_are_read_from_cfa_relative_locations() {
        assert_eq!(cfa_offset(&[0x91, 0x68]), Some(-24));
        assert_eq!(cfa_offset(&[0x9c]), Some(0));
        assert_eq!(cfa_offset(&[0x9c, 0x23, 0x10]), Some(16));
        assert_eq!(cfa_offset(&[0x50]), None, "DW_OP_reg0");
        assert_eq!(cfa_offset(&[0x91, 0x68, 0x93, 0x08]), None, "a piece");
        assert_eq!(cfa_offset(&[]), None);
        assert_eq!(cfa_offset(&[0x91]), None, "truncated");
    }

    /// A location in pieces gives a run per stretch of pieces next to each other on the frame
    /// as in the type; registers and optimized-out pieces split runs; anything else is nothing.
    #[test]
    fn pieces_on_the_frame_are_runs_of_the_type() {
        // DW_OP_call_frame_cfa; piece 8; fbreg 8; piece 8; fbreg 16; piece 8: a slice whole.
        let slice = [0x9c, 0x93, 8, 0x91, 8, 0x93, 8, 0x91, 16, 0x93, 8];
        assert_eq!(stack_runs(&slice), [(0, 0, 24)]);
        // An interface: its type word in rax, its data word at CFA-24.
        let iface = [0x50, 0x93, 8, 0x91, 0x68, 0x93, 8];
        assert_eq!(stack_runs(&iface), [(-24, 8, 8)]);
        // Two words apart on the frame: two runs.
        let apart = [0x91, 0x60, 0x93, 8, 0x91, 0x70, 0x93, 8];
        assert_eq!(stack_runs(&apart), [(-32, 0, 8), (-16, 8, 8)]);
        // Optimized out between: two runs though the slots touch.
        let gap = [0x91, 0x60, 0x93, 8, 0x93, 8, 0x91, 0x70, 0x93, 8];
        assert_eq!(stack_runs(&gap), [(-32, 0, 8), (-16, 16, 8)]);
        // CFA plus a constant, then a register.
        assert_eq!(
            stack_runs(&[0x9c, 0x23, 16, 0x93, 8, 0x53, 0x93, 8]),
            [(16, 0, 8)]
        );
        // A whole location is the whole type.
        assert_eq!(stack_runs(&[0x91, 0x68]), [(-24, 0, u64::MAX)]);
        assert!(
            stack_runs(&[0x91, 0x68, 0x06, 0x93, 8]).is_empty(),
            "DW_OP_deref"
        );
        assert!(stack_runs(&[0x91, 0x68, 0x93]).is_empty(), "truncated");
        assert!(
            stack_runs(&[0x91, 0x68, 0x91, 0x60]).is_empty(),
            "no piece after"
        );
        assert!(stack_runs(&[0x50, 0x93, 8]).is_empty(), "all in registers");
    }

    /// Function literals, method values' wrappers and go/defer wrappers get a closure type each;
    /// other functions do not (`main.funcName` is not a literal).
    #[test]
    fn closures_are_the_binarys_function_literals() {
        let mut types = GoTypes::default();
        let funcs = [
            (0x100, "main.makeCounter.func1"),
            (0x200, "main.main.func2.1"),
            (0x300, "main.(*T).Get-fm"),
            (0x400, "main.main.gowrap1"),
            (0x500, "main.funcName"),
            (0x600, "main.func"),
            (0x700, "runtime.main"),
        ];
        add_closures(&mut types, &FxHashMap::default(), funcs.into_iter());
        let names: Vec<&str> = types.types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "func main.makeCounter.func1",
                "func main.main.func2.1",
                "func main.(*T).Get-fm",
                "func main.main.gowrap1"
            ]
        );
        assert_eq!(types.closures.get(&0x300), Some(&2));
        assert!(types
            .types
            .iter()
            .all(|t| t.kind == Kind::Closure(Vec::new())));
    }
}
