//! `watch`'s output: one line per change of verdict, as text for a terminal or a log, or as one
//! JSON document per line (`leakdiff.watch/v1`) for a program.

use std::io::{self, Write};

use serde::Serialize;

use crate::leaks::verdicts::{Change, Verdict};
use crate::units::{rate_over, rfc3339_utc, term_safe};

/// The schema of a JSON line.
pub const SCHEMA: &str = "leakdiff.watch/v1";

fn describe(v: &Verdict) -> String {
    let severity = v.severity.map_or("-", |s| s.name());
    let limit = v
        .hours_to_limit
        .map(|h| format!("  limit in {}", crate::units::format_duration_s(h * 3600.0)))
        .unwrap_or_default();
    format!(
        "{:<10} {:<8} {:<11} {:>14}{limit}  {}",
        v.section.name(),
        severity,
        v.pattern.name(),
        rate_over(v.slope_per_hour, &v.unit, v.span_hours),
        term_safe(&v.key)
    )
}

/// One change as a line of text, stamped with `at` (nanoseconds since the epoch).
pub fn write_text(at: i64, c: &Change, w: &mut dyn Write) -> io::Result<()> {
    let when = rfc3339_utc(at);
    match c {
        Change::NewSuspect { verdict } => {
            writeln!(w, "{when}  new suspect   {}", describe(verdict))
        }
        Change::Severity { verdict, from } => writeln!(
            w,
            "{when}  {:<13} {}",
            format!("was {}", from.map_or("-", |s| s.name())),
            describe(verdict)
        ),
        Change::Stopped { section, key, now } => writeln!(
            w,
            "{when}  stopped       {:<10} now {now}  {}",
            section.name(),
            term_safe(key)
        ),
        Change::Restarted { was, now } => writeln!(
            w,
            "{when}  restarted     the process is another one ({} → {}): a new series starts",
            term_safe(was),
            term_safe(now)
        ),
        Change::ClockWentBack { seconds } => writeln!(
            w,
            "{when}  clock         a heap snapshot is {} older than the series' latest: the clock went back, a new series starts",
            crate::units::format_duration_s(*seconds)
        ),
    }
}

#[derive(Serialize)]
struct Line<'a> {
    schema: &'static str,
    time: String,
    #[serde(flatten)]
    change: &'a Change,
}

/// One change as one line of JSON, stamped with `at`.
pub fn write_json(at: i64, c: &Change, w: &mut dyn Write) -> io::Result<()> {
    let line = Line {
        schema: SCHEMA,
        time: rfc3339_utc(at),
        change: c,
    };
    serde_json::to_writer(&mut *w, &line)?;
    writeln!(w)
}

/// The name of the log a watcher keeps in its output folder: every change it printed and every
/// alert that fired or resolved, one JSON document per line (never read as a snapshot).
pub const LOG_NAME: &str = "watch.jsonl";

#[derive(Serialize)]
struct AlertLine<'a> {
    time: String,
    #[serde(flatten)]
    alert: &'a crate::check::alerts::Alert,
}

/// One alert as one line of JSON (`leakdiff.alert/v1`), stamped with `at`.
pub fn write_alert_json(
    at: i64,
    a: &crate::check::alerts::Alert,
    w: &mut dyn Write,
) -> io::Result<()> {
    serde_json::to_writer(
        &mut *w,
        &AlertLine {
            time: rfc3339_utc(at),
            alert: a,
        },
    )?;
    writeln!(w)
}

/// A watcher's verdict as its log tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedVerdict {
    /// `heap`, `callers`, `goroutine` or `process`.
    pub section: String,
    /// The key.
    pub key: String,
    /// Severity (`-` for a caller).
    pub severity: String,
    /// Pattern.
    pub pattern: String,
    /// The rate as text.
    pub rate: String,
    /// When it became a suspect (or last changed severity).
    pub since: String,
}

/// One line of a watcher's history.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    /// RFC 3339.
    pub time: String,
    /// `new suspect`, `severity`, `stopped`, `restarted`, `clock went back`, `alert firing`,
    /// `alert resolved`.
    pub what: String,
    /// The section or alert kind.
    pub section: String,
    /// The key (empty for a restart).
    pub key: String,
    /// What else the line says, in words.
    pub detail: String,
}

/// What a watcher's log says: the verdicts it holds now (its changes replayed) and its history,
/// oldest first; lines that are no watch or alert document are counted, not read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WatchLog {
    /// The verdicts held after the last change, in section and key order.
    pub current: Vec<LoggedVerdict>,
    /// Every change and alert.
    pub history: Vec<LoggedEvent>,
    /// Lines left out (not JSON, or another schema).
    pub unreadable: usize,
}

/// Reads a watcher's log ([`LOG_NAME`]).
pub fn read_log(text: &str) -> WatchLog {
    let mut log = WatchLog::default();
    let mut held: std::collections::BTreeMap<(String, String), LoggedVerdict> = Default::default();
    let s = |v: &serde_json::Value, f: &str| v[f].as_str().unwrap_or("").to_string();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            log.unreadable += 1;
            continue;
        };
        let time = s(&v, "time");
        match v["schema"].as_str() {
            Some(SCHEMA) => {
                let change = s(&v, "change");
                let verdict = &v["verdict"];
                let (section, key) = if verdict.is_object() {
                    (s(verdict, "section"), s(verdict, "key"))
                } else {
                    (s(&v, "section"), s(&v, "key"))
                };
                let what = match change.as_str() {
                    "new_suspect" => "new suspect",
                    "severity" => "severity",
                    "stopped" => "stopped",
                    "restarted" => "restarted",
                    "clock_went_back" => "clock went back",
                    _ => {
                        log.unreadable += 1;
                        continue;
                    }
                };
                let detail = match change.as_str() {
                    "stopped" => format!("now {}", s(&v, "now")),
                    "restarted" => format!("{} → {}", s(&v, "was"), s(&v, "now")),
                    "clock_went_back" => format!(
                        "by {}",
                        crate::units::format_duration_s(v["seconds"].as_f64().unwrap_or(0.0))
                    ),
                    "severity" => format!(
                        "{} (was {})",
                        verdict["severity"].as_str().unwrap_or("-"),
                        v["from"].as_str().unwrap_or("-")
                    ),
                    _ => format!(
                        "{} {}",
                        verdict["severity"].as_str().unwrap_or("-"),
                        s(verdict, "pattern")
                    ),
                };
                match change.as_str() {
                    "new_suspect" | "severity" => {
                        let rate = rate_over(
                            verdict["slope_per_hour"].as_f64().unwrap_or(0.0),
                            &s(verdict, "unit"),
                            verdict["span_hours"].as_f64().unwrap_or(0.0),
                        );
                        held.insert(
                            (section.clone(), key.clone()),
                            LoggedVerdict {
                                section: section.clone(),
                                key: key.clone(),
                                severity: verdict["severity"].as_str().unwrap_or("-").to_string(),
                                pattern: s(verdict, "pattern"),
                                rate,
                                since: time.clone(),
                            },
                        );
                    }
                    "stopped" => {
                        held.remove(&(section.clone(), key.clone()));
                    }
                    _ => held.clear(),
                }
                log.history.push(LoggedEvent {
                    time,
                    what: what.to_string(),
                    section,
                    key,
                    detail,
                });
            }
            Some(crate::check::alerts::SCHEMA) => {
                let status = s(&v, "status");
                log.history.push(LoggedEvent {
                    time,
                    what: format!("alert {status}"),
                    section: s(&v, "kind"),
                    key: s(&v, "key"),
                    detail: s(&v, "reason"),
                });
            }
            _ => log.unreadable += 1,
        }
    }
    log.current = held.into_values().collect();
    log
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::alerts::{Alert, Status};
    use crate::leaks::verdicts::{Section, Verdict};
    use crate::trend::{Pattern, Severity};

    fn verdict(key: &str, severity: Severity) -> Verdict {
        Verdict {
            section: Section::Heap,
            key: key.into(),
            pattern: Pattern::Linear,
            severity: Some(severity),
            slope_per_hour: 3600.0 * 1024.0,
            last: 1.0,
            unit: "bytes".into(),
            hours_to_limit: None,
            span_hours: 0.5,
        }
    }

    #[test]
    fn the_log_replays_to_what_the_watcher_holds_and_keeps_its_history() {
        let mut log = Vec::new();
        let changes = [
            Change::NewSuspect {
                verdict: verdict("main.a", Severity::Medium),
            },
            Change::NewSuspect {
                verdict: verdict("main.b", Severity::Low),
            },
            Change::Severity {
                verdict: verdict("main.a", Severity::High),
                from: Some(Severity::Medium),
            },
            Change::Stopped {
                section: Section::Heap,
                key: "main.b".into(),
                now: "plateau".into(),
            },
        ];
        for (i, c) in changes.iter().enumerate() {
            write_json(i as i64 * 1_000_000_000, c, &mut log).unwrap();
        }
        let alert = Alert {
            schema: crate::check::alerts::SCHEMA,
            status: Status::Firing,
            first: true,
            kind: "heap".into(),
            key: "main.a".into(),
            severity: Some("high".into()),
            pattern: Some("linear".into()),
            reason: "a leak suspect".into(),
            slope_per_hour: None,
            rate: None,
            hours_to_limit: None,
            value: 1.0,
            unit: "bytes".into(),
            since: 0,
            ended: None,
        };
        write_alert_json(5_000_000_000, &alert, &mut log).unwrap();
        log.extend_from_slice(b"not json\n{\"schema\":\"other/v1\"}\n");
        let read = read_log(&String::from_utf8(log.clone()).unwrap());
        assert_eq!(read.current.len(), 1, "{read:?}");
        assert_eq!(read.current[0].key, "main.a");
        assert_eq!(read.current[0].severity, "high");
        assert_eq!(read.current[0].rate, "+60.00KiB/min");
        let what: Vec<&str> = read.history.iter().map(|e| e.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "new suspect",
                "new suspect",
                "severity",
                "stopped",
                "alert firing"
            ]
        );
        assert_eq!(read.history[3].detail, "now plateau");
        assert_eq!(read.unreadable, 2);
        // A restart drops every verdict held.
        write_json(
            9,
            &Change::Restarted {
                was: "a".into(),
                now: "b".into(),
            },
            &mut log,
        )
        .unwrap();
        let text = String::from_utf8(log).unwrap();
        assert!(read_log(&text).current.is_empty());
    }
}
