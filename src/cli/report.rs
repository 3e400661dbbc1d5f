//! `leakdiff report`: a folder of snapshots (or a saved store) trended into leak suspects.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::{InputArgs, SeriesInputs};
use super::series::{self, AnalysisArgs};
use super::{emit, write_file};
use crate::report::{self, HtmlExtras};
use crate::store::{KeyBy, Kind, Order};

/// Output formats of `report`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Summary for terminals, ranked by severity.
    #[default]
    Text,
    /// `leakdiff.report/v1` JSON.
    Json,
    /// One self-contained HTML file.
    Html,
}

#[derive(Args, Debug)]
pub(super) struct ReportArgs {
    #[command(flatten)]
    inputs: SeriesInputs,
    /// Snapshot order: the profiles' own timestamps (then file mtime), file name, or mtime.
    #[arg(long, value_enum, default_value_t = Order::Time)]
    order: Order,
    /// What one series aggregates.
    #[arg(long, value_enum, default_value_t = KeyBy::Function)]
    by: KeyBy,
    #[command(flatten)]
    analysis: AnalysisArgs,
    /// Show at most N suspects (0 = all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Output format (an --output ending in .html implies html).
    #[arg(long, short = 'f', value_enum)]
    format: Option<ReportFormat>,
    /// Write the report here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also save the long table of every snapshot as Parquet here.
    #[arg(long, value_name = "FILE.parquet")]
    save: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    read: InputArgs,
}

pub(super) fn run_report(args: ReportArgs) -> Result<u8> {
    let loader = series::loader(&args.read, &args.inputs.slices)?;
    let store = crate::app::series::load_store(
        &args.inputs.all(),
        &args.inputs.dataset.filter()?,
        &loader,
        args.order,
        args.by,
        !args.no_progress,
        args.analysis.frames()?,
    )?;
    if let Some(path) = &args.save {
        write_file(path, |w| {
            store
                .write_parquet(w, &path.display().to_string())
                .map_err(io::Error::other)
        })?;
        eprintln!(
            "leakdiff: saved {} rows of {} snapshots to {}",
            store.rows(),
            store.snapshots.len(),
            path.display()
        );
    }
    if [Kind::Heap, Kind::Goroutine, Kind::Process]
        .iter()
        .all(|k| store.snapshots_of(*k).is_empty())
    {
        anyhow::bail!("no heap, goroutine or process snapshots among the inputs");
    }
    let report = args.analysis.analyze(&store, args.top, true)?;
    let format = args.format.unwrap_or_else(|| {
        if args
            .output
            .as_ref()
            .is_some_and(|p| p.extension().is_some_and(|e| e == "html" || e == "htm"))
        {
            ReportFormat::Html
        } else {
            ReportFormat::Text
        }
    });
    let extras = if format == ReportFormat::Html {
        crate::report::flamegraph::report_flamegraphs(&report, &store)
    } else {
        HtmlExtras::default()
    };
    let render = |w: &mut dyn Write| -> io::Result<()> {
        match format {
            ReportFormat::Text => report::write_report_text(&report, w),
            ReportFormat::Json => report::write_report_json(&report, w),
            ReportFormat::Html => report::write_report_html(&report, &extras, w),
        }
    };
    emit(args.output.as_deref(), render)?;
    Ok(crate::app::series::status_of(&store))
}
