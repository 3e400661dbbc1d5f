//! Go 1.27 (testdata/go/go1.27, made by testdata/go/generate-go127.sh with Go 1.27.3): goroutine
//! labels and `(leaked)`/`(durable)` marks in debug=2 headers, the goroutineleak profile in its
//! three forms as proof of a leak, heap dumps whose stacks start in the allocator, and leakdiff's
//! numbers against Go 1.27's own `go tool pprof`.

use std::collections::BTreeSet;

use leakdiff::diff::{self, DiffOptions};
use leakdiff::model::LabelValue;
use serde_json::Value;

use crate::common::*;
use crate::pprof_golden::assert_matches_top;

const D: &str = "go/go1.27";

/// The groups Go 1.27's leak detector reports for the leak mode (reachable from no global); the
/// planted `main.lockedOut` (a global mutex) and `main.globalWorker` (a global channel) it cannot.
const PROVEN: [&str; 10] = [
    "main.blockedReceiver",
    "main.blockedSender",
    "main.heapLocked",
    "main.itemsCondWait",
    "main.itemsReader",
    "main.nilReceiver",
    "main.stuckSelect",
    "main.uploadIdle",
    "main.uploadReceiver",
    "main.waitForever",
];

fn t(f: &str) -> String {
    format!("testdata/{D}/{f}")
}

fn goroutines_json(files: &[&str]) -> Value {
    let mut args = vec!["goroutines".to_string()];
    args.extend(files.iter().map(|f| t(f)));
    args.extend(["-f".into(), "json".into()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (c, out, err) = run(&a);
    assert!(c == 0 || c == 1, "{err}");
    assert!(!err.contains("warning"), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"))
}

fn proven(v: &Value) -> BTreeSet<String> {
    v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["proven_by"] == "go runtime goroutineleak")
        .map(|g| g["function"].as_str().unwrap().to_string())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn labelled_headers_are_read_and_every_form_counts_the_same() {
    for s in ["base", "mid", "later"] {
        let d2 = goroutines_json(&[&format!("leak-goroutines-{s}.debug2.txt")]);
        let d1 = goroutines_json(&[&format!("leak-goroutines-{s}.debug1.txt")]);
        let pb = goroutines_json(&[&format!("leak-goroutines-{s}.pb.gz")]);
        let total = |v: &Value| v["totals"][0].as_f64().unwrap();
        // debug=1 says `goroutine profile: total N`: every goroutine of debug=2 is read.
        let first =
            std::fs::read_to_string(testdata(&format!("{D}/leak-goroutines-{s}.debug1.txt")))
                .unwrap();
        let n: f64 = first.lines().next().unwrap()["goroutine profile: total ".len()..]
            .parse()
            .unwrap();
        assert_eq!(total(&d2), n, "{s}");
        assert_eq!(total(&d1), n, "{s}");
        assert_eq!(total(&pb), n, "{s}");
    }
    // Labels are labels on the samples, in debug=2 as in debug=1 and the protobuf.
    for f in [
        "leak-goroutines-later.debug2.txt",
        "leak-goroutines-later.debug1.txt",
        "leak-goroutines-later.pb.gz",
    ] {
        let (i, p) = load(&format!("{D}/{f}"));
        let (k_handler, k_route) = (i.find_str("handler"), i.find_str("route"));
        let mut upload = 0;
        let mut route = 0;
        for s in p.samples() {
            for l in s.labels {
                if let LabelValue::Str(v) = l.value {
                    if Some(l.key) == k_handler && i.str(v) == "upload" {
                        upload += s.values[0];
                    }
                    if Some(l.key) == k_route && i.str(v) == "/v1/items: get" {
                        route += s.values[0];
                    }
                }
            }
        }
        assert_eq!((upload, route), (15, 9), "{f}");
    }
}

#[test]
fn synctest_bubbles_and_durable_blocks_are_read() {
    let (i, p) = load(&format!("{D}/synctest-goroutines.debug2.txt"));
    assert!(p.meta.warnings.is_empty(), "{:?}", p.meta.warnings);
    let k = i.find_str("durable").unwrap();
    let durable = p
        .samples()
        .filter(|s| s.labels.iter().any(|l| l.key == k))
        .count();
    assert!(durable >= 7, "{durable}");
    let bubble = i.find_str("synctest_bubble").unwrap();
    assert!(p
        .samples()
        .any(|s| s.labels.iter().any(|l| l.key == bubble)));
}

#[test]
fn the_goroutineleak_profile_proves_leaks_in_every_form() {
    for f in [
        "leak-goroutineleak.pb.gz",
        "leak-goroutineleak.debug1.txt",
        "leak-goroutineleak.debug2.txt",
        "leak-goroutines-after-leakcheck.debug2.txt",
    ] {
        let v = goroutines_json(&[f]);
        assert_eq!(proven(&v), set(&PROVEN), "{f}");
        assert_eq!(v["leak_check"], true, "{f}");
    }
    for f in [
        "control-goroutineleak.pb.gz",
        "control-goroutineleak.debug1.txt",
        "control-goroutineleak.debug2.txt",
        "control-goroutines-after-leakcheck.debug2.txt",
    ] {
        let (c, out, err) = run(&["goroutines", &t(f), "-f", "json"]);
        if f == "control-goroutineleak.debug1.txt" {
            // `goroutineleak profile: total 0` has no goroutine: a clear error, not a pass.
            assert_eq!(c, 2, "{err}");
            continue;
        }
        assert_eq!(c, 0, "{f}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert!(proven(&v).is_empty(), "{f}");
    }
}

/// A folder of Go 1.27's three leak goroutine profiles and its goroutineleak profile.
fn leak_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "leak-goroutines-base.pb.gz",
        "leak-goroutines-mid.pb.gz",
        "leak-goroutines-later.pb.gz",
        "leak-goroutineleak.pb.gz",
    ] {
        std::fs::copy(testdata(&format!("{D}/{f}")), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn report_and_check_show_proven_and_trending_side_by_side() {
    let dir = leak_folder();
    let d = dir.path().to_str().unwrap();
    let (c, out, err) = run(&[
        "report",
        "--no-progress",
        "-f",
        "json",
        "--top",
        "0",
        "-i",
        d,
    ]);
    assert_eq!(c, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let g = &r["goroutines"];
    assert_eq!(g["leak_check"], true);
    // The leak profile proves; it is no point of the series.
    assert_eq!(g["snapshots"].as_array().unwrap().len(), 3);
    let proven_in_report: BTreeSet<String> = g["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["proven_by"] == "go runtime goroutineleak")
        .map(|s| s["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(proven_in_report, set(&PROVEN));
    let mut trending: Vec<&str> = g["trending_not_proven"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    trending.sort();
    assert_eq!(trending, ["main.globalWorker", "main.lockedOut"]);
    // goroutines on the same folder says the same.
    let (_, out, _) = run(&["goroutines", d, "-f", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(proven(&v), set(&PROVEN));
    // check fails on a proven leak even where the severity limit would let it pass.
    let toml = dir.path().join("leakdiff.toml");
    std::fs::write(&toml, "[default]\nfail_on_severity = \"critical\"\n").unwrap();
    let (c, out, _) = run(&["check", "-i", d, "--config", toml.to_str().unwrap()]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("proven leaked"), "{out}");
    std::fs::write(
        &toml,
        "[default]\nfail_on_severity = \"critical\"\nfail_on_proven_goroutine_leak = false\n",
    )
    .unwrap();
    let (_, out, _) = run(&["check", "-i", d, "--config", toml.to_str().unwrap()]);
    assert!(!out.contains("proven leaked"), "{out}");
}

#[test]
fn heap_dumps_name_the_program_not_the_allocator() {
    for f in ["go1.27.3.dump.gz", "go1.27.3-grow-2.dump.gz"] {
        let (c, out, err) = run(&["retained", &t(f), "--top", "0", "-f", "json"]);
        assert_eq!(c, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        for r in v["retainers"].as_array().unwrap() {
            let site = r["name"].as_str().unwrap();
            assert!(!site.starts_with("runtime.mallocgc"), "{f}: {site}");
            assert!(
                !leakdiff::formats::allocators::is_allocator_function(
                    site.split(' ').next().unwrap()
                ),
                "{f}: {site}"
            );
        }
    }
    // The dump diff of one process names the program's functions.
    let (c, out, err) = run(&[
        &t("go1.27.3-grow-1.dump.gz"),
        &t("go1.27.3-grow-2.dump.gz"),
        "-f",
        "json",
    ]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let top = v["rows"][0]["key"].as_str().unwrap();
    assert!(top.starts_with("main."), "{top}");
}

#[test]
fn goroutine_stacks_in_heap_profiles_are_named_runtime_malg() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["leak-base.pb.gz", "leak-later.pb.gz"] {
        std::fs::copy(testdata(&format!("{D}/{f}")), dir.path().join(f)).unwrap();
    }
    let (c, out, err) = run(&["export", "-i", dir.path().to_str().unwrap(), "-f", "json"]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&str> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"runtime.malg"), "{keys:?}");
    assert!(
        !keys.iter().any(|k| k.starts_with("runtime.mallocgc")),
        "{keys:?}"
    );
    let advice = leakdiff::trend::remediation(
        &["runtime.malg", "runtime.newproc1"],
        leakdiff::trend::Pattern::Linear,
    );
    assert!(advice.contains("goroutine section"), "{advice}");
}

#[test]
fn heap_and_goroutine_numbers_equal_go_1_27_pprof() {
    for (a, b, golden, sample) in [
        (
            "leak-base.pb.gz",
            "leak-later.pb.gz",
            "leak.diff.inuse_space.top.txt",
            "inuse_space",
        ),
        (
            "leak-base.pb.gz",
            "leak-later.pb.gz",
            "leak.diff.alloc_space.top.txt",
            "alloc_space",
        ),
        (
            "control-base.pb.gz",
            "control-later.pb.gz",
            "control.diff.inuse_space.top.txt",
            "inuse_space",
        ),
        (
            "leak-goroutines-base.pb.gz",
            "leak-goroutines-later.pb.gz",
            "leak-goroutines.diff.top.txt",
            "goroutine",
        ),
    ] {
        let (i, base, later) = load_two(&format!("{D}/{a}"), &format!("{D}/{b}"));
        let opts = DiffOptions {
            sample: Some(sample.into()),
            ..Default::default()
        };
        let r = diff::diff(&base, &later, &i, &opts).unwrap();
        let rows = assert_matches_top(&r, &format!("{D}/{golden}"));
        assert!(rows >= 3, "{golden}: {rows}");
    }
    for f in [
        "leak-later.pb.gz",
        "leak-goroutineleak.pb.gz",
        "leak-later.allocs.pb.gz",
        "control-base.allocs.pb.gz",
    ] {
        let (i, p) = load(&format!("{D}/{f}"));
        // The allocs profile names alloc_space as its default, as pprof takes it.
        let sample = p.value_types()[p.default_value_index()].kind.clone();
        if f.contains("allocs") {
            assert_eq!(sample, "alloc_space");
        }
        assert_matches_top(&top(&i, &p, &sample), &format!("{D}/{f}.top.txt"));
    }
}

#[test]
fn unreadable_headers_are_counted_and_mostly_unreadable_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = "goroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1d\n\n";
    let bad = "goroutine 7 [chan receive {broken: }:\nmain.w()\n\t/src/main.go:20 +0x1\n\n";
    let labels = "goroutine 8 [select] {a: \"x, y\", \"b:c\": \"say \\\"hi\\\"\"}:\nmain.s()\n\t/src/main.go:30 +0x1\n\n";
    let some = dir.path().join("some.txt");
    std::fs::write(&some, format!("{good}{good}{labels}{bad}")).unwrap();
    let (c, out, err) = run(&["goroutines", some.to_str().unwrap(), "-f", "json"]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(err.matches("left out").count(), 1, "{err}");
    assert!(err.contains("line 13"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["totals"][0], 3.0);
    let (i, p) = leakdiff::input::load_pair(&some, &some, &Default::default())
        .map(|(i, a, _)| (i, a))
        .unwrap();
    let kb = i.find_str("b:c").unwrap();
    let said = p
        .samples()
        .flat_map(|s| s.labels.iter())
        .find(|l| l.key == kb)
        .map(|l| match l.value {
            LabelValue::Str(v) => i.str(v).to_string(),
            _ => String::new(),
        });
    assert_eq!(said.as_deref(), Some("say \"hi\""));
    let most = dir.path().join("most.txt");
    std::fs::write(&most, format!("{good}{bad}{bad}")).unwrap();
    let (c, _, err) = run(&["goroutines", most.to_str().unwrap()]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("goroutine headers cannot be read"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn group_by_a_label_works_on_every_form() {
    let mut seen = Vec::new();
    for f in [
        "leak-goroutines-later.debug2.txt",
        "leak-goroutines-later.debug1.txt",
        "leak-goroutines-later.pb.gz",
    ] {
        let (c, out, err) = run(&[
            "goroutines",
            &t(f),
            "--group-by",
            "label:handler",
            "-f",
            "json",
        ]);
        assert_eq!(c, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let upload: BTreeSet<(String, i64)> = v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| {
                g["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l[0] == "handler" && l[1] == "upload")
            })
            .map(|g| {
                (
                    g["function"].as_str().unwrap().to_string(),
                    g["counts"][0].as_f64().unwrap() as i64,
                )
            })
            .collect();
        seen.push(upload);
    }
    assert_eq!(seen[0].iter().map(|x| x.1).sum::<i64>(), 15);
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    let (c, _, err) = run(&[
        "goroutines",
        &t("leak-goroutines-later.pb.gz"),
        "--group-by",
        "label:",
    ]);
    assert_eq!(c, 2, "{err}");
}

/// A real `collect --pid` run against the net/http/pprof program built with Go 1.27
/// (`GO=… OUT=testdata/collect/go1.27 testdata/go/generate-collect.sh`): the goroutineleak profile
/// was fetched every round; the stuck goroutines wait on a global channel, so the runtime proves
/// none of them, and the report says the trend found what the leak check did not prove.
#[test]
fn a_go_1_27_collect_recording_reports_the_leak_check() {
    let series = "testdata/collect/go1.27/series";
    let leak_files = std::fs::read_dir(testdata("collect/go1.27/series"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("goroutineleak-")
        })
        .count();
    assert_eq!(leak_files, 8);
    let (c, out, err) = run(&["report", "--no-progress", "-f", "json", "-i", series]);
    assert_eq!(c, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert!(
        keys(&r["suspects"]).contains(&"main.leakyHandler".to_string()),
        "{r}"
    );
    let g = &r["goroutines"];
    assert_eq!(g["leak_check"], true);
    assert_eq!(keys(&g["suspects"]), ["main.spawnStuck.func1"]);
    assert_eq!(
        g["trending_not_proven"],
        serde_json::json!(["main.spawnStuck.func1"])
    );
    let process = keys(&r["process"]["suspects"]);
    for m in ["fds/file", "fds/socket", "tcp/CLOSE_WAIT"] {
        assert!(process.contains(&m.to_string()), "{m}: {process:?}");
    }
    // The pprof export reads back as Go 1.27's go tool pprof read it.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("diff.pb.gz");
    let (c, _, err) = run(&[
        "export",
        "-i",
        series,
        "-f",
        "pprof",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let mut i = leakdiff::model::Interner::new();
    let p = leakdiff::input::load_profile(&path, &mut i, &Default::default()).unwrap();
    let n = assert_matches_top(
        &top(&i, &p, "inuse_space"),
        "collect/go1.27/golden/export-pprof.top.txt",
    );
    assert!(n >= 10, "{n}");
}

#[test]
fn eval_and_cycles_read_go_1_27_files() {
    // eval: the goroutine detector on Go 1.27's three snapshots and its leak profile, against a
    // hand-written truth of what goroutinegen plants.
    let dir = leak_folder();
    let mut planted: Vec<&str> = PROVEN.to_vec();
    planted.extend(["main.lockedOut", "main.globalWorker"]);
    let truth = serde_json::json!({ "leaks": {}, "goroutine_leaks": planted, "not_leaks": {} });
    std::fs::write(dir.path().join("truth.json"), truth.to_string()).unwrap();
    let (c, out, err) = run(&["eval", dir.path().to_str().unwrap(), "-f", "json"]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["overall"]["tpr"], 1.0, "{v}");
    assert_eq!(v["overall"]["fpr"], 0.0, "{v}");
    // cycles: the planted rings and pairs, named after the program's frames.
    let (c, out, err) = run(&["cycles", &t("go1.27.3.dump.gz"), "--top", "0", "-f", "json"]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let sites: BTreeSet<String> = v["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["sites"].as_array().unwrap().iter())
        .map(|s| s[0].as_str().unwrap().to_string())
        .collect();
    assert!(sites.iter().any(|s| s.starts_with("main.")), "{sites:?}");
    assert!(
        !sites.iter().any(|s| s.starts_with("runtime.mallocgc")),
        "{sites:?}"
    );
}

/// `cycles` lists the program's own cycles first and the runtime's after, marked: with the
/// binary's symbols, cycles of objects with no allocation record that only `runtime.allp`,
/// `runtime.allm` or `runtime.allgptr` reach are the runtime's (Ps, Ms, goroutine lists).
#[test]
fn cycles_put_the_programs_own_first_and_mark_the_runtimes() {
    let (c, out, err) = run(&[
        "cycles",
        &t("go1.27.3.dump.gz"),
        "--binary",
        &t("heapdumpgen-go1.27.3.symbols"),
        "--top",
        "0",
        "-f",
        "json",
    ]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let reachable: Vec<&Value> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["reachable"] == true)
        .collect();
    let flags: Vec<bool> = reachable.iter().map(|g| g["runtime"] == true).collect();
    let first_runtime = flags.iter().position(|r| *r).expect("some runtime cycles");
    assert!(first_runtime > 0, "the program's own first: {flags:?}");
    assert!(flags[first_runtime..].iter().all(|r| *r), "{flags:?}");
    for g in &reachable[first_runtime..] {
        let roots: Vec<&str> = g["roots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].as_str().unwrap())
            .collect();
        assert!(roots.iter().all(|r| r.starts_with("runtime.")), "{roots:?}");
    }
    let (_, text, _) = run(&[
        "cycles",
        &t("go1.27.3.dump.gz"),
        "--binary",
        &t("heapdumpgen-go1.27.3.symbols"),
    ]);
    assert!(text.contains("-- the Go runtime's own"), "{text}");
    assert!(
        text.lines()
            .find(|l| l.starts_with("#1 "))
            .unwrap()
            .contains("main."),
        "{text}"
    );
}
