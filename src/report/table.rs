//! The terminal table and the Markdown table of a diff.

use std::io::{self, Write};

use crate::diff::{DiffResult, DiffRow, Granularity, Status};
use crate::units::{human, percent};

/// Options of the text output.
#[derive(Clone, Debug, Default)]
pub struct TextOptions {
    /// Use ANSI colours. Default: false (the CLI turns it on for terminals without NO_COLOR).
    pub color: bool,
}

/// When a profile was taken, to the second; to the millisecond when the other side's time reads
/// the same to the second but is not the same (two snapshots taken 0.17 s apart).
fn time(t: Option<i64>, other: Option<i64>) -> String {
    let same_second = |a: i64, b: i64| a.div_euclid(1_000_000_000) == b.div_euclid(1_000_000_000);
    t.map(|ns| match other {
        Some(o) if o != ns && same_second(o, ns) => {
            format!(", taken {}", crate::units::rfc3339_utc_millis(ns))
        }
        _ => format!(", taken {}", rfc3339(ns)),
    })
    .unwrap_or_default()
}

pub use crate::units::rfc3339_utc as rfc3339;

fn signed(v: i64, unit: &str) -> String {
    let h = human(v, unit);
    if v > 0 {
        format!("+{h}")
    } else {
        h
    }
}

fn header_lines(r: &DiffResult) -> Vec<String> {
    let mut v = vec![
        format!(
            "leakdiff: {} ({}), rows by {}",
            r.sample_type.kind,
            r.unit,
            by_name(r.by)
        ),
        format!(
            "base:  {} [{}{}] total {}",
            r.base.source,
            r.base.format,
            time(r.base.time_nanos, r.later.time_nanos),
            human(r.base.total, &r.unit)
        ),
        format!(
            "later: {} [{}{}] total {}",
            r.later.source,
            r.later.format,
            time(r.later.time_nanos, r.base.time_nanos),
            human(r.later.total, &r.unit)
        ),
    ];
    if let Some(f) = r.normalize_factor {
        v.push(format!(
            "normalized: base values scaled by {f:.4} so both totals match"
        ));
    }
    v.push(format!(
        "total: {} ({}) from {} to {}",
        signed(r.totals.delta, &r.unit),
        percent(r.totals.delta_pct),
        human(r.totals.base, &r.unit),
        human(r.totals.later, &r.unit)
    ));
    v.push(format!("{}; {}", r.sign_convention, r.percent_base));
    v
}

fn by_name(by: Granularity) -> &'static str {
    match by {
        Granularity::Function => "function",
        Granularity::Stack => "stack",
        Granularity::Site => "site",
        Granularity::File => "file",
        Granularity::Line => "line",
    }
}

fn has_cum(r: &DiffResult) -> bool {
    matches!(
        r.by,
        Granularity::Function | Granularity::File | Granularity::Line
    )
}

fn cells(r: &DiffResult, row: &DiffRow) -> Vec<String> {
    let mut c = vec![
        signed(row.delta, &r.unit),
        percent(row.delta_pct),
        human(row.base, &r.unit),
        human(row.later, &r.unit),
    ];
    if has_cum(r) {
        let (d, p) = row
            .cum
            .as_ref()
            .map(|c| (c.delta, c.delta_pct))
            .unwrap_or((0, None));
        c.push(signed(d, &r.unit));
        c.push(percent(p));
    }
    c.push(row.status.label().to_string());
    c
}

fn titles(r: &DiffResult) -> Vec<&'static str> {
    let flat = has_cum(r);
    let mut t = vec![
        if flat { "flat Δ" } else { "Δ" },
        if flat { "flat Δ%" } else { "Δ%" },
        "base",
        "later",
    ];
    if flat {
        t.push("cum Δ");
        t.push("cum Δ%");
    }
    t.push("status");
    t
}

fn footer(r: &DiffResult) -> Option<String> {
    let mut parts = Vec::new();
    if r.hidden_small > 0 {
        parts.push(format!(
            "{} {} under {}% of the total hidden (--node-fraction 0 shows them)",
            r.hidden_small,
            if r.hidden_small == 1 { "row" } else { "rows" },
            r.node_fraction.map_or(0.0, |f| f * 100.0)
        ));
    }
    if r.rows.len() + r.hidden_small < r.rows_changed {
        parts.push(format!(
            "showing {} of {} changed rows (--top 0 shows all)",
            r.rows.len(),
            r.rows_changed
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Writes the terminal table.
pub fn write_text<W: Write>(r: &DiffResult, opts: &TextOptions, mut out: W) -> io::Result<()> {
    for l in header_lines(r) {
        writeln!(out, "{}", crate::units::term_safe(&l))?;
    }
    writeln!(out)?;
    if r.rows.is_empty() {
        writeln!(out, "no rows changed")?;
        return Ok(());
    }
    let titles = titles(r);
    let rows: Vec<Vec<String>> = r.rows.iter().map(|row| cells(r, row)).collect();
    let mut widths: Vec<usize> = titles.iter().map(|t| t.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let key_title = by_name(r.by);
    let head: Vec<String> = titles
        .iter()
        .zip(&widths)
        .map(|(t, w)| format!("{t:>w$}"))
        .collect();
    writeln!(out, "{}  {key_title}", head.join("  "))?;
    for (row, cells) in r.rows.iter().zip(&rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        let line = line.join("  ");
        let key = crate::units::term_safe(&row.key);
        if opts.color {
            let code = match row.status {
                Status::New | Status::Grew => "31",
                Status::Gone | Status::Shrank => "32",
                Status::Same => "0",
            };
            writeln!(out, "\x1b[{code}m{line}\x1b[0m  {key}")?;
        } else {
            writeln!(out, "{line}  {key}")?;
        }
    }
    if let Some(f) = footer(r) {
        writeln!(out, "{f}")?;
    }
    Ok(())
}

fn md_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '\\' => {
                o.push('\\');
                o.push(ch);
            }
            '\n' | '\r' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// Writes a Markdown report (for pull-request comments).
pub fn write_markdown<W: Write>(r: &DiffResult, mut out: W) -> io::Result<()> {
    let lines = header_lines(r);
    writeln!(out, "### {}\n", md_escape(&lines[0]))?;
    for l in &lines[1..] {
        writeln!(out, "- {}", md_escape(l))?;
    }
    writeln!(out)?;
    if r.rows.is_empty() {
        writeln!(out, "No rows changed.")?;
        return Ok(());
    }
    let mut titles: Vec<String> = titles(r).into_iter().map(String::from).collect();
    titles.push(by_name(r.by).to_string());
    writeln!(out, "| {} |", titles.join(" | "))?;
    let aligns: Vec<&str> = titles
        .iter()
        .enumerate()
        .map(|(i, _)| if i + 1 == titles.len() { ":--" } else { "--:" })
        .collect();
    writeln!(out, "|{}|", aligns.join("|"))?;
    for row in &r.rows {
        let mut c = cells(r, row);
        c.push(format!(
            "`{}`",
            row.key.replace('`', "'").replace('|', "\\|")
        ));
        writeln!(out, "| {} |", c.join(" | "))?;
    }
    if let Some(f) = footer(r) {
        writeln!(out, "\n{f}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_644_509_272_337_470_000), "2022-02-10T16:07:52Z");
    }
}
