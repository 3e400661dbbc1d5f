//! `leakdiff simulate` (a synthetic series with its truth, written into a folder of its own) and
//! `leakdiff eval` (the lab's detectors on truth-labelled folders, scored and written).

use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::output::{emit, write_file};
use super::{EXIT_ERROR, EXIT_OK, EXIT_THRESHOLD};
use crate::input::Loader;
use crate::lab::simulate::{self, SimOptions};

/// Simulates the series `options` describe and writes it, with `truth.json`, into `dir`
/// (created; refused when not empty).
pub fn write_simulation(options: &SimOptions, dir: &Path) -> Result<u8> {
    let bar = crate::progress::Progress::new(true);
    bar.phase("simulating the series");
    let sim = simulate::simulate(options)?;
    bar.finish();
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        anyhow::bail!(
            "{} is not empty: simulate writes a series and its truth into a folder of its own",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for f in &sim.files {
        let path = dir.join(&f.name);
        write_file(&path, |w| w.write_all(&f.bytes))?;
        // Text dumps and heap dumps carry no time of their own: the file's mtime says when.
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(f.time_nanos as u64);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(when))
            .with_context(|| format!("cannot set the time of {}", path.display()))?;
    }
    write_file(&dir.join("truth.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &sim.truth).map_err(io::Error::other)?;
        writeln!(w)
    })?;
    eprintln!(
        "leakdiff: wrote {} snapshots and truth.json to {} ({} leak(s), {} decoy(s), {} background)",
        sim.files.len(),
        dir.display(),
        sim.truth.leaks.len() + sim.truth.goroutine_leaks.len(),
        sim.truth.not_leaks.len(),
        sim.truth.background.len()
    );
    Ok(EXIT_OK)
}

/// Output formats of `eval`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    /// The table.
    #[default]
    Text,
    /// `leakdiff.eval/v1` JSON.
    Json,
}

/// An evaluation, its flags read.
pub struct EvalJob {
    /// Folders holding a `truth.json`, or folders of such folders.
    pub dirs: Vec<PathBuf>,
    /// The output format.
    pub format: EvalFormat,
    /// Where the output goes (standard output when none).
    pub output: Option<PathBuf>,
    /// Exit 1 when the overall true positive rate is below this.
    pub min_tpr: Option<f64>,
    /// Exit 1 when the overall false positive rate is above this, or a leak-free series has a
    /// finding.
    pub max_fpr: Option<f64>,
    /// Also score the prefixes that measure latency.
    pub latency: bool,
    /// The trend tests' significance level.
    pub alpha: f64,
}

/// Scores the detectors on the job's folders, read with `loader`.
pub fn evaluate(job: &EvalJob, loader: &Loader) -> Result<u8> {
    let mut dirs = Vec::new();
    for d in &job.dirs {
        crate::lab::detect::scenario_dirs(d, &mut dirs)
            .with_context(|| format!("cannot read {}", d.display()))?;
    }
    if dirs.is_empty() {
        anyhow::bail!("no truth.json under the folders given");
    }
    let bar = crate::progress::Progress::new(true);
    bar.phase(format!("evaluating {} scenario folders", dirs.len()));
    let tick = |n: usize, of: usize| bar.tick(n, of);
    let report = crate::lab::detect::evaluate_all(&dirs, loader, job.latency, job.alpha, &tick);
    bar.finish();
    emit(job.output.as_deref(), |w| match job.format {
        EvalFormat::Text => crate::report::write_eval_text(&report, w),
        EvalFormat::Json => crate::report::write_eval_json(&report, w),
    })?;
    if !report.failures.is_empty() {
        return Ok(EXIT_ERROR);
    }
    let low_tpr = job
        .min_tpr
        .is_some_and(|m| report.overall.tpr.is_some_and(|t| t < m));
    let high_fpr = job.max_fpr.is_some_and(|m| {
        report.overall.fpr.is_some_and(|f| f > m) || !report.leak_free_with_findings.is_empty()
    });
    Ok(if low_tpr || high_fpr {
        EXIT_THRESHOLD
    } else {
        EXIT_OK
    })
}
