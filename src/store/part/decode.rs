//! Parquet bytes to rows: a part's footer metadata, its snapshot hashes, and the rows back.

use super::*;

/// Strings shared by the rows that carry them (a month of rows holds each key once).
#[derive(Default)]
pub(super) struct Shared(FxHashMap<String, Arc<str>>);

impl Shared {
    pub(super) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = s.into();
        self.0.insert(s.to_string(), Arc::clone(&a));
        a
    }
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
// Over 120 lines: a part's columns read back in the order the layout lists them.
#[allow(clippy::too_many_lines)]
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
        let saved: PartCallers = crate::store::parquet::unpack_json(&packed, DATASET_CALLERS_KEY)
            .map_err(|e| bad(format!("{DATASET_CALLERS_KEY}: {e}")))?;
        attach_callers(&mut out, &at, saved);
    }
    Ok(out)
}
