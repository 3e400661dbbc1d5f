//! Goroutine dumps from our own Go program (testdata/go/goroutinegen): the debug=1 and debug=2
//! text forms diff to the same per-function counts as `go tool pprof -diff_base` on the protobufs.

use std::collections::HashMap;

use leakdiff::diff::{self, DiffOptions};
use leakdiff::model::LabelValue;

use crate::common::*;

const LEAKERS: [(&str, i64); 5] = [
    ("main.blockedReceiver", 40),
    ("main.blockedSender", 40),
    ("main.stuckSelect", 40),
    ("main.lockedOut", 20),
    ("main.waitForever", 20),
];

fn cum_deltas(base: &str, later: &str) -> HashMap<String, (i64, i64)> {
    let (i, b, l) = load_two(base, later);
    by_name(&diff::diff(&b, &l, &i, &DiffOptions::default()).unwrap())
}

#[test]
fn text_forms_diff_like_pprof_on_the_protobufs() {
    let golden =
        std::fs::read_to_string(testdata("go/golden/leak-goroutines.diff.top.txt")).unwrap();
    let pprof: HashMap<String, String> = parse_top(&golden)
        .into_iter()
        .map(|r| (r.name, r.cum))
        .collect();
    for form in ["pb.gz", "debug1.txt", "debug2.txt"] {
        let d = cum_deltas(
            &format!("go/leak-goroutines-base.{form}"),
            &format!("go/leak-goroutines-later.{form}"),
        );
        for (f, n) in LEAKERS {
            assert_eq!(d[f].1, n, "{form} {f}");
            assert_eq!(pprof[f], n.to_string(), "pprof {f}");
        }
    }
}

#[test]
fn control_goroutines_do_not_grow() {
    for form in ["pb.gz", "debug1.txt", "debug2.txt"] {
        let (i, b, l) = load_two(
            &format!("go/control-goroutines-base.{form}"),
            &format!("go/control-goroutines-later.{form}"),
        );
        let r = diff::diff(&b, &l, &i, &DiffOptions::default()).unwrap();
        assert_eq!(r.totals.delta, 0, "{form}");
        assert!(r.rows.iter().all(|row| !row.key.starts_with("main.work")));
    }
}

#[test]
fn debug2_keeps_state_creator_and_id_per_goroutine() {
    let (i, p) = load("go/leak-goroutines-later.debug2.txt");
    let total = p.total(0);
    assert_eq!(
        total,
        p.samples().count() as i64,
        "one sample per goroutine"
    );
    let mut states: HashMap<String, i64> = HashMap::new();
    let mut created = 0;
    for s in p.samples() {
        for l in s.labels {
            let key = i.str(l.key);
            match (key, l.value) {
                ("state", LabelValue::Str(v)) => {
                    *states.entry(i.str(v).to_string()).or_default() += 1
                }
                ("created_by", LabelValue::Str(v)) if i.str(v).starts_with("main.leakRound") => {
                    created += 1
                }
                _ => {}
            }
        }
    }
    assert_eq!(states["chan receive"], 60);
    assert_eq!(states["chan send"], 60);
    assert_eq!(states["select"], 60);
    assert_eq!(
        states["semacquire"], 60,
        "Go 1.19 reports mutex and WaitGroup waits as semacquire"
    );
    assert_eq!(created, 240);
}
