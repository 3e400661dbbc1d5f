//! Any text after a `heap_v2/` header through the jemalloc parser, then symbolization-free
//! conversion into the model: must never panic.
#![no_main]

use leakdiff::formats::{jemalloc, pprof};
use leakdiff::model::{Format, Interner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut text = b"heap_v2/4096\n".to_vec();
    text.extend_from_slice(data);
    for input in [&text[..], data] {
        if let Ok(p) = jemalloc::to_schema(input, "fuzz") {
            let _ = pprof::from_schema(&p, "fuzz", Format::Jemalloc, &mut Interner::new());
        }
    }
});
