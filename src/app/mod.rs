//! What each command does once its flags are read: load the inputs, call the stages, write the
//! outputs, and say on stderr what was left out. `cli` turns flags into the typed jobs here and
//! maps the outcome to an exit status; this floor parses no flag and holds no rule of the analysis.
//!
//! May import: `model`, `formats`, `input`, `store`, `dataset`, `diff`, `check`, `graph`, `leaks`,
//! `report`, `live`, `lab`, `progress`, `files`, `units`.

pub mod check;
pub mod dashboard;
pub mod diff;
pub mod dumps;
pub mod export;
pub mod lab;
pub mod output;
pub mod series;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: a threshold the user asked to fail on was crossed.
pub const EXIT_THRESHOLD: u8 = 1;
/// Exit status: an error.
pub const EXIT_ERROR: u8 = 2;
