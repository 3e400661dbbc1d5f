//! `leakdiff export`: a folder of snapshots as data other tools read: the long table (JSON, CSV,
//! Parquet), the analysis as Prometheus text, or the first → last heap diff as a pprof profile.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::{InputArgs, SeriesInputs};
use super::series::{self, AnalysisArgs};
use crate::app::export::ExportFormat;
use crate::store::{KeyBy, Order};

#[derive(Args, Debug)]
pub(super) struct ExportArgs {
    #[command(flatten)]
    inputs: SeriesInputs,
    /// Output format.
    #[arg(long, short = 'f', value_enum)]
    format: ExportFormat,
    /// Write here (required for parquet and pprof; else standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Snapshot order.
    #[arg(long, value_enum, default_value_t = Order::Time)]
    order: Order,
    /// What one series aggregates.
    #[arg(long, value_enum, default_value_t = KeyBy::Function)]
    by: KeyBy,
    #[command(flatten)]
    analysis: AnalysisArgs,
    #[command(flatten)]
    read: InputArgs,
}

pub(super) fn run_export(args: ExportArgs) -> Result<u8> {
    let binary = matches!(args.format, ExportFormat::Parquet | ExportFormat::Pprof);
    if binary && args.output.is_none() {
        anyhow::bail!(
            "--format {} writes a binary file: give --output FILE",
            clap::ValueEnum::to_possible_value(&args.format)
                .map_or_else(String::new, |v| v.get_name().to_string())
        );
    }
    let loader = series::loader(&args.read, &args.inputs.slices)?;
    let store = crate::app::series::load_store(
        &args.inputs.all(),
        &args.inputs.dataset.filter()?,
        &loader,
        args.order,
        args.by,
        true,
        args.analysis.frames()?,
    )?;
    crate::app::export::write(
        &store,
        args.format,
        args.output.as_deref(),
        &args.analysis.analysis(0),
    )?;
    Ok(crate::app::series::status_of(&store))
}
