//! Outputs of `leakdiff report`: a terminal summary ranked by severity, `leakdiff.report/v1` JSON
//! and one self-contained HTML file (inline SVG charts and flamegraphs, no script from elsewhere).

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::leaks::{Report, Suspect, TotalOut};

use super::flamegraph::escape;

fn h(v: f64, unit: &str) -> String {
    crate::units::human_f64(v, unit)
}

fn rate(per_hour: f64, unit: &str, span_hours: f64) -> String {
    crate::units::rate_over(per_hour, unit, span_hours)
}

/// A suspect's value in 24 h, or "beyond data" where the data does not support projecting a day.
fn in_24h(s: &Suspect, unit: &str) -> String {
    s.prediction
        .value_in_24h
        .map_or_else(|| "beyond data".to_string(), |v| h(v, unit))
}

/// ", beyond the 25m the data supports" when a crossing lies further out than the data's
/// projection horizon, else nothing.
fn beyond(hours_to_limit: Option<f64>, horizon_hours: f64) -> String {
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

fn span(r: &Report) -> String {
    format_secs(r.snapshots.last().map(|s| s.offset_seconds).unwrap_or(0.0))
}

fn total_line(t: &TotalOut, unit: &str) -> String {
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

/// The object-graph section.
fn write_text_graph(out: &mut impl Write, r: &Report) -> io::Result<()> {
    if let Some(gs) = &r.object_graph {
        writeln!(
            out,
            "\nOBJECT GRAPH of {}: {} live objects, {}; {} reference cycles reachable, {} unreachable",
            gs.source,
            gs.reachable_objects,
            h(gs.reachable_bytes as f64, "bytes"),
            gs.reachable_cycles,
            gs.unreachable_cycles
        )?;
        for t in &gs.top_retainers {
            writeln!(
                out,
                "  retains {:>10} ({} objects)  {}",
                h(t.retained_bytes as f64, "bytes"),
                t.objects,
                t.site
            )?;
        }
    }
    Ok(())
}

/// A suspect's frames (leaf first, at most 16) for the page: those below its key's frame, the
/// allocator's and the standard containers' that the key skipped, are marked to be dimmed.
fn frames_ctx(s: &Suspect) -> Vec<minijinja::Value> {
    let key_at = s.frames.iter().position(|f| *f == s.key).unwrap_or(0);
    s.frames
        .iter()
        .take(16)
        .enumerate()
        .map(|(i, f)| minijinja::context! { name => f.clone(), skipped => i < key_at })
        .collect()
}

/// Why a suspect's severity is held below its impact, from its own data: `medium (impact:
/// high): watched 2m00s, +14.00MiB; 7m21s more at this rate to rate high`. The explanation is
/// said once per section ([`held_note`]).
fn held_sentence(x: &crate::trend::Held, held: crate::trend::Severity, unit: &str) -> String {
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

/// At most this many points per chart; longer series are averaged in buckets.
pub const MAX_CHART_POINTS: usize = 400;

fn downsample(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = x.len().min(y.len());
    if n <= MAX_CHART_POINTS {
        return (x[..n].to_vec(), y[..n].to_vec());
    }
    let per = n.div_ceil(MAX_CHART_POINTS);
    let mut ox = Vec::new();
    let mut oy = Vec::new();
    for c in (0..n).step_by(per) {
        let e = (c + per).min(n);
        ox.push(x[c..e].iter().sum::<f64>() / (e - c) as f64);
        oy.push(y[c..e].iter().sum::<f64>() / (e - c) as f64);
    }
    (ox, oy)
}

/// A line chart of `series` (and a dashed `fitted` line) against seconds, as inline SVG.
pub fn line_chart(
    times: &[f64],
    series: &[f64],
    fitted: Option<&[f64]>,
    unit: &str,
    color: &str,
) -> String {
    let (w, hgt, left, bottom, top, right) = (640.0, 180.0, 70.0, 24.0, 10.0, 10.0);
    let (xs, ys) = downsample(times, series);
    let fit = fitted.map(|f| downsample(times, f).1);
    let xmax = xs.iter().copied().fold(0.0f64, f64::max).max(1e-9);
    let mut ymax = ys.iter().copied().fold(0.0f64, f64::max);
    if let Some(f) = &fit {
        ymax = ymax.max(
            f.iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max),
        );
    }
    let (yticks, ymax) = y_ticks(ymax, unit);
    let px = |x: f64| left + (x / xmax) * (w - left - right);
    let py = |y: f64| top + (1.0 - (y / ymax).clamp(-0.05, 1.05)) * (hgt - top - bottom);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart" width="{w}" height="{hgt}" viewBox="0 0 {w} {hgt}" xmlns="http://www.w3.org/2000/svg" role="img"><rect x="{left}" y="{top}" width="{}" height="{}" fill="#fff" stroke="#ccc"/>"##,
        w - left - right,
        hgt - top - bottom
    );
    for (v, label) in &yticks {
        let y = py(*v);
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end" class="ax">{}</text>"##,
            w - right,
            left - 4.0,
            y + 4.0,
            escape(label)
        );
    }
    for (i, (x, label)) in x_ticks(xmax).iter().enumerate() {
        let anchor = if i == 0 {
            "start"
        } else if (x - xmax).abs() < 1e-9 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="#ccc"/><text x="{0:.1}" y="{3}" text-anchor="{anchor}" class="ax">{4}</text>"##,
            px(*x),
            hgt - bottom,
            hgt - bottom + 4.0,
            hgt - 6.0,
            escape(label)
        );
    }
    let pts = |ys: &[f64]| -> String {
        xs.iter()
            .zip(ys)
            .filter(|(_, y)| y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if let Some(f) = &fit {
        let _ = write!(
            s,
            r##"<polyline fill="none" stroke="#888" stroke-dasharray="5,4" stroke-width="1.5" points="{}"/>"##,
            pts(f)
        );
    }
    let _ = write!(
        s,
        r##"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"##,
        pts(&ys)
    );
    for (x, y) in xs.iter().zip(&ys).take(MAX_CHART_POINTS) {
        if xs.len() <= 60 {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"><title>{}: {}</title></circle>"##,
                px(*x),
                py(*y),
                escape(&format_secs(*x)),
                escape(&h(*y, unit))
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Chart colour of a suspect's series: red, growth.
pub const SUSPECT_COLOR: &str = "#c0392b";
/// Chart colour of totals and metrics.
pub const NEUTRAL_COLOR: &str = "#4a6fa5";
/// What grew but is no leak.
pub const BENIGN_COLOR: &str = "#7f8c8d";

/// Y-axis ticks from 0 to at least `max`, at round values in the unit's display scale (bytes: 1,
/// 2, 2.5 or 5 × a power of ten of the binary prefix `max` is shown in, `0, 16 MiB, 32 MiB`;
/// counts: whole numbers, never one label twice), with their labels; and the axis's top.
fn y_ticks(max: f64, unit: &str) -> (Vec<(f64, String)>, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let (scale, suffix) = if unit == "bytes" {
        crate::units::binary_prefix(max)
    } else {
        (1.0, "")
    };
    let raw = max / scale / 4.0;
    let p = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p);
    if unit != "bytes" || suffix == "B" {
        step = step.max(1.0).ceil();
    }
    let n = (max / scale / step).ceil().max(1.0) as usize;
    let ticks = (0..=n)
        .map(|i| {
            let v = step * i as f64;
            let text = if v.fract().abs() < 1e-9 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            };
            let label = if i == 0 {
                "0".to_string()
            } else if unit == "bytes" {
                format!("{text} {suffix}")
            } else if v >= 10_000.0 {
                crate::units::human_f64(v, unit)
            } else {
                text
            };
            (v * scale, label)
        })
        .collect();
    (ticks, step * n as f64 * scale)
}

/// X-axis ticks at round times from 0 to `xmax` seconds (at most six, the last at `xmax` when no
/// round one falls there), with their labels (`30s`, `2m`, `1h30m`).
fn x_ticks(xmax: f64) -> Vec<(f64, String)> {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        21600.0, 86400.0,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|s| xmax / s <= 5.0)
        .unwrap_or_else(|| (xmax / 5.0 / 86400.0).ceil() * 86400.0);
    let mut out: Vec<(f64, String)> = (0..)
        .map(|i| i as f64 * step)
        .take_while(|x| *x <= xmax + 1e-9)
        .map(|x| (x, clock(x)))
        .collect();
    if out.last().is_some_and(|(x, _)| xmax - x > 0.5 * step) {
        out.push((xmax, clock(xmax)));
    }
    out
}

/// `45s`, `2m`, `1m30s`, `2h`, `1h30m`, `3d`.
fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 if s.is_multiple_of(60) => format!("{}m", s / 60),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        3600..=86399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ if s.is_multiple_of(86400) => format!("{}d", s / 86400),
        _ => format!("{:.1}d", secs / 86400.0),
    }
}

fn format_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0}s")
    } else if s < 7200.0 {
        format!("{:.0}m", s / 60.0)
    } else {
        format!("{:.1}h", s / 3600.0)
    }
}

/// Flamegraphs to put in the HTML report (already rendered SVG).
#[derive(Default)]
pub struct HtmlExtras {
    /// Differential flamegraph first → last heap snapshot.
    pub diff_flamegraph: Option<String>,
    /// Flamegraph of the latest heap snapshot.
    pub latest_flamegraph: Option<String>,
    /// A note when the flamegraphs could not be drawn.
    pub note: Option<String>,
    /// Served live by `leakdiff dashboard`: the page polls `api/state` this often (ms) and
    /// reloads when the data changed.
    pub live_poll_ms: Option<u64>,
}

const TEMPLATE: &str = include_str!("report.html");

/// Strips the XML prolog so an SVG document can sit inline in HTML.
fn inline_svg(svg: &str) -> String {
    match svg.find("<svg") {
        Some(i) => svg[i..].to_string(),
        None => String::new(),
    }
}

/// One line of the HTML summary: a section, its most severe finding and what it found.
#[derive(serde::Serialize)]
struct SectionLine {
    id: &'static str,
    title: &'static str,
    severity: &'static str,
    line: String,
}

fn worst(suspects: &[Suspect]) -> Option<crate::trend::Severity> {
    suspects.iter().map(|s| s.severity).min()
}

fn severity_counts(suspects: &[Suspect]) -> String {
    use crate::trend::Severity::*;
    let parts: Vec<String> = [Critical, High, Medium, Low]
        .iter()
        .filter_map(|&sev| {
            let n = suspects.iter().filter(|s| s.severity == sev).count();
            (n > 0).then(|| format!("{n} {}", sev.name()))
        })
        .collect();
    parts.join(", ")
}

/// Every section's summary line, most severe first (a section with no finding after those with
/// one; ties keep the order heap, goroutines, process, object graph).
fn section_lines(r: &Report) -> Vec<SectionLine> {
    let mut v: Vec<(Option<crate::trend::Severity>, SectionLine)> = Vec::new();
    let heap_line = if r.suspects.is_empty() {
        "no leak suspects: nothing grows beyond noise with a leak pattern".to_string()
    } else {
        format!(
            "{} leak suspect(s) ({}){}",
            r.suspects.len() + r.suspects_not_shown,
            severity_counts(&r.suspects),
            if r.suspects_not_shown > 0 {
                format!("; {} not shown (--top)", r.suspects_not_shown)
            } else {
                String::new()
            }
        )
    };
    if !r.snapshots.is_empty() {
        v.push((
            worst(&r.suspects),
            SectionLine {
                id: "heap",
                title: "Heap",
                severity: "",
                line: heap_line,
            },
        ));
    }
    if let Some(g) = &r.goroutines {
        let proven = g.suspects.iter().filter(|s| s.proven_by.is_some()).count();
        let line = if g.suspects.is_empty() {
            "no goroutine group grows or is proven leaked".to_string()
        } else {
            format!(
                "{} leaking group(s) ({}){}",
                g.suspects.len(),
                severity_counts(&g.suspects),
                if proven > 0 {
                    format!("; {proven} proven blocked forever by the Go runtime")
                } else {
                    String::new()
                }
            )
        };
        v.push((
            worst(&g.suspects),
            SectionLine {
                id: "goroutines",
                title: "Goroutines",
                severity: "",
                line,
            },
        ));
    }
    if let Some(p) = &r.process {
        let line = if p.suspects.is_empty() {
            "no process metric grows with a leak pattern".to_string()
        } else {
            let names: Vec<String> = p
                .suspects
                .iter()
                .take(4)
                .map(|s| format!("{} ({})", s.key, s.severity.name()))
                .collect();
            format!("{} growing: {}", p.suspects.len(), names.join(", "))
        };
        v.push((
            worst(&p.suspects),
            SectionLine {
                id: "process",
                title: "Process",
                severity: "",
                line,
            },
        ));
    }
    if let Some(g) = &r.object_graph {
        let top = g
            .top_retainers
            .first()
            .map(|t| {
                format!(
                    "; top retainer {} ({})",
                    t.site,
                    h(t.retained_bytes as f64, "bytes")
                )
            })
            .unwrap_or_default();
        v.push((
            None,
            SectionLine {
                id: "object-graph",
                title: "Object graph",
                severity: "",
                line: format!(
                    "{} reference cycles reachable, {} unreachable{top}",
                    g.reachable_cycles, g.unreachable_cycles
                ),
            },
        ));
    }
    // Severity sorts most severe first; no finding goes last.
    v.sort_by_key(|(sev, _)| sev.map_or(u8::MAX, |s| s as u8));
    v.into_iter()
        .map(|(sev, mut l)| {
            l.severity = sev.map_or("none", |s| s.name());
            l
        })
        .collect()
}

/// Writes the self-contained HTML report.
// Over 120 lines: the HTML template's whole context, built in one place beside the template.
#[allow(clippy::too_many_lines)]
pub fn write_report_html<W: Write>(r: &Report, extras: &HtmlExtras, mut out: W) -> io::Result<()> {
    use minijinja::value::Serde;
    use minijinja::{context, Environment, Value};
    let times: Vec<f64> = r.snapshots.iter().map(|s| s.offset_seconds).collect();
    let unit = r.unit.as_str();
    let total_fit: Vec<f64> = times
        .iter()
        .map(|t| r.total.trend.fitted_at(t / crate::trend::HOUR))
        .collect();
    let suspect_ctx = |s: &Suspect, times: &[f64], unit: &str, span: f64| {
        context! {
            key => s.key.clone(),
            frames => frames_ctx(s),
            pattern => s.pattern.name(),
            severity => s.severity.name(),
            rate => rate(s.slope_per_hour, unit, span),
            rate_interval => format!("{} … {}", rate(s.slope_low_per_hour, unit, span), rate(s.slope_high_per_hour, unit, span)),
            p_value => format!("{:.2e}", s.p_value),
            r2 => format!("{:.3}", s.r2),
            last => h(s.last, unit),
            share => format!("{:.1}%", s.share * 100.0),
            in24h => in_24h(s, unit),
            to_limit => format!("{}{}", hours(s.prediction.hours_to_limit), beyond(s.prediction.hours_to_limit, s.prediction.horizon_hours)),
            to_limit_interval => format!("{} … {}", hours(s.prediction.hours_low), hours(s.prediction.hours_high)),
            doubling => s.doubling_hours.map(|d| hours(Some(d))),
            remediation => s.remediation.clone(),
            held => s.held.as_ref().map(|x| held_sentence(x, s.severity, unit)),
            corr_total => s.correlation_with_total.map(|c| format!("{c:.2}")),
            corr_goroutines => s.correlation_with_goroutines.map(|c| format!("{c:.2}")),
            chart => Value::from_safe_string(line_chart(times, &s.series, Some(&s.fitted), unit, SUSPECT_COLOR)),
            retained => s.retained_bytes.map(|b| h(b as f64, "bytes")),
            retained_path => s.retained_path.clone(),
        }
    };
    let suspects: Vec<Value> = r
        .suspects
        .iter()
        .map(|s| suspect_ctx(s, &times, unit, r.span_hours_of("heap")))
        .collect();
    let benign: Vec<Value> = r
        .not_leaks
        .iter()
        .map(|b| {
            context! {
                key => b.key.clone(),
                pattern => b.pattern.name(),
                max => h(b.max, unit),
                last => h(b.last, unit),
                chart => Value::from_safe_string(line_chart(&times, &b.series, None, unit, BENIGN_COLOR)),
            }
        })
        .collect();
    let goroutines = r.goroutines.as_ref().map(|g| {
        let gt: Vec<f64> = g.snapshots.iter().map(|s| s.offset_seconds).collect();
        let fit: Vec<f64> = gt
            .iter()
            .map(|t| g.total.trend.fitted_at(t / crate::trend::HOUR))
            .collect();
        context! {
            count => g.snapshots.len(),
            total => total_line(&g.total, "count"),
            chart => Value::from_safe_string(line_chart(&gt, &g.total.series, Some(&fit), "count", NEUTRAL_COLOR)),
            suspects => g.suspects.iter().map(|s| suspect_ctx(s, &gt, "count", r.span_hours_of("goroutine"))).collect::<Vec<_>>(),
            held_note => held_note(&g.suspects),
            leak_check => g.leak_check,
            proven => g.suspects.iter().filter(|s| s.proven_by.is_some()).map(|s| context! {
                key => s.key.clone(),
                count => s.proven_leaked.unwrap_or(0.0).round() as i64,
                by => s.proven_by.unwrap_or(""),
            }).collect::<Vec<_>>(),
            trending_not_proven => g.trending_not_proven.clone(),
        }
    });
    let process = r.process.as_ref().map(|p| {
        let pt: Vec<f64> = p.snapshots.iter().map(|s| s.offset_seconds).collect();
        context! {
            count => p.snapshots.len(),
            metrics => p.metrics.iter().filter(|m| !m.name.starts_with("limit/")).map(|m| context! {
                name => m.name.clone(),
                pattern => m.pattern.name(),
                flat => m.pattern == crate::trend::Pattern::Flat,
                last => h(m.series.last().copied().unwrap_or(0.0), &m.unit),
                limit => m.limit.map(|l| h(l, &m.unit)),
                chart => Value::from_safe_string(line_chart(&pt, &m.series, None, &m.unit, NEUTRAL_COLOR)),
            }).collect::<Vec<_>>(),
            suspects => p.suspects.iter().map(|s| suspect_ctx(s, &pt, p.unit_of(&s.key), r.span_hours_of("process"))).collect::<Vec<_>>(),
            held_note => held_note(&p.suspects),
        }
    });
    let prediction = r.total.prediction.map(|p| {
        format!(
            "memory limit {} is crossed in {} (interval {} … {}){}",
            h(p.limit, unit),
            hours(p.hours_to_limit),
            hours(p.hours_low),
            hours(p.hours_high),
            beyond(p.hours_to_limit, p.horizon_hours)
        )
    });
    let ctx = context! {
        value_type => r.value_type.clone(),
        counter_note => counter_note(r),
        snapshots => r.snapshots.len(),
        gc_repeats => r.gc_repeats,
        next_step => r.next_step.clone(),
        span => span(r),
        first => r.snapshots.first().map(|x| Value::from(Serde(x))),
        last => r.snapshots.last().map(|x| Value::from(Serde(x))),
        total => if r.snapshots.is_empty() { String::new() } else { total_line(&r.total, unit) },
        total_pattern => r.total.trend.pattern.name(),
        prediction => prediction,
        floor => h(r.floor, unit),
        keys => r.keys_analyzed,
        total_chart => Value::from_safe_string(line_chart(&times, &r.total.series, Some(&total_fit), unit, NEUTRAL_COLOR)),
        suspects => suspects,
        held_note => held_note(&r.suspects),
        not_shown => r.suspects_not_shown,
        benign => benign,
        unexplained => r.unexplained_growth.map(|g| h(g, unit)),
        callers => r.callers.iter().map(|c| context! {
            caller => c.caller.clone(),
            pattern => c.pattern.name(),
            rate => rate(c.slope_per_hour, unit, r.total.trend.span_hours),
            growth => h(c.growth, unit),
            share => format!("{:.0}%", c.share_of_unexplained * 100.0),
            p_value => format!("{:.2e}", c.p_value),
            keys => c.keys.iter().map(|(k, g)| context! { key => k.clone(), growth => h(*g, unit) }).collect::<Vec<_>>(),
            chart => Value::from_safe_string(line_chart(&times, &c.series, None, unit, SUSPECT_COLOR)),
        }).collect::<Vec<_>>(),
        teardown => r.teardown.as_ref().map(|t| context! {
            before => h(t.total_before, unit),
            after => h(t.total_after, unit),
            at => t.sources.first().cloned().unwrap_or_default(),
            reason => t.reason,
            count => t.sources.len(),
        }),
        goroutines => goroutines,
        process => process,
        live => extras.live_poll_ms,
        diff_flame => extras.diff_flamegraph.as_deref().map(|s| Value::from_safe_string(inline_svg(s))),
        latest_flame => extras.latest_flamegraph.as_deref().map(|s| Value::from_safe_string(inline_svg(s))),
        flame_note => extras.note.clone(),
        failures => Value::from(Serde(&r.failures)),
        skipped => Value::from(Serde(&r.skipped)),
        object_graph => r.object_graph.as_ref().map(|g| context! {
            source => g.source.clone(),
            objects => g.reachable_objects,
            bytes => h(g.reachable_bytes as f64, "bytes"),
            cycles => g.reachable_cycles,
            unreachable => g.unreachable_cycles,
            top => g.top_retainers.iter().map(|t| context! {
                site => t.site.clone(),
                bytes => h(t.retained_bytes as f64, "bytes"),
                objects => t.objects,
                path => t.path.clone(),
            }).collect::<Vec<_>>(),
        }),
        sections => Value::from(Serde(section_lines(r))),
        critical => r.suspects.iter().filter(|s| s.severity == crate::trend::Severity::Critical).count(),
        high => r.suspects.iter().filter(|s| s.severity == crate::trend::Severity::High).count(),
    };
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let html = env
        .get_template("report.html")
        .and_then(|t| t.render(ctx))
        .map_err(|e| io::Error::other(e.to_string()))?;
    out.write_all(html.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_downsample_long_series() {
        let x: Vec<f64> = (0..5000).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v * 2.0).collect();
        let svg = line_chart(&x, &y, Some(&y), "bytes", SUSPECT_COLOR);
        let pts = svg.matches(',').count();
        assert!(pts <= 2 * MAX_CHART_POINTS + 10, "{pts}");
        assert!(!svg.contains("<circle"));
    }

    #[test]
    fn axes_tick_at_round_values_and_never_repeat_a_label() {
        let labels = |t: Vec<(f64, String)>| t.into_iter().map(|x| x.1).collect::<Vec<_>>();
        // 26.8 MiB at the top: 0, 10, 20, 30 MiB, not 26.80/4 steps.
        let (t, top) = y_ticks(26.8 * 1048576.0, "bytes");
        assert_eq!(labels(t), ["0", "10 MiB", "20 MiB", "30 MiB"]);
        assert_eq!(top, 30.0 * 1048576.0);
        // A count up to 2: whole numbers, each once.
        let (t, top) = y_ticks(2.1, "count");
        assert_eq!(labels(t), ["0", "1", "2", "3"]);
        assert_eq!(top, 3.0);
        let (t, _) = y_ticks(97.0 * 1048576.0, "bytes");
        assert_eq!(labels(t), ["0", "25 MiB", "50 MiB", "75 MiB", "100 MiB"]);
        // Times: round steps, the end added when far from the last round one.
        assert_eq!(labels(x_ticks(120.0)), ["0s", "30s", "1m", "1m30s", "2m"]);
        assert_eq!(
            labels(x_ticks(145.0)),
            ["0s", "30s", "1m", "1m30s", "2m", "2m25s"]
        );
        assert_eq!(labels(x_ticks(3.0)), ["0s", "1s", "2s", "3s"]);
        assert_eq!(labels(x_ticks(7200.0)), ["0s", "30m", "1h", "1h30m", "2h"]);
    }

    #[test]
    fn hours_format() {
        assert_eq!(hours(None), "never");
        assert_eq!(hours(Some(0.5)), "30m");
        assert_eq!(hours(Some(30.0)), "30.0h");
        assert_eq!(hours(Some(72.0)), "3.0d");
    }
}
