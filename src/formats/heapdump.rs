//! Go heap dumps (`runtime/debug.WriteHeapDump`, header `go1.7 heap dump\n`, Go 1.7 to 1.23+).
//!
//! Streams the records once and keeps only what the object-graph analysis needs: per object its
//! address, size and the pointer values found at its pointer offsets (the contents themselves are
//! dropped), the roots (data/bss, stack frames, goroutine contexts, finalizers, defers, panics),
//! goroutines, memstats and the allocation-sample records linking objects to allocation stacks.
//! Memory stays near the dump's size. Records and fields follow `runtime/heapdump.go`.

use super::error::{ParseError, Position};
use crate::spill::Column;

/// The dump header.
pub const MAGIC: &[u8] = b"go1.7 heap dump\n";

const FORMAT: &str = "Go heap dump";

/// The heap objects, as columns in dump order: per object its address, size and the range of its
/// pointers; per pointer only its target, and only when it lies in the dump's heap range (nil and
/// pointers to globals, stacks or off-heap memory cannot reach an object and are dropped as read).
/// A target is kept as a 4-byte heap word (its offset from the heap start, in 8-byte words: Go
/// objects start on 8-byte boundaries and span whole words) when the heap range is at most
/// 32 GiB, as a full address otherwise.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    /// Address of each object.
    pub addr: Addrs,
    /// Size of each object.
    pub size: Sizes,
    /// End (exclusive) of each object's pointers in `targets`; the start is the previous end.
    ptr_end: Vec<u32>,
    targets: Targets,
    /// Heap start (targets are words from here); 0 with full addresses.
    base: u64,
    /// The heap range, `start..end`; empty when the dump gives none (all non-nil kept).
    range: std::ops::Range<u64>,
    /// Each kept pointer's byte offset in its object, when asked for (typing the objects from
    /// a binary's DWARF); empty otherwise.
    offsets: Vec<u32>,
    keep_offsets: bool,
}

#[derive(Clone, Debug)]
enum Targets {
    Words(Vec<u32>),
    Addrs(Vec<u64>),
}

impl Default for Targets {
    fn default() -> Targets {
        Targets::Addrs(Vec::new())
    }
}

/// Addresses in 4 bytes each where they can be: 8-byte words from the heap start while every
/// address is 8-byte aligned and inside a heap range of at most 32 GiB, full addresses once one is
/// not.
#[derive(Clone, Debug)]
pub enum Addrs {
    /// Words from `base`, each below `limit`.
    Words {
        /// The heap start.
        base: u64,
        /// One past the last word the range allows.
        limit: u64,
        /// The words.
        words: Column<u32>,
    },
    /// Full addresses.
    Full(Column<u64>),
}

impl Default for Addrs {
    fn default() -> Addrs {
        Addrs::Full(Column::default())
    }
}

impl Addrs {
    /// Addresses of a heap in `start..end` (words when that range allows; full otherwise).
    pub fn new(start: u64, end: u64) -> Addrs {
        if end > start && (end - start) >> 3 < u64::from(u32::MAX) {
            Addrs::Words {
                base: start,
                limit: (end - start).div_ceil(8),
                words: Column::default(),
            }
        } else {
            Addrs::Full(Column::default())
        }
    }

    /// [`Addrs::new`] with room for `n` addresses.
    pub fn with_capacity(start: u64, end: u64, n: usize) -> Addrs {
        let mut a = Addrs::new(start, end);
        match &mut a {
            Addrs::Words { words, .. } => words.vec_mut().reserve_exact(n),
            Addrs::Full(v) => v.vec_mut().reserve_exact(n),
        }
        a
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        match self {
            Addrs::Words { words, .. } => words.len(),
            Addrs::Full(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Address `i`.
    pub fn get(&self, i: usize) -> u64 {
        match self {
            Addrs::Words { base, words, .. } => base + (u64::from(words[i]) << 3),
            Addrs::Full(v) => v[i],
        }
    }

    /// All of them, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends an address (switching to full addresses for one that is no word of the range).
    pub fn push(&mut self, a: u64) {
        if let Addrs::Words { base, limit, words } = self {
            if a >= *base && a.is_multiple_of(8) && (a - *base) >> 3 < *limit {
                words.push(((a - *base) >> 3) as u32);
                return;
            }
            let full: Vec<u64> = words.iter().map(|&w| *base + (u64::from(w) << 3)).collect();
            *self = Addrs::Full(Column::Mem(full));
        }
        if let Addrs::Full(v) = self {
            v.push(a);
        }
    }

    /// The first index in `lo..hi` whose address is above `a` (`hi` when none is), the
    /// addresses ascending.
    pub fn first_above(&self, lo: usize, hi: usize, a: u64) -> usize {
        match self {
            Addrs::Words { base, words, .. } => {
                if a < *base {
                    return lo;
                }
                let w = (a - base) >> 3;
                if w >= u64::from(u32::MAX) {
                    return hi;
                }
                lo + words[lo..hi].partition_point(|&x| u64::from(x) <= w)
            }
            Addrs::Full(v) => lo + v[lo..hi].partition_point(|&x| x <= a),
        }
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        match self {
            Addrs::Words { words, .. } => words.memory(),
            Addrs::Full(v) => v.memory(),
        }
    }

    fn shrink_to_fit(&mut self) {
        match self {
            Addrs::Words { words, .. } => words.shrink_to_fit(),
            Addrs::Full(v) => v.shrink_to_fit(),
        }
    }

    /// Moves the addresses to a mapped temporary file in `dir` ([`Column::spill`]).
    pub fn spill(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        match self {
            Addrs::Words { words, .. } => words.spill(dir),
            Addrs::Full(v) => v.spill(dir),
        }
    }
}

/// Sizes in 4 bytes each; those of 4 GiB or more aside.
#[derive(Clone, Debug, Default)]
pub struct Sizes {
    small: Column<u32>,
    /// Objects of 4 GiB or more (`small` holds `u32::MAX`): (index, size), by index.
    big: Vec<(u32, u64)>,
}

impl Sizes {
    /// Room for `n` sizes.
    pub fn with_capacity(n: usize) -> Sizes {
        Sizes {
            small: Column::with_capacity(n),
            big: Vec::new(),
        }
    }

    /// Number of sizes.
    pub fn len(&self) -> usize {
        self.small.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.small.is_empty()
    }

    /// Size `i`.
    pub fn get(&self, i: usize) -> u64 {
        match self.small[i] {
            u32::MAX => {
                let k = self.big.partition_point(|&(j, _)| (j as usize) < i);
                self.big.get(k).map_or(u64::from(u32::MAX), |&(_, s)| s)
            }
            s => u64::from(s),
        }
    }

    /// Appends a size.
    pub fn push(&mut self, size: u64) {
        if size >= u64::from(u32::MAX) {
            self.big.push((self.small.len() as u32, size));
        }
        self.small.push(size.min(u64::from(u32::MAX)) as u32);
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        self.small.memory() + self.big.capacity() * 16
    }

    fn shrink_to_fit(&mut self) {
        self.small.shrink_to_fit();
        self.big.shrink_to_fit();
    }

    /// Moves the sizes to a mapped temporary file in `dir` ([`Column::spill`]).
    pub fn spill(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        self.small.spill(dir)
    }
}

impl Objects {
    /// Columns for a heap of this range (`heap_end <= heap_start`: unknown).
    fn new(heap_start: u64, heap_end: u64) -> Objects {
        // Pointer targets as heap words exactly when addresses are.
        let addr = Addrs::new(heap_start, heap_end);
        let narrow = matches!(addr, Addrs::Words { .. });
        Objects {
            addr,
            targets: if narrow {
                Targets::Words(Vec::new())
            } else {
                Targets::Addrs(Vec::new())
            },
            base: if narrow { heap_start } else { 0 },
            range: heap_start..heap_end,
            ..Default::default()
        }
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.addr.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.addr.is_empty()
    }

    /// Size in bytes of object `i` (the size-class slot, ≥ the Go object's size).
    pub fn size(&self, i: usize) -> u64 {
        self.size.get(i)
    }

    /// Pointer `k`'s target: its address, rounded down to 8 bytes when kept as a heap word (the
    /// same object either way).
    pub fn target(&self, k: usize) -> u64 {
        match &self.targets {
            Targets::Words(w) => self.base + (u64::from(w[k]) << 3),
            Targets::Addrs(a) => a[k],
        }
    }

    /// Number of pointers kept.
    pub fn pointer_count(&self) -> usize {
        match &self.targets {
            Targets::Words(w) => w.len(),
            Targets::Addrs(a) => a.len(),
        }
    }

    /// Whether `p` can point at a heap object.
    fn in_heap(&self, p: u64) -> bool {
        if self.range.is_empty() {
            p != 0
        } else {
            self.range.contains(&p)
        }
    }

    /// The pointers of object `i` (indices for [`Objects::target`] and [`Objects::offset`]).
    pub fn pointers_of(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 {
            0
        } else {
            self.ptr_end[i - 1] as usize
        };
        start..self.ptr_end[i] as usize
    }

    /// Pointer `k`'s byte offset in its object, when offsets were kept (else `None`).
    pub fn offset(&self, k: usize) -> Option<u32> {
        self.offsets.get(k).copied()
    }

    /// Whether pointer offsets were kept.
    pub fn has_offsets(&self) -> bool {
        self.keep_offsets
    }

    /// Keeps each pointer's offset from now on (set before any object is added).
    pub fn keep_offsets(&mut self) {
        self.keep_offsets = true;
    }

    /// Drops the pointer offsets (once the objects are typed).
    pub fn drop_offsets(&mut self) {
        self.offsets = Vec::new();
        self.keep_offsets = false;
    }

    fn push_target(&mut self, p: u64) {
        match &mut self.targets {
            Targets::Words(w) => w.push(((p - self.base) >> 3) as u32),
            Targets::Addrs(a) => a.push(p),
        }
    }

    /// Bytes these columns hold.
    pub fn memory(&self) -> usize {
        let t = match &self.targets {
            Targets::Words(w) => w.capacity() * 4,
            Targets::Addrs(a) => a.capacity() * 8,
        };
        self.addr.memory()
            + self.size.memory()
            + (self.ptr_end.capacity() + self.offsets.capacity()) * 4
            + t
    }

    /// Appends an object holding these pointer values (those that cannot reach the heap are
    /// dropped, as when read). For dumps built in memory (tests, simulations).
    /// With offsets kept, the `k`-th value is at byte `8 k`.
    pub fn push(&mut self, addr: u64, size: u64, pointers: impl IntoIterator<Item = u64>) {
        for (k, p) in pointers.into_iter().enumerate() {
            if self.in_heap(p) {
                self.push_target(p);
                if self.keep_offsets {
                    self.offsets.push((8 * k) as u32);
                }
            }
        }
        self.addr.push(addr);
        self.size.push(size);
        self.ptr_end.push(self.pointer_count() as u32);
    }

    /// Gives back the capacity the columns grew past their length.
    fn shrink_to_fit(&mut self) {
        self.addr.shrink_to_fit();
        self.size.shrink_to_fit();
        self.ptr_end.shrink_to_fit();
        self.offsets.shrink_to_fit();
        match &mut self.targets {
            Targets::Words(w) => w.shrink_to_fit(),
            Targets::Addrs(a) => a.shrink_to_fit(),
        }
    }

    /// Resolves every pointer to the object it points into, in place, and gives up the pointer
    /// columns: `resolve` maps a target address to an object number (`None`: no object). Each
    /// object's row (in the dump's order) ends up sorted and without repeats, and the rows are
    /// packed: returns (each row's end, the rows). No second copy of the pointers is made: a
    /// 4-byte heap word is overwritten by the 4-byte object number it resolves to. Runs on all
    /// threads, over chunks of objects; `progress` gets each chunk's object count.
    pub fn link_in_place(
        &mut self,
        resolve: &(dyn Fn(u64) -> Option<u32> + Sync),
        progress: &(dyn Fn(u64) + Sync),
    ) -> (Vec<u32>, Vec<u32>) {
        use rayon::prelude::*;
        const NO_OBJECT: u32 = u32::MAX;
        let mut ends = std::mem::take(&mut self.ptr_end);
        let base = self.base;
        let (mut rows, words) = match std::mem::take(&mut self.targets) {
            Targets::Words(w) => (w, true),
            // Full addresses (a heap range past 32 GiB): resolved into a new column first.
            Targets::Addrs(a) => (
                a.par_iter()
                    .map(|&p| resolve(p).unwrap_or(NO_OBJECT))
                    .collect(),
                false,
            ),
        };
        // Chunks of objects; each owns the rows of its objects.
        const CHUNK: usize = 1 << 15;
        let n = ends.len();
        let row_start = |i: usize| if i == 0 { 0 } else { ends[i - 1] as usize };
        let mut pieces: Vec<(usize, &mut [u32])> = Vec::new();
        let mut rest: &mut [u32] = &mut rows;
        for c in (0..n).step_by(CHUNK) {
            let hi = (c + CHUNK).min(n);
            let (head, tail) = rest.split_at_mut(ends[hi - 1] as usize - row_start(c));
            pieces.push((c, head));
            rest = tail;
        }
        let lens: Vec<Vec<u32>> = pieces
            .into_par_iter()
            .map(|(c, piece)| {
                let first = row_start(c);
                let hi = (c + CHUNK).min(n);
                let mut lens = Vec::with_capacity(hi - c);
                for i in c..hi {
                    let row = &mut piece[row_start(i) - first..ends[i] as usize - first];
                    let mut w = 0;
                    for r in 0..row.len() {
                        let t = if words {
                            resolve(base + (u64::from(row[r]) << 3))
                        } else {
                            Some(row[r]).filter(|&t| t != NO_OBJECT)
                        };
                        if let Some(t) = t {
                            row[w] = t;
                            w += 1;
                        }
                    }
                    lens.push(sort_dedup(&mut row[..w]) as u32);
                }
                progress((hi - c) as u64);
                lens
            })
            .collect();
        // Pack the rows to the front, in order; each end is read before it is rewritten.
        let (mut write, mut old_start) = (0usize, 0usize);
        for (i, len) in lens.into_iter().flatten().enumerate() {
            let len = len as usize;
            rows.copy_within(old_start..old_start + len, write);
            old_start = ends[i] as usize;
            write += len;
            ends[i] = write as u32;
        }
        rows.truncate(write);
        rows.shrink_to_fit();
        (ends, rows)
    }

    /// Drops everything (the graph has what it needs).
    pub fn clear(&mut self) {
        self.offsets = Vec::new();
        *self = Objects::default();
    }
}

/// Sorts a row and drops repeats in place; returns the new length.
pub fn sort_dedup(row: &mut [u32]) -> usize {
    row.sort_unstable();
    let mut w = 0;
    for r in 0..row.len() {
        if w == 0 || row[r] != row[w - 1] {
            row[w] = row[r];
            w += 1;
        }
    }
    w
}

/// Where a root comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RootKind {
    /// A global in the data segment.
    Data,
    /// A global in the bss segment.
    Bss,
    /// A stack slot of a goroutine's frame.
    Stack,
    /// A goroutine's closure context.
    Context,
    /// A finalizer's closure (registered or queued).
    Finalizer,
    /// An object with a queued finalizer (live until the finalizer runs).
    Finalizing,
    /// A defer or panic record.
    DeferPanic,
    /// `otherroot` (not written by current runtimes).
    Other,
}

/// A root pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// Kind.
    pub kind: RootKind,
    /// Pointer value.
    pub target: u64,
    /// Index into [`HeapDump::frames`] for stack roots, into [`HeapDump::goroutines`] for
    /// contexts; `u32::MAX` otherwise.
    pub owner: u32,
    /// For data and bss roots, the address of the word that holds the pointer (which global it
    /// is, given the binary's symbols); 0 otherwise.
    pub slot: u64,
}

impl Root {
    /// A root that belongs to no frame or goroutine.
    pub fn global(kind: RootKind, target: u64) -> Root {
        Root {
            kind,
            target,
            owner: u32::MAX,
            slot: 0,
        }
    }
}

/// A global of the program that wrote a dump, from its binary's symbol table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// Address.
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
    /// Name (`main.sessions`).
    pub name: String,
}

/// A goroutine record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Goroutine {
    /// Goroutine id.
    pub id: u64,
    /// Status (1 runnable, 3 syscall, 4 waiting).
    pub status: u64,
    /// Wait reason.
    pub wait_reason: String,
    /// Whether the runtime counts it as a system goroutine.
    pub system: bool,
}

/// A stack frame record (only its identity; its pointer slots become roots).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackFrame {
    /// Function name.
    pub function: String,
    /// Index of its goroutine in [`HeapDump::goroutines`] (frames follow their goroutine).
    pub goroutine: u32,
    /// Depth (0 = innermost).
    pub depth: u64,
}

/// A memory-profile bucket: one allocation stack and object size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Bucket id.
    pub id: u64,
    /// Object size of the bucket.
    pub size: u64,
    /// Frames, leaf first: (function, file, line).
    pub frames: Vec<(String, String, u64)>,
    /// Sampled allocations.
    pub allocs: u64,
    /// Sampled frees.
    pub frees: u64,
}

/// Dump parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// Big-endian target.
    pub big_endian: bool,
    /// Pointer size in bytes.
    pub ptr_size: u64,
    /// Heap arena start.
    pub heap_start: u64,
    /// Heap arena end.
    pub heap_end: u64,
    /// GOARCH.
    pub arch: String,
    /// Runtime version (`go1.23.5`).
    pub version: String,
    /// CPUs.
    pub ncpu: u64,
}

/// A parsed heap dump.
#[derive(Clone, Debug, Default)]
pub struct HeapDump {
    /// Parameters (record 6).
    pub params: Params,
    /// Objects in dump order, with their pointers.
    pub objects: Objects,
    /// Objects outside the heap range the dump states (pointers to them are not followed).
    pub objects_outside: u64,
    /// Roots.
    pub roots: Vec<Root>,
    /// Goroutines.
    pub goroutines: Vec<Goroutine>,
    /// Stack frames.
    pub frames: Vec<StackFrame>,
    /// MemStats as 24 named values: Alloc, TotalAlloc, Sys, … (record 10), when present.
    pub memstats: Vec<u64>,
    /// Memory-profile buckets.
    pub buckets: Vec<Bucket>,
    /// Alloc samples: (object address, bucket id).
    pub samples: Vec<(u64, u64)>,
    /// Type records: (address, size, name).
    pub types: Vec<(u64, u64, String)>,
    /// Count of each record tag (index = tag, 0..=17).
    pub record_counts: [u64; 18],
    /// The data (record 12) and bss (record 13) segments: kind, start address, length.
    pub segments: Vec<(RootKind, u64, u64)>,
    /// The program's globals (sorted by address), when its binary was given; empty otherwise.
    pub globals: Vec<Global>,
    /// What the reader of the dump should be told (a binary that does not match it).
    pub notes: Vec<String>,
    /// The program's types from its binary's DWARF, when given (see `graph`'s typing); parse
    /// with offsets kept ([`parse_stream_with`]) for them to be used.
    pub dwarf: Option<std::sync::Arc<super::gotypes::GoTypes>>,
    /// Why the objects stay untyped although a binary was given (no DWARF, another build):
    /// said only where types are asked for (`retained --by type`).
    pub untyped_because: Option<String>,
}

impl HeapDump {
    /// The global whose bytes hold `slot`, if the binary was given and names one there.
    pub fn global_at(&self, slot: u64) -> Option<&Global> {
        let i = self.globals.partition_point(|g| g.address <= slot);
        let g = self.globals.get(i.checked_sub(1)?)?;
        (slot - g.address < g.size.max(1)).then_some(g)
    }
}

/// The reader's buffer: records are read from it in place; a field is copied out only when the
/// parser keeps it (object contents, until their pointer offsets are read).
const BUFFER: usize = 1 << 20;

/// Records are parsed from a stream: the dump is never held whole.
struct Reader<'s, R> {
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
fn word(contents: &[u8], offset: u64, p: &Params) -> Option<u64> {
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

/// Whether the bytes start like a heap dump.
pub fn sniff(b: &[u8]) -> bool {
    b.starts_with(MAGIC)
}

/// Functions of the Go runtime's allocator and of the runtime helpers that allocate on their
/// caller's behalf (`make`, `new`, `append`, string and interface conversions, map growth). Go 1.24
/// and later put these first in every alloc-sample stack of a heap dump; the allocating frame of
/// the program is the first frame past them. From Go's runtime sources (malloc.go, slice.go,
/// map.go and internal/runtime/maps, string.go, iface.go, chan.go); exact names, then prefixes.
pub const ALLOCATOR_FUNCTIONS: &[&str] = &[
    "runtime.newobject",
    "runtime.newarray",
    "runtime.makeslice",
    "runtime.makeslice64",
    "runtime.makeslicecopy",
    "runtime.growslice",
    "runtime.makemap",
    "runtime.makemap64",
    "runtime.makemap_small",
    "runtime.makechan",
    "runtime.makechan64",
    "runtime.hashGrow",
    "runtime.makeBucketArray",
    "runtime.newoverflow",
    "runtime.rawstring",
    "runtime.rawstringtmp",
    "runtime.rawbyteslice",
    "runtime.rawruneslice",
    "runtime.slicebytetostring",
    "runtime.slicerunetostring",
    "runtime.stringtoslicebyte",
    "runtime.stringtoslicerune",
    "runtime.intstring",
    "runtime.reflect_unsafe_New",
    "runtime.reflect_unsafe_NewArray",
];

/// Prefixes of [`ALLOCATOR_FUNCTIONS`]: `mallocgc` and its size-class variants (Go 1.24+:
/// `mallocgcTiny`, `mallocgcSmallNoscan`, …), map assignment, string concatenation, interface
/// conversion, and the swiss-table maps of Go 1.24+.
pub const ALLOCATOR_PREFIXES: &[&str] = &[
    "runtime.mallocgc",
    "runtime.mapassign",
    "runtime.concatstring",
    "runtime.concatbyte",
    "runtime.convT",
    "internal/runtime/maps.",
];

/// CPython's allocator API (`PyObject_Malloc` → `PyMem_RawMalloc` → `_PyMem_RawMalloc` → malloc,
/// pymalloc's own functions, the GC's object allocator) and its size-only object constructors
/// (`PyBytes_FromStringAndSize`, `_PyObject_New`): under a native profiler every allocation of the
/// interpreter goes through them, so a key named after them says nothing about who allocated.
pub const INTERPRETER_ALLOCATOR_FUNCTIONS: &[&str] = &[
    "PyObject_Malloc",
    "PyObject_Calloc",
    "PyObject_Realloc",
    "_PyObject_Malloc",
    "_PyObject_Calloc",
    "_PyObject_Realloc",
    "PyMem_Malloc",
    "PyMem_Calloc",
    "PyMem_Realloc",
    "PyMem_RawMalloc",
    "PyMem_RawCalloc",
    "PyMem_RawRealloc",
    "_PyMem_RawMalloc",
    "_PyMem_RawCalloc",
    "_PyMem_RawRealloc",
    "_PyMem_DebugRawAlloc",
    "_PyMem_DebugRawMalloc",
    "_PyMem_DebugRawCalloc",
    "_PyMem_DebugRawRealloc",
    "_PyMem_DebugMalloc",
    "_PyMem_DebugCalloc",
    "_PyMem_DebugRealloc",
    "pymalloc_alloc",
    "pymalloc_realloc",
    "allocate_from_new_pool",
    "_PyObject_GC_New",
    "_PyObject_GC_NewVar",
    "_PyObject_GC_Malloc",
    "_PyObject_GC_Calloc",
    "_PyObject_GC_Resize",
    "gc_alloc",
    "_PyObject_New",
    "_PyObject_NewVar",
    "PyType_GenericAlloc",
    "_PyType_AllocNoTrack",
    "_PyBytes_FromSize",
    "PyBytes_FromStringAndSize",
    "_PyBytes_Resize",
];

/// Whether a function is the runtime's allocator or a helper allocating for its caller (Go's
/// runtime, or CPython's allocator API under a native profiler).
pub fn is_allocator_function(function: &str) -> bool {
    ALLOCATOR_FUNCTIONS.contains(&function)
        || ALLOCATOR_PREFIXES.iter().any(|p| function.starts_with(p))
        || INTERPRETER_ALLOCATOR_FUNCTIONS.contains(&function)
}

/// How many leading frames (leaf first) of an alloc-sample stack are the allocator's; never all
/// of them (a stack of allocator frames only keeps its outermost).
pub fn allocator_frames(frames: &[(String, String, u64)]) -> usize {
    let n = frames
        .iter()
        .take_while(|(f, _, _)| is_allocator_function(f))
        .count();
    n.min(frames.len().saturating_sub(1))
}

/// Parses a whole (decompressed) dump held in memory.
pub fn parse(b: &[u8], source: &str) -> Result<HeapDump, ParseError> {
    parse_stream(b, source, &mut |_, _| {})
}

/// How often [`parse_stream`] reports progress: every this many records.
const TICK_RECORDS: u64 = 1 << 16;

/// Parses a dump from a stream (a file, or a decompressor), record by record, keeping only the
/// columns of [`Objects`] and the small records. `tick(bytes, objects)` is called every
/// few thousand records with the stream offset and the objects read so far.
pub fn parse_stream(
    input: impl std::io::Read,
    source: &str,
    tick: &mut dyn FnMut(u64, u64),
) -> Result<HeapDump, ParseError> {
    parse_stream_with(input, source, tick, false)
}

/// [`parse_stream`], keeping each pointer's offset in its object when `keep_offsets` (4 bytes a
/// pointer, for typing the objects: see [`Objects::offset`]).
pub fn parse_stream_with(
    input: impl std::io::Read,
    source: &str,
    tick: &mut dyn FnMut(u64, u64),
    keep_offsets: bool,
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
            5 => stack_frame(&mut r, &mut d, &mut scratch)?,
            6 => {
                dump_params(&mut r, &mut d, at, &mut scratch)?;
                if keep_offsets {
                    d.objects.keep_offsets();
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
            8 => r.skip(2)?, // itab, type
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
                r.fieldlist(|off| {
                    if let Some(v) = word(contents, off, params) {
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
fn object<R: std::io::Read>(
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
    r.fieldlist(|off| match word(contents, off, params) {
        Some(v) if objects.in_heap(v) => {
            objects.push_target(v);
            if objects.keep_offsets {
                objects.offsets.push(u32::try_from(off).unwrap_or(u32::MAX));
            }
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
fn goroutine<R: std::io::Read>(
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

/// A stack frame (tag 5): its pointer slots are roots owned by the frame.
fn stack_frame<R: std::io::Read>(
    r: &mut Reader<'_, R>,
    d: &mut HeapDump,
    scratch: &mut Vec<u8>,
) -> Result<(), ParseError> {
    r.uvarint()?; // sp
    let depth = r.uvarint()?;
    r.uvarint()?; // child sp
    let mut contents = std::mem::take(scratch);
    r.bytes_into(&mut contents)?;
    r.skip(3)?; // entry pc, pc, continuation pc
    let function = r.string(scratch)?;
    let frame = d.frames.len() as u32;
    let goroutine = d.goroutines.len().saturating_sub(1) as u32;
    let (params, roots) = (&d.params, &mut d.roots);
    r.fieldlist(|off| {
        if let Some(v) = word(&contents, off, params) {
            roots.push(Root {
                kind: RootKind::Stack,
                target: v,
                owner: frame,
                slot: 0,
            });
        }
    })?;
    *scratch = contents;
    d.frames.push(StackFrame {
        function,
        goroutine,
        depth,
    });
    Ok(())
}

/// The dump parameters (tag 6): byte order, pointer size, heap range, version.
fn dump_params<R: std::io::Read>(
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
fn bucket<R: std::io::Read>(
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

/// Writes a go1.7 heap dump, record by record, in the runtime's field order (64-bit little-endian,
/// as amd64 writes it). Used by `leakdiff simulate` and the graph benchmark; a dump it writes is
/// read back by [`parse`] like one from `debug.WriteHeapDump`.
pub struct DumpWriter<W: std::io::Write> {
    out: W,
}

impl<W: std::io::Write> DumpWriter<W> {
    /// Starts a dump: the header and the parameters record (record 6).
    pub fn new(
        mut out: W,
        heap_start: u64,
        heap_end: u64,
        version: &str,
    ) -> std::io::Result<DumpWriter<W>> {
        out.write_all(MAGIC)?;
        let mut w = DumpWriter { out };
        w.uv(6)?;
        w.uv(0)?; // little-endian
        w.uv(8)?;
        w.uv(heap_start)?;
        w.uv(heap_end)?;
        w.string("amd64")?;
        w.string(version)?;
        w.uv(2)?;
        Ok(w)
    }

    fn uv(&mut self, mut v: u64) -> std::io::Result<()> {
        let mut buf = [0u8; 10];
        let mut n = 0;
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                buf[n] = b;
                n += 1;
                break;
            }
            buf[n] = b | 0x80;
            n += 1;
        }
        self.out.write_all(&buf[..n])
    }

    fn string(&mut self, s: &str) -> std::io::Result<()> {
        self.uv(s.len() as u64)?;
        self.out.write_all(s.as_bytes())
    }

    /// Contents of `size` bytes with `words` at the given offsets, then its field list.
    fn contents(&mut self, size: u64, words: &[(u64, u64)]) -> std::io::Result<()> {
        let mut c = vec![0u8; size as usize];
        for &(off, v) in words {
            if let Some(slot) = c.get_mut(off as usize..off as usize + 8) {
                slot.copy_from_slice(&v.to_le_bytes());
            }
        }
        self.uv(size)?;
        self.out.write_all(&c)?;
        for &(off, _) in words {
            self.uv(1)?;
            self.uv(off)?;
        }
        self.uv(0)
    }

    /// An object (record 1): its address, size and pointer fields (offset, value).
    pub fn object(&mut self, addr: u64, size: u64, pointers: &[(u64, u64)]) -> std::io::Result<()> {
        self.uv(1)?;
        self.uv(addr)?;
        self.contents(size, pointers)
    }

    /// The bss segment (record 13) at `start`, holding the given pointer words one after another.
    pub fn bss(&mut self, start: u64, targets: &[u64]) -> std::io::Result<()> {
        self.uv(13)?;
        self.uv(start)?;
        let words: Vec<(u64, u64)> = targets
            .iter()
            .enumerate()
            .map(|(i, &t)| (8 * i as u64, t))
            .collect();
        self.contents(8 * targets.len() as u64, &words)
    }

    /// A memory-profile bucket (record 16): frames leaf first as (function, file, line).
    pub fn bucket(
        &mut self,
        id: u64,
        size: u64,
        frames: &[(&str, &str, u64)],
        allocs: u64,
        frees: u64,
    ) -> std::io::Result<()> {
        self.uv(16)?;
        self.uv(id)?;
        self.uv(size)?;
        self.uv(frames.len() as u64)?;
        for (f, file, line) in frames {
            self.string(f)?;
            self.string(file)?;
            self.uv(*line)?;
        }
        self.uv(allocs)?;
        self.uv(frees)
    }

    /// An alloc sample (record 17): the object at `addr` was allocated in `bucket`.
    pub fn alloc_sample(&mut self, addr: u64, bucket: u64) -> std::io::Result<()> {
        self.uv(17)?;
        self.uv(addr)?;
        self.uv(bucket)
    }

    /// The EOF record; returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.uv(0)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uv(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn s(out: &mut Vec<u8>, x: &[u8]) {
        uv(out, x.len() as u64);
        out.extend_from_slice(x);
    }

    /// params, two objects pointing at each other (one through an interior pointer), a bss root.
    fn tiny() -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        uv(&mut b, 6);
        uv(&mut b, 0);
        uv(&mut b, 8);
        uv(&mut b, 0x1000);
        uv(&mut b, 0x2000);
        s(&mut b, b"amd64");
        s(&mut b, b"go1.23.5");
        uv(&mut b, 2);
        for (addr, target) in [(0x1000u64, 0x1018u64), (0x1010, 0x1000)] {
            uv(&mut b, 1);
            uv(&mut b, addr);
            let mut c = target.to_le_bytes().to_vec();
            c.extend([0u8; 8]);
            s(&mut b, &c);
            uv(&mut b, 1);
            uv(&mut b, 0);
            uv(&mut b, 0);
        }
        uv(&mut b, 13);
        uv(&mut b, 0x500);
        s(&mut b, &0x1000u64.to_le_bytes());
        uv(&mut b, 1);
        uv(&mut b, 0);
        uv(&mut b, 0);
        uv(&mut b, 0);
        b
    }

    #[test]
    fn reads_objects_pointers_and_roots() {
        let d = parse(&tiny(), "t").unwrap();
        assert_eq!(d.params.version, "go1.23.5");
        assert_eq!(d.objects.len(), 2);
        assert_eq!(d.objects.size(0), 16);
        let targets: Vec<u64> = (0..2).map(|k| d.objects.target(k)).collect();
        assert_eq!(targets, vec![0x1018, 0x1000]);
        assert_eq!(d.roots.len(), 1);
        assert_eq!(d.roots[0].kind, RootKind::Bss);
        assert_eq!(d.record_counts[1], 2);
    }

    #[test]
    fn every_truncation_is_an_error_with_an_offset() {
        let b = tiny();
        for n in 0..b.len() {
            let e = parse(&b[..n], "t").unwrap_err().to_string();
            assert!(e.contains("t:"), "{e}");
        }
        let mut extra = b.clone();
        extra.push(7);
        assert!(parse(&extra, "t")
            .unwrap_err()
            .to_string()
            .contains("after the EOF"));
    }
}
