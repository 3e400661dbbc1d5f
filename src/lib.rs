//! leakdiff: find memory leaks offline from the heap evidence programs already produce.
//!
//! Stages, each a module; imports point one way (held by the `layering` test, which reads every
//! module's `use crate::` lines against the table in CONTRIBUTING.md, "Source layout"):
//! - `units`, `model`: helpers and the data model; import nothing else.
//! - `formats` (bytes → profiles) → `symbolize` (ELF/DWARF) → `input` (paths → profiles, folders,
//!   a series into the store).
//! - `diff` (two snapshots), `trend` (one series), `goroutines` (the goroutine detector), `graph`
//!   (heap-dump object graphs), `store` (many snapshots, polars), `dataset` (fleet datasets on
//!   disk), `leaks` (the analysis of a store's hand-over), `check` (CI limits).
//! - `report` (writers only), `live` (HTTP, collect, the dashboard's server), `lab` (simulate,
//!   eval and its detectors), `watch` (a series judged as it is collected, alerts), `app` (each
//!   command's work, given typed options), then `cli` (flags → options, exit codes) and `main`.

#![warn(missing_docs)]

pub mod app;
pub mod check;
pub mod cli;
pub mod dataset;
pub mod diff;
pub mod fetch;
pub mod files;
pub mod formats;
pub mod goroutines;
pub mod graph;
pub mod input;
pub mod lab;
pub mod leaks;
pub mod live;
pub mod model;
pub mod progress;
pub mod report;
pub mod spill;
pub mod store;
pub mod symbolize;
pub mod trend;
pub mod units;
pub mod watch;
