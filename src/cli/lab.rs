//! `leakdiff simulate` (a synthetic series with its truth, written into a folder) and
//! `leakdiff eval` (the lab's detectors on truth-labelled folders, scored).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::app::lab::{EvalFormat, EvalJob};
use crate::input::Loader;
use crate::lab::simulate::{GoroutineForm, LeakType, SimOptions, SimPattern};
use crate::units::{parse_duration_ms, parse_rate, parse_size};

#[derive(Args, Debug)]
pub(super) struct SimulateArgs {
    /// What leaks: heap bytes (pprof heap profiles), goroutines (goroutine profiles or debug=2
    /// dumps) or reference cycles (Go heap dumps).
    #[arg(long = "type", value_enum, default_value_t = LeakType::Memory)]
    leak_type: LeakType,
    /// Shape of the planted subject; oscillating and plateau make a leak-free series.
    #[arg(long, value_enum, default_value_t = SimPattern::Linear)]
    pattern: SimPattern,
    /// Memory growth of the subject (average over the series), e.g. 1MB/s, 64KiB/s.
    #[arg(long, value_name = "SIZE/s", value_parser = parse_rate, default_value = "64KiB/s")]
    growth: f64,
    /// Goroutines or cycles the subject gains, e.g. 10/s, 6/m (default 0.2/s goroutines, 1/s
    /// cycles).
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    rate: Option<f64>,
    /// Size of the steady background: live objects (memory: 200000, cycle: 2000) or goroutines
    /// (200).
    #[arg(long, value_name = "N")]
    objects: Option<usize>,
    /// Number of snapshots.
    #[arg(long, value_name = "N", default_value_t = 12)]
    snapshots: usize,
    /// Time between snapshots.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "30s")]
    interval: u64,
    /// Seed: the same seed and options give the same files.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Form of goroutine snapshots.
    #[arg(long, value_enum, default_value_t = GoroutineForm::Pprof)]
    goroutine_format: GoroutineForm,
    /// Memory: add a last snapshot taken while the process tears down (everything freed but 2 %),
    /// as a recording made to the program's exit ends.
    #[arg(long)]
    teardown: bool,
    /// Memory: add the Go profiler's own allocations (net/http/pprof serving the profiles to a
    /// collector: runtime/pprof and compress/flate sites that grow and churn; not leaks).
    #[arg(long)]
    profiler_noise: bool,
    /// Memory: heap profiles as of the last completed GC, as Go writes them (GOGC=100, and a
    /// forced GC every 2 minutes): snapshots between two collections repeat the one before.
    #[arg(long)]
    gc_stale: bool,
    /// Cycle: heap dumps with allocation records only for what Go's sampler picks at
    /// --sampling-rate (a process at its default MemProfileRate); by default every allocation
    /// has one (MemProfileRate = 1).
    #[arg(long)]
    sampled_records: bool,
    /// Go's MemProfileRate for heap profiles.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "512KiB")]
    sampling_rate: i64,
    /// Folder to write into (created; must be empty).
    #[arg(long, short = 'o', value_name = "DIR")]
    output: PathBuf,
}

pub(super) fn run_simulate(args: SimulateArgs) -> Result<u8> {
    let options = SimOptions {
        leak_type: args.leak_type,
        pattern: args.pattern,
        growth_bytes_per_sec: args.growth,
        rate_per_sec: args.rate.unwrap_or(match args.leak_type {
            LeakType::Cycle => 1.0,
            _ => 0.2,
        }),
        objects: args.objects,
        snapshots: args.snapshots,
        interval_secs: args.interval as f64 / 1e3,
        seed: args.seed,
        goroutine_form: args.goroutine_format,
        sampling_rate: args.sampling_rate.max(0) as u64,
        teardown: args.teardown,
        profiler_noise: args.profiler_noise,
        gc_stale: args.gc_stale,
        sampled_records: args.sampled_records,
        ..Default::default()
    };
    crate::app::lab::write_simulation(&options, &args.output)
}

#[derive(Args, Debug)]
pub(super) struct EvalArgs {
    /// Folders holding a `truth.json` and its snapshots, or folders of such folders.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = EvalFormat::Text)]
    format: EvalFormat,
    /// Write the result here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit 1 when the overall true positive rate is below this (0–1).
    #[arg(long, value_name = "RATE")]
    min_tpr: Option<f64>,
    /// Exit 1 when the overall false positive rate is above this (0–1), or when a leak-free
    /// series has any finding.
    #[arg(long, value_name = "RATE")]
    max_fpr: Option<f64>,
    /// Only the whole series: skip the prefixes that measure latency.
    #[arg(long)]
    no_latency: bool,
    /// Significance level of the detectors' trend tests (as `report --alpha`).
    #[arg(long, value_name = "P", default_value_t = 0.05)]
    alpha: f64,
    /// Symbolize address-only inputs (jemalloc, gperftools) with the binaries and debug files in
    /// this folder, as `report --symbols` (the mapped paths are not read: a truth's names must
    /// not depend on the machine). Repeatable. Without it, frames stay module+offset.
    #[arg(long, value_name = "DIR")]
    symbols: Vec<PathBuf>,
    #[command(flatten)]
    slices: super::args::SeriesSlices,
}

pub(super) fn run_eval(args: EvalArgs) -> Result<u8> {
    let mut loader = Loader::new(
        Default::default(),
        crate::symbolize::SymbolOptions {
            disabled: args.symbols.is_empty(),
            dirs: args.symbols.clone(),
            only_dirs: true,
            ..Default::default()
        },
    );
    args.slices.apply(&mut loader);
    let job = EvalJob {
        dirs: args.dirs,
        format: args.format,
        output: args.output,
        min_tpr: args.min_tpr,
        max_fpr: args.max_fpr,
        latency: !args.no_latency,
        alpha: args.alpha,
    };
    crate::app::lab::evaluate(&job, &loader)
}
