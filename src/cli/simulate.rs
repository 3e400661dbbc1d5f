//! `leakdiff simulate` (a synthetic series with its truth) and `leakdiff eval` (the detectors'
//! accuracy on truth-labelled series).

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use clap::Args;
use rayon::prelude::*;

use super::analyze::loader_for;
use super::load::is_heap_dump;
use super::{emit, write_file, Loader, EXIT_OK, EXIT_THRESHOLD};
use crate::eval::{self, Detection, EvalFailure, ScenarioResult};
use crate::goroutines::{self, GoroutineOptions};
use crate::leaks::{self, AnalyzeOptions};
use crate::model::{Format, Interner, Profile};
use crate::simulate::{self, GoroutineForm, LeakType, SimOptions, SimPattern, Truth};
use crate::store::{self, KeyBy, Kind, LoadOptions, Order, Store};
use crate::units::{parse_duration_ms, parse_rate, parse_size};

#[derive(Args, Debug)]
pub(super) struct SimulateArgs {
    /// What leaks: heap bytes (pprof heap profiles), goroutines (goroutine profiles or debug=2
    /// dumps) or reference cycles (Go heap dumps).
    #[arg(long = "type", value_enum, default_value_t = LeakType::Memory)]
    leak_type: LeakType,
    /// Shape of the planted subject; oscillating and plateau make a leak-free series.
    #[arg(long, value_enum, default_value_t = SimPattern::Linear)]
    pattern: SimPattern,
    /// Memory growth of the subject (average over the series), e.g. 1MB/s, 64KiB/s.
    #[arg(long, value_name = "SIZE/s", value_parser = parse_rate, default_value = "64KiB/s")]
    growth: f64,
    /// Goroutines or cycles the subject gains, e.g. 10/s, 6/m (default 0.2/s goroutines, 1/s
    /// cycles).
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    rate: Option<f64>,
    /// Size of the steady background: live objects (memory: 200000, cycle: 2000) or goroutines
    /// (200).
    #[arg(long, value_name = "N")]
    objects: Option<usize>,
    /// Number of snapshots.
    #[arg(long, value_name = "N", default_value_t = 12)]
    snapshots: usize,
    /// Time between snapshots.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "30s")]
    interval: u64,
    /// Seed: the same seed and options give the same files.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Form of goroutine snapshots.
    #[arg(long, value_enum, default_value_t = GoroutineForm::Pprof)]
    goroutine_format: GoroutineForm,
    /// Go's MemProfileRate for heap profiles.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "512KiB")]
    sampling_rate: i64,
    /// Folder to write into (created; must be empty).
    #[arg(long, short = 'o', value_name = "DIR")]
    output: PathBuf,
}

pub(super) fn run_simulate(args: SimulateArgs) -> Result<u8> {
    let options = SimOptions {
        leak_type: args.leak_type,
        pattern: args.pattern,
        growth_bytes_per_sec: args.growth,
        rate_per_sec: args.rate.unwrap_or(match args.leak_type {
            LeakType::Cycle => 1.0,
            _ => 0.2,
        }),
        objects: args.objects,
        snapshots: args.snapshots,
        interval_secs: args.interval as f64 / 1e3,
        seed: args.seed,
        goroutine_form: args.goroutine_format,
        sampling_rate: args.sampling_rate.max(0) as u64,
        ..Default::default()
    };
    let sim = simulate::simulate(&options)?;
    let dir = &args.output;
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

#[derive(Args, Debug)]
pub(super) struct EvalArgs {
    /// Folders holding a `truth.json` and its snapshots, or folders of such folders.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = EvalFormat::Text)]
    format: EvalFormat,
    /// Write the result here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit 1 when the overall true positive rate is below this (0–1).
    #[arg(long, value_name = "RATE")]
    min_tpr: Option<f64>,
    /// Exit 1 when the overall false positive rate is above this (0–1), or when a leak-free
    /// series has any finding.
    #[arg(long, value_name = "RATE")]
    max_fpr: Option<f64>,
    /// Only the whole series: skip the prefixes that measure latency.
    #[arg(long)]
    no_latency: bool,
    /// Significance level of the detectors' trend tests (as `report --alpha`).
    #[arg(long, value_name = "P", default_value_t = 0.05)]
    alpha: f64,
}

/// Folders under `dir` (itself included) that hold a `truth.json`.
fn scenario_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    if dir.join("truth.json").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subs.sort_by(|a, b| store::natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    for s in subs {
        scenario_dirs(&s, out)?;
    }
    Ok(())
}

pub(super) fn run_eval(args: EvalArgs) -> Result<u8> {
    let mut dirs = Vec::new();
    for d in &args.dirs {
        scenario_dirs(d, &mut dirs).with_context(|| format!("cannot read {}", d.display()))?;
    }
    if dirs.is_empty() {
        anyhow::bail!("no truth.json under the folders given");
    }
    let loader = loader_for(4 << 30, &[], &[], true);
    let results: Vec<Result<Vec<ScenarioResult>, EvalFailure>> = dirs
        .par_iter()
        .map(|d| {
            evaluate(d, &loader, !args.no_latency, args.alpha).map_err(|e| EvalFailure {
                dir: d.display().to_string(),
                message: format!("{e:#}"),
            })
        })
        .collect();
    let mut scenarios = Vec::new();
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(s) => scenarios.extend(s),
            Err(f) => failures.push(f),
        }
    }
    let report = eval::summarize(scenarios, failures);
    emit(args.output.as_deref(), |w| match args.format {
        EvalFormat::Text => crate::report::write_eval_text(&report, w),
        EvalFormat::Json => crate::report::write_eval_json(&report, w),
    })?;
    if !report.failures.is_empty() {
        return Ok(super::EXIT_ERROR);
    }
    let low_tpr = args
        .min_tpr
        .is_some_and(|m| report.overall.tpr.is_some_and(|t| t < m));
    let high_fpr = args.max_fpr.is_some_and(|m| {
        report.overall.fpr.is_some_and(|f| f > m) || !report.leak_free_with_findings.is_empty()
    });
    Ok(if low_tpr || high_fpr {
        EXIT_THRESHOLD
    } else {
        EXIT_OK
    })
}

/// Runs the detectors a series' truth calls for and scores them.
fn evaluate(dir: &Path, loader: &Loader, latency: bool, alpha: f64) -> Result<Vec<ScenarioResult>> {
    let path = dir.join("truth.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let truth: Truth = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a truth file", path.display()))?;
    let pattern = truth.pattern.map_or("mixed", |p| p.name()).to_string();
    let name = dir.display().to_string();
    let heap_leaks: Vec<String> = truth.leaks.keys().cloned().collect();
    // A truth with no type (hand-written, like seriesgen's) gets every detector whose snapshots
    // the folder holds.
    let (types, required) = match truth.leak_type {
        Some(t) => (vec![t], true),
        None => (vec![LeakType::Memory, LeakType::Goroutine], false),
    };
    let mut out = Vec::new();
    for t in types {
        let (leaks, detection) = match t {
            LeakType::Memory => (
                heap_leaks.clone(),
                detect_heap(dir, loader, false, latency, alpha)?,
            ),
            LeakType::Cycle => (
                heap_leaks.clone(),
                detect_heap(dir, loader, true, latency, alpha)?,
            ),
            LeakType::Goroutine => (
                truth.goroutine_leaks.clone(),
                detect_goroutines(dir, loader, &truth.goroutine_leaks, latency, alpha)?,
            ),
        };
        match detection {
            Some(d) => out.push(eval::score(&name, t.name(), &pattern, &leaks, &d)),
            None if required || !leaks.is_empty() => {
                anyhow::bail!("no {} snapshots for its truth", t.name())
            }
            None => {}
        }
    }
    Ok(out)
}

/// Function names (before the ` file:line`) of the reachable cycles' members in a dump.
fn cycle_members(g: &crate::graph::ObjectGraph) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for comp in crate::graph::cycles(g) {
        if !g.reachable[comp[0] as usize] {
            continue;
        }
        for v in comp {
            if let Some(site) = g.sites.get(g.site_of[v as usize] as usize) {
                if let Some(f) = site.first() {
                    let func = f.rsplit_once(' ').map_or(f.as_str(), |(f, _)| f);
                    out.insert(func.to_string());
                }
            }
        }
    }
    out
}

/// The heap detector (`report`'s analysis) on a folder, on the whole series and on each prefix.
/// With `cycles`, a suspect counts only when its objects are in a reachable cycle of the latest
/// dump.
fn detect_heap(
    dir: &Path,
    loader: &Loader,
    cycles: bool,
    latency: bool,
    alpha: f64,
) -> Result<Option<Detection>> {
    let files =
        store::collect_files(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let members: Mutex<HashMap<String, BTreeSet<String>>> = Mutex::new(HashMap::new());
    let options = LoadOptions {
        order: Order::Time,
        by: KeyBy::Function,
        progress: false,
    };
    let store = store::load_files(&files, &options, |p| {
        let mut interner = Interner::new();
        if cycles && is_heap_dump(p) {
            let (g, dump) = loader.heap_dump_graph(p)?;
            let source = p.display().to_string();
            if let Ok(mut m) = members.lock() {
                m.insert(source.clone(), cycle_members(&g));
            }
            let profile =
                crate::graph::to_profile(&g, &source, &dump.params.version, &mut interner);
            return Ok((interner, profile));
        }
        let profile = loader.load(p, &mut interner)?;
        Ok((interner, profile))
    })?;
    if let Some(f) = store.failures.first() {
        anyhow::bail!("{}", f.message);
    }
    let members = members.into_inner().unwrap_or_default();
    let opts = AnalyzeOptions {
        top: 0,
        alpha,
        ..Default::default()
    };
    let flagged = |s: &Store| -> Result<(BTreeSet<String>, usize)> {
        let r = leaks::analyze(s, &opts)?;
        let mut keys: BTreeSet<String> = r.suspects.iter().map(|x| x.key.clone()).collect();
        if cycles {
            let last = r.snapshots.last().map(|x| x.source.as_str()).unwrap_or("");
            let m = members.get(last).cloned().unwrap_or_default();
            keys.retain(|k| m.contains(k));
        }
        Ok((keys, r.snapshots.len()))
    };
    let heap = store.snapshots_of(Kind::Heap);
    if heap.is_empty() {
        return Ok(None);
    }
    let (all, n) = flagged(&store)?;
    let vt = store
        .value_type_index("inuse_space")
        .or_else(|| store.value_types_of(Kind::Heap).first().copied())
        .unwrap_or(0);
    let judged = store
        .series(vt, &heap)?
        .into_iter()
        .map(|s| store.keys[s.key as usize].name.clone())
        .collect();
    let mut first = std::collections::BTreeMap::new();
    if latency {
        let mut pending: BTreeSet<String> = all.clone();
        for k in 1..store.snapshots.len() {
            if pending.is_empty() {
                break;
            }
            let p = store.prefix(k)?;
            if p.snapshots_of(Kind::Heap).len() < 3 {
                continue;
            }
            let (f, count) = flagged(&p)?;
            for key in f {
                if pending.remove(&key) {
                    first.insert(key, count);
                }
            }
        }
    }
    Ok(Some(Detection {
        flagged: all,
        first_flagged: first,
        judged,
        snapshots: n,
    }))
}

/// The goroutine detector on a folder's goroutine snapshots (protobufs or text dumps), ordered
/// by their own times or, for text dumps, by file time.
fn detect_goroutines(
    dir: &Path,
    loader: &Loader,
    leaks: &[String],
    latency: bool,
    alpha: f64,
) -> Result<Option<Detection>> {
    let files =
        store::collect_files(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut interner = Interner::new();
    let mut snaps: Vec<(Profile, i64)> = Vec::new();
    for f in files {
        let p = loader.load(&f, &mut interner)?;
        let is_goroutines = p.format == Format::GoroutineText
            || p.value_types().iter().any(|v| v.kind == "goroutine");
        if !is_goroutines {
            continue;
        }
        let t = match p.meta.time_nanos.filter(|t| *t > 0) {
            Some(t) => t,
            None => std::fs::metadata(&f)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i64),
        };
        snaps.push((p, t));
    }
    if snaps.is_empty() {
        return Ok(None);
    }
    snaps.sort_by_key(|(_, t)| *t);
    let t0 = snaps.first().map_or(0, |s| s.1);
    let refs: Vec<(&Profile, f64)> = snaps
        .iter()
        .map(|(p, t)| (p, (t - t0) as f64 / 1e9))
        .collect();
    let options = GoroutineOptions {
        alpha,
        ..Default::default()
    };
    let leaking = |n: usize| -> BTreeSet<String> {
        goroutines::analyze(&interner, &refs[..n], &options)
            .groups
            .into_iter()
            .filter(|g| g.leak)
            .map(|g| g.function)
            .collect()
    };
    let full = goroutines::analyze(&interner, &refs, &options);
    let judged = full.groups.iter().map(|g| g.function.clone()).collect();
    let flagged: BTreeSet<String> = full
        .groups
        .iter()
        .filter(|g| g.leak)
        .map(|g| g.function.clone())
        .collect();
    let mut first = std::collections::BTreeMap::new();
    if latency {
        let mut pending: BTreeSet<&String> =
            leaks.iter().filter(|l| flagged.contains(*l)).collect();
        for n in 3..refs.len() {
            if pending.is_empty() {
                break;
            }
            let f = leaking(n);
            pending.retain(|l| {
                if f.contains(*l) {
                    first.insert((*l).clone(), n);
                    false
                } else {
                    true
                }
            });
        }
    }
    Ok(Some(Detection {
        flagged,
        first_flagged: first,
        judged,
        snapshots: refs.len(),
    }))
}
