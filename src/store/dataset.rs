//! One part file of a fleet dataset (schema `leakdiff.dataset`, version [`DATASET_VERSION`]):
//! snapshots as self-describing rows, encoded to Parquet bytes and back. The folder layout
//! (Hive partitions, atomic writes, pruning) is the `dataset` stage's; this file only turns rows
//! into Parquet and Parquet into rows, and a [`Store`] into rows and rows into a [`Store`].
//!
//! Columns, every one on every row (nulls only where a column does not apply):
//! - `time` TIMESTAMP(µs, UTC), `service` string, `snapshot` string (a content hash of the
//!   snapshot: 32 hex digits), `source` string (the file it came from), `format` string, `kind`
//!   string (`heap`, `goroutine`, `process`);
//! - `value_type` string (`inuse_space`), `unit` string (`bytes`), `key` string (null on a
//!   snapshot's total rows), `frames` LIST<STRING> (one stack of the key, leaf first), `value`
//!   INT64, `sampling_rate` INT64 (bytes, null when the input states none);
//! - goroutine rows only (one row per group of goroutines with one stack, state, creator and
//!   labels): `state`, `created_by`, `wait_minutes` INT64, `leaked` BOOLEAN, `labels`
//!   LIST<STRING> (`key=value`).
//!
//! The Parquet key-value metadata holds, under [`DATASET_META_KEY`], a JSON [`PartMeta`]: the
//! schema name and version, the service, the key rule and the part's time range, so a reader can
//! prune a part without reading its rows.

use std::io::Write;
use std::sync::Arc;

use polars_core::prelude::*;
use polars_io::parquet::write::KeyValueMetadata;
use polars_io::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{polars_err, KeyInfo, Kind, Snapshot, Store, StoreError};
use crate::goroutines::{GoroutineRecord, GoroutineSnapshot};

/// Schema name of a dataset part (in the key-value metadata and the root's marker file).
pub const DATASET_SCHEMA: &str = "leakdiff.dataset";
/// The version this leakdiff writes and reads; a part of a later version is an error.
pub const DATASET_VERSION: u32 = 1;
/// Key of the [`PartMeta`] JSON in a part's Parquet key-value metadata.
pub const DATASET_META_KEY: &str = "leakdiff.dataset";

/// Key of a part's caller rows in its Parquet key-value metadata: base64 of gzipped JSON
/// ([`PartCallers`]). Absent in parts written before callers were kept, and in parts with none.
pub const DATASET_CALLERS_KEY: &str = "leakdiff.dataset.callers";

/// The caller rows of a part's snapshots as saved: names shared by callers and keys, value types
/// by name, rows `(snapshot hash index, caller, key, value type, depth, value)`.
#[derive(Serialize, Deserialize)]
struct PartCallers {
    hashes: Vec<String>,
    names: Vec<String>,
    value_types: Vec<String>,
    rows: Vec<(u32, u32, u32, u32, u16, i64)>,
}

/// One caller row of a heap snapshot (see [`super::CallerTable`]): the value of `value_type`
/// held under function `caller` through key `key`, `depth` frames above the key's frame.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetCaller {
    /// The calling function.
    pub caller: Arc<str>,
    /// The key (a function) it holds value through.
    pub key: Arc<str>,
    /// Value type with its unit (`inuse_space/bytes`).
    pub value_type: Arc<str>,
    /// Fewest frames between the key's frame and the caller.
    pub depth: u16,
    /// The value.
    pub value: i64,
}

/// What a part says of itself (its Parquet key-value metadata).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartMeta {
    /// [`DATASET_SCHEMA`].
    pub schema: String,
    /// The layout version.
    pub version: u32,
    /// The service the rows belong to.
    pub service: String,
    /// How the heap and process keys were made (`function`).
    pub key_by: String,
    /// Earliest snapshot time (µs since the epoch, UTC).
    pub time_min_us: i64,
    /// Latest snapshot time.
    pub time_max_us: i64,
    /// Snapshots in the part.
    pub snapshots: usize,
    /// Rows in the part.
    pub rows: usize,
}

/// The goroutine columns of a row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoroutineCols {
    /// Wait reason ("" when the input has none).
    pub state: String,
    /// `created by` site.
    pub created_by: Option<String>,
    /// Longest wait, minutes.
    pub wait_minutes: Option<i64>,
    /// Proven leaked by the runtime.
    pub leaked: bool,
    /// pprof labels, sorted by key.
    pub labels: Vec<(String, String)>,
}

/// One row of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatasetRow {
    /// Value type (`inuse_space`).
    pub value_type: Arc<str>,
    /// Its unit (`bytes`).
    pub unit: Arc<str>,
    /// The key; `None` on a total row.
    pub key: Option<Arc<str>>,
    /// One stack of the key, leaf first (shared by the rows of a key).
    pub frames: Arc<[String]>,
    /// The value.
    pub value: i64,
    /// Goroutine rows: the group's state, creator, wait and labels.
    pub goroutine: Option<Box<GoroutineCols>>,
}

/// One snapshot as the dataset holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSnapshot {
    /// Time, µs since the epoch (UTC).
    pub time_us: i64,
    /// Content hash (32 hex digits): the same snapshot ingested twice has the same hash.
    pub hash: String,
    /// The file it came from.
    pub source: String,
    /// Input format name.
    pub format: String,
    /// Heap, goroutine or process.
    pub kind: Kind,
    /// Sampling rate in bytes, when stated.
    pub sampling_rate: Option<i64>,
    /// Its rows: totals first, then keys, in a stable order.
    pub rows: Vec<DatasetRow>,
    /// Heap snapshots keyed by function: each key's value under each of its callers (not part
    /// of the content hash: it follows from the rows' profile).
    pub callers: Vec<DatasetCaller>,
}

/// FNV-1a, 128 bits: a stable content hash (not for adversaries: a collision only makes an
/// ingest skip a snapshot it thinks it has).
struct Fnv(u128);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0x6c62272e07bb014262b821756295c58d)
    }
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u128::from(x);
            self.0 = self.0.wrapping_mul(0x0000000001000000000000000000013B);
        }
        // A separator, so ("ab","c") and ("a","bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0000000001000000000000000000013B);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
}

/// A content id of some strings (32 hex digits), in the order given.
pub fn content_id(items: &[&str]) -> String {
    let mut h = Fnv::new();
    for s in items {
        h.str(s);
    }
    format!("{:032x}", h.0)
}

impl DatasetSnapshot {
    /// The content hash of what the snapshot says: kind, format, time, sampling rate and rows
    /// (not the file name, so a copy of a file is the same snapshot; not the frames of a heap or
    /// process key, which are one stack of the key among those of the snapshots read with it).
    pub fn content_hash(&self) -> String {
        let mut h = Fnv::new();
        h.str(self.kind.name());
        h.str(&self.format);
        h.i64(self.time_us);
        h.i64(self.sampling_rate.unwrap_or(-1));
        for r in &self.rows {
            h.str(&r.value_type);
            h.str(&r.unit);
            match &r.key {
                Some(k) => h.str(k),
                None => h.bytes(&[0]),
            }
            h.i64(r.value);
            if let Some(g) = &r.goroutine {
                // A group's stack is its own; a heap key's frames are one stack of the key,
                // which depends on the other snapshots ingested with it.
                for f in r.frames.iter() {
                    h.str(f);
                }
                h.str(&g.state);
                h.str(g.created_by.as_deref().unwrap_or("\0"));
                h.i64(g.wait_minutes.unwrap_or(-1));
                h.i64(i64::from(g.leaked));
                for (k, v) in &g.labels {
                    h.str(k);
                    h.str(v);
                }
            }
        }
        format!("{:032x}", h.0)
    }
}

fn split_vt(name: &str) -> (Arc<str>, Arc<str>) {
    match name.split_once('/') {
        Some((k, u)) => (k.into(), u.into()),
        None => (name.into(), "".into()),
    }
}

/// Strings shared by the rows that carry them (a month of rows holds each key once).
#[derive(Default)]
struct Shared(FxHashMap<String, Arc<str>>);

impl Shared {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = s.into();
        self.0.insert(s.to_string(), Arc::clone(&a));
        a
    }
}

/// A store seen as dataset rows, snapshot by snapshot (see [`Store::dataset_view`]): the long
/// table once, sorted by snapshot, with its strings shared, so that any few snapshots can be
/// turned into rows at a time and memory holds one batch of rows, not the whole store's.
pub struct DatasetView<'a> {
    store: &'a Store,
    rows: Vec<super::LongRow>,
    /// Where each snapshot's rows start in `rows` (one more entry than snapshots).
    starts: Vec<usize>,
    keys: Vec<(Arc<str>, Arc<[String]>)>,
    vts: Vec<(Arc<str>, Arc<str>)>,
    records: FxHashMap<usize, &'a GoroutineSnapshot>,
    caller_names: Vec<Arc<str>>,
    vt_names: Vec<Arc<str>>,
}

impl Store {
    /// The store as dataset rows, to be taken a few snapshots at a time
    /// ([`DatasetView::snapshots`]).
    pub fn dataset_view(&self) -> Result<DatasetView<'_>, StoreError> {
        let rows = self.long_rows()?; // sorted by snapshot
        let mut starts = Vec::with_capacity(self.snapshots.len() + 1);
        let mut at = 0;
        for s in 0..self.snapshots.len() {
            while at < rows.len() && (rows[at].0 as usize) < s {
                at += 1;
            }
            starts.push(at);
        }
        starts.push(rows.len());
        Ok(DatasetView {
            caller_names: self
                .callers
                .names
                .iter()
                .map(|n| n.as_str().into())
                .collect(),
            vt_names: self.value_types.iter().map(|v| v.as_str().into()).collect(),
            store: self,
            keys: self
                .keys
                .iter()
                .map(|k| (k.name.as_str().into(), k.frames.clone().into()))
                .collect(),
            vts: self.value_types.iter().map(|v| split_vt(v)).collect(),
            records: self.goroutines.iter().map(|(i, g)| (*i, g)).collect(),
            rows,
            starts,
        })
    }
}

impl DatasetView<'_> {
    /// The snapshots (indices into the store, in analysis order) as dataset rows, each with its
    /// content hash. Heap and process snapshots give their totals and keyed rows; goroutine
    /// snapshots give their totals and one row per group of goroutines (the records the
    /// goroutine detector reads, keyed by the function the goroutine runs), from which
    /// [`DatasetStoreBuilder`] rebuilds the keyed rows.
    pub fn snapshots(&self, indices: &[usize]) -> Vec<DatasetSnapshot> {
        let none: Arc<[String]> = Arc::new([]);
        let mut out = Vec::with_capacity(indices.len());
        for &i in indices {
            let Some(snap) = self.store.snapshots.get(i) else {
                continue;
            };
            let mut rows = Vec::new();
            for &(_, k, t, v) in &self.rows[self.starts[i]..self.starts[i + 1]] {
                if snap.kind == Kind::Goroutine && k.is_some() {
                    continue;
                }
                let (value_type, unit) = self
                    .vts
                    .get(t as usize)
                    .cloned()
                    .unwrap_or_else(|| split_vt(""));
                let (key, frames) = match k.and_then(|k| self.keys.get(k as usize)) {
                    Some((name, frames)) => (Some(Arc::clone(name)), Arc::clone(frames)),
                    None => (None, Arc::clone(&none)),
                };
                rows.push(DatasetRow {
                    value_type,
                    unit,
                    key,
                    frames,
                    value: v,
                    goroutine: None,
                });
            }
            if snap.kind == Kind::Goroutine {
                // The records carry the value type of the snapshot's (first) total.
                let (value_type, unit) = rows
                    .iter()
                    .find(|r| r.key.is_none())
                    .map(|r| (r.value_type.clone(), r.unit.clone()))
                    .unwrap_or_else(|| split_vt("goroutine/count"));
                if let Some(g) = self.records.get(&i) {
                    for r in &g.records {
                        rows.push(DatasetRow {
                            value_type: value_type.clone(),
                            unit: unit.clone(),
                            key: Some(crate::goroutines::user_function(&r.frames).into()),
                            frames: r.frames.clone().into(),
                            value: r.count,
                            goroutine: Some(Box::new(GoroutineCols {
                                state: r.state.clone(),
                                created_by: r.created_by.clone(),
                                wait_minutes: r.max_wait_minutes,
                                leaked: r.leaked,
                                labels: r.labels.clone(),
                            })),
                        });
                    }
                }
            }
            rows.sort();
            // The caller table's rows are in snapshot order.
            let table = &self.store.callers.rows;
            let from = table.partition_point(|r| (r.snapshot as usize) < i);
            let to = table.partition_point(|r| (r.snapshot as usize) <= i);
            let callers = table[from..to]
                .iter()
                .filter_map(|r| {
                    Some(DatasetCaller {
                        caller: Arc::clone(self.caller_names.get(r.caller as usize)?),
                        key: Arc::clone(&self.keys.get(r.key as usize)?.0),
                        value_type: Arc::clone(self.vt_names.get(r.value_type as usize)?),
                        depth: r.depth,
                        value: r.value,
                    })
                })
                .collect();
            let mut d = DatasetSnapshot {
                time_us: snap.time_nanos.div_euclid(1000),
                hash: String::new(),
                source: snap.source.clone(),
                format: snap.format.clone(),
                kind: snap.kind,
                sampling_rate: snap.sampling_rate_bytes.map(|r| r as i64),
                rows,
                callers,
            };
            d.hash = d.content_hash();
            out.push(d);
        }
        out
    }
}

/// Builds a [`Store`] from dataset snapshots handed over a part at a time: each batch is folded
/// into compact columns at once (u32 ids, one copy of each key's name and frames), so reading a
/// month holds the table and one part's rows, not every row as strings. [`finish`] orders the
/// snapshots by time and the keys and value types by name, as a store loaded from files is.
/// What a dataset does not hold is not in the store: no kept heap profiles (no flamegraphs) and
/// no object graph.
///
/// [`finish`]: DatasetStoreBuilder::finish
#[derive(Default)]
pub struct DatasetStoreBuilder {
    /// (time µs, source, hash, snapshot).
    snapshots: Vec<(i64, String, String, Snapshot)>,
    seen: rustc_hash::FxHashSet<String>,
    key_ids: FxHashMap<Arc<str>, u32>,
    keys: Vec<KeyInfo>,
    vt_ids: FxHashMap<String, u32>,
    vts: Vec<String>,
    rows: Vec<super::LongRow>,
    goroutines: Vec<(u32, GoroutineSnapshot)>,
    caller_ids: FxHashMap<Arc<str>, u32>,
    caller_names: Vec<String>,
    callers: Vec<super::CallerRow>,
}

impl DatasetStoreBuilder {
    fn key_id(&mut self, name: &Arc<str>, frames: &[String]) -> u32 {
        if let Some(&k) = self.key_ids.get(name) {
            let info = &mut self.keys[k as usize];
            // A part keeps a heap key's frames on its first row only.
            if info.frames.is_empty() && !frames.is_empty() {
                info.frames = frames.iter().take(32).cloned().collect();
            }
            return k;
        }
        let k = self.keys.len() as u32;
        self.keys.push(KeyInfo {
            name: name.to_string(),
            frames: frames.iter().take(32).cloned().collect(),
        });
        self.key_ids.insert(Arc::clone(name), k);
        k
    }

    fn vt_id(&mut self, value_type: &str, unit: &str) -> u32 {
        let name = format!("{value_type}/{unit}");
        if let Some(&t) = self.vt_ids.get(&name) {
            return t;
        }
        let t = self.vts.len() as u32;
        self.vts.push(name.clone());
        self.vt_ids.insert(name, t);
        t
    }

    /// Folds snapshots in (a hash already met is left out).
    pub fn add(&mut self, snaps: Vec<DatasetSnapshot>) {
        for s in snaps {
            if !self.seen.insert(s.hash.clone()) {
                continue;
            }
            let i = self.snapshots.len() as u32;
            // A goroutineleak profile proves groups but is no point of the counts' series.
            let leak_profile = s.rows.iter().any(|r| &*r.value_type == "goroutineleak");
            let mut records = Vec::new();
            let mut grouped: FxHashMap<(u32, u32), i64> = FxHashMap::default();
            for r in &s.rows {
                let vt = self.vt_id(&r.value_type, &r.unit);
                let key = r.key.as_ref().map(|k| self.key_id(k, &r.frames));
                match (&r.goroutine, key) {
                    (Some(g), Some(k)) => {
                        let slot = grouped.entry((k, vt)).or_insert(0);
                        *slot = slot.saturating_add(r.value);
                        records.push(GoroutineRecord {
                            frames: r.frames.to_vec(),
                            state: g.state.clone(),
                            created_by: g.created_by.clone(),
                            max_wait_minutes: g.wait_minutes,
                            count: r.value,
                            leaked: g.leaked,
                            labels: g.labels.clone(),
                        });
                    }
                    _ => self.rows.push((i, key, vt, r.value)),
                }
            }
            let mut grouped: Vec<_> = grouped.into_iter().collect();
            grouped.sort_unstable();
            for ((k, vt), v) in grouped {
                if v != 0 {
                    self.rows.push((i, Some(k), vt, v));
                }
            }
            for c in &s.callers {
                let (vt, unit) = c.value_type.rsplit_once('/').unwrap_or((&c.value_type, ""));
                let value_type = self.vt_id(vt, unit);
                let key = self.key_id(&c.key, &[]);
                let caller = match self.caller_ids.get(&c.caller) {
                    Some(&id) => id,
                    None => {
                        let id = self.caller_names.len() as u32;
                        self.caller_names.push(c.caller.to_string());
                        self.caller_ids.insert(Arc::clone(&c.caller), id);
                        id
                    }
                };
                self.callers.push(super::CallerRow {
                    snapshot: i,
                    caller,
                    key,
                    value_type,
                    depth: c.depth,
                    value: c.value,
                });
            }
            if s.kind == Kind::Goroutine {
                self.goroutines.push((
                    i,
                    GoroutineSnapshot {
                        source: s.source.clone(),
                        records,
                        leak_profile,
                    },
                ));
            }
            self.snapshots.push((
                s.time_us,
                s.source.clone(),
                s.hash,
                Snapshot {
                    source: s.source,
                    format: s.format,
                    kind: s.kind,
                    time_nanos: s.time_us.saturating_mul(1000),
                    sampling_rate_bytes: s.sampling_rate.map(|r| r as u64),
                },
            ));
        }
    }

    /// Snapshots in time order (then source, then hash), keys and value types in name order.
    pub fn finish(self) -> Result<Store, StoreError> {
        if self.snapshots.is_empty() {
            return Err(StoreError::Empty("no snapshots in the dataset".into()));
        }
        let mut order: Vec<usize> = (0..self.snapshots.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&self.snapshots[a], &self.snapshots[b]);
            (x.0, &x.1, &x.2).cmp(&(y.0, &y.1, &y.2))
        });
        let mut snap_id = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            snap_id[old] = new as u32;
        }
        let (keys, key_id) = super::build::by_name(self.keys, |k| &k.name);
        let (value_types, vt_id) = super::build::by_name(self.vts, |v| v);
        let (caller_names, caller_id) = super::build::by_name(self.caller_names, |n| n);
        let mut caller_rows: Vec<super::CallerRow> = self
            .callers
            .into_iter()
            .map(|r| super::CallerRow {
                snapshot: snap_id[r.snapshot as usize],
                caller: caller_id[r.caller as usize],
                key: key_id[r.key as usize],
                value_type: vt_id[r.value_type as usize],
                ..r
            })
            .collect();
        caller_rows.sort_unstable_by_key(|r| (r.snapshot, r.caller, r.key, r.value_type));
        let n = self.rows.len();
        let (mut c_s, mut c_k, mut c_t, mut c_v) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (s, k, t, v) in self.rows {
            c_s.push(snap_id[s as usize]);
            c_k.push(k.map(|k| key_id[k as usize]));
            c_t.push(vt_id[t as usize]);
            c_v.push(v);
        }
        let mut goroutines: Vec<(usize, GoroutineSnapshot)> = self
            .goroutines
            .into_iter()
            .map(|(i, g)| (snap_id[i as usize] as usize, g))
            .collect();
        goroutines.sort_by_key(|(i, _)| *i);
        let mut slots: Vec<Option<Snapshot>> =
            self.snapshots.into_iter().map(|x| Some(x.3)).collect();
        let snapshots: Vec<Snapshot> = order.iter().filter_map(|&o| slots[o].take()).collect();
        let err = polars_err("dataset");
        let table = DataFrame::new(
            n,
            vec![
                Column::new("snapshot".into(), c_s),
                Column::new("key".into(), c_k),
                Column::new("value_type".into(), c_t),
                Column::new("value".into(), c_v),
            ],
        )
        .map_err(&err)?;
        Ok(Store {
            snapshots,
            keys,
            value_types,
            failures: Vec::new(),
            skipped: Vec::new(),
            table,
            goroutines,
            heap_ends: None,
            graphs: Vec::new(),
            warnings: Vec::new(),
            callers: super::CallerTable {
                names: caller_names,
                rows: caller_rows,
            },
        })
    }
}

fn list_column<'a>(
    name: &str,
    lists: impl ExactSizeIterator<Item = Option<Vec<&'a str>>>,
) -> Column {
    let mut b = ListStringChunkedBuilder::new(name.into(), lists.len(), lists.len() * 4);
    for l in lists {
        match l {
            Some(v) => b.append_values_iter(v.into_iter()),
            None => b.append_null(),
        }
    }
    b.finish().into_series().into()
}

/// The rows of some snapshots as one DataFrame (one row group's worth).
fn frame_of(service: &str, snaps: &[&DatasetSnapshot]) -> Result<DataFrame, StoreError> {
    let err = polars_err(service);
    let n: usize = snaps.iter().map(|s| s.rows.len()).sum();
    let mut time = Vec::with_capacity(n);
    let mut hash = Vec::with_capacity(n);
    let mut source = Vec::with_capacity(n);
    let mut format = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut rate = Vec::with_capacity(n);
    let mut vt = Vec::with_capacity(n);
    let mut unit = Vec::with_capacity(n);
    let mut key = Vec::with_capacity(n);
    let mut value = Vec::with_capacity(n);
    let mut state = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut wait = Vec::with_capacity(n);
    let mut leaked = Vec::with_capacity(n);
    let mut rows: Vec<&DatasetRow> = Vec::with_capacity(n);
    for s in snaps {
        for r in &s.rows {
            time.push(s.time_us);
            hash.push(s.hash.as_str());
            source.push(s.source.as_str());
            format.push(s.format.as_str());
            kind.push(s.kind.name());
            rate.push(s.sampling_rate);
            vt.push(&*r.value_type);
            unit.push(&*r.unit);
            key.push(r.key.as_deref());
            value.push(r.value);
            let g = r.goroutine.as_ref();
            state.push(g.map(|g| g.state.as_str()));
            created.push(g.and_then(|g| g.created_by.as_deref()));
            wait.push(g.and_then(|g| g.wait_minutes));
            leaked.push(g.map(|g| g.leaked));
            rows.push(r);
        }
    }
    let labels: Vec<Option<Vec<String>>> = rows
        .iter()
        .map(|r| {
            r.goroutine
                .as_ref()
                .map(|g| g.labels.iter().map(|(k, v)| format!("{k}={v}")).collect())
        })
        .collect();
    let time = Int64Chunked::from_vec("time".into(), time)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_series();
    let services = vec![service; n];
    DataFrame::new(
        n,
        vec![
            time.into(),
            Column::new("service".into(), services),
            Column::new("snapshot".into(), hash),
            Column::new("source".into(), source),
            Column::new("format".into(), format),
            Column::new("kind".into(), kind),
            Column::new("value_type".into(), vt),
            Column::new("unit".into(), unit),
            Column::new("key".into(), key),
            list_column(
                "frames",
                rows.iter()
                    .map(|r| Some(r.frames.iter().map(String::as_str).collect())),
            ),
            Column::new("value".into(), value),
            Column::new("sampling_rate".into(), rate),
            Column::new("state".into(), state),
            Column::new("created_by".into(), created),
            Column::new("wait_minutes".into(), wait),
            Column::new("leaked".into(), leaked),
            list_column(
                "labels",
                labels
                    .iter()
                    .map(|l| l.as_ref().map(|v| v.iter().map(String::as_str).collect())),
            ),
        ],
    )
    .map_err(&err)
}

/// Writes snapshots of one service as one part, in row groups of about `row_group` rows built
/// and flushed one at a time; returns what the part says of itself.
pub fn encode_part(
    service: &str,
    key_by: &str,
    snaps: &[&DatasetSnapshot],
    row_group: usize,
    out: &mut dyn Write,
) -> Result<PartMeta, StoreError> {
    let err = polars_err(service);
    let meta = PartMeta {
        schema: DATASET_SCHEMA.into(),
        version: DATASET_VERSION,
        service: service.into(),
        key_by: key_by.into(),
        time_min_us: snaps.iter().map(|s| s.time_us).min().unwrap_or(0),
        time_max_us: snaps.iter().map(|s| s.time_us).max().unwrap_or(0),
        snapshots: snaps.len(),
        rows: snaps.iter().map(|s| s.rows.len()).sum(),
    };
    let json = serde_json::to_string(&meta).unwrap_or_default();
    let mut kv = vec![(DATASET_META_KEY.to_string(), json)];
    if let Some(callers) = part_callers(snaps) {
        kv.push((DATASET_CALLERS_KEY.to_string(), callers));
    }
    let schema = frame_of(service, &[])?.schema().as_ref().clone();
    let mut buf: Vec<u8> = Vec::new();
    let mut writer = ParquetWriter::new(&mut buf)
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(kv)))
        .with_row_group_size(Some(row_group.max(1)))
        .batched(&schema)
        .map_err(&err)?;
    let mut start = 0;
    while start < snaps.len() {
        let mut end = start;
        let mut rows = 0;
        while end < snaps.len() && (end == start || rows + snaps[end].rows.len() <= row_group) {
            rows += snaps[end].rows.len();
            end += 1;
        }
        let df = frame_of(service, &snaps[start..end])?;
        writer.write_batch(&df).map_err(&err)?;
        start = end;
    }
    writer.finish().map_err(&err)?;
    drop(writer);
    strip_arrow_schema(&mut buf);
    out.write_all(&buf).map_err(|e| StoreError::Polars {
        source_name: service.to_string(),
        message: e.to_string(),
    })?;
    Ok(meta)
}

/// The caller rows of a part's snapshots, packed for its metadata; `None` when there are none.
fn part_callers(snaps: &[&DatasetSnapshot]) -> Option<String> {
    let mut saved = PartCallers {
        hashes: Vec::new(),
        names: Vec::new(),
        value_types: Vec::new(),
        rows: Vec::new(),
    };
    let mut names: FxHashMap<&str, u32> = FxHashMap::default();
    let mut vts: FxHashMap<&str, u32> = FxHashMap::default();
    fn id<'a>(map: &mut FxHashMap<&'a str, u32>, list: &mut Vec<String>, s: &'a str) -> u32 {
        *map.entry(s).or_insert_with(|| {
            list.push(s.to_string());
            list.len() as u32 - 1
        })
    }
    for s in snaps.iter().filter(|s| !s.callers.is_empty()) {
        let h = saved.hashes.len() as u32;
        saved.hashes.push(s.hash.clone());
        for c in &s.callers {
            let caller = id(&mut names, &mut saved.names, &c.caller);
            let key = id(&mut names, &mut saved.names, &c.key);
            let vt = id(&mut vts, &mut saved.value_types, &c.value_type);
            saved.rows.push((h, caller, key, vt, c.depth, c.value));
        }
    }
    if saved.rows.is_empty() {
        return None;
    }
    super::parquet::pack_json(&saved)
}

/// Gives the decoded snapshots the caller rows of their part (rows naming a snapshot, name or
/// value type the part does not have are dropped).
fn attach_callers(out: &mut [DatasetSnapshot], at: &FxHashMap<String, usize>, saved: PartCallers) {
    let names: Vec<Arc<str>> = saved.names.iter().map(|n| n.as_str().into()).collect();
    let vts: Vec<Arc<str>> = saved
        .value_types
        .iter()
        .map(|v| v.as_str().into())
        .collect();
    for (h, caller, key, vt, depth, value) in saved.rows {
        let Some(&slot) = saved.hashes.get(h as usize).and_then(|h| at.get(h)) else {
            continue;
        };
        let (Some(caller), Some(key), Some(value_type)) = (
            names.get(caller as usize),
            names.get(key as usize),
            vts.get(vt as usize),
        ) else {
            continue;
        };
        out[slot].callers.push(DatasetCaller {
            caller: Arc::clone(caller),
            key: Arc::clone(key),
            value_type: Arc::clone(value_type),
            depth,
            value,
        });
    }
}

/// A thrift compact varint at `at`: its value and where it ends.
fn varint(b: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(at)?;
        at += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            return Some((v, at));
        }
    }
    None
}

/// A thrift compact list (or set) header at `at`: element count, element type, where the
/// elements start.
fn list_header(b: &[u8], at: usize) -> Option<(u64, u8, usize)> {
    let h = *b.get(at)?;
    let (n, next) = if h >> 4 == 15 {
        varint(b, at + 1)?
    } else {
        (u64::from(h >> 4), at + 1)
    };
    Some((n, h & 15, next))
}

/// Thrift compact protocol, as much as a Parquet footer needs: the end of the value of type
/// `t` that starts at `at`.
fn thrift_skip(b: &[u8], at: usize, t: u8, depth: u32) -> Option<usize> {
    if depth > 64 {
        return None;
    }
    match t {
        1 | 2 => Some(at),
        3 => (at < b.len()).then_some(at + 1),
        4..=6 => varint(b, at).map(|x| x.1),
        7 => (at + 8 <= b.len()).then_some(at + 8),
        8 => {
            let (n, at) = varint(b, at)?;
            let end = at.checked_add(usize::try_from(n).ok()?)?;
            (end <= b.len()).then_some(end)
        }
        9 | 10 => {
            let (n, et, mut at) = list_header(b, at)?;
            for _ in 0..n {
                at = if et == 1 || et == 2 {
                    (at < b.len()).then_some(at + 1)?
                } else {
                    thrift_skip(b, at, et, depth + 1)?
                };
            }
            Some(at)
        }
        11 => {
            let (n, mut at) = varint(b, at)?;
            if n == 0 {
                return Some(at);
            }
            let kv = *b.get(at)?;
            at += 1;
            for _ in 0..n {
                at = thrift_skip(b, at, kv >> 4, depth + 1)?;
                at = thrift_skip(b, at, kv & 15, depth + 1)?;
            }
            Some(at)
        }
        12 => {
            let mut at = at;
            loop {
                let h = *b.get(at)?;
                at += 1;
                if h == 0 {
                    return Some(at);
                }
                if h >> 4 == 0 {
                    at = varint(b, at)?.1;
                }
                at = thrift_skip(b, at, h & 15, depth + 1)?;
            }
        }
        _ => None,
    }
}

/// Takes the `ARROW:schema` entry out of a written Parquet file's key-value metadata. polars
/// writes its own Arrow schema there, with view types (`string_view`, `large_list<string_view>`)
/// that older readers do not know and pandas cannot convert; without it every reader maps the
/// Parquet types (STRING, LIST, TIMESTAMP) to its own. `None` (the file unchanged) when the
/// footer is not as expected.
fn strip_arrow_schema(file: &mut Vec<u8>) -> Option<()> {
    let n = file.len();
    if n < 12 || &file[n - 4..] != b"PAR1" {
        return None;
    }
    let len = u32::from_le_bytes(file[n - 8..n - 4].try_into().ok()?) as usize;
    let start = n.checked_sub(8 + len)?;
    let meta = &file[start..n - 8];
    // FileMetaData's fields; field 5 is key_value_metadata: list<KeyValue>.
    let (mut at, mut id) = (0usize, 0i64);
    let mut range = None;
    loop {
        let h = *meta.get(at)?;
        at += 1;
        if h == 0 {
            break;
        }
        if h >> 4 == 0 {
            return None; // long-form field ids: not what a Parquet writer emits here
        }
        id += i64::from(h >> 4);
        let end = thrift_skip(meta, at, h & 15, 0)?;
        if id == 5 && h & 15 == 9 {
            range = Some((at, end));
        }
        at = end;
    }
    let (a, b) = range?;
    // The list's elements, each a KeyValue struct: field 1 key (binary), field 2 value.
    let (count, _, mut e) = list_header(meta, a)?;
    let mut kept: Vec<&[u8]> = Vec::new();
    for _ in 0..count {
        let end = thrift_skip(meta, e, 12, 0)?;
        let element = &meta[e..end];
        // key: header 0x18 (field 1, binary), then the length and bytes.
        let is_arrow = element.first() == Some(&0x18)
            && element.get(1) == Some(&12)
            && element.get(2..14) == Some(b"ARROW:schema".as_slice());
        if !is_arrow {
            kept.push(element);
        }
        e = end;
    }
    if kept.len() as u64 == count {
        return Some(());
    }
    let mut list = Vec::new();
    if kept.len() < 15 {
        list.push(((kept.len() as u8) << 4) | 12);
    } else {
        list.push(0xf0 | 12);
        let mut v = kept.len() as u64;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                list.push(byte);
                break;
            }
            list.push(byte | 0x80);
        }
    }
    for k in kept {
        list.extend_from_slice(k);
    }
    let mut new_meta = Vec::with_capacity(meta.len());
    new_meta.extend_from_slice(&meta[..a]);
    new_meta.extend_from_slice(&list);
    new_meta.extend_from_slice(&meta[b..]);
    file.truncate(start);
    file.extend_from_slice(&new_meta);
    file.extend_from_slice(&(new_meta.len() as u32).to_le_bytes());
    file.extend_from_slice(b"PAR1");
    Some(())
}

/// A part's own description, from its footer only; `Ok(None)` for a Parquet file that is no
/// leakdiff dataset part.
pub fn part_meta(file: std::fs::File, name: &str) -> Result<Option<PartMeta>, StoreError> {
    let err = polars_err(name);
    let mut reader = ParquetReader::new(file);
    let json = reader
        .get_metadata()
        .map_err(&err)?
        .key_value_metadata()
        .as_ref()
        .and_then(|kv| kv.iter().find(|k| k.key == DATASET_META_KEY))
        .and_then(|k| k.value.clone());
    let Some(json) = json else {
        return Ok(None);
    };
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| StoreError::Polars {
            source_name: name.to_string(),
            message: format!("{DATASET_META_KEY}: {e}"),
        })
}

/// The snapshot hashes in a part (reads that one column).
pub fn part_hashes(file: std::fs::File, name: &str) -> Result<Vec<String>, StoreError> {
    let err = polars_err(name);
    let df = ParquetReader::new(file)
        .with_columns(Some(vec!["snapshot".into()]))
        .finish()
        .map_err(&err)?;
    let col = df
        .column("snapshot")
        .and_then(|c| c.str().cloned())
        .map_err(&err)?;
    let mut out: Vec<String> = col.iter().flatten().map(str::to_string).collect();
    out.dedup();
    Ok(out)
}

/// Reads a part's snapshots whose time is within `[since, until]` (µs, inclusive; `None`: open).
pub fn decode_part(
    file: std::fs::File,
    name: &str,
    since_us: Option<i64>,
    until_us: Option<i64>,
) -> Result<Vec<DatasetSnapshot>, StoreError> {
    let err = polars_err(name);
    let mut reader = ParquetReader::new(file);
    let packed_callers = reader
        .get_metadata()
        .map_err(&err)?
        .key_value_metadata()
        .as_ref()
        .and_then(|kv| kv.iter().find(|k| k.key == DATASET_CALLERS_KEY))
        .and_then(|k| k.value.clone());
    let df = reader.finish().map_err(&err)?;
    let bad = |m: String| StoreError::Polars {
        source_name: name.to_string(),
        message: format!("not a {DATASET_SCHEMA} part: {m}"),
    };
    let col = |c: &str| df.column(c).map_err(|e| bad(e.to_string()));
    let i64_of = |c: &str| {
        col(c).and_then(|c| {
            c.cast(&DataType::Int64)
                .and_then(|c| c.i64().cloned())
                .map_err(|e| bad(e.to_string()))
        })
    };
    let str_of = |c: &str| {
        col(c).and_then(|c| {
            c.cast(&DataType::String)
                .and_then(|c| c.str().cloned())
                .map_err(|e| bad(e.to_string()))
        })
    };
    let list_of = |c: &str| -> Result<ListChunked, StoreError> {
        Ok(col(c)?.list().map_err(|e| bad(e.to_string()))?.clone())
    };
    // One row's list, materialized only when it is kept.
    let list_at = |l: &ListChunked, i: usize| -> Result<Option<Vec<String>>, StoreError> {
        l.get_as_series(i)
            .map(|s| {
                s.str()
                    .map(|v| v.iter().map(|x| x.unwrap_or("").to_string()).collect())
                    .map_err(|e| bad(e.to_string()))
            })
            .transpose()
    };
    let time = i64_of("time")?;
    let hash = str_of("snapshot")?;
    let source = str_of("source")?;
    let format = str_of("format")?;
    let kind = str_of("kind")?;
    let vt = str_of("value_type")?;
    let unit = str_of("unit")?;
    let key = str_of("key")?;
    let frames = list_of("frames")?;
    let value = i64_of("value")?;
    let rate = i64_of("sampling_rate")?;
    let state = str_of("state")?;
    let created = str_of("created_by")?;
    let wait = i64_of("wait_minutes")?;
    let leaked = col("leaked")?
        .bool()
        .map_err(|e| bad(e.to_string()))?
        .clone();
    let labels = list_of("labels")?;
    let mut out: Vec<DatasetSnapshot> = Vec::new();
    let mut at: FxHashMap<String, usize> = FxHashMap::default();
    // A heap or process key's frames are one stack of the key: kept from its first row only,
    // so a month of snapshots does not hold a copy per row.
    let mut framed: rustc_hash::FxHashSet<String> = Default::default();
    let mut shared = Shared::default();
    let none: Arc<[String]> = Arc::new([]);
    for i in 0..df.height() {
        let t = time
            .get(i)
            .ok_or_else(|| bad(format!("row {i}: no time")))?;
        if since_us.is_some_and(|s| t < s) || until_us.is_some_and(|u| t > u) {
            continue;
        }
        let h = hash
            .get(i)
            .ok_or_else(|| bad(format!("row {i}: no snapshot")))?;
        let slot = match at.get(h) {
            Some(&j) => j,
            None => {
                let k = kind
                    .get(i)
                    .and_then(Kind::parse)
                    .ok_or_else(|| bad(format!("row {i}: kind {:?}", kind.get(i))))?;
                out.push(DatasetSnapshot {
                    time_us: t,
                    hash: h.to_string(),
                    source: source.get(i).unwrap_or("").to_string(),
                    format: format.get(i).unwrap_or("").to_string(),
                    kind: k,
                    sampling_rate: rate.get(i),
                    rows: Vec::new(),
                    callers: Vec::new(),
                });
                at.insert(h.to_string(), out.len() - 1);
                out.len() - 1
            }
        };
        let goroutine = state.get(i).map(|st| {
            Box::new(GoroutineCols {
                state: st.to_string(),
                created_by: created.get(i).map(str::to_string),
                wait_minutes: wait.get(i),
                leaked: leaked.get(i).unwrap_or(false),
                labels: list_at(&labels, i)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (kv, String::new()),
                    })
                    .collect(),
            })
        });
        let k = key.get(i);
        let keep_frames = goroutine.is_some() || k.is_some_and(|k| framed.insert(k.to_string()));
        out[slot].rows.push(DatasetRow {
            value_type: shared.get(vt.get(i).unwrap_or("")),
            unit: shared.get(unit.get(i).unwrap_or("")),
            key: k.map(|k| shared.get(k)),
            frames: if keep_frames {
                list_at(&frames, i)?.unwrap_or_default().into()
            } else {
                Arc::clone(&none)
            },
            value: value
                .get(i)
                .ok_or_else(|| bad(format!("row {i}: no value")))?,
            goroutine,
        });
    }
    if let Some(packed) = packed_callers {
        let saved: PartCallers = super::parquet::unpack_json(&packed, DATASET_CALLERS_KEY)
            .map_err(|e| bad(format!("{DATASET_CALLERS_KEY}: {e}")))?;
        attach_callers(&mut out, &at, saved);
    }
    Ok(out)
}
