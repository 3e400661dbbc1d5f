//! Rows to Parquet bytes: the columns, the part's metadata and its caller table.

use super::*;

pub(super) fn list_column<'a>(
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
pub(super) fn frame_of(service: &str, snaps: &[&DatasetSnapshot]) -> Result<DataFrame, StoreError> {
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
pub(super) fn part_callers(snaps: &[&DatasetSnapshot]) -> Option<String> {
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
    crate::store::parquet::pack_json(&saved)
}

/// Gives the decoded snapshots the caller rows of their part (rows naming a snapshot, name or
/// value type the part does not have are dropped).
pub(super) fn attach_callers(
    out: &mut [DatasetSnapshot],
    at: &FxHashMap<String, usize>,
    saved: PartCallers,
) {
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
