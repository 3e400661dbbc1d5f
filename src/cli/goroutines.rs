//! `leakdiff goroutines`: the goroutine detector on one or many dumps or profiles, read as
//! `report` reads them (one loader, the folder rules, one form per moment, the same order).

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::{InputArgs, SeriesInputs};
use super::series;
use super::{emit, EXIT_THRESHOLD};
use crate::goroutines::{self, GoroutineOptions, GroupBy};
use crate::report;
use crate::store::{KeyBy, Kind, Order};
use crate::units::parse_duration_ms;

#[derive(Args, Debug)]
pub(super) struct GoroutinesArgs {
    // Goroutine dumps (debug=1, debug=2, tracebacks) or goroutine profiles; folders are read
    // recursively (in natural name order). Snapshots are ordered by their own timestamps, else
    // their files' times, ties in the order given; equal times are spaced a second apart.
    #[command(flatten)]
    inputs: SeriesInputs,
    /// Group by state and stack (`stack`), by creation site (`creator`), or by a pprof label's
    /// value and stack (`label:KEY`, e.g. label:handler).
    #[arg(long, value_name = "stack|creator|label:KEY", default_value = "stack", value_parser = clap::value_parser!(GroupBy))]
    group_by: GroupBy,
    /// Leave out goroutines whose top function (leaf, or first non-runtime frame) is FUNC, like
    /// goleak's IgnoreTopFunction. Repeatable.
    #[arg(long, value_name = "FUNC")]
    ignore_top: Vec<String>,
    /// Keep runtime and system goroutines (GC workers, finalizers, signal loop, test runner).
    #[arg(long)]
    include_system: bool,
    /// Flag blocked groups that waited at least this long (Go prints whole minutes).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "1m")]
    min_age: u64,
    /// Across snapshots, a group must grow by at least this many goroutines to leak.
    #[arg(long, value_name = "N", default_value_t = 3)]
    min_growth: u32,
    /// Show at most N groups (0 = all).
    #[arg(long, value_name = "N", default_value_t = 30)]
    top: usize,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = GoroutineFormat::Text)]
    format: GoroutineFormat,
    /// Write the result here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit with status 1 when a group leaks (for CI).
    #[arg(long)]
    fail_on_leak: bool,
    #[command(flatten)]
    read: InputArgs,
}

/// Output formats of `goroutines`, `cycles` and `retained`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GoroutineFormat {
    /// Table for terminals.
    #[default]
    Text,
    /// JSON: `leakdiff.goroutines/v1`, `leakdiff.cycles/v1` or `leakdiff.retained/v1`.
    Json,
}

pub(super) fn run_goroutines(args: GoroutinesArgs) -> Result<u8> {
    let loader = series::loader(&args.read, &args.inputs.slices)?;
    let store = crate::app::series::load_store(
        &args.inputs.all(),
        &args.inputs.dataset.filter()?,
        &loader,
        Order::Time,
        KeyBy::Function,
        true,
        Default::default(),
    )?;
    // A file named on its own must be goroutine evidence; in a folder (what `collect` writes)
    // heap profiles and process samples are left out with a note.
    let mut others = 0;
    for s in &store.snapshots {
        if s.kind == Kind::Goroutine {
            continue;
        }
        if args
            .inputs
            .all()
            .iter()
            .any(|i| crate::input::input_name(i) == s.source)
        {
            anyhow::bail!(
                "{}: {} {} profile, not goroutines",
                s.source,
                s.format,
                s.kind.name()
            );
        }
        others += 1;
    }
    if others > 0 {
        eprintln!(
            "leakdiff: goroutines: left out {others} snapshot(s) that are not goroutine dumps or profiles"
        );
    }
    anyhow::ensure!(
        !store.goroutines.is_empty(),
        "no goroutine dumps or profiles among the inputs"
    );
    let refs = store.goroutine_series();
    let options = GoroutineOptions {
        group_by: args.group_by.clone(),
        ignore_top: args.ignore_top.clone(),
        include_system: args.include_system,
        min_age_minutes: (args.min_age / 60_000) as i64,
        min_growth: f64::from(args.min_growth),
        ..Default::default()
    };
    let result = goroutines::analyze(&refs, &options);
    let render = |w: &mut dyn Write| -> io::Result<()> {
        match args.format {
            GoroutineFormat::Text => {
                report::write_goroutines_text(&result, &args.group_by, args.top, w)
            }
            GoroutineFormat::Json => report::write_goroutines_json(&result, w),
        }
    };
    emit(args.output.as_deref(), render)?;
    if args.fail_on_leak && result.groups.iter().any(|g| g.leak) {
        return Ok(EXIT_THRESHOLD);
    }
    Ok(crate::app::series::status_of(&store))
}
