//! leakdiff: find memory leaks offline from the heap evidence programs already produce.
//!
//! Stages, each a module with one-way dependencies:
//! `model` ← `formats` ← `symbolize` ; `model` ← `diff` ← `report` ← `cli`.

#![warn(missing_docs)]

pub mod check;
pub mod cli;
pub mod diff;
pub mod eval;
pub mod formats;
pub mod goroutines;
pub mod graph;
pub mod leaks;
pub mod model;
pub mod report;
pub mod simulate;
pub mod store;
pub mod symbolize;
pub mod trend;
pub mod units;
