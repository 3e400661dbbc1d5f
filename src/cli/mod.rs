//! The command line: clap arguments → typed options once, file and terminal I/O, exit codes.
//! The only module that touches files, the environment, stdout/stderr and anyhow.

mod analyze;
mod check;
mod collect;
mod dashboard;
mod export;
mod http;
mod load;
mod simulate;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use regex::Regex;

use crate::diff::{self, DiffOptions, Granularity, SortBy};
use crate::formats::heaptrack::SliceSpec;
use crate::report::{self, flamegraph, OutputFormat, TextOptions};
use crate::units::{parse_duration_ms, parse_size, parse_threshold, Threshold};

pub use load::{decode_path, load_pair, load_profile, Loader};

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: a threshold the user asked to fail on was crossed.
pub const EXIT_THRESHOLD: u8 = 1;
/// Exit status: an error.
pub const EXIT_ERROR: u8 = 2;

/// Find memory leaks offline: diff heap profiles and see which allocation sites grew.
#[derive(Parser, Debug)]
#[command(
    name = "leakdiff",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
#[command(after_help = "Run `leakdiff BASE LATER` to diff two snapshots (the default command).")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    diff: Option<DiffArgs>,
    /// Worker threads (default: all cores; RAYON_NUM_THREADS works too).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
}

// Parsed once per run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Diff two snapshots: later − base per function, stack, site, file or line (the default).
    Diff(DiffArgs),
    /// Cut a heaptrack recording into snapshots of in-use memory, written as pprof files.
    Slice(SliceArgs),
    /// Trend a folder of snapshots: leak suspects by pattern and severity, prediction, HTML.
    Report(analyze::ReportArgs),
    /// Group the goroutines of one or many dumps, flag the blocked ones and trend their counts.
    Goroutines(analyze::GoroutinesArgs),
    /// Reference cycles in a Go heap dump, reachable and not, with a path from a root.
    Cycles(analyze::DumpArgs),
    /// What keeps memory alive in a Go heap dump: retained size by allocation site or object.
    Retained(analyze::RetainedArgs),
    /// Write a synthetic series with planted leaks and decoys, in real formats, and its truth.
    Simulate(simulate::SimulateArgs),
    /// Measure the detectors on truth-labelled series: TPR, FPR and latency per type and pattern.
    Eval(simulate::EvalArgs),
    /// Fetch heap and goroutine profiles (and /proc samples) on a schedule into a folder.
    Collect(collect::CollectArgs),
    /// Serve the HTML report of a folder on 127.0.0.1, recomputed as new snapshots arrive.
    Dashboard(dashboard::DashboardArgs),
    /// Export a folder of snapshots: the long table (JSON, CSV, Parquet), Prometheus gauges, or
    /// the first → last heap diff as pprof.
    Export(export::ExportArgs),
    /// CI gate: two snapshots or a series against leakdiff.toml limits and a baseline; exit 1
    /// on a violation.
    Check(check::CheckArgs),
}

/// Where to cut a recording (heaptrack timestamps).
#[derive(Args, Debug, Clone)]
struct SliceFlags {
    /// Cut a heaptrack recording into N snapshots at equal steps of its duration.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=100_000))]
    slices: Option<u32>,
    /// Cut a heaptrack recording into a snapshot every DURATION (e.g. 10s), plus one at the end.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, conflicts_with = "slices")]
    slice_every: Option<u64>,
}

impl SliceFlags {
    fn spec(&self) -> Option<SliceSpec> {
        slice_spec(self.slices, self.slice_every)
    }
}

fn slice_spec(slices: Option<u32>, every_ms: Option<u64>) -> Option<SliceSpec> {
    match (slices, every_ms) {
        (Some(n), _) => Some(SliceSpec::Count(n)),
        (None, Some(ms)) => Some(SliceSpec::EveryMs(ms)),
        (None, None) => None,
    }
}

#[derive(Args, Debug)]
struct SliceArgs {
    /// The heaptrack recording.
    recording: PathBuf,
    #[command(flatten)]
    cut: SliceFlags,
    /// Folder to write the snapshots to (`<name>.slice-001.pb.gz`, …); created if missing.
    #[arg(long, short = 'o', value_name = "DIR")]
    output: PathBuf,
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    max_decompressed_size: i64,
}

#[derive(Args, Debug)]
struct DiffArgs {
    /// The earlier snapshot (pprof, legacy `heap profile:` text, jemalloc heap_v2, heaptrack).
    base: PathBuf,
    /// The later snapshot. Optional with --slices/--slice-every: then the first and last slices
    /// of one heaptrack recording are diffed.
    later: Option<PathBuf>,
    // Inline, not a flattened SliceFlags: clap cannot tell whether an optional flattened group is
    // present through a nested flatten.
    /// Cut one heaptrack recording into N snapshots and diff the first against the last.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=100_000))]
    slices: Option<u32>,
    /// Like --slices, with a snapshot every DURATION (e.g. 10s) and one at the end.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, conflicts_with = "slices")]
    slice_every: Option<u64>,
    /// Value type to compare, by pprof name (inuse_space, alloc_objects, …) or index.
    /// Default: inuse_space when present, else the profile's default_sample_type, else the last.
    #[arg(long, value_name = "NAME|N")]
    sample_index: Option<String>,
    /// What one row aggregates.
    #[arg(long, value_enum, default_value_t = Granularity::Function)]
    by: Granularity,
    /// Show the first N rows (0 = all). Default: 20 for text and markdown, all for json and csv.
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Keep only samples with a frame (function or file) matching this regex.
    #[arg(long, value_name = "REGEX")]
    focus: Option<String>,
    /// Drop samples with a frame (function or file) matching this regex.
    #[arg(long, value_name = "REGEX")]
    ignore: Option<String>,
    /// Scale base so its total equals later's before diffing.
    #[arg(long)]
    normalize: bool,
    /// Hide rows that changed by less than this (bytes like 64KiB, or a % of the base total).
    #[arg(long, value_name = "BYTES|PERCENT", value_parser = parse_threshold)]
    min_delta: Option<Threshold>,
    /// Row order.
    #[arg(long, value_enum, default_value_t = SortBy::Delta)]
    sort: SortBy,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Write the report here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write a differential flamegraph (SVG) here.
    #[arg(long, value_name = "FILE.svg")]
    flamegraph: Option<PathBuf>,
    /// Exit with status 1 when the total or any row grew by at least this much
    /// (bytes like 10MB, or a % of the base total).
    #[arg(long, value_name = "BYTES|PERCENT", value_parser = parse_threshold)]
    fail_on_growth: Option<Threshold>,
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    max_decompressed_size: i64,
    // heaptrack options, as heaptrack_print names them. (Inline rather than a flattened struct:
    // clap cannot tell whether an optional flattened group is present through a nested flatten.)
    /// LeakSanitizer-style suppression file (`leak:PATTERN` lines) for heaptrack inputs.
    #[arg(long, value_name = "FILE")]
    suppressions: Option<PathBuf>,
    /// Do not apply heaptrack's built-in suppressions (libc, ld.so, glib).
    #[arg(long)]
    disable_builtin_suppressions: bool,
    /// Do not apply suppressions embedded in heaptrack recordings (`S` lines).
    #[arg(long)]
    disable_embedded_suppressions: bool,
    /// Binary to symbolize address-only inputs with, instead of the file the profile's mapping
    /// names (matched by file name; a single one that matches nothing stands for the main
    /// program). Repeatable.
    #[arg(long, value_name = "PATH")]
    binary: Vec<PathBuf>,
    /// Folder to look for binaries and `.build-id/` debug files in before the mapped paths.
    /// Repeatable.
    #[arg(long, value_name = "DIR")]
    symbols: Vec<PathBuf>,
    /// Leave address-only frames as module+offset.
    #[arg(long)]
    no_symbolize: bool,
}

fn loader(h: &DiffArgs) -> Result<Loader> {
    let mut loader = analyze::loader_for(
        h.max_decompressed_size,
        &h.binary,
        &h.symbols,
        h.no_symbolize,
    );
    loader.read = read_options(h.max_decompressed_size, h)?;
    loader.read.heaptrack.timeline = h.slices.is_some() || h.slice_every.is_some();
    Ok(loader)
}

fn read_options(max_decompressed: i64, h: &DiffArgs) -> Result<crate::formats::ReadOptions> {
    let mut heaptrack = crate::formats::heaptrack::HeaptrackOptions {
        builtin_suppressions: !h.disable_builtin_suppressions,
        embedded_suppressions: !h.disable_embedded_suppressions,
        ..Default::default()
    };
    if let Some(path) = &h.suppressions {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read suppression file {}", path.display()))?;
        let (patterns, invalid) = crate::formats::heaptrack::suppress::parse_file(&text);
        for bad in invalid {
            eprintln!(
                "leakdiff: warning: {}: invalid suppression line `{bad}` (like heaptrack 1.4, it is kept as an empty pattern, which suppresses everything)",
                path.display()
            );
        }
        heaptrack.suppressions = patterns;
    }
    Ok(crate::formats::ReadOptions {
        max_decompressed_bytes: max_decompressed.max(0) as u64,
        heaptrack,
    })
}

/// Runs the command line and returns the process exit status.
pub fn run(cli: Cli) -> Result<u8> {
    // Workers get the main thread's stack size: polars plans queries recursively, and `eval` runs
    // them on workers (2 MiB, rayon's default, overflowed there in debug builds).
    rayon::ThreadPoolBuilder::new()
        .num_threads(cli.threads.unwrap_or(0))
        .stack_size(8 << 20)
        .build_global()
        .context("could not start the worker threads")?;
    match (cli.command, cli.diff) {
        (Some(Command::Diff(args)), _) | (None, Some(args)) => run_diff(args),
        (Some(Command::Slice(args)), _) => run_slice(args),
        (Some(Command::Report(args)), _) => analyze::run_report(args),
        (Some(Command::Goroutines(args)), _) => analyze::run_goroutines(args),
        (Some(Command::Cycles(args)), _) => analyze::run_cycles(args),
        (Some(Command::Retained(args)), _) => analyze::run_retained(args),
        (Some(Command::Simulate(args)), _) => simulate::run_simulate(args),
        (Some(Command::Eval(args)), _) => simulate::run_eval(args),
        (Some(Command::Collect(args)), _) => collect::run_collect(args),
        (Some(Command::Dashboard(args)), _) => dashboard::run_dashboard(args),
        (Some(Command::Export(args)), _) => export::run_export(args),
        (Some(Command::Check(args)), _) => check::run_check(args),
        (None, None) => {
            anyhow::bail!("nothing to do: give two snapshots (`leakdiff BASE LATER`) or a command (see --help)")
        }
    }
}

fn regex(flag: &str, pattern: Option<String>) -> Result<Option<Regex>> {
    pattern
        .map(|p| {
            Regex::new(&p)
                .with_context(|| format!("{flag} `{p}` is not a valid regular expression"))
        })
        .transpose()
}

fn run_diff(args: DiffArgs) -> Result<u8> {
    let loader = loader(&args)?;
    let top = match (args.top, args.format) {
        (Some(0), _) => None,
        (Some(n), _) => Some(n),
        (None, OutputFormat::Text | OutputFormat::Markdown) => Some(20),
        (None, _) => None,
    };
    let options = DiffOptions {
        by: args.by,
        sample: args.sample_index,
        focus: regex("--focus", args.focus)?,
        ignore: regex("--ignore", args.ignore)?,
        normalize: args.normalize,
        min_delta: args.min_delta,
        top,
        sort: args.sort,
    };
    let (interner, base, later, later_path) =
        match (&args.later, slice_spec(args.slices, args.slice_every)) {
            (Some(later), None) => {
                let (i, b, l) = loader.load_pair(&args.base, later)?;
                (i, b, l, later.clone())
            }
            (None, Some(spec)) => {
                let (i, b, l) = first_and_last_slice(&loader, &args.base, spec)?;
                (i, b, l, args.base.clone())
            }
            (Some(_), Some(_)) => anyhow::bail!(
                "--slices/--slice-every cut one heaptrack recording; give one input, not two"
            ),
            (None, None) => anyhow::bail!(
            "give two snapshots (`leakdiff BASE LATER`), or one heaptrack recording with --slices N"
        ),
        };
    warn_inputs(&loader, [&base, &later]);
    let result = diff::diff(&base, &later, &interner, &options)?;

    if let Some(path) = &args.flamegraph {
        let values = diff::stack_values(&base, &later, &interner, &options)?;
        let opts = flamegraph::FlameOptions {
            title: format!(
                "{}: {} → {}",
                values.value_type.kind,
                file_name(&args.base),
                file_name(&later_path)
            ),
            unit: values.value_type.unit.clone(),
            ..Default::default()
        };
        write_file(path, |w| {
            flamegraph::write_diff_svg(&interner, &values.stacks, &opts, w)
        })?;
    }

    let color = args.output.is_none()
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let render = |w: &mut dyn Write| -> io::Result<()> {
        match args.format {
            OutputFormat::Text => report::write_text(&result, &TextOptions { color }, w),
            OutputFormat::Json => report::write_json(&result, w),
            OutputFormat::Csv => report::write_csv(&result, w),
            OutputFormat::Markdown => report::write_markdown(&result, w),
        }
    };
    emit(args.output.as_deref(), render)?;
    let failed = args
        .fail_on_growth
        .is_some_and(|t| diff::crosses(&result, t));
    if failed {
        eprintln!(
            "leakdiff: growth threshold {} crossed (total {:+} {})",
            args.fail_on_growth
                .map(|t| t.to_string())
                .unwrap_or_default(),
            result.totals.delta,
            result.unit
        );
        return Ok(EXIT_THRESHOLD);
    }
    Ok(EXIT_OK)
}

/// Reads one heaptrack recording with its timeline and cuts it into snapshots, anchored on the
/// file's modification time.
fn read_slices(
    loader: &Loader,
    path: &std::path::Path,
    spec: SliceSpec,
) -> Result<(crate::model::Interner, Vec<crate::model::Profile>)> {
    let mut interner = crate::model::Interner::new();
    let slices = loader
        .decode(path)?
        .into_slices(spec, &mut interner, mtime_nanos(path))?;
    Ok((interner, slices))
}

/// The first and last slices of one recording.
fn first_and_last_slice(
    loader: &Loader,
    path: &std::path::Path,
    spec: SliceSpec,
) -> Result<(
    crate::model::Interner,
    crate::model::Profile,
    crate::model::Profile,
)> {
    let (interner, mut slices) = read_slices(loader, path, spec)?;
    let later = slices.pop().context("no slices")?;
    let base = if slices.is_empty() {
        later.clone()
    } else {
        slices.swap_remove(0)
    };
    Ok((interner, base, later))
}

/// A file's modification time in ns since the epoch.
fn mtime_nanos(path: &std::path::Path) -> Option<i64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_nanos()).ok()
}

fn run_slice(args: SliceArgs) -> Result<u8> {
    let spec = args
        .cut
        .spec()
        .context("say where to cut: --slices N or --slice-every DURATION")?;
    let mut read = crate::formats::ReadOptions {
        max_decompressed_bytes: args.max_decompressed_size.max(0) as u64,
        ..Default::default()
    };
    read.heaptrack.timeline = true;
    let loader = Loader::new(read, Default::default());
    let (interner, slices) = read_slices(&loader, &args.recording, spec)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let stem = file_name(&args.recording);
    let stem = stem
        .strip_suffix(".gz")
        .or_else(|| stem.strip_suffix(".zst"))
        .unwrap_or(&stem)
        .to_string();
    let width = slices.len().to_string().len().max(3);
    for (k, p) in slices.iter().enumerate() {
        let path = args
            .output
            .join(format!("{stem}.slice-{:0width$}.pb.gz", k + 1));
        write_pprof(&path, p, &interner)?;
    }
    eprintln!(
        "leakdiff: wrote {} snapshots of {} to {}",
        slices.len(),
        args.recording.display(),
        args.output.display()
    );
    Ok(EXIT_OK)
}

/// Prints each input's warnings and the symbolizer's, one line each, on stderr.
fn warn_inputs<'a>(loader: &Loader, profiles: impl IntoIterator<Item = &'a crate::model::Profile>) {
    for p in profiles {
        for w in &p.meta.warnings {
            eprintln!("leakdiff: warning: {}: {w}", p.meta.source);
        }
    }
    if let Some(w) = loader.symbolizer.warning() {
        eprintln!("leakdiff: warning: {w}");
    }
}

/// Writes what `render` produces to `output`, or to standard output when there is none.
fn emit(
    output: Option<&std::path::Path>,
    render: impl Fn(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    match output {
        Some(path) => write_file(path, |w| render(w)),
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            render(&mut w)
                .and_then(|_| w.flush())
                .context("could not write the output")
        }
    }
}

/// Writes a profile as gzipped `profile.proto`, atomically.
fn write_pprof(
    path: &std::path::Path,
    profile: &crate::model::Profile,
    interner: &crate::model::Interner,
) -> Result<()> {
    let bytes = crate::formats::pprof::encode::encode(profile, interner);
    write_file(path, |w| {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        gz.write_all(&bytes)?;
        gz.finish().map(|_| ())
    })
}

/// Writes a file through a temporary name and a rename, so no half-written file is left behind.
fn write_file(
    path: &std::path::Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    write_atomically(path, None, body)
        .with_context(|| format!("could not write {}", path.display()))
}

/// The temp-file-and-rename write under [`write_file`]. With `durable`, the file is also given
/// that modification time and fsynced before the rename (`collect`: the time is the fetch time,
/// and a crash never leaves a renamed file whose bytes are not on disk). The temp file is removed
/// on failure.
fn write_atomically(
    path: &std::path::Path,
    durable: Option<std::time::SystemTime>,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.leakdiff-tmp-{}", std::process::id()));
    let result = (|| -> io::Result<()> {
        let mut w = BufWriter::new(File::create(&tmp)?);
        body(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        if let Some(t) = durable {
            file.set_modified(t)?;
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// True when an error is a closed stdout pipe (`leakdiff … | head`), which exits quietly.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
