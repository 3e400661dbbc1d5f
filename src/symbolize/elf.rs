//! One loaded ELF module: its load segments (file offset → virtual address), its symbol tables
//! and, when present (in the file or a separate `.build-id` debug file), its DWARF.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

use super::Symbol;

type Reader = gimli::EndianArcSlice<gimli::RunTimeEndian>;

/// A binary or shared object ready for lookups.
pub struct Module {
    /// (file offset, file size, virtual address, memory size) of each load segment.
    segments: Vec<(u64, u64, u64, u64)>,
    /// (address, size, name) sorted by address.
    symbols: Vec<(u64, u64, String)>,
    dwarf: Option<addr2line::Context<Reader>>,
    build_id: String,
    /// An `ET_EXEC` executable: loaded at the addresses it was linked for.
    fixed: bool,
}

/// Page size assumed for load addresses (a shared object or PIE is mapped at a page boundary).
const PAGE: u64 = 0x1000;

/// Largest binary read (a guard against pointing `--binary` at something huge).
const MAX_BINARY: u64 = 4 << 30;

impl Module {
    /// Reads `path`; `debug_dirs` (and, with `system`, /usr/lib/debug and the binary's own
    /// folder) are searched for separate debug info: by build id (`.build-id/xx/rest.debug`),
    /// then by the `.gnu_debuglink` name. A debug file adds its DWARF and its symbol table (a
    /// stripped binary keeps only `.dynsym`, the exported functions).
    pub fn load(path: &Path, debug_dirs: &[PathBuf], system: bool) -> Result<Module, String> {
        let data = read(path)?;
        let file = object::File::parse(&*data)
            .map_err(|e| format!("{}: not an object file: {e}", path.display()))?;
        let segments = file
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off, size, s.address(), s.size())
            })
            .collect();
        let mut symbols = text_symbols(&file);
        let build_id = file.build_id().ok().flatten().map(hex).unwrap_or_default();
        let fixed = file.kind() == object::ObjectKind::Executable;

        let mut dwarf = load_dwarf(&file);
        if dwarf.is_none() {
            for p in debug_candidates(path, &file, &build_id, debug_dirs, system) {
                let Ok(bytes) = read(&p) else { continue };
                let Ok(f) = object::File::parse(&*bytes) else {
                    continue;
                };
                // A debug file of another build is no help (the debuglink name is only a name).
                let id = f.build_id().ok().flatten().map(hex).unwrap_or_default();
                if !build_id.is_empty() && !id.is_empty() && id != build_id {
                    continue;
                }
                symbols.extend(text_symbols(&f));
                dwarf = load_dwarf(&f);
                break;
            }
        }
        // Prefer sized symbols, then the first name, at each address.
        symbols.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        symbols.dedup_by_key(|s| s.0);
        Ok(Module {
            segments,
            symbols,
            dwarf,
            build_id,
            fixed,
        })
    }

    /// The GNU build id, hex, or empty.
    pub fn build_id(&self) -> &str {
        &self.build_id
    }

    /// True when lookups can return anything.
    pub fn has_symbols(&self) -> bool {
        !self.symbols.is_empty() || self.dwarf.is_some()
    }

    /// Virtual address of a file offset (through the load segment that contains it).
    fn vaddr(&self, file_offset: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|(off, size, _, _)| file_offset >= *off && file_offset - off < *size)
            .map(|(off, _, addr, _)| file_offset - off + addr)
    }

    /// File offset of a link-time virtual address (through the load segment that holds it): what
    /// an unnamed frame shows, as pprof does (`libstdc++.so.6+0xa57b9`), the same whatever
    /// address the file was loaded at.
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|(_, size, addr, _)| vaddr >= *addr && vaddr - addr < *size)
            .map(|(off, _, addr, _)| vaddr - addr + off)
    }

    /// Whether a virtual address lies in a load segment.
    fn loaded(&self, v: u64) -> bool {
        self.segments
            .iter()
            .any(|(_, _, addr, mem)| v >= *addr && v - addr < *mem)
    }

    /// The link-time virtual address of run-time address `addr` in a mapping of this file that
    /// starts at `start` and maps it from file offset `offset` on (a `/proc/PID/maps` line, a
    /// pprof mapping), as pprof finds it: the load segment holding `offset` gives the mapping's
    /// load bias, and the address is read through that bias whichever segment it falls in. A
    /// mapping that covers the whole file from offset 0 (jemalloc_pprof's) and a maps line of
    /// one segment both come out right, also where a segment's address and offset differ (lld
    /// places the text 0x1000 above its file offset), which reading `addr − start + offset` as a
    /// file offset got wrong. Where two segments share the page of `offset` (lld packs them), the
    /// one that puts the address inside a load segment, its own first, wins. A mapping at 0 from
    /// offset 0 is a stand-in: its addresses are already link-time ones.
    fn mapped_vaddr(&self, addr: u64, start: u64, offset: u64) -> Option<u64> {
        if start == 0 && offset == 0 {
            return Some(addr);
        }
        let mut best: Option<(u8, u64)> = None;
        for &(off, size, vaddr, mem) in &self.segments {
            let aligned = off & !(PAGE - 1);
            if offset < aligned || offset >= off + size.max(1) {
                continue;
            }
            let v = addr
                .wrapping_sub(start)
                .wrapping_add(vaddr.wrapping_add(offset).wrapping_sub(off));
            let rank = if v >= vaddr && v - vaddr < mem {
                2
            } else {
                u8::from(self.loaded(v))
            };
            if best.is_none_or(|(r, _)| rank > r) {
                best = Some((rank, v));
            }
        }
        match best {
            Some((rank, v)) if rank > 0 => Some(v),
            _ => self.vaddr(addr.wrapping_sub(start).wrapping_add(offset)),
        }
    }

    /// Frames at run-time address `addr` of a mapping of this file ([`Module::mapped_vaddr`]),
    /// innermost inlined function first; empty when nothing is known.
    pub fn lookup_mapped(&self, addr: u64, start: u64, offset: u64) -> Vec<Symbol> {
        match self.mapped_vaddr(addr, start, offset) {
            Some(v) => self.lookup_address(v),
            None => Vec::new(),
        }
    }

    /// The function symbol nearest before link-time address `addr` of a loaded segment when no
    /// symbol contains it (a stripped file's static functions: only its exported, dynamic
    /// symbols are left): where the address lies, a hint and never its name.
    pub fn nearest_before(&self, addr: u64) -> Option<&str> {
        let i = self.symbols.partition_point(|s| s.0 <= addr);
        let (start, size, name) = self.symbols.get(i.checked_sub(1)?)?;
        (self.loaded(addr) && *size != 0 && addr - start >= *size).then_some(name.as_str())
    }

    /// [`Module::nearest_before`] a run-time address of a mapping of this file.
    pub fn nearest_before_mapped(&self, addr: u64, start: u64, offset: u64) -> Option<&str> {
        self.nearest_before(self.mapped_vaddr(addr, start, offset)?)
    }

    fn symbol(&self, addr: u64) -> Option<&str> {
        let i = self.symbols.partition_point(|s| s.0 <= addr);
        let (start, size, name) = self.symbols.get(i.checked_sub(1)?)?;
        (*size == 0 || addr - start < *size).then_some(name.as_str())
    }

    /// Where the module was loaded, from run-time addresses the recording did name: `(ip,
    /// function)` pairs. An executable linked for fixed addresses is at 0, provided every named
    /// frame lies inside its symbol there. A shared object or PIE is at the one page boundary
    /// that puts every named frame inside the one symbol of its name; `None` when there is no
    /// such frame, when several boundaries fit, or when none does (another build of the file).
    pub fn load_bias(&self, named: &[(u64, &str)]) -> Option<u64> {
        let wanted: rustc_hash::FxHashSet<&str> = named.iter().map(|(_, n)| *n).collect();
        let mut by_name: rustc_hash::FxHashMap<&str, Vec<(u64, u64)>> = Default::default();
        for (start, size, name) in &self.symbols {
            if wanted.contains(name.as_str()) {
                by_name
                    .entry(name.as_str())
                    .or_default()
                    .push((*start, *size));
            }
        }
        // The bias b must satisfy start <= ip - b < start + size for every frame.
        let (mut lo, mut hi, mut evidence) = (0u64, u64::MAX, 0usize);
        for (ip, name) in named {
            let Some([(start, size)]) = by_name.get(name).map(Vec::as_slice) else {
                continue;
            };
            if *size == 0 {
                continue;
            }
            let top = ip.checked_sub(*start)?;
            lo = lo.max(top.saturating_sub(size - 1));
            hi = hi.min(top);
            evidence += 1;
        }
        if lo > hi {
            return None;
        }
        if self.fixed {
            return (lo == 0).then_some(0);
        }
        if evidence == 0 {
            return None;
        }
        let first = lo.checked_next_multiple_of(PAGE)?;
        (first <= hi && hi - first < PAGE).then_some(first)
    }

    /// Frames at a link-time virtual address, innermost inlined function first.
    pub fn lookup_address(&self, addr: u64) -> Vec<Symbol> {
        let mut out = Vec::new();
        if let Some(ctx) = &self.dwarf {
            if let Ok(mut frames) = ctx.find_frames(addr).skip_all_loads() {
                while let Ok(Some(f)) = frames.next() {
                    let function = f
                        .function
                        .as_ref()
                        .and_then(|n| n.demangle().ok())
                        .map(|n| n.into_owned())
                        .unwrap_or_default();
                    let (file, line) = f
                        .location
                        .as_ref()
                        .map(|l| (l.file.unwrap_or("").to_string(), l.line.unwrap_or(0)))
                        .unwrap_or_default();
                    out.push(Symbol {
                        function,
                        file,
                        line,
                    });
                }
            }
        }
        let sym = self.symbol(addr);
        match out.last_mut() {
            Some(outer) if outer.function.is_empty() => {
                if let Some(name) = sym {
                    outer.function = name.to_string();
                }
            }
            Some(_) => {}
            None => {
                if let Some(name) = sym {
                    out.push(Symbol {
                        function: name.to_string(),
                        file: String::new(),
                        line: 0,
                    });
                }
            }
        }
        out.retain(|s| !s.function.is_empty() || !s.file.is_empty());
        out
    }
}

/// Function symbols of a file's `.symtab` and `.dynsym`: (address, size, demangled name).
fn text_symbols(file: &object::File<'_>) -> Vec<(u64, u64, String)> {
    file.symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
        .filter_map(|s| {
            let name = s.name().ok()?;
            let name = without_clone_suffix(name.split('@').next().unwrap_or(name));
            if name.is_empty() {
                return None;
            }
            Some((
                s.address(),
                s.size(),
                addr2line::demangle_auto(Cow::Borrowed(name), None).into_owned(),
            ))
        })
        .collect()
}

/// A symbol name without the suffixes GCC and LLVM give the copies of a function they make
/// (`dictresize.lto_priv.0`, `f.isra.0`, `g.constprop.3`, `h.part.1`, `k.cold`, `m.llvm.123`):
/// the function's own name, as DWARF and the reference tools show it.
fn without_clone_suffix(name: &str) -> &str {
    const CLONES: &[&str] = &["lto_priv", "isra", "constprop", "part", "cold", "llvm"];
    let mut name = name;
    loop {
        let Some((head, tail)) = name.rsplit_once('.') else {
            return name;
        };
        // A number counts only after a clone word (`x.lto_priv.0`), not as a part of the name.
        let rest = if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            match head.rsplit_once('.') {
                Some((h, word)) if CLONES.contains(&word) => h,
                _ => return name,
            }
        } else if CLONES.contains(&tail) {
            head
        } else {
            return name;
        };
        if rest.is_empty() {
            return name;
        }
        name = rest;
    }
}

/// Where a binary's separate debug file may be, in the order gdb looks: by build id under each
/// debug folder, then the `.gnu_debuglink` name beside the binary, in its `.debug/`, and under
/// each debug folder (with the binary's own folder appended, as Debian installs them).
fn debug_candidates(
    path: &Path,
    file: &object::File<'_>,
    build_id: &str,
    debug_dirs: &[PathBuf],
    system: bool,
) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = debug_dirs.to_vec();
    if system {
        dirs.push(PathBuf::from("/usr/lib/debug"));
    }
    let mut out = Vec::new();
    if build_id.len() > 2 {
        for d in &dirs {
            out.push(
                d.join(".build-id")
                    .join(&build_id[..2])
                    .join(format!("{}.debug", &build_id[2..])),
            );
        }
    }
    let link = file
        .gnu_debuglink()
        .ok()
        .flatten()
        .and_then(|(name, _crc)| std::str::from_utf8(name).ok().map(str::to_string))
        .filter(|n| !n.is_empty() && !n.contains('/'));
    if let Some(name) = link {
        let own = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if system {
            out.push(own.join(&name));
            out.push(own.join(".debug").join(&name));
        }
        for d in &dirs {
            out.push(d.join(&name));
            if let Ok(rel) = own.canonicalize().unwrap_or(own.clone()).strip_prefix("/") {
                out.push(d.join(rel).join(&name));
            }
        }
    }
    out.retain(|p| p.as_path() != path);
    out
}

/// The globals of a binary, for naming a heap dump's roots: its data symbols (address, size,
/// name) sorted by address, and its data and bss sections (name, address, size).
#[allow(clippy::type_complexity)]
pub fn globals(path: &Path) -> Result<(Vec<(u64, u64, String)>, Vec<(String, u64, u64)>), String> {
    let data = read(path)?;
    let file = object::File::parse(&*data)
        .map_err(|e| format!("{}: not an object file: {e}", path.display()))?;
    let mut symbols: Vec<(u64, u64, String)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Data && s.address() != 0)
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
        .collect();
    symbols.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    symbols.dedup_by_key(|s| s.0);
    let sections = file
        .sections()
        .filter_map(|s| {
            let name = s.name().ok()?;
            let data_like = [".data", ".bss", ".noptrdata", ".noptrbss"]
                .iter()
                .any(|p| name == *p || name.starts_with(&format!("{p}.")));
            data_like.then(|| (name.to_string(), s.address(), s.size()))
        })
        .collect();
    Ok((symbols, sections))
}

pub(super) fn read(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_BINARY {
        return Err(format!("{}: larger than 4 GiB", path.display()));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn load_dwarf(file: &object::File<'_>) -> Option<addr2line::Context<Reader>> {
    file.section_by_name(".debug_info")?;
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
        let data: Arc<[u8]> = file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .map(|d| Arc::from(&*d))
            .unwrap_or_else(|| Arc::from(&[][..]));
        Ok(gimli::EndianArcSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load).ok()?;
    addr2line::Context::from_dwarf(dwarf).ok()
}

#[cfg(test)]
mod tests {
    use super::Module;

    fn module(fixed: bool) -> Module {
        Module {
            segments: Vec::new(),
            symbols: vec![
                (0x1000, 0x40, "small".into()),
                (0x2000, 0x3000, "big".into()),
                (0x6000, 0x10, "twin".into()),
                (0x7000, 0x10, "twin".into()),
            ],
            dwarf: None,
            build_id: String::new(),
            fixed,
        }
    }

    /// lld's layout (Rust's default linker): the text segment's address is 0x1000 above its file
    /// offset, and it shares a file page with the read-only segment before it.
    fn lld() -> Module {
        Module {
            segments: vec![
                (0x0, 0x12e84, 0x0, 0x12e84),
                (0x12e90, 0x3d6f0, 0x13e90, 0x3d6f0),
                (0x50580, 0x2748, 0x52580, 0x2a80),
            ],
            symbols: vec![
                (0x14120, 0x30, "leak::handle".into()),
                (0x14150, 0x40, "leak::register".into()),
                (0x15150, 0x40, "wrong::one".into()),
            ],
            dwarf: None,
            build_id: String::new(),
            fixed: false,
        }
    }

    #[test]
    fn addresses_are_read_through_the_segment_of_the_mappings_offset() {
        let m = lld();
        let name = |addr: u64, start: u64, offset: u64| {
            m.lookup_mapped(addr, start, offset)
                .first()
                .map(|s| s.function.clone())
                .unwrap_or_default()
        };
        let bias = 0x5555_0000_0000;
        // A mapping of the whole file from offset 0 (jemalloc_pprof): read as a file offset,
        // 0x14160 fell 0x1000 too high, in `wrong::one`.
        assert_eq!(name(bias + 0x14160, bias, 0), "leak::register");
        // A maps line of the text segment: page-aligned start and offset; the page at 0x12000
        // also holds the read-only segment's end.
        assert_eq!(
            name(bias + 0x14160, bias + 0x13000, 0x12000),
            "leak::register"
        );
        assert_eq!(
            name(bias + 0x14125, bias + 0x13000, 0x12000),
            "leak::handle"
        );
        // A stand-in mapping at 0: addresses are link-time already.
        assert_eq!(name(0x14160, 0, 0), "leak::register");
        // Outside every symbol: no name.
        assert_eq!(name(bias + 0x20000, bias, 0), "");
    }

    #[test]
    fn a_load_address_comes_only_from_frames_that_fit_one_page_boundary() {
        let pie = module(false);
        // 0x5555_0000_1010 is inside `small` only at bias 0x5555_0000_0000.
        assert_eq!(
            pie.load_bias(&[(0x5555_0000_1010, "small")]),
            Some(0x5555_0000_0000)
        );
        // `big` spans three pages: alone it fits three boundaries, with `small` one.
        assert_eq!(pie.load_bias(&[(0x5555_0000_3000, "big")]), None);
        assert_eq!(
            pie.load_bias(&[(0x5555_0000_3000, "big"), (0x5555_0000_1000, "small")]),
            Some(0x5555_0000_0000)
        );
        // Frames that disagree (another build of the file), a name with two symbols, none.
        assert_eq!(
            pie.load_bias(&[(0x5555_0000_1010, "small"), (0x5555_1000_2000, "big")]),
            None
        );
        assert_eq!(pie.load_bias(&[(0x5555_0000_6008, "twin")]), None);
        assert_eq!(pie.load_bias(&[]), None);
        // An executable linked for fixed addresses is at 0 unless its named frames say otherwise.
        let exe = module(true);
        assert_eq!(exe.load_bias(&[]), Some(0));
        assert_eq!(exe.load_bias(&[(0x1010, "small")]), Some(0));
        assert_eq!(exe.load_bias(&[(0x5555_0000_1010, "small")]), None);
        assert_eq!(exe.symbol(0x1041), None);
    }

    #[test]
    fn clone_suffixes_are_dropped_and_nothing_else() {
        use super::without_clone_suffix as w;
        assert_eq!(w("dictresize.lto_priv.0"), "dictresize");
        assert_eq!(w("_PyBytes_FromBuffer.lto_priv.12"), "_PyBytes_FromBuffer");
        assert_eq!(w("f.isra.0"), "f");
        assert_eq!(w("g.constprop.3.isra.1"), "g");
        assert_eq!(w("h.part.1"), "h");
        assert_eq!(w("k.cold"), "k");
        assert_eq!(w("main.main"), "main.main");
        assert_eq!(w("v1.2"), "v1.2");
        assert_eq!(w(".part"), ".part");
        assert_eq!(w("x.0"), "x.0");
    }
}
