//! `leakdiff cycles` and `leakdiff retained`: one Go heap dump read into its object graph, and
//! what holds its memory ranked and written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use super::output::{emit, file_name};
use super::EXIT_OK;
use crate::input::Loader;

/// One dump's command, its flags read.
pub struct DumpJob {
    /// The heap dump.
    pub dump: PathBuf,
    /// At most this many entries (0: all).
    pub top: usize,
    /// JSON instead of text.
    pub json: bool,
    /// Where the output goes (standard output when none).
    pub output: Option<PathBuf>,
}

/// What `retained` ranks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RetainedBy {
    /// Allocation sites (from the dump's alloc samples).
    #[default]
    Site,
    /// Objects.
    Object,
    /// Roots: globals by name (with --binary), goroutine stacks by function, other roots by kind.
    Root,
    /// Shapes: object size and heap pointers held (for dumps without allocation records).
    Shape,
    /// Go types, from the binary's DWARF (--binary); by shape without one.
    Type,
}

/// The dump's graph and summary, and the progress line (still showing) for what follows.
type ReadDump = (
    crate::graph::ObjectGraph,
    crate::graph::DumpSummary,
    Arc<crate::progress::Progress>,
    Option<String>,
);

/// Makes the allocator hand freed memory back to the system at once instead of after its usual
/// delay (10 ms, 100 ms for large blocks): a dump's graph frees columns of hundreds of megabytes
/// between phases, and the next phase's allocations would otherwise stack on top of them.
/// (Harmless where another allocator serves the process, as in tests: mimalloc is linked in
/// either way, its option simply unused.)
fn purge_freed_memory_at_once() {
    // Keeps the mimalloc crate, and so its C library, linked into whatever uses this one.
    let _ = &mimalloc::MiMalloc;
    // mimalloc's `mi_option_purge_delay` (index 15 in its `mi_option_t`, v2 and v3).
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: sets an allocator option; mimalloc reads options atomically and allows setting
    // them at any time.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

fn read_dump(mut loader: Loader, path: &Path) -> Result<ReadDump> {
    purge_freed_memory_at_once();
    let bar = Arc::new(crate::progress::Progress::new(true));
    bar.phase(format!(
        "reading {}{}",
        file_name(path),
        crate::progress::size_note(path)
    ));
    let shown = bar.clone();
    loader.progress = Some(Arc::new(move |s| shown.step(s)));
    let (g, dump) = loader.heap_dump_graph(path)?;
    bar.clear();
    for note in &dump.notes {
        eprintln!("leakdiff: warning: {note}");
    }
    let source = path.display().to_string();
    let summary = crate::graph::dump_summary(&source, &dump.params.version, &g);
    Ok((g, summary, bar, dump.untyped_because))
}

/// `leakdiff cycles`: the dump's reference cycles.
pub fn run_cycles(job: &DumpJob, loader: Loader) -> Result<u8> {
    let (g, summary, bar, _) = read_dump(loader, &job.dump)?;
    bar.phase("finding reference cycles");
    let report = crate::graph::cycle_report(&g, job.top);
    bar.finish();
    emit(job.output.as_deref(), |w| {
        crate::report::graph::write_cycles(&summary, &report, job.top, job.json, w)
    })?;
    Ok(EXIT_OK)
}

/// `leakdiff retained`: what holds the dump's memory, ranked `by` (chosen from the allocation
/// records' coverage when `None`).
pub fn run_retained(job: &DumpJob, by: Option<RetainedBy>, loader: Loader) -> Result<u8> {
    let (g, summary, bar, untyped_because) = read_dump(loader, &job.dump)?;
    bar.phase("ranking retainers");
    let json = job.json;
    // The roots' view first when the sites cannot answer (and, in text, the types' after it).
    // What the sites retain is worked out once, for the choice and the ranking.
    let mut sites = None;
    let mut also_by_type = false;
    let by = by.unwrap_or_else(|| {
        let by_site = crate::graph::retained_by_site(&g);
        let covered = crate::graph::site_coverage(&by_site, summary.reachable_bytes);
        sites = Some(by_site);
        if covered >= crate::graph::SITE_COVERAGE_FLOOR {
            return RetainedBy::Site;
        }
        let typed = !g.type_names.is_empty();
        also_by_type = typed && !json;
        bar.clear();
        eprintln!(
            "leakdiff: note: the allocation sites retain {:.2} % of the {} reachable (Go records one allocation per MemProfileRate, 512 KiB by default): ranking by {} instead (--by site ranks sites)",
            100.0 * covered,
            crate::units::human(summary.reachable_bytes as i64, "bytes"),
            match (typed, json) {
                (false, _) => "root",
                (true, true) => "type",
                (true, false) => "root, then by type",
            }
        );
        if typed && json {
            RetainedBy::Type
        } else {
            RetainedBy::Root
        }
    });
    let (list, by) = match by {
        RetainedBy::Site => {
            let by_site = sites.unwrap_or_else(|| crate::graph::retained_by_site(&g));
            (crate::graph::site_retainers(&g, by_site, job.top), "site")
        }
        RetainedBy::Object => (crate::graph::retainers(&g, false, job.top), "object"),
        RetainedBy::Root => (crate::graph::retainers_by_root(&g, job.top), "root"),
        RetainedBy::Shape => (crate::graph::retainers_by_shape(&g, job.top), "shape"),
        RetainedBy::Type if g.type_names.is_empty() => {
            bar.clear();
            match untyped_because {
                Some(why) => eprintln!("leakdiff: warning: {why}: the objects have no types; ranking by shape instead"),
                None => eprintln!(
                    "leakdiff: warning: the objects have no types (they come from the DWARF of the program that wrote the dump: --binary PATH); ranking by shape instead"
                ),
            }
            (crate::graph::retainers_by_shape(&g, job.top), "shape")
        }
        RetainedBy::Type => (crate::graph::retainers_by_type(&g, job.top), "type"),
    };
    let types = also_by_type.then(|| crate::graph::retainers_by_type(&g, job.top));
    bar.finish();
    emit(job.output.as_deref(), |w| {
        crate::report::graph::write_retained(&summary, &list, by, g.named_globals, json, &mut *w)?;
        if let Some(t) = &types {
            writeln!(w)?;
            crate::report::graph::write_retained(
                &summary,
                t,
                "type",
                g.named_globals,
                json,
                &mut *w,
            )?;
        }
        Ok(())
    })?;
    Ok(EXIT_OK)
}
