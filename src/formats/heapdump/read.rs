//! The reader: records streamed once from the file or decompressor through a 1 MiB buffer,
//! objects into their columns, everything else into the dump's records. Fields follow
//! `runtime/heapdump.go`.

use super::*;

/// The reader's buffer: records are read from it in place; a field is copied out only when the
/// parser keeps it (object contents, until their pointer offsets are read).
pub(super) const BUFFER: usize = 1 << 20;

/// Records are parsed from a stream: the dump is never held whole.
pub(super) struct Reader<'s, R> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    source: &'s str,
}

impl<'s, R: std::io::Read> Reader<'s, R> {
    fn new(input: R, source: &'s str) -> Reader<'s, R> {
        Reader {
            input,
            buf: vec![0u8; BUFFER].into_boxed_slice(),
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            source,
        }
    }

    /// Offset of the next byte in the (decompressed) stream.
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn err(&self, at: u64, message: impl Into<String>) -> ParseError {
        ParseError::malformed(self.source, FORMAT, Position::Byte(at), message)
    }

    /// Makes at least `want` (≤ the buffer) bytes available unless the stream ends first; returns
    /// how many are.
    fn fill(&mut self, want: usize) -> Result<usize, ParseError> {
        if self.end - self.pos >= want || self.eof {
            return Ok(self.end - self.pos);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.base += self.pos as u64;
        self.end -= self.pos;
        self.pos = 0;
        while self.end < want {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(self.err(self.base + self.end as u64, format!("read failed: {e}")))
                }
            }
        }
        Ok(self.end - self.pos)
    }

    fn uvarint(&mut self) -> Result<u64, ParseError> {
        if self.end - self.pos < 10 {
            self.fill(10)?;
        }
        let b = &self.buf[self.pos..self.end];
        let mut v: u64 = 0;
        for (i, &byte) in b.iter().take(10).enumerate() {
            if i == 9 && byte > 1 {
                return Err(self.err(self.offset(), "number longer than 64 bits"));
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err(self.err(
            self.offset(),
            if b.len() < 10 {
                "truncated: the dump ends inside a number"
            } else {
                "number longer than 10 bytes"
            },
        ))
    }

    /// Reads and drops `n` numbers (fields the analysis does not use).
    fn skip(&mut self, n: usize) -> Result<(), ParseError> {
        for _ in 0..n {
            self.uvarint()?;
        }
        Ok(())
    }

    fn bool(&mut self) -> Result<bool, ParseError> {
        let at = self.offset();
        match self.uvarint()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.err(at, format!("boolean field holds {v}"))),
        }
    }

    /// A length-prefixed field, into `out` (which grows only as the bytes arrive: a corrupt
    /// length fails at the end of the stream, not at an allocation of that size).
    fn bytes_into(&mut self, out: &mut Vec<u8>) -> Result<(), ParseError> {
        let at = self.offset();
        let n = self.uvarint()?;
        out.clear();
        let mut left = n;
        while left > 0 {
            let available = if self.pos == self.end {
                self.fill(1)?
            } else {
                self.end - self.pos
            };
            if available == 0 {
                return Err(self.err(
                    at,
                    format!("truncated: a field of {n} bytes, {} left", n - left),
                ));
            }
            let take = (available as u64).min(left) as usize;
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            left -= take as u64;
        }
        Ok(())
    }

    fn string(&mut self, scratch: &mut Vec<u8>) -> Result<String, ParseError> {
        self.bytes_into(scratch)?;
        Ok(String::from_utf8_lossy(scratch).into_owned())
    }

    /// A field list: (kind, offset) pairs ended by kind 0. Only kind 1 (pointer) is written by
    /// current runtimes; 2 and 3 (iface, eface) are read and skipped.
    fn fieldlist(&mut self, mut each: impl FnMut(u64)) -> Result<(), ParseError> {
        loop {
            let at = self.offset();
            match self.uvarint()? {
                0 => return Ok(()),
                1 => each(self.uvarint()?),
                2 | 3 => {
                    self.uvarint()?;
                }
                k => return Err(self.err(at, format!("unknown field kind {k}"))),
            }
        }
    }
}

/// Reads the pointer word at `offset` of `contents`, in the dump's byte order and width.
pub(super) fn word(contents: &[u8], offset: u64, p: &Params) -> Option<u64> {
    let size = p.ptr_size as usize;
    let start = usize::try_from(offset).ok()?;
    let w = contents.get(start..start.checked_add(size)?)?;
    let mut v: u64 = 0;
    if p.big_endian {
        for &b in w {
            v = (v << 8) | u64::from(b);
        }
    } else {
        for &b in w.iter().rev() {
            v = (v << 8) | u64::from(b);
        }
    }
    Some(v)
}

/// Parses a whole (decompressed) dump held in memory.
pub fn parse(b: &[u8], source: &str) -> Result<HeapDump, ParseError> {
    parse_stream(b, source, &mut |_, _| {})
}

/// How often [`parse_stream`] reports progress: every this many records.
pub(super) const TICK_RECORDS: u64 = 1 << 16;

/// Parses a dump from a stream (a file, or a decompressor), record by record, keeping only the
/// columns of [`Objects`] and the small records. `tick(bytes, objects)` is called every
/// few thousand records with the stream offset and the objects read so far.
pub fn parse_stream(
    input: impl std::io::Read,
    source: &str,
    tick: &mut dyn FnMut(u64, u64),
) -> Result<HeapDump, ParseError> {
    parse_stream_with(input, source, tick, None)
}

/// [`parse_stream`], keeping each pointer's offset in its object when `keep` is given (4 bytes a
/// pointer, for typing the objects: see [`Objects::offset`]), with the words in the binary's data
/// an interface's data word follows and the first words in its text (closures): see [`Keep`].
// Over 120 lines: the record loop: one arm per record type of runtime/heapdump.go.
#[allow(clippy::too_many_lines)]
pub fn parse_stream_with(
    input: impl std::io::Read,
    source: &str,
    tick: &mut dyn FnMut(u64, u64),
    keep: Option<super::Keep>,
) -> Result<HeapDump, ParseError> {
    let mut r = Reader::new(input, source);
    r.fill(MAGIC.len())?;
    let head = &r.buf[..r.end];
    if !head.starts_with(MAGIC) {
        let old = [
            b"go1.3 heap dump\n",
            b"go1.4 heap dump\n",
            b"go1.5 heap dump\n",
        ];
        let message = if old.iter().any(|m| head.starts_with(*m)) {
            "a heap dump of Go 1.3–1.5, whose records differ; only the go1.7 format (Go 1.7 and \
             later) is read"
        } else {
            "not a Go heap dump (no `go1.7 heap dump` header)"
        };
        return Err(ParseError::malformed(
            source,
            FORMAT,
            Position::Byte(0),
            message,
        ));
    }
    r.pos = MAGIC.len();
    let mut d = HeapDump {
        params: Params {
            ptr_size: 8,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut have_params = false;
    let mut scratch = Vec::new();
    let mut records = 0u64;
    loop {
        let at = r.offset();
        if r.fill(1)? == 0 {
            return Err(r.err(at, "truncated: the dump ends before its EOF record"));
        }
        records += 1;
        if records.is_multiple_of(TICK_RECORDS) {
            tick(at, d.objects.len() as u64);
        }
        let tag = r.uvarint()?;
        if let Some(c) = d.record_counts.get_mut(tag as usize) {
            *c += 1;
        }
        match tag {
            0 => break,
            1 => object(&mut r, &mut d, at, have_params, &mut scratch)?,
            2 => {
                r.bytes_into(&mut scratch)?;
                let target = r.uvarint()?;
                d.roots.push(Root::global(RootKind::Other, target));
            }
            3 => {
                let addr = r.uvarint()?;
                let size = r.uvarint()?;
                let name = r.string(&mut scratch)?;
                r.bool()?;
                d.types.push((addr, size, name));
            }
            4 => goroutine(&mut r, &mut d, &mut scratch)?,
            5 => stack_frame(&mut r, &mut d, &mut scratch, keep.as_ref().map(|k| &k.data))?,
            6 => {
                dump_params(&mut r, &mut d, at, &mut scratch)?;
                if let Some(k) = keep.clone() {
                    d.objects.keep_offsets(k);
                }
                have_params = true;
            }
            7 | 11 => {
                let obj = r.uvarint()?;
                let funcval = r.uvarint()?;
                r.skip(3)?; // fn pc, arg type, obj type
                d.roots.push(Root::global(RootKind::Finalizer, funcval));
                if tag == 11 {
                    d.roots.push(Root::global(RootKind::Finalizing, obj));
                }
            }
            8 => {
                let itab = r.uvarint()?;
                let ty = r.uvarint()?;
                d.itabs.push((itab, ty));
            }
            9 => r.skip(3)?, // m, id, procid
            10 => {
                let mut v = Vec::with_capacity(25);
                for _ in 0..24 {
                    v.push(r.uvarint()?);
                }
                r.skip(256)?; // PauseNs
                v.push(r.uvarint()?); // NumGC
                d.memstats = v;
            }
            12 | 13 => {
                let start = r.uvarint()?;
                r.bytes_into(&mut scratch)?;
                let kind = if tag == 12 {
                    RootKind::Data
                } else {
                    RootKind::Bss
                };
                d.segments.push((kind, start, scratch.len() as u64));
                let (params, roots, contents) = (&d.params, &mut d.roots, &scratch);
                let (typed, data) = (&mut d.root_type_words, keep.as_ref().map(|k| &k.data));
                r.fieldlist(|off| {
                    if let Some(v) = word(contents, off, params) {
                        if let Some(w) = type_word_before(contents, off, params, data) {
                            typed.push((roots.len() as u64, w));
                        }
                        roots.push(Root {
                            slot: start.wrapping_add(off),
                            ..Root::global(kind, v)
                        });
                    }
                })?;
            }
            14 => {
                r.skip(4)?; // defer, g, sp, pc
                let funcval = r.uvarint()?;
                r.skip(2)?; // fn pc, link
                d.roots.push(Root::global(RootKind::DeferPanic, funcval));
            }
            15 => {
                r.skip(3)?; // panic, g, arg type
                let data = r.uvarint()?;
                r.skip(2)?; // defer (0), link
                d.roots.push(Root::global(RootKind::DeferPanic, data));
            }
            16 => bucket(&mut r, &mut d, &mut scratch)?,
            17 => {
                let addr = r.uvarint()?;
                let bucket = r.uvarint()?;
                d.samples.push((addr, bucket));
            }
            t => return Err(r.err(at, format!("unknown record tag {t}"))),
        }
    }
    let eof = r.offset();
    let mut extra = 0u64;
    loop {
        let n = r.fill(1)?;
        if n == 0 {
            break;
        }
        extra += n as u64;
        r.pos = r.end;
    }
    if extra > 0 {
        return Err(r.err(eof, format!("{extra} bytes after the EOF record")));
    }
    tick(eof, d.objects.len() as u64);
    if d.objects_outside > 0 {
        d.notes.push(format!(
            "{} objects lie outside the heap range the dump states ({:#x}–{:#x}): pointers to them are not followed",
            d.objects_outside, d.params.heap_start, d.params.heap_end
        ));
    }
    d.objects.shrink_to_fit();
    Ok(d)
}

/// An object (tag 1): its address, size and the pointers it holds into the heap.
pub(super) fn object<R: std::io::Read>(
    r: &mut Reader<'_, R>,
    d: &mut HeapDump,
    at: u64,
    have_params: bool,
    contents: &mut Vec<u8>,
) -> Result<(), ParseError> {
    let addr = r.uvarint()?;
    r.bytes_into(contents)?;
    if !have_params {
        return Err(r.err(at, "an object before the dump parameters"));
    }
    let (params, objects) = (&d.params, &mut d.objects);
    let mut bad = None;
    let keep_words = objects.keep_offsets && !objects.keep.data.is_empty();
    r.fieldlist(|off| match word(contents, off, params) {
        Some(v) if objects.in_heap(v) => {
            if objects.keep_offsets {
                // An interface's data word follows its type or itab word, which the dump does
                // not list (it is no heap pointer): kept where it lies in the binary's data.
                if keep_words {
                    let before = off.checked_sub(params.ptr_size);
                    if let Some(w) = before.and_then(|b| word(contents, b, params)) {
                        if objects.keep.data.contains(&w) {
                            objects.push_type_word(w);
                        }
                    }
                }
                objects.offsets.push(u32::try_from(off).unwrap_or(u32::MAX));
            }
            objects.push_target(v);
        }
        Some(_) => {}
        None => bad = Some(off),
    })?;
    if let Some(off) = bad {
        return Err(r.err(
            at,
            format!(
                "object {addr:#x}: pointer offset {off} outside its {} bytes",
                contents.len()
            ),
        ));
    }
    let o = &mut d.objects;
    if o.keep_offsets {
        // A closure's code pointer; a malloc header (Go 1.22+, objects with pointers over 512
        // bytes and at most 32 KiB): the allocated type's descriptor.
        let header = (513..=32 << 10).contains(&contents.len());
        let kept = |w: &u64| o.keep.code.contains(w) || (header && o.keep.data.contains(w));
        if let Some(w) = word(contents, 0, &d.params).filter(kept) {
            o.first_words.push((o.addr.len() as u64, w));
        }
    }
    let end = u32::try_from(o.pointer_count()).map_err(|_| r.err(at, "more than 4G pointers"))?;
    if !o.range.is_empty() && !o.range.contains(&addr) {
        d.objects_outside += 1;
    }
    let o = &mut d.objects;
    o.addr.push(addr);
    o.size.push(contents.len() as u64);
    o.ptr_end.push(end);
    if o.addr.len() > u32::MAX as usize - 2 {
        return Err(r.err(at, "more than 4G objects"));
    }
    Ok(())
}

/// A goroutine (tag 4), and its context as a root.
pub(super) fn goroutine<R: std::io::Read>(
    r: &mut Reader<'_, R>,
    d: &mut HeapDump,
    scratch: &mut Vec<u8>,
) -> Result<(), ParseError> {
    r.skip(2)?; // g address, sp
    let id = r.uvarint()?;
    r.uvarint()?; // gopc
    let status = r.uvarint()?;
    let system = r.bool()?;
    r.bool()?; // background
    r.uvarint()?; // waitsince
    let wait_reason = r.string(scratch)?;
    let ctxt = r.uvarint()?;
    r.skip(3)?; // m, top defer, top panic
    let g = d.goroutines.len() as u32;
    d.goroutines.push(Goroutine {
        id,
        status,
        wait_reason,
        system,
    });
    if ctxt != 0 {
        d.roots.push(Root {
            kind: RootKind::Context,
            target: ctxt,
            owner: g,
            slot: 0,
        });
    }
    Ok(())
}

/// The word before byte `off` of a segment's or a frame's contents, when it lies in the binary's
/// type data (`data`): the type or itab word of an interface whose data word is at `off`.
fn type_word_before(
    contents: &[u8],
    off: u64,
    p: &Params,
    data: Option<&std::ops::Range<u64>>,
) -> Option<u64> {
    let w = word(contents, off.checked_sub(p.ptr_size)?, p)?;
    data?.contains(&w).then_some(w)
}

/// A stack frame (tag 5): its pointer slots are roots owned by the frame. With `data` (the
/// binary's type data), the word before each slot that lies there is kept: an interface local's
/// type or itab word.
pub(super) fn stack_frame<R: std::io::Read>(
    r: &mut Reader<'_, R>,
    d: &mut HeapDump,
    scratch: &mut Vec<u8>,
    data: Option<&std::ops::Range<u64>>,
) -> Result<(), ParseError> {
    r.uvarint()?; // sp
    let depth = r.uvarint()?;
    r.uvarint()?; // child sp
    let mut contents = std::mem::take(scratch);
    r.bytes_into(&mut contents)?;
    r.uvarint()?; // entry pc
    let pc = r.uvarint()?;
    r.uvarint()?; // continuation pc
    let function = r.string(scratch)?;
    let frame = d.frames.len() as u32;
    let goroutine = d.goroutines.len().saturating_sub(1) as u32;
    let (params, roots, typed) = (&d.params, &mut d.roots, &mut d.root_type_words);
    r.fieldlist(|off| {
        if let Some(v) = word(&contents, off, params) {
            if let Some(w) = type_word_before(&contents, off, params, data) {
                typed.push((roots.len() as u64, w));
            }
            roots.push(Root {
                kind: RootKind::Stack,
                target: v,
                owner: frame,
                slot: off,
            });
        }
    })?;
    let size = contents.len() as u64;
    *scratch = contents;
    d.frames.push(StackFrame {
        function,
        goroutine,
        depth,
        pc,
        size,
    });
    Ok(())
}

/// The dump parameters (tag 6): byte order, pointer size, heap range, version.
pub(super) fn dump_params<R: std::io::Read>(
    r: &mut Reader<'_, R>,
    d: &mut HeapDump,
    at: u64,
    scratch: &mut Vec<u8>,
) -> Result<(), ParseError> {
    d.params.big_endian = r.bool()?;
    let ptr_size = r.uvarint()?;
    if ptr_size != 4 && ptr_size != 8 {
        return Err(r.err(at, format!("pointer size {ptr_size} (4 or 8 expected)")));
    }
    d.params.ptr_size = ptr_size;
    d.params.heap_start = r.uvarint()?;
    d.params.heap_end = r.uvarint()?;
    d.params.arch = r.string(scratch)?;
    d.params.version = r.string(scratch)?;
    d.params.ncpu = r.uvarint()?;
    if !d.objects.is_empty() {
        return Err(r.err(at, "a second parameters record after objects"));
    }
    d.objects = Objects::new(d.params.heap_start, d.params.heap_end);
    Ok(())
}

/// An allocation-profile bucket (tag 16): its stack and counts.
pub(super) fn bucket<R: std::io::Read>(
    r: &mut Reader<'_, R>,
    d: &mut HeapDump,
    scratch: &mut Vec<u8>,
) -> Result<(), ParseError> {
    let id = r.uvarint()?;
    let size = r.uvarint()?;
    let n = r.uvarint()?;
    // The count is not trusted for an allocation: frames are pushed as they are read.
    let mut frames = Vec::new();
    for _ in 0..n {
        let f = r.string(scratch)?;
        let file = r.string(scratch)?;
        let line = r.uvarint()?;
        frames.push((f, file, line));
    }
    let allocs = r.uvarint()?;
    let frees = r.uvarint()?;
    d.buckets.push(Bucket {
        id,
        size,
        frames,
        allocs,
        frees,
    });
    Ok(())
}
