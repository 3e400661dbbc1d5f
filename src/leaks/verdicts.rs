//! Verdicts over time: what a report says of each key, and what changed between the reports of a
//! series that grows round by round (`watch` prints the changes as they happen). The verdicts are
//! the report's own, so a watcher and `report` on the same snapshots say the same.

use serde::Serialize;

use super::{Report, Suspect};
use crate::trend::{Pattern, Severity};

/// The section of a report a verdict is from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// A heap key (an allocation site).
    Heap,
    /// A caller owning growth spread over keys each under its floor.
    Callers,
    /// A goroutine group.
    Goroutine,
    /// A process metric (RSS, descriptors, connections, …).
    Process,
}

impl Section {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Section::Heap => "heap",
            Section::Callers => "callers",
            Section::Goroutine => "goroutine",
            Section::Process => "process",
        }
    }
}

/// What a report says of one key that leaks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Where it is from.
    pub section: Section,
    /// The key (function, goroutine group's function, metric, or caller).
    pub key: String,
    /// Its growth pattern.
    pub pattern: Pattern,
    /// Its severity (a caller has none: its keys are judged together, not rated).
    pub severity: Option<Severity>,
    /// Theil–Sen slope, units per hour.
    pub slope_per_hour: f64,
    /// The last value.
    pub last: f64,
    /// The values' unit (`bytes`, `count` for goroutines, a metric's).
    pub unit: String,
    /// Hours until the memory limit at this rate, when a limit is known and reached.
    pub hours_to_limit: Option<f64>,
    /// Hours its section's snapshots span: how long it has been watched.
    pub span_hours: f64,
}

/// A change of verdict between two reports of one growing series.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A key became a suspect.
    NewSuspect {
        /// Its verdict now.
        verdict: Verdict,
    },
    /// A suspect's severity changed.
    Severity {
        /// Its verdict now.
        verdict: Verdict,
        /// Its severity before.
        from: Option<Severity>,
    },
    /// The process watched is another one (it restarted): a new series starts, and every
    /// verdict of the old one is dropped.
    Restarted {
        /// What tells the old process (a Go heap profile's vDSO address).
        was: String,
        /// And the new one.
        now: String,
    },
    /// A heap snapshot is older than one already in the series: the clock of the watched
    /// process (or of its machine) went back. A new series starts, and every verdict of the old
    /// one is dropped.
    ClockWentBack {
        /// By how much, in seconds.
        seconds: f64,
    },
    /// A suspect is no longer one.
    Stopped {
        /// Where it was.
        section: Section,
        /// The key.
        key: String,
        /// What it reads as now (`plateau`, `oscillating`; `flat` when it is judged neither).
        now: String,
    },
}

fn of(section: Section, s: &Suspect, r: &Report) -> Verdict {
    let kind = section.name();
    Verdict {
        section,
        key: s.key.clone(),
        pattern: s.pattern,
        severity: Some(s.severity),
        slope_per_hour: s.slope_per_hour,
        last: s.last,
        unit: r.unit_of(kind, &s.key).to_string(),
        hours_to_limit: s.prediction.hours_to_limit,
        span_hours: r.span_hours_of(kind),
    }
}

/// The verdicts of a report: its suspects in every section and the callers it names, in
/// section and key order.
pub fn verdicts(r: &Report) -> Vec<Verdict> {
    let mut out = Vec::new();
    for (kind, suspects) in r.suspect_sections() {
        let section = match kind {
            "goroutine" => Section::Goroutine,
            "process" => Section::Process,
            _ => Section::Heap,
        };
        out.extend(suspects.iter().map(|s| of(section, s, r)));
    }
    out.extend(r.callers.iter().map(|c| Verdict {
        section: Section::Callers,
        key: c.caller.clone(),
        pattern: c.pattern,
        severity: None,
        slope_per_hour: c.slope_per_hour,
        last: c.last,
        unit: r.unit.clone(),
        hours_to_limit: None,
        span_hours: r.span_hours_of("heap"),
    }));
    out.sort_by(|a, b| (a.section, &a.key).cmp(&(b.section, &b.key)));
    out
}

/// What changed from `before` to `after` (the verdicts of `report`): new suspects, severities
/// that moved, suspects that stopped (with what their key reads as now); in section and key
/// order.
pub fn changes(before: &[Verdict], after: &[Verdict], report: &Report) -> Vec<Change> {
    diff(before, after, |section, key| match section {
        Section::Heap => report
            .not_leaks
            .iter()
            .find(|n| n.key == key)
            .map(|n| n.pattern),
        Section::Process => report
            .process
            .as_ref()
            .and_then(|p| p.metrics.iter().find(|m| m.name == key).map(|m| m.pattern)),
        _ => None,
    })
}

/// [`changes`], with what a key that stopped reads as from `now`.
fn diff(
    before: &[Verdict],
    after: &[Verdict],
    now: impl Fn(Section, &str) -> Option<Pattern>,
) -> Vec<Change> {
    let find = |list: &[Verdict], v: &Verdict| {
        list.iter()
            .find(|x| x.section == v.section && x.key == v.key)
            .cloned()
    };
    let mut out = Vec::new();
    for v in after {
        match find(before, v) {
            None => out.push(Change::NewSuspect { verdict: v.clone() }),
            Some(b) if b.severity != v.severity => out.push(Change::Severity {
                verdict: v.clone(),
                from: b.severity,
            }),
            Some(_) => {}
        }
    }
    for b in before {
        if find(after, b).is_none() {
            out.push(Change::Stopped {
                section: b.section,
                key: b.key.clone(),
                now: now(b.section, &b.key)
                    .unwrap_or(Pattern::Flat)
                    .name()
                    .to_string(),
            });
        }
    }
    let at = |c: &Change| match c {
        Change::NewSuspect { verdict } | Change::Severity { verdict, .. } => {
            (verdict.section, verdict.key.clone())
        }
        Change::Stopped { section, key, .. } => (*section, key.clone()),
        Change::Restarted { .. } | Change::ClockWentBack { .. } => (Section::Heap, String::new()),
    };
    out.sort_by_key(at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(section: Section, key: &str, severity: Option<Severity>) -> Verdict {
        Verdict {
            section,
            key: key.into(),
            pattern: Pattern::Linear,
            severity,
            slope_per_hour: 1.0,
            last: 1.0,
            unit: "bytes".into(),
            hours_to_limit: None,
            span_hours: 0.1,
        }
    }

    /// A key that appears is new; one whose severity moved is a change; one that is gone has
    /// stopped; the same key in another section is another verdict.
    #[test]
    fn changes_name_new_moved_and_stopped_verdicts() {
        let before = vec![
            v(Section::Heap, "main.a", Some(Severity::Medium)),
            v(Section::Heap, "main.b", Some(Severity::Low)),
            v(Section::Goroutine, "main.a", Some(Severity::Medium)),
        ];
        let after = vec![
            v(Section::Heap, "main.a", Some(Severity::High)),
            v(Section::Heap, "main.c", Some(Severity::Low)),
            v(Section::Goroutine, "main.a", Some(Severity::Medium)),
        ];
        let now = |_: Section, k: &str| (k == "main.b").then_some(Pattern::Plateau);
        let c = diff(&before, &after, now);
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(
            matches!(&c[0], Change::Severity { verdict, from: Some(Severity::Medium) } if verdict.key == "main.a")
        );
        assert!(
            matches!(&c[1], Change::Stopped { key, now, .. } if key == "main.b" && now == "plateau")
        );
        assert!(matches!(&c[2], Change::NewSuspect { verdict } if verdict.key == "main.c"));
        assert!(diff(&after, &after, now).is_empty());
        let gone = diff(&after[2..], &[], |_, _| None);
        assert!(matches!(&gone[0], Change::Stopped { now, .. } if now == "flat"));
    }
}
