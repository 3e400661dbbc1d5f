//! `leakdiff watch`: collect as `collect` does and judge the series after every round, printing
//! each change of verdict as it happens; `--exit-on` ends it at the first verdict that severe.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::collect::{collect_with, CollectArgs};
use super::series::AnalysisArgs;
use super::{EXIT_ERROR, EXIT_OK, EXIT_THRESHOLD};
use crate::input::{GrowingSeries, Loader, SeriesOptions};
use crate::leaks::verdicts::{self, Change, Verdict};
use crate::live::collect::{Flow, Outcome};
use crate::store::{KeyBy, Order};
use crate::trend::Severity;

/// How the changes are printed.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum WatchFormat {
    /// One line per change, for a terminal or a log.
    #[default]
    Text,
    /// One JSON document per line (`leakdiff.watch/v1`).
    Json,
}

/// A severity named on the command line.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum SeverityArg {
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityArg {
    fn severity(self) -> Severity {
        match self {
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

#[derive(Args, Debug)]
pub(super) struct WatchArgs {
    #[command(flatten)]
    collect: CollectArgs,
    #[command(flatten)]
    analysis: AnalysisArgs,
    /// How the changes of verdict are printed on standard output.
    #[arg(long, short = 'f', value_enum, default_value_t = WatchFormat::Text)]
    format: WatchFormat,
    /// End with exit status 1 at the first suspect of at least this severity (a smoke test of
    /// a service under load in CI).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    exit_on: Option<SeverityArg>,
}

/// What the watcher keeps between rounds.
struct Watcher {
    series: GrowingSeries,
    loader: Loader,
    analysis: AnalysisArgs,
    format: WatchFormat,
    exit_on: Option<Severity>,
    verdicts: Vec<Verdict>,
    process: Option<String>,
    failures: usize,
    hit: bool,
}

fn series_options() -> SeriesOptions<'static> {
    SeriesOptions {
        order: Order::Time,
        by: KeyBy::Function,
        progress: None,
        frames: Default::default(),
    }
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Watcher {
    fn print(&self, changes: &[Change]) -> Result<(), String> {
        let at = now_nanos();
        let mut out = std::io::stdout().lock();
        for c in changes {
            match self.format {
                WatchFormat::Text => crate::report::watch::write_text(at, c, &mut out),
                WatchFormat::Json => crate::report::watch::write_json(at, c, &mut out),
            }
            .map_err(|e| format!("cannot write the changes: {e}"))?;
        }
        out.flush().map_err(|e| e.to_string())
    }

    /// One round's files: read once into the series, which is then judged whole.
    fn round(&mut self, files: &[PathBuf]) -> Result<Flow, String> {
        let processes = self.series.add(files, &self.loader);
        let mut changes = Vec::new();
        if let Some(now) = processes.last() {
            match &self.process {
                Some(was) if was != now => {
                    changes.push(Change::Restarted {
                        was: was.clone(),
                        now: now.clone(),
                    });
                    self.series = GrowingSeries::new(&series_options());
                    self.series.add(files, &self.loader);
                    self.verdicts.clear();
                    self.failures = 0;
                }
                _ => {}
            }
            self.process = Some(now.clone());
        }
        let store = match self.series.store() {
            Ok(s) => s,
            Err(e) => {
                self.print(&changes)?;
                return Err(format!("watch: {e}"));
            }
        };
        for f in store.failures.iter().skip(self.failures) {
            eprintln!("leakdiff: watch: error: {}", f.message);
        }
        self.failures = store.failures.len();
        // Until the series has two heap snapshots there is nothing to trend.
        if let Ok(report) = self.analysis.analyze(&store, 0, false) {
            let now = verdicts::verdicts(&report);
            changes.extend(verdicts::changes(&self.verdicts, &now, &report));
            self.verdicts = now;
        }
        self.print(&changes)?;
        let hit = self.exit_on.is_some_and(|t| {
            self.verdicts
                .iter()
                .any(|v| v.severity.is_some_and(|s| s <= t))
        });
        if hit {
            self.hit = true;
            return Ok(Flow::Stop);
        }
        Ok(Flow::Go)
    }
}

pub(super) fn run_watch(args: WatchArgs) -> Result<u8> {
    let mut w = Watcher {
        series: GrowingSeries::new(&series_options()),
        loader: Loader::new(Default::default(), Default::default()),
        analysis: args.analysis,
        format: args.format,
        exit_on: args.exit_on.map(SeverityArg::severity),
        verdicts: Vec::new(),
        process: None,
        failures: 0,
        hit: false,
    };
    let mut judge = |files: &[PathBuf]| w.round(files);
    let outcome = collect_with(args.collect, Some(&mut judge))?;
    if w.hit {
        let first = w.verdicts.iter().find(|v| {
            v.severity
                .is_some_and(|s| w.exit_on.is_some_and(|t| s <= t))
        });
        if let Some(v) = first {
            eprintln!(
                "leakdiff: watch: {} suspect {} ({}), at least {}: exiting",
                v.severity.map_or("", |s| s.name()),
                crate::units::term_safe(&v.key),
                v.section.name(),
                w.exit_on.map_or("", |s| s.name())
            );
        }
        return Ok(EXIT_THRESHOLD);
    }
    Ok(match outcome {
        Outcome::Done => EXIT_OK,
        Outcome::NothingCollected | Outcome::Lost(_) => EXIT_ERROR,
    })
}
