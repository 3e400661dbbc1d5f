//! Output of `leakdiff goroutines`: a table of groups, leaks first, and JSON.

use std::io::{self, Write};

use crate::goroutines::{pattern_name, GoroutineReport, GroupBy};

fn fmt_count(v: f64) -> String {
    format!("{}", v.round() as i64)
}

/// Writes the table; at most `top` groups (0 = all).
// Over 120 lines: the goroutine table's sections in the order they print.
#[allow(clippy::too_many_lines)]
pub fn write_goroutines_text<W: Write>(
    r: &GoroutineReport,
    group_by: &GroupBy,
    top: usize,
    out: W,
) -> io::Result<()> {
    let mut out = crate::units::TermSafe(out);
    let n = r.sources.len();
    let first = r.totals.first().copied().unwrap_or(0.0);
    let last = r.totals.last().copied().unwrap_or(0.0);
    if n == 0 {
        writeln!(
            out,
            "leakdiff goroutines: no goroutine snapshot to count, only the runtime's leak check"
        )?;
    } else if n == 1 {
        writeln!(
            out,
            "leakdiff goroutines: {} ({} goroutines)",
            r.sources[0],
            fmt_count(last)
        )?;
    } else {
        writeln!(
            out,
            "leakdiff goroutines: {n} snapshots, {} → {}; goroutines {} → {} ({:+})",
            r.sources.first().map(String::as_str).unwrap_or(""),
            r.sources.last().map(String::as_str).unwrap_or(""),
            fmt_count(first),
            fmt_count(last),
            (last - first).round() as i64
        )?;
    }
    writeln!(
        out,
        "left out: {} runtime/system goroutines (--include-system keeps them), {} by --ignore-top",
        fmt_count(r.system.last().copied().unwrap_or(0.0)),
        fmt_count(r.ignored.last().copied().unwrap_or(0.0))
    )?;
    let proven = r.groups.iter().filter(|g| g.proven_by.is_some()).count();
    if r.leak_check {
        let from = if r.leak_profiles.is_empty() {
            "goroutines marked (leaked)".to_string()
        } else {
            r.leak_profiles.join(", ")
        };
        writeln!(
            out,
            "leak check (the Go runtime's goroutineleak detector, {from}): {proven} group(s) proven blocked forever"
        )?;
        let trending: Vec<&str> = r
            .groups
            .iter()
            .filter(|g| g.trend_leak && g.proven_by.is_none())
            .map(|g| g.function.as_str())
            .collect();
        if !trending.is_empty() {
            writeln!(
                out,
                "growing but not proven (blocked on something still reachable, or alive): {}",
                trending.join(", ")
            )?;
        }
    }
    let leaks = r.groups.iter().filter(|g| g.leak).count();
    writeln!(
        out,
        "{} groups by {}; {leaks} leaking{}\n",
        r.groups.len(),
        match group_by {
            GroupBy::Stack => "state and stack".to_string(),
            GroupBy::Creator => "creation site".to_string(),
            GroupBy::Label(k) => format!("label {k} and stack"),
        },
        if n >= 3 {
            " (count grows with a leak pattern)"
        } else if n == 2 {
            " (blocked and grew by the minimum or more)"
        } else {
            " (blocked for at least --min-age)"
        }
    )?;
    let counts_header = if n == 1 {
        "count"
    } else {
        "first → last (Δ)"
    };
    writeln!(
        out,
        "{:<8} {:>18} {:<12} {:<26} {:>7}  function",
        "status", counts_header, "pattern", "state", "waited"
    )?;
    let limit = if top == 0 { usize::MAX } else { top };
    for g in r.groups.iter().take(limit) {
        let a = g.counts.first().copied().unwrap_or(0.0);
        let b = g.counts.last().copied().unwrap_or(0.0);
        let counts = if n == 0 {
            format!("{} leaked", fmt_count(g.proven_leaked))
        } else if n == 1 {
            fmt_count(b)
        } else {
            format!("{} → {} ({:+})", fmt_count(a), fmt_count(b), (b - a) as i64)
        };
        let status = if g.proven_by.is_some() {
            "PROVEN"
        } else if g.leak {
            "LEAK"
        } else if g.blocked_long {
            "BLOCKED"
        } else {
            ""
        };
        let waited = g
            .max_wait_minutes
            .map(|m| format!("{m}m"))
            .unwrap_or_default();
        let state: String = if g.state.is_empty() {
            "-".into()
        } else {
            g.state.chars().take(26).collect()
        };
        writeln!(
            out,
            "{:<8} {:>18} {:<12} {:<26} {:>7}  {}",
            status,
            counts,
            pattern_name(&g.trend),
            state,
            waited,
            g.function
        )?;
        if g.leak || g.blocked_long {
            if let Some(c) = &g.created_by {
                writeln!(out, "{:8} created by {c}", "")?;
            }
            writeln!(out, "{:8} → {}", "", g.remediation)?;
        }
    }
    if r.groups.len() > limit {
        writeln!(out, "… {} more groups (--top 0)", r.groups.len() - limit)?;
    }
    Ok(())
}

/// Writes `leakdiff.goroutines/v1` JSON.
pub fn write_goroutines_json<W: Write>(r: &GoroutineReport, mut out: W) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, r)?;
    writeln!(out)
}
