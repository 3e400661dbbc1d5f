//! Go heap dumps (`runtime/debug.WriteHeapDump`, header `go1.7 heap dump\n`, Go 1.7 to 1.23+).
//!
//! Streams the records once and keeps only what the object-graph analysis needs: per object its
//! address, size and the pointer values found at its pointer offsets (the contents themselves are
//! dropped), the roots (data/bss, stack frames, goroutine contexts, finalizers, defers, panics),
//! goroutines, memstats and the allocation-sample records linking objects to allocation stacks.
//! Memory stays near the dump's size. Records and fields follow `runtime/heapdump.go`.

use super::error::{ParseError, Position};

/// The dump header.
pub const MAGIC: &[u8] = b"go1.7 heap dump\n";

const FORMAT: &str = "Go heap dump";

/// One heap object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Address.
    pub addr: u64,
    /// Size in bytes (the size-class slot, ≥ the Go object's size).
    pub size: u64,
    /// Range into [`HeapDump::pointers`]: the pointer values stored in the object.
    pub ptrs: std::ops::Range<u32>,
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
    /// Objects in dump order.
    pub objects: Vec<Object>,
    /// Pointer values of all objects, concatenated.
    pub pointers: Vec<u64>,
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
}

impl HeapDump {
    /// The global whose bytes hold `slot`, if the binary was given and names one there.
    pub fn global_at(&self, slot: u64) -> Option<&Global> {
        let i = self.globals.partition_point(|g| g.address <= slot);
        let g = self.globals.get(i.checked_sub(1)?)?;
        (slot - g.address < g.size.max(1)).then_some(g)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    source: &'a str,
}

impl<'a> Reader<'a> {
    fn err(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError::malformed(self.source, FORMAT, Position::Byte(at as u64), message)
    }

    fn uvarint(&mut self) -> Result<u64, ParseError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.b.get(self.pos) else {
                return Err(self.err(start, "truncated: the dump ends inside a number"));
            };
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(self.err(start, "number longer than 64 bits"));
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err(start, "number longer than 10 bytes"))
    }

    /// Reads and drops `n` numbers (fields the analysis does not use).
    fn skip(&mut self, n: usize) -> Result<(), ParseError> {
        for _ in 0..n {
            self.uvarint()?;
        }
        Ok(())
    }

    fn bool(&mut self) -> Result<bool, ParseError> {
        let at = self.pos;
        match self.uvarint()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.err(at, format!("boolean field holds {v}"))),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], ParseError> {
        let at = self.pos;
        let n = self.uvarint()?;
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| {
                self.err(
                    at,
                    format!(
                        "truncated: a field of {n} bytes, {} left",
                        self.b.len() - self.pos
                    ),
                )
            })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }

    /// A field list: (kind, offset) pairs ended by kind 0. Only kind 1 (pointer) is written by
    /// current runtimes; 2 and 3 (iface, eface) are read and skipped.
    fn fieldlist(&mut self, mut each: impl FnMut(u64)) -> Result<(), ParseError> {
        loop {
            let at = self.pos;
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

/// Parses a whole (decompressed) dump.
pub fn parse(b: &[u8], source: &str) -> Result<HeapDump, ParseError> {
    if !b.starts_with(MAGIC) {
        let old = [
            b"go1.3 heap dump\n",
            b"go1.4 heap dump\n",
            b"go1.5 heap dump\n",
        ];
        let message = if old.iter().any(|m| b.starts_with(*m)) {
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
    let mut r = Reader {
        b,
        pos: MAGIC.len(),
        source,
    };
    let mut d = HeapDump {
        params: Params {
            ptr_size: 8,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut have_params = false;
    loop {
        let at = r.pos;
        if at >= b.len() {
            return Err(r.err(at, "truncated: the dump ends before its EOF record"));
        }
        let tag = r.uvarint()?;
        if let Some(c) = d.record_counts.get_mut(tag as usize) {
            *c += 1;
        }
        match tag {
            0 => break,
            1 => object(&mut r, &mut d, at, have_params)?,
            2 => {
                r.string()?;
                let target = r.uvarint()?;
                d.roots.push(Root::global(RootKind::Other, target));
            }
            3 => {
                let addr = r.uvarint()?;
                let size = r.uvarint()?;
                let name = r.string()?;
                r.bool()?;
                d.types.push((addr, size, name));
            }
            4 => goroutine(&mut r, &mut d)?,
            5 => stack_frame(&mut r, &mut d)?,
            6 => {
                dump_params(&mut r, &mut d, at)?;
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
                let mut v = Vec::with_capacity(24);
                for _ in 0..24 {
                    v.push(r.uvarint()?);
                }
                r.skip(256)?; // PauseNs
                v.push(r.uvarint()?); // NumGC
                d.memstats = v;
            }
            12 | 13 => {
                let start = r.uvarint()?;
                let contents = r.bytes()?;
                let kind = if tag == 12 {
                    RootKind::Data
                } else {
                    RootKind::Bss
                };
                d.segments.push((kind, start, contents.len() as u64));
                let (params, roots) = (&d.params, &mut d.roots);
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
            16 => bucket(&mut r, &mut d, at)?,
            17 => {
                let addr = r.uvarint()?;
                let bucket = r.uvarint()?;
                d.samples.push((addr, bucket));
            }
            t => return Err(r.err(at, format!("unknown record tag {t}"))),
        }
    }
    if r.pos != b.len() {
        return Err(r.err(
            r.pos,
            format!("{} bytes after the EOF record", b.len() - r.pos),
        ));
    }
    Ok(d)
}

/// An object (tag 1): its address, size and pointer fields.
fn object(
    r: &mut Reader<'_>,
    d: &mut HeapDump,
    at: usize,
    have_params: bool,
) -> Result<(), ParseError> {
    let addr = r.uvarint()?;
    let contents = r.bytes()?;
    if !have_params {
        return Err(r.err(at, "an object before the dump parameters"));
    }
    let start = d.pointers.len() as u32;
    let (params, pointers) = (&d.params, &mut d.pointers);
    let mut bad = None;
    r.fieldlist(|off| match word(contents, off, params) {
        Some(v) => pointers.push(v),
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
    let end = u32::try_from(d.pointers.len()).map_err(|_| r.err(at, "more than 4G pointers"))?;
    d.objects.push(Object {
        addr,
        size: contents.len() as u64,
        ptrs: start..end,
    });
    Ok(())
}

/// A goroutine (tag 4), and its context as a root.
fn goroutine(r: &mut Reader<'_>, d: &mut HeapDump) -> Result<(), ParseError> {
    r.skip(2)?; // g address, sp
    let id = r.uvarint()?;
    r.uvarint()?; // gopc
    let status = r.uvarint()?;
    let system = r.bool()?;
    r.bool()?; // background
    r.uvarint()?; // waitsince
    let wait_reason = r.string()?;
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
fn stack_frame(r: &mut Reader<'_>, d: &mut HeapDump) -> Result<(), ParseError> {
    r.uvarint()?; // sp
    let depth = r.uvarint()?;
    r.uvarint()?; // child sp
    let contents = r.bytes()?;
    r.skip(3)?; // entry pc, pc, continuation pc
    let function = r.string()?;
    let frame = d.frames.len() as u32;
    let goroutine = d.goroutines.len().saturating_sub(1) as u32;
    let (params, roots) = (&d.params, &mut d.roots);
    r.fieldlist(|off| {
        if let Some(v) = word(contents, off, params) {
            roots.push(Root {
                kind: RootKind::Stack,
                target: v,
                owner: frame,
                slot: 0,
            });
        }
    })?;
    d.frames.push(StackFrame {
        function,
        goroutine,
        depth,
    });
    Ok(())
}

/// The dump parameters (tag 6): byte order, pointer size, heap range, version.
fn dump_params(r: &mut Reader<'_>, d: &mut HeapDump, at: usize) -> Result<(), ParseError> {
    d.params.big_endian = r.bool()?;
    let ptr_size = r.uvarint()?;
    if ptr_size != 4 && ptr_size != 8 {
        return Err(r.err(at, format!("pointer size {ptr_size} (4 or 8 expected)")));
    }
    d.params.ptr_size = ptr_size;
    d.params.heap_start = r.uvarint()?;
    d.params.heap_end = r.uvarint()?;
    d.params.arch = r.string()?;
    d.params.version = r.string()?;
    d.params.ncpu = r.uvarint()?;
    Ok(())
}

/// An allocation-profile bucket (tag 16): its stack and counts.
fn bucket(r: &mut Reader<'_>, d: &mut HeapDump, at: usize) -> Result<(), ParseError> {
    let id = r.uvarint()?;
    let size = r.uvarint()?;
    let n = r.uvarint()?;
    // Each frame takes at least 3 bytes: refuse counts the rest of the dump cannot hold.
    if n > ((r.b.len() - r.pos) / 3) as u64 {
        return Err(r.err(at, format!("bucket {id}: {n} frames cannot fit")));
    }
    let mut frames = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let f = r.string()?;
        let file = r.string()?;
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
        assert_eq!(d.objects[0].size, 16);
        assert_eq!(d.pointers, vec![0x1018, 0x1000]);
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
