//! Loading a folder of snapshots into a [`Store`]: files decoded in parallel (rayon), a few at a
//! time so memory holds a chunk of profiles, never the whole folder; each profile is reduced to
//! rows per key at once and dropped.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{polars_err, Failure, KeyBy, KeyInfo, Kind, Snapshot, Store, StoreError};
use crate::formats::ParseError;
use crate::model::{Format, FrameId, Interner, Profile, StackId};

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
/// Compares paths with runs of digits as numbers (`snap-9` before `snap-10`).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
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
    /// (key, value type, value); no key: the snapshot's total.
    rows: Vec<(Option<u32>, u32, i64)>,
}

/// Key and value-type names shared by the workers: each snapshot takes the lock once, and frame
/// names are built only for keys seen for the first time.
#[derive(Default)]
struct Dict {
    key_ids: FxHashMap<String, u32>,
    keys: Vec<KeyInfo>,
    /// Index of the file each key's frames come from: the first file (in input order) that has
    /// the key wins, whichever worker got there first, so the output does not depend on timing.
    frames_from: Vec<usize>,
    vt_ids: FxHashMap<String, u32>,
    vt_names: Vec<String>,
}

fn kind_of(profile: &Profile) -> Option<Kind> {
    let vts = profile.value_types();
    if profile.format == Format::ProcessSample {
        Some(Kind::Process)
    } else if profile.format == Format::GoroutineText
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

/// A cheap id of a stack's key: stacks with the same token have the same key string.
fn token_of(interner: &Interner, stack: StackId, by: KeyBy, kind: Kind) -> u64 {
    const FUNCTION: u64 = 1 << 40;
    const FRAME: u64 = 2 << 40;
    let by_frame = |f: FrameId| {
        let frame = interner.frame_at(f);
        if frame.is_symbolized() {
            FUNCTION | u64::from(frame.function.0)
        } else {
            FRAME | u64::from(f.0)
        }
    };
    match by {
        KeyBy::Stack => u64::from(stack.0),
        KeyBy::Site => interner
            .stack_leaf_first(stack)
            .next()
            .map_or(u64::MAX, |f| FRAME | u64::from(f.0)),
        KeyBy::Function if kind == Kind::Goroutine => {
            let mut first = None;
            for f in interner.stack_leaf_first(stack) {
                first.get_or_insert(f);
                let name = interner.str(interner.frame_at(f).function);
                if !crate::goroutines::is_runtime_frame(name) && !name.starts_with("sync.") {
                    return by_frame(f);
                }
            }
            first.map_or(u64::MAX, by_frame)
        }
        KeyBy::Function => interner
            .stack_leaf_first(stack)
            .next()
            .map_or(u64::MAX, by_frame),
    }
}

/// Function names of a stack, leaf first (at most 32).
fn frames_of(interner: &Interner, stack: StackId) -> Vec<String> {
    interner
        .stack_leaf_first(stack)
        .take(32)
        .map(|f| interner.frame_name(f))
        .collect()
}

fn key_of(interner: &Interner, stack: StackId, by: KeyBy, kind: Kind) -> String {
    let leaf = interner.stack_leaf_first(stack).next();
    match by {
        // A goroutine's leaf is where the runtime parked it; its function is the first frame of
        // the program's own.
        KeyBy::Function if kind == Kind::Goroutine => {
            crate::goroutines::user_function(&frames_of(interner, stack))
        }
        KeyBy::Function => leaf.map(|f| interner.frame_name(f)).unwrap_or_default(),
        KeyBy::Site => match leaf {
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
        },
        KeyBy::Stack => {
            let mut all: Vec<String> = interner
                .stack_leaf_first(stack)
                .map(|f| interner.frame_name(f))
                .collect();
            all.reverse();
            all.join(";")
        }
    }
}

fn reduce(
    file_index: usize,
    path: &Path,
    interner: &Interner,
    profile: &Profile,
    by: KeyBy,
    dict: &Mutex<Dict>,
) -> Option<Reduced> {
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
    let nv = value_types.len();
    // Aggregate per key token first (ids, no strings), keeping one stack per token; key strings
    // are built once per distinct key, frame names once per key new to the store.
    let mut per_token: FxHashMap<u64, (StackId, Vec<i64>)> = FxHashMap::default();
    for s in profile.samples() {
        let token = token_of(interner, s.stack, by, kind);
        let slot = per_token
            .entry(token)
            .or_insert_with(|| (s.stack, vec![0; nv]));
        for (a, v) in slot.1.iter_mut().zip(s.values) {
            *a = a.saturating_add(*v);
        }
    }
    let mut per_key: FxHashMap<String, (StackId, Vec<i64>)> = FxHashMap::default();
    for (_, (stack, values)) in per_token {
        if values.iter().all(|v| *v == 0) {
            continue;
        }
        let slot = per_key
            .entry(key_of(interner, stack, by, kind))
            .or_insert_with(|| (stack, vec![0; nv]));
        for (a, v) in slot.1.iter_mut().zip(&values) {
            *a = a.saturating_add(*v);
        }
    }
    let mut rows = Vec::with_capacity(per_key.len() * nv + nv);
    let mut dict = dict.lock().unwrap_or_else(|e| e.into_inner());
    let d = &mut *dict;
    let vts: Vec<u32> = value_types
        .into_iter()
        .map(|n| {
            let next = d.vt_names.len() as u32;
            let id = *d.vt_ids.entry(n.clone()).or_insert(next);
            if id == next {
                d.vt_names.push(n);
            }
            id
        })
        .collect();
    for (i, vt) in vts.iter().enumerate() {
        rows.push((None, *vt, profile.total(i)));
    }
    for (key, (stack, values)) in per_key {
        let kid = match d.key_ids.get(&key) {
            Some(&k) => {
                if d.frames_from[k as usize] > file_index {
                    d.frames_from[k as usize] = file_index;
                    d.keys[k as usize].frames = frames_of(interner, stack);
                }
                k
            }
            None => {
                let k = d.keys.len() as u32;
                d.keys.push(KeyInfo {
                    name: key.clone(),
                    frames: frames_of(interner, stack),
                });
                d.frames_from.push(file_index);
                d.key_ids.insert(key, k);
                k
            }
        };
        for (i, v) in values.into_iter().enumerate() {
            if v != 0 {
                rows.push((Some(kid), vts[i], v));
            }
        }
    }
    drop(dict);
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
        rows,
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
    let dict = Mutex::new(Dict::default());
    // Every file in parallel: each worker decodes, reduces to rows and drops its profile, so
    // memory holds as many profiles as there are threads, plus the rows.
    let results: Vec<Result<Option<Reduced>, ParseError>> = files
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let r = decode(p)
                .map(|(interner, profile)| reduce(i, p, &interner, &profile, options.by, &dict));
            progress.tick();
            r
        })
        .collect();
    let mut reduced: Vec<Reduced> = Vec::new();
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for (path, r) in files.iter().zip(results) {
        match r {
            Err(e) => failures.push(Failure {
                source: path.display().to_string(),
                message: e.to_string(),
            }),
            Ok(None) => skipped.push(Failure {
                source: path.display().to_string(),
                message: "neither heap nor goroutine data (no value type in bytes)".into(),
            }),
            Ok(Some(red)) => reduced.push(red),
        }
    }
    let Dict { keys, vt_names, .. } = dict.into_inner().unwrap_or_else(|e| e.into_inner());
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
    // Keys and value types got their ids from whichever worker met them first: renumber them in
    // name order, so the store (and a Parquet file saved from it) is the same on every run.
    let (keys, key_map) = by_name(keys, |k| &k.name);
    let (vt_names, vt_map) = by_name(vt_names, |v| v);
    let table =
        build_table(&mut reduced, &new_index, &key_map, &vt_map).map_err(polars_err("store"))?;
    Ok(Store {
        snapshots,
        keys,
        value_types: vt_names,
        failures,
        skipped,
        table,
    })
}

/// Sorts items by name; returns them and, for each old index, its new one.
pub(super) fn by_name<T>(items: Vec<T>, name: impl Fn(&T) -> &String) -> (Vec<T>, Vec<u32>) {
    let mut indexed: Vec<(usize, T)> = items.into_iter().enumerate().collect();
    indexed.sort_by(|a, b| name(&a.1).cmp(name(&b.1)));
    let mut map = vec![0u32; indexed.len()];
    for (new, (old, _)) in indexed.iter().enumerate() {
        map[*old] = new as u32;
    }
    (indexed.into_iter().map(|(_, t)| t).collect(), map)
}

/// Builds the long table with the renumbered ids, each snapshot's rows sorted by key and value
/// type, freeing each snapshot's rows as soon as they are copied.
fn build_table(
    reduced: &mut [Reduced],
    new_index: &[u32],
    key_map: &[u32],
    vt_map: &[u32],
) -> PolarsResult<DataFrame> {
    let n: usize = reduced.iter().map(|r| r.rows.len()).sum();
    let mut snapshot = Vec::with_capacity(n);
    let mut key = Vec::with_capacity(n);
    let mut vt = Vec::with_capacity(n);
    let mut value = Vec::with_capacity(n);
    for (i, r) in reduced.iter_mut().enumerate() {
        let mut rows = std::mem::take(&mut r.rows);
        for row in &mut rows {
            row.0 = row.0.map(|k| key_map[k as usize]);
            row.1 = vt_map[row.1 as usize];
        }
        rows.sort_unstable_by_key(|&(k, t, _)| (k, t));
        for (k, t, v) in rows {
            snapshot.push(new_index[i]);
            key.push(k);
            vt.push(t);
            value.push(v);
        }
    }
    DataFrame::new(
        n,
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
