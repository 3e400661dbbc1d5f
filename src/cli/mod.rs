//! The command line: clap arguments → typed options once, then glue: each command's file reads
//! its flags, calls the stages and writes the outputs. Exit codes, stdout/stderr and anyhow live
//! here; loading lives in `input`, live collection in `live`, the lab in `lab`.
//!
//! May import every stage. Nothing imports it but `main`.

mod args;
mod check;
mod collect;
mod dashboard;
mod diff;
mod dumps;
mod export;
mod goroutines;
mod lab;
mod report;

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

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
    args_conflicts_with_subcommands = true,
    arg_required_else_help = true
)]
#[command(after_help = "Run `leakdiff BASE LATER` to diff two snapshots (the default command).")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    diff: diff::DiffArgs,
    /// Worker threads (default: all cores; RAYON_NUM_THREADS works too).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
}

// Parsed once per run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Diff two snapshots: later − base per function, stack, site, file or line (the default).
    Diff(diff::DiffArgs),
    /// Cut a heaptrack recording into snapshots of in-use memory, written as pprof files.
    Slice(diff::SliceArgs),
    /// Trend a folder of snapshots: leak suspects by pattern and severity, prediction, HTML.
    Report(report::ReportArgs),
    /// Group the goroutines of one or many dumps, flag the blocked ones and trend their counts.
    Goroutines(goroutines::GoroutinesArgs),
    /// Reference cycles in a Go heap dump, reachable and not, with a path from a root.
    Cycles(dumps::DumpArgs),
    /// What keeps memory alive in a Go heap dump: retained size by allocation site or object.
    Retained(dumps::RetainedArgs),
    /// Write a synthetic series with planted leaks and decoys, in real formats, and its truth.
    Simulate(lab::SimulateArgs),
    /// Measure the detectors on truth-labelled series: TPR, FPR and latency per type and pattern.
    Eval(lab::EvalArgs),
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
        (Some(Command::Diff(args)), _) | (None, args) => diff::run_diff(args),
        (Some(Command::Slice(args)), _) => diff::run_slice(args),
        (Some(Command::Report(args)), _) => report::run_report(args),
        (Some(Command::Goroutines(args)), _) => goroutines::run_goroutines(args),
        (Some(Command::Cycles(args)), _) => dumps::run_cycles(args),
        (Some(Command::Retained(args)), _) => dumps::run_retained(args),
        (Some(Command::Simulate(args)), _) => lab::run_simulate(args),
        (Some(Command::Eval(args)), _) => lab::run_eval(args),
        (Some(Command::Collect(args)), _) => collect::run_collect(args),
        (Some(Command::Dashboard(args)), _) => dashboard::run_dashboard(args),
        (Some(Command::Export(args)), _) => export::run_export(args),
        (Some(Command::Check(args)), _) => check::run_check(args),
    }
}

/// The command line's definition, for checks of its consistency (`debug_assert`) in tests.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Prints each input's warnings and the symbolizer's, one line each, on stderr.
fn warn_inputs<'a>(
    loader: &crate::input::Loader,
    profiles: impl IntoIterator<Item = &'a crate::model::Profile>,
) {
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
fn emit(output: Option<&Path>, render: impl Fn(&mut dyn Write) -> io::Result<()>) -> Result<()> {
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
    path: &Path,
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
fn write_file(path: &Path, body: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    crate::live::write::write_atomically(path, None, body)
        .with_context(|| format!("could not write {}", path.display()))
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A progress line on stderr (`loading 37/100 snapshots`), redrawn in place and cleared at the
/// end; shown only when asked, stderr is a terminal and there are more than a handful of files.
struct Progress {
    shown: bool,
}

impl Progress {
    fn new(wanted: bool) -> Progress {
        use std::io::IsTerminal;
        Progress {
            shown: wanted && io::stderr().is_terminal(),
        }
    }

    fn tick(&self, done: usize, total: usize) {
        if self.shown && total > 4 {
            let mut e = io::stderr().lock();
            let _ = write!(e, "\rloading {done}/{total} snapshots");
            let _ = e.flush();
        }
    }

    fn finish(&self) {
        if self.shown {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
    }
}

/// True when an error is a closed stdout pipe (`leakdiff … | head`), which exits quietly.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
