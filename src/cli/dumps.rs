//! `leakdiff cycles` and `leakdiff retained`: one Go heap dump's object graph.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::args::DumpInputArgs;
use super::goroutines::GoroutineFormat;
use crate::app::dumps::{self, DumpJob, RetainedBy};

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

impl DumpArgs {
    fn job(&self) -> DumpJob {
        DumpJob {
            dump: self.dump.clone(),
            top: self.top,
            json: self.format == GoroutineFormat::Json,
            output: self.output.clone(),
        }
    }
}

pub(super) fn run_cycles(args: DumpArgs) -> Result<u8> {
    dumps::run_cycles(&args.job(), args.read.loader())
}

pub(super) fn run_retained(args: RetainedArgs) -> Result<u8> {
    dumps::run_retained(&args.dump.job(), args.by, args.dump.read.loader())
}
