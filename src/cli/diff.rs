//! `leakdiff BASE LATER` (the default command, `diff`) and `leakdiff slice`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use regex::Regex;

use super::args::InputArgs;
use crate::app::{self, diff::DiffJob};
use crate::diff::{self, DiffOptions, Granularity, SortBy};
use crate::formats::heaptrack::SliceSpec;
use crate::report::OutputFormat;
use crate::units::{parse_duration_ms, parse_threshold, Threshold};

/// Where to cut a recording (heaptrack timestamps).
#[derive(Args, Debug, Clone)]
struct SliceFlags {
    /// Cut a heaptrack recording into N snapshots at equal steps of its duration.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=100_000))]
    slices: Option<u32>,
    /// Cut a heaptrack recording into a snapshot every DURATION (e.g. 10s), plus one at the end.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, conflicts_with = "slices")]
    slice_every: Option<u64>,
}

impl SliceFlags {
    fn spec(&self) -> Option<SliceSpec> {
        slice_spec(self.slices, self.slice_every)
    }
}

fn slice_spec(slices: Option<u32>, every_ms: Option<u64>) -> Option<SliceSpec> {
    match (slices, every_ms) {
        (Some(n), _) => Some(SliceSpec::Count(n)),
        (None, Some(ms)) => Some(SliceSpec::EveryMs(ms)),
        (None, None) => None,
    }
}

#[derive(Args, Debug)]
pub(super) struct SliceArgs {
    /// The heaptrack recording.
    recording: PathBuf,
    #[command(flatten)]
    cut: SliceFlags,
    /// Folder to write the snapshots to (`<name>.slice-001.pb.gz`, …); created if missing.
    #[arg(long, short = 'o', value_name = "DIR")]
    output: PathBuf,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Args, Debug)]
pub(super) struct DiffArgs {
    /// The earlier snapshot: a file (pprof, legacy `heap profile:` text, jemalloc heap_v2,
    /// heaptrack, Go heap dump), `-` for standard input, or an http(s):// URL. With --base or
    /// --diff-base, the one positional input is the later snapshot.
    #[arg(value_name = "BASE")]
    base: Option<PathBuf>,
    /// The later snapshot. Optional with --slices/--slice-every (the first and last slices of one
    /// heaptrack recording are diffed), and with -f folded|speedscope (one profile is written).
    #[arg(value_name = "LATER")]
    later: Option<PathBuf>,
    /// pprof's -diff_base: diff LATER against this (the same as `BASE LATER`; percentages of the
    /// base).
    #[arg(
        long = "diff-base",
        value_name = "FILE",
        conflicts_with = "subtract_base"
    )]
    diff_base: Option<PathBuf>,
    /// pprof's -base: subtract this from LATER and show the difference as one profile
    /// (percentages of the total difference; what allocs deltas want).
    #[arg(long = "base", id = "subtract_base", value_name = "FILE")]
    subtract_base: Option<PathBuf>,
    // Inline, not a flattened SliceFlags: clap cannot tell whether an optional flattened group is
    // present through a nested flatten.
    /// Cut one heaptrack recording into N snapshots and diff the first against the last.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=100_000))]
    slices: Option<u32>,
    /// Like --slices, with a snapshot every DURATION (e.g. 10s) and one at the end.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, conflicts_with = "slices")]
    slice_every: Option<u64>,
    /// Value type to compare, by pprof name (inuse_space, alloc_objects, …) or index.
    /// Default: the profile's default_sample_type (Go's allocs profile: alloc_space), else
    /// inuse_space when present, else the last (as pprof picks it).
    #[arg(long, value_name = "NAME|N")]
    sample_index: Option<String>,
    /// What one row aggregates.
    #[arg(long, value_enum, default_value_t = Granularity::Function)]
    by: Granularity,
    /// Show the first N rows (0 = all). Default: 20 for text and markdown, all for json and csv.
    #[arg(long, visible_alias = "node-count", value_name = "N")]
    top: Option<usize>,
    /// Hide rows whose flat and cumulative change are both under this fraction of the base
    /// total (pprof's -nodefraction). Default: 0.005 for text and markdown, 0 for the rest.
    #[arg(long, value_name = "F", value_parser = parse_fraction)]
    node_fraction: Option<f64>,
    /// Keep only samples with a frame (function or file) matching this regex.
    #[arg(long, value_name = "REGEX")]
    focus: Option<String>,
    /// Drop samples with a frame (function or file) matching this regex.
    #[arg(long, value_name = "REGEX")]
    ignore: Option<String>,
    /// Take frames matching this regex out of every stack (pprof's -hide): their values go to
    /// their callers.
    #[arg(long, value_name = "REGEX")]
    hide: Option<String>,
    /// Keep only frames matching this regex in every stack (pprof's -show).
    #[arg(long, value_name = "REGEX")]
    show: Option<String>,
    /// Keep only samples with a label matching `KEY=REGEX` or `REGEX` (pprof's -tagfocus).
    /// Repeatable: any one matching keeps a sample.
    #[arg(long, value_name = "[KEY=]REGEX")]
    tag_focus: Vec<String>,
    /// Drop samples with a label matching `KEY=REGEX` or `REGEX` (pprof's -tagignore).
    /// Repeatable.
    #[arg(long, value_name = "[KEY=]REGEX")]
    tag_ignore: Vec<String>,
    /// Scale base so its total equals later's before diffing.
    #[arg(long)]
    normalize: bool,
    /// Hide rows that changed by less than this (bytes like 64KiB, or a % of the base total).
    #[arg(long, value_name = "BYTES|PERCENT", value_parser = parse_threshold)]
    min_delta: Option<Threshold>,
    /// Row order.
    #[arg(long, value_enum, default_value_t = SortBy::Delta)]
    sort: SortBy,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Write the report here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write a differential flamegraph (SVG) here.
    #[arg(long, value_name = "FILE.svg")]
    flamegraph: Option<PathBuf>,
    /// Exit with status 1 when the total or any row grew by at least this much
    /// (bytes like 10MB, or a % of the base total).
    #[arg(long, value_name = "BYTES|PERCENT", value_parser = parse_threshold)]
    fail_on_growth: Option<Threshold>,
    #[command(flatten)]
    input: InputArgs,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{s}` is not a fraction (0.005, or 0.5%)"))?;
    let f = if s.ends_with('%') { f / 100.0 } else { f };
    if !(0.0..=1.0).contains(&f) {
        return Err(format!("`{s}`: a fraction is between 0 and 1"));
    }
    Ok(f)
}

fn tag_filters(flag: &str, terms: &[String]) -> Result<Vec<diff::TagFilter>> {
    terms
        .iter()
        .map(|t| {
            diff::TagFilter::parse(t)
                .with_context(|| format!("{flag} `{t}` is not KEY=REGEX or a valid regex"))
        })
        .collect()
}

fn regex(flag: &str, pattern: Option<String>) -> Result<Option<Regex>> {
    pattern
        .map(|p| {
            Regex::new(&p)
                .with_context(|| format!("{flag} `{p}` is not a valid regular expression"))
        })
        .transpose()
}

/// The two inputs of a diff (or the one of a conversion), from positionals and --base/--diff-base.
impl DiffArgs {
    /// The first input given (BASE, or the later snapshot with --base).
    pub(super) fn first_input(&self) -> Option<&std::path::Path> {
        self.base.as_deref()
    }
}

fn diff_inputs(args: &DiffArgs) -> Result<(PathBuf, Option<PathBuf>)> {
    let flag_base = args.subtract_base.as_ref().or(args.diff_base.as_ref());
    match (flag_base, &args.base, &args.later) {
        (Some(b), Some(later), None) => Ok((b.clone(), Some(later.clone()))),
        (Some(_), _, Some(_)) => anyhow::bail!(
            "--base/--diff-base name the base; give one more input (the later), not two"
        ),
        (Some(_), None, None) => {
            anyhow::bail!("--base/--diff-base FILE need the later snapshot too")
        }
        (None, Some(b), later) => Ok((b.clone(), later.clone())),
        (None, None, _) => anyhow::bail!(
            "nothing to do: give two snapshots (`leakdiff BASE LATER`) or a command (see --help)"
        ),
    }
}

pub(super) fn run_diff(args: DiffArgs) -> Result<u8> {
    let (base, later) = diff_inputs(&args)?;
    let slices = slice_spec(args.slices, args.slice_every);
    let mut loader = args.input.loader()?;
    loader.read.heaptrack.timeline = slices.is_some();
    let text_like = matches!(args.format, OutputFormat::Text | OutputFormat::Markdown);
    let top = match (args.top, text_like) {
        (Some(0), _) => None,
        (Some(n), _) => Some(n),
        (None, true) => Some(20),
        (None, false) => None,
    };
    let options = DiffOptions {
        by: args.by,
        sample: args.sample_index.clone(),
        focus: regex("--focus", args.focus.clone())?,
        ignore: regex("--ignore", args.ignore.clone())?,
        normalize: args.normalize,
        min_delta: args.min_delta,
        top,
        sort: args.sort,
        tag_focus: tag_filters("--tag-focus", &args.tag_focus)?,
        tag_ignore: tag_filters("--tag-ignore", &args.tag_ignore)?,
        node_fraction: args
            .node_fraction
            .or(text_like.then_some(DEFAULT_NODE_FRACTION)),
        subtract: args.subtract_base.is_some(),
    };
    let job = DiffJob {
        base,
        later,
        slices,
        options,
        hide: regex("--hide", args.hide.clone())?,
        show: regex("--show", args.show.clone())?,
        format: args.format,
        color: super::color_for_stdout(args.output.as_deref()),
        output: args.output,
        flamegraph: args.flamegraph,
        fail_on_growth: args.fail_on_growth,
    };
    app::diff::run_diff(&job, loader)
}

/// pprof's default `-nodefraction`: rows under 0.5 % of the total are hidden in tables.
const DEFAULT_NODE_FRACTION: f64 = 0.005;

pub(super) fn run_slice(args: SliceArgs) -> Result<u8> {
    let spec = args
        .cut
        .spec()
        .context("say where to cut: --slices N or --slice-every DURATION")?;
    app::diff::write_slices(args.input.loader()?, &args.recording, spec, &args.output)
}
