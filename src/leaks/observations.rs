//! Distinct observations. A Go heap profile is the heap as of the last completed garbage
//! collection (runtime/pprof: "Heap profile reports statistics as of the most recently completed
//! garbage collection"): snapshots taken between two GCs repeat the same numbers, and the runs of
//! repeats grow longer as the heap grows (GOGC spaces collections by heap size). Such a repeat is
//! no new evidence: trends, tests, patterns and projections run on the distinct states, each at
//! the time its values first appeared, and the report says how many snapshots were folded.

use crate::store::HeapEvidence;

/// The snapshots to trend when the heap series is Go's. Where every snapshot says how many
/// collections had completed (a debug=1 heap profile's `# NumGC`), each one whose count differs
/// from the one before it: the count says it, whatever the values. Else, for pprof with a stated
/// sampling rate, each one whose values (every key's and the total) differ from the one before
/// it. `None` when the series is not Go's or no snapshot repeats. Other sources observe the heap
/// when they are asked (heaptrack, jemalloc, gperftools): an unchanged snapshot there is a real
/// observation of an unchanged heap, and is kept.
pub(super) fn distinct_gc_states(heap: &HeapEvidence) -> Option<Vec<usize>> {
    let n = heap.snapshots.len();
    let counts: Option<Vec<u64>> = heap.snapshots.iter().map(|s| s.gc_count).collect();
    if let Some(c) = counts.filter(|_| n > 1) {
        let keep: Vec<usize> = (0..n).filter(|&i| i == 0 || c[i] != c[i - 1]).collect();
        return (keep.len() < n).then_some(keep);
    }
    let go = n > 1
        && heap
            .snapshots
            .iter()
            .all(|s| s.format == "pprof" && s.sampling_rate_bytes.is_some());
    if !go {
        return None;
    }
    let same = |i: usize| {
        heap.totals[i] == heap.totals[i - 1]
            && heap.series.iter().all(|s| s.values[i] == s.values[i - 1])
    };
    let keep: Vec<usize> = (0..n).filter(|&i| i == 0 || !same(i)).collect();
    (keep.len() < n).then_some(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KeyInfo, Kind, Series, Snapshot};

    /// A debug=1 Go heap series: its NumGC decides, not the values (a key that moved between
    /// two profiles of one collection cannot have; equal values across two collections are two
    /// observations).
    #[test]
    fn numgc_decides_where_the_source_gives_it() {
        let mut h = heap("legacy heap profile", Some(524_288), &[1.0, 2.0, 2.0, 3.0]);
        for (s, c) in h.snapshots.iter_mut().zip([4, 4, 5, 6]) {
            s.gc_count = Some(c);
        }
        assert_eq!(distinct_gc_states(&h), Some(vec![0, 2, 3]));
        h.snapshots[1].gc_count = None;
        assert_eq!(distinct_gc_states(&h), None, "not every snapshot says");
    }

    fn heap(format: &str, rate: Option<u64>, values: &[f64]) -> HeapEvidence {
        HeapEvidence {
            snapshots: (0..values.len())
                .map(|i| Snapshot {
                    source: format!("heap-{i}"),
                    format: format.into(),
                    kind: Kind::Heap,
                    time_nanos: i as i64 * 5_000_000_000,
                    sampling_rate_bytes: rate,
                    gc_count: None,
                })
                .collect(),
            value_type: "inuse_space/bytes".into(),
            totals: values.to_vec(),
            series: vec![Series {
                key: KeyInfo {
                    name: "main.f".into(),
                    frames: vec!["main.f".into()],
                },
                values: values.to_vec(),
            }],
            callers: Vec::new(),
        }
    }

    #[test]
    fn repeats_of_one_gc_are_one_observation_in_go_heaps_only() {
        let v = [1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0];
        assert_eq!(
            distinct_gc_states(&heap("pprof", Some(524_288), &v)),
            Some(vec![0, 3, 5])
        );
        // heaptrack and jemalloc observe when asked: an unchanged heap is evidence.
        assert_eq!(distinct_gc_states(&heap("heaptrack", None, &v)), None);
        assert_eq!(
            distinct_gc_states(&heap("jemalloc heap_v2", Some(524_288), &v)),
            None
        );
        // Nothing repeats: nothing to fold.
        assert_eq!(
            distinct_gc_states(&heap("pprof", Some(524_288), &[1.0, 2.0, 3.0])),
            None
        );
        // A key that moved while the total did not is a new state.
        let mut h = heap("pprof", Some(524_288), &[1.0, 1.0]);
        h.series.push(Series {
            key: KeyInfo {
                name: "main.g".into(),
                frames: vec![],
            },
            values: vec![0.0, 1.0],
        });
        assert_eq!(distinct_gc_states(&h), None);
    }
}
