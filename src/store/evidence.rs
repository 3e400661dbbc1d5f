//! The hand-over from the store to the analysis: every series and snapshot fact a report needs,
//! as plain structs, taken out of the store in one call ([`Store::evidence`]). The analysis never
//! calls back into the store.

use super::{Failure, KeyInfo, Kind, Snapshot, Store, StoreError};
use crate::goroutines::GoroutineSnapshot;
use crate::graph::GraphSummary;

/// One key's values, one per snapshot of its kind (zeros where the key is absent).
#[derive(Clone, Debug)]
pub struct Series {
    /// The key and one of its stacks.
    pub key: KeyInfo,
    /// Values in snapshot order.
    pub values: Vec<f64>,
}

/// The heap snapshots and the series of the value type trended.
#[derive(Clone, Debug, Default)]
pub struct HeapEvidence {
    /// Heap snapshots in order.
    pub snapshots: Vec<Snapshot>,
    /// The value type (`kind/unit`).
    pub value_type: String,
    /// Its total per snapshot.
    pub totals: Vec<f64>,
    /// Every key with data in some snapshot, in key order.
    pub series: Vec<Series>,
    /// Every caller of those keys (see [`CallerTable`](super::CallerTable)), in name order.
    pub callers: Vec<CallerSeries>,
}

/// What one function holds above heap keys' frames, per key.
#[derive(Clone, Debug)]
pub struct CallerSeries {
    /// The caller's function name.
    pub name: String,
    /// The fewest frames between it and any of its keys' frames (1: a direct caller).
    pub depth: u16,
    /// Per key (by name, in key order): the values held through that key, one per snapshot.
    pub leaves: Vec<(String, Vec<f64>)>,
}

impl HeapEvidence {
    /// The first `cut` snapshots, their totals and the series of the keys with data in them.
    pub fn prefix(&self, cut: usize) -> HeapEvidence {
        let keep: Vec<usize> = (0..cut.min(self.snapshots.len())).collect();
        self.select(&keep)
    }

    /// The snapshots at `keep` (in order), their totals and the series of the keys with data in
    /// them.
    pub fn select(&self, keep: &[usize]) -> HeapEvidence {
        let pick = |v: &[f64]| -> Vec<f64> { keep.iter().map(|&i| v[i]).collect() };
        HeapEvidence {
            snapshots: keep.iter().map(|&i| self.snapshots[i].clone()).collect(),
            value_type: self.value_type.clone(),
            totals: pick(&self.totals),
            series: self
                .series
                .iter()
                .map(|s| Series {
                    key: s.key.clone(),
                    values: pick(&s.values),
                })
                .filter(|s| s.values.iter().any(|v| *v != 0.0))
                .collect(),
            callers: self
                .callers
                .iter()
                .map(|c| CallerSeries {
                    name: c.name.clone(),
                    depth: c.depth,
                    leaves: c
                        .leaves
                        .iter()
                        .map(|(k, v)| (k.clone(), pick(v)))
                        .filter(|(_, v): &(String, Vec<f64>)| v.iter().any(|x| *x != 0.0))
                        .collect(),
                })
                .filter(|c| !c.leaves.is_empty())
                .collect(),
        }
    }
}

/// One process metric over the process samples.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Name (`rss`, `fds/socket`, `limit/fds`, …).
    pub name: String,
    /// `bytes` or `count`.
    pub unit: &'static str,
    /// One value per process sample.
    pub values: Vec<f64>,
}

/// The process samples and their metrics, in name order.
#[derive(Clone, Debug, Default)]
pub struct ProcessEvidence {
    /// Process samples in order.
    pub snapshots: Vec<Snapshot>,
    /// Metrics, by name.
    pub metrics: Vec<Metric>,
}

/// Everything the analysis reads.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// Heap snapshots and series.
    pub heap: HeapEvidence,
    /// Goroutine snapshots (one form per moment) with their records, in order.
    pub goroutines: Vec<(Snapshot, GoroutineSnapshot)>,
    /// Process samples.
    pub process: ProcessEvidence,
    /// The latest heap dump's object graph.
    pub graph: Option<GraphSummary>,
    /// Inputs that failed to parse.
    pub failures: Vec<Failure>,
    /// Inputs left out on purpose.
    pub skipped: Vec<Failure>,
}

/// The most snapshots of one kind a report trends by default.
pub const DEFAULT_MAX_POINTS: usize = 1000;

/// At most `max` of the indices (0: all), evenly spaced, first and last kept, in order.
pub fn thin(idx: Vec<usize>, max: usize) -> Vec<usize> {
    let n = idx.len();
    if max == 0 || n <= max {
        return idx;
    }
    if max == 1 {
        return vec![idx[n - 1]];
    }
    (0..max).map(|k| idx[k * (n - 1) / (max - 1)]).collect()
}

impl Store {
    /// The value type a report trends: `asked` (by `kind` or `kind/unit`) when given, which must
    /// be in every heap snapshot; else `inuse_space`, else the first in bytes, else the first.
    pub fn heap_value_type(&self, asked: Option<&str>) -> Result<usize, StoreError> {
        let vts = self.value_types_of(Kind::Heap);
        match asked {
            Some(name) => self
                .value_type_index(name)
                .filter(|i| vts.contains(i))
                .ok_or_else(|| StoreError::NoValueType {
                    asked: name.to_string(),
                    available: vts
                        .iter()
                        .map(|&i| self.value_types[i].as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            None => self.default_heap_value_type(&vts),
        }
    }

    /// The column trended when none is asked for: `inuse_space` when every heap snapshot has it,
    /// else another in-use column they share (bytes first). An `alloc_*` column counts every
    /// allocation since the program started and only grows, so it is never picked: a folder
    /// whose snapshots share only those, or no column at all, is an error that says so.
    fn default_heap_value_type(&self, common: &[usize]) -> Result<usize, StoreError> {
        let name = |i: usize| self.value_types[i].as_str();
        let in_use = |i: &usize| !name(*i).starts_with("alloc_");
        if let Some(i) = common
            .iter()
            .copied()
            .find(|&i| name(i) == "inuse_space/bytes")
            .or_else(|| {
                common
                    .iter()
                    .copied()
                    .filter(in_use)
                    .find(|&i| name(i).ends_with("/bytes"))
            })
            .or_else(|| common.iter().copied().find(in_use))
        {
            return Ok(i);
        }
        let heap = self.snapshots_of(Kind::Heap);
        if heap.is_empty() {
            return Ok(0);
        }
        // Each distinct set of columns once, with the first snapshot that has it and how many do.
        let mut columns: Vec<Vec<&str>> = vec![Vec::new(); self.snapshots.len()];
        for (s, t, _) in self.total_rows()? {
            if let (Some(c), Some(name)) = (columns.get_mut(s), self.value_types.get(t)) {
                c.push(name);
            }
        }
        let mut forms: Vec<(String, &str, usize)> = Vec::new();
        for &s in &heap {
            let types = &mut columns[s];
            types.sort_unstable();
            types.dedup();
            let types = types.join(", ");
            match forms.iter_mut().find(|f| f.0 == types) {
                Some(f) => f.2 += 1,
                None => forms.push((types, &self.snapshots[s].source, 1)),
            }
        }
        let forms: Vec<String> = forms
            .iter()
            .map(|(t, first, n)| format!("{n} like {first}: [{t}]"))
            .collect();
        Err(StoreError::NoInUseType {
            shared: common
                .iter()
                .map(|&i| name(i))
                .collect::<Vec<_>>()
                .join(", "),
            forms: forms.join("; "),
        })
    }

    /// Hands over what the analysis needs, trending `value_type` (see
    /// [`Store::heap_value_type`]) for the heap, on at most [`DEFAULT_MAX_POINTS`] snapshots of
    /// each kind (see [`Store::evidence_with`]).
    pub fn evidence(&self, value_type: Option<&str>) -> Result<Evidence, StoreError> {
        self.evidence_with(value_type, DEFAULT_MAX_POINTS)
    }

    /// [`Store::evidence`] on at most `max_points` snapshots of each kind (0: all): a longer
    /// series (a month of one service from a dataset) is trended on that many of its snapshots,
    /// evenly spaced in order, the first and last kept, so the pairwise statistics (Mann–Kendall,
    /// Theil–Sen: quadratic in the points) stay bounded in time and memory.
    pub fn evidence_with(
        &self,
        value_type: Option<&str>,
        max_points: usize,
    ) -> Result<Evidence, StoreError> {
        let heap_idx = thin(self.snapshots_of(Kind::Heap), max_points);
        let vt = self.heap_value_type(value_type)?;
        let (totals, series) = if heap_idx.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (
                self.totals(vt, &heap_idx)?,
                self.named_series(vt, &heap_idx)?,
            )
        };
        let heap = HeapEvidence {
            snapshots: self.pick(&heap_idx),
            value_type: self.value_types.get(vt).cloned().unwrap_or_default(),
            totals,
            series,
            callers: self.caller_series(vt, &heap_idx),
        };
        let kept: Vec<usize> = thin(
            self.goroutines.iter().map(|(i, _)| *i).collect(),
            max_points,
        );
        let goroutines = self
            .goroutines
            .iter()
            .filter(|(i, _)| kept.binary_search(i).is_ok())
            .filter_map(|(i, g)| Some((self.snapshots.get(*i)?.clone(), g.clone())))
            .collect();
        let proc_idx = thin(self.snapshots_of(Kind::Process), max_points);
        let mut metrics = Vec::new();
        if !proc_idx.is_empty() {
            for (unit, vt_name) in [
                ("bytes", crate::formats::procstat::BYTES),
                ("count", crate::formats::procstat::COUNT),
            ] {
                let Some(vt) = self.value_type_index(vt_name) else {
                    continue;
                };
                for s in self.named_series(vt, &proc_idx)? {
                    metrics.push(Metric {
                        name: s.key.name,
                        unit,
                        values: s.values,
                    });
                }
            }
        }
        metrics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Evidence {
            heap,
            goroutines,
            process: ProcessEvidence {
                snapshots: self.pick(&proc_idx),
                metrics,
            },
            graph: self.graphs.last().map(|(_, g)| g.clone()),
            failures: self.failures.clone(),
            skipped: self.skipped.clone(),
        })
    }

    /// The caller table's series of value type `vt` on the snapshots `idx` (in order).
    fn caller_series(&self, vt: usize, idx: &[usize]) -> Vec<CallerSeries> {
        let mut pos = vec![usize::MAX; self.snapshots.len()];
        for (p, &i) in idx.iter().enumerate() {
            pos[i] = p;
        }
        // Gathered per (caller, key), in id order: callers are numbered by name.
        let mut per: std::collections::BTreeMap<(u32, u32), (u16, Vec<f64>)> = Default::default();
        for r in &self.callers.rows {
            let p = pos.get(r.snapshot as usize).copied().unwrap_or(usize::MAX);
            if p == usize::MAX || r.value_type as usize != vt {
                continue;
            }
            let slot = per
                .entry((r.caller, r.key))
                .or_insert_with(|| (r.depth, vec![0.0; idx.len()]));
            slot.0 = slot.0.min(r.depth);
            slot.1[p] += r.value as f64;
        }
        let mut out: Vec<CallerSeries> = Vec::new();
        for ((c, k), (depth, values)) in per {
            let (Some(name), Some(key)) = (
                self.callers.names.get(c as usize),
                self.keys.get(k as usize),
            ) else {
                continue;
            };
            match out.last_mut() {
                Some(last) if &last.name == name => {
                    last.depth = last.depth.min(depth);
                    last.leaves.push((key.name.clone(), values));
                }
                _ => out.push(CallerSeries {
                    name: name.clone(),
                    depth,
                    leaves: vec![(key.name.clone(), values)],
                }),
            }
        }
        out
    }

    fn pick(&self, idx: &[usize]) -> Vec<Snapshot> {
        idx.iter().map(|&i| self.snapshots[i].clone()).collect()
    }

    fn named_series(&self, vt: usize, idx: &[usize]) -> Result<Vec<Series>, StoreError> {
        Ok(self
            .series(vt, idx)?
            .into_iter()
            .filter_map(|s| {
                Some(Series {
                    key: self.keys.get(s.key as usize)?.clone(),
                    values: s.values,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::thin;
    use crate::model::{Format, Interner, ProfileBuilder, ValueType};
    use crate::store::{KeyBy, Order, SnapshotIn, StoreBuilder, StoreError};

    /// A store of `n` one-sample heap snapshots with these columns.
    fn store_of(types: &[&[(&str, &str)]]) -> crate::store::Store {
        let builder = StoreBuilder::new(KeyBy::Function, Order::Name);
        for (i, cols) in types.iter().enumerate() {
            let mut interner = Interner::new();
            let vts = cols.iter().map(|(k, u)| ValueType::new(k, u)).collect();
            let mut b = ProfileBuilder::new(Format::Pprof, vts);
            b.meta_mut().time_nanos = Some(1_000_000_000 * (i as i64 + 1));
            let f = interner.symbol_frame("main.grow", "main.go", 1);
            let stack = interner.stack_from_root(vec![f]);
            let values: Vec<i64> = cols.iter().map(|_| 100 * (i as i64 + 1)).collect();
            b.add_sample(stack, &values, &[]);
            let profile = b.finish(&interner).unwrap();
            builder.add(SnapshotIn {
                input_index: i,
                source: format!("s{i}.pb.gz"),
                from_folder: false,
                mtime_nanos: 0,
                interner,
                profile,
                graph: None,
            });
        }
        builder.finish().unwrap()
    }

    #[test]
    fn an_allocation_counter_is_trended_only_when_asked() {
        let alloc: &[(&str, &str)] = &[("alloc_objects", "count"), ("alloc_space", "bytes")];
        let s = store_of(&[alloc, alloc, alloc]);
        let e = s.heap_value_type(None).unwrap_err();
        assert!(matches!(e, StoreError::NoInUseType { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("--sample-index alloc_space"), "{msg}");
        assert!(msg.contains("3 like s0.pb.gz"), "{msg}");
        let i = s.heap_value_type(Some("alloc_space")).unwrap();
        assert_eq!(s.value_types[i], "alloc_space/bytes");
        // Four columns: in-use space, never the first column.
        let four: &[(&str, &str)] = &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ];
        let s = store_of(&[four, four]);
        let i = s.heap_value_type(None).unwrap();
        assert_eq!(s.value_types[i], "inuse_space/bytes");
        // Nothing shared at all: the error lists each form.
        let other: &[(&str, &str)] = &[("peak_space", "bytes")];
        let s = store_of(&[alloc, other]);
        let msg = s.heap_value_type(None).unwrap_err().to_string();
        assert!(msg.contains("shared: []"), "{msg}");
        assert!(msg.contains("1 like s1.pb.gz: [peak_space/bytes]"), "{msg}");
    }

    #[test]
    fn thinning_keeps_the_ends_and_spaces_evenly() {
        let idx: Vec<usize> = (0..10).collect();
        assert_eq!(thin(idx.clone(), 0), idx);
        assert_eq!(thin(idx.clone(), 10), idx);
        assert_eq!(thin(idx.clone(), 4), vec![0, 3, 6, 9]);
        assert_eq!(thin(idx.clone(), 2), vec![0, 9]);
        assert_eq!(thin(idx, 1), vec![9]);
        let long: Vec<usize> = (0..20_000).map(|i| i * 3).collect();
        let t = thin(long, 1000);
        assert_eq!(t.len(), 1000);
        assert_eq!((t[0], t[999]), (0, 59_997));
        assert!(t.windows(2).all(|w| w[0] < w[1]));
    }
}
