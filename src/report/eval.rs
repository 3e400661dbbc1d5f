//! `leakdiff eval` output: the accuracy table (text) and `leakdiff.eval/v1` JSON.

use std::io::{self, Write};

use crate::lab::eval::{EvalReport, Row};

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn num(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

fn line(w: &mut dyn Write, r: &Row) -> io::Result<()> {
    writeln!(
        w,
        "{:<10} {:<12} {:>9} {:>10} {:>6} {:>8} {:>7} {:>9} {:>5} {:>6} {:>7} {:>7}",
        r.leak_type,
        r.pattern,
        r.scenarios,
        format!("{}/{}", r.leak_free_with_findings, r.leak_free),
        r.leaks,
        r.detected,
        pct(r.tpr),
        r.negatives,
        r.false_positives,
        pct(r.fpr),
        num(r.latency_mean),
        r.latency_max.map_or("-".into(), |m| m.to_string()),
    )
}

/// The table: one line per type and pattern, the per-type totals and the overall line.
pub fn write_eval_text(r: &EvalReport, w: &mut dyn Write) -> io::Result<()> {
    let mut safe = crate::units::TermSafe(w);
    let w: &mut dyn Write = &mut safe;
    writeln!(
        w,
        "{:<10} {:<12} {:>9} {:>10} {:>6} {:>8} {:>7} {:>9} {:>5} {:>6} {:>7} {:>7}",
        "type",
        "pattern",
        "scenarios",
        "clean-hit",
        "leaks",
        "detected",
        "TPR",
        "negatives",
        "FP",
        "FPR",
        "lat.avg",
        "lat.max"
    )?;
    for row in &r.rows {
        line(w, row)?;
    }
    line(w, &r.overall)?;
    writeln!(
        w,
        "\nclean-hit: leak-free series with any finding / leak-free series. Latency: snapshots \
         until a leak is first flagged."
    )?;
    for s in &r.scenarios {
        for m in &s.missed {
            writeln!(w, "missed: {} ({} {}): {m}", s.dir, s.leak_type, s.pattern)?;
        }
        for f in &s.false_positives {
            writeln!(
                w,
                "false positive: {} ({} {}): {f}",
                s.dir, s.leak_type, s.pattern
            )?;
        }
    }
    for f in &r.failures {
        writeln!(w, "failed: {}: {}", f.dir, f.message)?;
    }
    Ok(())
}

/// `leakdiff.eval/v1` JSON.
pub fn write_eval_json(r: &EvalReport, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, r).map_err(io::Error::other)?;
    writeln!(w)
}
