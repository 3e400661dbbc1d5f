//! `leakdiff BASE LATER` (the default command, `diff`) and `leakdiff slice`.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use regex::Regex;

use super::args::InputArgs;
use super::{emit, file_name, warn_inputs, write_file, write_pprof, EXIT_OK, EXIT_THRESHOLD};
use crate::diff::{self, DiffOptions, Granularity, SortBy};
use crate::formats::heaptrack::SliceSpec;
use crate::input::Loader;
use crate::report::{self, flamegraph, OutputFormat, TextOptions};
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
    /// The earlier snapshot (pprof, legacy `heap profile:` text, jemalloc heap_v2, heaptrack).
    base: Option<PathBuf>,
    /// The later snapshot. Optional with --slices/--slice-every: then the first and last slices
    /// of one heaptrack recording are diffed.
    later: Option<PathBuf>,
    // Inline, not a flattened SliceFlags: clap cannot tell whether an optional flattened group is
    // present through a nested flatten.
    /// Cut one heaptrack recording into N snapshots and diff the first against the last.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=100_000))]
    slices: Option<u32>,
    /// Like --slices, with a snapshot every DURATION (e.g. 10s) and one at the end.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, conflicts_with = "slices")]
    slice_every: Option<u64>,
    /// Value type to compare, by pprof name (inuse_space, alloc_objects, …) or index.
    /// Default: inuse_space when present, else the profile's default_sample_type, else the last.
    #[arg(long, value_name = "NAME|N")]
    sample_index: Option<String>,
    /// What one row aggregates.
    #[arg(long, value_enum, default_value_t = Granularity::Function)]
    by: Granularity,
    /// Show the first N rows (0 = all). Default: 20 for text and markdown, all for json and csv.
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Keep only samples with a frame (function or file) matching this regex.
    #[arg(long, value_name = "REGEX")]
    focus: Option<String>,
    /// Drop samples with a frame (function or file) matching this regex.
    #[arg(long, value_name = "REGEX")]
    ignore: Option<String>,
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

fn loader(h: &DiffArgs) -> Result<Loader> {
    let mut loader = h.input.loader()?;
    loader.read.heaptrack.timeline = h.slices.is_some() || h.slice_every.is_some();
    Ok(loader)
}

fn regex(flag: &str, pattern: Option<String>) -> Result<Option<Regex>> {
    pattern
        .map(|p| {
            Regex::new(&p)
                .with_context(|| format!("{flag} `{p}` is not a valid regular expression"))
        })
        .transpose()
}

pub(super) fn run_diff(args: DiffArgs) -> Result<u8> {
    let Some(base_path) = args.base.clone() else {
        anyhow::bail!(
            "nothing to do: give two snapshots (`leakdiff BASE LATER`) or a command (see --help)"
        );
    };
    let loader = loader(&args)?;
    let top = match (args.top, args.format) {
        (Some(0), _) => None,
        (Some(n), _) => Some(n),
        (None, OutputFormat::Text | OutputFormat::Markdown) => Some(20),
        (None, _) => None,
    };
    let options = DiffOptions {
        by: args.by,
        sample: args.sample_index,
        focus: regex("--focus", args.focus)?,
        ignore: regex("--ignore", args.ignore)?,
        normalize: args.normalize,
        min_delta: args.min_delta,
        top,
        sort: args.sort,
    };
    let (interner, base, later, later_path) =
        match (&args.later, slice_spec(args.slices, args.slice_every)) {
            (Some(later), None) => {
                let (i, b, l) = loader.load_pair(&base_path, later)?;
                (i, b, l, later.clone())
            }
            (None, Some(spec)) => {
                let (i, b, l) = first_and_last_slice(&loader, &base_path, spec)?;
                (i, b, l, base_path.clone())
            }
            (Some(_), Some(_)) => anyhow::bail!(
                "--slices/--slice-every cut one heaptrack recording; give one input, not two"
            ),
            (None, None) => anyhow::bail!(
            "give two snapshots (`leakdiff BASE LATER`), or one heaptrack recording with --slices N"
        ),
        };
    warn_inputs(&loader, [&base, &later]);
    // One aggregation per stack serves the flamegraph and the table.
    let values = diff::stack_values(&base, &later, &interner, &options)?;
    if let Some(path) = &args.flamegraph {
        let opts = flamegraph::FlameOptions {
            title: format!(
                "{}: {} → {}",
                values.value_type.kind,
                file_name(&base_path),
                file_name(&later_path)
            ),
            unit: values.value_type.unit.clone(),
            ..Default::default()
        };
        write_file(path, |w| {
            flamegraph::write_diff_svg(&interner, &values.stacks, &opts, w)
        })?;
    }
    let result = diff::diff_values(&base, &later, values, &interner, &options);

    let color = args.output.is_none()
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let render = |w: &mut dyn Write| -> io::Result<()> {
        match args.format {
            OutputFormat::Text => report::write_text(&result, &TextOptions { color }, w),
            OutputFormat::Json => report::write_json(&result, w),
            OutputFormat::Csv => report::write_csv(&result, w),
            OutputFormat::Markdown => report::write_markdown(&result, w),
        }
    };
    emit(args.output.as_deref(), render)?;
    let failed = args
        .fail_on_growth
        .is_some_and(|t| diff::crosses(&result, t));
    if failed {
        eprintln!(
            "leakdiff: growth threshold {} crossed (total {:+} {})",
            args.fail_on_growth
                .map(|t| t.to_string())
                .unwrap_or_default(),
            result.totals.delta,
            result.unit
        );
        return Ok(EXIT_THRESHOLD);
    }
    Ok(EXIT_OK)
}

/// Reads one heaptrack recording with its timeline and cuts it into snapshots, anchored on the
/// file's modification time.
fn read_slices(
    loader: &Loader,
    path: &std::path::Path,
    spec: SliceSpec,
) -> Result<(crate::model::Interner, Vec<crate::model::Profile>)> {
    let mut interner = crate::model::Interner::new();
    let slices =
        loader
            .decode(path)?
            .into_slices(spec, &mut interner, crate::input::mtime_nanos(path))?;
    Ok((interner, slices))
}

/// The first and last slices of one recording.
fn first_and_last_slice(
    loader: &Loader,
    path: &std::path::Path,
    spec: SliceSpec,
) -> Result<(
    crate::model::Interner,
    crate::model::Profile,
    crate::model::Profile,
)> {
    let (interner, mut slices) = read_slices(loader, path, spec)?;
    let later = slices.pop().context("no slices")?;
    let base = if slices.is_empty() {
        later.clone()
    } else {
        slices.swap_remove(0)
    };
    Ok((interner, base, later))
}

pub(super) fn run_slice(args: SliceArgs) -> Result<u8> {
    let spec = args
        .cut
        .spec()
        .context("say where to cut: --slices N or --slice-every DURATION")?;
    let mut loader = args.input.loader()?;
    loader.read.heaptrack.timeline = true;
    let (interner, slices) = read_slices(&loader, &args.recording, spec)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let stem = file_name(&args.recording);
    let stem = stem
        .strip_suffix(".gz")
        .or_else(|| stem.strip_suffix(".zst"))
        .unwrap_or(&stem)
        .to_string();
    let width = slices.len().to_string().len().max(3);
    for (k, p) in slices.iter().enumerate() {
        let path = args
            .output
            .join(format!("{stem}.slice-{:0width$}.pb.gz", k + 1));
        write_pprof(&path, p, &interner)?;
    }
    eprintln!(
        "leakdiff: wrote {} snapshots of {} to {}",
        slices.len(),
        args.recording.display(),
        args.output.display()
    );
    Ok(EXIT_OK)
}
