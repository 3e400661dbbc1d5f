//! `watch`'s alerts: the check's violations of a growing series, round after round. A key over
//! its limits (the same `leakdiff.toml` and baseline as `check`) for at least `[watch]
//! alert_after` fires; it resolves when it is no longer over them. Pure: the caller sends.

use std::collections::BTreeMap;

use serde::Serialize;

use super::CheckResult;
use crate::leaks::Report;

/// JSON schema id of an [`Alert`].
pub const SCHEMA: &str = "leakdiff.alert/v1";

/// The fewest observations a suspect's series needs before it may alert: from 5 points its
/// trend test is corrected for the other keys that grew (Mann–Kendall's smallest p at 4 points is
/// 1/24, one-sided, so a short series' rising keys are suspects uncorrected). Early rounds' verdicts
/// come and go; a page waits for evidence that survives the correction.
pub const MIN_OBSERVATIONS: usize = 5;

/// Firing or resolved.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Over its limits for at least `alert_after`.
    Firing,
    /// No longer over them.
    Resolved,
}

/// One alert, as sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// Firing or resolved.
    pub status: Status,
    /// True the first time it fires (the round that gathers evidence), false when it is sent
    /// again while firing.
    pub first: bool,
    /// `heap`, `goroutine`, `process`, or `total`.
    pub kind: String,
    /// The key.
    pub key: String,
    /// The suspect's severity, when the key is one.
    pub severity: Option<String>,
    /// The suspect's pattern, when the key is one.
    pub pattern: Option<String>,
    /// What crossed what, in words (the check's reason).
    pub reason: String,
    /// Slope per hour, in `unit`, when the key is a suspect.
    pub slope_per_hour: Option<f64>,
    /// The rate as text (`+1.2MiB/min`).
    pub rate: Option<String>,
    /// Hours until the memory limit at this rate, when known.
    pub hours_to_limit: Option<f64>,
    /// The last value (series) or growth (two snapshots), in `unit`.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// When it first went over its limits, nanoseconds since the epoch (RFC 3339 in JSON).
    #[serde(serialize_with = "rfc3339")]
    pub since: i64,
    /// When it resolved.
    #[serde(serialize_with = "rfc3339_opt")]
    pub ended: Option<i64>,
}

fn rfc3339<S: serde::Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::units::rfc3339_utc(*ns))
}

fn rfc3339_opt<S: serde::Serializer>(ns: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ns {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// What a report says of a key that is a suspect.
struct Suspected {
    observations: usize,
    severity: String,
    pattern: String,
    slope_per_hour: f64,
    rate: String,
    hours_to_limit: Option<f64>,
}

/// How many consecutive rounds a key must be over its limits before it fires (besides
/// `alert_after`): a suspect of one round comes and goes. On a steady Go program a bounded cache
/// still filling was a medium suspect for one round (p = 0.037) and flat the next.
pub const ALERT_ROUNDS: u32 = 2;

/// What the watcher remembers of each key over its limits.
#[derive(Clone, Debug)]
struct Tracked {
    since: i64,
    fired: bool,
    /// Consecutive rounds over its limits, this one included.
    rounds: u32,
}

/// The alerts of a growing series, kept between rounds.
#[derive(Clone, Debug, Default)]
pub struct Alerts {
    over: BTreeMap<(String, String), Tracked>,
}

impl Alerts {
    /// A round: the check of the series now (`result`, of `report`) at `now` (nanoseconds).
    /// Returns every alert firing (new ones with `first`) and those that resolved, in kind and
    /// key order. A key over its limits for less than `after_secs` or fewer than
    /// [`ALERT_ROUNDS`] rounds in a row waits, and so does a suspect of fewer than
    /// [`MIN_OBSERVATIONS`].
    pub fn round(
        &mut self,
        result: &CheckResult,
        report: &Report,
        now: i64,
        after_secs: f64,
    ) -> Vec<Alert> {
        self.round_with(result, now, after_secs, |kind, key, unit| {
            let (_, list) = report
                .suspect_sections()
                .into_iter()
                .find(|(k, _)| *k == kind)?;
            let s = list.iter().find(|s| s.key == key)?;
            Some(Suspected {
                observations: s.series.len(),
                severity: s.severity.name().to_string(),
                pattern: s.pattern.name().to_string(),
                slope_per_hour: s.slope_per_hour,
                rate: crate::units::rate_over(s.slope_per_hour, unit, report.span_hours_of(kind)),
                hours_to_limit: s.prediction.hours_to_limit,
            })
        })
    }

    /// [`Alerts::round`], with what the report says of a suspect from `suspect` (kind, key,
    /// unit).
    fn round_with(
        &mut self,
        result: &CheckResult,
        now: i64,
        after_secs: f64,
        suspect: impl Fn(&str, &str, &str) -> Option<Suspected>,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for v in &result.violations {
            let s = suspect(&v.kind, &v.key, &v.unit);
            if s.as_ref()
                .is_some_and(|s| s.observations < MIN_OBSERVATIONS)
            {
                continue;
            }
            let id = (v.kind.clone(), v.key.clone());
            seen.push(id.clone());
            let t = self.over.entry(id).or_insert(Tracked {
                since: now,
                fired: false,
                rounds: 0,
            });
            t.rounds += 1;
            if ((now - t.since) as f64) < after_secs * 1e9 || t.rounds < ALERT_ROUNDS {
                continue;
            }
            let first = !t.fired;
            t.fired = true;
            out.push(Alert {
                schema: SCHEMA,
                status: Status::Firing,
                first,
                kind: v.kind.clone(),
                key: v.key.clone(),
                severity: s.as_ref().map(|s| s.severity.clone()),
                pattern: s.as_ref().map(|s| s.pattern.clone()),
                reason: v.reason.clone(),
                slope_per_hour: s.as_ref().map(|s| s.slope_per_hour),
                rate: s.as_ref().map(|s| s.rate.clone()),
                hours_to_limit: s.as_ref().and_then(|s| s.hours_to_limit),
                value: v.value,
                unit: v.unit.clone(),
                since: t.since,
                ended: None,
            });
        }
        out.extend(self.resolve(|k| seen.contains(k), now));
        out.sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
        out
    }

    /// Resolves (at `now`) and forgets every key `keep` does not hold; the alerts of those that
    /// had fired.
    fn resolve(&mut self, keep: impl Fn(&(String, String)) -> bool, now: i64) -> Vec<Alert> {
        let gone: Vec<(String, String)> = self.over.keys().filter(|k| !keep(k)).cloned().collect();
        let mut out = Vec::new();
        for id in gone {
            let Some(t) = self.over.remove(&id) else {
                continue;
            };
            if t.fired {
                out.push(Alert {
                    schema: SCHEMA,
                    status: Status::Resolved,
                    first: false,
                    kind: id.0,
                    key: id.1,
                    severity: None,
                    pattern: None,
                    reason: "no longer over its limits".into(),
                    slope_per_hour: None,
                    rate: None,
                    hours_to_limit: None,
                    value: 0.0,
                    unit: String::new(),
                    since: t.since,
                    ended: Some(now),
                });
            }
        }
        out
    }

    /// Forgets every key (the process restarted: its series starts again); returns the alerts
    /// that were firing, resolved at `now`.
    pub fn reset(&mut self, now: i64) -> Vec<Alert> {
        self.resolve(|_| false, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Mode, Violation};

    fn over(keys: &[&str]) -> CheckResult {
        CheckResult {
            schema: crate::check::SCHEMA,
            mode: Mode::Series,
            subject: String::new(),
            checked: keys.len(),
            violations: keys
                .iter()
                .map(|k| Violation {
                    kind: "heap".into(),
                    key: (*k).into(),
                    reason: "over".into(),
                    value: 1.0,
                    unit: "bytes".into(),
                    rule: "default".into(),
                    file: None,
                    line: None,
                    suppressed_by: None,
                })
                .collect(),
            suppressed: Vec::new(),
            ignored: 0,
        }
    }

    /// A key over its limits waits `alert_after` and [`ALERT_ROUNDS`] rounds, then fires (first
    /// once, then again each round while it stays over), and resolves once when it is no longer
    /// over; one that never fired resolves silently; a restart resolves what fired.
    #[test]
    fn alerts_wait_fire_repeat_and_resolve() {
        let s = 1_000_000_000i64;
        let mut a = Alerts::default();
        let none = |_: &str, _: &str, _: &str| None;
        assert!(a.round_with(&over(&["a"]), 0, 60.0, none).is_empty());
        assert!(a.round_with(&over(&["a"]), 30 * s, 60.0, none).is_empty());
        let fired = a.round_with(&over(&["a", "b"]), 60 * s, 60.0, none);
        assert_eq!(fired.len(), 1);
        assert!(fired[0].first && fired[0].key == "a" && fired[0].status == Status::Firing);
        assert_eq!(fired[0].since, 0);
        let again = a.round_with(&over(&["a"]), 90 * s, 60.0, none);
        assert_eq!(again.len(), 1);
        assert!(!again[0].first);
        let done = a.round_with(&over(&[]), 120 * s, 60.0, none);
        assert_eq!(done.len(), 1, "b never fired: no resolve for it");
        assert_eq!(done[0].status, Status::Resolved);
        assert_eq!(done[0].ended, Some(120 * s));
        // Over its limits, but in fewer rounds in a row than it takes: it never fires.
        let short = i64::from(ALERT_ROUNDS) - 1;
        for t in 0..short {
            assert!(a
                .round_with(&over(&["e"]), (121 + t) * s, 0.0, none)
                .is_empty());
        }
        assert!(a.round_with(&over(&[]), 125 * s, 0.0, none).is_empty());
        assert!(a.round_with(&over(&["e"]), 126 * s, 0.0, none).is_empty());
        for t in 0..short {
            assert!(a
                .round_with(&over(&["c"]), (130 + t) * s, 0.0, none)
                .is_empty());
        }
        let c = a.round_with(&over(&["c"]), (130 + short) * s, 0.0, none);
        assert_eq!(c.len(), 1);
        let reset = a.reset(140 * s);
        assert_eq!(reset.len(), 1);
        assert_eq!(reset[0].key, "c");
        assert!(a.reset(150 * s).is_empty());
        // A suspect of four observations waits (its rounds do not count); from five, it fires
        // once it has been over its limits enough rounds in a row.
        let seen = |n: usize| {
            move |_: &str, _: &str, _: &str| {
                Some(Suspected {
                    observations: n,
                    severity: "high".into(),
                    pattern: "linear".into(),
                    slope_per_hour: 1.0,
                    rate: "+1B/h".into(),
                    hours_to_limit: None,
                })
            }
        };
        assert!(a
            .round_with(&over(&["d"]), 160 * s, 0.0, seen(4))
            .is_empty());
        for t in 0..short {
            let d = a.round_with(&over(&["d"]), (170 + t) * s, 0.0, seen(5 + t as usize));
            assert!(d.is_empty());
        }
        let d = a.round_with(&over(&["d"]), (170 + short) * s, 0.0, seen(7));
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].since,
            170 * s,
            "the wait starts at the fifth observation"
        );
        assert_eq!(d[0].severity.as_deref(), Some("high"));
    }
}
