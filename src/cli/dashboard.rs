//! `leakdiff dashboard`: its flags (the serving is `app::dashboard`).

use std::net::TcpListener;

use anyhow::{Context, Result};
use clap::Args;

use super::args::{InputArgs, SeriesInputs};
use super::series::{self, AnalysisArgs};
use crate::app::dashboard::DashboardJob;
use crate::units::parse_duration_ms;

#[derive(Args, Debug)]
pub(super) struct DashboardArgs {
    #[command(flatten)]
    inputs: SeriesInputs,
    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on. Anything but loopback exposes symbol names and paths of the
    /// profiled program to the network.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// How often to look for new snapshots (and how often the page asks for news).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "2s")]
    refresh: u64,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    duration: Option<u64>,
    #[command(flatten)]
    analysis: AnalysisArgs,
    #[command(flatten)]
    read: InputArgs,
}

pub(super) fn run_dashboard(args: DashboardArgs) -> Result<u8> {
    let listener = TcpListener::bind((args.bind.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let loader = series::loader(&args.read, &args.inputs.slices)?;
    let dataset = args.inputs.dataset.clone();
    let job = DashboardJob {
        inputs: args.inputs.all(),
        dataset: Box::new(move || dataset.filter()),
        frames: args.analysis.frames()?,
        analysis: args.analysis.analysis(0),
        refresh: args.refresh,
        duration: args.duration,
    };
    crate::app::dashboard::run_dashboard(&job, listener, &loader)
}
