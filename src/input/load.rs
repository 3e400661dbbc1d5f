//! Reading snapshots from disk into one shared interner, symbolizing address-only inputs on the way.

use std::path::Path;

use crate::formats::{self, Decoded, ParseError, ReadOptions};
use crate::graph::GraphSummary;
use crate::model::{Interner, Profile};
use crate::symbolize::{SymbolOptions, Symbolizer};

/// Everything needed to read inputs: format options and a symbolizer whose module cache is shared
/// by every input of the run.
pub struct Loader {
    /// Format options (decompression cap, heaptrack suppressions).
    pub read: ReadOptions,
    /// Symbolizer for address-only inputs.
    pub symbolizer: Symbolizer,
}

impl Loader {
    /// A loader with these options.
    pub fn new(read: ReadOptions, symbols: SymbolOptions) -> Loader {
        Loader {
            read,
            symbolizer: Symbolizer::new(symbols),
        }
    }

    /// Reads a file, decodes it and symbolizes it (no interning yet).
    pub fn decode(&self, path: &Path) -> Result<Decoded, ParseError> {
        let source = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| ParseError::Io {
            source_name: source.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let mut decoded = formats::decode_bytes(raw, &source, &self.read)?;
        if let Some(p) = decoded.wire_profile_mut() {
            self.symbolizer.symbolize(p);
        }
        Ok(decoded)
    }

    /// Reads and parses one file into `interner`. A Go heap dump becomes its live objects per
    /// allocation site, with retained sizes (see [`crate::graph::to_profile`]).
    pub fn load(&self, path: &Path, interner: &mut Interner) -> Result<Profile, ParseError> {
        if is_heap_dump(path) {
            return self.load_heap_dump(path, interner);
        }
        self.decode(path)?.into_profile(interner)
    }

    /// [`Loader::load`], with a heap dump's object graph summarized (for `report`'s object-graph
    /// section) before the graph is dropped.
    pub fn load_snapshot(
        &self,
        path: &Path,
        interner: &mut Interner,
    ) -> Result<(Profile, Option<GraphSummary>), ParseError> {
        if !is_heap_dump(path) {
            return Ok((self.decode(path)?.into_profile(interner)?, None));
        }
        let (g, dump) = self.heap_dump_graph(path)?;
        let source = path.display().to_string();
        let summary = crate::graph::summarize(&g, &source);
        let profile = crate::graph::to_profile(&g, &source, &dump.params.version, interner);
        Ok((profile, Some(summary)))
    }

    /// Reads a Go heap dump, builds its object graph and returns it as a profile.
    pub fn load_heap_dump(
        &self,
        path: &Path,
        interner: &mut Interner,
    ) -> Result<Profile, ParseError> {
        let (g, dump) = self.heap_dump_graph(path)?;
        let source = path.display().to_string();
        Ok(crate::graph::to_profile(
            &g,
            &source,
            &dump.params.version,
            interner,
        ))
    }

    /// Reads a Go heap dump and builds its object graph.
    pub fn heap_dump_graph(
        &self,
        path: &Path,
    ) -> Result<(crate::graph::ObjectGraph, formats::heapdump::HeapDump), ParseError> {
        let source = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| ParseError::Io {
            source_name: source.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let bytes =
            formats::decompress::decompress(raw, &source, self.read.max_decompressed_bytes)?.bytes;
        let mut dump = formats::heapdump::parse(&bytes, &source)?;
        drop(bytes);
        let g = crate::graph::build(&dump);
        // The graph keeps what it needs; the per-object records go.
        dump.objects = Vec::new();
        dump.pointers = Vec::new();
        Ok((g, dump))
    }

    /// Reads and decodes two files in parallel, then interns both into one interner so that ids
    /// mean the same thing on both sides.
    pub fn load_pair(
        &self,
        base: &Path,
        later: &Path,
    ) -> Result<(Interner, Profile, Profile), ParseError> {
        if is_heap_dump(base) || is_heap_dump(later) {
            let mut interner = Interner::new();
            let b = self.load(base, &mut interner)?;
            let l = self.load(later, &mut interner)?;
            return Ok((interner, b, l));
        }
        // Decode the later file while the base one is decoded and interned; then intern later.
        let (a, b) = rayon::join(
            || {
                let mut interner = Interner::new();
                self.load(base, &mut interner).map(|p| (interner, p))
            },
            || self.decode(later),
        );
        let (mut interner, base) = a?;
        let later = b?.into_profile(&mut interner)?;
        Ok((interner, base, later))
    }
}

/// Whether a file (raw or compressed) starts with the Go heap dump header.
pub fn is_heap_dump(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    let ok = std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .is_ok();
    ok && formats::heapdump::sniff(&formats::decompress::head(&head, "", 16))
}

/// Reads a file and decodes it with default symbolization (no interning yet).
pub fn decode_path(path: &Path, options: &ReadOptions) -> Result<Decoded, ParseError> {
    Loader::new(options.clone(), SymbolOptions::default()).decode(path)
}

/// Reads and parses one file into `interner`, with default symbolization.
pub fn load_profile(
    path: &Path,
    interner: &mut Interner,
    options: &ReadOptions,
) -> Result<Profile, ParseError> {
    decode_path(path, options)?.into_profile(interner)
}

/// [`Loader::load_pair`] with default symbolization.
pub fn load_pair(
    base: &Path,
    later: &Path,
    options: &ReadOptions,
) -> Result<(Interner, Profile, Profile), ParseError> {
    Loader::new(options.clone(), SymbolOptions::default()).load_pair(base, later)
}
