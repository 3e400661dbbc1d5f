//! The bug fixes of the one-house layout: one goroutine naming rule (no two callers of
//! `time.Sleep` on one key), `goroutines DIR` and `report --input DIR` agreeing, the folder rules
//! (a file that is no profile is left out with a note; a broken profile fails the run and the
//! rest is still analysed), a saved store enough for flamegraphs and the pprof export, and the
//! shared input flags on `check`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::common::{run, testdata};

fn json(text: &str, err: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {err}"))
}

/// A debug=2 dump: `a` goroutines sleeping under `main.sleeperA`, `b` under `main.sleeperB`,
/// both parked in `time.Sleep`.
fn sleepers(a: usize, b: usize) -> String {
    let mut s = String::from("goroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1d\n\n");
    let mut id = 10;
    for (n, f, line) in [(a, "main.sleeperA", 20), (b, "main.sleeperB", 30)] {
        for _ in 0..n {
            s += &format!(
                "goroutine {id} [sleep]:\ntime.Sleep(0x3b9aca00)\n\t/usr/lib/go/src/runtime/time.go:195 +0x125\n{f}()\n\t/src/main.go:{line} +0x25\ncreated by main.main in goroutine 1\n\t/src/main.go:12 +0x2a\n\n"
            );
            id += 1;
        }
    }
    s
}

fn leaking_groups(dir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let d = dir.to_str().unwrap();
    let (_, out, err) = run(&["goroutines", d, "-f", "json"]);
    let g = json(&out, &err);
    let from_goroutines = g["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["leak"] == true)
        .map(|g| g["function"].as_str().unwrap().to_string())
        .collect();
    let (_, out, err) = run(&[
        "report",
        "--no-progress",
        "-f",
        "json",
        "--top",
        "0",
        "-i",
        d,
    ]);
    let r = json(&out, &err);
    let from_report = r["goroutines"]["suspects"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| s["key"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    (from_goroutines, from_report)
}

#[test]
fn goroutines_parked_in_one_std_function_keep_their_own_callers() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..6 {
        std::fs::write(
            dir.path().join(format!("g-{k:02}.txt")),
            sleepers(4 + 4 * k, 5),
        )
        .unwrap();
    }
    let d = dir.path().to_str().unwrap();
    // The store's keys: one per caller, not one for `time.Sleep` named after whichever came first.
    let (c, out, err) = run(&["export", "-i", d, "-f", "json"]);
    assert_eq!(c, 0, "{err}");
    let v = json(&out, &err);
    let keys: BTreeSet<&str> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains("main.sleeperA") && keys.contains("main.sleeperB"),
        "{keys:?}"
    );
    let (g, r) = leaking_groups(dir.path());
    assert_eq!(g, BTreeSet::from(["main.sleeperA".to_string()]));
    assert_eq!(r, g);
}

#[test]
fn goroutines_and_report_find_the_same_leaking_groups() {
    let sim = tempfile::tempdir().unwrap();
    let mut dirs = vec![
        testdata("go/series/leak"),
        testdata("go/series/control"),
        testdata("collect/series"),
        testdata("go/go1.23"),
    ];
    for (form, seed) in [("pprof", "3"), ("debug2", "4")] {
        let out = sim.path().join(form);
        let (c, _, err) = run(&[
            "simulate",
            "--type",
            "goroutine",
            "--goroutine-format",
            form,
            "--seed",
            seed,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(c, 0, "{err}");
        dirs.push(out);
    }
    let mut leaks = 0;
    for d in &dirs {
        let (g, r) = leaking_groups(d);
        assert_eq!(g, r, "{}", d.display());
        leaks += g.len();
    }
    assert!(leaks >= 4, "{leaks}");
}

#[test]
fn a_file_that_is_no_profile_is_left_out_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(testdata("go/series/leak")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.path().join("run.jsonl"),
        "{\"round\":1,\"ok\":true}\n{\"round\":2,\"ok\":true}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("NOTES"), "collected by hand on Tuesday\n").unwrap();
    // What else sits beside profiles: the program, a script, notes in UTF-8.
    std::fs::copy(testdata("c/leakgen"), dir.path().join("leakgen")).unwrap();
    std::fs::copy(testdata("c/scrub.py"), dir.path().join("scrub.py")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "memory grew → 2 GiB\n").unwrap();
    let d = dir.path().to_str().unwrap();
    for cmd in [
        vec!["report", "--no-progress", "-f", "json", "-i", d],
        vec!["goroutines", d, "-f", "json"],
        vec!["export", "-i", d, "-f", "csv"],
    ] {
        let (c, _, err) = run(&cmd);
        assert_eq!(c, 0, "{cmd:?}: {err}");
        assert_eq!(err.matches("run.jsonl").count(), 1, "{cmd:?}: {err}");
        assert_eq!(err.matches("NOTES").count(), 1, "{cmd:?}: {err}");
        assert!(err.contains("left out"), "{err}");
        for (name, what) in [
            ("leakgen", "an ELF executable"),
            ("scrub.py", "a script"),
            ("notes.txt", "UTF-8 text"),
        ] {
            let line: Vec<&str> = err.lines().filter(|l| l.contains(name)).collect();
            assert_eq!(line.len(), 1, "{cmd:?}: {err}");
            assert!(
                line[0].contains("left out") && line[0].contains(what),
                "{cmd:?}: {}",
                line[0]
            );
        }
    }
    // Named on its own, the same file is an error: one line, exit 2.
    let log = dir.path().join("run.jsonl");
    let (c, _, err) = run(&["report", "-i", log.to_str().unwrap()]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("not a profile"), "{err}");
    let later = testdata("go/leak-later.pb.gz");
    for (file, what) in [
        ("leakgen", "it looks like an ELF executable"),
        ("notes.txt", "it looks like UTF-8 text"),
    ] {
        let f = dir.path().join(file);
        let (c, _, err) = run(&[f.to_str().unwrap(), later.to_str().unwrap()]);
        assert_eq!(c, 2, "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("{file}: not a profile: {what}")),
            "{err}"
        );
        assert!(!err.contains("malformed"), "{err}");
    }
}

#[test]
fn a_broken_profile_fails_the_run_and_the_rest_is_still_analysed() {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(testdata("go/series/leak")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    let good = std::fs::read(testdata("go/series/leak/heap-006.pb.gz")).unwrap();
    std::fs::write(dir.path().join("heap-099.pb.gz"), &good[..good.len() / 2]).unwrap();
    let d = dir.path().to_str().unwrap();
    let (c, out, err) = run(&["report", "--no-progress", "-f", "json", "-i", d]);
    assert_eq!(c, 2, "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("heap-099")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("gzip"), "{}", lines[0]);
    let r = json(&out, &err);
    assert_eq!(r["failures"].as_array().unwrap().len(), 1);
    assert!(!r["suspects"].as_array().unwrap().is_empty(), "{r}");
}

#[test]
fn a_saved_store_alone_draws_flamegraphs_and_exports_pprof() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("series");
    std::fs::create_dir(&copy).unwrap();
    for f in std::fs::read_dir(testdata("collect/series")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
    }
    let store = dir.path().join("store.parquet");
    let from_files = dir.path().join("files.pb.gz");
    let (c, _, err) = run(&[
        "export",
        "-i",
        copy.to_str().unwrap(),
        "-f",
        "pprof",
        "-o",
        from_files.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let (c, _, err) = run(&[
        "report",
        "--no-progress",
        "-i",
        copy.to_str().unwrap(),
        "--save",
        store.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    // The snapshot files are gone: the store must hold what the outputs need.
    std::fs::remove_dir_all(&copy).unwrap();
    let html = dir.path().join("r.html");
    let (c, _, err) = run(&[
        "report",
        "-i",
        store.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("first → last snapshot"), "no diff flamegraph");
    assert!(page.contains("latest snapshot"), "no latest flamegraph");
    assert!(!page.contains("flamegraphs not drawn"));
    let from_store = dir.path().join("store.pb.gz");
    let (c, _, err) = run(&[
        "export",
        "-i",
        store.to_str().unwrap(),
        "-f",
        "pprof",
        "-o",
        from_store.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    // The same diff, stack for stack, as the one made from the files.
    let (c, b, err) = run(&[
        from_files.to_str().unwrap(),
        from_store.to_str().unwrap(),
        "--by",
        "stack",
        "-f",
        "json",
    ]);
    assert_eq!(c, 0, "{err}");
    let v = json(&b, &err);
    assert_ne!(v["later"]["total"], 0, "{b}");
    assert_eq!(v["totals"]["delta"], 0, "{b}");
    assert_eq!(v["rows_changed"], 0, "{b}");
}

#[test]
fn check_takes_the_input_flags_and_names_symbols() {
    let (c, out, err) = run(&[
        "check",
        "testdata/c/leak-jemalloc-base.heap",
        "testdata/c/leak-jemalloc-later.heap",
        "--binary",
        "testdata/c/leakgen",
    ]);
    assert_eq!(c, 1, "{err}");
    assert!(out.contains("cache_session"), "{out}");
    assert!(!out.contains("leakgen+0x"), "{out}");
}
