//! `export` round trips (series JSON/CSV, Parquet, Prometheus checked by promtool, the pprof diff
//! against `go tool pprof`'s reading of it) and `check` (thresholds, rules, baseline, outputs),
//! on the recorded `collect` run of testdata/collect.

use std::path::Path;
use std::process::Command;

use assert_cmd::Command as Cmd;
use leakdiff::formats::ReadOptions;
use leakdiff::model::Interner;

use crate::common::*;

const SERIES: &str = "testdata/collect/series";

fn leakdiff() -> Cmd {
    crate::common::leakdiff_cmd()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = leakdiff().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn series_json_and_csv_carry_the_same_rows() {
    let (c, json, err) = run(&["export", "-i", SERIES, "-f", "json"]);
    assert_eq!(c, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], "leakdiff.series/v1");
    // 8 heap profiles, 8 goroutine profiles and 8 process samples: the 8 debug=2 dumps of the
    // same moments are left out (one form per moment).
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 24);
    let rows = v["rows"].as_array().unwrap();
    let (c, csv, _) = run(&["export", "-i", SERIES, "-f", "csv"]);
    assert_eq!(c, 0);
    let lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), rows.len());
    let keys = v["keys"].as_array().unwrap();
    let vts = v["value_types"].as_array().unwrap();
    for (line, row) in lines.iter().zip(rows) {
        // Keys may hold commas (quoted); the value is the last field, the snapshot the first.
        let value: i64 = line.rsplit(',').next().unwrap().parse().unwrap();
        assert_eq!(value, row[3].as_i64().unwrap(), "{line}");
        assert!(line.starts_with(&format!("{},", row[0])), "{line}");
        let vt = vts[row[2].as_u64().unwrap() as usize].as_str().unwrap();
        assert!(line.contains(&format!(",{vt},")), "{line}");
        if let Some(k) = row[1].as_u64() {
            let name = keys[k as usize]["name"].as_str().unwrap();
            assert!(
                line.contains(name) || name.contains(','),
                "{line} lacks {name}"
            );
        }
    }
}

#[test]
fn parquet_export_reports_like_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let pq = tmp.path().join("store.parquet");
    let (c, _, err) = run(&[
        "export",
        "-i",
        SERIES,
        "-f",
        "parquet",
        "-o",
        pq.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let (_, a, _) = run(&["report", "--no-progress", "-f", "json", "-i", SERIES]);
    let (_, b, _) = run(&[
        "report",
        "--no-progress",
        "-f",
        "json",
        "-i",
        pq.to_str().unwrap(),
    ]);
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&a).unwrap(),
        serde_json::from_str(&b).unwrap(),
    );
    for part in ["suspects", "total", "goroutines", "process"] {
        assert_eq!(
            a[part], b[part],
            "{part} differs after the Parquet round trip"
        );
    }
    let (c, _, err) = run(&["export", "-i", SERIES, "-f", "parquet"]);
    assert_eq!(c, 2);
    assert!(err.contains("--output"), "{err}");
}

#[test]
fn prometheus_export_passes_promtool_and_names_every_suspect() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = tmp.path().join("metrics.prom");
    let (c, _, err) = run(&[
        "export",
        "-i",
        SERIES,
        "-f",
        "prometheus",
        "-o",
        prom.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let text = std::fs::read_to_string(&prom).unwrap();
    let (_, rj, _) = run(&[
        "report",
        "--no-progress",
        "--top",
        "0",
        "-f",
        "json",
        "-i",
        SERIES,
    ]);
    let report: serde_json::Value = serde_json::from_str(&rj).unwrap();
    let mut expected = Vec::new();
    for (kind, list) in [
        ("heap", &report["suspects"]),
        ("goroutine", &report["goroutines"]["suspects"]),
        ("process", &report["process"]["suspects"]),
    ] {
        for s in list.as_array().unwrap() {
            expected.push(format!(
                "leakdiff_suspect_growth_per_second{{kind=\"{kind}\",key=\"{}\"",
                s["key"].as_str().unwrap()
            ));
        }
    }
    assert!(expected.len() >= 5, "{expected:?}");
    for e in &expected {
        assert!(text.contains(e.as_str()), "{e} missing");
    }
    assert!(text.contains("leakdiff_suspect_time_to_limit_seconds{kind=\"process\",key=\"fds\""));
    // Every sample line is `name{labels} value` with a number.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
    }
    let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(promtool) = crate::common::tool("promtool", promtool, "apt-get install prometheus")
    else {
        return;
    };
    let out = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&prom).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pprof_export_is_the_diff_and_reads_as_go_tool_pprof_read_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("diff.pb.gz");
    let (c, _, err) = run(&[
        "export",
        "-i",
        SERIES,
        "-f",
        "pprof",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    // Read back: every function's flat value is later − base of the first and last heap files.
    let mut i = Interner::new();
    let p = leakdiff::input::load_profile(&path, &mut i, &ReadOptions::default()).unwrap();
    let exported = top(&i, &p, "inuse_space");
    let heaps: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(testdata("collect/series"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("heap-"))
            .collect();
        v.sort();
        v
    };
    let d = {
        let (i2, a, b) = load_two(
            &format!("collect/series/{}", heaps[0]),
            &format!("collect/series/{}", heaps[heaps.len() - 1]),
        );
        let o = leakdiff::diff::DiffOptions {
            sample: Some("inuse_space".into()),
            ..Default::default()
        };
        leakdiff::diff::diff(&a, &b, &i2, &o).unwrap()
    };
    assert_eq!(exported.totals.delta, d.totals.delta);
    let theirs = by_name(&d);
    for (k, (flat, _)) in by_name(&exported) {
        assert_eq!(Some(flat), theirs.get(&k).map(|x| x.0), "{k}");
    }
    // What go tool pprof printed for the same export (testdata/go/generate-collect.sh).
    let n =
        crate::pprof_golden::assert_matches_top(&exported, "collect/golden/export-pprof.top.txt");
    assert!(n >= 10, "{n}");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn check_fails_on_growth_and_passes_the_control_pair() {
    let (c, out, _) = run(&[
        "check",
        "testdata/go/leak-base.pb.gz",
        "testdata/go/leak-later.pb.gz",
    ]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("FAIL  heap      main.cacheSession"), "{out}");
    let (c, out, _) = run(&[
        "check",
        "testdata/go/control-base.pb.gz",
        "testdata/go/control-later.pb.gz",
    ]);
    assert_eq!(c, 0, "{out}");
    assert!(out.starts_with("leakdiff check: PASS"), "{out}");
}

#[test]
fn check_rules_raise_limits_ignore_sites_and_the_baseline_suppresses() {
    let tmp = tempfile::tempdir().unwrap();
    let pair = [
        "testdata/go/leak-base.pb.gz",
        "testdata/go/leak-later.pb.gz",
    ];
    let cfg = write(
        tmp.path(),
        "leakdiff.toml",
        "[default]\nmax_growth = \"1MiB\"\n\n[[rule]]\nmatch = \"^main\\\\.cacheSession$\"\nmax_growth = \"100MiB\"\n\n[[rule]]\nmatch = \"registerListener\"\nignore = true\n",
    );
    let (c, out, _) = run(&["check", pair[0], pair[1], "--config", &cfg, "-f", "json"]);
    assert_eq!(c, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["main.appendAudit"]);
    assert_eq!(v["ignored"], 1);
    let base = tmp.path().join("leakdiff.baseline");
    let (c, _, err) = run(&[
        "check",
        pair[0],
        pair[1],
        "--config",
        &cfg,
        "--write-baseline",
        base.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&base).unwrap().lines().last(),
        Some("leak:^main.appendAudit$")
    );
    let (c, out, _) = run(&[
        "check",
        pair[0],
        pair[1],
        "--config",
        &cfg,
        "--baseline",
        base.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("known heap      main.appendAudit"), "{out}");
    // A total limit fails on its own.
    let total = write(
        tmp.path(),
        "total.toml",
        "[default]\nmax_total_growth = \"10MB\"\n",
    );
    let (c, out, _) = run(&["check", pair[0], pair[1], "--config", &total]);
    assert_eq!(c, 1);
    assert!(
        out.contains("FAIL  total     total: total grew by"),
        "{out}"
    );
    // Bad configuration: one line naming the file and field, exit 2.
    let bad = write(tmp.path(), "bad.toml", "[default]\nmax_growth = \"lots\"\n");
    let (c, _, err) = run(&["check", pair[0], pair[1], "--config", &bad]);
    assert_eq!(c, 2);
    assert!(err.contains("bad.toml: default.max_growth:"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn check_on_a_series_fails_on_its_suspects_unless_rules_allow_them() {
    let (c, out, _) = run(&["check", "-i", SERIES, "-f", "json"]);
    assert_eq!(c, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: std::collections::BTreeSet<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["goroutine", "heap", "process"].into_iter().collect()
    );
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "leakdiff.toml",
        "[default]\nfail_on_severity = \"critical\"\n\n[[rule]]\nmatch = \"^(fds|tcp|rss)\"\nignore = true\n\n[[rule]]\nmatch = \"spawnStuck|leakyHandler\"\nignore = true\n",
    );
    let (c, out, _) = run(&["check", "-i", SERIES, "--config", &cfg]);
    assert_eq!(c, 0, "{out}");
}

#[test]
fn check_outputs_markdown_junit_and_sarif() {
    let pair = [
        "testdata/go/leak-base.pb.gz",
        "testdata/go/leak-later.pb.gz",
    ];
    let (c, md, _) = run(&["check", pair[0], pair[1], "-f", "markdown"]);
    assert_eq!(c, 1);
    assert!(md.starts_with("### leakdiff check: **failed**"), "{md}");
    assert!(
        md.contains("| ❌ | heap | <code>main.cacheSession</code> |"),
        "{md}"
    );
    let (_, junit, _) = run(&["check", pair[0], pair[1], "-f", "junit"]);
    assert!(junit.starts_with("<?xml"), "{junit}");
    assert_eq!(junit.matches("<failure ").count(), 3, "{junit}");
    assert!(junit.contains("failures=\"3\""), "{junit}");
    assert_eq!(
        junit.matches("<testcase").count(),
        junit.matches("</testcase>").count() + 1
    );
    let (_, sarif, _) = run(&["check", pair[0], pair[1], "-f", "sarif"]);
    let s: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let results = s["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["ruleId"], "leakdiff/growth");
    assert_eq!(
        results[0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "main.cacheSession"
    );
}

#[test]
fn exports_are_byte_identical_with_1_and_8_threads() {
    for f in ["json", "csv", "prometheus"] {
        let a = run(&["export", "--threads", "1", "-i", SERIES, "-f", f]).1;
        let b = run(&["export", "--threads", "8", "-i", SERIES, "-f", f]).1;
        assert!(!a.is_empty());
        assert_eq!(a, b, "{f}");
    }
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_export_writes() {
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/leakdiff.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let prom = run(&["export", "-i", SERIES, "-f", "prometheus"]).1;
    let written: std::collections::BTreeSet<&str> = prom
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut queried = 0;
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("leakdiff_") {
                    assert!(written.contains(word), "{word} is not exported");
                    queried += 1;
                }
            }
        }
    }
    assert!(queried >= 10, "{queried}");
}

#[test]
fn goroutines_reads_a_collect_folder_once_per_moment() {
    let (c, out, err) = run(&["goroutines", SERIES, "-f", "json", "--fail-on-leak"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("left out 16 snapshot(s)"), "{err}");
    assert!(err.contains("8 goroutine text dump(s) left out"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // 8 moments, read from the goroutine profiles (the one form per moment that `report` trends
    // too), not 16 snapshots.
    assert_eq!(v["sources"].as_array().unwrap().len(), 8, "{v}");
    let leaking: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["leak"] == true)
        .map(|g| g["function"].as_str().unwrap())
        .collect();
    assert_eq!(leaking, ["main.spawnStuck.func1"]);
}

#[test]
fn check_on_goroutine_profiles_uses_the_count_limit() {
    let pair = [
        "testdata/go/leak-goroutines-base.pb.gz",
        "testdata/go/leak-goroutines-later.pb.gz",
    ];
    let (c, out, _) = run(&["check", pair[0], pair[1]]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("over max_count_growth 16"), "{out}");
    // Per the goroutines' own functions, not runtime.gopark where they are parked.
    for f in [
        "main.blockedReceiver",
        "main.blockedSender",
        "main.lockedOut",
        "main.stuckSelect",
        "main.waitForever",
    ] {
        assert!(
            out.contains(&format!("FAIL  goroutine {f}: grew by ")),
            "{f}: {out}"
        );
    }
    assert!(!out.contains("runtime.gopark"), "{out}");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "leakdiff.toml",
        "[default]\nmax_count_growth = 1000\n",
    );
    let (c, out, _) = run(&["check", pair[0], pair[1], "--config", &cfg]);
    assert_eq!(c, 0, "{out}");
}

#[test]
fn a_saved_store_is_byte_identical_with_1_and_8_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut saved = Vec::new();
    for t in ["1", "8"] {
        let p = tmp.path().join(format!("s{t}.parquet"));
        let (c, _, err) = run(&[
            "report",
            "--threads",
            t,
            "--no-progress",
            "-i",
            SERIES,
            "-f",
            "json",
            "--save",
            p.to_str().unwrap(),
        ]);
        assert_eq!(c, 0, "{err}");
        saved.push(std::fs::read(&p).unwrap());
    }
    assert!(saved[0] == saved[1], "the Parquet stores differ");
}
