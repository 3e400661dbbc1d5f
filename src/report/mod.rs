//! Writers only: every output of every command — the diff's terminal table, JSON
//! (`leakdiff.diff/v1`), CSV, Markdown and differential flamegraph SVG; `report`'s text, JSON and
//! HTML; `check`'s verdicts; `goroutines`, `cycles`, `retained`, `eval` and `export` outputs. Each
//! takes finished results and an `io::Write`; nothing here computes a finding or opens a file.
//!
//! May import: `model`, `diff`, `leaks`, `goroutines`, `graph`, `check`, `lab` (eval's types),
//! `store` (snapshot and key types), `trend`, `units`.

mod chart;
pub mod check;
mod eval;
pub mod export;
pub mod flamegraph;
pub mod folded;
mod goroutines;
pub mod graph;
mod html;
pub mod speedscope;
mod table;
mod trends;
pub mod watch;

use std::io::{self, Write};

use crate::diff::DiffResult;

pub use chart::line_chart;
pub use eval::{write_eval_json, write_eval_text};
pub use goroutines::{write_goroutines_json, write_goroutines_text};
pub use html::{write_report_html, HtmlExtras};
pub use table::{write_markdown, write_text, TextOptions};
pub use trends::{hours, write_report_json, write_report_text};

/// Output formats of a diff.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned table for terminals.
    #[default]
    Text,
    /// `leakdiff.diff/v1` JSON.
    Json,
    /// One row per line, with a header.
    Csv,
    /// A GitHub-flavoured Markdown table.
    Markdown,
    /// Folded stacks: `a;b;c BASE LATER` per stack (difffolded, inferno-diff-folded); one
    /// profile gives `a;b;c VALUE` (flamegraph.pl, inferno, speedscope).
    Folded,
    /// speedscope's JSON (unit bytes or none): the base and the later profile, or the one profile.
    Speedscope,
}

/// Writes the diff as pretty JSON (schema `leakdiff.diff/v1`).
pub fn write_json<W: Write>(result: &DiffResult, mut out: W) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, result)?;
    writeln!(out)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt_pct(p: Option<f64>) -> String {
    p.map(|v| format!("{v:.4}")).unwrap_or_default()
}

/// Writes the diff as CSV: one header line, then one line per row. Values are raw integers in the
/// value type's unit; `frames` is `root;…;leaf`.
pub fn write_csv<W: Write>(result: &DiffResult, mut out: W) -> io::Result<()> {
    writeln!(
        out,
        "key,status,base,later,delta,delta_pct,cum_base,cum_later,cum_delta,cum_delta_pct,unit,frames"
    )?;
    for r in &result.rows {
        let frames: Vec<&str> = r.frames.iter().map(|f| f.function.as_str()).collect();
        let (cb, cl, cd, cp) = match &r.cum {
            Some(c) => (
                c.base.to_string(),
                c.later.to_string(),
                c.delta.to_string(),
                opt_pct(c.delta_pct),
            ),
            None => Default::default(),
        };
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.key),
            r.status.label(),
            r.base,
            r.later,
            r.delta,
            opt_pct(r.delta_pct),
            cb,
            cl,
            cd,
            cp,
            csv_field(&result.unit),
            csv_field(&frames.join(";"))
        )?;
    }
    Ok(())
}
