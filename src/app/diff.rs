//! `leakdiff BASE LATER` (`diff`) and `leakdiff slice`: two snapshots, or the ends of one
//! heaptrack recording, diffed and written; a recording cut into snapshots.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use regex::Regex;

use super::output::{emit, file_name, warn_inputs, warn_order, write_file, write_pprof};
use super::{EXIT_OK, EXIT_THRESHOLD};
use crate::diff::{self, DiffOptions};
use crate::formats::heaptrack::SliceSpec;
use crate::input::Loader;
use crate::model::{Interner, Profile};
use crate::report::{self, flamegraph, OutputFormat, TextOptions};
use crate::units::Threshold;

/// One diff, its flags read.
pub struct DiffJob {
    /// The base (or, with `slices`, the one recording).
    pub base: PathBuf,
    /// The later snapshot, when there are two.
    pub later: Option<PathBuf>,
    /// Where to cut one heaptrack recording, whose first and last slices are diffed.
    pub slices: Option<SliceSpec>,
    /// What a row aggregates, filters, order and cut-offs.
    pub options: DiffOptions,
    /// Frames taken out of every stack (pprof's -hide).
    pub hide: Option<Regex>,
    /// Frames kept alone in every stack (pprof's -show).
    pub show: Option<Regex>,
    /// The output format.
    pub format: OutputFormat,
    /// Where the output goes (standard output when none).
    pub output: Option<PathBuf>,
    /// A differential flamegraph written here too.
    pub flamegraph: Option<PathBuf>,
    /// Exit 1 when the total or a row grew this much.
    pub fail_on_growth: Option<Threshold>,
    /// Colour the text table.
    pub color: bool,
}

impl DiffJob {
    /// Folded or speedscope of one input: one profile written, nothing diffed.
    fn one_profile(&self) -> bool {
        self.later.is_none()
            && self.slices.is_none()
            && matches!(self.format, OutputFormat::Folded | OutputFormat::Speedscope)
    }
}

/// Runs a diff; the exit status says whether `fail_on_growth` was crossed.
// Over 120 lines: reading, pruning, one aggregation for the flamegraph and the table, each output.
#[allow(clippy::too_many_lines)]
pub fn run_diff(job: &DiffJob, mut loader: Loader) -> Result<u8> {
    if job.one_profile() {
        loader.read.heaptrack.timeline = false;
        let mut interner = Interner::new();
        let mut p = loader.load(&job.base, &mut interner)?;
        warn_inputs(&loader, [&p]);
        diff::prune_frames(
            &mut interner,
            &mut [&mut p],
            job.hide.as_ref(),
            job.show.as_ref(),
        );
        let values = diff::stack_values(&p, &p, &interner, &job.options)?;
        let name = file_name(&job.base);
        return emit(job.output.as_deref(), |w| match job.format {
            OutputFormat::Folded => report::folded::write_profile(&interner, &values, w),
            _ => report::speedscope::write(&interner, &values, &[name.as_str()], w),
        })
        .map(|_| EXIT_OK);
    }
    let bar = crate::progress::Progress::new(true);
    bar.phase(match &job.later {
        Some(l) => format!(
            "reading {}{} and {}{}",
            file_name(&job.base),
            crate::progress::size_note(&job.base),
            file_name(l),
            crate::progress::size_note(l)
        ),
        None => format!(
            "reading and slicing {}{}",
            file_name(&job.base),
            crate::progress::size_note(&job.base)
        ),
    });
    let (mut interner, mut base, mut later, later_path) = match (&job.later, job.slices) {
        (Some(later), None) => {
            let (i, b, l) = loader.load_pair(&job.base, later)?;
            (i, b, l, later.clone())
        }
        (None, Some(spec)) => {
            let (i, b, l) = first_and_last_slice(&loader, &job.base, spec)?;
            (i, b, l, job.base.clone())
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
    warn_order(&base, &later);
    diff::prune_frames(
        &mut interner,
        &mut [&mut base, &mut later],
        job.hide.as_ref(),
        job.show.as_ref(),
    );
    // One aggregation per stack serves the flamegraph and the table.
    let values = diff::stack_values(&base, &later, &interner, &job.options)?;
    let (base_name, later_name) = (file_name(&job.base), file_name(&later_path));
    bar.finish();
    if let Some(path) = &job.flamegraph {
        let opts = flamegraph::FlameOptions {
            title: format!("{}: {base_name} → {later_name}", values.value_type.kind),
            unit: values.value_type.unit.clone(),
            ..Default::default()
        };
        write_file(path, |w| {
            flamegraph::write_diff_svg(&interner, &values.stacks, &opts, w)
        })?;
    }
    match job.format {
        OutputFormat::Folded => {
            emit(job.output.as_deref(), |w| {
                report::folded::write_diff(&interner, &values, w)
            })?;
            return Ok(EXIT_OK);
        }
        OutputFormat::Speedscope => {
            emit(job.output.as_deref(), |w| {
                report::speedscope::write(&interner, &values, &[&base_name, &later_name], w)
            })?;
            return Ok(EXIT_OK);
        }
        _ => {}
    }
    let result = diff::diff_values(&base, &later, values, &interner, &job.options);
    let render = |w: &mut dyn Write| -> io::Result<()> {
        match job.format {
            OutputFormat::Text => report::write_text(&result, &TextOptions { color: job.color }, w),
            OutputFormat::Json => report::write_json(&result, w),
            OutputFormat::Csv => report::write_csv(&result, w),
            OutputFormat::Markdown => report::write_markdown(&result, w),
            OutputFormat::Folded | OutputFormat::Speedscope => Ok(()),
        }
    };
    emit(job.output.as_deref(), render)?;
    let Some(threshold) = job.fail_on_growth.filter(|t| diff::crosses(&result, *t)) else {
        return Ok(EXIT_OK);
    };
    let threshold = match threshold {
        Threshold::Absolute(v) => crate::units::human(v, &result.unit),
        t => t.to_string(),
    };
    let delta = crate::units::human(result.totals.delta, &result.unit);
    eprintln!(
        "leakdiff: growth threshold {threshold} crossed (total {}{delta})",
        if result.totals.delta > 0 { "+" } else { "" },
    );
    Ok(EXIT_THRESHOLD)
}

/// Reads one heaptrack recording with its timeline and cuts it into snapshots, anchored on the
/// file's modification time.
fn read_slices(loader: &Loader, path: &Path, spec: SliceSpec) -> Result<(Interner, Vec<Profile>)> {
    let mut interner = Interner::new();
    let slices =
        loader
            .decode(path)?
            .into_slices(spec, &mut interner, crate::input::mtime_nanos(path))?;
    Ok((interner, slices))
}

/// The first and last slices of one recording.
fn first_and_last_slice(
    loader: &Loader,
    path: &Path,
    spec: SliceSpec,
) -> Result<(Interner, Profile, Profile)> {
    let (interner, mut slices) = read_slices(loader, path, spec)?;
    let later = slices.pop().context("no slices")?;
    let base = if slices.is_empty() {
        later.clone()
    } else {
        slices.swap_remove(0)
    };
    Ok((interner, base, later))
}

/// `leakdiff slice`: one recording cut at `spec` into pprof files
/// `<name>.slice-001.pb.gz`, … in `output` (created if missing).
pub fn write_slices(
    mut loader: Loader,
    recording: &Path,
    spec: SliceSpec,
    output: &Path,
) -> Result<u8> {
    loader.read.heaptrack.timeline = true;
    let bar = crate::progress::Progress::new(true);
    bar.phase(format!(
        "reading and slicing {}{}",
        file_name(recording),
        crate::progress::size_note(recording)
    ));
    let (interner, slices) = read_slices(&loader, recording, spec)?;
    bar.finish();
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let stem = file_name(recording);
    let stem = stem
        .strip_suffix(".gz")
        .or_else(|| stem.strip_suffix(".zst"))
        .unwrap_or(&stem)
        .to_string();
    let width = slices.len().to_string().len().max(3);
    for (k, p) in slices.iter().enumerate() {
        let path = output.join(format!("{stem}.slice-{:0width$}.pb.gz", k + 1));
        write_pprof(&path, p, &interner)?;
    }
    eprintln!(
        "leakdiff: wrote {} snapshots of {} to {}",
        slices.len(),
        recording.display(),
        output.display()
    );
    Ok(EXIT_OK)
}
