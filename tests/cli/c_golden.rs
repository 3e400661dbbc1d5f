//! Our own C program (testdata/c/leakgen.c) under jemalloc, gperftools and heaptrack: leakdiff's
//! numbers equal jeprof, google-pprof and heaptrack_print on the same files, symbolized from the
//! committed binary.

use std::collections::HashMap;
use std::path::PathBuf;

use leakdiff::diff::{self, DiffOptions, DiffResult};
use leakdiff::formats::heaptrack::{HeaptrackOptions, SliceSpec};
use leakdiff::formats::ReadOptions;
use leakdiff::input::Loader;
use leakdiff::model::{Interner, Profile};
use leakdiff::symbolize::SymbolOptions;

use crate::common::*;

/// The functions of leakgen.c (their numbers do not depend on the machine's libc symbols).
const OURS: [&str; 7] = [
    "cache_session",
    "append_audit",
    "register_listener",
    "lru_put",
    "parse_request",
    "handle_request",
    "main",
];

/// One loader for every test, so each module is read once (as in one leakdiff run).
fn loader() -> &'static Loader {
    static LOADER: std::sync::OnceLock<Loader> = std::sync::OnceLock::new();
    LOADER.get_or_init(|| {
        Loader::new(
            ReadOptions::default(),
            SymbolOptions {
                binaries: vec![testdata("c/leakgen")],
                ..Default::default()
            },
        )
    })
}

fn load_c(rel: &str) -> (Interner, Profile) {
    let mut i = Interner::new();
    let p = loader()
        .load(&testdata(&format!("c/{rel}")), &mut i)
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    (i, p)
}

/// jeprof / google-pprof `--text`: (Total, name → (flat, cum)).
fn parse_jeprof(rel: &str) -> (i64, HashMap<String, (i64, i64)>) {
    let text = std::fs::read_to_string(testdata(&format!("c/golden/{rel}"))).unwrap();
    let mut total = None;
    let mut rows = HashMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("Total: ") {
            total = t.split_whitespace().next().and_then(|n| n.parse().ok());
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 6 {
            continue;
        }
        let (Ok(flat), Ok(cum)) = (parts[0].parse::<i64>(), parts[3].parse::<i64>()) else {
            continue;
        };
        rows.insert(parts[5..].join(" "), (flat, cum));
    }
    (total.unwrap_or(0), rows)
}

/// Asserts our functions' flat and cum values and the total equal the reference's, within
/// `tolerance` (jeprof truncates float sums; leakdiff rounds each stack to an integer).
fn assert_equals_reference(ours: &DiffResult, golden: &str, tolerance: i64) {
    let (total, theirs) = parse_jeprof(golden);
    assert!(!theirs.is_empty(), "{golden}: no rows");
    assert!(
        (ours.totals.delta - total).abs() <= tolerance,
        "{golden}: total {} vs reference {total}",
        ours.totals.delta
    );
    let mine = by_name(ours);
    let mut compared = 0;
    for name in OURS {
        let Some(&(flat, cum)) = theirs.get(name) else {
            continue;
        };
        let &(f, c) = mine
            .get(name)
            .unwrap_or_else(|| panic!("{golden}: reference lists {name}, leakdiff does not"));
        assert!(
            (f - flat).abs() <= tolerance && (c - cum).abs() <= tolerance,
            "{golden} {name}: leakdiff flat {f} cum {c}, reference flat {flat} cum {cum}"
        );
        compared += 1;
    }
    assert!(
        compared >= 3,
        "{golden}: only {compared} functions compared"
    );
}

fn single(file: &str, sample: &str) -> DiffResult {
    let (i, p) = load_c(file);
    let opts = DiffOptions {
        sample: Some(sample.into()),
        ..Default::default()
    };
    diff::diff(&empty_like(&p, &i), &p, &i, &opts).unwrap()
}

fn pair(base: &str, later: &str) -> DiffResult {
    let (i, b, l) = loader()
        .load_pair(
            &testdata(&format!("c/{base}")),
            &testdata(&format!("c/{later}")),
        )
        .unwrap();
    diff::diff(&b, &l, &i, &DiffOptions::default()).unwrap()
}

/// Number of stacks in a file: the most rounding can move a sum.
fn stacks(file: &str) -> i64 {
    let (_, p) = load_c(file);
    p.samples().count() as i64
}

#[test]
fn jemalloc_profiles_equal_jeprof_text() {
    for mode in ["leak", "control"] {
        for kind in ["jemalloc", "jemalloc-exact"] {
            for when in ["base", "later"] {
                let file = format!("{mode}-{kind}-{when}.heap");
                // Sampled files: per-stack rounding. Every allocation recorded: exact.
                let tol = if kind == "jemalloc" { stacks(&file) } else { 0 };
                for sample in ["inuse_space", "inuse_objects"] {
                    assert_equals_reference(
                        &single(&file, sample),
                        &format!("{file}.jeprof.{sample}.txt"),
                        tol,
                    );
                }
            }
        }
    }
    let file = "leak-jemalloc-later.heap";
    assert_equals_reference(
        &single(file, "alloc_space"),
        "leak-jemalloc-later.heap.jeprof.alloc_space.txt",
        stacks(file),
    );
}

#[test]
fn jemalloc_diffs_equal_jeprof_base() {
    for kind in ["leak-jemalloc", "leak-jemalloc-exact", "control-jemalloc"] {
        let base = format!("{kind}-base.heap");
        let tol = if kind.ends_with("exact") {
            0
        } else {
            stacks(&base) + stacks(&format!("{kind}-later.heap"))
        };
        let r = pair(&base, &format!("{kind}-later.heap"));
        let golden = format!("{kind}.diff.jeprof.inuse_space.txt");
        if kind.starts_with("control") {
            // The control's change is sampling noise in a bounded cache.
            let (total, _) = parse_jeprof(&golden);
            assert!((r.totals.delta - total).abs() <= tol);
            assert!(r.totals.delta.abs() < 100_000, "{}", r.totals.delta);
        } else {
            assert_equals_reference(&r, &golden, tol);
            assert_eq!(
                top_keys(&r, 3),
                ["cache_session", "append_audit", "register_listener"]
            );
        }
    }
    // Every allocation recorded: the control does not change at all, as jeprof says (no rows).
    let r = pair(
        "control-jemalloc-exact-base.heap",
        "control-jemalloc-exact-later.heap",
    );
    assert_eq!(r.totals.delta, 0);
    assert!(std::fs::read_to_string(testdata(
        "c/golden/control-jemalloc-exact.diff.jeprof.inuse_space.txt"
    ))
    .unwrap()
    .trim()
    .is_empty());
}

#[test]
fn gperftools_profiles_equal_google_pprof_text() {
    for mode in ["leak", "control"] {
        for when in ["base", "later"] {
            let file = format!("{mode}-gperftools-{when}.heap");
            for sample in ["inuse_space", "inuse_objects"] {
                assert_equals_reference(
                    &single(&file, sample),
                    &format!("{file}.google-pprof.{sample}.txt"),
                    0,
                );
            }
        }
    }
    let r = pair("leak-gperftools-base.heap", "leak-gperftools-later.heap");
    assert_equals_reference(&r, "leak-gperftools.diff.google-pprof.inuse_space.txt", 0);
    let r = pair(
        "control-gperftools-base.heap",
        "control-gperftools-later.heap",
    );
    assert_eq!(r.totals.delta, 0);
}

/// heaptrack_print's `-l 1` section: `SIZE leaked over N calls from` then the function; one entry
/// per allocation site, so a function with two sites has two (a list of sizes).
fn heaptrack_leaks(rel: &str) -> HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(testdata(&format!("c/golden/{rel}"))).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = HashMap::new();
    for w in lines.windows(2) {
        if let Some(size) = w[0].strip_suffix(" calls from") {
            if let Some((size, _)) = size.split_once(" leaked over ") {
                out.entry(w[1].trim().to_string())
                    .or_insert_with(Vec::new)
                    .push(size.to_string());
            }
        }
    }
    out
}

fn ht(v: i64) -> String {
    let a = v.unsigned_abs() as f64;
    for (unit, div) in [("G", 1e9), ("M", 1e6), ("K", 1e3)] {
        if a >= div {
            return format!("{:.2}{unit}", a / div);
        }
    }
    format!("{v}B")
}

#[test]
fn heaptrack_recordings_equal_heaptrack_print() {
    for mode in ["leak", "control"] {
        let file = format!("{mode}.heaptrack.zst");
        let leaks = heaptrack_leaks(&format!("{file}.heaptrack_print.txt"));
        // Per site (function and line), as heaptrack_print lists them.
        let (i, p) = load_c(&file);
        let opts = DiffOptions {
            sample: Some("inuse_space".into()),
            by: leakdiff::diff::Granularity::Line,
            ..Default::default()
        };
        let r = diff::diff(&empty_like(&p, &i), &p, &i, &opts).unwrap();
        let mut compared = 0;
        for name in OURS {
            let Some(sizes) = leaks.get(name) else {
                continue;
            };
            let mut mine: Vec<String> = r
                .rows
                .iter()
                .filter(|row| row.key.split(' ').next() == Some(name) && row.delta != 0)
                .map(|row| ht(row.delta))
                .collect();
            let mut sizes = sizes.clone();
            mine.sort();
            sizes.sort();
            assert_eq!(mine, sizes, "{file} {name}");
            compared += 1;
        }
        let expect = if mode == "leak" { 4 } else { 1 };
        assert_eq!(compared, expect, "{file}: {leaks:?}");
    }
    let r = pair("leak.heaptrack.zst", "leak.heaptrack.zst");
    assert_eq!(r.totals.delta, 0);
}

#[test]
fn the_same_leak_leads_in_every_allocator() {
    for (base, later) in [
        ("leak-jemalloc-base.heap", "leak-jemalloc-later.heap"),
        ("leak-gperftools-base.heap", "leak-gperftools-later.heap"),
    ] {
        assert_eq!(top_keys(&pair(base, later), 1), ["cache_session"], "{base}");
    }
    let r = single("leak.heaptrack.zst", "inuse_space");
    assert_eq!(top_keys(&r, 1), ["cache_session"]);
}

#[test]
fn missing_binary_leaves_module_offsets_and_one_warning() {
    let l = Loader::new(
        ReadOptions::default(),
        SymbolOptions {
            binaries: vec![PathBuf::from("/nonexistent/leakgen")],
            dirs: vec![PathBuf::from("/nonexistent")],
            ..Default::default()
        },
    );
    let mut i = Interner::new();
    let p = l
        .load(&testdata("c/leak-jemalloc-later.heap"), &mut i)
        .unwrap();
    let w = l.symbolizer.warning().expect("a warning");
    assert!(w.contains("./leakgen (not found)"), "{w}");
    let r = diff::diff(&empty_like(&p, &i), &p, &i, &DiffOptions::default()).unwrap();
    assert!(r.rows[0].key.starts_with("leakgen+0x"), "{}", r.rows[0].key);
}

/// `heaptrack_print -M` (massif): (time in ms, heap bytes) at every timestamp of the recording.
fn massif(rel: &str) -> Vec<(i64, i64)> {
    let text = std::fs::read_to_string(testdata(&format!("c/golden/{rel}"))).unwrap();
    let mut out = Vec::new();
    let mut time = None;
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("time=") {
            time = t.parse::<f64>().ok().map(|s| (s * 1000.0).round() as i64);
        } else if let Some(b) = line.strip_prefix("mem_heap_B=") {
            let t = time.take().unwrap();
            // Two timestamps in the same millisecond: the later snapshot holds at that time.
            if out.last().is_some_and(|&(last, _)| last == t) {
                out.pop();
            }
            out.push((t, b.parse().unwrap()));
        }
    }
    out
}

fn read_slices(file: &str, spec: SliceSpec, builtin: bool) -> Vec<Profile> {
    let opts = ReadOptions {
        heaptrack: HeaptrackOptions {
            timeline: true,
            builtin_suppressions: builtin,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut i = Interner::new();
    leakdiff::input::decode_path(&testdata(&format!("c/{file}")), &opts)
        .unwrap()
        .into_slices(spec, &mut i, None)
        .unwrap()
}

fn inuse(p: &Profile) -> i64 {
    p.total(p.value_index("inuse_space").unwrap())
}

#[test]
fn slices_equal_heaptracks_own_time_series() {
    for mode in ["leak", "control"] {
        let file = format!("{mode}.heaptrack.zst");
        // One slice per millisecond: every massif snapshot time is a boundary.
        let slices = read_slices(&file, SliceSpec::EveryMs(1), false);
        let series = massif(&format!("{file}.massif"));
        assert!(series.len() > 20, "{file}: {} snapshots", series.len());
        for (t, heap) in series {
            let at = (t as usize).clamp(1, slices.len()) - 1;
            assert_eq!(inuse(&slices[at]), heap, "{file} at {t} ms");
        }
    }
}

#[test]
fn slices_show_the_leak_growing_and_the_control_flat() {
    let leak = read_slices("leak.heaptrack.zst", SliceSpec::Count(5), true);
    assert_eq!(leak.len(), 5);
    let totals: Vec<i64> = leak.iter().map(inuse).collect();
    assert!(totals.windows(2).all(|w| w[1] >= w[0]), "{totals:?}");
    assert!(totals[4] > 10 * totals[0], "{totals:?}");
    // The last slice is the recording's end: what it leaked.
    let (_, whole) = load_c("leak.heaptrack.zst");
    assert_eq!(*totals.last().unwrap(), inuse(&whole));
    let control = read_slices("control.heaptrack.zst", SliceSpec::Count(5), true);
    assert!(control.iter().all(|p| inuse(p) < 300_000));
    assert_eq!(
        SliceSpec::EveryMs(100).boundaries(427),
        vec![100, 200, 300, 400, 427]
    );
    assert_eq!(
        SliceSpec::Count(4).boundaries(400),
        vec![100, 200, 300, 400]
    );
}

#[test]
fn slice_command_writes_pprof_snapshots_and_diff_takes_one_recording() {
    let dir = tempfile::tempdir().unwrap();
    let rec = testdata("c/leak.heaptrack.zst");
    crate::common::leakdiff_cmd()
        .args(["slice", "--slices", "3", "-o"])
        .arg(dir.path())
        .arg(&rec)
        .assert()
        .success();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "leak.heaptrack.slice-001.pb.gz",
            "leak.heaptrack.slice-002.pb.gz",
            "leak.heaptrack.slice-003.pb.gz"
        ]
    );
    let out = crate::common::leakdiff_cmd()
        .args(["--format", "json"])
        .arg(dir.path().join(&names[0]))
        .arg(dir.path().join(&names[2]))
        .output()
        .unwrap();
    let from_files: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = crate::common::leakdiff_cmd()
        .args(["--format", "json", "--slices", "3"])
        .arg(&rec)
        .output()
        .unwrap();
    let direct: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_files["totals"], direct["totals"]);
    assert_eq!(direct["rows"][0]["key"], "cache_session");
    // A profile without timestamps, or two inputs, cannot be sliced.
    let err = crate::common::leakdiff_cmd()
        .args(["--slices", "3"])
        .arg(testdata("c/leak-jemalloc-base.heap"))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&err.get_output().stderr).into_owned();
    assert!(stderr.contains("only heaptrack recordings"), "{stderr}");
    crate::common::leakdiff_cmd()
        .args(["--slices", "3"])
        .arg(&rec)
        .arg(&rec)
        .assert()
        .code(2);
}
