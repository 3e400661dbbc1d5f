//! `watch`: a series that grows round by round (each file read once, when collected), judged
//! whole after every round; the changes of verdict printed as they happen, the check's
//! violations turned into alerts ([`alerting`]), and the run stopped at the first verdict as
//! severe as asked.
//!
//! May import: `input`, `store`, `leaks`, `check`, `live`, `report`, `fetch`, `trend`, `units`.

pub mod alerting;

use std::io::Write;
use std::path::PathBuf;

use crate::check::alerts::{Alerts, Status, MIN_OBSERVATIONS};
use crate::check::{Baseline, Config};
use crate::input::{GrowingSeries, Loader, SeriesOptions};
use crate::leaks::verdicts::{self, Change, Verdict};
use crate::leaks::AnalyzeOptions;
use crate::live::collect::{now_nanos, Flow};
use crate::store::{FrameRules, KeyBy, Order};
use crate::trend::Severity;
use alerting::{Actions, Senders};

/// How the changes are printed.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per change, for a terminal or a log.
    #[default]
    Text,
    /// One JSON document per line (`leakdiff.watch/v1`).
    Json,
}

/// What a watcher is asked to do.
pub struct WatchOptions {
    /// Frames heap keys skip besides the allocator's.
    pub frames: FrameRules,
    /// The value type to trend (`report`'s `--sample-index`).
    pub sample_index: Option<String>,
    /// Trend at most this many snapshots of each kind (0: all).
    pub max_points: usize,
    /// The analysis' options.
    pub analyze: AnalyzeOptions,
    /// How changes are printed.
    pub format: Format,
    /// Stop at the first suspect at least this severe.
    pub exit_on: Option<Severity>,
    /// Alert thresholds (`check`'s) and `[watch] alert_after`.
    pub config: Config,
    /// Known growth that never alerts.
    pub baseline: Baseline,
    /// Where alerts go.
    pub senders: Senders,
    /// What is done on a first alert.
    pub actions: Actions,
    /// The log of changes and alerts ([`crate::report::watch::LOG_NAME`] in the output folder,
    /// which `dashboard` shows); none: no log.
    pub log: Option<PathBuf>,
}

/// What the watcher keeps between rounds.
pub struct Watcher {
    o: WatchOptions,
    series: GrowingSeries,
    loader: Loader,
    verdicts: Vec<Verdict>,
    process: Option<String>,
    failures: usize,
    alerts: Alerts,
    /// The latest heap snapshot time of the series (nanoseconds since the epoch).
    latest: Option<i64>,
}

/// How far back a heap snapshot's time may be from the latest before the clock is taken to have
/// gone back: one second (profiles of one round can be taken a few milliseconds apart).
const CLOCK_SLACK_NS: i64 = 1_000_000_000;

impl Watcher {
    /// A watcher with nothing seen yet.
    pub fn new(o: WatchOptions) -> Watcher {
        let series = GrowingSeries::new(&series_options(&o.frames), o.max_points);
        Watcher {
            o,
            series,
            loader: Loader::new(Default::default(), Default::default()),
            verdicts: Vec::new(),
            process: None,
            failures: 0,
            alerts: Alerts::default(),
            latest: None,
        }
    }

    /// A verdict at least as severe as `exit_on`, the one that stops the run (verdicts are judged
    /// every round, so the first round that holds one stops it).
    pub fn hit(&self) -> Option<&Verdict> {
        let t = self.o.exit_on?;
        self.verdicts
            .iter()
            .find(|v| v.severity.is_some_and(|s| s <= t))
    }

    /// Appends `write` to the log, when there is one; a log that cannot be written is said once
    /// per round and never stops the watch.
    fn log(&self, write: impl Fn(&mut dyn Write) -> std::io::Result<()>) {
        let Some(path) = &self.o.log else { return };
        let done = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|f| {
                let mut w = std::io::BufWriter::new(f);
                write(&mut w)?;
                w.flush()
            });
        if let Err(e) = done {
            eprintln!("leakdiff: watch: cannot write {}: {e}", path.display());
        }
    }

    fn print(&self, changes: &[Change]) -> Result<(), String> {
        let at = now_nanos();
        if !changes.is_empty() {
            self.log(|w| {
                changes
                    .iter()
                    .try_for_each(|c| crate::report::watch::write_json(at, c, w))
            });
        }
        let mut out = std::io::stdout().lock();
        for c in changes {
            match self.o.format {
                Format::Text => crate::report::watch::write_text(at, c, &mut out),
                Format::Json => crate::report::watch::write_json(at, c, &mut out),
            }
            .map_err(|e| format!("cannot write the changes: {e}"))?;
        }
        out.flush().map_err(|e| e.to_string())
    }

    /// Starts a new series with this round's files: the process restarted, or its clock went
    /// back. Every verdict of the old series is dropped and its alerts resolved.
    fn start_over(&mut self, files: &[PathBuf]) {
        self.series = GrowingSeries::new(&series_options(&self.o.frames), self.o.max_points);
        self.series.add(files, &self.loader);
        self.verdicts.clear();
        self.failures = 0;
        self.latest = None;
        let at = now_nanos();
        self.o.senders.send(&self.alerts.reset(at), at);
    }

    /// One round's files: read once into the series, which is then judged whole.
    pub fn round(&mut self, files: &[PathBuf]) -> Result<Flow, String> {
        let added = self.series.add(files, &self.loader);
        let mut changes = Vec::new();
        let restarted = match (&self.process, added.processes.last()) {
            (Some(was), Some(now)) if was != now => Some(Change::Restarted {
                was: was.clone(),
                now: now.clone(),
            }),
            _ => None,
        };
        // A heap snapshot older than one already in the series: the clock went back (the
        // series' order, and every rate over it, would be wrong).
        let went_back = match (self.latest, added.times.iter().min()) {
            (Some(latest), Some(&t)) if t < latest - CLOCK_SLACK_NS => {
                Some(Change::ClockWentBack {
                    seconds: (latest - t) as f64 / 1e9,
                })
            }
            _ => None,
        };
        if let Some(c) = restarted.or(went_back) {
            changes.push(c);
            self.start_over(files);
        }
        if let Some(now) = added.processes.last() {
            self.process = Some(now.clone());
        }
        self.latest = added.times.iter().copied().max().max(self.latest);
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
        let report = store
            .evidence_with(self.o.sample_index.as_deref(), self.o.max_points)
            .ok()
            .and_then(|ev| crate::leaks::analyze(&ev, &self.o.analyze).ok());
        if let Some(report) = report {
            // A section's verdicts are printed once its trends stand on enough observations to
            // survive the correction for the other keys (the alerts' floor): before that they
            // come and go from round to round.
            let now: Vec<Verdict> = verdicts::verdicts(&report)
                .into_iter()
                .filter(|v| report.observations_of(v.section.name()) >= MIN_OBSERVATIONS)
                .collect();
            changes.extend(verdicts::changes(&self.verdicts, &now, &report));
            self.verdicts = now;
            // Alerts (and the evidence of their first firing) when something receives them.
            if self.o.senders.any() || self.o.actions.on_alert.is_some() {
                let result = crate::check::check_report(&report, &self.o.config, &self.o.baseline);
                let at = now_nanos();
                let alerts =
                    self.alerts
                        .round(&result, &report, at, self.o.config.alert_after_secs);
                self.o.senders.send(&alerts, at);
                self.o.actions.act(&alerts, at);
                let news: Vec<_> = alerts
                    .iter()
                    .filter(|a| a.first || a.status == Status::Resolved)
                    .collect();
                if !news.is_empty() {
                    self.log(|w| {
                        news.iter()
                            .try_for_each(|a| crate::report::watch::write_alert_json(at, a, w))
                    });
                }
            }
        }
        self.print(&changes)?;
        Ok(if self.hit().is_some() {
            Flow::Stop
        } else {
            Flow::Go
        })
    }
}

fn series_options(frames: &FrameRules) -> SeriesOptions<'static> {
    SeriesOptions {
        order: Order::Time,
        by: KeyBy::Function,
        progress: None,
        frames: frames.clone(),
    }
}
