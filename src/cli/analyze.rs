//! `leakdiff report`, `goroutines`, `cycles` and `retained`: the commands that analyse many snapshots or one heap dump.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use super::{emit, Loader, EXIT_ERROR, EXIT_OK};
use crate::diff::{self, DiffOptions};
use crate::goroutines::{self, GoroutineOptions, GroupBy};
use crate::leaks::{self, AnalyzeOptions, Report};
use crate::model::Interner;
use crate::report::{self, flamegraph, HtmlExtras};
use crate::store::{self, KeyBy, Kind, LoadOptions, Order, Store};
use crate::units::{parse_duration_ms, parse_size};

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
    /// Snapshots: folders (read recursively), files, or a Parquet store saved with --save.
    #[arg(long, short = 'i', value_name = "PATH", required = true)]
    input: Vec<PathBuf>,
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
    /// Output format (an --output ending in .html implies html).
    #[arg(long, short = 'f', value_enum)]
    format: Option<ReportFormat>,
    /// Write the report here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also save the long table of every snapshot as Parquet here.
    #[arg(long, value_name = "FILE.parquet")]
    save: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    no_progress: bool,
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    max_decompressed_size: i64,
    /// Binary to symbolize address-only inputs with (repeatable).
    #[arg(long, value_name = "PATH")]
    binary: Vec<PathBuf>,
    /// Folder with binaries and `.build-id/` debug files (repeatable).
    #[arg(long, value_name = "DIR")]
    symbols: Vec<PathBuf>,
    /// Leave address-only frames as module+offset.
    #[arg(long)]
    no_symbolize: bool,
}

fn is_parquet(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"PAR1"
}

/// Loads the store: one Parquet store, or every snapshot file under the inputs.
pub(super) fn load_store(
    inputs: &[PathBuf],
    loader: &Loader,
    order: Order,
    by: KeyBy,
    progress: bool,
) -> Result<Store> {
    if inputs.len() == 1 && inputs[0].is_file() && is_parquet(&inputs[0]) {
        return Ok(Store::open(&inputs[0])?);
    }
    let files = store::expand_inputs(inputs).context("cannot list the inputs")?;
    if files.is_empty() {
        anyhow::bail!(
            "no snapshot files under {}",
            inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let options = LoadOptions {
        order,
        by,
        progress,
    };
    let store = store::load_files(&files, &options, |p| {
        let mut interner = Interner::new();
        let profile = loader.load(p, &mut interner)?;
        Ok((interner, profile))
    })?;
    Ok(store)
}

/// Every suspect of a store (no `--top` cut), for the commands that hand them all on: `check`
/// and `export --format prometheus`.
pub(super) fn analyze_all(
    store: &Store,
    sample_index: Option<String>,
    memory_limit: Option<i64>,
) -> Result<Report> {
    let options = AnalyzeOptions {
        value_type: sample_index,
        memory_limit: memory_limit.map(|v| v as f64),
        top: 0,
        ..Default::default()
    };
    Ok(leaks::analyze(store, &options)?)
}

pub(super) fn loader_for(
    max: i64,
    binary: &[PathBuf],
    symbols: &[PathBuf],
    no_symbolize: bool,
) -> Loader {
    Loader::new(
        crate::formats::ReadOptions {
            max_decompressed_bytes: max.max(0) as u64,
            ..Default::default()
        },
        crate::symbolize::SymbolOptions {
            disabled: no_symbolize,
            binaries: binary.to_vec(),
            dirs: symbols.to_vec(),
        },
    )
}

/// Flamegraphs of the first and last heap snapshots, re-read from their files.
pub(super) fn flamegraphs(report: &Report, loader: &Loader) -> HtmlExtras {
    let (Some(first), Some(last)) = (report.snapshots.first(), report.snapshots.last()) else {
        return HtmlExtras {
            note: Some("no heap snapshots".into()),
            ..Default::default()
        };
    };
    let (a, b) = (Path::new(&first.source), Path::new(&last.source));
    if !a.is_file() || !b.is_file() {
        return HtmlExtras {
            note: Some(format!(
                "the snapshot files ({}, {}) are not here to draw flamegraphs from",
                first.source, last.source
            )),
            ..Default::default()
        };
    }
    let run = || -> Result<HtmlExtras> {
        let (interner, base, later) = loader.load_pair(a, b)?;
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
        let values = diff::stack_values(&base, &later, &interner, &options)?;
        let unit = values.value_type.unit.clone();
        let mut opts = flamegraph::FlameOptions {
            title: format!("{kind}: first → last snapshot"),
            unit,
            min_width_px: 0.5,
            ..Default::default()
        };
        let mut diff_svg = Vec::new();
        flamegraph::write_diff_svg(&interner, &values.stacks, &opts, &mut diff_svg)?;
        let latest: Vec<_> = values
            .stacks
            .iter()
            .filter(|(_, v)| v[1] > 0)
            .map(|(s, v)| (*s, [0, v[1]]))
            .collect();
        opts.plain = true;
        opts.title = format!("{kind}: latest snapshot");
        let mut latest_svg = Vec::new();
        flamegraph::write_diff_svg(&interner, &latest, &opts, &mut latest_svg)?;
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

/// With a Go heap dump among the heap snapshots: the latest one's cycles and top retainers, and
/// for each suspect what its objects retain and why they are alive.
pub(super) fn attach_object_graph(report: &mut Report, loader: &Loader) {
    let Some(snap) = report
        .snapshots
        .iter()
        .rev()
        .find(|s| s.format == crate::model::Format::GoHeapDump.name())
    else {
        return;
    };
    let path = PathBuf::from(&snap.source);
    let Ok((g, _)) = loader.heap_dump_graph(&path) else {
        return;
    };
    let cycles = crate::graph::report_cycles(&g);
    let live = cycles.iter().filter(|c| c.reachable).count();
    report.object_graph = Some(leaks::GraphSection {
        source: snap.source.clone(),
        reachable_objects: (0..g.len()).filter(|&v| g.reachable[v]).count(),
        reachable_bytes: (0..g.len())
            .filter(|&v| g.reachable[v])
            .map(|v| g.objects[v].1)
            .sum(),
        reachable_cycles: live,
        unreachable_cycles: cycles.len() - live,
        top_retainers: crate::graph::top_sites(&g, 5),
    });
    for s in &mut report.suspects {
        let function = s.frames.first().map(String::as_str).unwrap_or(&s.key);
        if let Some((bytes, path)) = crate::graph::retention_of(&g, function) {
            s.retained_bytes = Some(bytes);
            s.retained_path = path;
        }
    }
}

pub(super) fn run_report(args: ReportArgs) -> Result<u8> {
    let loader = loader_for(
        args.max_decompressed_size,
        &args.binary,
        &args.symbols,
        args.no_symbolize,
    );
    let store = load_store(&args.input, &loader, args.order, args.by, !args.no_progress)?;
    for f in &store.failures {
        eprintln!("leakdiff: skipped: {}", f.message);
    }
    if let Some(path) = &args.save {
        store.save(path)?;
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
        value_type: args.sample_index.clone(),
        min_growth: args.min_growth.map(|v| v as f64),
        memory_limit: args.memory_limit.map(|v| v as f64),
        alpha: args.alpha,
        top: args.top,
        ..Default::default()
    };
    let mut report = leaks::analyze(&store, &options)?;
    attach_object_graph(&mut report, &loader);
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
        flamegraphs(&report, &loader)
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
    Ok(if store.failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

#[derive(Args, Debug)]
pub(super) struct GoroutinesArgs {
    /// Goroutine dumps (debug=1, debug=2, tracebacks) or goroutine profiles; folders are read
    /// recursively (in natural name order). Snapshots are taken in the order given, or by their
    /// own timestamps when every one has one (protobufs).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Group by state and stack, or by creation site.
    #[arg(long, value_enum, default_value_t = GroupBy::Stack)]
    group_by: GroupBy,
    /// Leave out goroutines whose top function (leaf, or first non-runtime frame) is FUNC, like
    /// goleak's IgnoreTopFunction. Repeatable.
    #[arg(long, value_name = "FUNC")]
    ignore_top: Vec<String>,
    /// Keep runtime and system goroutines (GC workers, finalizers, signal loop, test runner).
    #[arg(long)]
    include_system: bool,
    /// Flag blocked groups that waited at least this long (Go prints whole minutes).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "1m")]
    min_age: u64,
    /// Across snapshots, a group must grow by at least this many goroutines to leak.
    #[arg(long, value_name = "N", default_value_t = 3)]
    min_growth: u32,
    /// Show at most N groups (0 = all).
    #[arg(long, value_name = "N", default_value_t = 30)]
    top: usize,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = GoroutineFormat::Text)]
    format: GoroutineFormat,
    /// Write the result here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit with status 1 when a group leaks (for CI).
    #[arg(long)]
    fail_on_leak: bool,
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    max_decompressed_size: i64,
}

/// Output formats of `goroutines`, `cycles` and `retained`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GoroutineFormat {
    /// Table for terminals.
    #[default]
    Text,
    /// JSON: `leakdiff.goroutines/v1`, `leakdiff.cycles/v1` or `leakdiff.retained/v1`.
    Json,
}

pub(super) fn run_goroutines(args: GoroutinesArgs) -> Result<u8> {
    let loader = loader_for(args.max_decompressed_size, &[], &[], true);
    let files = store::expand_inputs(&args.inputs).context("cannot list the inputs")?;
    if files.is_empty() {
        anyhow::bail!("no files among the inputs");
    }
    let mut interner = Interner::new();
    let mut snaps: Vec<(crate::model::Profile, Option<i64>)> = Vec::new();
    let mut others = 0;
    for f in &files {
        let p = loader.load(f, &mut interner)?;
        let is_goroutines = p.format == crate::model::Format::GoroutineText
            || p.value_types().iter().any(|v| v.kind == "goroutine");
        // A folder (what `collect` writes) holds heap profiles and process samples too.
        let from_folder = !args.inputs.iter().any(|i| i == f);
        if !is_goroutines && from_folder {
            others += 1;
            continue;
        }
        if !is_goroutines {
            anyhow::bail!(
                "{}: {} profile, not goroutines (value types: {})",
                f.display(),
                p.format.name(),
                p.value_types()
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let t = p.meta.time_nanos.filter(|t| *t > 0);
        for w in &p.meta.warnings {
            eprintln!("leakdiff: warning: {}: {w}", p.meta.source);
        }
        snaps.push((p, t));
    }
    if others > 0 {
        eprintln!("leakdiff: goroutines: left out {others} file(s) that are not goroutine dumps or profiles");
    }
    // In a folder `collect` wrote, each moment is a protobuf and a debug=2 dump: keep the dumps
    // (states and wait times), not each goroutine twice. Files named one by one stay as given.
    let text = crate::model::Format::GoroutineText;
    if args.inputs.iter().any(|i| i.is_dir())
        && snaps.iter().any(|(p, _)| p.format == text)
        && snaps.iter().any(|(p, _)| p.format != text)
    {
        snaps.retain(|(p, _)| p.format == text);
    }
    anyhow::ensure!(
        !snaps.is_empty(),
        "no goroutine dumps or profiles among the inputs"
    );
    // Text dumps carry no time of their own and file times are unreliable (a checkout gives every
    // file the same one): keep the order given, unless every snapshot states its time.
    let times: Vec<i64> = if snaps.iter().all(|(_, t)| t.is_some()) {
        snaps.sort_by_key(|(_, t)| *t);
        snaps.iter().map(|(_, t)| t.unwrap_or(0)).collect()
    } else {
        // One second apart: the trend engine needs a time axis; slopes are then per step.
        (0..snaps.len() as i64).map(|i| i * 1_000_000_000).collect()
    };
    let t0 = times.first().copied().unwrap_or(0);
    let refs: Vec<(&crate::model::Profile, f64)> = snaps
        .iter()
        .zip(&times)
        .map(|((p, _), t)| (p, (t - t0) as f64 / 1e9))
        .collect();
    let options = GoroutineOptions {
        group_by: args.group_by,
        ignore_top: args.ignore_top.clone(),
        include_system: args.include_system,
        min_age_minutes: (args.min_age / 60_000) as i64,
        min_growth: f64::from(args.min_growth),
        ..Default::default()
    };
    let result = goroutines::analyze(&interner, &refs, &options);
    let render = |w: &mut dyn Write| -> io::Result<()> {
        match args.format {
            GoroutineFormat::Text => {
                report::write_goroutines_text(&result, args.group_by, args.top, w)
            }
            GoroutineFormat::Json => report::write_goroutines_json(&result, w),
        }
    };
    emit(args.output.as_deref(), render)?;
    if args.fail_on_leak && result.groups.iter().any(|g| g.leak) {
        return Ok(super::EXIT_THRESHOLD);
    }
    Ok(EXIT_OK)
}

#[derive(Args, Debug)]
pub(super) struct DumpArgs {
    /// A Go heap dump (`runtime/debug.WriteHeapDump`), raw or gzipped.
    dump: PathBuf,
    /// Show at most N entries (0 = all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = GoroutineFormat::Text)]
    format: GoroutineFormat,
    /// Write the result here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    max_decompressed_size: i64,
}

#[derive(Args, Debug)]
pub(super) struct RetainedArgs {
    #[command(flatten)]
    dump: DumpArgs,
    /// Rank allocation sites (each object counted once) or single objects.
    #[arg(long, value_enum, default_value_t = RetainedBy::Site)]
    by: RetainedBy,
}

/// What `retained` ranks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RetainedBy {
    /// Allocation sites (from the dump's alloc samples).
    #[default]
    Site,
    /// Objects.
    Object,
}

fn read_dump(
    args: &DumpArgs,
) -> Result<(crate::graph::ObjectGraph, crate::report::graph::DumpSummary)> {
    let loader = loader_for(args.max_decompressed_size, &[], &[], true);
    let (g, dump) = loader.heap_dump_graph(&args.dump)?;
    let source = args.dump.display().to_string();
    let summary = crate::report::graph::summary(&source, &dump.params.version, &g);
    Ok((g, summary))
}

pub(super) fn run_cycles(args: DumpArgs) -> Result<u8> {
    let (g, summary) = read_dump(&args)?;
    let cycles = crate::graph::report_cycles(&g);
    let json = args.format == GoroutineFormat::Json;
    emit(args.output.as_deref(), |w| {
        crate::report::graph::write_cycles(&summary, &cycles, args.top, json, w)
    })?;
    Ok(EXIT_OK)
}

pub(super) fn run_retained(args: RetainedArgs) -> Result<u8> {
    let (g, summary) = read_dump(&args.dump)?;
    let by_site = args.by == RetainedBy::Site;
    let list = crate::report::graph::retainers(&g, by_site, args.dump.top);
    let json = args.dump.format == GoroutineFormat::Json;
    emit(args.dump.output.as_deref(), |w| {
        crate::report::graph::write_retained(&summary, &list, by_site, json, w)
    })?;
    Ok(EXIT_OK)
}
