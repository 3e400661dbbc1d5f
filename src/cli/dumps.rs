//! `leakdiff cycles` and `leakdiff retained`: one Go heap dump's object graph.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::DumpInputArgs;
use super::goroutines::GoroutineFormat;
use super::{emit, EXIT_OK};

#[derive(Args, Debug)]
pub(super) struct DumpArgs {
    /// A Go heap dump (`runtime/debug.WriteHeapDump`), raw or gzipped.
    dump: PathBuf,
    /// Show at most N entries (0 = all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = GoroutineFormat::Text)]
    format: GoroutineFormat,
    /// Write the result here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    read: DumpInputArgs,
}

#[derive(Args, Debug)]
pub(super) struct RetainedArgs {
    #[command(flatten)]
    dump: DumpArgs,
    /// What to rank. Default: allocation sites (each object counted once); by type (by root
    /// without types) when the sites retain under 1 % of the reachable heap between them, as in
    /// a process left at Go's default MemProfileRate, which records one allocation per 512 KiB.
    #[arg(long, value_enum)]
    by: Option<RetainedBy>,
}

/// Below this share of the reachable heap retained by the allocation sites between them, the
/// sites cannot answer what holds the heap: `retained` ranks by type or root instead.
const SITE_COVERAGE_FLOOR: f64 = 0.01;

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
    std::sync::Arc<crate::progress::Progress>,
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

fn read_dump(args: &DumpArgs) -> Result<ReadDump> {
    purge_freed_memory_at_once();
    let mut loader = args.read.loader();
    let bar = std::sync::Arc::new(crate::progress::Progress::new(true));
    bar.phase(format!(
        "reading {}{}",
        super::file_name(&args.dump),
        crate::progress::size_note(&args.dump)
    ));
    let shown = bar.clone();
    loader.progress = Some(std::sync::Arc::new(move |s| shown.step(s)));
    let (g, dump) = loader.heap_dump_graph(&args.dump)?;
    bar.clear();
    for note in &dump.notes {
        eprintln!("leakdiff: warning: {note}");
    }
    let source = args.dump.display().to_string();
    let summary = crate::graph::dump_summary(&source, &dump.params.version, &g);
    Ok((g, summary, bar, dump.untyped_because))
}

pub(super) fn run_cycles(args: DumpArgs) -> Result<u8> {
    let (g, summary, bar, _) = read_dump(&args)?;
    bar.phase("finding reference cycles");
    let report = crate::graph::cycle_report(&g, args.top);
    bar.finish();
    let json = args.format == GoroutineFormat::Json;
    emit(args.output.as_deref(), |w| {
        crate::report::graph::write_cycles(&summary, &report, args.top, json, w)
    })?;
    Ok(EXIT_OK)
}

pub(super) fn run_retained(args: RetainedArgs) -> Result<u8> {
    let (g, summary, bar, untyped_because) = read_dump(&args.dump)?;
    bar.phase("ranking retainers");
    let json = args.dump.format == GoroutineFormat::Json;
    // The roots' view first when the sites cannot answer (and, in text, the types' after it).
    // What the sites retain is worked out once, for the choice and the ranking.
    let mut sites = None;
    let mut also_by_type = false;
    let by = args.by.unwrap_or_else(|| {
        let by_site = crate::graph::retained_by_site(&g);
        let covered = crate::graph::site_coverage(&by_site, summary.reachable_bytes);
        sites = Some(by_site);
        if covered >= SITE_COVERAGE_FLOOR {
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
            (
                crate::graph::site_retainers(&g, by_site, args.dump.top),
                "site",
            )
        }
        RetainedBy::Object => (crate::graph::retainers(&g, false, args.dump.top), "object"),
        RetainedBy::Root => (crate::graph::retainers_by_root(&g, args.dump.top), "root"),
        RetainedBy::Shape => (crate::graph::retainers_by_shape(&g, args.dump.top), "shape"),
        RetainedBy::Type if g.type_names.is_empty() => {
            bar.clear();
            match untyped_because {
                Some(why) => eprintln!("leakdiff: warning: {why}: the objects have no types; ranking by shape instead"),
                None => eprintln!(
                    "leakdiff: warning: the objects have no types (they come from the DWARF of the program that wrote the dump: --binary PATH); ranking by shape instead"
                ),
            }
            (crate::graph::retainers_by_shape(&g, args.dump.top), "shape")
        }
        RetainedBy::Type => (crate::graph::retainers_by_type(&g, args.dump.top), "type"),
    };
    let types = also_by_type.then(|| crate::graph::retainers_by_type(&g, args.dump.top));
    bar.finish();
    emit(args.dump.output.as_deref(), |w| {
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
