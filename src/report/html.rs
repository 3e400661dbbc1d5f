//! The HTML report: one self-contained page (template `report.html`) with the suspects, their
//! charts, the goroutine and process sections and the flamegraphs.

use std::io::{self, Write};

use super::chart::{line_chart, BENIGN_COLOR, NEUTRAL_COLOR, SUSPECT_COLOR};
use super::trends::*;
use crate::leaks::{Report, Suspect};

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
    /// The log of a watcher writing to the folder (`dashboard` on a running `watch`).
    pub watch: Option<super::watch::WatchLog>,
}

const TEMPLATE: &str = include_str!("report.html");

/// At most this many lines of a watcher's history on the page, newest first.
const WATCH_HISTORY: usize = 100;

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
        // The site when the sites answer, else the type (with the DWARF) or the root.
        let first = if g.sites_answer() {
            g.top_retainers
                .first()
                .map(|t| (t.site.as_str(), t.retained_bytes))
        } else {
            g.top_types
                .first()
                .or(g.top_roots.first())
                .map(|t| (t.name.as_str(), t.retained_bytes))
        };
        let top = first
            .map(|(name, bytes)| format!("; top retainer {name} ({})", h(bytes as f64, "bytes")))
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
        beside => r.beside_suspects.iter().map(|b| context! {
            caller => b.caller.clone(),
            suspects => b.suspects.join(", "),
            keys => b.keys.iter().map(|k| context! { key => k.key.clone(), growth => h(k.growth, unit), last => h(k.last, unit) }).collect::<Vec<_>>(),
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
        watch => extras.watch.as_ref().map(|w| context! {
            current => w.current.iter().map(|v| context! {
                section => v.section.clone(), key => v.key.clone(), severity => v.severity.clone(),
                pattern => v.pattern.clone(), rate => v.rate.clone(), since => v.since.clone(),
            }).collect::<Vec<_>>(),
            history => w.history.iter().rev().take(WATCH_HISTORY).map(|e| context! {
                time => e.time.clone(), what => e.what.clone(), section => e.section.clone(),
                key => e.key.clone(), detail => e.detail.clone(),
            }).collect::<Vec<_>>(),
            older => w.history.len().saturating_sub(WATCH_HISTORY),
            unreadable => w.unreadable,
        }),
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
            sites_answer => g.sites_answer(),
            coverage => format!("{:.2} %", 100.0 * g.site_coverage),
            roots => named_retainers(&g.top_roots),
            types => named_retainers(&g.top_types),
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

/// Roots or types of the object-graph section, for the template.
fn named_retainers(list: &[crate::graph::NamedRetainer]) -> Vec<minijinja::Value> {
    list.iter()
        .map(|t| {
            minijinja::context! {
                name => t.name.clone(),
                bytes => h(t.retained_bytes as f64, "bytes"),
                objects => t.objects,
                path => t.path.clone(),
                like => t.traces_like,
            }
        })
        .collect()
}
