//! The flags of the commands over a series (report, goroutines, check, export, dashboard,
//! ingest, watch): the analysis flags, and the loader with heaptrack recordings cut as asked.
//! Loading and analysing are `app::series`.

use anyhow::{Context, Result};
use clap::Args;

use super::args::{InputArgs, SeriesSlices};
use crate::app;
use crate::input::Loader;
use crate::leaks::{AnalyzeOptions, Report};
use crate::store::Store;
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
        app::series::analyze(store, &self.analysis(top), say_thinned)
    }

    /// The analysis these flags ask for, showing at most `top` suspects (0: all).
    pub fn analysis(&self, top: usize) -> app::series::Analysis {
        app::series::Analysis {
            sample_index: self.sample_index.clone(),
            max_points: self.max_points_or(crate::store::DEFAULT_MAX_POINTS),
            options: self.options(top),
        }
    }
}

/// The loader of a series command: the input flags, heaptrack recordings cut as asked.
pub(super) fn loader(read: &InputArgs, slices: &SeriesSlices) -> Result<Loader> {
    let mut loader = read.loader()?;
    slices.apply(&mut loader);
    Ok(loader)
}
