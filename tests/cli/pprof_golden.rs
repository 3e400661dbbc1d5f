//! leakdiff's numbers equal `go tool pprof -top` (and `-diff_base`) on the same files.

use leakdiff::diff::{self, DiffOptions, DiffResult};

use crate::common::*;

/// Every row pprof printed is in leakdiff's result with the same flat and cum values.
pub fn assert_matches_top(ours: &DiffResult, golden_rel: &str) -> usize {
    let text = std::fs::read_to_string(testdata(golden_rel)).unwrap();
    let rows = parse_top(&text);
    assert!(!rows.is_empty(), "{golden_rel} has no rows");
    let unit = top_unit(&rows);
    let mine = by_name(ours);
    for r in &rows {
        let (flat, cum) = *mine.get(&r.name).unwrap_or_else(|| {
            panic!("{golden_rel}: pprof lists {} but leakdiff does not", r.name)
        });
        assert_pprof_value(
            flat,
            &r.flat,
            &unit,
            &format!("{golden_rel} flat {}", r.name),
        );
        assert_pprof_value(cum, &r.cum, &unit, &format!("{golden_rel} cum {}", r.name));
    }
    rows.len()
}

fn full_diff(a: &str, b: &str, sample: &str) -> DiffResult {
    let (i, base, later) = load_two(a, b);
    let opts = DiffOptions {
        sample: Some(sample.into()),
        ..Default::default()
    };
    diff::diff(&base, &later, &i, &opts).unwrap()
}

#[test]
fn parca_series_first_to_last_equals_pprof_diff_base() {
    let r = full_diff(
        "pprof/pkg__query__testdata__many__1644509272337470000.pb.gz",
        "pprof/pkg__query__testdata__many__1644509299337903000.pb.gz",
        "inuse_space",
    );
    assert_matches_top(
        &r,
        "pprof/many-last-minus-first.golden.pprof-go1.23-top-inuse_space-base.txt",
    );
    // "Showing nodes accounting for 90.38MB ... Showing top 15 nodes out of 61"
    assert_pprof_value(r.totals.delta, "90.38MB", "MB", "total delta");
    assert_eq!(r.rows_changed, 61);
    assert_eq!(r.rows[0].key, "github.com/dgraph-io/badger/v3/skl.newArena");
}

#[test]
fn single_profiles_equal_pprof_top() {
    for (file, golden, sample) in [
        (
            "pprof/pkg__parca__testdata__alloc_objects.pb.gz",
            "pprof/pkg__parca__testdata__alloc_objects.pb.gz.golden.pprof-go1.23-top.txt",
            "alloc_space",
        ),
        (
            "pprof/pkg__query__testdata__alloc_space_delta.pb.gz",
            "pprof/pkg__query__testdata__alloc_space_delta.pb.gz.golden.pprof-go1.23-top-alloc_space.txt",
            "alloc_space",
        ),
        (
            "pprof/pkg__query__testdata__alloc_space_delta.pb.gz",
            "pprof/pkg__query__testdata__alloc_space_delta.pb.gz.golden.pprof-go1.23-top-inuse_space.txt",
            "inuse_space",
        ),
        (
            "pprof/pkg__query__testdata__many__1644509272337470000.pb.gz",
            "pprof/pkg__query__testdata__many__1644509272337470000.pb.gz.golden.pprof-go1.23-top-inuse_space.txt",
            "inuse_space",
        ),
        (
            "pprof/pkg__query__testdata__many__1644509299337903000.pb.gz",
            "pprof/pkg__query__testdata__many__1644509299337903000.pb.gz.golden.pprof-go1.23-top-inuse_space.txt",
            "inuse_space",
        ),
    ] {
        let (i, p) = load(file);
        assert_matches_top(&top(&i, &p, sample), golden);
    }
}

#[test]
fn allocs_profile_default_sample_type_is_honoured() {
    let (_, p) = load("pprof/pkg__parca__testdata__alloc_objects.pb.gz");
    assert_eq!(p.value_types()[p.default_value_index()].kind, "alloc_space");
    assert_eq!(p.meta.default_sample_type.as_deref(), Some("alloc_space"));
}

/// Our own Go program: exact byte values (`-unit=B`), every row pprof lists and no other.
#[test]
fn planted_leaks_equal_pprof_diff_base_to_the_byte() {
    for mode in ["leak", "control"] {
        for sample in ["inuse_space", "alloc_space", "inuse_objects"] {
            let r = full_diff(
                &format!("go/{mode}-base.pb.gz"),
                &format!("go/{mode}-later.pb.gz"),
                sample,
            );
            let golden = format!("go/golden/{mode}.diff.{sample}.top.txt");
            let text = std::fs::read_to_string(testdata(&golden)).unwrap();
            let rows = parse_top(&text);
            let mine = by_name(&r);
            for row in &rows {
                let (flat, cum) = mine[&row.name];
                let num = |s: &str| s.trim_end_matches('B').parse::<i64>().unwrap();
                assert_eq!(flat, num(&row.flat), "{golden} flat {}", row.name);
                assert_eq!(cum, num(&row.cum), "{golden} cum {}", row.name);
            }
            assert_eq!(
                r.rows_changed,
                rows.len(),
                "{golden}: leakdiff and pprof list the same rows"
            );
        }
    }
}

#[test]
fn planted_leaks_lead_and_control_is_quiet() {
    let r = full_diff("go/leak-base.pb.gz", "go/leak-later.pb.gz", "inuse_space");
    assert_eq!(crate::common::top_keys(&r, 3), crate::common::PLANTED);
    let c = full_diff(
        "go/control-base.pb.gz",
        "go/control-later.pb.gz",
        "inuse_space",
    );
    let leaked: i64 = c
        .rows
        .iter()
        .filter(|r| r.key.starts_with("main."))
        .map(|r| r.delta)
        .sum();
    assert!(
        leaked.abs() < 64 << 10,
        "control grew {leaked} bytes in main.*"
    );
}

#[test]
fn single_go_profiles_equal_pprof_top_to_the_byte() {
    for name in ["leak-base", "leak-later", "control-base", "control-later"] {
        let (i, p) = load(&format!("go/{name}.pb.gz"));
        let r = top(&i, &p, "inuse_space");
        assert_matches_top(&r, &format!("go/golden/{name}.inuse_space.top.txt"));
    }
}
