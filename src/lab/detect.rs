//! The detectors `eval` scores, run on one truth-labelled folder: `report`'s analysis for memory
//! and cycle leaks, the goroutine detector for goroutine leaks, on the whole series and on each
//! prefix (latency). Folders are read through `input` with the rules every command uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::eval::{self, Detection, ScenarioResult};
use super::simulate::{LeakType, Truth};
use crate::goroutines::{self, GoroutineOptions};
use crate::input::{self, Loader, SeriesOptions};
use crate::leaks::{self, AnalyzeOptions};
use crate::store::{KeyBy, Kind, Order, Store};

/// Errors of a detector run.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The truth file.
    #[error("{path}: {message}")]
    Truth {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Loading the folder.
    #[error(transparent)]
    Input(#[from] input::InputError),
    /// A snapshot of the folder failed to parse.
    #[error("{0}")]
    Broken(String),
    /// The analysis.
    #[error(transparent)]
    Analyze(#[from] leaks::AnalyzeError),
    /// The store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The truth asks for a detector whose snapshots are missing.
    #[error("no {0} snapshots for its truth")]
    Missing(&'static str),
}

/// Folders under `dir` (itself included) that hold a `truth.json`, in natural order.
pub fn scenario_dirs(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    if dir.join("truth.json").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    let mut subs: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subs.sort_by(|a, b| crate::units::natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    for s in subs {
        scenario_dirs(&s, out)?;
    }
    Ok(())
}

/// Evaluates every scenario folder in parallel (`tick` is told how many are done) and sums the
/// results up; a folder that cannot be evaluated is a failure of the report, not of the run.
pub fn evaluate_all(
    dirs: &[std::path::PathBuf],
    loader: &Loader,
    latency: bool,
    alpha: f64,
    tick: &(dyn Fn(usize, usize) + Sync),
) -> eval::EvalReport {
    use rayon::prelude::*;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<ScenarioResult>, eval::EvalFailure>> = dirs
        .par_iter()
        .map(|d| {
            let r = evaluate(d, loader, latency, alpha).map_err(|e| eval::EvalFailure {
                dir: d.display().to_string(),
                message: format!("{e:#}"),
            });
            tick(
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
                dirs.len(),
            );
            r
        })
        .collect();
    let (mut scenarios, mut failures) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(s) => scenarios.extend(s),
            Err(f) => failures.push(f),
        }
    }
    eval::summarize(scenarios, failures)
}

/// Runs the detectors a series' truth calls for and scores them.
pub fn evaluate(
    dir: &Path,
    loader: &Loader,
    latency: bool,
    alpha: f64,
) -> Result<Vec<ScenarioResult>, DetectError> {
    let path = dir.join("truth.json");
    let bad = |message: String| DetectError::Truth {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let truth: Truth =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a truth file: {e}")))?;
    let pattern = truth.pattern.map_or("mixed", |p| p.name()).to_string();
    let name = dir.display().to_string();
    let heap_leaks: Vec<String> = truth.leaks.keys().cloned().collect();
    // A truth with no type (hand-written, like seriesgen's) gets every detector whose snapshots
    // the folder holds.
    let (types, required) = match truth.leak_type {
        Some(t) => (vec![t], true),
        None => (vec![LeakType::Memory, LeakType::Goroutine], false),
    };
    let store = load(dir, loader)?;
    let mut out = Vec::new();
    for t in types {
        let (leaks, detection) = match t {
            LeakType::Memory => (
                heap_leaks.clone(),
                detect_heap(&store, false, latency, alpha)?,
            ),
            LeakType::Cycle => (
                heap_leaks.clone(),
                detect_heap(&store, true, latency, alpha)?,
            ),
            LeakType::Goroutine => (
                truth.goroutine_leaks.clone(),
                detect_goroutines(&store, &truth.goroutine_leaks, latency, alpha),
            ),
        };
        match detection {
            Some(d) => {
                // A bounded structure still filling is right to flag at medium or below.
                let mut related = truth.related.clone();
                related.extend(
                    truth
                        .bounded
                        .keys()
                        .filter(|k| !d.strong.contains(*k))
                        .cloned(),
                );
                out.push(eval::score(&name, t.name(), &pattern, &leaks, &related, &d))
            }
            None if required || !leaks.is_empty() => return Err(DetectError::Missing(t.name())),
            None => {}
        }
    }
    Ok(out)
}

/// A folder as every command reads it; a broken snapshot fails the scenario.
fn load(dir: &Path, loader: &Loader) -> Result<Store, DetectError> {
    let options = SeriesOptions {
        order: Order::Time,
        by: KeyBy::Function,
        progress: None,
        frames: Default::default(),
    };
    let store = input::load_series(&[dir.to_path_buf()], loader, &options)?;
    if let Some(f) = store.failures.first() {
        return Err(DetectError::Broken(f.message.clone()));
    }
    Ok(store)
}

/// The heap detector (`report`'s analysis), on the whole series and on each prefix. With
/// `cycles`, a suspect counts only when its objects are in a reachable cycle of the latest dump
/// of the series (or prefix).
fn detect_heap(
    store: &Store,
    cycles: bool,
    latency: bool,
    alpha: f64,
) -> Result<Option<Detection>, DetectError> {
    let heap = store.snapshots_of(Kind::Heap);
    if heap.is_empty() {
        return Ok(None);
    }
    let opts = AnalyzeOptions {
        top: 0,
        alpha,
        ..Default::default()
    };
    let strong = |r: &leaks::Report| -> BTreeSet<String> {
        r.suspects
            .iter()
            .filter(|x| matches!(x.severity.name(), "critical" | "high"))
            .map(|x| x.key.clone())
            .collect()
    };
    let flagged = |s: &Store| -> Result<(BTreeSet<String>, usize, BTreeSet<String>), DetectError> {
        let r = leaks::analyze(&s.evidence(None)?, &opts)?;
        // The keys named under a caller that owns the growth the suspects leave, and those
        // growing beside the suspects, are findings too: each counts as flagged.
        let mut keys: BTreeSet<String> = r
            .suspects
            .iter()
            .map(|x| x.key.clone())
            .chain(
                r.callers
                    .iter()
                    .flat_map(|c| c.keys.iter().map(|(k, _)| k.clone())),
            )
            .chain(
                r.beside_suspects
                    .iter()
                    .flat_map(|b| b.keys.iter().map(|k| k.key.clone())),
            )
            .collect();
        if cycles {
            let last = s.snapshots_of(Kind::Heap).last().copied();
            let members = s
                .graphs
                .iter()
                .find(|(i, _)| Some(*i) == last)
                .map(|(_, g)| &g.cycle_functions);
            keys.retain(|k| members.is_some_and(|m| m.contains(k)));
        }
        Ok((keys, r.snapshots.len(), strong(&r)))
    };
    let (all, n, strong_keys) = flagged(store)?;
    let judged = store
        .evidence(None)?
        .heap
        .series
        .into_iter()
        .map(|s| s.key.name)
        .collect();
    let mut first = BTreeMap::new();
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
            let (f, count, _) = flagged(&p)?;
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
        strong: strong_keys,
        snapshots: n,
    }))
}

/// The goroutine detector on the folder's goroutine snapshots (one form per moment, in order).
fn detect_goroutines(
    store: &Store,
    leaks: &[String],
    latency: bool,
    alpha: f64,
) -> Option<Detection> {
    if store.goroutines.is_empty() {
        return None;
    }
    let refs = store.goroutine_series();
    let options = GoroutineOptions {
        alpha,
        ..Default::default()
    };
    let leaking = |n: usize| -> BTreeSet<String> {
        goroutines::analyze(&refs[..n], &options)
            .groups
            .into_iter()
            .filter(|g| g.leak)
            .map(|g| g.function)
            .collect()
    };
    let full = goroutines::analyze(&refs, &options);
    let judged = full.groups.iter().map(|g| g.function.clone()).collect();
    let flagged: BTreeSet<String> = full
        .groups
        .iter()
        .filter(|g| g.leak)
        .map(|g| g.function.clone())
        .collect();
    let mut first = BTreeMap::new();
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
    Some(Detection {
        flagged,
        first_flagged: first,
        judged,
        strong: BTreeSet::new(),
        snapshots: refs.len(),
    })
}
