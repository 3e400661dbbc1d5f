//! Outputs of `leakdiff report`: a terminal summary ranked by severity and `leakdiff.report/v1`
//! JSON (the HTML page is `html`, its charts `chart`), and the number formats they share.

use std::io::{self, Write};

use crate::leaks::{Report, Suspect, TotalOut};

use super::chart::{clock, format_secs};

pub(super) fn h(v: f64, unit: &str) -> String {
    crate::units::human_f64(v, unit)
}

pub(super) fn rate(per_hour: f64, unit: &str, span_hours: f64) -> String {
    crate::units::rate_over(per_hour, unit, span_hours)
}

/// A suspect's value in 24 h, or "beyond data" where the data does not support projecting a day.
pub(super) fn in_24h(s: &Suspect, unit: &str) -> String {
    s.prediction
        .value_in_24h
        .map_or_else(|| "beyond data".to_string(), |v| h(v, unit))
}

/// ", beyond the 25m the data supports" when a crossing lies further out than the data's
/// projection horizon, else nothing.
pub(super) fn beyond(hours_to_limit: Option<f64>, horizon_hours: f64) -> String {
    match hours_to_limit {
        Some(h) if h > horizon_hours && horizon_hours > 0.0 => {
            format!(
                ", beyond the {} the data supports",
                hours(Some(horizon_hours))
            )
        }
        Some(h) if h > horizon_hours => ", beyond what the data supports".to_string(),
        _ => String::new(),
    }
}

/// Hours as `45m`, `3.2h`, `4.1d`.
pub fn hours(v: Option<f64>) -> String {
    match v {
        None => "never".into(),
        Some(h) if h <= 0.0 => "now".into(),
        Some(h) if h < 1.0 / 60.0 => format!("{:.0}s", (h * 3600.0).max(1.0)),
        Some(h) if h < 1.0 => format!("{:.0}m", h * 60.0),
        Some(h) if h < 48.0 => format!("{h:.1}h"),
        Some(h) if h < 24.0 * 3650.0 => format!("{:.1}d", h / 24.0),
        Some(_) => ">10y".into(),
    }
}

pub(super) fn span(r: &Report) -> String {
    format_secs(r.snapshots.last().map(|s| s.offset_seconds).unwrap_or(0.0))
}

pub(super) fn total_line(t: &TotalOut, unit: &str) -> String {
    let tr = &t.trend;
    if tr.n == 2 {
        return format!(
            "{} → {} ({}{}), one change (a trend needs 3 snapshots or more)",
            h(tr.first, unit),
            h(tr.last, unit),
            if tr.growth >= 0.0 { "+" } else { "" },
            h(tr.growth, unit),
        );
    }
    format!(
        "{} → {} ({}{}), {}, {} (p={:.3}, R²={:.2})",
        h(tr.first, unit),
        h(tr.last, unit),
        if tr.growth >= 0.0 { "+" } else { "" },
        h(tr.growth, unit),
        tr.pattern.name(),
        rate(tr.slope_per_hour, unit, tr.span_hours),
        tr.mann_kendall.p_value,
        tr.r2
    )
}

/// The "growth under callers" section: where the total's growth lives when the suspects do not
/// account for it.
fn write_callers<W: Write>(out: &mut W, r: &Report, unit: &str) -> io::Result<()> {
    let Some(left) = r.unexplained_growth else {
        return Ok(());
    };
    let traced: f64 = r.callers.iter().map(|c| c.growth).sum();
    writeln!(
        out,
        "\nGROWTH UNDER CALLERS: {}{} of the total's growth is in keys each under its noise floor; {}",
        if left >= 0.0 { "+" } else { "" },
        h(left, unit),
        if r.callers.is_empty() {
            "no caller owns a quarter of it with a leak pattern (spread over many keys, each under its floor)".to_string()
        } else {
            format!(
                "{} caller(s) hold {} of it, summed over the keys below them (cumulative, as pprof's cum)",
                r.callers.len(),
                h(traced, unit)
            )
        }
    )?;
    for c in &r.callers {
        writeln!(
            out,
            "  {:<12} {:>13} +{:>9} ({:.0}%)  p {:.1e}  {}",
            c.pattern.name(),
            rate(c.slope_per_hour, unit, r.total.trend.span_hours),
            h(c.growth, unit),
            c.share_of_unexplained * 100.0,
            c.p_value,
            c.caller
        )?;
        for (k, g) in &c.keys {
            writeln!(out, "      +{:>9}  {k}", h(*g, unit))?;
        }
    }
    Ok(())
}

/// The "beside the suspects" section: keys too few samples to judge alone, growing under a
/// suspect's direct caller.
fn write_beside<W: Write>(out: &mut W, r: &Report, unit: &str) -> io::Result<()> {
    if r.beside_suspects.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nBESIDE THE SUSPECTS: under their caller, keys with too few samples to judge alone that gained samples and gave back none but a grown map's or slice's old array"
    )?;
    for b in &r.beside_suspects {
        writeln!(out, "  under {} (with {})", b.caller, b.suspects.join(", "))?;
        for k in &b.keys {
            writeln!(
                out,
                "      +{:>9}  last {:>9}  {}",
                h(k.growth, unit),
                h(k.last, unit),
                k.key
            )?;
        }
    }
    Ok(())
}

/// What trending an allocation counter means, for a report of an `alloc_*` column (asked for
/// with `--sample-index`: it is never the default).
pub fn counter_note(r: &Report) -> Option<String> {
    let name = r.value_type.split('/').next().unwrap_or("");
    name.starts_with("alloc_").then(|| {
        format!(
            "{name} counts everything allocated since the program started and never falls: a rise is allocation rate, not memory held (--sample-index inuse_space for what is held)"
        )
    })
}

/// Writes the terminal summary.
pub fn write_report_text<W: Write>(r: &Report, out: W) -> io::Result<()> {
    let mut out = crate::units::TermSafe(out);
    let out = &mut out;
    write_text_header(out, r)?;
    write_text_suspects(out, r)?;
    if let Some(next) = &r.next_step {
        writeln!(out, "next step: {next}")?;
    }
    write_callers(out, r, &r.unit)?;
    write_beside(out, r, &r.unit)?;
    write_text_not_leaks(out, r)?;
    write_text_goroutines(out, r)?;
    write_text_process(out, r)?;
    write_text_graph(out, r)?;
    for f in &r.failures {
        writeln!(out, "\nskipped (failed to parse): {}", f.message)?;
    }
    for f in &r.skipped {
        writeln!(out, "skipped: {}: {}", f.source, f.message)?;
    }
    Ok(())
}

/// The header: what was trended, from where to where, the total, teardown, limit and floor.
fn write_text_header(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let unit = &r.unit;
    let distinct = if r.gc_repeats > 0 {
        format!(", {} distinct GC states,", r.snapshots.len())
    } else {
        String::new()
    };
    writeln!(
        out,
        "leakdiff report: {} over {} heap snapshots{distinct} spanning {}",
        r.value_type,
        r.snapshots.len() + r.gc_repeats,
        span(r)
    )?;
    if r.gc_repeats > 0 {
        writeln!(
            out,
            "note: a Go heap profile is the heap as of the last completed GC; {} snapshot(s) repeated the one before (no GC between them) and are not trended",
            r.gc_repeats
        )?;
    }
    if let (Some(a), Some(b)) = (r.snapshots.first(), r.snapshots.last()) {
        writeln!(
            out,
            "from {} ({})\n  to {} ({})",
            a.source, a.time, b.source, b.time
        )?;
    }
    if let Some(note) = counter_note(r) {
        writeln!(out, "note: {note}")?;
    }
    if !r.snapshots.is_empty() {
        writeln!(out, "total: {}", total_line(&r.total, unit))?;
    }
    if let Some(t) = &r.teardown {
        writeln!(
            out,
            "held until exit: {} → {} at {} ({}{}: the process tearing down); trended on the {} snapshots before",
            h(t.total_before, unit),
            h(t.total_after, unit),
            t.sources.first().map(String::as_str).unwrap_or(""),
            t.reason,
            if t.sources.len() > 1 {
                format!(", {} snapshots", t.sources.len())
            } else {
                String::new()
            },
            r.snapshots.len()
        )?;
    }
    if let Some(p) = &r.total.prediction {
        writeln!(
            out,
            "memory limit {}: crossed in {} (interval {} … {}){}",
            h(p.limit, unit),
            hours(p.hours_to_limit),
            hours(p.hours_low),
            hours(p.hours_high),
            beyond(p.hours_to_limit, p.horizon_hours)
        )?;
    }
    let floor_note = if r.sampled {
        "at least two sampling periods, and 3σ of the key's sampling noise; --min-growth sets it exactly"
    } else {
        "--min-growth"
    };
    writeln!(
        out,
        "noise floor per key: {} ({floor_note}); {} keys trended, {} growing beyond the floor (the Mann–Kendall tests are Holm-corrected for them)",
        h(r.floor, unit),
        r.keys_analyzed,
        r.keys_tested
    )?;
    writeln!(out)?;
    Ok(())
}

/// The heap suspects, most severe first.
fn write_text_suspects(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let unit = &r.unit;
    if r.suspects.is_empty() {
        if r.snapshots.len() == 2 {
            writeln!(
                out,
                "no leak suspects: two {} are one change, not a trend; patterns and tests need at least 3 (take more snapshots{}), or compare the two with `leakdiff FIRST LAST`",
                if r.gc_repeats > 0 { "distinct GC states" } else { "snapshots" },
                if r.gc_repeats > 0 { ", over more garbage collections" } else { "" }
            )?;
        } else if !r.snapshots.is_empty() {
            writeln!(
                out,
                "no leak suspects: nothing grows beyond noise with a leak pattern"
            )?;
        }
    } else {
        writeln!(
            out,
            "SUSPECTS ({}{}), most severe first; rate = Theil–Sen slope, p = Mann–Kendall (exact up to 30 snapshots)",
            r.suspects.len(),
            if r.suspects_not_shown > 0 {
                format!(", {} more with --top 0", r.suspects_not_shown)
            } else {
                String::new()
            }
        )?;
        writeln!(
            out,
            "{:<9} {:<12} {:>13} {:>10} {:>6} {:>7} {:>5} {:>10}  key",
            "severity", "pattern", "rate", "last", "share", "p", "R²", "in 24h"
        )?;
        for s in &r.suspects {
            write_suspect(
                out,
                s,
                unit,
                r.total.trend.span_hours,
                r.memory_limit.is_some(),
            )?;
        }
        if let Some(note) = held_note(&r.suspects) {
            writeln!(out, "{note}")?;
        }
    }
    Ok(())
}

/// What grew without a leak pattern, and the profiler's own allocations.
fn write_text_not_leaks(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let unit = &r.unit;
    if !r.not_leaks.is_empty() {
        writeln!(out, "\nGREW BUT NOT LEAKS (caches, churn)")?;
        for b in &r.not_leaks {
            writeln!(
                out,
                "  {:<12} max {:>10}  last {:>10}  {}",
                b.pattern.name(),
                h(b.max, unit),
                h(b.last, unit),
                b.key
            )?;
        }
    }
    if !r.outside_code.is_empty() {
        writeln!(
            out,
            "\nOUTSIDE THE CODE (V8's pseudo-frames: no function of the program's)"
        )?;
        for p in &r.outside_code {
            writeln!(
                out,
                "  {:<12} {:>14}  last {:>10}  {}: {}",
                p.pattern.name(),
                rate(p.slope_per_hour, unit, r.total.trend.span_hours),
                h(p.last, unit),
                p.key,
                p.meaning
            )?;
        }
    }
    if let Some(p) = &r.profiler_overhead {
        writeln!(
            out,
            "\nprofiler overhead (runtime/pprof, net/http/pprof: serving the profiles), left out: \
             {} key(s), max {}, last {}; --keep-profiler judges them",
            p.keys.len(),
            h(p.max, unit),
            h(p.last, unit)
        )?;
    }
    Ok(())
}

/// The goroutine section.
fn write_text_goroutines(out: &mut impl Write, r: &Report) -> io::Result<()> {
    if let Some(g) = &r.goroutines {
        writeln!(
            out,
            "\nGOROUTINES: {} snapshots; count {}",
            g.snapshots.len(),
            total_line(&g.total, "count")
        )?;
        if g.leak_check {
            let proven = g.suspects.iter().filter(|s| s.proven_by.is_some()).count();
            writeln!(
                out,
                "leak check (the Go runtime's goroutineleak detector): {proven} group(s) proven blocked forever"
            )?;
        }
        let held = held_note(&g.suspects);
        for s in &g.suspects {
            write_suspect(out, s, "count", g.total.trend.span_hours, false)?;
            if let (Some(by), Some(n)) = (s.proven_by, s.proven_leaked) {
                writeln!(
                    out,
                    "          PROVEN by the {by} detector: {} goroutine(s) blocked forever{}",
                    n.round() as i64,
                    if s.trend_detected {
                        ""
                    } else {
                        " (the trend alone did not flag it)"
                    }
                )?;
            }
        }
        if let Some(note) = held {
            writeln!(out, "{note}")?;
        }
        if !g.trending_not_proven.is_empty() {
            writeln!(
                out,
                "growing but not proven by the leak check (blocked on something still reachable, such as a global channel or a lock held elsewhere, or alive): {}",
                g.trending_not_proven.join(", ")
            )?;
        }
    }
    Ok(())
}

/// The process section.
fn write_text_process(out: &mut impl Write, r: &Report) -> io::Result<()> {
    if let Some(p) = &r.process {
        writeln!(
            out,
            "\nPROCESS: {} samples of /proc; {} metrics, {} leaking",
            p.snapshots.len(),
            p.metrics.len(),
            p.suspects.len()
        )?;
        for m in p.metrics.iter().filter(|m| !m.name.starts_with("limit/")) {
            let last = m.series.last().copied().unwrap_or(0.0);
            let first = m.series.first().copied().unwrap_or(0.0);
            writeln!(
                out,
                "  {:<20} {:>10} → {:>10}  {:<12}{}",
                m.name,
                h(first, &m.unit),
                h(last, &m.unit),
                m.pattern.name(),
                m.limit
                    .map(|l| format!(" limit {}", h(l, &m.unit)))
                    .unwrap_or_default()
            )?;
        }
        let span = r.span_hours_of("process");
        for s in &p.suspects {
            write_suspect(
                out,
                s,
                p.unit_of(&s.key),
                span,
                s.prediction.hours_to_limit.is_some(),
            )?;
        }
        if let Some(note) = held_note(&p.suspects) {
            writeln!(out, "{note}")?;
        }
    }
    Ok(())
}

/// The object-graph section: what retains the heap by allocation site, and by root and Go type
/// (with the binary's DWARF); roots and types first when the sites retain too little of the heap
/// to answer (a process at Go's default MemProfileRate), as `retained` does.
fn write_text_graph(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let Some(gs) = &r.object_graph else {
        return Ok(());
    };
    writeln!(
        out,
        "\nOBJECT GRAPH of {}: {} live objects, {}; {} reference cycles reachable, {} unreachable",
        gs.source,
        gs.reachable_objects,
        h(gs.reachable_bytes as f64, "bytes"),
        gs.reachable_cycles,
        gs.unreachable_cycles
    )?;
    // One retainer: what it retains, its path from a root as `retained` prints it (Go types
    // and fields with the binary's DWARF), and how many of its objects share that trace.
    let one = |out: &mut dyn Write,
               (bytes, objects, name): (u64, usize, &str),
               path: &[String],
               like: usize|
     -> io::Result<()> {
        writeln!(
            out,
            "  retains {:>10} ({objects} objects)  {name}",
            h(bytes as f64, "bytes")
        )?;
        super::graph::write_path(out, path)?;
        if like > 1 {
            writeln!(
                out,
                "     {like} of its {objects} objects by a trace like this (the same root, types and fields)"
            )?;
        }
        Ok(())
    };
    let sites = |out: &mut dyn Write| -> io::Result<()> {
        for t in &gs.top_retainers {
            one(out, (t.retained_bytes, t.objects, &t.site), &t.path, 0)?;
        }
        Ok(())
    };
    let named = |out: &mut dyn Write, list: &[crate::graph::NamedRetainer]| -> io::Result<()> {
        for t in list {
            let what = (t.retained_bytes, t.objects, t.name.as_str());
            one(out, what, &t.path, t.traces_like)?;
        }
        Ok(())
    };
    if gs.sites_answer() {
        sites(out)?;
        if !gs.top_types.is_empty() {
            writeln!(out, "  by Go type:")?;
            named(out, &gs.top_types)?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "  the allocation sites retain {:.2} % of it (Go records one allocation per MemProfileRate, 512 KiB by default): by root{}, then by site",
        100.0 * gs.site_coverage,
        if gs.top_types.is_empty() {
            " (by type with the program's DWARF: --binary PATH)"
        } else {
            " and by Go type"
        }
    )?;
    writeln!(out, "  by root:")?;
    named(out, &gs.top_roots)?;
    if !gs.top_types.is_empty() {
        writeln!(out, "  by Go type:")?;
        named(out, &gs.top_types)?;
    }
    if !gs.top_retainers.is_empty() {
        writeln!(out, "  by allocation site:")?;
    }
    sites(out)
}

/// Why a suspect's severity is held below its impact, from its own data: `medium (impact:
/// high): watched 2m00s, +14.00MiB; 7m21s more at this rate to rate high`. The explanation is
/// said once per section ([`held_note`]).
pub(super) fn held_sentence(
    x: &crate::trend::Held,
    held: crate::trend::Severity,
    unit: &str,
) -> String {
    use crate::trend::{HeldReason, Severity};
    let own = match x.reason {
        HeldReason::Decelerating => format!(
            "slowing: its late rate is {:.0} % of its early one",
            100.0 * x.late_rate_ratio.unwrap_or(0.0).max(0.0)
        ),
        HeldReason::Short => {
            let next = if held == Severity::High {
                "critical"
            } else {
                "high"
            };
            let more = x.watch_more_hours.map_or(String::new(), |h| {
                format!(
                    "; {} more at this rate to rate {next}",
                    crate::units::format_duration_s(h * 3600.0)
                )
            });
            format!(
                "watched {}, {}{}{more}",
                crate::units::format_duration_s(x.watched_hours * 3600.0),
                if x.growth >= 0.0 { "+" } else { "" },
                h(x.growth, unit),
            )
        }
    };
    format!("{} (impact: {}): {own}", held.name(), x.impact.name())
}

/// The explanation of held severities, once per section: what each reason means and what
/// evidence each severity needs.
pub fn held_note(suspects: &[Suspect]) -> Option<String> {
    use crate::trend::{HeldReason, CRITICAL_EVIDENCE, HIGH_EVIDENCE};
    let has = |r: HeldReason| {
        suspects
            .iter()
            .any(|s| s.held.as_ref().is_some_and(|x| x.reason == r))
    };
    let mut parts = Vec::new();
    if has(HeldReason::Short) {
        parts.push(format!(
            "a bounded cache, history or pool filling up grows linearly until it is full, and a short watch cannot tell it from a leak: high needs {} of watching, then {} or {:.0} MiB of growth or a tenth of the limit; critical {}, then {}, {:.0} MiB or a quarter",
            clock(HIGH_EVIDENCE.0 * 3600.0),
            clock(HIGH_EVIDENCE.1 * 3600.0),
            HIGH_EVIDENCE.2 / 1048576.0,
            clock(CRITICAL_EVIDENCE.0 * 3600.0),
            clock(CRITICAL_EVIDENCE.1 * 3600.0),
            CRITICAL_EVIDENCE.2 / 1048576.0,
        ));
    }
    if has(HeldReason::Decelerating) {
        parts.push("growth that slows toward a level is what a cache filling toward its bound does: medium at most".to_string());
    }
    (!parts.is_empty()).then(|| format!("Held severities: {}", parts.join("; ")))
}

fn write_suspect<W: Write>(
    out: &mut W,
    s: &Suspect,
    unit: &str,
    span: f64,
    limit: bool,
) -> io::Result<()> {
    writeln!(
        out,
        "{:<9} {:<12} {:>13} {:>10} {:>5.1}% {:>7.1e} {:>5.2} {:>10}  {}",
        s.severity.name(),
        s.pattern.name(),
        rate(s.slope_per_hour, unit, span),
        h(s.last, unit),
        s.share * 100.0,
        s.p_value,
        s.r2,
        in_24h(s, unit),
        s.key
    )?;
    if limit {
        writeln!(
            out,
            "          limit reached in {} (interval {} … {}) at this rate{}",
            hours(s.prediction.hours_to_limit),
            hours(s.prediction.hours_low),
            hours(s.prediction.hours_high),
            beyond(s.prediction.hours_to_limit, s.prediction.horizon_hours)
        )?;
    }
    if let Some(x) = &s.held {
        writeln!(
            out,
            "          held at {}",
            held_sentence(x, s.severity, unit)
        )?;
    }
    if let Some(b) = s.retained_bytes {
        writeln!(
            out,
            "          retains {} in the heap dump; alive through:",
            h(b as f64, "bytes")
        )?;
        for (k, step) in s.retained_path.iter().enumerate() {
            writeln!(out, "            {}{step}", if k == 0 { "" } else { "→ " })?;
        }
    }
    writeln!(out, "          → {}", s.remediation)
}

/// Writes `leakdiff.report/v1` JSON.
pub fn write_report_json<W: Write>(r: &Report, mut out: W) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, r)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_format() {
        assert_eq!(hours(None), "never");
        assert_eq!(hours(Some(0.5)), "30m");
        assert_eq!(hours(Some(30.0)), "30.0h");
        assert_eq!(hours(Some(72.0)), "3.0d");
    }
}
