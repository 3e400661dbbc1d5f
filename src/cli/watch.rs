//! `leakdiff watch`: collect as `collect` does and judge the series after every round, printing
//! each change of verdict as it happens; `--exit-on` ends it at the first verdict that severe.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::collect::{collect_with, CollectArgs};
use super::series::AnalysisArgs;
use super::{EXIT_ERROR, EXIT_OK, EXIT_THRESHOLD};
use crate::live::collect::{Endpoint, Outcome};
use crate::trend::Severity;
use crate::watch::alerting::{Actions, Senders};
use crate::watch::{Format, WatchOptions, Watcher};

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

/// What `watch` fetches unless told: the profiles whose cost stays under the noise of a busy
/// service at 30 s (the goroutine text dump and goroutineleak come with the first alert's
/// evidence).
const WATCH_PROFILES: &[Endpoint] = &[Endpoint::Heap, Endpoint::Goroutine];

/// How many snapshots of each kind `watch` trends unless told: it judges after every round, and
/// at 200 points a round's judging stays in tens of milliseconds however long it has run
/// (`benches/watch_round.rs`; `report`'s 1000 cost 0.2–0.5 s a round).
const WATCH_MAX_POINTS: usize = 200;

#[derive(Args, Debug)]
pub(super) struct WatchArgs {
    #[command(flatten)]
    collect: CollectArgs,
    #[command(flatten)]
    analysis: AnalysisArgs,
    /// How the changes of verdict are printed on standard output.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    format: Format,
    /// End with exit status 1 at the first suspect of at least this severity (a smoke test of
    /// a service under load in CI).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    exit_on: Option<SeverityArg>,
    /// Alert thresholds, as `check`'s (default: ./leakdiff.toml when present, else any leak
    /// suspect alerts); `[watch] alert_after = "5m"` is how long a key must stay over them first
    /// (default 1m: a cache still filling grows as a leak does).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Known growth that never alerts: `leak:PATTERN` lines (default: ./leakdiff.baseline when
    /// present).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Run this shell command when an alert fires and when it resolves, with the alert
    /// (`leakdiff.alert/v1` JSON) on its standard input.
    #[arg(long, value_name = "CMD")]
    alert_cmd: Option<String>,
    /// POST each alert that fires or resolves to this URL, as `leakdiff.alert/v1` JSON.
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Send the alerts to this Alertmanager (its base URL: `/api/v2/alerts` is posted to), again
    /// every round while they fire, resolved when the growth stops.
    #[arg(long, value_name = "URL")]
    alertmanager: Option<String>,
    /// The service's name in alerts (the `service` label; default: the URL's host:port, else
    /// the pid).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// When alerts fire for the first time, also run this shell command in the folder the
    /// evidence was gathered into (a heap dump, a core), with the alerts as a JSON array on its
    /// stdin and the folder in $LEAKDIFF_EVIDENCE. Alerting with no sender but this works too.
    #[arg(long, value_name = "CMD")]
    on_alert: Option<String>,
    /// Gather no evidence when alerts fire for the first time (by default: a heap profile after
    /// a forced GC, a goroutine dump and the goroutineleak profile, into OUTPUT-evidence/TIME/).
    #[arg(long)]
    no_evidence: bool,
    /// Gather evidence (and run --on-alert) at most once per this long: a flood of alerts is
    /// one gathering.
    #[arg(long, value_name = "DURATION", value_parser = crate::units::parse_duration_ms, default_value = "10m")]
    evidence_every: u64,
}

pub(super) fn run_watch(args: WatchArgs) -> Result<u8> {
    let url = |flag: &str, u: &Option<String>, path: &str| -> Result<Option<crate::fetch::Url>> {
        u.as_deref()
            .map(|u| {
                crate::fetch::Url::parse(u)
                    .map(|u| if path.is_empty() { u } else { u.join(path) })
                    .map_err(|e| anyhow::anyhow!("{flag} {u}: {e}"))
            })
            .transpose()
    };
    let senders = Senders {
        service: args.name.clone().unwrap_or_else(|| args.collect.target()),
        cmd: args.alert_cmd.clone(),
        webhook: url("--webhook", &args.webhook, "")?,
        alertmanager: url("--alertmanager", &args.alertmanager, "api/v2/alerts")?,
        hold_ms: (4 * args.collect.interval_ms()).max(300_000) as i64,
    };
    let (output, _) = args.collect.output_dir()?;
    let evidence = {
        let mut name = output.file_name().unwrap_or_default().to_os_string();
        name.push("-evidence");
        output.with_file_name(name)
    };
    let actions = Actions {
        evidence: (!args.no_evidence).then_some(evidence),
        url: args.collect.pprof_url(),
        headers: args.collect.headers().to_vec(),
        on_alert: args.on_alert.clone(),
        every_ns: args.evidence_every as i64 * 1_000_000,
        last: None,
    };
    let exit_on = args.exit_on.map(SeverityArg::severity);
    let mut w = Watcher::new(WatchOptions {
        frames: args.analysis.frames()?,
        sample_index: args.analysis.sample_index.clone(),
        max_points: args.analysis.max_points_or(WATCH_MAX_POINTS),
        analyze: args.analysis.options(0),
        format: args.format,
        exit_on,
        config: crate::app::check::read_config(args.config.as_deref())?,
        baseline: crate::app::check::read_baseline(args.baseline.as_deref())?,
        senders,
        actions,
        log: Some(output.join(crate::report::watch::LOG_NAME)),
    });
    let mut judge = |files: &[PathBuf]| w.round(files);
    let outcome = collect_with(args.collect, WATCH_PROFILES, Some(&mut judge))?;
    if let Some(v) = w.hit() {
        eprintln!(
            "leakdiff: watch: {} suspect {} ({}), at least {}: exiting",
            v.severity.map_or("", |s| s.name()),
            crate::units::term_safe(&v.key),
            v.section.name(),
            exit_on.map_or("", |s| s.name())
        );
        return Ok(EXIT_THRESHOLD);
    }
    Ok(match outcome {
        Outcome::Done => EXIT_OK,
        Outcome::NothingCollected | Outcome::Lost(_) => EXIT_ERROR,
    })
}
