//! heaptrack recordings: leakdiff's totals equal heaptrack_print 1.4.0 (and upstream's own
//! tst_parser expectations) on heaptrack's public test files.

use leakdiff::formats::heaptrack::{suppress, HeaptrackOptions, Summary};
use leakdiff::formats::ReadOptions;
use leakdiff::input::decode_path;

use crate::common::testdata;

fn summary(file: &str, heaptrack: HeaptrackOptions) -> Summary {
    let opts = ReadOptions {
        heaptrack,
        ..Default::default()
    };
    let d = decode_path(&testdata(&format!("heaptrack/{file}")), &opts).unwrap();
    d.heaptrack_summary().unwrap().clone()
}

/// heaptrack_print's byte formatting: 1000-based K/M/G with two decimals.
fn ht(v: i64) -> String {
    let a = v.unsigned_abs() as f64;
    let sign = if v < 0 { "-" } else { "" };
    for (unit, div) in [("G", 1e9), ("M", 1e6), ("K", 1e3)] {
        if a >= div {
            return format!("{sign}{:.2}{unit}", a / div);
        }
    }
    format!("{v}B")
}

fn golden_line(file: &str, prefix: &str) -> String {
    let text = std::fs::read_to_string(testdata(&format!("heaptrack/{file}"))).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("{file}: no `{prefix}`"));
    line[prefix.len()..]
        .trim()
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn david_with_suppression_file_equals_upstream_numbers() {
    let text =
        std::fs::read_to_string(testdata("heaptrack/tests__auto__suppressions.txt")).unwrap();
    let (patterns, invalid) = suppress::parse_file(&text);
    assert_eq!(invalid, ["this line is invalid"]);
    let s = summary(
        "tests__auto__heaptrack.david.18594.gz",
        HeaptrackOptions {
            suppressions: patterns,
            ..Default::default()
        },
    );
    assert_eq!(s.allocations, 2896);
    assert_eq!(s.temporary, 729);
    assert_eq!(s.leaked_bytes, 0);
    assert_eq!(s.peak_bytes, 996970);
    assert_eq!(s.suppressed_leaked_bytes, 30463);
    assert_eq!(s.total_time_ms, 80);
    assert_eq!(s.peak_rss_bytes, 76042240);
    assert_eq!(s.total_system_memory_bytes, 16715239424);
    assert_eq!(s.debuggee, "./david");
    assert_eq!(s.file_version, 2);
}

#[test]
fn david_with_builtin_suppressions_equals_heaptrack_print() {
    let s = summary(
        "tests__auto__heaptrack.david.18594.gz",
        HeaptrackOptions::default(),
    );
    let g = "tests__auto__heaptrack.david.18594.gz.golden.heaptrack_print-1.4.0.txt";
    assert_eq!(ht(s.leaked_bytes), golden_line(g, "total memory leaked:"));
    assert_eq!(
        ht(s.suppressed_leaked_bytes),
        golden_line(g, "suppressed leaks:")
    );
    assert_eq!(
        ht(s.peak_bytes),
        golden_line(g, "peak heap memory consumption:")
    );
    assert_eq!(s.leaked_bytes + s.suppressed_leaked_bytes, 30463);
}

#[test]
fn embedded_suppressions_are_honoured_and_can_be_disabled() {
    let f = "tests__auto__heaptrack.embedded_lsan_suppressions.84207.zst";
    let s = summary(f, HeaptrackOptions::default());
    assert_eq!(
        (s.allocations, s.temporary, s.leaked_bytes, s.peak_bytes),
        (5, 0, 5, 72714)
    );
    assert_eq!(s.suppressed_leaked_bytes, 5);
    assert_eq!(s.total_system_memory_bytes, 33643876352);
    let off = summary(
        f,
        HeaptrackOptions {
            embedded_suppressions: false,
            ..Default::default()
        },
    );
    assert_eq!((off.leaked_bytes, off.suppressed_leaked_bytes), (10, 0));
}

#[test]
fn heaptrack_gui_recordings_equal_upstream_numbers() {
    let no_builtin = || HeaptrackOptions {
        builtin_suppressions: false,
        ..Default::default()
    };
    for (file, allocations, temporary, leaked, peak) in [
        (
            "tests__auto__heaptrack.heaptrack_gui.99454.zst",
            278534,
            35481,
            1047379,
            12222213,
        ),
        (
            "tests__auto__heaptrack.heaptrack_gui.99529.zst",
            315255,
            40771,
            1046377,
            64840134,
        ),
    ] {
        let s = summary(file, no_builtin());
        assert_eq!(
            (s.allocations, s.temporary, s.leaked_bytes, s.peak_bytes),
            (allocations, temporary, leaked, peak),
            "{file}"
        );
        let g = format!("{file}.golden.heaptrack_print-1.4.0.summary.txt");
        assert_eq!(
            ht(s.peak_rss_bytes),
            golden_line(&g, "peak RSS (including heaptrack overhead):")
        );
        assert_eq!(
            format!("{:.6}s.", s.total_time_ms as f64 / 1000.0),
            golden_line(&g, "total runtime:")
        );
    }
}

#[test]
fn diff_of_two_recordings_equals_heaptrack_print_diff() {
    use leakdiff::diff::{diff, DiffOptions};
    let (i, base, later) = crate::common::load_two(
        "heaptrack/tests__auto__heaptrack.heaptrack_gui.99454.zst",
        "heaptrack/tests__auto__heaptrack.heaptrack_gui.99529.zst",
    );
    let g = "diff-99529-vs-99454.golden.heaptrack_print-1.4.0.summary.txt";
    let leaked = diff(&base, &later, &i, &DiffOptions::default()).unwrap();
    assert_eq!(
        ht(leaked.totals.delta),
        golden_line(g, "total memory leaked:")
    );
    let calls = diff(
        &base,
        &later,
        &i,
        &DiffOptions {
            sample: Some("alloc_objects".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(calls.totals.delta, 36721);
    let temp = diff(
        &base,
        &later,
        &i,
        &DiffOptions {
            sample: Some("temporary_objects".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(temp.totals.delta, 5290);
}

#[test]
fn raw_recording_is_a_clear_error() {
    let opts = ReadOptions::default();
    let err = decode_path(
        &testdata("heaptrack/tests__auto__test_sysroot__heaptrack.test_sysroot.raw"),
        &opts,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("raw heaptrack recording"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn truncated_and_garbled_recordings_never_panic() {
    use leakdiff::formats::heaptrack::read;
    let raw = std::fs::read(testdata("heaptrack/tests__auto__heaptrack.david.18594.gz")).unwrap();
    let text = leakdiff::formats::decompress::decompress(
        raw,
        "d",
        1 << 30,
        leakdiff::formats::decompress::Payload::Streamed,
    )
    .unwrap()
    .bytes;
    // A process killed mid-run leaves a file that simply ends: read what is there.
    let cut = &text[..text.len() / 2];
    let rec = read(cut, "cut", &HeaptrackOptions::default()).unwrap();
    assert!(rec.summary().allocations > 0 && rec.summary().allocations < 2896);
    // Garbage lines are counted, not fatal; indices past the tables are skipped.
    let mut bad = b"v 10000 2\n".to_vec();
    bad.extend_from_slice(b"+ ffffffffffffffff\n- 5\nt 99 99\na 10 zz\ni\nQ what\n+\n");
    let rec = read(&bad[..], "bad", &HeaptrackOptions::default()).unwrap();
    assert_eq!(rec.summary().allocations, 0);
    let p = rec
        .into_profile("bad", &mut leakdiff::model::Interner::new())
        .unwrap();
    assert!(
        p.meta.warnings.iter().any(|w| w.contains("malformed line")),
        "{:?}",
        p.meta.warnings
    );
}
