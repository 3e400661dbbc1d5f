//! Allocator frames: the functions of Go's runtime, the C allocators and the interpreters'
//! allocators that sit above the caller that asked for memory, cut when naming a stack's site.

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
