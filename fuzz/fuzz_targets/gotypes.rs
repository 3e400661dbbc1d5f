//! Any bytes as a Go binary or DWARF-only debug file through the types reader (ELF, compressed
//! debug sections, DWARF units, entries and location lists), then every type asked for its
//! size, slots, boxes and field paths: must never panic nor hang. Seed the corpus with the
//! committed debug files (`testdata/go/typesgen/*.debug`) to reach the DWARF past the ELF.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(types) = leakdiff::symbolize::gotypes::parse(data) {
        for t in 0..types.types.len().min(4096) as u32 {
            let _ = (types.size(t), types.boxed(t), types.name(t));
            for off in (0..32).step_by(8) {
                let _ = (types.slot(t, off), types.field_path(t, off));
            }
        }
    }
});
