//! Loading a folder of snapshots into a [`Store`]: files decoded in parallel (rayon), a few at a
//! time so memory holds a chunk of profiles, never the whole folder; each profile is reduced to
//! rows per key at once and dropped.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{polars_err, Failure, KeyBy, KeyInfo, Kind, Snapshot, Store, StoreError};
use crate::formats::ParseError;
use crate::model::{Format, Interner, Profile, StackId};

/// Order of the snapshots.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// The profile's own timestamp (pprof `time_nanos`, a heaptrack slice's time), else the file's
    /// modification time.
    #[default]
    Time,
    /// File name (natural order of the path).
    Name,
    /// File modification time (also used as the time axis).
    Mtime,
}

/// Options of [`load_files`].
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Snapshot order.
    pub order: Order,
    /// How samples are keyed.
    pub by: KeyBy,
    /// Show a progress line on stderr (only when stderr is a terminal).
    pub progress: bool,
}

/// File names in a folder that are never snapshots: leakdiff's own outputs and notes.
const NOT_SNAPSHOTS: &[&str] = &[
    ".json", ".md", ".html", ".svg", ".csv", ".parquet", ".prom", ".toml", ".sh", ".go", ".c",
];

/// Every file under `dir`, recursively, sorted by path; hidden files and files with the
/// extensions in `NOT_SNAPSHOTS` (leakdiff's own outputs, scripts, `truth.json`) are left out.
pub fn collect_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(path);
            } else if !NOT_SNAPSHOTS.iter().any(|e| name.ends_with(e)) {
                out.push(path);
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(out)
}

/// Compares strings with runs of digits as numbers (`snap-2` before `snap-10`).
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..na], &b[..nb]);
                let ta = da.iter().skip_while(|c| **c == b'0').count();
                let tb = db.iter().skip_while(|c| **c == b'0').count();
                let ord = ta
                    .cmp(&tb)
                    .then_with(|| da[na - ta..].cmp(&db[nb - tb..]))
                    .then(na.cmp(&nb));
                if ord.is_ne() {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// A progress line on stderr: `loading 37/100 snapshots`, redrawn in place, cleared at the end.
pub struct Progress {
    total: usize,
    done: AtomicUsize,
    shown: bool,
}

impl Progress {
    /// Shown only when asked, stderr is a terminal and there is more than a handful of files.
    pub fn new(total: usize, wanted: bool) -> Progress {
        Progress {
            total,
            done: AtomicUsize::new(0),
            shown: wanted && total > 4 && std::io::stderr().is_terminal(),
        }
    }

    /// One more file done.
    pub fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if self.shown {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\rloading {done}/{} snapshots", self.total);
            let _ = e.flush();
        }
    }

    /// Clears the line.
    pub fn finish(&self) {
        if self.shown {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }
}

/// One snapshot reduced to rows.
struct Reduced {
    snapshot: Snapshot,
    mtime_nanos: i64,
    own_time: Option<i64>,
    value_types: Vec<String>,
    totals: Vec<i64>,
    rows: Vec<(String, Vec<i64>)>,
    frames: FxHashMap<String, Vec<String>>,
}

fn kind_of(profile: &Profile) -> Option<Kind> {
    let vts = profile.value_types();
    if profile.format == Format::GoroutineText
        || vts
            .iter()
            .any(|v| v.kind == "goroutine" || v.kind == "goroutines")
    {
        Some(Kind::Goroutine)
    } else if vts.iter().any(|v| v.unit == "bytes") {
        Some(Kind::Heap)
    } else {
        None
    }
}

fn key_of(interner: &Interner, stack: StackId, by: KeyBy, kind: Kind) -> (String, Vec<String>) {
    let frames: Vec<String> = interner
        .stack_leaf_first(stack)
        .take(32)
        .map(|f| interner.frame_name(f))
        .collect();
    let key = match by {
        // A goroutine's leaf is where the runtime parked it; its function is the first frame of
        // the program's own.
        KeyBy::Function if kind == Kind::Goroutine => crate::goroutines::user_function(&frames),
        KeyBy::Function => frames.first().cloned().unwrap_or_default(),
        KeyBy::Site => {
            let leaf = interner.stack_leaf_first(stack).next();
            match leaf {
                Some(f) => {
                    let loc = interner.frame_location(f);
                    let name = interner.frame_name(f);
                    if loc.is_empty() {
                        name
                    } else {
                        format!("{name} {loc}")
                    }
                }
                None => String::new(),
            }
        }
        KeyBy::Stack => {
            let mut all: Vec<String> = interner
                .stack_leaf_first(stack)
                .map(|f| interner.frame_name(f))
                .collect();
            all.reverse();
            all.join(";")
        }
    };
    (key, frames)
}

fn reduce(path: &Path, interner: &Interner, profile: &Profile, by: KeyBy) -> Option<Reduced> {
    let kind = kind_of(profile)?;
    let mtime_nanos = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let value_types: Vec<String> = profile
        .value_types()
        .iter()
        .map(|v| format!("{}/{}", v.kind, v.unit))
        .collect();
    let totals: Vec<i64> = (0..value_types.len()).map(|i| profile.total(i)).collect();
    // Aggregate per stack first (ids are cheap), then per key string.
    let mut per_stack: FxHashMap<StackId, Vec<i64>> = FxHashMap::default();
    for s in profile.samples() {
        let slot = per_stack
            .entry(s.stack)
            .or_insert_with(|| vec![0; value_types.len()]);
        for (a, v) in slot.iter_mut().zip(s.values) {
            *a = a.saturating_add(*v);
        }
    }
    let mut per_key: FxHashMap<String, Vec<i64>> = FxHashMap::default();
    let mut frames: FxHashMap<String, Vec<String>> = FxHashMap::default();
    for (stack, values) in per_stack {
        if values.iter().all(|v| *v == 0) {
            continue;
        }
        let (key, f) = key_of(interner, stack, by, kind);
        let slot = per_key
            .entry(key.clone())
            .or_insert_with(|| vec![0; values.len()]);
        for (a, v) in slot.iter_mut().zip(&values) {
            *a = a.saturating_add(*v);
        }
        frames.entry(key).or_insert(f);
    }
    Some(Reduced {
        snapshot: Snapshot {
            source: path.display().to_string(),
            format: profile.format.name().to_string(),
            kind,
            time_nanos: 0,
            sampling_rate_bytes: profile.meta.sampling_rate_bytes,
        },
        mtime_nanos,
        own_time: profile.meta.time_nanos.filter(|t| *t > 0),
        value_types,
        totals,
        rows: per_key.into_iter().collect(),
        frames,
    })
}

/// Loads `files` with `decode` (which reads, parses and symbolizes one file into its own
/// interner), in parallel chunks, into a store. Files that fail are kept in
/// [`Store::failures`]; files that are neither heap nor goroutine data in [`Store::skipped`].
pub fn load_files<F>(
    files: &[PathBuf],
    options: &LoadOptions,
    decode: F,
) -> Result<Store, StoreError>
where
    F: Fn(&Path) -> Result<(Interner, Profile), ParseError> + Sync,
{
    let progress = Progress::new(files.len(), options.progress);
    let chunk = (rayon::current_num_threads() * 2).max(4);
    let mut reduced: Vec<Reduced> = Vec::new();
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    // Interned key and value-type names, and the rows, built chunk by chunk.
    let mut key_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut keys: Vec<KeyInfo> = Vec::new();
    let mut vt_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut vt_names: Vec<String> = Vec::new();
    let mut rows: Vec<(u32, Option<u32>, u32, i64)> = Vec::new();
    for group in files.chunks(chunk) {
        let results: Vec<(PathBuf, Result<Option<Reduced>, ParseError>)> = group
            .par_iter()
            .map(|p| {
                let r =
                    decode(p).map(|(interner, profile)| reduce(p, &interner, &profile, options.by));
                progress.tick();
                (p.clone(), r)
            })
            .collect();
        for (path, r) in results {
            match r {
                Err(e) => failures.push(Failure {
                    source: path.display().to_string(),
                    message: e.to_string(),
                }),
                Ok(None) => skipped.push(Failure {
                    source: path.display().to_string(),
                    message: "neither heap nor goroutine data (no value type in bytes)".into(),
                }),
                Ok(Some(mut red)) => {
                    // Temporary snapshot index: position in `reduced`; renumbered after ordering.
                    let sid = reduced.len() as u32;
                    let vts: Vec<u32> = red
                        .value_types
                        .iter()
                        .map(|n| {
                            *vt_ids.entry(n.clone()).or_insert_with(|| {
                                vt_names.push(n.clone());
                                (vt_names.len() - 1) as u32
                            })
                        })
                        .collect();
                    for (i, t) in red.totals.iter().enumerate() {
                        rows.push((sid, None, vts[i], *t));
                    }
                    for (key, values) in std::mem::take(&mut red.rows) {
                        let kid = match key_ids.get(&key) {
                            Some(k) => *k,
                            None => {
                                let frames = red.frames.remove(&key).unwrap_or_default();
                                keys.push(KeyInfo {
                                    name: key.clone(),
                                    frames,
                                });
                                let k = (keys.len() - 1) as u32;
                                key_ids.insert(key, k);
                                k
                            }
                        };
                        for (i, v) in values.into_iter().enumerate() {
                            if v != 0 {
                                rows.push((sid, Some(kid), vts[i], v));
                            }
                        }
                    }
                    red.frames = FxHashMap::default();
                    reduced.push(red);
                }
            }
        }
    }
    progress.finish();
    if reduced.is_empty() {
        return Err(StoreError::Empty(format!(
            "no usable snapshot among {} file(s)",
            files.len()
        )));
    }
    // Order: times first, then renumber the snapshot column.
    for r in &mut reduced {
        r.snapshot.time_nanos = match options.order {
            Order::Mtime => r.mtime_nanos,
            _ => r.own_time.unwrap_or(r.mtime_nanos),
        };
    }
    let mut order: Vec<usize> = (0..reduced.len()).collect();
    match options.order {
        Order::Name => order.sort_by(|&a, &b| {
            natural_cmp(&reduced[a].snapshot.source, &reduced[b].snapshot.source)
        }),
        _ => order.sort_by(|&a, &b| {
            reduced[a]
                .snapshot
                .time_nanos
                .cmp(&reduced[b].snapshot.time_nanos)
                .then_with(|| natural_cmp(&reduced[a].snapshot.source, &reduced[b].snapshot.source))
        }),
    }
    let mut new_index = vec![0u32; reduced.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new as u32;
    }
    let snapshots: Vec<Snapshot> = order.iter().map(|&i| reduced[i].snapshot.clone()).collect();
    let table = build_table(&rows, &new_index).map_err(polars_err("store"))?;
    Ok(Store {
        snapshots,
        keys,
        value_types: vt_names,
        failures,
        skipped,
        table,
    })
}

fn build_table(
    rows: &[(u32, Option<u32>, u32, i64)],
    new_index: &[u32],
) -> PolarsResult<DataFrame> {
    let snapshot: Vec<u32> = rows.iter().map(|r| new_index[r.0 as usize]).collect();
    let key: Vec<Option<u32>> = rows.iter().map(|r| r.1).collect();
    let vt: Vec<u32> = rows.iter().map(|r| r.2).collect();
    let value: Vec<i64> = rows.iter().map(|r| r.3).collect();
    DataFrame::new(
        rows.len(),
        vec![
            Column::new("snapshot".into(), snapshot),
            Column::new("key".into(), key),
            Column::new("value_type".into(), vt),
            Column::new("value".into(), value),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;

    #[test]
    fn natural_order() {
        let mut v = vec!["s-10.pb", "s-2.pb", "s-1.pb", "s-02.pb"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["s-1.pb", "s-2.pb", "s-02.pb", "s-10.pb"]);
    }
}
