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

/// The native allocators' entry points and internals, as symbolizers name them: the C library's
/// (glibc's `__libc_malloc`, `_int_malloc`, …), jemalloc's (also linked statically with a `je_` or
/// `_rjem_` prefix, as Rust's tikv-jemallocator does, and its profiler's backtrace), tcmalloc's,
/// C++'s `operator new`, and Rust's global-allocator shims. Exact names.
pub const NATIVE_ALLOCATOR_FUNCTIONS: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "mallocx",
    "rallocx",
    "xallocx",
    "strdup",
    "strndup",
    "sysmalloc",
    "tcache_get",
    "malloc_default",
    "do_rallocx",
    "prof_backtrace",
    "prof_backtrace_impl",
    "prof_tctx_create",
    "prof_alloc_prep",
    "__rust_alloc",
    "__rust_alloc_zeroed",
    "__rust_realloc",
    "__rdl_alloc",
    "__rdl_alloc_zeroed",
    "__rdl_realloc",
    "__rg_alloc",
    "__rg_alloc_zeroed",
    "__rg_realloc",
];

/// Prefixes of the native allocators' functions ([`NATIVE_ALLOCATOR_FUNCTIONS`]) and of the
/// standard libraries' containers that allocate for their caller: C++'s `operator new` in every
/// overload, `std::` and `__gnu_cxx::` (vectors, strings, maps, `make_unique`), Rust's `alloc::`,
/// `core::`, `std::` and `hashbrown::` (`RawVec` growth, `Vec::push`, `HashMap::insert`), the
/// allocator shims as Rust 1.9x mangles them (`__rustc::__rust_alloc`, `__rustc::__rust_realloc`),
/// and jemalloc's and glibc's internals.
pub const NATIVE_ALLOCATOR_PREFIXES: &[&str] = &[
    "operator new",
    "std::",
    "__gnu_cxx::",
    "alloc::",
    "core::",
    "hashbrown::",
    "__rustc::",
    "<alloc::",
    "<core::",
    "<std::",
    "<hashbrown::",
    "je_",
    "_rjem_",
    "imalloc",
    "ialloc",
    "iralloc",
    "__libc_",
    "__GI___libc_",
    "_int_malloc",
    "_int_realloc",
    "_int_memalign",
    "tcmalloc::",
    "tc_",
];

/// Whether a function is the runtime's allocator or a helper allocating for its caller (Go's
/// runtime, CPython's allocator API under a native profiler, the native allocators and the
/// standard libraries' containers of C++ and Rust). A key is named after the first frame past
/// them: a Rust leak after `app::register`, not `_rjem_je_prof_backtrace` or `RawVec::grow_one`.
pub fn is_allocator_function(function: &str) -> bool {
    if in_standard_library(function) {
        return true;
    }
    let function = without_return_type(function);
    ALLOCATOR_FUNCTIONS.contains(&function)
        || ALLOCATOR_PREFIXES.iter().any(|p| function.starts_with(p))
        || INTERPRETER_ALLOCATOR_FUNCTIONS.contains(&function)
        || NATIVE_ALLOCATOR_FUNCTIONS.contains(&function)
        || NATIVE_ALLOCATOR_PREFIXES
            .iter()
            .any(|p| function.starts_with(p))
        || is_std_impl(function)
}

/// A demangled C++ function without the return type the demangler writes first for a function
/// template (`void std::vector<Event, std::allocator<Event> >::_M_realloc_insert<Event const&>(…)`
/// is `std::vector<…>::_M_realloc_insert<…>(…)`), so that its own name is what the prefixes see,
/// not its return type's (`std::string app::render()` is the program's). The name starts after
/// the last space outside brackets before the parameter list or an `operator` (whose own name
/// may have spaces: `operator new(unsigned long)`, `app::Id::operator unsigned long()`).
fn without_return_type(function: &str) -> &str {
    // Most names (Go's, C's, a method without a template) have no space at all.
    if !function.contains(' ') {
        return function;
    }
    let bytes = function.as_bytes();
    // The last space outside brackets before the parameter list or an `operator`.
    let (mut depth, mut space, mut i) = (0usize, None, 0);
    while i < bytes.len() {
        let rest = &function[i..];
        match bytes[i] {
            // `(anonymous namespace)::` is a scope, not the parameter list.
            b'(' if rest.starts_with("(anonymous namespace)") => {
                i += "(anonymous namespace)".len();
                continue;
            }
            // `operator()`, `operator<`, `operator new`: what follows is the operator's name.
            b'o' if depth == 0
                && rest.starts_with("operator")
                && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b':') =>
            {
                break
            }
            b'(' if depth == 0 => break,
            b'<' | b'(' | b'[' | b'{' => depth += 1,
            b'>' | b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b' ' if depth == 0 => space = Some(i),
            _ => {}
        }
        i += 1;
    }
    space.map_or(function, |at| &function[at + 1..])
}

/// Shared objects of the C and C++ runtimes and of the allocators, by file name: an address in
/// one of them that no symbol names (`libstdc++.so.6.0.30+0x13fcdd`, as a profile reads without
/// the library's symbols) is standard-library code allocating for its caller, never the
/// program's own.
const STANDARD_LIBRARIES: &[&str] = &[
    "libstdc++.so",
    "libc++.so",
    "libc++abi.so",
    "libc.so",
    "libjemalloc.so",
    "libtcmalloc.so",
    "libtcmalloc_minimal.so",
    "libtcmalloc_and_profiler.so",
    "libmimalloc.so",
];

/// An unnamed frame (`MODULE+0xOFFSET`, maybe with an `(after NAME)` hint) in one of the
/// [`STANDARD_LIBRARIES`].
fn in_standard_library(function: &str) -> bool {
    let Some((module, rest)) = function.split_once("+0x") else {
        return false;
    };
    rest.starts_with(|c: char| c.is_ascii_hexdigit()) && is_standard_library(module)
}

/// Whether a module's file name (`libstdc++.so.6.0.30`) is one of the [`STANDARD_LIBRARIES`].
pub fn is_standard_library(module: &str) -> bool {
    STANDARD_LIBRARIES.iter().any(|lib| {
        module
            .strip_prefix(lib)
            .is_some_and(|v| v.is_empty() || v.starts_with('.'))
    })
}

/// V8's pseudo-frames, as Node's heap profilers (`@datadog/pprof`) write them, and what each
/// stands for: no code of the program's, so never a leak's key when code is on the stack, and
/// explained when it is alone.
pub const V8_PSEUDO_FRAMES: &[(&str, &str)] = &[
    (
        "(external)",
        "memory outside the JS heap (Buffer and ArrayBuffer backing stores), held by JS objects elsewhere in the profile",
    ),
    (
        "(V8 API)",
        "allocated by native code through V8's API (an addon, or Node's own C++)",
    ),
    ("(program)", "allocated by V8 itself, outside any JS function"),
    ("(garbage collector)", "allocated by V8's garbage collector"),
    ("(idle)", "allocated while the JS thread was idle"),
    ("(root)", "the profile's root, with no frame of its own"),
];

/// What a V8 pseudo-frame stands for ([`V8_PSEUDO_FRAMES`]); `None` for a real function.
pub fn pseudo_frame(function: &str) -> Option<&'static str> {
    V8_PSEUDO_FRAMES
        .iter()
        .find(|(name, _)| *name == function)
        .map(|(_, meaning)| *meaning)
}

/// A Rust trait method of the standard library's types: `<u8 as alloc::vec::spec_from_elem::
/// SpecFromElem>::from_elem`, `<T as core::clone::Clone>::clone`.
fn is_std_impl(function: &str) -> bool {
    function.starts_with('<')
        && [" as alloc::", " as core::", " as std::", " as hashbrown::"]
            .iter()
            .any(|t| function.contains(t))
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

#[cfg(test)]
mod tests {
    use super::is_allocator_function as alloc;

    #[test]
    fn native_allocators_and_standard_containers_are_the_allocators_side() {
        for f in [
            "_rjem_je_prof_backtrace",
            "prof_backtrace_impl",
            "_rjem_je_malloc_default",
            "do_rallocx",
            "__rust_alloc",
            "__rustc::__rust_alloc",
            "__rustc::__rust_realloc",
            "alloc::alloc::alloc",
            "alloc::raw_vec::RawVecInner<A>::reserve::do_reserve_and_handle",
            "alloc::raw_vec::finish_grow",
            "<alloc::vec::Vec<T,A> as core::clone::Clone>::clone",
            "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem",
            "hashbrown::raw::RawTable<T,A>::reserve_rehash",
            "std::collections::hash::map::HashMap<K,V,S>::insert",
            "operator new(unsigned long)",
            "operator new[](unsigned long)",
            "std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>",
            "__gnu_cxx::new_allocator<char>::allocate(unsigned long, void const*)",
            "malloc",
            "__libc_malloc",
            "_int_malloc",
            "tcmalloc::allocate_full_malloc_oom",
            "runtime.mallocgc",
            "PyObject_Malloc",
            // Function templates as the demangler writes them: the return type first.
            "void std::vector<Event, std::allocator<Event> >::_M_realloc_insert<Event const&>(__gnu_cxx::__normal_iterator<Event*, std::vector<Event, std::allocator<Event> > >, Event const&)",
            "void std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::_M_construct<char*>(char*, char*, std::forward_iterator_tag)",
            "std::pair<std::__detail::_Node_iterator<std::pair<int const, int>, false, false>, bool> std::_Hashtable<int, int>::_M_emplace<int>(std::integral_constant<bool, true>, int&&)",
            "unsigned long std::__detail::_Hash_bytes<char>(char const*)",
            "libstdc++.so.6.0.30+0x13fcdd",
            "libstdc++.so.6+0xa57b9 (after std::__throw_ios_failure(char const*, int))",
            "libc.so.6+0x9a0c2",
            "libjemalloc.so.2+0x1234",
        ] {
            assert!(alloc(f), "{f}");
        }
        for f in [
            "app::register",
            "<app::Session as app::Store>::put",
            "cache_session",
            "main.cacheSession",
            "Session::open()",
            "gawk+0x6596c",
            "standard_lib_like_name",
            "corelib_init",
            // The program's functions, whatever type they return.
            "std::string app::render(int)",
            "std::vector<int, std::allocator<int> > make_ids<int>(unsigned long)",
            "std::unique_ptr<Session, std::default_delete<Session> > (anonymous namespace)::open_session(int)",
            "void register_session(Registry&, std::__cxx11::basic_string<char> const&, unsigned int)",
            "register_session(Registry&, std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > const&, unsigned int)",
            "app::Id::operator unsigned long() const",
            "sessions-lld+0x17ae",
            "libstdcxx_like.so+0x10",
            "libcrypto.so.3+0x1f00",
        ] {
            assert!(!alloc(f), "{f}");
        }
    }
}
