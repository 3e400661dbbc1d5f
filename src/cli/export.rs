//! `leakdiff export`: a folder of snapshots as data other tools read: the long table (JSON, CSV,
//! Parquet), the analysis as Prometheus text, or the first → last heap diff as a pprof profile.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::{InputArgs, SeriesInputs};
use super::series::{self, AnalysisArgs};
use super::{emit, write_file, write_pprof};
use crate::diff::{self, DiffOptions};
use crate::report::export::{self, LongTable};
use crate::store::{KeyBy, Order};

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

#[derive(Args, Debug)]
pub(super) struct ExportArgs {
    #[command(flatten)]
    inputs: SeriesInputs,
    /// Output format.
    #[arg(long, short = 'f', value_enum)]
    format: ExportFormat,
    /// Write here (required for parquet and pprof; else standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Snapshot order.
    #[arg(long, value_enum, default_value_t = Order::Time)]
    order: Order,
    /// What one series aggregates.
    #[arg(long, value_enum, default_value_t = KeyBy::Function)]
    by: KeyBy,
    #[command(flatten)]
    analysis: AnalysisArgs,
    #[command(flatten)]
    read: InputArgs,
}

pub(super) fn run_export(args: ExportArgs) -> Result<u8> {
    let binary = matches!(args.format, ExportFormat::Parquet | ExportFormat::Pprof);
    if binary && args.output.is_none() {
        anyhow::bail!(
            "--format {} writes a binary file: give --output FILE",
            clap::ValueEnum::to_possible_value(&args.format)
                .map_or_else(String::new, |v| v.get_name().to_string())
        );
    }
    let loader = series::loader(&args.read, &args.inputs.slices)?;
    let store = series::load_store(
        &args.inputs.all(),
        &args.inputs.dataset,
        &loader,
        args.order,
        args.by,
        true,
        args.analysis.frames()?,
    )?;
    match args.format {
        ExportFormat::Parquet => {
            let path = args.output.as_deref().context("no output")?;
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
            let json = args.format == ExportFormat::Json;
            emit(
                args.output.as_deref(),
                |w: &mut dyn Write| -> io::Result<()> {
                    if json {
                        export::write_series_json(&table, w)
                    } else {
                        export::write_series_csv(&table, w)
                    }
                },
            )?;
        }
        ExportFormat::Prometheus => {
            let report = args.analysis.analyze(&store, 0, false)?;
            emit(args.output.as_deref(), |w| {
                export::write_prometheus(&report, w)
            })?;
        }
        ExportFormat::Folded | ExportFormat::Speedscope => {
            let ends = heap_ends(&store)?;
            let names = (
                super::file_name(std::path::Path::new(
                    &store.snapshots[ends.first_index].source,
                )),
                super::file_name(std::path::Path::new(
                    &store.snapshots[ends.last_index].source,
                )),
            );
            let options = DiffOptions {
                sample: args.analysis.sample_index.clone(),
                ..Default::default()
            };
            let values = diff::stack_values(&ends.first, &ends.last, &ends.interner, &options)?;
            let folded = args.format == ExportFormat::Folded;
            emit(args.output.as_deref(), |w| {
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
            let ends = heap_ends(&store)?;
            let (pa, pb) = (
                &store.snapshots[ends.first_index].source,
                &store.snapshots[ends.last_index].source,
            );
            let options = DiffOptions {
                sample: args.analysis.sample_index.clone(),
                ..Default::default()
            };
            let values = diff::stack_values(&ends.first, &ends.last, &ends.interner, &options)?;
            let comment = format!(
                "leakdiff diff: {pb} minus {pa} ({})",
                values.value_type.kind
            );
            let profile = diff::diff_profile(&values, &ends.interner, &comment)?;
            let path = args.output.as_deref().context("no output")?;
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
    Ok(series::status_of(&store))
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
