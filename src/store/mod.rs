//! The columnar store of many snapshots (polars): one long table with a row per (snapshot, key,
//! value type), where a row with no key holds that snapshot's total, plus side tables of snapshots
//! and keys, and what the reports need besides the series: the first and last heap snapshot's
//! whole profiles, every goroutine snapshot's records and the latest heap dump's graph summary.
//! Built by [`StoreBuilder`] from profiles the caller loads, or read back from Parquet
//! ([`Store::read_parquet`]); [`Store::evidence`] hands the analysis everything it needs as plain
//! structs, in one go.
//!
//! May import: `model`, `formats` (pprof encoding of the kept profiles), `goroutines` (naming a
//! goroutine group, its records), `graph` (the summary type), `units`. No file I/O, no printing:
//! Parquet goes through `Write` and bytes. Polars lives here and in nothing on the two-snapshot
//! diff path.

mod build;
mod evidence;
mod parquet;
mod part;

use polars_core::prelude::*;
use serde::Serialize;

pub use crate::formats::allocators::pseudo_frame;
pub use crate::model::Kind;
pub use build::{FrameRules, Order, SnapshotIn, StoreBuilder};
pub use evidence::{
    thin, CallerSeries, Evidence, HeapEvidence, Metric, ProcessEvidence, Series, DEFAULT_MAX_POINTS,
};
pub use part::{
    content_id, decode_part, encode_part, part_hashes, part_meta, DatasetRow, DatasetSnapshot,
    DatasetStoreBuilder, DatasetView, GoroutineCols, PartMeta, DATASET_META_KEY, DATASET_SCHEMA,
    DATASET_VERSION,
};

use crate::goroutines::GoroutineSnapshot;
use crate::graph::GraphSummary;
use crate::model::{Interner, Profile};

/// How samples are keyed into rows.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum KeyBy {
    /// The leaf function (flat), as pprof's `top`.
    #[default]
    Function,
    /// The allocation site: the leaf function with its file:line.
    Site,
    /// The whole stack, root → leaf.
    Stack,
}

/// One snapshot of the store.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// Path as given.
    pub source: String,
    /// Input format name.
    pub format: String,
    /// Heap or goroutines.
    pub kind: Kind,
    /// Time used for trends (nanoseconds since the epoch): the profile's own time, else the file's
    /// mtime (or the mtime under `--order mtime`).
    pub time_nanos: i64,
    /// Sampling rate in bytes, when the input states one.
    pub sampling_rate_bytes: Option<u64>,
    /// Garbage collections completed when it was written, when the input says (a Go debug=1
    /// heap profile's `# NumGC`); not kept in Parquet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gc_count: Option<u64>,
}

/// One key (function, site or stack) of the store.
#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    /// The key as shown.
    pub name: String,
    /// Function names of one stack that has this key, leaf first (at most 32).
    pub frames: Vec<String>,
}

/// A parse failure that was skipped.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The file.
    pub source: String,
    /// The error line.
    pub message: String,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// polars failed (a column of the wrong type in a Parquet store, an I/O error).
    #[error("{source_name}: store: {message}")]
    Polars {
        /// The file.
        source_name: String,
        /// What polars said.
        message: String,
    },
    /// Nothing usable.
    #[error("{0}")]
    Empty(String),
    /// The value type asked for is not in every heap snapshot.
    #[error("value type {asked:?} is not in every heap snapshot; these are: {available}")]
    NoValueType {
        /// Asked for.
        asked: String,
        /// Available, comma-separated.
        available: String,
    },
    /// No in-use column is in every heap snapshot (only `alloc_*` counters, or nothing shared).
    #[error(
        "the heap snapshots share no in-use value type (shared: [{shared}]; {forms}): an alloc_* column counts every allocation since start and only grows, so it is trended only when asked with --sample-index alloc_space (allocation rate, not memory held)"
    )]
    NoInUseType {
        /// The columns every snapshot has, comma-separated.
        shared: String,
        /// The first snapshots' columns, `source: [types]`.
        forms: String,
    },
}

/// The first and last heap snapshots kept whole, in one interner: what the HTML report's
/// flamegraphs and `export --format pprof` draw from, with no input read again.
#[derive(Clone, Debug)]
pub struct HeapEnds {
    /// Strings and stacks of both.
    pub interner: Interner,
    /// Index of the first heap snapshot in [`Store::snapshots`].
    pub first_index: usize,
    /// The first heap snapshot.
    pub first: Profile,
    /// Index of the last one (the same as the first when there is one).
    pub last_index: usize,
    /// The last heap snapshot.
    pub last: Profile,
}

impl HeapEnds {
    /// Both snapshots moved into the first one's interner.
    pub fn join(
        (first_index, mut interner, first): (usize, Interner, Profile),
        (last_index, other, mut last): (usize, Interner, Profile),
    ) -> HeapEnds {
        let remap = interner.absorb(&other);
        last.remap(&remap);
        HeapEnds {
            interner,
            first_index,
            first,
            last_index,
            last,
        }
    }
}

/// Many snapshots in one long table.
pub struct Store {
    /// Snapshots, in analysis order (index = `snapshot` column).
    pub snapshots: Vec<Snapshot>,
    /// Keys (index = `key` column).
    pub keys: Vec<KeyInfo>,
    /// Value type names `kind/unit` (index = `value_type` column).
    pub value_types: Vec<String>,
    /// Files that failed to parse, skipped.
    pub failures: Vec<Failure>,
    /// Files that parsed but hold neither heap nor goroutine data (CPU profiles, …), skipped.
    pub skipped: Vec<Failure>,
    /// Columns: `snapshot` u32, `key` u32 (null: the snapshot's total), `value_type` u32,
    /// `value` i64.
    pub table: DataFrame,
    /// The records of every goroutine snapshot (index into `snapshots`), in order.
    pub goroutines: Vec<(usize, GoroutineSnapshot)>,
    /// The first and last heap snapshots, whole.
    pub heap_ends: Option<HeapEnds>,
    /// Every Go heap dump's object graph, summarized (index into `snapshots`), in order.
    pub graphs: Vec<(usize, GraphSummary)>,
    /// The parsers' warnings (counted skips), one per input and kind of problem.
    pub warnings: Vec<Failure>,
    /// What each heap key's callers hold (see [`CallerTable`]).
    pub callers: CallerTable,
}

/// The functions above each heap key's frame, with what they hold through it: for every stack,
/// each distinct function above the key's frame (at most [`CALLER_DEPTH`] frames up) gets the
/// stack's values under (caller, key). Summed over a caller's keys this is its cumulative value
/// (pprof's `cum`) split by leaf, so growth spread over many small leaves can be traced to the
/// frame that owns it. Kept for heap snapshots keyed by function; empty otherwise (and in a store
/// read back from Parquet or a dataset).
#[derive(Clone, Debug, Default)]
pub struct CallerTable {
    /// Caller function names (index = [`CallerRow::caller`]), in name order.
    pub names: Vec<String>,
    /// Rows, by snapshot.
    pub rows: Vec<CallerRow>,
}

/// How many frames above a key's frame are callers.
pub const CALLER_DEPTH: usize = 64;

/// One row of the [`CallerTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallerRow {
    /// Snapshot index.
    pub snapshot: u32,
    /// Caller (index into [`CallerTable::names`]).
    pub caller: u32,
    /// Key (index into [`Store::keys`]).
    pub key: u32,
    /// Value type.
    pub value_type: u32,
    /// The fewest frames between the key's frame and the caller in this snapshot (1: its
    /// direct caller).
    pub depth: u16,
    /// The value held under the caller through this key.
    pub value: i64,
}

/// One row of the long table: snapshot, key (`None`: the snapshot's total), value type, value.
pub type LongRow = (u32, Option<u32>, u32, i64);

/// The long table with names in a stable order (see [`Store::long_table`]).
#[derive(Clone, Debug)]
pub struct LongTable {
    /// Keys, by name.
    pub keys: Vec<KeyInfo>,
    /// Value types, by name.
    pub value_types: Vec<String>,
    /// Rows whose ids point into the two lists above.
    pub rows: Vec<LongRow>,
}

/// Dense series of one key: one value per snapshot of a kind, zeros where the key is absent.
#[derive(Clone, Debug)]
pub struct KeySeries {
    /// Key index.
    pub key: u32,
    /// Values, one per snapshot of the kind, in order.
    pub values: Vec<f64>,
}

fn polars_err(source: &str) -> impl Fn(PolarsError) -> StoreError + '_ {
    move |e| StoreError::Polars {
        source_name: source.to_string(),
        message: e.to_string(),
    }
}

impl Store {
    /// Indices of the snapshots of a kind, in order.
    pub fn snapshots_of(&self, kind: Kind) -> Vec<usize> {
        (0..self.snapshots.len())
            .filter(|&i| self.snapshots[i].kind == kind)
            .collect()
    }

    /// Index of a value type by name (`inuse_space` or `inuse_space/bytes`).
    pub fn value_type_index(&self, name: &str) -> Option<usize> {
        self.value_types
            .iter()
            .position(|v| v == name || v.split('/').next() == Some(name))
    }

    /// Total rows: (snapshot, value type, total).
    fn total_rows(&self) -> Result<Vec<(usize, usize, i64)>, StoreError> {
        let err = polars_err("store");
        let mask = self.table.column("key").map_err(&err)?.is_null();
        let df = self.table.filter(&mask).map_err(&err)?;
        let get = |name: &str| {
            df.column(name)
                .and_then(|c| c.cast(&DataType::Int64))
                .and_then(|c| c.i64().cloned())
                .map_err(polars_err("store"))
        };
        let (s, t, v) = (get("snapshot")?, get("value_type")?, get("value")?);
        Ok(s.iter()
            .zip(t.iter())
            .zip(v.iter())
            .filter_map(|((s, t), v)| Some((s? as usize, t? as usize, v?)))
            .collect())
    }

    /// The value types present in every snapshot of a kind.
    pub fn value_types_of(&self, kind: Kind) -> Vec<usize> {
        let snaps = self.snapshots_of(kind);
        if snaps.is_empty() {
            return Vec::new();
        }
        let mut seen = vec![std::collections::HashSet::new(); self.value_types.len()];
        for (s, t, _) in self.total_rows().unwrap_or_default() {
            if self.snapshots.get(s).is_some_and(|x| x.kind == kind) {
                if let Some(set) = seen.get_mut(t) {
                    set.insert(s);
                }
            }
        }
        (0..self.value_types.len())
            .filter(|&t| seen[t].len() == snaps.len())
            .collect()
    }

    /// Totals of a value type for the given snapshots, in that order (0 where missing).
    pub fn totals(&self, value_type: usize, snapshots: &[usize]) -> Result<Vec<f64>, StoreError> {
        let mut by_snapshot = vec![0.0; self.snapshots.len()];
        for (s, t, v) in self.total_rows()? {
            if t == value_type {
                if let Some(slot) = by_snapshot.get_mut(s) {
                    *slot = v as f64;
                }
            }
        }
        Ok(snapshots.iter().map(|&i| by_snapshot[i]).collect())
    }

    /// Dense series of every key of a value type over the given snapshots (in that order), sorted by
    /// key. Keys that are zero in every one of these snapshots are left out.
    pub fn series(
        &self,
        value_type: usize,
        snapshots: &[usize],
    ) -> Result<Vec<KeySeries>, StoreError> {
        let mut position = vec![usize::MAX; self.snapshots.len()];
        for (p, &s) in snapshots.iter().enumerate() {
            position[s] = p;
        }
        let err = polars_err("store");
        let vt = self
            .table
            .column("value_type")
            .and_then(|c| c.u32().cloned())
            .map_err(&err)?;
        let key_col = self.table.column("key").map_err(&err)?;
        let mask = &key_col.is_not_null() & &vt.equal(value_type as u32);
        let df = self.table.filter(&mask).map_err(&err)?;
        let column = |name: &str| df.column(name).map_err(&err);
        let key = column("key")?.u32().cloned().map_err(&err)?;
        let snap = column("snapshot")?.u32().cloned().map_err(&err)?;
        let value = column("value")?.i64().cloned().map_err(&err)?;
        // By key, then snapshot: each key's points together.
        let mut rows: Vec<(u32, u32, i64)> = key
            .iter()
            .zip(snap.iter())
            .zip(value.iter())
            .filter_map(|((k, s), v)| Some((k?, s?, v?)))
            .collect();
        rows.sort_unstable_by_key(|&(k, s, _)| (k, s));
        let mut out: Vec<KeySeries> = Vec::new();
        for (k, s, v) in rows {
            let Some(&p) = position.get(s as usize) else {
                continue;
            };
            if p == usize::MAX || v == 0 {
                continue;
            }
            if out.last().is_none_or(|l| l.key != k) {
                out.push(KeySeries {
                    key: k,
                    values: vec![0.0; snapshots.len()],
                });
            }
            if let Some(last) = out.last_mut() {
                last.values[p] += v as f64;
            }
        }
        Ok(out)
    }

    /// Writes the store as Parquet (see [`parquet`] for the columns); `name` names it in errors.
    pub fn write_parquet(
        &self,
        out: &mut dyn std::io::Write,
        name: &str,
    ) -> Result<(), StoreError> {
        parquet::write(self, out, name)
    }

    /// Reads a store written by [`Store::write_parquet`] from its bytes.
    pub fn read_parquet(bytes: Vec<u8>, name: &str) -> Result<Store, StoreError> {
        parquet::read(bytes, name)
    }

    /// The store as it was after its first `n` snapshots (in analysis order): for measuring how
    /// many snapshots a finding needs.
    pub fn prefix(&self, n: usize) -> Result<Store, StoreError> {
        let n = n.min(self.snapshots.len());
        let err = polars_err("store");
        let mask = self
            .table
            .column("snapshot")
            .and_then(|c| c.u32().cloned())
            .map_err(&err)?
            .lt(n as u32);
        let table = self.table.filter(&mask).map_err(&err)?;
        // The kept heap profiles are of the whole series; a prefix keeps none.
        Ok(Store {
            snapshots: self.snapshots[..n].to_vec(),
            keys: self.keys.clone(),
            value_types: self.value_types.clone(),
            failures: self.failures.clone(),
            skipped: self.skipped.clone(),
            table,
            goroutines: self
                .goroutines
                .iter()
                .filter(|(i, _)| *i < n)
                .cloned()
                .collect(),
            heap_ends: None,
            warnings: self.warnings.clone(),
            callers: CallerTable {
                names: self.callers.names.clone(),
                rows: self
                    .callers
                    .rows
                    .iter()
                    .filter(|r| (r.snapshot as usize) < n)
                    .copied()
                    .collect(),
            },
            graphs: self
                .graphs
                .iter()
                .filter(|(i, _)| *i < n)
                .cloned()
                .collect(),
        })
    }

    /// The long table with its value types and keys in name order (their ids depend on which
    /// worker met them first; names do not), rows sorted by snapshot, value type, total first,
    /// then key: the same for every run over the same files.
    pub fn long_table(&self) -> Result<LongTable, StoreError> {
        // A store loaded here is in name order already; one opened from an older Parquet file
        // may not be.
        let (keys, key_id) = build::by_name(self.keys.clone(), |k| &k.name);
        let (value_types, vt_id) = build::by_name(self.value_types.clone(), |v| v);
        let mut rows = self.long_rows()?;
        for r in &mut rows {
            r.1 = r.1.and_then(|k| key_id.get(k as usize).copied());
            r.2 = vt_id.get(r.2 as usize).copied().unwrap_or(r.2);
        }
        rows.sort_unstable_by_key(|r| (r.0, r.2, r.1));
        Ok(LongTable {
            keys,
            value_types,
            rows,
        })
    }

    /// Every row of the long table as (snapshot, key or `None` for the total, value type, value),
    /// sorted by snapshot, then key id, then value type.
    fn long_rows(&self) -> Result<Vec<LongRow>, StoreError> {
        let df = &self.table;
        let get = |name: &str| {
            df.column(name)
                .and_then(|c| c.cast(&DataType::Int64))
                .and_then(|c| c.i64().cloned())
                .map_err(polars_err("store"))
        };
        let (s, k, t, v) = (
            get("snapshot")?,
            get("key")?,
            get("value_type")?,
            get("value")?,
        );
        let mut out: Vec<LongRow> = s
            .iter()
            .zip(k.iter())
            .zip(t.iter())
            .zip(v.iter())
            .filter_map(|(((s, k), t), v)| Some((s? as u32, k.map(|k| k as u32), t? as u32, v?)))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// The goroutine snapshots (one form per moment) with their times in seconds since the
    /// first: what the goroutine detector reads.
    pub fn goroutine_series(&self) -> Vec<(&GoroutineSnapshot, f64)> {
        let t0 = self
            .goroutines
            .first()
            .map_or(0, |(i, _)| self.snapshots[*i].time_nanos);
        self.goroutines
            .iter()
            .map(|(i, g)| (g, (self.snapshots[*i].time_nanos - t0) as f64 / 1e9))
            .collect()
    }

    /// Number of rows in the long table.
    pub fn rows(&self) -> usize {
        self.table.height()
    }
}
