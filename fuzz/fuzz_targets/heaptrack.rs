//! Any bytes after a heaptrack version line through the streaming heaptrack reader and the model
//! conversion: must never panic.
#![no_main]

use leakdiff::formats::heaptrack::{read, HeaptrackOptions};
use leakdiff::model::Interner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for header in [&b"v 10400 2\n"[..], &b"v 10550 3\n"[..]] {
        let mut text = header.to_vec();
        text.extend_from_slice(data);
        if let Ok(rec) = read(&text[..], "fuzz", &HeaptrackOptions::default()) {
            let _ = rec.into_profile("fuzz", &mut Interner::new());
        }
    }
});
