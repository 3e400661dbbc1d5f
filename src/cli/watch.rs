//! `leakdiff watch`: collect as `collect` does and judge the series after every round, printing
//! each change of verdict as it happens; `--exit-on` ends it at the first verdict that severe.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::collect::{collect_with, CollectArgs};
use super::series::AnalysisArgs;
use super::{EXIT_ERROR, EXIT_OK, EXIT_THRESHOLD};
use crate::check::alerts::{Alert, Alerts, Status};
use crate::check::{Baseline, Config};
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
    /// Alert thresholds, as `check`'s (default: ./leakdiff.toml when present, else any leak
    /// suspect alerts); `[watch] alert_after = "5m"` is how long a key must stay over them first.
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
}

/// Where alerts go.
struct Senders {
    service: String,
    cmd: Option<String>,
    webhook: Option<crate::fetch::Url>,
    alertmanager: Option<crate::fetch::Url>,
    /// Alertmanager forgets an alert not sent again by its `endsAt`: a few rounds from now.
    hold_ms: i64,
}

impl Senders {
    fn any(&self) -> bool {
        self.cmd.is_some() || self.webhook.is_some() || self.alertmanager.is_some()
    }

    /// Sends a round's alerts: to the command and the webhook those that fire for the first time
    /// or resolve; to Alertmanager every one (it wants firing alerts again before they expire).
    fn send(&self, alerts: &[Alert], now: i64) {
        let opts = crate::fetch::FetchOptions {
            timeout: std::time::Duration::from_secs(10),
            ..Default::default()
        };
        for a in alerts {
            if a.status == Status::Firing && !a.first {
                continue;
            }
            eprintln!(
                "leakdiff: watch: alert {} {} {}",
                if a.status == Status::Firing {
                    "firing:"
                } else {
                    "resolved:"
                },
                a.kind,
                crate::units::term_safe(&a.key)
            );
            let doc = serde_json::json!({ "service": self.service, "alert": a }).to_string();
            if let Some(cmd) = &self.cmd {
                if let Err(e) = run_alert_cmd(cmd, doc.as_bytes()) {
                    eprintln!("leakdiff: watch: --alert-cmd: {e}");
                }
            }
            if let Some(url) = &self.webhook {
                if let Err(e) = crate::fetch::post_json(url, doc.as_bytes(), &opts) {
                    eprintln!("leakdiff: watch: --webhook {url}: {e}");
                }
            }
        }
        if let Some(am) = &self.alertmanager {
            if alerts.is_empty() {
                return;
            }
            let body: Vec<serde_json::Value> = alerts
                .iter()
                .map(|a| alertmanager_alert(a, &self.service, now, self.hold_ms))
                .collect();
            let body = serde_json::Value::Array(body).to_string();
            if let Err(e) = crate::fetch::post_json(am, body.as_bytes(), &opts) {
                eprintln!("leakdiff: watch: --alertmanager {am}: {e}");
            }
        }
    }
}

/// Runs `cmd` under `sh -c` with `input` on its standard input; an error when it cannot run or
/// fails.
fn run_alert_cmd(cmd: &str, input: &[u8]) -> Result<(), String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `sh -c {cmd}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{cmd}` exited with {status}"))
    }
}

/// One alert in Alertmanager's v2 form: labels that identify it (service, kind, key, severity),
/// annotations that explain it, `endsAt` now for a resolved one and a few rounds ahead for a
/// firing one.
fn alertmanager_alert(a: &Alert, service: &str, now: i64, hold_ms: i64) -> serde_json::Value {
    use crate::units::rfc3339_utc;
    let ends = match a.ended {
        Some(t) => t,
        None => now + hold_ms * 1_000_000,
    };
    let mut annotations = serde_json::json!({ "summary": a.reason });
    if let Some(r) = &a.rate {
        annotations["rate"] = r.clone().into();
    }
    if let Some(h) = a.hours_to_limit {
        annotations["time_to_limit"] = crate::units::format_duration_s(h * 3600.0).into();
    }
    serde_json::json!({
        "labels": {
            "alertname": "LeakSuspect",
            "service": service,
            "kind": a.kind,
            "key": a.key,
            "severity": a.severity.clone().unwrap_or_else(|| "none".into()),
        },
        "annotations": annotations,
        "startsAt": rfc3339_utc(a.since),
        "endsAt": rfc3339_utc(ends),
    })
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
    config: Config,
    baseline: Baseline,
    alerts: Alerts,
    senders: Senders,
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
                    self.senders
                        .send(&self.alerts.reset(now_nanos()), now_nanos());
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
            if self.senders.any() {
                let result = crate::check::check_report(&report, &self.config, &self.baseline);
                let at = now_nanos();
                let alerts = self
                    .alerts
                    .round(&result, &report, at, self.config.alert_after_secs);
                self.senders.send(&alerts, at);
            }
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
    let mut w = Watcher {
        config: super::check::read_config(args.config.as_deref())?,
        baseline: super::check::read_baseline(args.baseline.as_deref())?,
        alerts: Alerts::default(),
        senders,
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
