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

/// One input read whole, and what it turned out to be.
// One value per input file, moved once: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Read {
    Dump(crate::graph::ObjectGraph, formats::heapdump::HeapDump),
    Other(Decoded),
}

impl Loader {
    /// A loader with these options.
    pub fn new(read: ReadOptions, symbols: SymbolOptions) -> Loader {
        Loader {
            read,
            symbolizer: Symbolizer::new(symbols),
        }
    }

    /// Reads a file once; a Go heap dump is parsed into its object graph, anything else decoded
    /// and symbolized (no interning yet).
    fn read_once(&self, path: &Path) -> Result<Read, ParseError> {
        let source = path.display().to_string();
        let raw = read_file(path)?;
        if formats::heapdump::sniff(&formats::decompress::head(&raw, "", 16)) {
            let (g, dump) = self.dump_graph(raw, &source)?;
            return Ok(Read::Dump(g, dump));
        }
        let mut decoded = formats::decode_bytes(raw, &source, &self.read)?;
        if let Some(p) = decoded.wire_profile_mut() {
            self.symbolizer.symbolize(p);
        }
        Ok(Read::Other(decoded))
    }

    /// Reads a file, decodes it and symbolizes it (no interning yet). A Go heap dump is refused
    /// here (it has no decoded form: see [`Loader::load`]).
    pub fn decode(&self, path: &Path) -> Result<Decoded, ParseError> {
        let source = path.display().to_string();
        let mut decoded = formats::decode_bytes(read_file(path)?, &source, &self.read)?;
        if let Some(p) = decoded.wire_profile_mut() {
            self.symbolizer.symbolize(p);
        }
        Ok(decoded)
    }

    /// Reads and parses one file into `interner`. A Go heap dump becomes its live objects per
    /// allocation site, with retained sizes (see [`crate::graph::to_profile`]).
    pub fn load(&self, path: &Path, interner: &mut Interner) -> Result<Profile, ParseError> {
        Ok(self.load_snapshot_with(path, interner, false)?.0)
    }

    /// [`Loader::load`], with a heap dump's object graph summarized (for `report`'s object-graph
    /// section) before the graph is dropped. Each file is opened once.
    pub fn load_snapshot(
        &self,
        path: &Path,
        interner: &mut Interner,
    ) -> Result<(Profile, Option<GraphSummary>), ParseError> {
        self.load_snapshot_with(path, interner, true)
    }

    fn load_snapshot_with(
        &self,
        path: &Path,
        interner: &mut Interner,
        summarize: bool,
    ) -> Result<(Profile, Option<GraphSummary>), ParseError> {
        match self.read_once(path)? {
            Read::Other(d) => Ok((d.into_profile(interner)?, None)),
            Read::Dump(g, dump) => {
                let source = path.display().to_string();
                let summary = summarize.then(|| crate::graph::summarize(&g, &source));
                let profile = crate::graph::to_profile(&g, &source, &dump.params.version, interner);
                Ok((profile, summary))
            }
        }
    }

    /// Reads a Go heap dump and builds its object graph.
    pub fn heap_dump_graph(
        &self,
        path: &Path,
    ) -> Result<(crate::graph::ObjectGraph, formats::heapdump::HeapDump), ParseError> {
        self.dump_graph(read_file(path)?, &path.display().to_string())
    }

    fn dump_graph(
        &self,
        raw: Vec<u8>,
        source: &str,
    ) -> Result<(crate::graph::ObjectGraph, formats::heapdump::HeapDump), ParseError> {
        let bytes =
            formats::decompress::decompress(raw, source, self.read.max_decompressed_bytes)?.bytes;
        let mut dump = formats::heapdump::parse(&bytes, source)?;
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
        // Read the later file while the base one is read and interned; then intern later.
        let (a, b) = rayon::join(
            || {
                let mut interner = Interner::new();
                self.load(base, &mut interner).map(|p| (interner, p))
            },
            || self.read_once(later),
        );
        let (mut interner, base) = a?;
        let later = match b? {
            Read::Other(d) => d.into_profile(&mut interner)?,
            Read::Dump(g, dump) => crate::graph::to_profile(
                &g,
                &later.display().to_string(),
                &dump.params.version,
                &mut interner,
            ),
        };
        Ok((interner, base, later))
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ParseError> {
    std::fs::read(path).map_err(|e| ParseError::Io {
        source_name: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })
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
