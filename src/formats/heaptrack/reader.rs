//! The line reader: a heaptrack recording's events streamed once (strings, traces, allocation
//! infos, allocations and frees, timestamps), slice checkpoints taken as it goes.

use super::*;

pub(super) struct Cursor<'a> {
    pub(super) line: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn hex(&mut self) -> Option<u64> {
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

    pub(super) fn sized_string(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.hex()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let s = self.line.get(self.pos..end)?;
        self.pos = end;
        if self.line.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        Some(s)
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        &self.line[self.pos.min(self.line.len())..]
    }
}

pub(super) fn u32_of(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The reader's state while it goes through a recording's lines.
pub(super) struct Reader<'o> {
    pub(super) source: &'o str,
    pub(super) opts: &'o HeaptrackOptions,
    pub(super) s: Summary,
    pub(super) strings: Vec<String>,
    pub(super) ips: Vec<Ip>,
    pub(super) traces: Vec<Trace>,
    /// (size, site) per allocation info.
    pub(super) infos: Vec<(i64, u32)>,
    pub(super) sites: Vec<Site>,
    pub(super) site_of_trace: FxHashMap<u32, u32>,
    pub(super) warnings: Vec<String>,
    pub(super) bad_lines: u64,
    pub(super) suppressions: Vec<String>,
    pub(super) op_new_strings: Vec<u32>,
    pub(super) op_new_ips: Vec<u32>,
    pub(super) last_allocation: u64,
    pub(super) timestamp: i64,
    pub(super) peak_rss_pages: i64,
    pub(super) page_size: i64,
    pub(super) pages: i64,
    pub(super) event: u64,
    pub(super) peak_event: u64,
    pub(super) debuggee_seen: bool,
    pub(super) saw_version: bool,
    pub(super) timeline: Vec<Checkpoint>,
    pub(super) pending: Pending,
    pub(super) line_no: u64,
}

/// `operator new` frames are skipped at the top of traces, as heaptrack_print does.
pub(super) const OP_NEW_NAMES: [&str; 4] = [
    "operator new(unsigned long)",
    "operator new[](unsigned long)",
    "operator new(unsigned int)",
    "operator new[](unsigned int)",
];

impl<'o> Reader<'o> {
    pub(super) fn new(source: &'o str, opts: &'o HeaptrackOptions) -> Reader<'o> {
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

    pub(super) fn err(&self, line: u64, m: String) -> ParseError {
        ParseError::malformed(self.source, FORMAT, Position::Line(line), m)
    }

    /// One line (without its newline).
    pub(super) fn line(&mut self, buf: &[u8]) -> Result<(), ParseError> {
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
    pub(super) fn string(&mut self, c: &mut Cursor<'_>) -> bool {
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
    pub(super) fn instruction(&mut self, c: &mut Cursor<'_>, len: usize) -> bool {
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
    pub(super) fn trace(&mut self, c: &mut Cursor<'_>) -> bool {
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
    pub(super) fn allocation_info(&mut self, c: &mut Cursor<'_>) -> bool {
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
    pub(super) fn allocated(&mut self, c: &mut Cursor<'_>) -> bool {
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
    pub(super) fn freed(&mut self, c: &mut Cursor<'_>) -> bool {
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
    pub(super) fn clock(&mut self, c: &mut Cursor<'_>) -> bool {
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
    pub(super) fn version(&mut self, c: &mut Cursor<'_>) -> Result<(), ParseError> {
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
    pub(super) fn suppression(&mut self, c: &mut Cursor<'_>) {
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
    pub(super) fn finish(mut self) -> Result<Recording, ParseError> {
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
