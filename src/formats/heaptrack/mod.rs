//! heaptrack recordings (interpreted; file formats v1–v3; gzip, zstd or plain), read as a stream:
//! memory grows with distinct strings, instruction pointers, traces and allocation sites, not with
//! the number of allocation events. Totals and per-site costs follow heaptrack_print 1.4
//! (accumulatedtracedata.cpp): allocations, temporary allocations, leaked (in use at the end), peak
//! (heap at the global peak, per site at that moment), peak RSS, suppressions.
//!
//! May import: `model`, `formats::error`.

pub mod suppress;

use std::io::BufRead;

use rustc_hash::FxHashMap;

use crate::formats::error::{ParseError, Position};
use crate::model::{Format, Interner, Profile, ProfileBuilder, StackId, ValueType};

const FORMAT: &str = "heaptrack";
/// Newest file format this reader understands.
pub const MAX_FILE_VERSION: u64 = 3;

/// Options of the heaptrack reader.
#[derive(Clone, Debug)]
pub struct HeaptrackOptions {
    /// Suppression patterns from files (`leak:` already stripped). Default: none.
    pub suppressions: Vec<String>,
    /// Apply heaptrack's built-in suppressions. Default: true.
    pub builtin_suppressions: bool,
    /// Apply the `S` lines embedded in the recording. Default: true.
    pub embedded_suppressions: bool,
    /// Keep per-site changes between timestamps, so the recording can be cut into snapshots
    /// ([`Recording::slices`]). Default: false (memory then does not grow with the run's length).
    pub timeline: bool,
}

impl Default for HeaptrackOptions {
    fn default() -> Self {
        HeaptrackOptions {
            suppressions: Vec::new(),
            builtin_suppressions: true,
            embedded_suppressions: true,
            timeline: false,
        }
    }
}

/// Whole-recording numbers, as heaptrack_print prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Calls to allocation functions.
    pub allocations: u64,
    /// Allocations freed right after (heaptrack's definition: the next event frees it).
    pub temporary: u64,
    /// Bytes allocated and never freed (after suppressions).
    pub leaked_bytes: i64,
    /// Largest heap size seen.
    pub peak_bytes: i64,
    /// When the peak happened, ms since start.
    pub peak_time_ms: i64,
    /// Peak RSS in bytes (includes heaptrack's own overhead).
    pub peak_rss_bytes: i64,
    /// Last timestamp + 1, ms.
    pub total_time_ms: i64,
    /// Physical memory of the machine, bytes.
    pub total_system_memory_bytes: i64,
    /// Leaked bytes hidden by suppressions.
    pub suppressed_leaked_bytes: i64,
    /// The recorded command line.
    pub debuggee: String,
    /// True when heaptrack attached to a running process (earlier allocations unknown).
    pub from_attached: bool,
    /// heaptrack file format version.
    pub file_version: u64,
}

#[derive(Clone, Copy, Default)]
struct FrameRec {
    function: u32,
    file: u32,
    line: u32,
}

struct Ip {
    address: u64,
    module: u32,
    frames: Vec<FrameRec>,
}

#[derive(Clone, Copy, Default)]
struct Trace {
    ip: u32,
    parent: u32,
}

#[derive(Clone, Copy, Default)]
struct Site {
    trace: u32,
    allocations: u64,
    alloc_bytes: i64,
    temporary: u64,
    leaked: i64,
    leaked_count: i64,
    peak: i64,
    /// Event number of the last change (for the lazily taken value at the global peak).
    last_event: u64,
}

impl Site {
    /// Records that the site changes at `event`. Its value at the global peak is taken lazily: if
    /// it last changed at or before the peak event, its current value is its value at the peak.
    fn touch(&mut self, event: u64, peak_event: u64) -> &mut Site {
        if self.last_event <= peak_event {
            self.peak = self.leaked;
        }
        self.last_event = event;
        self
    }
}

/// How a site changed between two timestamps.
#[derive(Clone, Copy, Default)]
struct Change {
    site: u32,
    inuse_count: i64,
    inuse_bytes: i64,
    allocations: i64,
    alloc_bytes: i64,
}

/// Per-site changes up to a timestamp (ms since start), in file order.
struct Checkpoint {
    time_ms: i64,
    changes: Vec<Change>,
}

/// Changes since the last timestamp, per site.
#[derive(Default)]
struct Pending {
    /// Per site: index into `changes` + 1, or 0 when the site has not changed since the flush.
    slot: Vec<u32>,
    changes: Vec<Change>,
}

impl Pending {
    #[inline]
    fn add(&mut self, site: u32, count: i64, bytes: i64, allocated: bool) {
        let si = site as usize;
        if si >= self.slot.len() {
            self.slot.resize(si + 1, 0);
        }
        let i = match self.slot[si] {
            0 => {
                self.changes.push(Change {
                    site,
                    ..Default::default()
                });
                self.slot[si] = self.changes.len() as u32;
                self.changes.len() - 1
            }
            n => n as usize - 1,
        };
        let c = &mut self.changes[i];
        c.inuse_count += count;
        c.inuse_bytes = c.inuse_bytes.saturating_add(bytes);
        if allocated {
            c.allocations += 1;
            c.alloc_bytes = c.alloc_bytes.saturating_add(bytes);
        }
    }

    fn flush(&mut self, time_ms: i64, into: &mut Vec<Checkpoint>) {
        if self.changes.is_empty() {
            return;
        }
        for c in &self.changes {
            self.slot[c.site as usize] = 0;
        }
        into.push(Checkpoint {
            time_ms,
            changes: std::mem::take(&mut self.changes),
        });
    }
}

/// Where to cut a recording into snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceSpec {
    /// N snapshots at equal steps of the recording's duration (the last at its end).
    Count(u32),
    /// A snapshot every so many milliseconds, and one at the end.
    EveryMs(u64),
}

impl SliceSpec {
    /// Snapshot times (ms since start) for a recording that lasted `total_ms`.
    pub fn boundaries(self, total_ms: i64) -> Vec<i64> {
        let total = total_ms.max(1);
        match self {
            SliceSpec::Count(n) => {
                let n = i64::from(n.max(1));
                (1..=n).map(|i| total * i / n).collect()
            }
            SliceSpec::EveryMs(step) => {
                let step = i64::try_from(step.max(1)).unwrap_or(i64::MAX);
                let mut out: Vec<i64> = (1..)
                    .map(|i: i64| i.saturating_mul(step))
                    .take_while(|&t| t < total)
                    .take(100_000)
                    .collect();
                out.push(total);
                out
            }
        }
    }
}

/// A decoded recording, not yet interned.
pub struct Recording {
    summary: Summary,
    strings: Vec<String>,
    ips: Vec<Ip>,
    traces: Vec<Trace>,
    sites: Vec<Site>,
    /// Sites zeroed by suppressions.
    suppressed: Vec<bool>,
    timeline: Vec<Checkpoint>,
    warnings: Vec<String>,
}

/// True when the (decompressed) head looks like a heaptrack file: a `v` line of hex numbers.
pub fn sniff(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    line.len() > 2
        && line.starts_with(b"v ")
        && line[2..]
            .iter()
            .all(|&b| b == b' ' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn hex(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(&b) = self.line.get(self.pos) {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => break,
            };
            v = (v << 4) | u64::from(d);
            self.pos += 1;
        }
        // More than 16 digits would not fit (and have been shifted out).
        if self.pos == start || self.pos - start > 16 {
            return None;
        }
        if self.line.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        Some(v)
    }

    fn sized_string(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.hex()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let s = self.line.get(self.pos..end)?;
        self.pos = end;
        if self.line.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        Some(s)
    }

    fn rest(&self) -> &'a [u8] {
        &self.line[self.pos.min(self.line.len())..]
    }
}

fn u32_of(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The reader's state while it goes through a recording's lines.
struct Reader<'o> {
    source: &'o str,
    opts: &'o HeaptrackOptions,
    s: Summary,
    strings: Vec<String>,
    ips: Vec<Ip>,
    traces: Vec<Trace>,
    /// (size, site) per allocation info.
    infos: Vec<(i64, u32)>,
    sites: Vec<Site>,
    site_of_trace: FxHashMap<u32, u32>,
    warnings: Vec<String>,
    bad_lines: u64,
    suppressions: Vec<String>,
    op_new_strings: Vec<u32>,
    op_new_ips: Vec<u32>,
    last_allocation: u64,
    timestamp: i64,
    peak_rss_pages: i64,
    page_size: i64,
    pages: i64,
    event: u64,
    peak_event: u64,
    debuggee_seen: bool,
    saw_version: bool,
    timeline: Vec<Checkpoint>,
    pending: Pending,
    line_no: u64,
}

/// `operator new` frames are skipped at the top of traces, as heaptrack_print does.
const OP_NEW_NAMES: [&str; 4] = [
    "operator new(unsigned long)",
    "operator new[](unsigned long)",
    "operator new(unsigned int)",
    "operator new[](unsigned int)",
];

impl<'o> Reader<'o> {
    fn new(source: &'o str, opts: &'o HeaptrackOptions) -> Reader<'o> {
        let mut suppressions: Vec<String> = Vec::new();
        if opts.builtin_suppressions {
            suppressions.extend(suppress::BUILTIN.iter().map(|s| s.to_string()));
        }
        suppressions.extend(opts.suppressions.iter().cloned());
        Reader {
            source,
            opts,
            s: Summary::default(),
            strings: Vec::new(),
            ips: Vec::new(),
            traces: Vec::new(),
            infos: Vec::new(),
            sites: Vec::new(),
            site_of_trace: FxHashMap::default(),
            warnings: Vec::new(),
            bad_lines: 0,
            suppressions,
            op_new_strings: Vec::new(),
            op_new_ips: Vec::new(),
            last_allocation: 0,
            timestamp: 0,
            peak_rss_pages: 0,
            page_size: 0,
            pages: 0,
            event: 0,
            peak_event: 0,
            debuggee_seen: false,
            saw_version: false,
            timeline: Vec::new(),
            pending: Pending::default(),
            line_no: 0,
        }
    }

    fn err(&self, line: u64, m: String) -> ParseError {
        ParseError::malformed(self.source, FORMAT, Position::Line(line), m)
    }

    /// One line (without its newline).
    fn line(&mut self, buf: &[u8]) -> Result<(), ParseError> {
        self.line_no += 1;
        let Some(&mode) = buf.first() else {
            return Ok(());
        };
        let mut c = Cursor {
            line: buf,
            pos: 2.min(buf.len()),
        };
        let ok = match mode {
            b's' => self.string(&mut c),
            b'i' => self.instruction(&mut c, buf.len()),
            b't' => self.trace(&mut c),
            b'a' => self.allocation_info(&mut c),
            b'+' => self.allocated(&mut c),
            b'-' => self.freed(&mut c),
            b'c' => self.clock(&mut c),
            b'R' => {
                if let Some(rss) = c.hex() {
                    self.peak_rss_pages = self
                        .peak_rss_pages
                        .max(i64::try_from(rss).unwrap_or(i64::MAX));
                }
                true
            }
            b'X' => {
                if self.debuggee_seen {
                    return Err(self.err(
                        self.line_no,
                        "a second debuggee (X) line: corrupt data file?".into(),
                    ));
                }
                self.debuggee_seen = true;
                self.s.debuggee = String::from_utf8_lossy(c.rest()).into_owned();
                true
            }
            b'A' => {
                // Attached to a running process: what came before is not this recording's.
                self.s.allocations = 0;
                self.s.temporary = 0;
                self.s.leaked_bytes = 0;
                self.s.peak_bytes = 0;
                self.s.from_attached = true;
                true
            }
            b'v' => {
                self.version(&mut c)?;
                true
            }
            b'I' => {
                self.page_size = c.hex().and_then(|v| i64::try_from(v).ok()).unwrap_or(0);
                self.pages = c.hex().and_then(|v| i64::try_from(v).ok()).unwrap_or(0);
                true
            }
            b'S' => {
                self.suppression(&mut c);
                true
            }
            b'#' => true,
            b'x' | b'm' => {
                return Err(self.err(
                    self.line_no,
                    "this is a raw heaptrack recording; interpret it first (heaptrack_interpret < raw | gzip > file.gz, or heaptrack -a)".into(),
                ))
            }
            _ => false,
        };
        if !ok {
            self.bad_lines += 1;
        }
        if !self.saw_version && self.line_no == 1 && mode != b'v' {
            return Err(self.err(1, "missing `v` version line".into()));
        }
        Ok(())
    }

    /// `s`: a string (sized from file version 3).
    fn string(&mut self, c: &mut Cursor<'_>) -> bool {
        let text = if self.s.file_version >= 3 {
            c.sized_string()
        } else {
            Some(c.rest())
        };
        let Some(t) = text else {
            return false;
        };
        let t = String::from_utf8_lossy(t).into_owned();
        let index = self.strings.len() as u32 + 1;
        if OP_NEW_NAMES.contains(&t.as_str()) {
            self.op_new_strings.push(index);
        }
        self.strings.push(t);
        true
    }

    /// `i`: an instruction pointer, its module and its (inlined) frames.
    fn instruction(&mut self, c: &mut Cursor<'_>, len: usize) -> bool {
        let (Some(address), Some(module)) = (c.hex(), c.hex()) else {
            return false;
        };
        let mut frames = Vec::new();
        loop {
            let start = c.pos;
            match (c.hex(), c.hex(), c.hex()) {
                (Some(function), Some(file), Some(line)) => frames.push(FrameRec {
                    function: u32_of(function),
                    file: u32_of(file),
                    line: u32_of(line),
                }),
                (Some(function), None, _) if frames.is_empty() && start < len => {
                    // Function known, no file: heaptrack prints just the function index.
                    frames.push(FrameRec {
                        function: u32_of(function),
                        file: 0,
                        line: 0,
                    });
                    break;
                }
                _ => break,
            }
        }
        let index = self.ips.len() as u32 + 1;
        if frames
            .first()
            .is_some_and(|f| self.op_new_strings.contains(&f.function))
        {
            self.op_new_ips.push(index);
        }
        self.ips.push(Ip {
            address,
            module: u32_of(module),
            frames,
        });
        true
    }

    /// `t`: a trace node (ip, parent), `operator new` skipped.
    fn trace(&mut self, c: &mut Cursor<'_>) -> bool {
        let (Some(ip), Some(parent)) = (c.hex(), c.hex()) else {
            return false;
        };
        let mut node = Trace {
            ip: u32_of(ip),
            parent: u32_of(parent),
        };
        // Skip operator new at the top of traces: the node becomes its parent.
        let mut guard = 0;
        while self.op_new_ips.contains(&node.ip) && guard < 1 << 20 {
            node = self
                .traces
                .get((node.parent as usize).wrapping_sub(1))
                .copied()
                .unwrap_or_default();
            guard += 1;
        }
        self.traces.push(node);
        true
    }

    /// `a`: an allocation info (size, trace), the trace's site made on first sight.
    fn allocation_info(&mut self, c: &mut Cursor<'_>) -> bool {
        let (Some(size), Some(trace)) = (c.hex(), c.hex()) else {
            return false;
        };
        let trace = u32_of(trace);
        let next = self.sites.len() as u32;
        let site = *self.site_of_trace.entry(trace).or_insert(next);
        if site == next {
            self.sites.push(Site {
                trace,
                ..Default::default()
            });
        }
        self.infos
            .push((i64::try_from(size).unwrap_or(i64::MAX), site));
        true
    }

    /// `+`: an allocation event.
    #[inline]
    fn allocated(&mut self, c: &mut Cursor<'_>) -> bool {
        let Some(index) = c.hex() else {
            return false;
        };
        let Some(&(size, site)) = self.infos.get(index as usize) else {
            return false;
        };
        self.last_allocation = index;
        self.event += 1;
        let st = self.sites[site as usize].touch(self.event, self.peak_event);
        st.leaked = st.leaked.saturating_add(size);
        st.leaked_count += 1;
        st.allocations += 1;
        st.alloc_bytes = st.alloc_bytes.saturating_add(size);
        if self.opts.timeline {
            self.pending.add(site, 1, size, true);
        }
        let s = &mut self.s;
        s.allocations += 1;
        s.leaked_bytes = s.leaked_bytes.saturating_add(size);
        if s.leaked_bytes > s.peak_bytes {
            s.peak_bytes = s.leaked_bytes;
            s.peak_time_ms = self.timestamp;
            self.peak_event = self.event;
        }
        true
    }

    /// `-`: a free event; temporary when it frees the allocation just made.
    #[inline]
    fn freed(&mut self, c: &mut Cursor<'_>) -> bool {
        let Some(index) = c.hex() else {
            return false;
        };
        let temporary = self.last_allocation == index;
        self.last_allocation = 0;
        let Some(&(size, site)) = self.infos.get(index as usize) else {
            return false;
        };
        self.event += 1;
        let st = self.sites[site as usize].touch(self.event, self.peak_event);
        st.leaked = st.leaked.saturating_sub(size);
        st.leaked_count -= 1;
        if temporary {
            st.temporary += 1;
        }
        if self.opts.timeline {
            self.pending.add(site, -1, -size, false);
        }
        self.s.leaked_bytes = self.s.leaked_bytes.saturating_sub(size);
        if temporary {
            self.s.temporary += 1;
        }
        true
    }

    /// `c`: the clock, in ms since the start.
    fn clock(&mut self, c: &mut Cursor<'_>) -> bool {
        let Some(t) = c.hex() else {
            return false;
        };
        self.timestamp = i64::try_from(t).unwrap_or(i64::MAX);
        if self.opts.timeline {
            self.pending.flush(self.timestamp, &mut self.timeline);
        }
        true
    }

    /// `v`: heaptrack's version and the file format's.
    fn version(&mut self, c: &mut Cursor<'_>) -> Result<(), ParseError> {
        self.saw_version = true;
        let heaptrack_version = c.hex().unwrap_or(0);
        self.s.file_version = match c.hex() {
            Some(v) => v,
            None if heaptrack_version == 0x010200 => 1,
            None => 0,
        };
        if self.s.file_version > MAX_FILE_VERSION {
            return Err(self.err(
                self.line_no,
                format!(
                    "file format version {} is newer than this reader supports ({MAX_FILE_VERSION})",
                    self.s.file_version
                ),
            ));
        }
        if self.s.file_version == 0 {
            return Err(self.err(
                self.line_no,
                "file format version 0 (heaptrack before 1.0) is not supported".into(),
            ));
        }
        Ok(())
    }

    /// `S`: a suppression embedded in the recording.
    fn suppression(&mut self, c: &mut Cursor<'_>) {
        if !self.opts.embedded_suppressions {
            return;
        }
        let text = String::from_utf8_lossy(c.rest()).into_owned();
        match suppress::parse_line(&text) {
            Ok(Some(p)) => self.suppressions.push(p),
            Ok(None) => {}
            Err(bad) => self
                .warnings
                .push(format!("ignored invalid embedded suppression `{bad}`")),
        }
    }

    /// After the last line: the numbers at the end, suppressions applied.
    fn finish(mut self) -> Result<Recording, ParseError> {
        if self.line_no == 0 {
            return Err(self.err(1, "empty recording".into()));
        }
        if self.bad_lines > 0 {
            self.warnings
                .push(format!("{} malformed line(s) skipped", self.bad_lines));
        }
        // Sites untouched since the peak hold their value at the peak.
        for st in &mut self.sites {
            st.touch(st.last_event, self.peak_event);
        }
        let mut s = self.s;
        s.total_time_ms = self.timestamp.saturating_add(1);
        self.pending.flush(s.total_time_ms, &mut self.timeline);
        s.peak_rss_bytes = self.peak_rss_pages.saturating_mul(self.page_size);
        s.total_system_memory_bytes = self.pages.saturating_mul(self.page_size);
        let mut rec = Recording {
            summary: s,
            strings: self.strings,
            ips: self.ips,
            traces: self.traces,
            suppressed: Vec::new(),
            sites: self.sites,
            timeline: self.timeline,
            warnings: self.warnings,
        };
        rec.apply_suppressions(&self.suppressions);
        Ok(rec)
    }
}

/// Reads an interpreted recording line by line, in place in the reader's buffer (only a line
/// split across two buffers is copied).
pub fn read<R: BufRead>(
    mut input: R,
    source: &str,
    opts: &HeaptrackOptions,
) -> Result<Recording, ParseError> {
    let mut r = Reader::new(source, opts);
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ParseError::malformed(
                    source,
                    FORMAT,
                    Position::Line(r.line_no + 1),
                    format!("read failed: {e}"),
                ))
            }
        };
        if chunk.is_empty() {
            if !carry.is_empty() {
                r.line(&carry)?;
            }
            break;
        }
        let len = chunk.len();
        let mut pos = 0;
        if !carry.is_empty() {
            match memchr::memchr(b'\n', chunk) {
                Some(nl) => {
                    carry.extend_from_slice(&chunk[..nl]);
                    r.line(&carry)?;
                    carry.clear();
                    pos = nl + 1;
                }
                None => {
                    carry.extend_from_slice(chunk);
                    input.consume(len);
                    continue;
                }
            }
        }
        // Lines are short (an event is ~8 bytes): a plain scan beats a SIMD search per line.
        for (i, &b) in chunk.iter().enumerate().skip(pos) {
            if b == b'\n' {
                r.line(&chunk[pos..i])?;
                pos = i + 1;
            }
        }
        carry.extend_from_slice(&chunk[pos..]);
        input.consume(len);
    }
    r.finish()
}

/// The instruction pointers of one module, for naming the ones heaptrack could not name.
pub struct ModuleIps {
    /// The module's path as recorded.
    pub module: String,
    /// Ips with no function name: (ip index, run-time address).
    pub unnamed: Vec<(u32, u64)>,
    /// Ips heaptrack named: (run-time address, the containing function, outermost of the
    /// inlined frames), which place the module in memory.
    pub named: Vec<(u64, String)>,
}

/// One frame found for an ip: function, file (may be empty), line (0 when unknown).
pub type NamedFrame = (String, String, u32);

impl Recording {
    /// Whole-recording numbers.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The file name of the recorded program (the first word of its command line), or "".
    pub fn executable_name(&self) -> &str {
        let exe = self.summary.debuggee.split(' ').next().unwrap_or("");
        exe.rsplit('/').next().unwrap_or(exe)
    }

    /// Per module (the recorded main executable first, when it has a module), its ips with and
    /// without a function name; only modules with at least one unnamed ip are listed, besides
    /// the main executable.
    pub fn module_ips(&self) -> Vec<ModuleIps> {
        let exe = self.executable_name();
        let mut index: FxHashMap<u32, usize> = FxHashMap::default();
        let mut out: Vec<ModuleIps> = Vec::new();
        for (i, ip) in self.ips.iter().enumerate() {
            if ip.module == 0 {
                continue;
            }
            let slot = *index.entry(ip.module).or_insert_with(|| {
                out.push(ModuleIps {
                    module: self.str(ip.module).to_string(),
                    unnamed: Vec::new(),
                    named: Vec::new(),
                });
                out.len() - 1
            });
            match ip.frames.iter().rev().find(|f| f.function != 0) {
                Some(f) => out[slot]
                    .named
                    .push((ip.address, self.str(f.function).to_string())),
                None => out[slot].unnamed.push((i as u32 + 1, ip.address)),
            }
        }
        let is_exe = |m: &ModuleIps| !exe.is_empty() && m.module.rsplit('/').next() == Some(exe);
        if let Some(k) = out.iter().position(is_exe) {
            out[..=k].rotate_right(1);
        }
        let keep_first = out.first().is_some_and(is_exe);
        let mut n = 0;
        out.retain(|m| {
            n += 1;
            (n == 1 && keep_first) || !m.unnamed.is_empty()
        });
        out
    }

    /// Gives unnamed ips their frames (innermost first), as found in the module's symbols;
    /// returns how many ips were named.
    pub fn name_ips(&mut self, found: Vec<(u32, Vec<NamedFrame>)>) -> usize {
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut named = 0;
        for (index, frames) in found {
            let Some(slot) = (index as usize).checked_sub(1) else {
                continue;
            };
            if self
                .ips
                .get(slot)
                .is_none_or(|ip| ip.frames.iter().any(|f| f.function != 0))
            {
                continue;
            }
            let mut recs = Vec::with_capacity(frames.len());
            for (function, file, line) in frames {
                if function.is_empty() {
                    continue;
                }
                let mut id = |s: String, strings: &mut Vec<String>| -> u32 {
                    if s.is_empty() {
                        return 0;
                    }
                    *ids.entry(s).or_insert_with_key(|s| {
                        strings.push(s.clone());
                        strings.len() as u32
                    })
                };
                let function = id(function, &mut self.strings);
                let file = id(file, &mut self.strings);
                recs.push(FrameRec {
                    function,
                    file,
                    line,
                });
            }
            if !recs.is_empty() {
                self.ips[slot].frames = recs;
                named += 1;
            }
        }
        named
    }

    fn str(&self, index: u32) -> &str {
        if index == 0 {
            return "";
        }
        self.strings
            .get(index as usize - 1)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// heaptrack's applyLeakSuppressions: a site whose trace has any matching string (module,
    /// function or file of any frame, inlined ones included) has its leaked bytes zeroed.
    fn apply_suppressions(&mut self, patterns: &[String]) {
        if patterns.is_empty() {
            return;
        }
        let string_hit: Vec<bool> = self
            .strings
            .iter()
            .map(|s| patterns.iter().any(|p| suppress::matches(p, s)))
            .collect();
        if !string_hit.iter().any(|&h| h) {
            return;
        }
        let hit = |i: u32| i != 0 && string_hit.get(i as usize - 1).copied().unwrap_or(false);
        let ip_hit: Vec<bool> = self
            .ips
            .iter()
            .map(|ip| hit(ip.module) || ip.frames.iter().any(|f| hit(f.function) || hit(f.file)))
            .collect();
        let mut trace_hit: Vec<bool> = Vec::with_capacity(self.traces.len());
        for t in &self.traces {
            let parent = (t.parent as usize)
                .checked_sub(1)
                .and_then(|p| trace_hit.get(p))
                .copied()
                .unwrap_or(false);
            let ip = (t.ip as usize)
                .checked_sub(1)
                .and_then(|i| ip_hit.get(i))
                .copied()
                .unwrap_or(false);
            trace_hit.push(parent || ip);
        }
        self.suppressed = vec![false; self.sites.len()];
        for (i, site) in self.sites.iter_mut().enumerate() {
            let suppressed = (site.trace as usize)
                .checked_sub(1)
                .and_then(|t| trace_hit.get(t))
                .copied()
                .unwrap_or(false);
            self.suppressed[i] = suppressed;
            if suppressed {
                self.summary.suppressed_leaked_bytes += site.leaked;
                self.summary.leaked_bytes -= site.leaked;
                site.leaked = 0;
            }
        }
    }

    /// Interns every trace; index = trace id (0 = the root).
    fn stacks(&self, interner: &mut Interner) -> Vec<StackId> {
        // Traces form a tree whose parents come first: one pass gives every trace its stack.
        let mut stack_of: Vec<StackId> = Vec::with_capacity(self.traces.len() + 1);
        stack_of.push(StackId::ROOT);
        let mut frames = Vec::new();
        for (i, t) in self.traces.iter().enumerate() {
            let parent = if (t.parent as usize) <= i {
                stack_of[t.parent as usize]
            } else {
                StackId::ROOT
            };
            let mut stack = parent;
            frames.clear();
            if let Some(ip) = (t.ip as usize).checked_sub(1).and_then(|i| self.ips.get(i)) {
                // The ip's first frame is the innermost; its inlined callers follow outwards.
                for f in &ip.frames {
                    frames.push(if f.function != 0 {
                        interner.symbol_frame(self.str(f.function), self.str(f.file), f.line)
                    } else {
                        interner.address_frame(self.str(ip.module), ip.address)
                    });
                }
                if ip.frames.is_empty() {
                    frames.push(interner.address_frame(self.str(ip.module), ip.address));
                }
            }
            for &f in frames.iter().rev() {
                stack = interner.child(stack, f);
            }
            stack_of.push(stack);
        }
        stack_of
    }

    fn stack_of_site(stack_of: &[StackId], site: &Site) -> StackId {
        stack_of
            .get(site.trace as usize)
            .copied()
            .unwrap_or(StackId::ROOT)
    }

    fn meta(&self, b: &mut ProfileBuilder, source: &str) {
        let s = &self.summary;
        let meta = b.meta_mut();
        meta.source = source.to_string();
        meta.labels.insert("debuggee".into(), s.debuggee.clone());
        meta.labels
            .insert("heaptrack_file_version".into(), s.file_version.to_string());
        meta.warnings = self.warnings.clone();
    }

    /// Cuts the recording into snapshots of in-use memory (and allocations so far) per site at
    /// the times `spec` names; sites hidden by suppressions stay at zero. Needs a recording read
    /// with [`HeaptrackOptions::timeline`]. heaptrack keeps no wall-clock time: `ended_at_nanos`
    /// (say, the file's modification time) anchors the end of the recording; without it, snapshot
    /// times count from the recording's start.
    pub fn slices(
        &self,
        spec: SliceSpec,
        source: &str,
        interner: &mut Interner,
        ended_at_nanos: Option<i64>,
    ) -> Result<Vec<Profile>, ParseError> {
        let stack_of = self.stacks(interner);
        let total = self.summary.total_time_ms;
        let bounds = spec.boundaries(total);
        let n = bounds.len();
        let mut state = vec![[0i64; 4]; self.sites.len()];
        let mut checkpoints = self.timeline.iter().peekable();
        let mut out = Vec::with_capacity(n);
        for (k, &end) in bounds.iter().enumerate() {
            while let Some(cp) = checkpoints.next_if(|cp| cp.time_ms <= end) {
                for c in &cp.changes {
                    if let Some(v) = state.get_mut(c.site as usize) {
                        v[0] += c.allocations;
                        v[1] = v[1].saturating_add(c.alloc_bytes);
                        v[2] += c.inuse_count;
                        v[3] = v[3].saturating_add(c.inuse_bytes);
                    }
                }
            }
            let mut b = ProfileBuilder::new(
                Format::Heaptrack,
                vec![
                    ValueType::new("alloc_objects", "count"),
                    ValueType::new("alloc_space", "bytes"),
                    ValueType::new("inuse_objects", "count"),
                    ValueType::new("inuse_space", "bytes"),
                ],
            );
            for (i, site) in self.sites.iter().enumerate() {
                let v = state[i];
                if v == [0; 4] {
                    continue;
                }
                let v = if self.suppressed.get(i).copied().unwrap_or(false) {
                    [v[0], v[1], 0, 0]
                } else {
                    v
                };
                b.add_sample(Self::stack_of_site(&stack_of, site), &v, &[]);
            }
            self.meta(&mut b, &format!("{source}#slice{}", k + 1));
            let start = if k == 0 { 0 } else { bounds[k - 1] };
            let meta = b.meta_mut();
            let since_start = end.saturating_mul(1_000_000);
            meta.time_nanos = Some(match ended_at_nanos {
                Some(t) => t.saturating_sub(total.saturating_mul(1_000_000) - since_start),
                None => since_start,
            });
            meta.duration_nanos = Some((end - start).saturating_mul(1_000_000));
            meta.labels.insert("slice".into(), format!("{}/{n}", k + 1));
            meta.labels.insert("slice_end_ms".into(), end.to_string());
            out.push(b.finish(interner).map_err(|e| {
                ParseError::malformed(source, FORMAT, Position::Line(0), e.to_string())
            })?);
        }
        Ok(out)
    }

    /// Interns the recording: one sample per allocation site (trace), with heaptrack's costs.
    pub fn into_profile(
        self,
        source: &str,
        interner: &mut Interner,
    ) -> Result<Profile, ParseError> {
        let value_types = vec![
            ValueType::new("alloc_objects", "count"),
            ValueType::new("alloc_space", "bytes"),
            ValueType::new("temporary_objects", "count"),
            ValueType::new("peak_space", "bytes"),
            ValueType::new("inuse_objects", "count"),
            ValueType::new("inuse_space", "bytes"),
        ];
        let mut b = ProfileBuilder::new(Format::Heaptrack, value_types);
        let stack_of = self.stacks(interner);
        for site in &self.sites {
            let stack = Self::stack_of_site(&stack_of, site);
            b.add_sample(
                stack,
                &[
                    site.allocations as i64,
                    site.alloc_bytes,
                    site.temporary as i64,
                    site.peak,
                    site.leaked_count,
                    site.leaked,
                ],
                &[],
            );
        }
        self.meta(&mut b, source);
        b.meta_mut().duration_nanos = Some(self.summary.total_time_ms.saturating_mul(1_000_000));
        b.finish(interner)
            .map_err(|e| ParseError::malformed(source, FORMAT, Position::Line(0), e.to_string()))
    }
}
