//! `leakdiff ingest`: snapshot files (or a saved store) appended to a fleet dataset as one
//! service's rows; and the same for `collect --dataset`, one round at a time.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use super::args::{DatasetArgs, InputArgs, SeriesInputs};
use super::series;
use crate::dataset::{self, IngestStats};
use crate::input::{self, InputFile, Loader, SeriesOptions};
use crate::live::collect::Flow;
use crate::store::{KeyBy, Order, Store};

#[derive(Args, Debug)]
pub(super) struct IngestArgs {
    #[command(flatten)]
    inputs: SeriesInputs,
    /// The dataset folder (created if missing).
    #[arg(long, short = 'o', value_name = "DATASET")]
    output: PathBuf,
    /// Snapshot order for snapshots without a time of their own (their file's mtime is their time).
    #[arg(long, value_enum, default_value_t = Order::Time)]
    order: Order,
    /// No progress line on stderr.
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    read: InputArgs,
}

/// Appends a store to the dataset and says what it did.
pub(super) fn ingest_store(dataset: &Path, service: &str, store: &Store) -> Result<IngestStats> {
    let stats = dataset::ingest(dataset, service, store)?;
    eprintln!(
        "leakdiff: ingest: {} snapshot(s), {} row(s) into {} part(s) of {} (service {service}){}",
        stats.snapshots,
        stats.rows,
        stats.parts.len(),
        dataset.display(),
        if stats.already > 0 {
            format!("; {} already there, left out", stats.already)
        } else {
            String::new()
        }
    );
    Ok(stats)
}

pub(super) fn run_ingest(args: IngestArgs) -> Result<u8> {
    let service = args.inputs.dataset.service.clone().ok_or_else(|| {
        anyhow::anyhow!("name the service the snapshots belong to: --service NAME")
    })?;
    dataset::check_service(&service)?;
    let loader = series::loader(&args.read, &args.inputs.slices)?;
    let inputs = args.inputs.all();
    // --service names the service written; from a dataset input it is also the one read, and
    // --since/--until select from it.
    let from_dataset = inputs.len() == 1 && dataset::is_dataset(&inputs[0]);
    let read_filter = DatasetArgs {
        service: from_dataset.then(|| service.clone()),
        ..args.inputs.dataset.clone()
    };
    let store = crate::app::series::load_store(
        &inputs,
        &read_filter.filter()?,
        &loader,
        args.order,
        KeyBy::Function,
        !args.no_progress,
        Default::default(),
    )?;
    ingest_store(&args.output, &service, &store)?;
    Ok(crate::app::series::status_of(&store))
}

/// The sink of `collect --dataset`: each round's files loaded as a folder's (one form of
/// goroutine evidence per moment) and ingested; with `remove`, the files are deleted once their
/// rows are in.
pub(super) fn round_sink(
    dataset: PathBuf,
    service: String,
    remove: bool,
) -> impl FnMut(&[PathBuf]) -> Result<Flow, String> {
    let loader = Loader::new(Default::default(), Default::default());
    move |paths: &[PathBuf]| {
        let files = InputFile::of_folder(paths);
        let options = SeriesOptions {
            order: Order::Time,
            by: KeyBy::Function,
            progress: None,
            frames: Default::default(),
        };
        let store = input::load_files(&files, &loader, &options).map_err(|e| e.to_string())?;
        for f in &store.failures {
            eprintln!("leakdiff: collect: not ingested: {}", f.message);
        }
        dataset::ingest(&dataset, &service, &store).map_err(|e| format!("ingest: {e}"))?;
        if remove && store.failures.is_empty() {
            for p in paths {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(Flow::Go)
    }
}
