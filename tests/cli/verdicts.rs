//! Verdicts from what the runtime observed: short series keep their exact evidence through the
//! multiple-test correction.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::run;

/// A debug=2 goroutine dump: `counts[k]` goroutines blocked under `main.workerK`.
fn dump(counts: &[usize]) -> String {
    let mut s = String::from("goroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1d\n\n");
    let mut id = 10;
    for (k, &n) in counts.iter().enumerate() {
        for _ in 0..n {
            s += &format!(
                "goroutine {id} [chan receive]:\nruntime.gopark(0x0?, 0x0?, 0x0?, 0x0?, 0x0?)\n\t/usr/lib/go/src/runtime/proc.go:402 +0xce\nmain.worker{k}(0xc000010000)\n\t/src/main.go:{} +0x25\ncreated by main.main in goroutine 1\n\t/src/main.go:12 +0x2a\n\n",
                20 + k
            );
            id += 1;
        }
    }
    s
}

/// Six snapshots of nine groups: five grow by exactly 10, 6, 4, 2 and 1 goroutines per snapshot
/// (0 → 50 … 0 → 5), four hold still. Each growing series rises at every step: exact
/// Mann–Kendall gives 1/720 for each, which stays under Holm's limit for all five (the normal
/// approximation's floor, 0.0085 two-sided, did not), and `goroutines` and `report` flag all of
/// them and nothing else.
#[test]
fn six_snapshots_of_strict_growth_find_all_five_groups() {
    let dir = tempfile::tempdir().unwrap();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    for t in 0..6usize {
        let counts = [10 * t, 6 * t, 4 * t, 2 * t, t, 3, 3, 7, 1];
        let path = dir.path().join(format!("goroutines-{:03}.txt", t + 1));
        std::fs::write(&path, dump(&counts)).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(start + Duration::from_secs(30 * t as u64))
            .unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let growing: Vec<String> = (0..5).map(|k| format!("main.worker{k}")).collect();
    let (c, out, err) = run(&["goroutines", d, "-f", "json"]);
    assert!(c == 0 || c == 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let leaking: Vec<String> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["leak"].as_bool() == Some(true))
        .map(|g| g["function"].as_str().unwrap_or_default().to_string())
        .collect();
    for w in &growing {
        assert!(
            leaking.iter().any(|k| k.contains(w.as_str())),
            "goroutines: {w} not flagged: {leaking:?}"
        );
    }
    assert_eq!(leaking.len(), 5, "{leaking:?}");
    let (c, out, err) = run(&["report", d, "--no-progress", "-f", "json"]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let suspects: Vec<String> = v["goroutines"]["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap_or_default().to_string())
        .collect();
    for w in &growing {
        assert!(
            suspects.iter().any(|k| k.contains(w.as_str())),
            "report: {w} not flagged: {suspects:?}"
        );
    }
    assert_eq!(suspects.len(), 5, "{suspects:?}");
}

/// Every suspect of a report's JSON, in every section: (section, key, severity, held reason).
fn all_suspects(v: &Value) -> Vec<(String, String, String, Option<String>)> {
    let mut out = Vec::new();
    let sections = [
        ("heap", &v["suspects"]),
        ("goroutine", &v["goroutines"]["suspects"]),
        ("process", &v["process"]["suspects"]),
    ];
    for (section, list) in sections {
        for s in list.as_array().into_iter().flatten() {
            out.push((
                section.to_string(),
                s["key"].as_str().unwrap_or_default().to_string(),
                s["severity"].as_str().unwrap_or_default().to_string(),
                s["held"]["reason"].as_str().map(str::to_string),
            ));
        }
    }
    out
}

/// Real services watched for two and a half minutes: the growing ones' heap suspects are leaks
/// held at medium (a bounded cache filling up grows the same way for that long), each saying how
/// much longer to watch; so is RSS that grew by 211 MiB (high needs five minutes of watching at
/// least); and no steady run of the real corpus, Go or native, nor etcd's raft log filling toward
/// its bound (+33 MiB in the window), has a high or critical finding in any section.
#[test]
fn a_few_minutes_of_growth_is_held_at_medium_and_steady_runs_are_never_high() {
    let (c, out, err) = run(&[
        "report",
        "-f",
        "json",
        &crate::common::testdata("real/go/prometheus-growing")
            .display()
            .to_string(),
    ]);
    assert!(c == 0 || c == 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let heap: Vec<&Value> = v["suspects"].as_array().unwrap().iter().collect();
    assert!(heap.len() >= 4, "{heap:?}");
    for s in &heap {
        assert_eq!(s["severity"], "medium", "{}", s["key"]);
        assert_eq!(s["held"]["reason"], "short", "{}", s["key"]);
        assert!(s["held"]["watch_more_hours"].as_f64().unwrap() > 0.0);
        assert!(["high", "critical"].contains(&s["held"]["impact"].as_str().unwrap()));
    }
    let rss = all_suspects(&v)
        .into_iter()
        .find(|s| s.0 == "process" && s.1 == "rss")
        .expect("rss grows");
    assert_eq!(rss.2, "medium", "{rss:?}");
    assert_eq!(rss.3.as_deref(), Some("short"), "{rss:?}");
    let (_, text, _) = run(&[
        "report",
        &crate::common::testdata("real/go/prometheus-growing")
            .display()
            .to_string(),
    ]);
    assert!(
        text.contains("held at medium (impact: high): watched 2m00s"),
        "{text}"
    );
    assert_eq!(text.matches("Held severities:").count(), 2, "{text}");

    let mut steady = Vec::new();
    for base in ["real/go", "real/native"] {
        for e in std::fs::read_dir(crate::common::testdata(base)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            // Steady runs, and a bounded structure still filling (etcd's raft log).
            if p.is_dir() && (name.ends_with("-steady") || name.ends_with("-filling")) {
                steady.push(p);
            }
        }
    }
    assert!(steady.len() >= 12, "{steady:?}");
    let symbols = crate::common::testdata("real/native/symbols");
    for p in steady {
        let (c, out, err) = run(&[
            "report",
            "-f",
            "json",
            "--symbols",
            symbols.to_str().unwrap(),
            p.to_str().unwrap(),
        ]);
        assert!(c == 0 || c == 1, "{}: {err}", p.display());
        let v: Value = serde_json::from_str(&out).unwrap();
        let strong: Vec<_> = all_suspects(&v)
            .into_iter()
            .filter(|s| s.2 == "high" || s.2 == "critical")
            .collect();
        assert!(strong.is_empty(), "{}: {strong:?}", p.display());
    }
}

/// Snapshots of two processes in one folder are not one series: two heaptrack recordings, the
/// jemalloc and gperftools dumps of two runs, and Go heap profiles of two processes (as across a
/// restart) each keep one process's snapshots and name the other's, by what the data says (the
/// recording; the vDSO's address in each dump's memory map, placed anew in every process).
#[test]
fn two_processes_in_one_folder_are_never_one_series() {
    let cases: [(&str, &str, &str, usize, usize); 4] = [
        (
            "real/native/gawk-heaptrack-growing",
            "real/native/gawk-heaptrack-steady",
            "zst",
            20,
            20,
        ),
        (
            "real/native/gawk-jemalloc-growing",
            "real/native/gawk-jemalloc-steady",
            "heap",
            27,
            24,
        ),
        (
            "real/native/gawk-gperftools-growing",
            "real/native/gawk-gperftools-steady",
            "heap",
            25,
            22,
        ),
        (
            "real/go/prometheus-growing",
            "real/go/pushgateway-steady",
            "pb.gz",
            30,
            30,
        ),
    ];
    for (a, b, ext, na, nb) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for (prefix, from) in [("a-", a), ("b-", b)] {
            for e in std::fs::read_dir(crate::common::testdata(from)).unwrap() {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if name.ends_with(ext) && !name.starts_with("goroutine") {
                    std::fs::copy(&p, dir.join(format!("{prefix}{name}"))).unwrap();
                }
            }
        }
        let (c, out, err) = run(&["report", "-f", "json", dir.to_str().unwrap()]);
        assert!(c == 0 || c == 1, "{a}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let notes: Vec<&str> = v["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["message"].as_str())
            .filter(|m| m.contains("of another process"))
            .collect();
        assert_eq!(notes.len(), 1, "{a}: {notes:?}");
        // The process with more heap snapshots is kept (a tie: the later input, b).
        let (kept, left) = if na > nb { (na, nb) } else { (nb, na) };
        assert!(
            notes[0].starts_with(&format!("{left} heap snapshot(s) of another process")),
            "{a}: {}",
            notes[0]
        );
        assert!(
            notes[0].contains(&format!("kept the {kept} snapshot(s)")),
            "{}",
            notes[0]
        );
        let sources: Vec<&str> = v["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["source"].as_str())
            .collect();
        let kept_prefix = if na > nb { "/a-" } else { "/b-" };
        assert!(
            sources.iter().all(|s| s.contains(kept_prefix)),
            "{a}: chained: {sources:?}"
        );
    }
}

/// Go's debug=1 heap profile says how many collections had completed (`# NumGC`): two profiles
/// with the same count hold one collection's heap and are one observation, told by the count.
#[test]
fn debug1_heap_profiles_of_one_collection_are_one_observation() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, from) in [
        ("heap-1.txt", "go/leak-base.heap.txt"),
        ("heap-2.txt", "go/leak-base.heap.txt"),
        ("heap-3.txt", "go/leak-later.heap.txt"),
    ] {
        std::fs::copy(crate::common::testdata(from), tmp.path().join(name)).unwrap();
    }
    let (c, out, err) = run(&[
        "report",
        "-f",
        "json",
        "--order",
        "name",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(c == 0 || c == 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["gc_repeats"], 1, "{}", v["gc_repeats"]);
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 2);
}

/// Go heap dumps carry no time but end their MemStats with NumGC: named against their order,
/// they are put in the order of the collections they followed.
#[test]
fn heap_dumps_are_ordered_by_their_collections_not_their_names() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, from) in [
        ("a.dump.gz", "go/heapdump/go1.23.5-grow-2.dump.gz"),
        ("b.dump.gz", "go/heapdump/go1.23.5-grow-1.dump.gz"),
    ] {
        std::fs::copy(crate::common::testdata(from), tmp.path().join(name)).unwrap();
    }
    let (c, out, err) = run(&["report", "-f", "json", tmp.path().to_str().unwrap()]);
    assert!(c == 0 || c == 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let sources: Vec<&str> = v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert!(sources[0].ends_with("b.dump.gz"), "{sources:?}");
    assert!(sources[1].ends_with("a.dump.gz"), "{sources:?}");
    assert!(v["total"]["trend"]["growth"].as_f64().unwrap() > 0.0);
}
