//! The command line: clap arguments → typed options once, one file per command, each handing its
//! options to `app` (which loads, calls the stages and writes the outputs) or, for the short
//! ones, to the stages directly. Exit codes and the one error line live here.
//!
//! May import every stage. Nothing imports it but `main`.

mod args;
pub use args::pprof_style;
mod check;
mod collect;
mod dashboard;
mod diff;
mod dumps;
mod export;
mod goroutines;
mod ingest;
mod lab;
mod report;
mod series;
mod watch;

use std::io;
use std::path::Path;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::app::output::is_stdout;
use crate::app::output::{emit, write_file};
pub use crate::app::{EXIT_ERROR, EXIT_OK, EXIT_THRESHOLD};

/// Find memory leaks offline: diff heap profiles and see which allocation sites grew.
#[derive(Parser, Debug)]
#[command(
    name = "leakdiff",
    version,
    about,
    args_conflicts_with_subcommands = true,
    arg_required_else_help = true
)]
#[command(after_help = "\
Run `leakdiff BASE LATER` to diff two snapshots (the default command).

Examples:
  leakdiff base.pb.gz later.pb.gz                  what grew, by function
  leakdiff http://host:6060/debug/pprof/heap later.pb.gz -H 'Authorization: Bearer …'
  leakdiff report snapshots/ -o report.html        trend a folder into leak suspects
  leakdiff check main.pb.gz pr.pb.gz               CI gate against leakdiff.toml")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    diff: diff::DiffArgs,
    /// Worker threads (default: all cores; RAYON_NUM_THREADS works too).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Colour terminal output: auto (stdout a terminal, NO_COLOR unset, TERM not dumb;
    /// CLICOLOR_FORCE=1 forces it), always or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
}

/// `--color`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

static COLOR: std::sync::OnceLock<ColorWhen> = std::sync::OnceLock::new();

/// Whether to colour what goes to standard output (`output` is `-o`, if any).
fn color_for_stdout(output: Option<&Path>) -> bool {
    use std::io::IsTerminal;
    if output.is_some_and(|p| !is_stdout(p)) {
        return false;
    }
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    match COLOR.get().copied().unwrap_or(ColorWhen::Auto) {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            if set("NO_COLOR") {
                false
            } else if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0")
            {
                true
            } else {
                std::env::var_os("TERM").is_none_or(|t| t != "dumb") && io::stdout().is_terminal()
            }
        }
    }
}

// Parsed once per run: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Diff two snapshots: later − base per function, stack, site, file or line (the default).
    #[command(
        after_help = "Examples:\n  leakdiff diff base.pb.gz later.pb.gz --by stack --top 10\n  leakdiff diff --base allocs-1.pb.gz allocs-2.pb.gz --sample-index alloc_space\n  curl -s http://host:6060/debug/pprof/heap | leakdiff base.pb.gz - -f folded > d.folded"
    )]
    Diff(diff::DiffArgs),
    /// Cut a heaptrack recording into snapshots of in-use memory, written as pprof files.
    #[command(
        after_help = "Examples:\n  leakdiff slice heaptrack.app.1234.zst --slices 20 -o slices/"
    )]
    Slice(diff::SliceArgs),
    /// Trend a folder of snapshots: leak suspects by pattern and severity, prediction, HTML.
    #[command(
        after_help = "Examples:\n  leakdiff report snapshots/                     terminal summary\n  leakdiff report snapshots/ -o report.html     self-contained HTML\n  leakdiff report a.pb.gz b.pb.gz c.pb.gz -f json --memory-limit 2GiB"
    )]
    Report(report::ReportArgs),
    /// Group the goroutines of one or many dumps, flag the blocked ones and trend their counts.
    #[command(
        after_help = "Examples:\n  leakdiff goroutines dump.txt\n  leakdiff goroutines dumps/ --group-by creator"
    )]
    Goroutines(goroutines::GoroutinesArgs),
    /// Reference cycles in a Go heap dump, reachable and not, with a path from a root.
    #[command(after_help = "Examples:\n  leakdiff cycles heap.dump --top 5")]
    Cycles(dumps::DumpArgs),
    /// What keeps memory alive in a Go heap dump: retained size by allocation site or object.
    #[command(after_help = "Examples:\n  leakdiff retained heap.dump --by site")]
    Retained(dumps::RetainedArgs),
    /// Write a synthetic series with planted leaks and decoys, in real formats, and its truth.
    #[command(after_help = "Examples:\n  leakdiff simulate -o /tmp/sim --seed 7")]
    Simulate(lab::SimulateArgs),
    /// Measure the detectors on truth-labelled series: TPR, FPR and latency per type and pattern.
    #[command(after_help = "Examples:\n  leakdiff eval /tmp/sim")]
    Eval(lab::EvalArgs),
    /// Fetch heap and goroutine profiles (and /proc samples) on a schedule into a folder.
    #[command(
        after_help = "Examples:\n  leakdiff collect --url http://127.0.0.1:6060/debug/pprof/ --interval 30s -o snapshots/\n  leakdiff collect --url https://svc/debug/pprof/ -H \"Authorization: Bearer $TOKEN\" -o snaps/"
    )]
    Collect(collect::CollectArgs),
    /// Collect as `collect` does and judge the series after every round: each change of
    /// verdict (a new suspect, a severity, a suspect that stopped, a restart) as it happens.
    #[command(
        after_help = "Examples:\n  leakdiff watch --url http://127.0.0.1:6060/debug/pprof/ --interval 30s -o snapshots/\n  leakdiff watch --url http://svc:6060/debug/pprof/ --pid 1234 -o snaps/ --exit-on high -f json"
    )]
    Watch(watch::WatchArgs),
    /// Serve the HTML report of a folder on 127.0.0.1, recomputed as new snapshots arrive.
    #[command(after_help = "Examples:\n  leakdiff dashboard snapshots/ --port 8080")]
    Dashboard(dashboard::DashboardArgs),
    /// Export a folder of snapshots: the long table (JSON, CSV, Parquet), Prometheus gauges, or
    /// the first → last heap snapshots as a pprof diff, folded stacks or speedscope.
    #[command(
        after_help = "Examples:\n  leakdiff export snapshots/ -f parquet -o store.parquet\n  leakdiff export snapshots/ -f folded -o first-to-last.folded"
    )]
    Export(export::ExportArgs),
    /// Append snapshots to a fleet dataset: Hive-partitioned Parquet (service=/date=) that
    /// DuckDB, Spark and `leakdiff report DATASET --service NAME` read.
    #[command(
        after_help = "Examples:\n  leakdiff ingest --service checkout -i snapshots/ -o fleet/\n  leakdiff report fleet/ --service checkout --since 7d\n  duckdb -c \"SELECT service, key, max(value) - min(value) AS growth FROM read_parquet('fleet/*/*/*.parquet', hive_partitioning = true) WHERE kind = 'heap' AND value_type = 'inuse_space' AND key IS NOT NULL GROUP BY ALL ORDER BY growth DESC LIMIT 10\""
    )]
    Ingest(ingest::IngestArgs),
    /// CI gate: two snapshots or a series against leakdiff.toml limits and a baseline; exit 1
    /// on a violation.
    #[command(
        after_help = "Examples:\n  leakdiff check main.pb.gz pr.pb.gz -f sarif -o leakdiff.sarif --srcroot example.com/svc/\n  leakdiff check -i snapshots/ --config leakdiff.toml"
    )]
    Check(check::CheckArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Example:\n  leakdiff completions bash > ~/.local/share/bash-completion/completions/leakdiff"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(after_help = "Example:\n  leakdiff man > leakdiff.1 && man ./leakdiff.1")]
    Man,
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
    let _ = COLOR.set(cli.color);
    match (cli.command, cli.diff) {
        (Some(Command::Diff(args)), _) => diff::run_diff(args),
        (None, args) => {
            if let Some(word) = args.first_input().and_then(mistyped_command) {
                anyhow::bail!(
                    "{}: no such file, and no command of that name; did you mean `leakdiff {word}`?",
                    args.first_input().map_or(String::new(), |p| p.display().to_string())
                );
            }
            diff::run_diff(args)
        }
        (Some(Command::Slice(args)), _) => diff::run_slice(args),
        (Some(Command::Report(args)), _) => report::run_report(args),
        (Some(Command::Goroutines(args)), _) => goroutines::run_goroutines(args),
        (Some(Command::Cycles(args)), _) => dumps::run_cycles(args),
        (Some(Command::Retained(args)), _) => dumps::run_retained(args),
        (Some(Command::Simulate(args)), _) => lab::run_simulate(args),
        (Some(Command::Eval(args)), _) => lab::run_eval(args),
        (Some(Command::Collect(args)), _) => collect::run_collect(args),
        (Some(Command::Watch(args)), _) => watch::run_watch(args),
        (Some(Command::Dashboard(args)), _) => dashboard::run_dashboard(args),
        (Some(Command::Export(args)), _) => export::run_export(args),
        (Some(Command::Ingest(args)), _) => ingest::run_ingest(args),
        (Some(Command::Check(args)), _) => check::run_check(args),
        (Some(Command::Completions { shell }), _) => {
            let mut out = io::stdout().lock();
            clap_complete::generate(shell, &mut command(), "leakdiff", &mut out);
            Ok(EXIT_OK)
        }
        (Some(Command::Man), _) => {
            let mut out = io::stdout().lock();
            clap_mangen::Man::new(command())
                .render(&mut out)
                .context("could not write the man page")?;
            Ok(EXIT_OK)
        }
    }
}

/// The command a first argument that is no file was probably meant to be: one within two edits
/// of its name (`reprot` → `report`), when exactly one is.
fn mistyped_command(first: &Path) -> Option<String> {
    let word = first.to_str()?;
    if word.contains(['/', '.']) || first.exists() || word.len() < 3 {
        return None;
    }
    let names: Vec<String> = command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let close: Vec<String> = names
        .into_iter()
        .filter(|n| edit_distance(word, n) <= 2 || n.starts_with(word))
        .collect();
    (close.len() == 1).then(|| close[0].clone())
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The command line's definition, for checks of its consistency (`debug_assert`) in tests.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// True when an error is a closed stdout pipe (`leakdiff … | head`), which exits quietly.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
