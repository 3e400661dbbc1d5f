//! What the commands over a series share (report, goroutines, check, export, dashboard,
//! ingest): the loading prelude (the loader, heaptrack slices, a dataset or the files under the
//! inputs, what was left out said once), the analysis flags and the analysis, and the exit status
//! of a run over a store.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::{DatasetArgs, InputArgs, SeriesSlices};
use super::{EXIT_ERROR, EXIT_OK};
use crate::input::{self, Loader, SeriesOptions};
use crate::leaks::{self, AnalyzeOptions, Report};
use crate::progress::Progress;
use crate::store::{KeyBy, Kind, Order, Store};
use crate::units::parse_size;

/// The analysis flags of every command that trends a series.
#[derive(Args, Debug, Clone)]
pub(super) struct AnalysisArgs {
    /// Value type to trend (default: inuse_space, else an in-use column every snapshot has; an
    /// alloc_* counter only when named). `check BASE LATER`: as `diff --sample-index`.
    #[arg(long, value_name = "NAME")]
    pub sample_index: Option<String>,
    /// Net growth below this is never a leak (bytes like 64KiB, or a count). Default 16KiB (16
    /// for counts), and at least two sampling periods of the inputs.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub min_growth: Option<i64>,
    /// Project when the total in-use crosses this (e.g. 2GiB), with an interval; it also weighs
    /// in each suspect's severity (time to the limit).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<i64>,
    /// Significance level of the Mann–Kendall trend test.
    #[arg(long, value_name = "P", default_value_t = 0.05)]
    pub alpha: f64,
    /// Judge the Go profiler's own allocations (stacks through runtime/pprof or net/http/pprof:
    /// serving the profiles to a collector) like any other; by default they are left out of the
    /// suspects and shown once as profiler overhead.
    #[arg(long)]
    pub keep_profiler: bool,
    /// Trend at most N snapshots of each kind, evenly spaced, first and last kept (0 = all):
    /// the pairwise trend statistics are quadratic in the points. Default 1000; `watch`, which
    /// judges after every round, 200.
    #[arg(long, value_name = "N")]
    max_points: Option<usize>,
    /// Name heap keys past frames whose function fully matches this regex too, as past the
    /// allocator's (pprof's drop_frames): `--drop-frames 'mylib::pool::.*'` keys a leak by the
    /// caller of a pool.
    #[arg(long, value_name = "REGEX")]
    pub drop_frames: Option<String>,
    /// Never skip a frame whose function fully matches this regex when naming a heap key
    /// (pprof's keep_frames): `--keep-frames 'std::vector.*push_back.*'` keys by the push.
    #[arg(long, value_name = "REGEX")]
    pub keep_frames: Option<String>,
}

impl AnalysisArgs {
    /// The frames heap keys skip, from `--keep-frames` and `--drop-frames`.
    pub fn frames(&self) -> Result<crate::store::FrameRules> {
        crate::store::FrameRules::new(self.keep_frames.as_deref(), self.drop_frames.as_deref())
            .context("--keep-frames or --drop-frames is not a valid regular expression")
    }

    /// The analysis options these flags give, showing at most `top` suspects (0: all).
    pub fn options(&self, top: usize) -> AnalyzeOptions {
        AnalyzeOptions {
            min_growth: self.min_growth.map(|v| v as f64),
            memory_limit: self.memory_limit.map(|v| v as f64),
            alpha: self.alpha,
            top,
            keep_profiler: self.keep_profiler,
            ..Default::default()
        }
    }

    /// `--max-points`, else `default`.
    pub fn max_points_or(&self, default: usize) -> usize {
        self.max_points.unwrap_or(default)
    }

    /// Analyses a store, keeping at most `top` suspects (0: all); says on stderr when a long
    /// series is thinned (`--max-points`) when `say_thinned`.
    pub fn analyze(&self, store: &Store, top: usize, say_thinned: bool) -> Result<Report> {
        let max_points = self.max_points_or(crate::store::DEFAULT_MAX_POINTS);
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
        let evidence = store.evidence_with(self.sample_index.as_deref(), max_points)?;
        Ok(leaks::analyze(&evidence, &self.options(top))?)
    }
}

/// The loader of a series command: the input flags, heaptrack recordings cut as asked.
pub(super) fn loader(read: &InputArgs, slices: &SeriesSlices) -> Result<Loader> {
    let mut loader = read.loader()?;
    slices.apply(&mut loader);
    Ok(loader)
}

/// Loads the store: one dataset or Parquet store, or every snapshot file under the inputs, with
/// a progress line when asked; prints one line per input left out or broken.
pub(super) fn load_store(
    inputs: &[PathBuf],
    dataset: &DatasetArgs,
    loader: &Loader,
    order: Order,
    by: KeyBy,
    progress: bool,
    frames: crate::store::FrameRules,
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
        !dataset.any(),
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

/// A fleet dataset's store, as [`DatasetArgs`] select it.
fn load_dataset(
    path: &std::path::Path,
    dataset: &DatasetArgs,
    by: KeyBy,
    progress: bool,
) -> Result<Store> {
    anyhow::ensure!(
        by == KeyBy::Function,
        "a dataset is keyed by function (as ingested); --by {} needs the snapshot files",
        clap::ValueEnum::to_possible_value(&by)
            .map_or_else(String::new, |v| v.get_name().to_string())
    );
    let (store, stats) = crate::dataset::read(path, &dataset.filter()?)?;
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
pub(super) fn status_of(store: &Store) -> u8 {
    if store.failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    }
}
