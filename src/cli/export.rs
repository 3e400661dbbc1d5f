//! `leakdiff export`: a folder of snapshots as data other tools read: the long table (JSON, CSV,
//! Parquet), the analysis as Prometheus text, or the first → last heap diff as a pprof profile.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::InputArgs;
use super::report::{analyze_all, load_store, status_of};
use super::{emit, write_file, write_pprof};
use crate::diff::{self, DiffOptions};
use crate::report::export::{self, LongTable};
use crate::store::{KeyBy, Order};
use crate::units::parse_size;

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
}

#[derive(Args, Debug)]
pub(super) struct ExportArgs {
    /// Snapshots: folders (read recursively), files, or a Parquet store.
    #[arg(long, short = 'i', value_name = "PATH", required = true)]
    input: Vec<PathBuf>,
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
    /// Value type (default inuse_space, else the first in bytes).
    #[arg(long, value_name = "NAME")]
    sample_index: Option<String>,
    /// Memory limit for the time-to-limit gauges (e.g. 2GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<i64>,
    #[command(flatten)]
    read: InputArgs,
}

pub(super) fn run_export(args: ExportArgs) -> Result<u8> {
    let binary = matches!(args.format, ExportFormat::Parquet | ExportFormat::Pprof);
    if binary && args.output.is_none() {
        anyhow::bail!(
            "--format {:?} writes a binary file: give --output FILE",
            args.format
        );
    }
    let loader = args.read.loader()?;
    let store = load_store(&args.input, &loader, args.order, args.by, false)?;
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
            let report = analyze_all(&store, args.sample_index.as_deref(), args.memory_limit)?;
            emit(args.output.as_deref(), |w| {
                export::write_prometheus(&report, w)
            })?;
        }
        ExportFormat::Pprof => {
            let ends = store.heap_ends.as_ref().with_context(|| {
                if store.snapshots_of(crate::store::Kind::Heap).is_empty() {
                    "no heap snapshots among the inputs to diff".to_string()
                } else {
                    "this store holds no stacks to diff (saved by an older leakdiff): export from the snapshot files".to_string()
                }
            })?;
            let (pa, pb) = (
                &store.snapshots[ends.first_index].source,
                &store.snapshots[ends.last_index].source,
            );
            let options = DiffOptions {
                sample: args.sample_index.clone(),
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
    Ok(status_of(&store))
}
