//! Symbolization of address-only inputs (jemalloc and gperftools text profiles, unsymbolized
//! pprof): ELF symbol tables and DWARF line tables of the binaries named by the profile's mappings,
//! or of files the user points at (`--binary`, `--symbols`). Works on decoded wire structs, before
//! anything is interned, so allocator frames can still be dropped by name afterwards.
//!
//! Modules are loaded once per run (a cache shared by every input) and in parallel; a module that
//! cannot be found or read leaves its frames as `module+offset` and is named in one warning.
//!
//! May import: `formats` (wire structs), `model`. Never analysis or output modules.

mod elf;
pub mod gotypes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::formats::pprof::schema;

pub use elf::{globals, Module};

/// Where to look for binaries.
#[derive(Clone, Debug, Default)]
pub struct SymbolOptions {
    /// Turn symbolization off (frames stay `module+offset`).
    pub disabled: bool,
    /// Binaries to use instead of the mapped files: matched by file name; a single one that matches
    /// no mapping by name is used for the main (first) mapping, like jeprof's `PROGRAM` argument.
    pub binaries: Vec<PathBuf>,
    /// Folders searched before the mapped path: `DIR/<file name>`, `DIR/<full mapped path>`, and
    /// `DIR/.build-id/xx/rest.debug` for separate debug info.
    pub dirs: Vec<PathBuf>,
    /// Read only `binaries` and `dirs`, never the mapped paths or the system's debug folder
    /// (`eval`: results that do not depend on the machine).
    pub only_dirs: bool,
}

/// One inlined frame found for an address (innermost first in a lookup result).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Function name, demangled.
    pub function: String,
    /// Source file, empty when unknown.
    pub file: String,
    /// Source line, 0 when unknown.
    pub line: u32,
}

type Slot = Arc<Mutex<Option<Result<Module, String>>>>;

/// A per-run symbolizer: options plus the cache of loaded modules.
pub struct Symbolizer {
    options: SymbolOptions,
    modules: Mutex<FxHashMap<PathBuf, Slot>>,
    missing: Mutex<BTreeMap<String, String>>,
}

impl Symbolizer {
    /// A symbolizer with an empty cache.
    pub fn new(options: SymbolOptions) -> Symbolizer {
        Symbolizer {
            options,
            modules: Mutex::new(FxHashMap::default()),
            missing: Mutex::new(BTreeMap::new()),
        }
    }

    /// One line naming every module that could not be used, if any (call once, at the end).
    pub fn warning(&self) -> Option<String> {
        let missing = self.missing.lock().ok()?;
        if missing.is_empty() {
            return None;
        }
        let list: Vec<String> = missing
            .iter()
            .map(|(path, why)| format!("{path} ({why})"))
            .collect();
        Some(format!(
            "no symbols for {} module(s), their frames stay module+offset (see --binary, --symbols): {}",
            missing.len(),
            list.join(", ")
        ))
    }

    /// Which file to read for the mapping at `index` of a profile whose mapped paths are `paths`.
    /// The first `explicit` ones come from `--binary` and are trusted even when build ids differ
    /// (Go writes its own build id into mappings, not the GNU one).
    fn candidates(&self, paths: &[&str], index: usize) -> (Vec<PathBuf>, usize) {
        let mapped = paths[index];
        let base = file_name(mapped);
        let mut out = Vec::new();
        for b in &self.options.binaries {
            if b.file_name().is_some_and(|n| n.to_string_lossy() == base) {
                out.push(b.clone());
            }
        }
        if index == 0 && self.options.binaries.len() == 1 {
            let b = &self.options.binaries[0];
            let named_elsewhere = paths.iter().any(|p| {
                b.file_name()
                    .is_some_and(|n| n.to_string_lossy() == file_name(p))
            });
            if !named_elsewhere {
                out.push(b.clone());
            }
        }
        let explicit = out.len();
        for d in &self.options.dirs {
            out.push(d.join(base));
            out.push(d.join(mapped.trim_start_matches('/')));
        }
        if Path::new(mapped).is_absolute() && !self.options.only_dirs {
            out.push(PathBuf::from(mapped));
        }
        (out, explicit)
    }

    fn slot(&self, path: &Path) -> Slot {
        let mut m = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(path.to_path_buf()).or_default().clone()
    }

    /// Adds function and line records to every location of `p` that has a mapping but no lines.
    pub fn symbolize(&self, p: &mut schema::Profile) {
        if self.options.disabled || p.mapping.is_empty() {
            return;
        }
        let strings = &p.string_table;
        let str_at = |i: i64| strings.get(i as usize).map_or("", String::as_str);
        let paths: Vec<&str> = p.mapping.iter().map(|m| str_at(m.filename)).collect();
        // Locations to resolve, grouped by mapping index.
        let index_of: FxHashMap<u64, usize> = p
            .mapping
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id, i))
            .collect();
        let mut groups: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
        for (li, loc) in p.location.iter().enumerate() {
            if !loc.line.is_empty() || loc.mapping_id == 0 {
                continue;
            }
            if let Some(&mi) = index_of.get(&loc.mapping_id) {
                if is_pseudo(paths[mi]) {
                    continue;
                }
                groups.entry(mi).or_default().push(li);
            }
        }
        if groups.is_empty() {
            return;
        }
        let groups: Vec<(usize, Vec<usize>)> = groups.into_iter().collect();
        let resolved: Vec<(usize, Vec<Symbol>)> = groups
            .par_iter()
            .flat_map_iter(|(mi, locs)| {
                let m = &p.mapping[*mi];
                let build_id = str_at(m.build_id);
                let found = self.load(&paths, *mi, build_id);
                let mut out = Vec::new();
                if let Some(slot) = found {
                    let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(Ok(module)) = guard.as_ref() {
                        for &li in locs {
                            let addr = p.location[li].address;
                            let syms = module.lookup_mapped(addr, m.memory_start, m.file_offset);
                            if !syms.is_empty() {
                                out.push((li, syms));
                            } else if let Some(near) =
                                module.nearest_before_mapped(addr, m.memory_start, m.file_offset)
                            {
                                // The offset the unnamed frame shows (convert.rs), and the hint.
                                let offset = addr
                                    .wrapping_sub(m.memory_start)
                                    .wrapping_add(m.file_offset);
                                out.push((li, vec![after(paths[*mi], offset, near)]));
                            }
                        }
                    }
                }
                out
            })
            .collect();
        apply(p, resolved);
    }

    /// Names the instruction pointers heaptrack left unnamed (a module without symbols when it
    /// was recorded: a stripped binary whose debug file was installed later, or given with
    /// `--symbols`). A recording keeps run-time addresses but not where each module was loaded:
    /// an executable linked for fixed addresses is read as is, a shared object or PIE is placed
    /// by the frames heaptrack did name in it ([`Module::load_bias`]); a module that cannot be
    /// placed keeps its addresses and is named in the warning. Returns how many ips were named.
    pub fn symbolize_heaptrack(&self, rec: &mut crate::formats::heaptrack::Recording) -> usize {
        if self.options.disabled {
            return 0;
        }
        let groups = rec.module_ips();
        if groups.iter().all(|g| g.unnamed.is_empty()) {
            return 0;
        }
        // Index 0 is the main executable (what a lone --binary stands for) only when it is one.
        let mut paths: Vec<&str> = groups.iter().map(|g| g.module.as_str()).collect();
        let exe = rec.executable_name();
        if exe.is_empty() || paths.first().map(|p| file_name(p)) != Some(exe) {
            paths.insert(0, "");
        }
        let offset = paths.len() - groups.len();
        let found: Vec<(u32, Vec<crate::formats::heaptrack::NamedFrame>)> = groups
            .par_iter()
            .enumerate()
            .filter(|(_, g)| !g.unnamed.is_empty() && !is_pseudo(&g.module))
            .flat_map_iter(|(i, g)| {
                let mut out = Vec::new();
                let Some(slot) = self.load(&paths, i + offset, "") else {
                    return out;
                };
                let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
                let Some(Ok(module)) = guard.as_ref() else {
                    return out;
                };
                let named: Vec<(u64, &str)> =
                    g.named.iter().map(|(a, n)| (*a, n.as_str())).collect();
                let Some(bias) = module.load_bias(&named) else {
                    drop(guard);
                    let mut missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
                    missing.entry(g.module.clone()).or_insert_with(|| {
                        if g.named.is_empty() {
                            "the recording names no frame in it, so where it was loaded is not known"
                        } else {
                            "the frames the recording names in it fit no single load address of this file"
                        }
                        .into()
                    });
                    return out;
                };
                for &(index, address) in &g.unnamed {
                    let vaddr = address.wrapping_sub(bias);
                    let mut syms = module.lookup_address(vaddr);
                    if syms.is_empty() {
                        syms.extend(
                            module
                                .nearest_before(vaddr)
                                .map(|near| {
                                    let offset = module.file_offset(vaddr).unwrap_or(vaddr);
                                    after(&g.module, offset, near)
                                }),
                        );
                    }
                    if !syms.is_empty() {
                        out.push((
                            index,
                            syms.into_iter().map(|s| (s.function, s.file, s.line)).collect(),
                        ));
                    }
                }
                out
            })
            .collect();
        rec.name_ips(found)
    }

    /// Finds and loads the module for mapping `index`, remembering failures for the warning.
    fn load(&self, paths: &[&str], index: usize, build_id: &str) -> Option<Slot> {
        let mapped = paths[index];
        let mut why = String::from("not found");
        let (candidates, explicit) = self.candidates(paths, index);
        for (k, candidate) in candidates.into_iter().enumerate() {
            if !candidate.is_file() {
                continue;
            }
            let slot = self.slot(&candidate);
            let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() {
                *guard = Some(Module::load(
                    &candidate,
                    &self.options.dirs,
                    !self.options.only_dirs,
                ));
            }
            match guard.as_ref() {
                Some(Ok(module)) => {
                    if k >= explicit
                        && !build_id.is_empty()
                        && !module.build_id().is_empty()
                        && !module.build_id().eq_ignore_ascii_case(build_id)
                    {
                        why = format!("{} has another build id", candidate.display());
                        continue;
                    }
                    if !module.has_symbols() {
                        why = format!("{} has no symbols", candidate.display());
                        continue;
                    }
                    drop(guard);
                    return Some(slot);
                }
                Some(Err(e)) => why = e.clone(),
                None => {}
            }
        }
        let mut missing = self.missing.lock().unwrap_or_else(|e| e.into_inner());
        missing.entry(mapped.to_string()).or_insert(why);
        None
    }
}

/// The frame of an address no symbol names: its module and offset as an unnamed frame shows
/// them, and the function it lies after as a hint (`python3.11+0xfb51b (after PyObject_Malloc)`).
fn after(module: &str, offset: u64, near: &str) -> Symbol {
    Symbol {
        function: format!("{}+{offset:#x} (after {near})", file_name(module)),
        file: String::new(),
        line: 0,
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Mapping names that are not files (`[vdso]`, `[heap]`, anonymous).
fn is_pseudo(path: &str) -> bool {
    path.is_empty() || path.starts_with('[') || path.starts_with("//anon") || path == "(deleted)"
}

/// Writes resolved symbols into the profile's functions and lines.
fn apply(p: &mut schema::Profile, resolved: Vec<(usize, Vec<Symbol>)>) {
    if resolved.is_empty() {
        return;
    }
    let mut strings: FxHashMap<String, i64> = FxHashMap::default();
    let mut str_id = |p: &mut schema::Profile, s: &str| -> i64 {
        if let Some(&i) = strings.get(s) {
            return i;
        }
        let i = p.string_table.len() as i64;
        p.string_table.push(s.to_string());
        strings.insert(s.to_string(), i);
        i
    };
    let mut functions: FxHashMap<(i64, i64), u64> = FxHashMap::default();
    let mut next_id = p.function.iter().map(|f| f.id).max().unwrap_or(0) + 1;
    let mut symbolized_mappings: rustc_hash::FxHashSet<u64> = Default::default();
    for (li, syms) in resolved {
        let mut lines = Vec::with_capacity(syms.len());
        for s in syms {
            let key = (str_id(p, &s.function), str_id(p, &s.file));
            let id = *functions.entry(key).or_insert_with(|| {
                let id = next_id;
                next_id += 1;
                p.function.push(schema::Function {
                    id,
                    name: key.0,
                    system_name: key.0,
                    filename: key.1,
                    start_line: 0,
                });
                id
            });
            lines.push(schema::Line {
                function_id: id,
                line: i64::from(s.line),
                column: 0,
            });
        }
        let loc = &mut p.location[li];
        loc.line = lines;
        symbolized_mappings.insert(loc.mapping_id);
    }
    for m in &mut p.mapping {
        if symbolized_mappings.contains(&m.id) {
            m.has_functions = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_prefer_binary_then_dirs_then_mapped_path() {
        let s = Symbolizer::new(SymbolOptions {
            binaries: vec![PathBuf::from("/opt/app-debug")],
            dirs: vec![PathBuf::from("/syms")],
            ..Default::default()
        });
        let paths = ["/usr/bin/app", "/lib/libc.so.6"];
        let (c, explicit) = s.candidates(&paths, 0);
        assert_eq!(explicit, 1);
        assert_eq!(c[0], PathBuf::from("/opt/app-debug"));
        assert_eq!(c[1], PathBuf::from("/syms/app"));
        assert_eq!(c[2], PathBuf::from("/syms/usr/bin/app"));
        assert_eq!(c[3], PathBuf::from("/usr/bin/app"));
        let (c, explicit) = s.candidates(&paths, 1);
        assert_eq!(explicit, 0);
        assert_eq!(c[0], PathBuf::from("/syms/libc.so.6"));
    }

    #[test]
    fn pseudo_mappings_are_skipped() {
        assert!(is_pseudo("[vdso]"));
        assert!(is_pseudo(""));
        assert!(!is_pseudo("/bin/x"));
    }
}
