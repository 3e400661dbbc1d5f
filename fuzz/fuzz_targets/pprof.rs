//! Any bytes through the whole pprof path (gzip sniff, capped decompression, wire decode, model
//! conversion) and a diff of the result with itself: must return, never panic.
#![no_main]

use leakdiff::diff::{diff, DiffOptions, Granularity};
use leakdiff::formats::{parse_bytes, ReadOptions};
use leakdiff::model::Interner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ReadOptions { max_decompressed_bytes: 8 << 20, ..Default::default() };
    let mut interner = Interner::new();
    if let Ok(p) = parse_bytes(data.to_vec(), "fuzz", &mut interner, &opts) {
        for by in [Granularity::Function, Granularity::Stack, Granularity::File] {
            let _ = diff(&p, &p, &interner, &DiffOptions { by, ..Default::default() });
        }
    }
});
