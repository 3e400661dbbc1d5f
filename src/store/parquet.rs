//! The store as one Parquet file: the long table with its names joined in.
//!
//! Columns (schema `leakdiff.store/v1`, one row per snapshot × key × value type):
//! - `snapshot` u32, `key` u32 (null on a snapshot's total rows), `value_type` str (`kind/unit`),
//!   `value` i64;
//! - on total rows only (null elsewhere): `time_ns` i64, `source` str, `format` str, `kind` str
//!   (`heap`/`goroutine`), `sampling_rate_bytes` i64;
//! - on the first row of each key only: `key_name` str and `frames` str (function names, leaf
//!   first, one per line).
//!
//! The file's key-value metadata holds, under [`EXTRA_KEY`], a JSON object
//! (`leakdiff.store.extra/v1`) with what the series do not: every goroutine snapshot's records,
//! the latest heap dump's graph summary, and the first and last heap snapshots as gzipped pprof
//! (base64), so a saved store alone gives the HTML flamegraphs and `export --format pprof`.

use std::io::Write;

use polars_core::prelude::*;
use polars_io::parquet::write::KeyValueMetadata;
use polars_io::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{polars_err, HeapEnds, KeyInfo, Kind, Snapshot, Store, StoreError};
use crate::goroutines::GoroutineSnapshot;
use crate::graph::GraphSummary;
use crate::model::Interner;

/// Key of the extra JSON in the Parquet key-value metadata.
pub const EXTRA_KEY: &str = "leakdiff.store.extra";
const EXTRA_SCHEMA: &str = "leakdiff.store.extra/v1";

#[derive(Serialize, Deserialize)]
struct Extra {
    schema: String,
    goroutines: Vec<(usize, GoroutineSnapshot)>,
    graphs: Vec<(usize, GraphSummary)>,
    /// First and last heap snapshot index, and each as base64 of gzipped pprof.
    heap_ends: Option<(usize, usize, String, String)>,
    /// The caller table, base64 of gzipped JSON ([`SavedCallers`]; absent in stores saved
    /// before it existed).
    #[serde(default)]
    callers: Option<String>,
}

/// The [`super::CallerTable`] as saved: value types by name (a read store numbers them anew),
/// rows as `(snapshot, caller, key, value type, depth, value)`.
#[derive(Serialize, Deserialize)]
struct SavedCallers {
    names: Vec<String>,
    value_types: Vec<String>,
    rows: Vec<(u32, u32, u32, u32, u16, i64)>,
}

fn saved_callers(store: &Store) -> Option<String> {
    let t = &store.callers;
    if t.rows.is_empty() {
        return None;
    }
    let saved = SavedCallers {
        names: t.names.clone(),
        value_types: store.value_types.clone(),
        rows: t
            .rows
            .iter()
            .map(|r| (r.snapshot, r.caller, r.key, r.value_type, r.depth, r.value))
            .collect(),
    };
    pack_json(&saved)
}

/// A value as base64 of gzipped JSON (for Parquet key-value metadata, which holds strings).
pub(super) fn pack_json<T: Serialize>(value: &T) -> Option<String> {
    let json = serde_json::to_vec(value).ok()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).ok()?;
    Some(base64_encode(&gz.finish().ok()?))
}

/// The value [`pack_json`] packed (decompression capped as for any input).
pub(super) fn unpack_json<T: serde::de::DeserializeOwned>(
    b64: &str,
    what: &str,
) -> Result<T, String> {
    let raw = base64_decode(b64).ok_or("not base64")?;
    let json = crate::formats::decompress::decompress(
        raw,
        what,
        crate::formats::decompress::DEFAULT_MAX_DECOMPRESSED,
        crate::formats::decompress::Payload::Repetitive,
    )
    .map_err(|e| e.to_string())?;
    serde_json::from_slice(&json.bytes).map_err(|e| e.to_string())
}

/// The caller table of a read store, its value types mapped to `value_types` by name (rows of a
/// value type the store does not have, or pointing past its keys or snapshots, are dropped).
fn callers_from(
    saved: Option<SavedCallers>,
    value_types: &[String],
    keys: usize,
    snapshots: usize,
) -> super::CallerTable {
    let Some(saved) = saved else {
        return Default::default();
    };
    let vt_map: Vec<Option<u32>> = saved
        .value_types
        .iter()
        .map(|n| value_types.iter().position(|v| v == n).map(|i| i as u32))
        .collect();
    let rows = saved
        .rows
        .into_iter()
        .filter_map(|(snapshot, caller, key, vt, depth, value)| {
            let value_type = (*vt_map.get(vt as usize)?)?;
            ((snapshot as usize) < snapshots
                && (key as usize) < keys
                && (caller as usize) < saved.names.len())
            .then_some(super::CallerRow {
                snapshot,
                caller,
                key,
                value_type,
                depth,
                value,
            })
        })
        .collect();
    super::CallerTable {
        names: saved.names,
        rows,
    }
}

fn pprof_b64(p: &crate::model::Profile, interner: &Interner) -> String {
    let bytes = crate::formats::pprof::encode::encode(p, interner);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(&bytes);
    base64_encode(&gz.finish().unwrap_or_default())
}

fn extra_of(store: &Store) -> String {
    let extra = Extra {
        schema: EXTRA_SCHEMA.into(),
        goroutines: store.goroutines.clone(),
        graphs: store.graphs.clone(),
        heap_ends: store.heap_ends.as_ref().map(|h| {
            (
                h.first_index,
                h.last_index,
                pprof_b64(&h.first, &h.interner),
                pprof_b64(&h.last, &h.interner),
            )
        }),
        callers: saved_callers(store),
    };
    serde_json::to_string(&extra).unwrap_or_default()
}

type ExtraParts = (
    Vec<(usize, GoroutineSnapshot)>,
    Vec<(usize, GraphSummary)>,
    Option<HeapEnds>,
    Option<SavedCallers>,
);

/// Decodes the saved caller table (base64 of gzipped JSON), within the decompression cap.
fn read_extra(json: Option<&str>, src: &str) -> Result<ExtraParts, StoreError> {
    let Some(json) = json else {
        // A store saved before the extra metadata existed: series only.
        return Ok((Vec::new(), Vec::new(), None, None));
    };
    let bad = |m: String| StoreError::Polars {
        source_name: src.to_string(),
        message: format!("{EXTRA_KEY}: {m}"),
    };
    let extra: Extra = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    if extra.schema != EXTRA_SCHEMA {
        return Err(bad(format!(
            "schema {:?}, this leakdiff reads {EXTRA_SCHEMA}",
            extra.schema
        )));
    }
    let heap_ends = match extra.heap_ends {
        None => None,
        Some((fi, li, a, b)) => {
            let mut interner = Interner::new();
            let mut decode = |b64: &str, which: &str| {
                let raw = base64_decode(b64).ok_or_else(|| bad(format!("{which}: not base64")))?;
                let name = format!("{src} ({which} heap snapshot)");
                crate::formats::decode_bytes(raw, &name, &Default::default())
                    .and_then(|d| d.into_profile(&mut interner))
                    .map_err(|e| bad(e.to_string()))
            };
            let first = decode(&a, "first")?;
            let last = decode(&b, "last")?;
            Some(HeapEnds {
                interner,
                first_index: fi,
                first,
                last_index: li,
                last,
            })
        }
    };
    let callers = extra
        .callers
        .as_deref()
        .map(|b64| unpack_json::<SavedCallers>(b64, "callers"))
        .transpose()
        .map_err(|e| bad(format!("callers: {e}")))?;
    Ok((extra.goroutines, extra.graphs, heap_ends, callers))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4).
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The inverse of [`base64_encode`]; `None` on anything else.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Name of this layout (doc/schemas.md, "Saved store"); quoted in the error for a file that does not fit it.
pub const SCHEMA: &str = "leakdiff.store/v1";

pub(super) fn write(store: &Store, out: &mut dyn Write, name: &str) -> Result<(), StoreError> {
    let src = name.to_string();
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
    ParquetWriter::new(out)
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(vec![(
            EXTRA_KEY.to_string(),
            extra_of(store),
        )])))
        .finish(&mut df)
        .map_err(&err)?;
    Ok(())
}

// Over 120 lines: the saved layout's columns read back in one place, in the order they were written.
#[allow(clippy::too_many_lines)]
pub(super) fn read(bytes: Vec<u8>, name: &str) -> Result<Store, StoreError> {
    let src = name.to_string();
    let err = polars_err(&src);
    let mut reader = ParquetReader::new(std::io::Cursor::new(bytes));
    let extra_json = reader
        .get_metadata()
        .map_err(&err)?
        .key_value_metadata()
        .as_ref()
        .and_then(|kv| kv.iter().find(|k| k.key == EXTRA_KEY))
        .and_then(|k| k.value.clone());
    let (goroutines, graphs, heap_ends, saved_callers) = read_extra(extra_json.as_deref(), &src)?;
    let df = reader.finish().map_err(&err)?;
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
                        gc_count: None,
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
    let callers = callers_from(saved_callers, &vt_names, keys.len(), snapshots.len());
    Ok(Store {
        snapshots,
        keys,
        value_types: vt_names,
        failures: Vec::new(),
        skipped: Vec::new(),
        table,
        goroutines,
        heap_ends,
        graphs,
        warnings: Vec::new(),
        callers,
    })
}

#[cfg(test)]
mod tests {
    use super::{base64_decode, base64_encode};

    #[test]
    fn base64_round_trips() {
        for n in 0..40u8 {
            let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&v)).unwrap(), v);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("a*b").is_none());
    }
}
