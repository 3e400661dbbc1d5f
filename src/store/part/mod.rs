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

mod decode;
mod encode;
mod footer;
mod view;

pub use decode::*;
pub use encode::*;
use footer::*;
pub use view::*;

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
