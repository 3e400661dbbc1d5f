//! `leakdiff export`: the store's long table as JSON (`leakdiff.series/v1`) or CSV, and the
//! analysis as Prometheus text exposition (per-suspect gauges: growth rate, severity, time to
//! limit).

use std::io::{self, Write};

use serde::Serialize;

use crate::leaks::{Report, Suspect};
use crate::store::{KeyInfo, Snapshot};

/// JSON schema id of the long-table export.
pub const SERIES_SCHEMA: &str = "leakdiff.series/v1";

/// The store's long table in plain types.
#[derive(Serialize)]
pub struct LongTable<'a> {
    /// `leakdiff.series/v1`.
    pub schema: &'static str,
    /// Snapshots (index = the rows' first column).
    pub snapshots: &'a [Snapshot],
    /// Value type names `kind/unit` (index = the rows' third column).
    pub value_types: &'a [String],
    /// Keys (index = the rows' second column; `null` there is the snapshot's total).
    pub keys: &'a [KeyInfo],
    /// `[snapshot, key, value_type, value]`.
    pub rows: &'a [crate::store::LongRow],
}

/// Writes the long table as JSON.
pub fn write_series_json<W: Write>(t: &LongTable, mut out: W) -> io::Result<()> {
    serde_json::to_writer(&mut out, t)?;
    writeln!(out)
}

/// Writes the long table as CSV: `snapshot,time,kind,source,value_type,key,value`, one row per
/// (snapshot, key, value type); an empty key is the snapshot's total.
pub fn write_series_csv<W: Write>(t: &LongTable, mut out: W) -> io::Result<()> {
    writeln!(out, "snapshot,time,kind,source,value_type,key,value")?;
    for &(s, k, vt, v) in t.rows {
        let snap = t.snapshots.get(s as usize);
        let key = k
            .and_then(|k| t.keys.get(k as usize))
            .map_or("", |k| k.name.as_str());
        writeln!(
            out,
            "{s},{},{},{},{},{},{v}",
            snap.map_or(String::new(), |x| crate::units::rfc3339_utc(x.time_nanos)),
            snap.map_or("", |x| x.kind.name()),
            super::csv_field(snap.map_or("", |x| x.source.as_str())),
            super::csv_field(t.value_types.get(vt as usize).map_or("", |x| x.as_str())),
            super::csv_field(key),
        )?;
    }
    Ok(())
}

/// Escapes a Prometheus label value: backslash, double quote and newline.
pub fn label_value(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Severity as a number for alerting: critical 4, high 3, medium 2, low 1.
fn severity_level(s: &Suspect) -> u8 {
    match s.severity {
        crate::trend::Severity::Critical => 4,
        crate::trend::Severity::High => 3,
        crate::trend::Severity::Medium => 2,
        crate::trend::Severity::Low => 1,
    }
}

struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

/// Writes the analysis as Prometheus text exposition format 0.0.4: gauges for totals, the latest
/// goroutine count and process metrics, and per suspect (`kind` heap, goroutine or process) its
/// growth per second, severity level, last value, p-value and seconds to the limit (when a limit
/// is known).
// Over 120 lines: one metric family after another, in the order the exposition lists them.
#[allow(clippy::too_many_lines)]
pub fn write_prometheus<W: Write>(r: &Report, mut out: W) -> io::Result<()> {
    let fam = |name, help| Family {
        name,
        help,
        samples: Vec::new(),
    };
    let mut snapshots = fam("leakdiff_snapshots", "Snapshots analysed, by kind.");
    let mut total = fam(
        "leakdiff_heap_value",
        "Heap total of the trended value type at the last snapshot.",
    );
    let mut total_rate = fam(
        "leakdiff_heap_growth_per_second",
        "Theil-Sen slope of the heap total, per second.",
    );
    let mut goroutines = fam(
        "leakdiff_goroutines",
        "Goroutines at the last goroutine snapshot.",
    );
    let mut process = fam(
        "leakdiff_process_metric",
        "Process metrics at the last /proc sample (rss and vm_size in bytes, the rest counts).",
    );
    let mut suspects = fam("leakdiff_suspects", "Leak suspects by kind and severity.");
    let mut rate = fam(
        "leakdiff_suspect_growth_per_second",
        "Growth of a leak suspect per second (Theil-Sen slope), in its unit.",
    );
    let mut severity = fam(
        "leakdiff_suspect_severity",
        "Severity of a leak suspect: 4 critical, 3 high, 2 medium, 1 low.",
    );
    let mut last = fam(
        "leakdiff_suspect_value",
        "A leak suspect's value at the last snapshot, in its unit.",
    );
    let mut p_value = fam(
        "leakdiff_suspect_p_value",
        "Mann-Kendall p-value of a leak suspect's trend.",
    );
    let mut to_limit = fam(
        "leakdiff_suspect_time_to_limit_seconds",
        "Seconds until the limit is crossed at the suspect's rate (memory limit, or the open-files limit for fds).",
    );
    let mut overhead = fam(
        "leakdiff_profiler_overhead",
        "The profiler's own allocations at the last heap snapshot (runtime/pprof, net/http/pprof serving the profiles), left out of the suspects; absent with --keep-profiler.",
    );
    let vt = r.value_type.split('/').next().unwrap_or("");
    if let Some(p) = &r.profiler_overhead {
        overhead.samples.push((
            format!(
                "value_type=\"{}\",unit=\"{}\"",
                label_value(vt),
                label_value(&r.unit)
            ),
            p.last,
        ));
    }
    if !r.snapshots.is_empty() {
        snapshots
            .samples
            .push(("kind=\"heap\"".into(), r.snapshots.len() as f64));
        let labels = format!(
            "value_type=\"{}\",unit=\"{}\"",
            label_value(vt),
            label_value(&r.unit)
        );
        total.samples.push((
            labels.clone(),
            r.total.series.last().copied().unwrap_or(0.0),
        ));
        total_rate
            .samples
            .push((labels, r.total.trend.slope_per_hour / crate::trend::HOUR));
    }
    if let Some(g) = &r.goroutines {
        snapshots
            .samples
            .push(("kind=\"goroutine\"".into(), g.snapshots.len() as f64));
        goroutines
            .samples
            .push((String::new(), g.total.series.last().copied().unwrap_or(0.0)));
    }
    if let Some(p) = &r.process {
        snapshots
            .samples
            .push(("kind=\"process\"".into(), p.snapshots.len() as f64));
        for m in &p.metrics {
            process.samples.push((
                format!(
                    "metric=\"{}\",unit=\"{}\"",
                    label_value(&m.name),
                    label_value(&m.unit)
                ),
                m.series.last().copied().unwrap_or(0.0),
            ));
        }
    }
    for (kind, list) in r.suspect_sections() {
        for level in ["critical", "high", "medium", "low"] {
            let n = list.iter().filter(|s| s.severity.name() == level).count();
            suspects
                .samples
                .push((format!("kind=\"{kind}\",severity=\"{level}\""), n as f64));
        }
        for s in list {
            let unit = r.unit_of(kind, &s.key);
            let labels = format!(
                "kind=\"{kind}\",key=\"{}\",pattern=\"{}\",unit=\"{}\"",
                label_value(&s.key),
                s.pattern.name(),
                label_value(unit)
            );
            rate.samples
                .push((labels.clone(), s.slope_per_hour / crate::trend::HOUR));
            severity
                .samples
                .push((labels.clone(), f64::from(severity_level(s))));
            last.samples.push((labels.clone(), s.last));
            p_value.samples.push((labels.clone(), s.p_value));
            if let Some(h) = s.prediction.hours_to_limit {
                to_limit.samples.push((labels, h * crate::trend::HOUR));
            }
        }
    }
    for f in [
        snapshots, total, total_rate, overhead, goroutines, process, suspects, rate, severity,
        last, p_value, to_limit,
    ] {
        if f.samples.is_empty() {
            continue;
        }
        writeln!(out, "# HELP {} {}", f.name, f.help)?;
        writeln!(out, "# TYPE {} gauge", f.name)?;
        for (labels, v) in &f.samples {
            if labels.is_empty() {
                writeln!(out, "{} {}", f.name, num(*v))?;
            } else {
                writeln!(out, "{}{{{labels}}} {}", f.name, num(*v))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(num(f64::INFINITY), "+Inf");
        assert_eq!(num(1.5), "1.5");
    }
}
