//! `leakdiff export`: a loaded series written as data other tools read: the long table (JSON,
//! CSV, Parquet), the analysis as Prometheus text, or the first → last heap diff as a pprof
//! profile, folded stacks or speedscope.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};

use super::output::{emit, file_name, write_file, write_pprof};
use super::series::{self, Analysis};
use crate::diff::{self, DiffOptions};
use crate::report::export::{self, LongTable};
use crate::store::Store;

/// What `export` writes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The long table (`leakdiff.series/v1`): snapshots, keys, value types, rows.
    Json,
    /// The long table, one row per snapshot, key and value type.
    Csv,
    /// The store as Parquet (what `report --save` writes; `report --input` reads it back).
    Parquet,
    /// Prometheus text exposition: totals, goroutines, process metrics and per-suspect gauges.
    Prometheus,
    /// The first → last heap snapshot diff as a pprof profile (values later − base).
    Pprof,
    /// The first → last heap snapshots as folded stacks, `stack FIRST LAST` (difffolded).
    Folded,
    /// The first and last heap snapshots as one speedscope file (two profiles).
    Speedscope,
}

/// Writes `store` in `format` to `output` (standard output when none; parquet and pprof need a
/// file, which the command line asks for).
// Over 120 lines: one arm per format.
#[allow(clippy::too_many_lines)]
pub fn write(
    store: &Store,
    format: ExportFormat,
    output: Option<&Path>,
    analysis: &Analysis,
) -> Result<()> {
    match format {
        ExportFormat::Parquet => {
            let path = output.context("no output")?;
            write_file(path, |w| {
                store
                    .write_parquet(w, &path.display().to_string())
                    .map_err(io::Error::other)
            })?;
        }
        ExportFormat::Json | ExportFormat::Csv => {
            let long = store.long_table()?;
            let table = LongTable {
                schema: export::SERIES_SCHEMA,
                snapshots: &store.snapshots,
                value_types: &long.value_types,
                keys: &long.keys,
                rows: &long.rows,
            };
            let json = format == ExportFormat::Json;
            emit(output, |w: &mut dyn Write| -> io::Result<()> {
                if json {
                    export::write_series_json(&table, w)
                } else {
                    export::write_series_csv(&table, w)
                }
            })?;
        }
        ExportFormat::Prometheus => {
            let report = series::analyze(store, analysis, false)?;
            emit(output, |w| export::write_prometheus(&report, w))?;
        }
        ExportFormat::Folded | ExportFormat::Speedscope => {
            let ends = heap_ends(store)?;
            let names = (
                file_name(std::path::Path::new(
                    &store.snapshots[ends.first_index].source,
                )),
                file_name(std::path::Path::new(
                    &store.snapshots[ends.last_index].source,
                )),
            );
            let options = DiffOptions {
                sample: analysis.sample_index.clone(),
                ..Default::default()
            };
            let values = diff::stack_values(&ends.first, &ends.last, &ends.interner, &options)?;
            let folded = format == ExportFormat::Folded;
            emit(output, |w| {
                if folded {
                    crate::report::folded::write_diff(&ends.interner, &values, w)
                } else {
                    crate::report::speedscope::write(
                        &ends.interner,
                        &values,
                        &[&names.0, &names.1],
                        w,
                    )
                }
            })?;
        }
        ExportFormat::Pprof => {
            let ends = heap_ends(store)?;
            let (pa, pb) = (
                &store.snapshots[ends.first_index].source,
                &store.snapshots[ends.last_index].source,
            );
            let options = DiffOptions {
                sample: analysis.sample_index.clone(),
                ..Default::default()
            };
            let values = diff::stack_values(&ends.first, &ends.last, &ends.interner, &options)?;
            let comment = format!(
                "leakdiff diff: {pb} minus {pa} ({})",
                values.value_type.kind
            );
            let profile = diff::diff_profile(&values, &ends.interner, &comment)?;
            let path = output.context("no output")?;
            write_pprof(path, &profile, &ends.interner)?;
            eprintln!(
                "leakdiff: wrote the {} diff of {pa} → {pb} to {} (total {:+} {})",
                values.value_type.kind,
                path.display(),
                values.later_total - values.base_total,
                values.value_type.unit
            );
        }
    }
    Ok(())
}

/// The first and last heap snapshots a store kept, or why there are none.
fn heap_ends(store: &crate::store::Store) -> Result<&crate::store::HeapEnds> {
    store.heap_ends.as_ref().with_context(|| {
        if store.snapshots_of(crate::store::Kind::Heap).is_empty() {
            "no heap snapshots among the inputs to diff".to_string()
        } else {
            "this store holds no stacks to diff (saved by an older leakdiff): export from the snapshot files".to_string()
        }
    })
}
