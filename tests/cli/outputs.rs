//! Whole outputs of the commands over committed inputs, as insta snapshots (`INSTA_UPDATE=always
//! cargo test` or `cargo insta review` accepts an intended change): `report` text and JSON,
//! `check` in every format, `goroutines`, `cycles`, `retained`, `export` and `eval`. Inputs carry
//! their own times (or none is shown), and paths are relative, so the bytes are the same on every
//! checkout.

use std::path::Path;

fn out_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = crate::common::leakdiff_cmd()
        .current_dir(dir)
        .args(args)
        .args(["--threads", "2"])
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{args:?}: exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn out(args: &[&str]) -> (i32, String) {
    out_in(&crate::common::scratch(), args)
}

const LEAK: &str = "testdata/go/series/leak";
const COLLECT: &str = "testdata/collect/series";

#[test]
fn report_outputs() {
    let (_, text) = out(&["report", "--no-progress", "-i", LEAK]);
    insta::assert_snapshot!("report_text_series_leak", text);
    let (_, json) = out(&["report", "--no-progress", "-f", "json", "-i", COLLECT]);
    insta::assert_snapshot!("report_json_collect", json);
}

#[test]
fn check_outputs_in_every_format() {
    let pair = [
        "testdata/go/leak-base.pb.gz",
        "testdata/go/leak-later.pb.gz",
    ];
    for f in ["text", "markdown", "junit", "sarif", "json"] {
        let (code, o) = out(&["check", pair[0], pair[1], "-f", f]);
        assert_eq!(code, 1, "{f}");
        insta::assert_snapshot!(format!("check_pair_{f}"), o);
    }
    for f in ["markdown", "junit", "sarif"] {
        let (code, o) = out(&["check", "-i", COLLECT, "-f", f]);
        assert_eq!(code, 1, "{f}");
        insta::assert_snapshot!(format!("check_series_{f}"), o);
    }
}

#[test]
fn goroutines_outputs() {
    let (_, text) = out(&["goroutines", "testdata/go/series/leak"]);
    insta::assert_snapshot!("goroutines_text_series_leak", text);
    let (_, text) = out(&[
        "goroutines",
        "testdata/go/leak-goroutines-base.pb.gz",
        "testdata/go/leak-goroutines-later.pb.gz",
        "--group-by",
        "creator",
        "-f",
        "json",
    ]);
    insta::assert_snapshot!("goroutines_json_pair_by_creator", text);
}

#[test]
fn heap_dump_outputs() {
    let dump = "testdata/go/heapdump/go1.23.5.dump.gz";
    let (_, text) = out(&["cycles", dump, "--top", "5"]);
    insta::assert_snapshot!("cycles_text_go1_23", text);
    let (_, json) = out(&["cycles", dump, "--top", "3", "-f", "json"]);
    insta::assert_snapshot!("cycles_json_go1_23", json);
    let (_, text) = out(&["retained", dump, "--top", "8"]);
    insta::assert_snapshot!("retained_sites_go1_23", text);
    let (_, text) = out(&["retained", dump, "--by", "object", "--top", "5"]);
    insta::assert_snapshot!("retained_objects_go1_23", text);
}

#[test]
fn export_outputs() {
    let (_, csv) = out(&["export", "-i", LEAK, "-f", "csv"]);
    let head: String = csv.lines().take(40).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!("export_csv_series_leak_head", head);
    let (_, prom) = out(&["export", "-i", COLLECT, "-f", "prometheus"]);
    insta::assert_snapshot!("export_prometheus_collect", prom);
}

#[test]
fn eval_outputs() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("mem", ["--type", "memory", "--pattern", "linear"]),
        ("gor", ["--type", "goroutine", "--pattern", "stepped"]),
        ("cyc", ["--type", "cycle", "--pattern", "plateau"]),
    ] {
        let mut a = vec!["simulate", "--seed", "7", "-o", name];
        a.extend(args);
        out_in(dir.path(), &a);
    }
    let (_, text) = out_in(dir.path(), &["eval", "mem", "gor", "cyc"]);
    insta::assert_snapshot!("eval_text", text);
    let (_, json) = out_in(dir.path(), &["eval", "mem", "gor", "cyc", "-f", "json"]);
    insta::assert_snapshot!("eval_json", json);
}
