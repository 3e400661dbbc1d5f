//! Outputs of `leakdiff cycles` and `leakdiff retained`: text and JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::graph::{Cycle, CycleGroup, CycleReport, DumpSummary, Retainer};
use crate::units::human;

/// A path from a root ([`crate::graph::path_to`]), a step a line under the object it leads to:
/// `root: main.cache (bss)`, then `→ .buckets bucket<string,*main.Entry> …`.
pub(super) fn write_path(out: &mut (impl Write + ?Sized), path: &[String]) -> io::Result<()> {
    for (k, step) in path.iter().enumerate() {
        writeln!(out, "     {}{step}", if k == 0 { "" } else { "→ " })?;
    }
    Ok(())
}

fn header<W: Write>(out: &mut W, s: &DumpSummary) -> io::Result<()> {
    writeln!(
        out,
        "{} ({}): {} objects, {}; reachable from roots: {} objects, {}",
        s.source,
        s.go_version,
        s.objects,
        human(s.bytes as i64, "bytes"),
        s.reachable,
        human(s.reachable_bytes as i64, "bytes")
    )
}

/// `leakdiff.cycles/v1`.
#[derive(Serialize)]
struct CyclesJson<'a> {
    schema: &'static str,
    dump: &'a DumpSummary,
    reachable_cycles: usize,
    unreachable_cycles: usize,
    /// The cycles grouped by shape ([`crate::graph::CycleReport`]).
    groups: &'a [CycleGroup],
    cycles: &'a [Cycle],
}

/// Writes the cycles as text (at most `top` shapes of each kind; 0 = all) or JSON (every
/// shape, and the cycles the report kept: the first `top` of each kind).
pub fn write_cycles<W: Write>(
    s: &DumpSummary,
    report: &CycleReport,
    top: usize,
    json: bool,
    out: W,
) -> io::Result<()> {
    let mut out = crate::units::TermSafe(out);
    let (live, dead) = (report.reachable, report.unreachable);
    let groups = &report.groups;
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &CyclesJson {
                schema: "leakdiff.cycles/v1",
                dump: s,
                reachable_cycles: live,
                unreachable_cycles: dead,
                groups,
                cycles: &report.cycles,
            },
        )?;
        return writeln!(out);
    }
    header(&mut out, s)?;
    writeln!(
        out,
        "{live} reference cycles reachable from roots, {dead} unreachable (garbage the GC has not \
         collected yet), in {} shapes (cycles of one size from the same allocation sites, or Go types \
         where an object has no allocation record). A cycle \
         is no leak in Go by itself; what keeps it alive is its path from a root.\n",
        groups.len()
    )?;
    let limit = if top == 0 { usize::MAX } else { top };
    for (title, want) in [("REACHABLE", true), ("UNREACHABLE", false)] {
        let list: Vec<&CycleGroup> = groups.iter().filter(|c| c.reachable == want).collect();
        if list.is_empty() {
            continue;
        }
        writeln!(out, "{title}")?;
        for (i, c) in list.iter().take(limit).enumerate() {
            if c.runtime && (i == 0 || !list[i - 1].runtime) {
                writeln!(
                    out,
                    "-- the Go runtime's own (its goroutine, timer and scheduler structures): --"
                )?;
            }
            let sites: Vec<String> = c
                .sites
                .iter()
                .take(3)
                .map(|(s, n)| {
                    if *n > 1 {
                        format!("{s} ×{n}")
                    } else {
                        s.clone()
                    }
                })
                .collect();
            let more = if c.sites.len() > 3 { " ↔ …" } else { "" };
            let from = match c.roots.as_slice() {
                [] => String::new(),
                [(r, _)] if c.cycles > 1 => format!(", all reachable from {r}"),
                [(r, _)] => format!(", reachable from {r}"),
                [(r, n), rest @ ..] => {
                    format!(
                        ", reachable from {r} ({n}) and {} other root(s)",
                        rest.len()
                    )
                }
            };
            writeln!(
                out,
                "#{:<3} {} cycle{} of {} object{}: {}{more}, {}{}{from}{}",
                i + 1,
                c.cycles,
                if c.cycles == 1 { "" } else { "s" },
                c.objects,
                if c.objects == 1 { "" } else { "s" },
                sites.join(" ↔ "),
                human(c.bytes as i64, "bytes"),
                if want && c.cycles > 1 {
                    // A group's cycles may hold one another: their retained sizes summed can
                    // count an object twice, so the sum says it is one.
                    format!(
                        ", retains {} summed over its cycles",
                        human(c.retained_bytes as i64, "bytes")
                    )
                } else if want {
                    format!(", retains {}", human(c.retained_bytes as i64, "bytes"))
                } else {
                    String::new()
                },
                if c.runtime { "  [runtime]" } else { "" },
            )?;
            if let Some(fields) = &c.fields {
                writeln!(out, "     through {fields}")?;
            }
            write_path(&mut out, &c.path)?;
        }
        if list.len() > limit {
            writeln!(out, "… {} more (--top 0)", list.len() - limit)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `leakdiff.retained/v1`.
#[derive(Serialize)]
struct RetainedJson<'a> {
    schema: &'static str,
    dump: &'a DumpSummary,
    by: &'static str,
    retainers: &'a [Retainer],
}

/// Writes the retainers as text or JSON.
pub fn write_retained<W: Write>(
    s: &DumpSummary,
    list: &[Retainer],
    by: &'static str,
    named_globals: bool,
    json: bool,
    out: W,
) -> io::Result<()> {
    let mut out = crate::units::TermSafe(out);
    let by_site = by == "site";
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &RetainedJson {
                schema: "leakdiff.retained/v1",
                dump: s,
                by,
                retainers: list,
            },
        )?;
        return writeln!(out);
    }
    header(&mut out, s)?;
    writeln!(
        out,
        "top retainers by {by}: retained = the bytes that would be freed if it were gone (dominator tree)\n"
    )?;
    for (i, r) in list.iter().enumerate() {
        if r.runtime && (i == 0 || !list[i - 1].runtime) {
            writeln!(
                out,
                "-- the Go runtime's own (goroutine stacks and descriptors, Ps, Ms, runtime globals): --"
            )?;
        }
        writeln!(
            out,
            "#{:<3} {:>10}  {} object(s)  {}{}",
            i + 1,
            human(r.retained_bytes as i64, "bytes"),
            r.objects,
            r.name,
            if r.runtime { "  [runtime]" } else { "" }
        )?;
        if !by_site {
            if let Some(f) = r.frames.first() {
                writeln!(out, "     allocated at {f}")?;
            }
        }
        write_path(&mut out, &r.path)?;
        if r.traces_like > 1 {
            writeln!(
                out,
                "     {} of its {} objects by a trace like this (the same root, types and fields)",
                r.traces_like, r.objects
            )?;
        }
    }
    if by == "shape" && !named_globals {
        writeln!(
            out,
            "\nshapes are object sizes and pointer counts: give the program that wrote the dump with --binary PATH for its Go types (--by type, from its DWARF) and its globals' names (--by root)"
        )?;
    }
    if by == "root" && !named_globals {
        writeln!(
            out,
            "\nglobals are unnamed: the dump has their addresses, not their names; give the program that wrote it with --binary PATH (its symbol table names them: main.sessions (bss))"
        )?;
    }
    Ok(())
}
