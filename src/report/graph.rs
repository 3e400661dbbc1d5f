//! Outputs of `leakdiff cycles` and `leakdiff retained`: text and JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::graph::{self, Cycle, ObjectGraph};
use crate::units::human;

/// Facts about the dump shown in every header.
#[derive(Clone, Debug, Serialize)]
pub struct DumpSummary {
    /// The file.
    pub source: String,
    /// Runtime version.
    pub go_version: String,
    /// Objects.
    pub objects: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Reachable objects.
    pub reachable: usize,
    /// Their bytes.
    pub reachable_bytes: u64,
}

/// Summary of a graph.
pub fn summary(source: &str, go_version: &str, g: &ObjectGraph) -> DumpSummary {
    let reach = (0..g.len()).filter(|&v| g.reachable[v]);
    DumpSummary {
        source: source.to_string(),
        go_version: go_version.to_string(),
        objects: g.len(),
        bytes: g.objects.iter().map(|o| o.1).sum(),
        reachable: reach.clone().count(),
        reachable_bytes: reach.map(|v| g.objects[v].1).sum(),
    }
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
    cycles: &'a [Cycle],
}

/// Writes the cycles as text (at most `top` of each kind; 0 = all) or JSON.
pub fn write_cycles<W: Write>(
    s: &DumpSummary,
    cycles: &[Cycle],
    top: usize,
    json: bool,
    mut out: W,
) -> io::Result<()> {
    let live = cycles.iter().filter(|c| c.reachable).count();
    let dead = cycles.len() - live;
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &CyclesJson {
                schema: "leakdiff.cycles/v1",
                dump: s,
                reachable_cycles: live,
                unreachable_cycles: dead,
                cycles,
            },
        )?;
        return writeln!(out);
    }
    header(&mut out, s)?;
    writeln!(
        out,
        "{live} reference cycles reachable from roots, {dead} unreachable (garbage the GC has not \
         collected yet). A cycle is no leak in Go by itself; what keeps it alive is its path from a root.\n"
    )?;
    let limit = if top == 0 { usize::MAX } else { top };
    for (title, want) in [("REACHABLE", true), ("UNREACHABLE", false)] {
        let list: Vec<&Cycle> = cycles.iter().filter(|c| c.reachable == want).collect();
        if list.is_empty() {
            continue;
        }
        writeln!(out, "{title}")?;
        for (i, c) in list.iter().take(limit).enumerate() {
            let sites: Vec<String> = c
                .sites
                .iter()
                .take(3)
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect();
            writeln!(
                out,
                "#{:<3} {} objects, {}{}  {}",
                i + 1,
                c.objects,
                human(c.bytes as i64, "bytes"),
                if want {
                    format!(", retains {}", human(c.retained_bytes as i64, "bytes"))
                } else {
                    String::new()
                },
                sites.join(", ")
            )?;
            for (k, step) in c.path.iter().enumerate() {
                writeln!(out, "     {}{step}", if k == 0 { "" } else { "→ " })?;
            }
        }
        if list.len() > limit {
            writeln!(out, "… {} more (--top 0)", list.len() - limit)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// One retainer (object or site).
#[derive(Clone, Debug, Serialize)]
pub struct Retainer {
    /// `0x…` for an object, the leaf frame for a site.
    pub name: String,
    /// Retained bytes.
    pub retained_bytes: u64,
    /// Objects (1 for an object; the site's live objects).
    pub objects: usize,
    /// Frames of the allocation site, leaf first.
    pub frames: Vec<String>,
    /// Why it is alive: a path from a root (for a site, to its largest retainer).
    pub path: Vec<String>,
}

/// The top retainers by object or by allocation site.
pub fn retainers(g: &ObjectGraph, by_site: bool, top: usize) -> Vec<Retainer> {
    let limit = if top == 0 { usize::MAX } else { top };
    if by_site {
        // The path goes to the site's object that retains the most.
        let mut best: Vec<(u64, u32)> = vec![(0, u32::MAX); g.sites.len()];
        for v in 0..g.len() {
            let s = g.site_of[v];
            if s != u32::MAX && g.reachable[v] && g.retained[v] >= best[s as usize].0 {
                best[s as usize] = (g.retained[v], v as u32);
            }
        }
        graph::retained_by_site(g)
            .into_iter()
            .take(limit)
            .map(|(s, bytes, n)| Retainer {
                name: g.sites[s as usize].first().cloned().unwrap_or_default(),
                retained_bytes: bytes,
                objects: n,
                frames: g.sites[s as usize].clone(),
                path: match best[s as usize].1 {
                    u32::MAX => Vec::new(),
                    v => graph::path_to(g, v),
                },
            })
            .collect()
    } else {
        let mut objs: Vec<u32> = (0..g.len() as u32)
            .filter(|&v| g.reachable[v as usize])
            .collect();
        objs.sort_by(|&a, &b| {
            g.retained[b as usize]
                .cmp(&g.retained[a as usize])
                .then(a.cmp(&b))
        });
        objs.into_iter()
            .take(limit)
            .map(|v| Retainer {
                name: format!("{:#x}", g.objects[v as usize].0),
                retained_bytes: g.retained[v as usize],
                objects: 1,
                frames: match g.site_of[v as usize] {
                    u32::MAX => Vec::new(),
                    s => g.sites[s as usize].clone(),
                },
                path: graph::path_to(g, v),
            })
            .collect()
    }
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
    by_site: bool,
    json: bool,
    mut out: W,
) -> io::Result<()> {
    let by = if by_site { "site" } else { "object" };
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
        writeln!(
            out,
            "#{:<3} {:>10}  {} object(s)  {}",
            i + 1,
            human(r.retained_bytes as i64, "bytes"),
            r.objects,
            r.name
        )?;
        if !by_site {
            if let Some(f) = r.frames.first() {
                writeln!(out, "     allocated at {f}")?;
            }
        }
        for (k, step) in r.path.iter().enumerate() {
            writeln!(out, "     {}{step}", if k == 0 { "" } else { "→ " })?;
        }
    }
    Ok(())
}
