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
