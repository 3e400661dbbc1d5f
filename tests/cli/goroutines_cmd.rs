//! `leakdiff goroutines`: the planted goroutine leaks of goroutinegen found in every form, on Go
//! 1.19 and 1.23, the control silent, ignore lists, creation sites, ages and trends.

use serde_json::Value;

use crate::common::testdata;

fn run(args: &[&str]) -> (Value, i32) {
    let out = crate::common::leakdiff_cmd()
        .arg("goroutines")
        .args(args.iter().map(|a| {
            if a.starts_with("go/") {
                testdata(a).display().to_string()
            } else {
                a.to_string()
            }
        }))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    (v, out.status.code().unwrap())
}

fn leaking(r: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["leak"] == true)
        .map(|g| {
            (
                g["function"].as_str().unwrap().to_string(),
                g["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

const PLANTED: [(&str, &str); 5] = [
    ("main.blockedReceiver", "chan_receive"),
    ("main.blockedSender", "chan_send"),
    ("main.lockedOut", "lock"),
    ("main.stuckSelect", "select"),
    ("main.waitForever", "wait_group"),
];

fn planted() -> Vec<(String, String)> {
    PLANTED
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn every_form_on_go_1_19_finds_the_planted_leaks() {
    for (a, b) in [
        ("debug2.txt", "debug2.txt"),
        ("pb.gz", "pb.gz"),
        ("debug1.txt", "pb.gz"),
        ("debug2.txt", "debug1.txt"),
    ] {
        let (r, code) = run(&[
            &format!("go/leak-goroutines-base.{a}"),
            &format!("go/leak-goroutines-later.{b}"),
            "--fail-on-leak",
        ]);
        assert_eq!(code, 1, "{a} → {b}: --fail-on-leak");
        assert_eq!(leaking(&r), planted(), "{a} → {b}");
        assert_eq!(r["totals"], serde_json::json!([81.0, 241.0]));
        let (r, code) = run(&[
            &format!("go/control-goroutines-base.{a}"),
            &format!("go/control-goroutines-later.{b}"),
            "--fail-on-leak",
        ]);
        assert_eq!(code, 0, "{a} → {b}: control");
        assert!(leaking(&r).is_empty(), "{a} → {b}: {:?}", leaking(&r));
    }
}

#[test]
fn go_1_23_series_trends_ages_and_parent_goroutines() {
    let (r, code) = run(&[
        "go/go1.23/leak-goroutines-base.debug2.txt",
        "go/go1.23/leak-goroutines-mid.debug2.txt",
        "go/go1.23/leak-goroutines-later.debug2.txt",
    ]);
    assert_eq!(code, 0);
    assert_eq!(leaking(&r), planted());
    for g in r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["leak"] == true)
    {
        assert_eq!(g["trend"]["pattern"], "linear", "{}", g["function"]);
        // The first round waited 65 s with GCs running: Go prints `1 minutes`.
        assert_eq!(g["max_wait_minutes"], 1, "{}", g["function"]);
        assert_eq!(g["blocked_long"], true);
        assert!(g["created_by"]
            .as_str()
            .unwrap()
            .starts_with("main.leakRound"));
    }
    let (r, _) = run(&[
        "go/go1.23/control-goroutines-base.debug2.txt",
        "go/go1.23/control-goroutines-mid.debug2.txt",
        "go/go1.23/control-goroutines-later.debug2.txt",
    ]);
    assert!(leaking(&r).is_empty(), "{:?}", leaking(&r));
    // The protobufs of the same run agree.
    let (r, _) = run(&[
        "go/go1.23/leak-goroutines-base.pb.gz",
        "go/go1.23/leak-goroutines-mid.pb.gz",
        "go/go1.23/leak-goroutines-later.pb.gz",
    ]);
    assert_eq!(leaking(&r), planted());
}

#[test]
fn one_dump_flags_groups_blocked_for_long() {
    let (r, _) = run(&["go/go1.23/leak-goroutines-later.debug2.txt"]);
    let flagged: Vec<&str> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["blocked_long"] == true)
        .map(|g| g["function"].as_str().unwrap())
        .collect();
    assert_eq!(flagged.len(), 5, "{flagged:?}");
    let (r, _) = run(&[
        "go/go1.23/leak-goroutines-later.debug2.txt",
        "--min-age",
        "2m",
    ]);
    assert!(r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["blocked_long"] == false));
}

#[test]
fn ignore_top_and_group_by_creator() {
    let (r, _) = run(&[
        "go/leak-goroutines-base.debug2.txt",
        "go/leak-goroutines-later.debug2.txt",
        "--ignore-top",
        "main.stuckSelect",
        "--ignore-top",
        "sync.runtime_Semacquire",
    ]);
    // A leaf (the WaitGroup waiters park in sync.runtime_Semacquire) or the first frame of the
    // program's own (main.stuckSelect) both match.
    let left: Vec<String> = leaking(&r).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        left,
        [
            "main.blockedReceiver",
            "main.blockedSender",
            "main.lockedOut"
        ]
    );
    assert_eq!(r["ignored"], serde_json::json!([30.0, 90.0]));
    let (r, _) = run(&[
        "go/leak-goroutines-base.debug2.txt",
        "go/leak-goroutines-later.debug2.txt",
        "--ignore-top",
        "main.stuckSelect",
    ]);
    assert_eq!(leaking(&r).len(), 4);
    assert_eq!(r["ignored"], serde_json::json!([20.0, 60.0]));
    let (r, _) = run(&[
        "go/leak-goroutines-base.debug2.txt",
        "go/leak-goroutines-later.debug2.txt",
        "--group-by",
        "creator",
    ]);
    let creators: Vec<&str> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["created_by"].as_str())
        .collect();
    assert!(
        creators.iter().all(|c| c.starts_with("main.")),
        "{creators:?}"
    );
    let lines: std::collections::BTreeSet<&str> = creators.iter().copied().collect();
    assert_eq!(lines.len(), creators.len(), "one group per creation site");
    assert_eq!(leaking(&r).len(), 5);
}

#[test]
fn a_heap_profile_is_refused_with_exit_2() {
    let out = crate::common::leakdiff_cmd()
        .args(["goroutines"])
        .arg(testdata("go/leak-base.pb.gz"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not goroutines"), "{err}");
}

#[test]
fn a_dump_cut_by_go_at_64_mib_says_so() {
    // Go 1.27's debug=2 dump of 100,000 goroutines 60 frames deep stops at 64 MiB (kept at
    // zstd -19: 641:1, repetitive text, not a bomb); its debug=1 profile counts them all.
    let out = crate::common::leakdiff_cmd()
        .args([
            "goroutines",
            "testdata/go/go1.27/goroutines-deep.debug2.txt.zst",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("(20615 goroutines)"), "{stdout}");
    assert!(
        stderr.contains("exactly 64 MiB, where Go's debug=2 writer stops")
            && stderr.contains("(20615 read)"),
        "{stderr}"
    );
    let out = crate::common::leakdiff_cmd()
        .args([
            "goroutines",
            "testdata/go/go1.27/goroutines-deep.debug1.txt.gz",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(100001 goroutines)"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("64 MiB"));
}
