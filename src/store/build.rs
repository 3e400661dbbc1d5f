//! Building a [`Store`] from snapshots as the loader hands them over, from any number of
//! threads: each profile is reduced to rows per key at once and dropped, except what the reports
//! need later — the first and last heap snapshot's whole profiles, every goroutine snapshot's
//! records, the latest heap dump's graph summary — so no input is read twice.

use std::cmp::Ordering as CmpOrdering;
use std::sync::{Arc, Mutex};

use polars_core::prelude::*;
use rustc_hash::FxHashMap;

use super::{
    polars_err, CallerRow, CallerTable, Failure, HeapEnds, KeyBy, KeyInfo, Kind, Snapshot, Store,
    StoreError,
};
use crate::goroutines::{self, GoroutineSnapshot};
use crate::graph::GraphSummary;
use crate::model::{Format, Interner, Profile, StackId};
use crate::units::natural_cmp;

mod keys;
mod one_series;
pub use keys::FrameRules;
use keys::*;
use one_series::{one_form_of_goroutines, one_process};

/// Order of the snapshots.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// The profile's own timestamp (pprof `time_nanos`, a heaptrack slice's time), else the file's
    /// modification time; ties in input order (natural name order within a folder).
    #[default]
    Time,
    /// File name (natural order of the path).
    Name,
    /// File modification time (also used as the time axis).
    Mtime,
}

/// One snapshot as the loader hands it over.
pub struct SnapshotIn {
    /// Position among the inputs (folders expanded in natural name order): breaks ties in time.
    pub input_index: usize,
    /// Path as given.
    pub source: String,
    /// Found by walking a folder (the one-form-per-moment rule applies to these only).
    pub from_folder: bool,
    /// The file's modification time (ns since the epoch; 0 when unknown).
    pub mtime_nanos: i64,
    /// The profile's strings and stacks.
    pub interner: Interner,
    /// The profile.
    pub profile: Profile,
    /// For a Go heap dump: its object graph's summary.
    pub graph: Option<GraphSummary>,
}

/// One snapshot reduced to rows.
#[derive(Clone)]
struct Reduced {
    snapshot: Snapshot,
    mtime_nanos: i64,
    own_time: Option<i64>,
    input_index: usize,
    from_folder: bool,
    /// (key, value type, value); no key: the snapshot's total.
    rows: Vec<(Option<u32>, u32, i64)>,
    /// (caller, key, value type, depth, value): see [`CallerTable`].
    callers: Vec<(u32, u32, u32, u16, i64)>,
    goroutines: Option<GoroutineSnapshot>,
    /// The parser's warnings about this input (counted skips).
    warnings: Vec<String>,
    /// Which process it is of, when the data tells ([`crate::model::SnapshotMeta::process`]).
    process: Option<String>,
    /// How many snapshots of its kind were added before it (see [`StoreBuilder::thin`]).
    seq: usize,
}

/// Where a snapshot goes in the order, known as soon as it is read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OrderKey {
    Time(i64, usize),
    Name(String, usize),
}

impl Ord for OrderKey {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        match (self, other) {
            (OrderKey::Time(a, i), OrderKey::Time(b, j)) => a.cmp(b).then(i.cmp(j)),
            (OrderKey::Name(a, i), OrderKey::Name(b, j)) => natural_cmp(a, b).then(i.cmp(j)),
            (OrderKey::Time(..), OrderKey::Name(..)) => CmpOrdering::Less,
            (OrderKey::Name(..), OrderKey::Time(..)) => CmpOrdering::Greater,
        }
    }
}

impl PartialOrd for OrderKey {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

fn order_key(order: Order, r: &Reduced) -> OrderKey {
    match order {
        Order::Name => OrderKey::Name(r.snapshot.source.clone(), r.input_index),
        Order::Mtime => OrderKey::Time(r.mtime_nanos, r.input_index),
        Order::Time => OrderKey::Time(r.own_time.unwrap_or(r.mtime_nanos), r.input_index),
    }
}

/// A heap snapshot kept whole, with where it stands in the order.
#[derive(Clone)]
struct Kept {
    input_index: usize,
    interner: Interner,
    profile: Profile,
}

/// The first and last heap snapshot seen so far under one ordering.
#[derive(Clone, Default)]
struct Ends {
    first: Option<(OrderKey, Arc<Kept>)>,
    last: Option<(OrderKey, Arc<Kept>)>,
}

impl Ends {
    fn offer(&mut self, at: &OrderKey, kept: &Arc<Kept>) {
        if self.first.as_ref().is_none_or(|(k, _)| at < k) {
            self.first = Some((at.clone(), Arc::clone(kept)));
        }
        if self.last.as_ref().is_none_or(|(k, _)| at > k) {
            self.last = Some((at.clone(), Arc::clone(kept)));
        }
    }

    fn needs(&self, at: &OrderKey) -> bool {
        self.first.as_ref().is_none_or(|(k, _)| at < k)
            || self.last.as_ref().is_none_or(|(k, _)| at > k)
    }
}

/// What is kept while loading: the heap ends under the order asked for and under input order
/// (which one applies is known only once every snapshot is in: see [`StoreBuilder::finish`]),
/// and every heap dump's graph summary.
#[derive(Clone, Default)]
struct KeptState {
    by_order: Ends,
    by_input: Ends,
    graphs: Vec<(usize, GraphSummary)>,
}

/// Key and value-type names shared by the workers: each snapshot takes the lock once, and frame
/// names are built only for keys seen for the first time.
#[derive(Clone, Default)]
struct Dict {
    key_ids: FxHashMap<String, u32>,
    keys: Vec<KeyInfo>,
    /// Index of the file each key's frames come from: the first file (in input order) that has
    /// the key wins, whichever worker got there first, so the output does not depend on timing.
    frames_from: Vec<usize>,
    vt_ids: FxHashMap<String, u32>,
    vt_names: Vec<String>,
    caller_ids: FxHashMap<String, u32>,
    caller_names: Vec<String>,
}

fn reduce(
    s: &SnapshotIn,
    kind: Kind,
    by: KeyBy,
    rules: &FrameRules,
    dict: &Mutex<Dict>,
) -> Reduced {
    let (interner, profile) = (&s.interner, &s.profile);
    let value_types: Vec<String> = profile
        .value_types()
        .iter()
        .map(|v| format!("{}/{}", v.kind, v.unit))
        .collect();
    let nv = value_types.len();
    // Aggregate per key token first (ids, no strings), keeping one stack per token; key strings
    // are built once per distinct key, frame names once per key new to the store.
    let mut per_token: FxHashMap<u64, (StackId, Vec<i64>)> = FxHashMap::default();
    for smp in profile.samples() {
        let token = token_of(interner, smp.stack, by, kind, rules);
        let slot = per_token
            .entry(token)
            .or_insert_with(|| (smp.stack, vec![0; nv]));
        for (a, v) in slot.1.iter_mut().zip(smp.values) {
            *a = a.saturating_add(*v);
        }
    }
    let with_callers = kind == Kind::Heap && by == KeyBy::Function;
    let mut key_names: FxHashMap<u64, String> = FxHashMap::default();
    let mut per_key: FxHashMap<String, (StackId, Vec<i64>)> = FxHashMap::default();
    for (token, (stack, values)) in per_token {
        if values.iter().all(|v| *v == 0) {
            continue;
        }
        let key = key_of(interner, stack, by, kind, rules);
        if with_callers {
            key_names.insert(token, key.clone());
        }
        let slot = per_key.entry(key).or_insert_with(|| (stack, vec![0; nv]));
        for (a, v) in slot.1.iter_mut().zip(&values) {
            *a = a.saturating_add(*v);
        }
    }
    let caller_values = if with_callers {
        callers_of(interner, profile, nv, &key_names, rules)
    } else {
        FxHashMap::default()
    };
    let mut rows = Vec::with_capacity(per_key.len() * nv + nv);
    let mut dict = lock(dict);
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
                if d.frames_from[k as usize] > s.input_index {
                    d.frames_from[k as usize] = s.input_index;
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
                d.frames_from.push(s.input_index);
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
    let mut callers = Vec::new();
    for ((caller, key), (depth, values)) in caller_values {
        let Some(&kid) = d.key_ids.get(&key) else {
            continue;
        };
        let next = d.caller_names.len() as u32;
        let cid = *d.caller_ids.entry(caller.clone()).or_insert(next);
        if cid == next {
            d.caller_names.push(caller);
        }
        for (i, v) in values.into_iter().enumerate() {
            if v != 0 {
                callers.push((cid, kid, vts[i], depth, v));
            }
        }
    }
    drop(dict);
    Reduced {
        snapshot: Snapshot {
            source: s.source.clone(),
            format: profile.format.name().to_string(),
            kind,
            time_nanos: 0,
            sampling_rate_bytes: profile.meta.sampling_rate_bytes,
            gc_count: profile.meta.gc_count,
        },
        mtime_nanos: s.mtime_nanos,
        own_time: profile.meta.time_nanos.filter(|t| *t > 0),
        input_index: s.input_index,
        from_folder: s.from_folder,
        rows,
        callers,
        goroutines: (kind == Kind::Goroutine).then(|| goroutines::reduce(interner, profile)),
        warnings: profile.meta.warnings.clone(),
        process: profile.meta.process.clone(),
        seq: 0,
    }
}

/// Builds a [`Store`] from snapshots handed over one by one, from any thread
/// ([`StoreBuilder::add`]), then ordered and renumbered once ([`StoreBuilder::finish`]): the
/// result does not depend on which thread added what first.
pub struct StoreBuilder {
    by: KeyBy,
    order: Order,
    frames: FrameRules,
    dict: Mutex<Dict>,
    reduced: Mutex<Vec<Reduced>>,
    kept: Mutex<KeptState>,
    failures: Mutex<Vec<(usize, Failure)>>,
    skipped: Mutex<Vec<(usize, Failure)>>,
    /// Per kind (heap, goroutine, process): snapshots added, and the stride kept by
    /// [`StoreBuilder::thin`].
    counts: Mutex<[(usize, usize); 3]>,
}

fn kind_slot(kind: Kind) -> usize {
    match kind {
        Kind::Heap => 0,
        Kind::Goroutine => 1,
        Kind::Process => 2,
    }
}

impl StoreBuilder {
    /// Heap keys skip `frames` as well as the allocator's ([`FrameRules`]).
    pub fn with_frames(mut self, frames: FrameRules) -> StoreBuilder {
        self.frames = frames;
        self
    }

    /// A builder keying samples `by`, ordering snapshots by `order`.
    pub fn new(by: KeyBy, order: Order) -> StoreBuilder {
        StoreBuilder {
            by,
            order,
            frames: FrameRules::default(),
            dict: Mutex::new(Dict::default()),
            reduced: Mutex::new(Vec::new()),
            kept: Mutex::new(KeptState::default()),
            failures: Mutex::new(Vec::new()),
            skipped: Mutex::new(Vec::new()),
            counts: Mutex::new([(0, 1); 3]),
        }
    }

    /// Holds the snapshots of each kind to at most `2·max` (0: all), for a series that grows
    /// without end (a watcher's): when a kind holds more, its stride doubles and only every
    /// stride-th snapshot in the order they were added stays, with the latest. What is left is
    /// evenly spaced, first and latest kept, so each round's store (and its analysis) costs the
    /// same however many rounds came before.
    pub fn thin(&self, max: usize) {
        if max == 0 {
            return;
        }
        let mut counts = lock(&self.counts);
        let mut reduced = lock(&self.reduced);
        for kind in [Kind::Heap, Kind::Goroutine, Kind::Process] {
            let (added, stride) = &mut counts[kind_slot(kind)];
            let latest = added.saturating_sub(1);
            while reduced.iter().filter(|r| r.snapshot.kind == kind).count() > 2 * max {
                *stride *= 2;
                let s = *stride;
                reduced.retain(|r| r.snapshot.kind != kind || r.seq % s == 0 || r.seq == latest);
            }
            // The latest of the round before stays only on the stride.
            let s = *stride;
            reduced.retain(|r| r.snapshot.kind != kind || r.seq % s == 0 || r.seq == latest);
        }
    }

    /// Adds one snapshot: reduced to rows at once; kept whole only while it is the first or last
    /// heap snapshot so far. Returns its kind; a profile that is neither heap, goroutine nor
    /// process data is left out and noted in [`Store::skipped`].
    pub fn add(&self, s: SnapshotIn) -> Option<Kind> {
        let Some(kind) = Kind::of(&s.profile) else {
            let types: Vec<String> = s
                .profile
                .value_types()
                .iter()
                .map(|v| v.to_string())
                .collect();
            self.skip(
                s.input_index,
                &s.source,
                format!(
                    "a {} profile with no heap, goroutine or process data (value types: {})",
                    s.profile.format.name(),
                    types.join(", ")
                ),
            );
            return None;
        };
        let mut r = reduce(&s, kind, self.by, &self.frames, &self.dict);
        {
            let mut counts = lock(&self.counts);
            let (added, _) = &mut counts[kind_slot(kind)];
            r.seq = *added;
            *added += 1;
        }
        let at = order_key(self.order, &r);
        lock(&self.reduced).push(r);
        let mut kept = lock(&self.kept);
        if let Some(g) = s.graph {
            kept.graphs.push((s.input_index, g));
        }
        if kind != Kind::Heap {
            return Some(kind);
        }
        let by_input = OrderKey::Time(0, s.input_index);
        if kept.by_order.needs(&at) || kept.by_input.needs(&by_input) {
            let k = Arc::new(Kept {
                input_index: s.input_index,
                interner: s.interner,
                profile: s.profile,
            });
            kept.by_order.offer(&at, &k);
            kept.by_input.offer(&by_input, &k);
        }
        Some(kind)
    }

    /// Records an input that failed to parse (a broken profile: an error of the run).
    pub fn fail(&self, input_index: usize, source: &str, message: String) {
        let f = Failure {
            source: source.to_string(),
            message,
        };
        lock(&self.failures).push((input_index, f));
    }

    /// Records an input left out on purpose (not a profile, or not heap/goroutine/process data).
    pub fn skip(&self, input_index: usize, source: &str, message: String) {
        let f = Failure {
            source: source.to_string(),
            message,
        };
        lock(&self.skipped).push((input_index, f));
    }

    /// The store of the snapshots added so far, the builder left as it is to take more (a
    /// watcher adds each round's and judges the series after every round). Copies the rows.
    pub fn build(&self) -> Result<Store, StoreError> {
        StoreBuilder {
            by: self.by,
            order: self.order,
            frames: self.frames.clone(),
            dict: Mutex::new(lock(&self.dict).clone()),
            reduced: Mutex::new(lock(&self.reduced).clone()),
            kept: Mutex::new(lock(&self.kept).clone()),
            failures: Mutex::new(lock(&self.failures).clone()),
            skipped: Mutex::new(lock(&self.skipped).clone()),
            counts: Mutex::new(*lock(&self.counts)),
        }
        .finish()
    }

    /// Orders the snapshots, renumbers keys and value types in name order, and builds the table.
    // Over 120 lines: the store's columns assembled in one place, in the order the layout lists them.
    #[allow(clippy::too_many_lines)]
    pub fn finish(self) -> Result<Store, StoreError> {
        let by_input = |v: Mutex<Vec<(usize, Failure)>>| {
            let mut v = v.into_inner().unwrap_or_else(|e| e.into_inner());
            v.sort_by_key(|(i, _)| *i);
            v.into_iter().map(|(_, f)| f).collect::<Vec<_>>()
        };
        let failures = by_input(self.failures);
        let mut skipped = by_input(self.skipped);
        let mut reduced = self.reduced.into_inner().unwrap_or_else(|e| e.into_inner());
        let kept = self.kept.into_inner().unwrap_or_else(|e| e.into_inner());
        let dict = self.dict.into_inner().unwrap_or_else(|e| e.into_inner());
        if reduced.is_empty() {
            let n = failures.len() + skipped.len();
            let why = failures
                .first()
                .or(skipped.first())
                .map(|f| format!(": {}", f.message))
                .unwrap_or_default();
            return Err(StoreError::Empty(format!(
                "no usable snapshot among {n} file(s){why}"
            )));
        }
        reduced.sort_by_key(|r| r.input_index);
        one_form_of_goroutines(&mut reduced, &mut skipped);
        one_process(&mut reduced, &mut skipped);
        let order = self.order;
        // goroutineleak profiles are no point of a series: their times do not decide the order.
        let by_time = |these: &[Reduced]| {
            order != Order::Time
                || these
                    .iter()
                    .filter(|r| !r.goroutines.as_ref().is_some_and(|g| g.leak_profile))
                    .all(|r| r.own_time.is_some())
        };
        let mut heap_by_time = true;
        let mut per_kind = Vec::new();
        for kind in [Kind::Heap, Kind::Goroutine, Kind::Process] {
            let (mut these, rest): (Vec<Reduced>, Vec<Reduced>) =
                reduced.into_iter().partition(|r| r.snapshot.kind == kind);
            reduced = rest;
            let t = by_time(&these);
            if kind == Kind::Heap {
                heap_by_time = t;
            }
            place(&mut these, order, t);
            per_kind.push(these);
        }
        let mut reduced = merge_by_time(per_kind);
        let snapshots: Vec<Snapshot> = reduced.iter().map(|r| r.snapshot.clone()).collect();
        let mut warnings: Vec<(usize, Failure)> = reduced
            .iter()
            .flat_map(|r| {
                r.warnings.iter().map(|w| {
                    (
                        r.input_index,
                        Failure {
                            source: r.snapshot.source.clone(),
                            message: format!("{}: {w}", r.snapshot.source),
                        },
                    )
                })
            })
            .collect();
        warnings.sort_by_key(|(i, _)| *i);
        let mut warnings: Vec<Failure> = warnings.into_iter().map(|(_, w)| w).collect();
        if let Some(w) = file_dates(&reduced, order) {
            warnings.push(w);
        }
        let position = |input: usize| reduced.iter().position(|r| r.input_index == input);
        let ends = if heap_by_time {
            kept.by_order
        } else {
            kept.by_input
        };
        let heap_ends = match (ends.first, ends.last) {
            (Some((_, f)), Some((_, l))) => {
                match (position(f.input_index), position(l.input_index)) {
                    (Some(fi), Some(li)) => {
                        let f = Arc::try_unwrap(f).unwrap_or_else(|a| (*a).clone());
                        let l = Arc::try_unwrap(l).unwrap_or_else(|a| (*a).clone());
                        Some(HeapEnds::join(
                            (fi, f.interner, f.profile),
                            (li, l.interner, l.profile),
                        ))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let mut graphs: Vec<(usize, GraphSummary)> = kept
            .graphs
            .into_iter()
            .filter_map(|(input, g)| Some((position(input)?, g)))
            .collect();
        graphs.sort_by_key(|(i, _)| *i);
        let goroutines: Vec<(usize, GoroutineSnapshot)> = reduced
            .iter_mut()
            .enumerate()
            .filter_map(|(i, r)| r.goroutines.take().map(|g| (i, g)))
            .collect();
        // Keys and value types got their ids from whichever worker met them first: renumber them
        // in name order, so the store (and a Parquet file saved from it) is the same on every run.
        // Keys met only in snapshots left out above have no rows: drop them.
        let mut used = vec![false; dict.keys.len()];
        for r in &reduced {
            for k in r.rows.iter().filter_map(|row| row.0) {
                used[k as usize] = true;
            }
        }
        let mut dense = vec![u32::MAX; dict.keys.len()];
        let mut kept_keys = Vec::new();
        for (i, k) in dict.keys.into_iter().enumerate() {
            if used[i] {
                dense[i] = kept_keys.len() as u32;
                kept_keys.push(k);
            }
        }
        let (keys, by_name_map) = by_name(kept_keys, |k| &k.name);
        let key_map: Vec<u32> = dense
            .iter()
            .map(|&d| by_name_map.get(d as usize).copied().unwrap_or(u32::MAX))
            .collect();
        let (vt_names, vt_map) = by_name(dict.vt_names, |v| v);
        let (caller_names, caller_map) = by_name(dict.caller_names, |v| v);
        let mut caller_rows = Vec::new();
        for (i, r) in reduced.iter_mut().enumerate() {
            let mut rows: Vec<CallerRow> = std::mem::take(&mut r.callers)
                .into_iter()
                .filter_map(|(c, k, t, depth, value)| {
                    let key = *key_map.get(k as usize)?;
                    (key != u32::MAX).then(|| CallerRow {
                        snapshot: i as u32,
                        caller: caller_map[c as usize],
                        key,
                        value_type: vt_map[t as usize],
                        depth,
                        value,
                    })
                })
                .collect();
            rows.sort_unstable_by_key(|r| (r.caller, r.key, r.value_type));
            caller_rows.extend(rows);
        }
        let table = build_table(&mut reduced, &key_map, &vt_map).map_err(polars_err("store"))?;
        Ok(Store {
            snapshots,
            keys,
            value_types: vt_names,
            failures,
            skipped,
            table,
            goroutines,
            heap_ends,
            graphs,
            warnings,
            callers: CallerTable {
                names: caller_names,
                rows: caller_rows,
            },
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Orders one kind's snapshots and gives each its time on the trend axis.
///
/// Snapshots with no time of their own that all say how many garbage collections had completed
/// (Go heap dumps, debug=1 heap profiles) go in that order.
///
/// With `by_time` (`--order name|mtime`, or every snapshot has a time of its own: pprof
/// `time_nanos`, heaptrack slices, process samples) they go by that order and time; equal times (a
/// fast generator writes profiles within a second) are spaced a second apart. Otherwise (text
/// dumps, jemalloc and gperftools files carry no time, and file times are unreliable: a checkout
/// gives every file the same one) they stay in input order — files as given, folders in natural
/// name order — with their own or file times as the axis when those increase along it, else one
/// second per step (slopes are then per step).
/// Says when snapshots are placed in time by their files' dates (ordered by time, but carrying
/// no time of their own: heap dumps, goroutine text dumps, jemalloc and gperftools dumps; and
/// heaptrack slices, anchored at the recording's file date): a copy or a fresh clone resets those,
/// so the order and the rates may be the file system's, not the program's.
fn file_dates(reduced: &[Reduced], order: Order) -> Option<Failure> {
    if order != Order::Time || reduced.len() < 2 {
        return None;
    }
    let dated: Vec<&Reduced> = reduced
        .iter()
        .filter(|r| r.own_time.is_none() || r.snapshot.format == "heaptrack")
        .collect();
    if dated.is_empty() {
        return None;
    }
    let mut formats: Vec<&str> = dated.iter().map(|r| r.snapshot.format.as_str()).collect();
    formats.sort_unstable();
    formats.dedup();
    Some(Failure {
        source: String::new(),
        message: format!(
            "times from file dates: {} of {} snapshots ({}) carry no time of their own, so their times are their files' modification times (heaptrack slices: counted from the recording's); copying the files or a fresh clone resets those: check the order, or give it with --order name",
            dated.len(),
            reduced.len(),
            formats.join(", ")
        ),
    })
}

fn place(these: &mut [Reduced], order: Order, by_time: bool) {
    if by_time {
        these.sort_by_key(|r| order_key(order, r));
        for r in these.iter_mut() {
            r.snapshot.time_nanos = match order {
                Order::Mtime => r.mtime_nanos,
                _ => r.own_time.unwrap_or(r.mtime_nanos),
            };
        }
        let mut prev: Option<i64> = None;
        let mut k = 0i64;
        for r in these.iter_mut() {
            let t = r.snapshot.time_nanos;
            if prev == Some(t) {
                k += 1;
                r.snapshot.time_nanos = t.saturating_add(k.saturating_mul(1_000_000_000));
            } else {
                k = 0;
                prev = Some(t);
            }
        }
        return;
    }
    // In the order of the collections they were written after, when every one says (Go heap dumps
    // and debug=1 heap profiles carry the runtime's NumGC): a count that only grows in one
    // process, where names can say anything.
    if these.iter().all(|r| r.snapshot.gc_count.is_some()) {
        these.sort_by_key(|r| (r.snapshot.gc_count, r.input_index));
    } else {
        these.sort_by_key(|r| r.input_index);
    }
    let own: Vec<i64> = these
        .iter()
        .map(|r| r.own_time.unwrap_or(r.mtime_nanos))
        .collect();
    let increasing = own.windows(2).all(|w| w[0] < w[1]);
    let t0 = own.first().copied().unwrap_or(0);
    for (k, r) in these.iter_mut().enumerate() {
        r.snapshot.time_nanos = if increasing {
            own[k]
        } else {
            t0.saturating_add((k as i64).saturating_mul(1_000_000_000))
        };
    }
}

/// One sequence of every kind's ordered snapshots, by time, each kind's order kept.
fn merge_by_time(per_kind: Vec<Vec<Reduced>>) -> Vec<Reduced> {
    let mut queues: Vec<std::collections::VecDeque<Reduced>> =
        per_kind.into_iter().map(Into::into).collect();
    let mut out = Vec::new();
    loop {
        let next = queues
            .iter()
            .enumerate()
            .filter_map(|(q, v)| v.front().map(|r| (r.snapshot.time_nanos, q)))
            .min();
        let Some((_, q)) = next else {
            return out;
        };
        if let Some(r) = queues[q].pop_front() {
            out.push(r);
        }
    }
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
            snapshot.push(i as u32);
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
