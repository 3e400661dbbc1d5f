//! Dataset rows as a store: a view over the rows of many parts (sliced by snapshot, never
//! copied per snapshot), and the builder that gathers parts' rows into one [`Store`].

use super::*;

/// A store seen as dataset rows, snapshot by snapshot (see [`Store::dataset_view`]): the long
/// table once, sorted by snapshot, with its strings shared, so that any few snapshots can be
/// turned into rows at a time and memory holds one batch of rows, not the whole store's.
pub struct DatasetView<'a> {
    store: &'a Store,
    rows: Vec<crate::store::LongRow>,
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
    rows: Vec<crate::store::LongRow>,
    goroutines: Vec<(u32, GoroutineSnapshot)>,
    caller_ids: FxHashMap<Arc<str>, u32>,
    caller_names: Vec<String>,
    callers: Vec<crate::store::CallerRow>,
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
                self.callers.push(crate::store::CallerRow {
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
                    gc_count: None,
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
        let (keys, key_id) = crate::store::build::by_name(self.keys, |k| &k.name);
        let (value_types, vt_id) = crate::store::build::by_name(self.vts, |v| v);
        let (caller_names, caller_id) = crate::store::build::by_name(self.caller_names, |n| n);
        let mut caller_rows: Vec<crate::store::CallerRow> = self
            .callers
            .into_iter()
            .map(|r| crate::store::CallerRow {
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
            callers: crate::store::CallerTable {
                names: caller_names,
                rows: caller_rows,
            },
        })
    }
}
