//! Distinct observations. A Go heap profile is the heap as of the last completed garbage
//! collection (runtime/pprof: "Heap profile reports statistics as of the most recently completed
//! garbage collection"): snapshots taken between two GCs repeat the same numbers, and the runs of
//! repeats grow longer as the heap grows (GOGC spaces collections by heap size). Such a repeat is
//! no new evidence: trends, tests, patterns and projections run on the distinct states, each at
//! the time its values first appeared, and the report says how many snapshots were folded.

use crate::store::HeapEvidence;

/// The snapshots to trend when the heap series is Go's: each one that is not a repeat of the one
/// before it. Where both say how many collections had completed (a debug=1 heap profile's
/// `# NumGC`, or the `NumGC=` comment `collect` adds from expvar's memstats), the counts decide,
/// whatever the values. Else, for pprof with a stated sampling rate, the values do: a repeat has
/// every key's value and the total of the one before. `None` when nothing repeats. Other sources
/// observe the heap when they are asked (heaptrack, jemalloc, gperftools): an unchanged snapshot
/// there is a real observation of an unchanged heap, and is kept.
pub(super) fn distinct_gc_states(heap: &HeapEvidence) -> Option<Vec<usize>> {
    let n = heap.snapshots.len();
    let values_tell = heap
        .snapshots
        .iter()
        .all(|s| s.format == "pprof" && s.sampling_rate_bytes.is_some());
    let same_values = |i: usize| {
        heap.totals[i] == heap.totals[i - 1]
            && heap.series.iter().all(|s| s.values[i] == s.values[i - 1])
    };
    let repeat = |i: usize| match (heap.snapshots[i - 1].gc_count, heap.snapshots[i].gc_count) {
        (Some(a), Some(b)) => a == b,
        _ => values_tell && same_values(i),
    };
    let keep: Vec<usize> = (0..n).filter(|&i| i == 0 || !repeat(i)).collect();
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
        // Where one of two does not say, the values decide, and only for pprof: a legacy
        // profile without its count is a new observation.
        h.snapshots[1].gc_count = None;
        assert_eq!(distinct_gc_states(&h), None);
        // `collect`'s pprof files: a count where no collection completed while the profile was
        // fetched. Counts decide between two that have them, values elsewhere.
        let mut p = heap("pprof", Some(524_288), &[1.0, 2.0, 2.0, 3.0, 3.0]);
        for (s, c) in p
            .snapshots
            .iter_mut()
            .zip([Some(4), Some(5), None, Some(6), Some(6)])
        {
            s.gc_count = c;
        }
        assert_eq!(distinct_gc_states(&p), Some(vec![0, 1, 3]));
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
