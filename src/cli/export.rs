//! `leakdiff export`: a folder of snapshots as data other tools read: the long table (JSON, CSV,
//! Parquet), the analysis as Prometheus text, or the first → last heap diff as a pprof profile.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::analyze::{analyze_all, load_store, loader_for};
use super::{emit, write_pprof, EXIT_OK};
use crate::diff::{self, DiffOptions};
use crate::report::export::{self, LongTable};
use crate::store::{KeyBy, Kind, Order};
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
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    max_decompressed_size: i64,
}

pub(super) fn run_export(args: ExportArgs) -> Result<u8> {
    let binary = matches!(args.format, ExportFormat::Parquet | ExportFormat::Pprof);
    if binary && args.output.is_none() {
        anyhow::bail!(
            "--format {:?} writes a binary file: give --output FILE",
            args.format
        );
    }
    let loader = loader_for(args.max_decompressed_size, &[], &[], false);
    let store = load_store(&args.input, &loader, args.order, args.by, false)?;
    for f in &store.failures {
        eprintln!("leakdiff: skipped: {}", f.message);
    }
    match args.format {
        ExportFormat::Parquet => {
            let path = args.output.as_deref().context("no output")?;
            store.save(path)?;
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
            let report = analyze_all(&store, args.sample_index.clone(), args.memory_limit)?;
            emit(args.output.as_deref(), |w| {
                export::write_prometheus(&report, w)
            })?;
        }
        ExportFormat::Pprof => {
            let heap = store.snapshots_of(Kind::Heap);
            let (Some(&a), Some(&b)) = (heap.first(), heap.last()) else {
                anyhow::bail!("no heap snapshots among the inputs to diff");
            };
            let (pa, pb) = (
                PathBuf::from(&store.snapshots[a].source),
                PathBuf::from(&store.snapshots[b].source),
            );
            let (interner, base, later) = loader
                .load_pair(&pa, &pb)
                .context("the pprof export re-reads the first and last heap snapshot files")?;
            let options = DiffOptions {
                sample: args.sample_index.clone(),
                ..Default::default()
            };
            let values = diff::stack_values(&base, &later, &interner, &options)?;
            let comment = format!(
                "leakdiff diff: {} minus {} ({})",
                pb.display(),
                pa.display(),
                values.value_type.kind
            );
            let profile = diff::diff_profile(&values, &interner, &comment)?;
            let path = args.output.as_deref().context("no output")?;
            write_pprof(path, &profile, &interner)?;
            eprintln!(
                "leakdiff: wrote the {} diff of {} → {} to {} (total {:+} {})",
                values.value_type.kind,
                pa.display(),
                pb.display(),
                path.display(),
                values.later_total - values.base_total,
                values.value_type.unit
            );
        }
    }
    Ok(EXIT_OK)
}
