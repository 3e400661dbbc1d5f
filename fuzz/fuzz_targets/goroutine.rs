//! Any text through the goroutine dump parser (as a debug=2 dump and as a debug=1 profile), then
//! into the model: must never panic.
#![no_main]

use leakdiff::formats::goroutine;
use leakdiff::model::Interner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d1 = b"goroutine profile: total 1\n".to_vec();
    d1.extend_from_slice(data);
    let mut d2 = b"goroutine 1 [running]:\n".to_vec();
    d2.extend_from_slice(data);
    for input in [data, &d1[..], &d2[..]] {
        if let Ok(d) = goroutine::parse(input, "fuzz") {
            let _ = d.into_profile("fuzz", &mut Interner::new());
        }
    }
});
