//! `leakdiff BASE LATER` (the default command, `diff`) and `leakdiff slice`.

use std::io::{self, Write};
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

// Over 120 lines: the diff command's flags turned into options and outputs, one flag group after another.
#[allow(clippy::too_many_lines)]
pub(super) fn run_diff(args: DiffArgs) -> Result<u8> {
    let (base_path, later_arg) = diff_inputs(&args)?;
    let mut loader = loader(&args)?;
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
    let hide = regex("--hide", args.hide.clone())?;
    let show = regex("--show", args.show.clone())?;
    let one_profile = later_arg.is_none()
        && args.slices.is_none()
        && args.slice_every.is_none()
        && matches!(args.format, OutputFormat::Folded | OutputFormat::Speedscope);
    if one_profile {
        loader.read.heaptrack.timeline = false;
        let mut interner = crate::model::Interner::new();
        let mut p = loader.load(&base_path, &mut interner)?;
        warn_inputs(&loader, [&p]);
        diff::prune_frames(&mut interner, &mut [&mut p], hide.as_ref(), show.as_ref());
        let values = diff::stack_values(&p, &p, &interner, &options)?;
        let name = file_name(&base_path);
        return emit(args.output.as_deref(), |w| match args.format {
            OutputFormat::Folded => report::folded::write_profile(&interner, &values, w),
            _ => report::speedscope::write(&interner, &values, &[name.as_str()], w),
        })
        .map(|_| EXIT_OK);
    }
    let bar = crate::progress::Progress::new(true);
    bar.phase(match &later_arg {
        Some(l) => format!(
            "reading {}{} and {}{}",
            file_name(&base_path),
            crate::progress::size_note(&base_path),
            file_name(l),
            crate::progress::size_note(l)
        ),
        None => format!(
            "reading and slicing {}{}",
            file_name(&base_path),
            crate::progress::size_note(&base_path)
        ),
    });
    let (mut interner, mut base, mut later, later_path) =
        match (&later_arg, slice_spec(args.slices, args.slice_every)) {
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
                "give two snapshots (`leakdiff BASE LATER`), or one heaptrack recording with --slices N (or -f folded|speedscope to write one profile)"
            ),
        };
    bar.phase("diffing");
    warn_inputs(&loader, [&base, &later]);
    super::warn_order(&base, &later);
    diff::prune_frames(
        &mut interner,
        &mut [&mut base, &mut later],
        hide.as_ref(),
        show.as_ref(),
    );
    // One aggregation per stack serves the flamegraph and the table.
    let values = diff::stack_values(&base, &later, &interner, &options)?;
    let (base_name, later_name) = (file_name(&base_path), file_name(&later_path));
    bar.finish();
    if let Some(path) = &args.flamegraph {
        let opts = flamegraph::FlameOptions {
            title: format!("{}: {base_name} → {later_name}", values.value_type.kind),
            unit: values.value_type.unit.clone(),
            ..Default::default()
        };
        write_file(path, |w| {
            flamegraph::write_diff_svg(&interner, &values.stacks, &opts, w)
        })?;
    }
    match args.format {
        OutputFormat::Folded => {
            emit(args.output.as_deref(), |w| {
                report::folded::write_diff(&interner, &values, w)
            })?;
            return Ok(EXIT_OK);
        }
        OutputFormat::Speedscope => {
            emit(args.output.as_deref(), |w| {
                report::speedscope::write(&interner, &values, &[&base_name, &later_name], w)
            })?;
            return Ok(EXIT_OK);
        }
        _ => {}
    }
    let result = diff::diff_values(&base, &later, values, &interner, &options);

    let color = super::color_for_stdout(args.output.as_deref());
    let render = |w: &mut dyn Write| -> io::Result<()> {
        match args.format {
            OutputFormat::Text => report::write_text(&result, &TextOptions { color }, w),
            OutputFormat::Json => report::write_json(&result, w),
            OutputFormat::Csv => report::write_csv(&result, w),
            OutputFormat::Markdown => report::write_markdown(&result, w),
            OutputFormat::Folded | OutputFormat::Speedscope => Ok(()),
        }
    };
    emit(args.output.as_deref(), render)?;
    let failed = args
        .fail_on_growth
        .is_some_and(|t| diff::crosses(&result, t));
    if failed {
        let threshold = match args.fail_on_growth {
            Some(crate::units::Threshold::Absolute(v)) => crate::units::human(v, &result.unit),
            Some(t) => t.to_string(),
            None => String::new(),
        };
        let delta = crate::units::human(result.totals.delta, &result.unit);
        eprintln!(
            "leakdiff: growth threshold {threshold} crossed (total {}{delta})",
            if result.totals.delta > 0 { "+" } else { "" },
        );
        return Ok(EXIT_THRESHOLD);
    }
    Ok(EXIT_OK)
}

/// pprof's default `-nodefraction`: rows under 0.5 % of the total are hidden in tables.
const DEFAULT_NODE_FRACTION: f64 = 0.005;

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
    let bar = crate::progress::Progress::new(true);
    bar.phase(format!(
        "reading and slicing {}{}",
        file_name(&args.recording),
        crate::progress::size_note(&args.recording)
    ));
    let (interner, slices) = read_slices(&loader, &args.recording, spec)?;
    bar.finish();
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
