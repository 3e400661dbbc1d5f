//! `leakdiff check`: the CI gate. Two snapshots (`check BASE LATER`) or a series (`--input DIR`)
//! against `leakdiff.toml` and a baseline; exit 1 when something is over its limit.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::{DatasetArgs, InputArgs};
use super::series::{self, AnalysisArgs};
use super::{emit, write_file, EXIT_OK, EXIT_THRESHOLD};
use crate::app;
use crate::check;
use crate::store::{KeyBy, Order};

/// Output formats of `check`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// Lines for a terminal or CI log.
    #[default]
    Text,
    /// A pull-request comment.
    Markdown,
    /// JUnit XML (test reports in Jenkins, GitLab, GitHub actions).
    Junit,
    /// SARIF 2.1.0 (code scanning).
    Sarif,
    /// `leakdiff.check/v1` JSON.
    Json,
}

#[derive(Args, Debug)]
pub(super) struct CheckArgs {
    /// The earlier snapshot (with LATER); alone, a folder of snapshots (a series, as --input).
    #[arg(required_unless_present = "input", conflicts_with = "input")]
    base: Option<PathBuf>,
    /// The later snapshot.
    #[arg(requires = "base")]
    later: Option<PathBuf>,
    /// A folder of snapshots (a series): its leak suspects are checked.
    #[arg(long, short = 'i', value_name = "DIR", num_args = 1..)]
    input: Vec<PathBuf>,
    /// Thresholds (default: ./leakdiff.toml when present, else: a key growing by more than
    /// 1 MiB between two snapshots fails, and any leak suspect of a series fails).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Known growth not to fail on: `leak:PATTERN` lines (default: ./leakdiff.baseline when
    /// present).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Write a baseline of everything over a limit now, and pass.
    #[arg(long, value_name = "FILE")]
    write_baseline: Option<PathBuf>,
    #[command(flatten)]
    analysis: AnalysisArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    /// Write the verdict here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// SARIF: a prefix to strip from source paths so they are relative to the repository
    /// (a Go module path with -trimpath, e.g. `example.com/svc/`, or the checkout's absolute
    /// path). Repeatable; the current folder is always tried.
    #[arg(long, value_name = "PREFIX")]
    srcroot: Vec<String>,
    #[command(flatten)]
    dataset: DatasetArgs,
    #[command(flatten)]
    slices: super::args::SeriesSlices,
    #[command(flatten)]
    read: InputArgs,
}

pub(super) fn run_check(args: CheckArgs) -> Result<u8> {
    let config = app::check::read_config(args.config.as_deref())?;
    let baseline = app::check::read_baseline(args.baseline.as_deref())?;
    // `check DIR` is `check --input DIR`, as for report and the other series commands.
    let series_inputs: Vec<PathBuf> = match (&args.base, &args.later) {
        (Some(dir), None) if dir.is_dir() || crate::dataset::is_dataset(dir) => vec![dir.clone()],
        _ => args.input.clone(),
    };
    let loader = if series_inputs.is_empty() {
        args.read.loader()?
    } else {
        series::loader(&args.read, &args.slices)?
    };
    let mut status = EXIT_OK;
    let pair = if series_inputs.is_empty() {
        (args.base.as_ref(), args.later.as_ref())
    } else {
        (None, None)
    };
    let result = match pair {
        (Some(base), Some(later)) => {
            let sample = args.analysis.sample_index.as_deref();
            app::check::check_pair(&loader, (base, later), sample, &config, &baseline)?
        }
        (Some(_), None) => {
            anyhow::bail!("give two snapshots (BASE LATER), or a folder (DIR or --input DIR)")
        }
        _ => {
            let store = crate::app::series::load_store(
                &series_inputs,
                &args.dataset.filter()?,
                &loader,
                Order::Time,
                KeyBy::Function,
                true,
                args.analysis.frames()?,
            )?;
            status = crate::app::series::status_of(&store);
            let report = args.analysis.analyze(&store, 0, false)?;
            if let Some(p) = &report.profiler_overhead {
                eprintln!(
                    "leakdiff: {} key(s) allocated by the profiler itself (runtime/pprof, net/http/pprof serving the profiles) left out; --keep-profiler checks them",
                    p.keys.len()
                );
            }
            check::check_report(&report, &config, &baseline)
        }
    };
    if let Some(path) = &args.write_baseline {
        let text = check::baseline_lines(&result);
        write_file(path, |w| w.write_all(text.as_bytes()))?;
        eprintln!(
            "leakdiff: wrote a baseline of {} finding(s) to {}",
            result.violations.len() + result.suppressed.len(),
            path.display()
        );
        return Ok(EXIT_OK);
    }
    use crate::report::check as out;
    let mut srcroots = args.srcroot.clone();
    if let Ok(cwd) = std::env::current_dir() {
        srcroots.push(format!("{}/", cwd.display()));
    }
    emit(args.output.as_deref(), |w| match args.format {
        CheckFormat::Text => out::write_check_text(&result, w),
        CheckFormat::Markdown => out::write_check_markdown(&result, w),
        CheckFormat::Junit => out::write_check_junit(&result, w),
        CheckFormat::Sarif => out::write_check_sarif(&result, &srcroots, w),
        CheckFormat::Json => out::write_check_json(&result, w),
    })?;
    if result.failed() {
        eprintln!(
            "leakdiff: check failed: {} finding(s) over their limits",
            result.violations.len()
        );
        return Ok(EXIT_THRESHOLD);
    }
    Ok(status)
}
