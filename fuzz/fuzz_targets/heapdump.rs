//! Any bytes after the heap-dump header through the parser (also keeping what typing from a
//! binary keeps: pointer offsets, interface and closure words), then the object graph, cycles
//! and retained sizes: must never panic.
#![no_main]

use leakdiff::formats::heapdump;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = heapdump::MAGIC.to_vec();
    input.extend_from_slice(data);
    for bytes in [data, &input[..]] {
        if let Ok(d) = heapdump::parse(bytes, "fuzz") {
            let g = leakdiff::graph::build(&d);
            let _ = leakdiff::graph::report_cycles(&g);
            let _ = leakdiff::graph::retained_by_site(&g);
        }
        let keep = heapdump::Keep {
            code: 1..u64::MAX,
            data: 1..u64::MAX,
        };
        let _ = heapdump::parse_stream_with(bytes, "fuzz", &mut |_, _| {}, Some(keep));
    }
});
