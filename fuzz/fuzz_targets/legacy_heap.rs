//! Any text after a `heap profile:` header through the legacy heap parser: must never panic.
#![no_main]

use leakdiff::formats::pprof::legacy;
use leakdiff::model::Interner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut text = b"heap profile: 1: 2 [3: 4] @ heap_v2/524288\n".to_vec();
    text.extend_from_slice(data);
    let _ = legacy::parse(&text, "fuzz", &mut Interner::new());
    let _ = legacy::parse(data, "fuzz", &mut Interner::new());
});
