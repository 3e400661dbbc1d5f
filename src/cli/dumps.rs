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
    /// Rank allocation sites (each object counted once) or single objects.
    #[arg(long, value_enum, default_value_t = RetainedBy::Site)]
    by: RetainedBy,
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
}

fn read_dump(args: &DumpArgs) -> Result<(crate::graph::ObjectGraph, crate::graph::DumpSummary)> {
    let loader = args.read.loader();
    let bar = super::Progress::new(true);
    bar.phase(format!(
        "reading and linking {}{}",
        super::file_name(&args.dump),
        super::size_note(&args.dump)
    ));
    let (g, dump) = loader.heap_dump_graph(&args.dump)?;
    for note in &dump.notes {
        eprintln!("leakdiff: warning: {note}");
    }
    bar.phase(format!("{} objects: analysing", g.objects.len()));
    let source = args.dump.display().to_string();
    let summary = crate::graph::dump_summary(&source, &dump.params.version, &g);
    Ok((g, summary))
}

pub(super) fn run_cycles(args: DumpArgs) -> Result<u8> {
    let (g, summary) = read_dump(&args)?;
    let bar = super::Progress::new(true);
    bar.phase("finding reference cycles");
    let report = crate::graph::cycle_report(&g, args.top);
    drop(bar);
    let json = args.format == GoroutineFormat::Json;
    emit(args.output.as_deref(), |w| {
        crate::report::graph::write_cycles(&summary, &report, args.top, json, w)
    })?;
    Ok(EXIT_OK)
}

pub(super) fn run_retained(args: RetainedArgs) -> Result<u8> {
    let (g, summary) = read_dump(&args.dump)?;
    let bar = super::Progress::new(true);
    bar.phase("computing dominators and retained sizes");
    let (list, by) = match args.by {
        RetainedBy::Site => (crate::graph::retainers(&g, true, args.dump.top), "site"),
        RetainedBy::Object => (crate::graph::retainers(&g, false, args.dump.top), "object"),
        RetainedBy::Root => (crate::graph::retainers_by_root(&g, args.dump.top), "root"),
        RetainedBy::Shape => (crate::graph::retainers_by_shape(&g, args.dump.top), "shape"),
    };
    drop(bar);
    let json = args.dump.format == GoroutineFormat::Json;
    emit(args.dump.output.as_deref(), |w| {
        crate::report::graph::write_retained(&summary, &list, by, g.named_globals, json, w)
    })?;
    Ok(EXIT_OK)
}
