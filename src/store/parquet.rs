//! The store as one Parquet file: the long table with its names joined in.
//!
//! Columns (schema `leakdiff.store/v1`, one row per snapshot × key × value type):
//! - `snapshot` u32, `key` u32 (null on a snapshot's total rows), `value_type` str (`kind/unit`),
//!   `value` i64;
//! - on total rows only (null elsewhere): `time_ns` i64, `source` str, `format` str, `kind` str
//!   (`heap`/`goroutine`), `sampling_rate_bytes` i64;
//! - on the first row of each key only: `key_name` str and `frames` str (function names, leaf
//!   first, one per line).

use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use rustc_hash::FxHashMap;

use super::{polars_err, KeyInfo, Kind, Snapshot, Store, StoreError};

/// Name of this layout (README, "The store"); quoted in the error for a file that does not fit it.
pub const SCHEMA: &str = "leakdiff.store/v1";

pub(super) fn save(store: &Store, path: &Path) -> Result<(), StoreError> {
    let src = path.display().to_string();
    let err = polars_err(&src);
    let t = &store.table;
    let snapshot = t
        .column("snapshot")
        .and_then(|c| c.u32().cloned())
        .map_err(&err)?;
    let key = t
        .column("key")
        .and_then(|c| c.u32().cloned())
        .map_err(&err)?;
    let vt = t
        .column("value_type")
        .and_then(|c| c.u32().cloned())
        .map_err(&err)?;
    let value = t
        .column("value")
        .and_then(|c| c.i64().cloned())
        .map_err(&err)?;
    let n = t.height();
    let mut time_ns: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut source: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut format: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut kind: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut rate: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut key_name: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut frames: Vec<Option<String>> = Vec::with_capacity(n);
    let mut vt_name: Vec<&str> = Vec::with_capacity(n);
    let mut key_done = vec![false; store.keys.len()];
    for i in 0..n {
        let s = snapshot.get(i).unwrap_or(0) as usize;
        let k = key.get(i);
        vt_name.push(
            store
                .value_types
                .get(vt.get(i).unwrap_or(0) as usize)
                .map(String::as_str)
                .unwrap_or(""),
        );
        match k {
            None => {
                let snap = &store.snapshots[s];
                time_ns.push(Some(snap.time_nanos));
                source.push(Some(&snap.source));
                format.push(Some(&snap.format));
                kind.push(Some(snap.kind.name()));
                rate.push(snap.sampling_rate_bytes.map(|r| r as i64));
                key_name.push(None);
                frames.push(None);
            }
            Some(k) => {
                time_ns.push(None);
                source.push(None);
                format.push(None);
                kind.push(None);
                rate.push(None);
                let k = k as usize;
                if !key_done[k] {
                    key_done[k] = true;
                    key_name.push(Some(&store.keys[k].name));
                    frames.push(Some(store.keys[k].frames.join("\n")));
                } else {
                    key_name.push(None);
                    frames.push(None);
                }
            }
        }
    }
    let mut df = DataFrame::new(
        n,
        vec![
            Column::new("snapshot".into(), snapshot.into_series()),
            Column::new("key".into(), key.into_series()),
            Column::new("value_type".into(), vt_name),
            Column::new("value".into(), value.into_series()),
            Column::new("time_ns".into(), time_ns),
            Column::new("source".into(), source),
            Column::new("format".into(), format),
            Column::new("kind".into(), kind),
            Column::new("sampling_rate_bytes".into(), rate),
            Column::new("key_name".into(), key_name),
            Column::new("frames".into(), frames),
        ],
    )
    .map_err(&err)?;
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| StoreError::Polars {
        source_name: src.clone(),
        message: format!("cannot write: {e}"),
    })?;
    ParquetWriter::new(file).finish(&mut df).map_err(&err)?;
    std::fs::rename(&tmp, path).map_err(|e| StoreError::Polars {
        source_name: src.clone(),
        message: format!("cannot rename into place: {e}"),
    })?;
    Ok(())
}

pub(super) fn open(path: &Path) -> Result<Store, StoreError> {
    let src = path.display().to_string();
    let err = polars_err(&src);
    let file = File::open(path).map_err(|e| StoreError::Polars {
        source_name: src.clone(),
        message: format!("cannot read: {e}"),
    })?;
    let df = ParquetReader::new(file).finish().map_err(&err)?;
    let u32_col = |name: &str| {
        df.column(name)
            .and_then(|c| c.cast(&DataType::UInt32))
            .and_then(|c| c.u32().cloned())
            .map_err(&err)
    };
    let i64_col = |name: &str| {
        df.column(name)
            .and_then(|c| c.cast(&DataType::Int64))
            .and_then(|c| c.i64().cloned())
            .map_err(&err)
    };
    let str_col = |name: &str| {
        df.column(name)
            .and_then(|c| c.cast(&DataType::String))
            .and_then(|c| c.str().cloned())
            .map_err(&err)
    };
    let snapshot = u32_col("snapshot")?;
    let key = u32_col("key")?;
    let value = i64_col("value")?;
    let vt = str_col("value_type")?;
    let time_ns = i64_col("time_ns")?;
    let source = str_col("source")?;
    let format = str_col("format")?;
    let kind = str_col("kind")?;
    let rate = i64_col("sampling_rate_bytes")?;
    let key_name = str_col("key_name")?;
    let frames = str_col("frames")?;
    let bad = |what: String| StoreError::Polars {
        source_name: src.clone(),
        message: format!("not a leakdiff store ({SCHEMA}): {what}"),
    };
    let mut snapshots: Vec<Option<Snapshot>> = Vec::new();
    let mut keys: Vec<Option<KeyInfo>> = Vec::new();
    let mut vt_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut vt_names: Vec<String> = Vec::new();
    let n = df.height();
    let mut out_s = Vec::with_capacity(n);
    let mut out_k = Vec::with_capacity(n);
    let mut out_t = Vec::with_capacity(n);
    let mut out_v = Vec::with_capacity(n);
    for i in 0..n {
        let s = snapshot
            .get(i)
            .ok_or_else(|| bad(format!("row {i}: no snapshot")))?;
        if s as usize > n {
            return Err(bad(format!("row {i}: snapshot {s} out of range")));
        }
        let name = vt.get(i).unwrap_or("");
        let t = *vt_ids.entry(name.to_string()).or_insert_with(|| {
            vt_names.push(name.to_string());
            (vt_names.len() - 1) as u32
        });
        let k = key.get(i);
        match k {
            None => {
                let si = s as usize;
                if snapshots.len() <= si {
                    snapshots.resize(si + 1, None);
                }
                if snapshots[si].is_none() {
                    let kind = kind
                        .get(i)
                        .and_then(Kind::parse)
                        .ok_or_else(|| bad(format!("row {i}: no kind on a total row")))?;
                    snapshots[si] = Some(Snapshot {
                        source: source.get(i).unwrap_or("").to_string(),
                        format: format.get(i).unwrap_or("").to_string(),
                        kind,
                        time_nanos: time_ns.get(i).unwrap_or(0),
                        sampling_rate_bytes: rate.get(i).map(|r| r as u64),
                    });
                }
            }
            Some(k) => {
                let ki = k as usize;
                if ki > n {
                    return Err(bad(format!("row {i}: key {k} out of range")));
                }
                if keys.len() <= ki {
                    keys.resize(ki + 1, None);
                }
                if let Some(name) = key_name.get(i) {
                    keys[ki] = Some(KeyInfo {
                        name: name.to_string(),
                        frames: frames
                            .get(i)
                            .map(|f| f.lines().map(str::to_string).collect())
                            .unwrap_or_default(),
                    });
                }
            }
        }
        out_s.push(s);
        out_k.push(k);
        out_t.push(t);
        out_v.push(value.get(i).unwrap_or(0));
    }
    let snapshots: Vec<Snapshot> = snapshots
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.ok_or_else(|| bad(format!("snapshot {i} has no total row"))))
        .collect::<Result<_, _>>()?;
    let keys: Vec<KeyInfo> = keys
        .into_iter()
        .enumerate()
        .map(|(i, k)| k.ok_or_else(|| bad(format!("key {i} has no name"))))
        .collect::<Result<_, _>>()?;
    if snapshots.is_empty() {
        return Err(bad("no snapshot".into()));
    }
    let table = DataFrame::new(
        n,
        vec![
            Column::new("snapshot".into(), out_s),
            Column::new("key".into(), out_k),
            Column::new("value_type".into(), out_t),
            Column::new("value".into(), out_v),
        ],
    )
    .map_err(&err)?;
    Ok(Store {
        snapshots,
        keys,
        value_types: vt_names,
        failures: Vec::new(),
        skipped: Vec::new(),
        table,
    })
}
