//! Which snapshots make one series: one form of goroutine evidence per moment, one process.

use super::*;

/// One form of goroutine evidence per moment: `collect` saves a goroutine profile and a debug=2
/// dump of each round. When a folder holds both forms, its protobufs (which carry their own
/// time) are trended and its text dumps are left out with one note, so no goroutine counts
/// twice. Files named one by one are kept as given (a debug=1 dump against a protobuf is a diff
/// like any other).
pub(super) fn one_form_of_goroutines(reduced: &mut Vec<Reduced>, skipped: &mut Vec<Failure>) {
    let text = Format::GoroutineText.name();
    // goroutineleak profiles only prove; they are never one of the forms.
    let is_gor = |r: &Reduced| {
        r.snapshot.kind == Kind::Goroutine
            && r.from_folder
            && !r.goroutines.as_ref().is_some_and(|g| g.leak_profile)
    };
    let has_text = reduced
        .iter()
        .any(|r| is_gor(r) && r.snapshot.format == text);
    let has_other = reduced
        .iter()
        .any(|r| is_gor(r) && r.snapshot.format != text);
    if !(has_text && has_other) {
        return;
    }
    let before = reduced.len();
    let mut first = None;
    reduced.retain(|r| {
        let drop = is_gor(r) && r.snapshot.format == text;
        if drop && first.is_none() {
            first = Some(r.snapshot.source.clone());
        }
        !drop
    });
    let n = before - reduced.len();
    skipped.push(Failure {
        source: first.unwrap_or_default(),
        message: format!(
            "{n} goroutine text dump(s) left out: the goroutine profiles of the same inputs are trended (one form per moment)"
        ),
    });
}

/// Keeps one process's snapshots, when they are of several (two heaptrack recordings, jemalloc or
/// gperftools dumps of two runs, Go profiles across a restart: their values and times are not
/// one axis, and chained they read as a drop and a climb). Heap and goroutine snapshots name
/// their process the same way (the vDSO's address, the recording): the process with the most
/// heap snapshots is kept, then the most goroutine snapshots, then the one whose last snapshot
/// comes last among the inputs. Process samples name a pid: the pid kept is the one with the most
/// samples within the kept process's time span, then the most samples. Every process left out
/// gets one note naming its snapshots and how to analyze them; snapshots whose process is
/// unknown stay, and so do goroutineleak profiles.
pub(super) fn one_process(reduced: &mut Vec<Reduced>, skipped: &mut Vec<Failure>) {
    // A goroutineleak profile is no point of a series: it proves that a stack of the program
    // leaks, whichever process of it was asked (asking changes the goroutines' states, so a
    // test takes it in a process of its own).
    for r in reduced.iter_mut() {
        if r.goroutines.as_ref().is_some_and(|g| g.leak_profile) {
            r.process = None;
        }
    }
    let mapped = |r: &Reduced| r.snapshot.kind != Kind::Process;
    let keep = choose_process(reduced, mapped, |_| 0);
    let span = keep.as_ref().and_then(|k| {
        let times: Vec<i64> = reduced
            .iter()
            .filter(|r| mapped(r) && r.process.as_ref() == Some(k))
            .filter_map(|r| r.own_time)
            .collect();
        Some((*times.iter().min()?, *times.iter().max()?))
    });
    let within = |r: &Reduced| {
        usize::from(
            span.zip(r.own_time)
                .is_some_and(|((lo, hi), t)| t >= lo - 60_000_000_000 && t <= hi + 60_000_000_000),
        )
    };
    let keep_pid = choose_process(reduced, |r| !mapped(r), within);
    let mut notes = Vec::new();
    for (keep, of) in [(keep, true), (keep_pid, false)] {
        let Some(keep) = keep else { continue };
        let mine = |r: &Reduced| mapped(r) == of;
        // Per other process: its name, snapshots per kind, and its first input.
        let mut others: Vec<(String, KindCounts, String)> = Vec::new();
        for r in reduced.iter().filter(|r| mine(r)) {
            let Some(p) = r.process.as_ref().filter(|p| **p != keep) else {
                continue;
            };
            let at = match others.iter().position(|o| o.0 == *p) {
                Some(i) => i,
                None => {
                    others.push((p.clone(), Vec::new(), r.snapshot.source.clone()));
                    others.len() - 1
                }
            };
            let counts = &mut others[at].1;
            match counts.iter_mut().find(|c| c.0 == r.snapshot.kind) {
                Some(c) => c.1 += 1,
                None => counts.push((r.snapshot.kind, 1)),
            }
        }
        let total = others.len() + 1;
        let kept: Vec<&Reduced> = reduced
            .iter()
            .filter(|r| mine(r) && r.process.as_ref() == Some(&keep))
            .collect();
        let kept_from = kept.first().map_or("", |r| r.snapshot.source.as_str());
        for (p, counts, source) in others {
            let what: Vec<String> = counts
                .iter()
                .map(|(k, n)| format!("{n} {} snapshot(s)", k.name()))
                .collect();
            notes.push(Failure {
                source,
                message: format!(
                    "{} of another process ({p}) left out: these inputs are of {total} processes, and a series is one process's; kept the {} snapshot(s) of the process of {kept_from} ({keep}); give the other's files alone to analyze it",
                    what.join(" and "),
                    kept.len()
                ),
            });
        }
        reduced.retain(|r| !mine(r) || r.process.as_ref().is_none_or(|p| *p == keep));
    }
    skipped.extend(notes);
}

/// Snapshots per kind.
type KindCounts = Vec<(Kind, usize)>;

/// The process to keep among the snapshots `mine` selects (`None` when they name none): the most
/// heap snapshots, then the most `score` (goroutine snapshots, or samples within a span), then
/// the most snapshots, then the last in input order.
fn choose_process(
    reduced: &[Reduced],
    mine: impl Fn(&Reduced) -> bool,
    score: impl Fn(&Reduced) -> usize,
) -> Option<String> {
    // Per process: (heap, score, all, last input index).
    let mut seen: Vec<(&String, [usize; 4])> = Vec::new();
    for r in reduced.iter().filter(|r| mine(r)) {
        let Some(p) = r.process.as_ref() else {
            continue;
        };
        let at = match seen.iter().position(|s| s.0 == p) {
            Some(i) => i,
            None => {
                seen.push((p, [0; 4]));
                seen.len() - 1
            }
        };
        let c = &mut seen[at].1;
        c[0] += usize::from(r.snapshot.kind == Kind::Heap);
        c[1] += score(r) + usize::from(r.snapshot.kind == Kind::Goroutine);
        c[2] += 1;
        c[3] = c[3].max(r.input_index);
    }
    seen.iter().max_by_key(|s| s.1).map(|s| s.0.clone())
}
