//! Reading snapshots from disk into one shared interner, symbolizing address-only inputs on the way.

use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::fetch::{self, FetchOptions};
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
    /// How `http(s)://` inputs are fetched (headers, deadline); the body cap is the
    /// decompression cap.
    pub fetch: FetchOptions,
    /// pprof's `-seconds`: asked of URL inputs as `?seconds=N` (a delta profile over N seconds),
    /// with the deadline stretched by as much.
    pub seconds: Option<u64>,
    /// Series commands: cut each heaptrack recording into snapshots this way (see
    /// [`Loader::load_snapshots`]); `None` reads a recording as one snapshot.
    pub slices: Option<crate::formats::heaptrack::SliceSpec>,
    /// The program that wrote the Go heap dumps read (`--binary` of `retained`/`cycles`): its
    /// symbol table names the globals that are roots.
    pub dump_binary: Option<std::path::PathBuf>,
    /// The memory budget of a Go heap dump's graph and where it spills past it.
    pub dump_memory: crate::graph::Memory,
    /// Where the progress of long steps goes (a heap dump's reading and graph), if anywhere.
    pub progress: Option<ProgressFn>,
}

/// A heap dump's graph, and the dump's other records.
type DumpRead = (crate::graph::ObjectGraph, formats::heapdump::HeapDump);

/// A regular file opened once ([`Loader::open_file`]): a heap dump streamed into its graph, or
/// the bytes of anything else.
// One value per input file, moved once: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Opened {
    Dump(DumpRead),
    Bytes(Vec<u8>),
}

/// Receives the progress of long steps (reading a heap dump, building its graph).
pub type ProgressFn = std::sync::Arc<dyn Fn(crate::graph::Step<'_>) + Send + Sync>;

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
            fetch: FetchOptions::default(),
            seconds: None,
            slices: None,
            dump_binary: None,
            dump_memory: crate::graph::Memory::default(),
            progress: None,
        }
    }

    /// Reads a file once; a Go heap dump is parsed into its object graph, anything else decoded
    /// and symbolized (no interning yet).
    fn read_once(&self, path: &Path) -> Result<Read, ParseError> {
        let source = input_name(path);
        let raw = match self.open_file(path, &source)? {
            Some(Opened::Dump((g, dump))) => return Ok(Read::Dump(g, dump)),
            Some(Opened::Bytes(raw)) => raw,
            None => self.read_input(path)?,
        };
        if formats::heapdump::sniff(&formats::decompress::head(&raw, "", 16)) {
            let (g, dump) = self.dump_bytes(raw, &source)?;
            return Ok(Read::Dump(g, dump));
        }
        let mut decoded = formats::decode_bytes(raw, &source, &self.read)?;
        self.symbolize(&mut decoded);
        Ok(Read::Other(decoded))
    }

    /// Reads a file, decodes it and symbolizes it (no interning yet). A Go heap dump is refused
    /// here (it has no decoded form: see [`Loader::load`]).
    pub fn decode(&self, path: &Path) -> Result<Decoded, ParseError> {
        let source = input_name(path);
        let mut decoded = formats::decode_bytes(self.read_input(path)?, &source, &self.read)?;
        self.symbolize(&mut decoded);
        Ok(decoded)
    }

    /// Symbolizes a decoded input: the locations of a pprof-shaped profile that have none, the
    /// ips of a heaptrack recording that heaptrack could not name.
    fn symbolize(&self, decoded: &mut Decoded) {
        if let Some(p) = decoded.wire_profile_mut() {
            self.symbolizer.symbolize(p);
        } else if let Some(rec) = decoded.heaptrack_mut() {
            self.symbolizer.symbolize_heaptrack(rec);
        }
    }

    /// Reads and parses one file into `interner`. A Go heap dump becomes its live objects per
    /// allocation site, with retained sizes (see [`crate::graph::to_profile`]).
    pub fn load(&self, path: &Path, interner: &mut Interner) -> Result<Profile, ParseError> {
        profile_of(self.read_once(path)?, path, interner)
    }

    /// The snapshots one input holds for a series, each file opened once: one (a heap dump's
    /// object graph summarized, for `report`'s object-graph section, before the graph is
    /// dropped), or with [`Loader::slices`] set, the slices of a heaptrack recording (one
    /// interner each, cloned from the recording's). `mtime_nanos` anchors a recording's end.
    #[allow(clippy::type_complexity)]
    pub fn load_snapshots(
        &self,
        path: &Path,
        mtime_nanos: Option<i64>,
    ) -> Result<Vec<(Interner, Profile, Option<GraphSummary>)>, ParseError> {
        let read = self.read_once(path)?;
        let mut interner = Interner::new();
        match (read, self.slices) {
            (Read::Other(d), Some(spec)) if d.heaptrack_summary().is_some() => {
                let slices = d.into_slices(spec, &mut interner, mtime_nanos)?;
                Ok(slices
                    .into_iter()
                    .map(|p| (interner.clone(), p, None))
                    .collect())
            }
            (read, _) => {
                let summary = match &read {
                    Read::Dump(g, _) => Some(crate::graph::summarize(g, &input_name(path))),
                    Read::Other(_) => None,
                };
                let profile = profile_of(read, path, &mut interner)?;
                Ok(vec![(interner, profile, summary)])
            }
        }
    }

    /// Reads a Go heap dump and builds its object graph.
    pub fn heap_dump_graph(
        &self,
        path: &Path,
    ) -> Result<(crate::graph::ObjectGraph, formats::heapdump::HeapDump), ParseError> {
        let source = input_name(path);
        match self.open_file(path, &source)? {
            Some(Opened::Dump(read)) => Ok(read),
            Some(Opened::Bytes(raw)) => self.dump_bytes(raw, &source),
            None => self.dump_bytes(self.read_input(path)?, &source),
        }
    }

    /// A heap dump read whole first (standard input, a URL), decompressed as a stream.
    fn dump_bytes(&self, raw: Vec<u8>, source: &str) -> Result<DumpRead, ParseError> {
        let kind = formats::decompress::compression(&raw);
        let total = raw.len() as u64;
        let (reader, consumed) = formats::decompress::stream_from(
            &raw[..],
            kind,
            source,
            self.read.max_decompressed_bytes,
            formats::decompress::Payload::Streamed,
        )?;
        self.dump_graph(reader, source, total, &consumed)
    }

    /// A regular file, opened once: a Go heap dump is streamed from it (decompressed on another
    /// thread when compressed) and never held whole; anything else is read whole from the same
    /// open file. `None` for standard input, a URL, a pipe or a file that cannot be opened
    /// ([`Loader::read_input`] reads those, and says why one cannot be read).
    fn open_file(&self, path: &Path, source: &str) -> Result<Option<Opened>, ParseError> {
        if is_stdin(path) || is_url(path) {
            return Ok(None);
        }
        // Looked at before it is opened: opening a named pipe would take its writer, and what
        // it writes would be lost to the read that follows.
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(None);
        };
        let Ok(meta) = file.metadata() else {
            return Ok(None);
        };
        let io = |e: std::io::Error| ParseError::Io {
            source_name: source.to_string(),
            message: format!("cannot read: {e}"),
        };
        // The first 64 KiB decide; a dump (which may be many GB) is then streamed, so only what
        // else is read whole gets a buffer of the file's size.
        let mut head = Vec::with_capacity(1 << 16);
        (&mut file)
            .take(1 << 16)
            .read_to_end(&mut head)
            .map_err(io)?;
        if !formats::heapdump::sniff(&formats::decompress::head(&head, "", 16)) {
            head.reserve_exact(
                usize::try_from(meta.len())
                    .unwrap_or(0)
                    .saturating_sub(head.len()),
            );
            file.read_to_end(&mut head).map_err(io)?;
            return Ok(Some(Opened::Bytes(head)));
        }
        std::io::Seek::rewind(&mut file).map_err(io)?;
        let kind = formats::decompress::compression(&head);
        let total = meta.len();
        if kind == formats::decompress::Compression::None {
            // A regular file is as long as it is: no cap.
            let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            return self
                .dump_graph(Box::new(file), source, total, &consumed)
                .map(|d| Some(Opened::Dump(d)));
        }
        let (reader, consumed) = formats::decompress::stream_from(
            file,
            kind,
            source,
            self.read.max_decompressed_bytes,
            formats::decompress::Payload::Streamed,
        )?;
        self.dump_graph(reader, source, total, &consumed)
            .map(|d| Some(Opened::Dump(d)))
    }

    /// Parses a dump from `reader` and builds its graph. `total` is the input's size and
    /// `consumed` counts the compressed bytes read so far (0 for a raw stream: then the parser's
    /// offset is the progress).
    fn dump_graph(
        &self,
        reader: Box<dyn std::io::Read + Send + '_>,
        source: &str,
        total: u64,
        consumed: &std::sync::atomic::AtomicU64,
    ) -> Result<DumpRead, ParseError> {
        let phase = format!("reading {source}");
        let tick = |offset: u64, objects: u64| {
            if let Some(p) = &self.progress {
                let c = consumed.load(std::sync::atomic::Ordering::Relaxed);
                p(crate::graph::Step {
                    phase: &phase,
                    done: if c > 0 { c } else { offset }.min(total),
                    total,
                    bytes: true,
                    objects,
                });
            }
        };
        // The binary's types first: pointer offsets are kept while reading only if there are.
        let types = self
            .dump_binary
            .as_ref()
            .map(|b| crate::symbolize::gotypes::load(b));
        let keep = match &types {
            Some(Ok(t)) => Some(formats::heapdump::Keep {
                code: t.text.clone(),
                data: t.type_data.clone(),
            }),
            _ => None,
        };
        let mut dump = formats::decompress::in_background(reader, |input| {
            let mut tick = tick;
            formats::heapdump::parse_stream_with(input, source, &mut tick, keep)
        })?;
        if let Some(binary) = &self.dump_binary {
            let matches = name_globals(&mut dump, binary);
            match types {
                Some(Ok(t)) if matches => use_types(&mut dump, t, binary),
                Some(Err(e)) => dump.untyped_because = Some(e.to_string()),
                _ => {}
            }
        }
        let quiet = |_: crate::graph::Step<'_>| {};
        let memory = &self.dump_memory;
        let g = match &self.progress {
            Some(p) => crate::graph::build_within(&mut dump, &**p, memory),
            None => crate::graph::build_within(&mut dump, &quiet, memory),
        };
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
        let later = profile_of(b?, later, &mut interner)?;
        Ok((interner, base, later))
    }
}

/// An input read once, as a profile interned into `interner`.
fn profile_of(read: Read, path: &Path, interner: &mut Interner) -> Result<Profile, ParseError> {
    match read {
        Read::Other(d) => d.into_profile(interner),
        Read::Dump(g, dump) => {
            let mut p =
                crate::graph::to_profile(&g, &input_name(path), &dump.params.version, interner);
            p.meta.warnings.extend(dump.notes);
            // The runtime's MemStats end with NumGC (the dump's record 10).
            p.meta.gc_count = (dump.memstats.len() == 25).then(|| dump.memstats[24]);
            Ok(p)
        }
    }
}

/// Set once standard input has been read: it can be read only once.
static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// True when an input names standard input (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// True when an input is an `http://` or `https://` URL.
pub fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(fetch::is_url)
}

/// The name an input goes by in messages and reports (`stdin` for `-`).
pub fn input_name(path: &Path) -> String {
    if is_stdin(path) {
        "stdin".to_string()
    } else {
        path.display().to_string()
    }
}

/// Reads at most `cap` bytes; more is an error (a huge or endless stream).
fn read_capped(r: impl std::io::Read, cap: u64, source: &str) -> Result<Vec<u8>, ParseError> {
    let mut out = Vec::new();
    r.take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| ParseError::Io {
            source_name: source.to_string(),
            message: format!("cannot read: {e}"),
        })?;
    if out.len() as u64 > cap {
        return Err(ParseError::Io {
            source_name: source.to_string(),
            message: format!(
                "more than {cap} bytes (raise --max-decompressed-size if this is meant)"
            ),
        });
    }
    if out.is_empty() {
        return Err(ParseError::Io {
            source_name: source.to_string(),
            message: "empty input".to_string(),
        });
    }
    Ok(out)
}

impl Loader {
    /// The bytes of one input, read once: a file (or named pipe), `-` for standard input, or an
    /// `http(s)://` URL. Nothing is read twice, so a pipe loses no bytes.
    pub fn read_input(&self, path: &Path) -> Result<Vec<u8>, ParseError> {
        let source = input_name(path);
        let cap = self.read.max_decompressed_bytes;
        if is_stdin(path) {
            if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
                return Err(ParseError::Io {
                    source_name: source,
                    message: "standard input can be read once: give `-` for one input only"
                        .to_string(),
                });
            }
            return read_capped(std::io::stdin().lock(), cap, &source);
        }
        if is_url(path) {
            return self.fetch_url(&source);
        }
        let file = std::fs::File::open(path).map_err(|e| ParseError::Io {
            source_name: source.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let meta = file.metadata().map_err(|e| ParseError::Io {
            source_name: source.clone(),
            message: format!("cannot read: {e}"),
        })?;
        if meta.is_dir() {
            return Err(ParseError::Io {
                source_name: source,
                message: "is a folder, not a profile".to_string(),
            });
        }
        if meta.is_file() {
            // A regular file is as long as it is (the decompression cap guards what it expands
            // to); a pipe or device may be endless, so it is capped.
            let mut out = Vec::with_capacity(meta.len() as usize);
            let mut file = file;
            file.read_to_end(&mut out).map_err(|e| ParseError::Io {
                source_name: source.clone(),
                message: format!("cannot read: {e}"),
            })?;
            return Ok(out);
        }
        read_capped(file, cap, &source)
    }

    fn fetch_url(&self, source: &str) -> Result<Vec<u8>, ParseError> {
        let io = |message: String| ParseError::Io {
            source_name: source.to_string(),
            message,
        };
        let mut url = fetch::Url::parse(source).map_err(|e| io(e.to_string()))?;
        let mut opts = FetchOptions {
            max_body: self.read.max_decompressed_bytes,
            ..self.fetch.clone()
        };
        if let Some(s) = self.seconds {
            url = url.with_query("seconds", &s.to_string());
            opts.timeout += std::time::Duration::from_secs(s);
        }
        let body = fetch::get(&url, &opts, &|| false).map_err(|e| io(e.to_string()))?;
        if body.is_empty() {
            return Err(io("the server answered with an empty body".to_string()));
        }
        let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
        let head = head.trim_start();
        if head.starts_with("<!doctype html") || head.starts_with("<html") {
            return Err(io(
                "the server answered with an HTML page, not a profile (is the URL the profile endpoint, e.g. …/debug/pprof/heap?)"
                    .to_string(),
            ));
        }
        Ok(body)
    }
}

/// Gives a heap dump the globals of the binary that wrote it, when the binary matches: each of the
/// dump's data and bss segments must lie in the binary's section of that name (`.data`, `.bss`),
/// so a binary of another build (other addresses) names nothing and the dump says so.
/// Returns whether the binary matches (its sections hold the dump's segments).
fn name_globals(dump: &mut formats::heapdump::HeapDump, binary: &Path) -> bool {
    use formats::heapdump::{Global, RootKind};
    let (symbols, sections) = match crate::symbolize::globals(binary) {
        Ok(g) => g,
        Err(e) => {
            dump.notes.push(format!("{e}; globals stay unnamed"));
            return false;
        }
    };
    for &(kind, start, len) in &dump.segments {
        let want = if kind == RootKind::Data {
            ".data"
        } else {
            ".bss"
        };
        let fits = sections
            .iter()
            .any(|(name, addr, size)| name == want && start >= *addr && start + len <= addr + size);
        if !fits {
            dump.notes.push(format!(
                "{} does not match the dump: the dump's {want} segment at {start:#x} ({len} bytes) is not the binary's {want} section; globals stay unnamed and objects untyped",
                binary.display()
            ));
            return false;
        }
    }
    if symbols.is_empty() {
        dump.notes.push(format!(
            "{} has no symbol table (stripped); globals stay unnamed",
            binary.display()
        ));
        return true;
    }
    dump.globals = symbols
        .into_iter()
        .map(|(address, size, name)| Global {
            address,
            size,
            name,
        })
        .collect();
    true
}

/// Gives a dump its binary's types unless the Go versions differ (another build: its types
/// and addresses would not be the dump's).
fn use_types(
    dump: &mut formats::heapdump::HeapDump,
    types: formats::gotypes::GoTypes,
    binary: &Path,
) {
    let (built, wrote) = (&types.go_version, &dump.params.version);
    if !built.is_empty() && !wrote.is_empty() && built != wrote {
        dump.notes.push(format!(
            "{} was built by {built} but the dump was written by {wrote}: not the dump's binary; objects stay untyped",
            binary.display()
        ));
        return;
    }
    if types.globals.is_empty() {
        dump.untyped_because = Some(format!(
            "{}: its DWARF has no typed globals",
            binary.display()
        ));
        return;
    }
    dump.dwarf = Some(std::sync::Arc::new(types));
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
