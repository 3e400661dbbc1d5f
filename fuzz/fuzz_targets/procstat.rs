//! Any text after a process-sample header through its parser, then into the model: must never
//! panic.
#![no_main]

use leakdiff::formats::procstat;
use leakdiff::model::Interner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut with_header = format!("{}\n", procstat::HEADER).into_bytes();
    with_header.extend_from_slice(data);
    for input in [data, &with_header[..]] {
        if let Ok(s) = procstat::parse(input, "fuzz") {
            let _ = s.into_profile("fuzz", &mut Interner::new());
        }
    }
});
