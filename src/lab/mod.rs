//! The lab: synthetic series with planted leaks ([`simulate`]), the detectors run on
//! truth-labelled folders ([`detect`]) and their scores ([`eval`]): `leakdiff simulate` and
//! `leakdiff eval`.
//!
//! May import: `model`, `formats`, `input`, `store`, `goroutines`, `graph`, `leaks`, `units`.
//! `simulate` and `eval` do no I/O; `detect` finds the scenario folders and reads them through
//! `input`.

pub mod detect;
pub mod eval;
pub mod simulate;
