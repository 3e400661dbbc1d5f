//! `leakdiff report`: a folder of snapshots (or a saved store) trended into leak suspects.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::{DatasetArgs, InputArgs, SeriesInputs};
use super::{emit, write_file, Progress, EXIT_ERROR, EXIT_OK};
use crate::diff::{self, DiffOptions};
use crate::input::{self, Loader, SeriesOptions};
use crate::leaks::{self, AnalyzeOptions, Report};
use crate::report::{self, flamegraph, HtmlExtras};
use crate::store::{KeyBy, Kind, Order, Store};
use crate::units::parse_size;

/// Output formats of `report`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Summary for terminals, ranked by severity.
    #[default]
    Text,
    /// `leakdiff.report/v1` JSON.
    Json,
    /// One self-contained HTML file.
    Html,
}

#[derive(Args, Debug)]
pub(super) struct ReportArgs {
    #[command(flatten)]
    inputs: SeriesInputs,
    /// Snapshot order: the profiles' own timestamps (then file mtime), file name, or mtime.
    #[arg(long, value_enum, default_value_t = Order::Time)]
    order: Order,
    /// What one series aggregates.
    #[arg(long, value_enum, default_value_t = KeyBy::Function)]
    by: KeyBy,
    /// Value type to trend (default inuse_space, else the first in bytes).
    #[arg(long, value_name = "NAME")]
    sample_index: Option<String>,
    /// Net growth below this is never a leak (bytes like 64KiB, or a count). Default 16KiB (16
    /// for counts), and at least two sampling periods of the inputs.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    min_growth: Option<i64>,
    /// Project when the total in-use crosses this (e.g. 2GiB), with an interval.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<i64>,
    /// Significance level of the Mann–Kendall trend test.
    #[arg(long, value_name = "P", default_value_t = 0.05)]
    alpha: f64,
    /// Show at most N suspects (0 = all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Judge the Go profiler's own allocations (stacks through runtime/pprof or net/http/pprof:
    /// serving the profiles to a collector) like any other; by default they are left out of the
    /// suspects and shown once as profiler overhead.
    #[arg(long)]
    keep_profiler: bool,
    /// Output format (an --output ending in .html implies html).
    #[arg(long, short = 'f', value_enum)]
    format: Option<ReportFormat>,
    /// Write the report here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also save the long table of every snapshot as Parquet here.
    #[arg(long, value_name = "FILE.parquet")]
    save: Option<PathBuf>,
    /// Trend at most N snapshots of each kind, evenly spaced, first and last kept (0 = all):
    /// the pairwise trend statistics are quadratic in the points.
    #[arg(long, value_name = "N", default_value_t = crate::store::DEFAULT_MAX_POINTS)]
    max_points: usize,
    /// No progress line on stderr.
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    read: InputArgs,
}

/// Loads the store: one Parquet store, or every snapshot file under the inputs, with a progress
/// line when asked; prints one line per input left out or broken.
pub(super) fn load_store(
    inputs: &[PathBuf],
    dataset: &DatasetArgs,
    loader: &Loader,
    order: Order,
    by: KeyBy,
    progress: bool,
) -> Result<Store> {
    if inputs.len() == 1 && crate::dataset::is_dataset(&inputs[0]) {
        anyhow::ensure!(
            by == KeyBy::Function,
            "a dataset is keyed by function (as ingested); --by {} needs the snapshot files",
            clap::ValueEnum::to_possible_value(&by)
                .map_or_else(String::new, |v| v.get_name().to_string())
        );
        let (store, stats) = crate::dataset::read(&inputs[0], &dataset.filter()?)?;
        for n in &stats.notes {
            eprintln!("leakdiff: left out: {n}");
        }
        if progress {
            eprintln!(
                "leakdiff: dataset {}: service {}, {} of {} date partition(s) read, {} part(s) ({} left out by time), {} snapshot(s){}",
                inputs[0].display(),
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
        return Ok(store);
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

/// Every suspect of a store (no `--top` cut), for the commands that hand them all on: `check`
/// and `export --format prometheus`.
pub(super) fn analyze_all(
    store: &Store,
    sample_index: Option<&str>,
    memory_limit: Option<i64>,
    keep_profiler: bool,
) -> Result<Report> {
    let options = AnalyzeOptions {
        memory_limit: memory_limit.map(|v| v as f64),
        top: 0,
        keep_profiler,
        ..Default::default()
    };
    Ok(leaks::analyze(&store.evidence(sample_index)?, &options)?)
}

/// Flamegraphs of the first and last heap snapshots, from the profiles the store kept.
pub(super) fn flamegraphs(report: &Report, store: &Store) -> HtmlExtras {
    let Some(ends) = &store.heap_ends else {
        return HtmlExtras {
            note: Some(if store.snapshots_of(Kind::Heap).is_empty() {
                "no heap snapshots".into()
            } else {
                "this store holds no stacks to draw flamegraphs from (saved by an older leakdiff)"
                    .into()
            }),
            ..Default::default()
        };
    };
    let run = || -> Result<HtmlExtras> {
        let kind = report
            .value_type
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        let options = DiffOptions {
            sample: Some(kind.clone()),
            ..Default::default()
        };
        let values = diff::stack_values(&ends.first, &ends.last, &ends.interner, &options)?;
        let unit = values.value_type.unit.clone();
        let mut opts = flamegraph::FlameOptions {
            title: format!("{kind}: first → last snapshot"),
            unit,
            min_width_px: 0.5,
            id: "flame-diff".into(),
            ..Default::default()
        };
        let mut diff_svg = Vec::new();
        flamegraph::write_diff_svg(&ends.interner, &values.stacks, &opts, &mut diff_svg)?;
        let latest: Vec<_> = values
            .stacks
            .iter()
            .filter(|(_, v)| v[1] > 0)
            .map(|(s, v)| (*s, [0, v[1]]))
            .collect();
        opts.plain = true;
        opts.id = "flame-latest".into();
        opts.title = format!("{kind}: latest snapshot");
        let mut latest_svg = Vec::new();
        flamegraph::write_diff_svg(&ends.interner, &latest, &opts, &mut latest_svg)?;
        Ok(HtmlExtras {
            diff_flamegraph: Some(String::from_utf8_lossy(&diff_svg).into_owned()),
            latest_flamegraph: Some(String::from_utf8_lossy(&latest_svg).into_owned()),
            note: None,
            live_poll_ms: None,
        })
    };
    run().unwrap_or_else(|e| HtmlExtras {
        note: Some(format!("flamegraphs not drawn: {e:#}")),
        ..Default::default()
    })
}

/// The exit status of a run over a store: 2 when an input was broken (the rest was analysed).
pub(super) fn status_of(store: &Store) -> u8 {
    if store.failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    }
}

pub(super) fn run_report(args: ReportArgs) -> Result<u8> {
    let mut loader = args.read.loader()?;
    args.inputs.slices.apply(&mut loader);
    let store = load_store(
        &args.inputs.all(),
        &args.inputs.dataset,
        &loader,
        args.order,
        args.by,
        !args.no_progress,
    )?;
    if let Some(path) = &args.save {
        write_file(path, |w| {
            store
                .write_parquet(w, &path.display().to_string())
                .map_err(io::Error::other)
        })?;
        eprintln!(
            "leakdiff: saved {} rows of {} snapshots to {}",
            store.rows(),
            store.snapshots.len(),
            path.display()
        );
    }
    if [Kind::Heap, Kind::Goroutine, Kind::Process]
        .iter()
        .all(|k| store.snapshots_of(*k).is_empty())
    {
        anyhow::bail!("no heap, goroutine or process snapshots among the inputs");
    }
    let options = AnalyzeOptions {
        min_growth: args.min_growth.map(|v| v as f64),
        memory_limit: args.memory_limit.map(|v| v as f64),
        alpha: args.alpha,
        top: args.top,
        keep_profiler: args.keep_profiler,
        ..Default::default()
    };
    for kind in [Kind::Heap, Kind::Goroutine, Kind::Process] {
        let n = store.snapshots_of(kind).len();
        if args.max_points > 0 && n > args.max_points {
            eprintln!(
                "leakdiff: {} {} snapshots: trending {} of them, evenly spaced (--max-points)",
                n,
                kind.name(),
                args.max_points
            );
        }
    }
    let evidence = store.evidence_with(args.sample_index.as_deref(), args.max_points)?;
    let report = leaks::analyze(&evidence, &options)?;
    let format = args.format.unwrap_or_else(|| {
        if args
            .output
            .as_ref()
            .is_some_and(|p| p.extension().is_some_and(|e| e == "html" || e == "htm"))
        {
            ReportFormat::Html
        } else {
            ReportFormat::Text
        }
    });
    let extras = if format == ReportFormat::Html {
        flamegraphs(&report, &store)
    } else {
        HtmlExtras::default()
    };
    let render = |w: &mut dyn Write| -> io::Result<()> {
        match format {
            ReportFormat::Text => report::write_report_text(&report, w),
            ReportFormat::Json => report::write_report_json(&report, w),
            ReportFormat::Html => report::write_report_html(&report, &extras, w),
        }
    };
    emit(args.output.as_deref(), render)?;
    Ok(status_of(&store))
}
