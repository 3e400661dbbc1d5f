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
    /// (file offset, file size, virtual address) of each load segment.
    segments: Vec<(u64, u64, u64)>,
    /// (address, size, name) sorted by address.
    symbols: Vec<(u64, u64, String)>,
    dwarf: Option<addr2line::Context<Reader>>,
    build_id: String,
}

/// Largest binary read (a guard against pointing `--binary` at something huge).
const MAX_BINARY: u64 = 4 << 30;

impl Module {
    /// Reads `path`; `debug_dirs` (and /usr/lib/debug) are searched for separate debug info.
    pub fn load(path: &Path, debug_dirs: &[PathBuf]) -> Result<Module, String> {
        let data = read(path)?;
        let file = object::File::parse(&*data)
            .map_err(|e| format!("{}: not an object file: {e}", path.display()))?;
        let segments = file
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off, size, s.address())
            })
            .collect();
        let mut symbols: Vec<(u64, u64, String)> = file
            .symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| {
                let name = s.name().ok()?;
                let name = name.split('@').next().unwrap_or(name);
                if name.is_empty() {
                    return None;
                }
                Some((
                    s.address(),
                    s.size(),
                    addr2line::demangle_auto(Cow::Borrowed(name), None).into_owned(),
                ))
            })
            .collect();
        // Prefer sized symbols, then the first name, at each address.
        symbols.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        symbols.dedup_by_key(|s| s.0);
        let build_id = file.build_id().ok().flatten().map(hex).unwrap_or_default();

        let mut dwarf = load_dwarf(&file);
        if dwarf.is_none() && !build_id.is_empty() {
            let mut dirs: Vec<PathBuf> = debug_dirs.to_vec();
            dirs.push(PathBuf::from("/usr/lib/debug"));
            for d in dirs {
                let p = d
                    .join(".build-id")
                    .join(&build_id[..2])
                    .join(format!("{}.debug", &build_id[2..]));
                if let Ok(bytes) = read(&p) {
                    if let Ok(f) = object::File::parse(&*bytes) {
                        dwarf = load_dwarf(&f);
                        if dwarf.is_some() {
                            break;
                        }
                    }
                }
            }
        }
        Ok(Module {
            segments,
            symbols,
            dwarf,
            build_id,
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
            .find(|(off, size, _)| file_offset >= *off && file_offset - off < *size)
            .map(|(off, _, addr)| file_offset - off + addr)
    }

    fn symbol(&self, addr: u64) -> Option<&str> {
        let i = self.symbols.partition_point(|s| s.0 <= addr);
        let (start, size, name) = self.symbols.get(i.checked_sub(1)?)?;
        (*size == 0 || addr - start < *size).then_some(name.as_str())
    }

    /// Frames at a file offset, innermost inlined function first; empty when nothing is known.
    pub fn lookup(&self, file_offset: u64) -> Vec<Symbol> {
        let Some(addr) = self.vaddr(file_offset) else {
            return Vec::new();
        };
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

fn read(path: &Path) -> Result<Vec<u8>, String> {
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
