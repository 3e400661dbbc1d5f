//! Go heap dumps (`runtime/debug.WriteHeapDump`, header `go1.7 heap dump\n`, Go 1.7 to 1.23+).
//!
//! Streams the records once and keeps only what the object-graph analysis needs: per object its
//! address, size and the pointer values found at its pointer offsets (the contents themselves are
//! dropped), the roots (data/bss, stack frames, goroutine contexts, finalizers, defers, panics),
//! goroutines, memstats and the allocation-sample records linking objects to allocation stacks.
//! Memory stays near the dump's size. Records and fields follow `runtime/heapdump.go`.

use super::error::{ParseError, Position};
use crate::spill::Column;

mod columns;
mod read;
mod write;

pub use columns::*;
pub use read::*;
pub use write::*;

/// The dump header.
pub const MAGIC: &[u8] = b"go1.7 heap dump\n";

const FORMAT: &str = "Go heap dump";

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
    /// is, given the binary's symbols); for stack roots, its byte offset in the frame; 0
    /// otherwise.
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
    /// The frame's pc (a caller's: the return address).
    pub pc: u64,
    /// Its size: its words run from its stack pointer to its canonical frame address (DWARF's
    /// CFA, which its locals' locations are relative to).
    pub size: u64,
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
    /// The itabs (record 8): each itab's address and its type descriptor's.
    pub itabs: Vec<(u64, u64)>,
    /// With [`Keep`]: for each global or stack root whose word right before it (in its segment
    /// or frame) lies in the binary's type data (an interface's type or itab word), the root's
    /// index in `roots` and that word, in root order ([`HeapDump::root_type_word`]).
    pub root_type_words: Vec<(u64, u64)>,
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
    /// Root `i`'s interface type or itab word, when it was kept ([`HeapDump::root_type_words`]).
    pub fn root_type_word(&self, i: usize) -> Option<u64> {
        columns::keyed(&self.root_type_words, i as u64)
    }

    /// The global whose bytes hold `slot`, if the binary was given and names one there.
    pub fn global_at(&self, slot: u64) -> Option<&Global> {
        let i = self.globals.partition_point(|g| g.address <= slot);
        let g = self.globals.get(i.checked_sub(1)?)?;
        (slot - g.address < g.size.max(1)).then_some(g)
    }
}

/// Whether the bytes start like a heap dump.
pub fn sniff(b: &[u8]) -> bool {
    b.starts_with(MAGIC)
}

/// What to keep of a dump's words besides its heap pointers, for typing its objects from the
/// binary: none of it is a heap pointer, so the dump's pointer lists leave it out.
#[derive(Clone, Debug, Default)]
pub struct Keep {
    /// The binary's text: an object's first word here is a closure's code pointer.
    pub code: std::ops::Range<u64>,
    /// The binary's type data and itabs: a word here right before a heap pointer is an
    /// interface's type or itab word.
    pub data: std::ops::Range<u64>,
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
    fn pointers_resolved_first_link_as_if_resolved_while_linking() {
        let d = parse(&tiny(), "t").unwrap();
        // Object 0 at 0x1000, object 1 at 0x1018 (16 B each): flag what is not an object's start.
        let find = |a: u64| match a {
            0x1000..0x1010 => (a != 0x1000) as u32 * (1 << 31),
            0x1018..0x1028 => 1 | ((a != 0x1018) as u32 * (1 << 31)),
            _ => NO_OBJECT,
        };
        let node = |t: u32| (t != NO_OBJECT).then_some(t & !(1 << 31));
        let mut once = d.objects.clone();
        let linked = once.link_in_place(&find, &node, &|_| {});
        let mut first = d.objects.clone();
        first.resolve_in_place(&find);
        assert_eq!([first.resolved(0), first.resolved(1)], [1, 0]);
        // Offsets stay beside the resolved pointers; resolving again changes nothing.
        first.resolve_in_place(&|_| panic!("resolved twice"));
        assert_eq!(first.resolved(0), 1);
        assert_eq!(first.target(0), 0);
        let resolved = first.link_in_place(&|_| panic!("resolved twice"), &node, &|_| {});
        assert_eq!(linked, resolved);
        assert_eq!(linked, (vec![1, 2], vec![1, 0]));
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
