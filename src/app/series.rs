//! What the commands over a series share (report, goroutines, check, export, dashboard,
//! ingest): the store loaded from a dataset or the files under the inputs, with what was left
//! out said once; the analysis; the exit status of a run over a store.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{EXIT_ERROR, EXIT_OK};
use crate::input::{self, Loader, SeriesOptions};
use crate::leaks::{self, AnalyzeOptions, Report};
use crate::progress::Progress;
use crate::store::{FrameRules, KeyBy, Kind, Order, Store};

/// The analysis a command asked for.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// The value type to trend (None: the default).
    pub sample_index: Option<String>,
    /// At most this many points of each kind, evenly spaced (0: all).
    pub max_points: usize,
    /// The analysis' knobs.
    pub options: AnalyzeOptions,
}

/// Analyses a store; says on stderr when a long series is thinned when `say_thinned`.
pub fn analyze(store: &Store, analysis: &Analysis, say_thinned: bool) -> Result<Report> {
    let max_points = analysis.max_points;
    if say_thinned {
        for kind in [Kind::Heap, Kind::Goroutine, Kind::Process] {
            let n = store.snapshots_of(kind).len();
            if max_points > 0 && n > max_points {
                eprintln!(
                    "leakdiff: {} {} snapshots: trending {} of them, evenly spaced (--max-points)",
                    n,
                    kind.name(),
                    max_points
                );
            }
        }
    }
    let evidence = store.evidence_with(analysis.sample_index.as_deref(), max_points)?;
    Ok(leaks::analyze(&evidence, &analysis.options)?)
}

/// Loads the store: one dataset or Parquet store, or every snapshot file under the inputs, with
/// a progress line when asked; prints one line per input left out or broken.
pub fn load_store(
    inputs: &[PathBuf],
    dataset: &crate::dataset::Filter,
    loader: &Loader,
    order: Order,
    by: KeyBy,
    progress: bool,
    frames: FrameRules,
) -> Result<Store> {
    let custom = frames.keep.is_some() || frames.drop.is_some();
    if custom
        && inputs.len() == 1
        && (crate::dataset::is_dataset(&inputs[0]) || input::is_parquet(&inputs[0]))
    {
        anyhow::bail!(
            "--keep-frames and --drop-frames name keys as snapshots are read; {} holds keys made when it was written",
            inputs[0].display()
        );
    }
    if inputs.len() == 1 && crate::dataset::is_dataset(&inputs[0]) {
        return load_dataset(&inputs[0], dataset, by, progress);
    }
    anyhow::ensure!(
        dataset.service.is_none() && dataset.since_ns.is_none() && dataset.until_ns.is_none(),
        "--service, --since and --until are for a dataset (written by `leakdiff ingest`); {} is none",
        inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bar = Progress::new(progress);
    let tick = |done: usize, total: usize| bar.tick(done, total);
    let options = SeriesOptions {
        order,
        by,
        progress: Some(&tick),
        frames,
    };
    let store = input::load_series(inputs, loader, &options);
    bar.finish();
    let store = store?;
    for w in &store.warnings {
        eprintln!("leakdiff: warning: {}", w.message);
    }
    for f in &store.skipped {
        eprintln!("leakdiff: left out: {}: {}", f.source, f.message);
    }
    for f in &store.failures {
        eprintln!("leakdiff: error: {}", f.message);
    }
    if let Some(w) = loader.symbolizer.warning() {
        eprintln!("leakdiff: warning: {w}");
    }
    Ok(store)
}

/// A fleet dataset's store, the part `dataset` selects.
fn load_dataset(
    path: &Path,
    dataset: &crate::dataset::Filter,
    by: KeyBy,
    progress: bool,
) -> Result<Store> {
    anyhow::ensure!(
        by == KeyBy::Function,
        "a dataset is keyed by function (as ingested); --by {} needs the snapshot files",
        clap::ValueEnum::to_possible_value(&by)
            .map_or_else(String::new, |v| v.get_name().to_string())
    );
    let (store, stats) = crate::dataset::read(path, dataset)?;
    for n in &stats.notes {
        eprintln!("leakdiff: left out: {n}");
    }
    if progress {
        eprintln!(
            "leakdiff: dataset {}: service {}, {} of {} date partition(s) read, {} part(s) ({} left out by time), {} snapshot(s){}",
            path.display(),
            stats.service,
            stats.partitions_read,
            stats.partitions,
            stats.parts_read,
            stats.parts_pruned,
            stats.snapshots,
            if stats.unfinished > 0 {
                format!(", {} unfinished write(s) ignored", stats.unfinished)
            } else {
                String::new()
            }
        );
    }
    Ok(store)
}

/// The exit status of a run over a store: 2 when an input was broken (the rest was analysed).
pub fn status_of(store: &Store) -> u8 {
    if store.failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    }
}
