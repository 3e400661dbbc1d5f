//! The `leakdiff BASE LATER` command: outputs, options, exit codes, determinism.

use assert_cmd::Command;
use predicates::prelude::*;

use crate::common::{assert_golden, testdata};

fn leakdiff() -> Command {
    crate::common::leakdiff_cmd()
}

const BASE: &str = "testdata/go/leak-base.pb.gz";
const LATER: &str = "testdata/go/leak-later.pb.gz";

fn stdout(args: &[&str]) -> String {
    let out = leakdiff().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn text_report_states_sign_convention_and_percent_base() {
    let out = stdout(&[BASE, LATER, "--top", "8"]);
    assert!(
        out.contains("delta = later - base; positive = grew"),
        "{out}"
    );
    assert!(out.contains("delta% = delta / base of the same row"));
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    insta::assert_snapshot!("text_leak_by_function", out);
}

#[test]
fn json_report_has_versioned_schema() {
    let out = stdout(&[BASE, LATER, "--format", "json", "--top", "5"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "leakdiff.diff/v1");
    assert_eq!(v["sample_type"]["type"], "inuse_space");
    assert_eq!(v["unit"], "bytes");
    assert_eq!(v["rows"][0]["key"], "main.cacheSession");
    assert_eq!(v["rows"][0]["status"], "GREW");
    let row = &v["rows"][0];
    assert_eq!(
        row["delta"].as_i64().unwrap(),
        row["later"].as_i64().unwrap() - row["base"].as_i64().unwrap()
    );
    insta::assert_json_snapshot!("json_leak_top5", v);
}

#[test]
fn every_granularity_runs_and_site_shows_file_line() {
    for by in ["function", "stack", "site", "file", "line"] {
        let out = stdout(&[BASE, LATER, "--by", by, "--top", "3"]);
        assert!(out.contains(&format!("rows by {by}")), "{by}: {out}");
    }
    let site = stdout(&[BASE, LATER, "--by", "site", "--top", "1"]);
    assert!(
        site.contains("main.cacheSession leakgen/main.go:22"),
        "{site}"
    );
    let stack = stdout(&[
        BASE, LATER, "--by", "stack", "--top", "1", "--format", "csv",
    ]);
    assert!(
        stack.contains("runtime.main;main.main;main.serve;main.cacheSession"),
        "{stack}"
    );
}

#[test]
fn csv_and_markdown_outputs() {
    let csv = stdout(&[BASE, LATER, "--format", "csv", "--top", "2"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "key,status,base,later,delta,delta_pct,cum_base,cum_later,cum_delta,cum_delta_pct,unit,frames"
    );
    assert!(lines.next().unwrap().starts_with("main.cacheSession,GREW,"));
    let md = stdout(&[BASE, LATER, "--format", "markdown", "--top", "3"]);
    assert_golden("golden/leak.markdown.md", &md);
}

#[test]
fn focus_ignore_and_min_delta_filter_rows() {
    let focus = stdout(&[BASE, LATER, "--focus", "appendAudit", "--format", "csv"]);
    assert!(
        focus.contains("main.appendAudit") && !focus.contains("main.cacheSession"),
        "{focus}"
    );
    let ignore = stdout(&[BASE, LATER, "--ignore", "cacheSession", "--format", "csv"]);
    assert!(!ignore.contains("main.cacheSession"));
    let min = stdout(&[BASE, LATER, "--min-delta", "1MiB", "--format", "csv"]);
    // Only rows that moved by at least 1 MiB (flat or cum) are left.
    for line in min.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (d, cd): (i64, i64) = (f[4].parse().unwrap(), f[8].parse().unwrap_or(0));
        assert!(d.abs() >= 1 << 20 || cd.abs() >= 1 << 20, "{line}");
    }
    let pct = stdout(&[BASE, LATER, "--min-delta", "50%", "--format", "csv"]);
    assert!(pct.lines().count() < min.lines().count() + 1);
}

#[test]
fn normalize_scales_base_to_later_total() {
    let out = stdout(&[BASE, LATER, "--normalize", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["totals"]["base"], v["totals"]["later"]);
    assert!(v["normalize_factor"].as_f64().unwrap() > 1.0);
}

#[test]
fn sample_index_by_name_and_number() {
    let by_name = stdout(&[
        BASE,
        LATER,
        "--sample-index",
        "alloc_objects",
        "--format",
        "json",
    ]);
    let by_num = stdout(&[BASE, LATER, "--sample-index", "0", "--format", "json"]);
    assert_eq!(by_name, by_num);
    assert!(by_name.contains("\"type\": \"alloc_objects\""));
}

#[test]
fn fail_on_growth_exits_1_only_past_the_threshold() {
    leakdiff()
        .args([BASE, LATER, "--fail-on-growth", "10MB"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("growth threshold 9.54MiB crossed"));
    leakdiff()
        .args([BASE, LATER, "--fail-on-growth", "10GB"])
        .assert()
        .code(0);
    leakdiff()
        .args([BASE, LATER, "--fail-on-growth", "50%"])
        .assert()
        .code(1);
    leakdiff()
        .args([
            "testdata/go/control-base.pb.gz",
            "testdata/go/control-later.pb.gz",
            "--fail-on-growth",
            "1MB",
        ])
        .assert()
        .code(0);
}

#[test]
fn output_is_identical_with_one_and_many_threads() {
    for by in ["function", "stack", "line"] {
        let run = |threads: &str| {
            stdout(&[
                "--threads",
                threads,
                BASE,
                LATER,
                "--by",
                by,
                "--format",
                "json",
            ])
        };
        let (one, many) = (run("1"), run("8"));
        assert_eq!(one, many, "--by {by}");
    }
}

#[test]
fn flamegraph_is_written_and_escapes_names() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("diff.svg");
    leakdiff()
        .args([BASE, LATER, "--flamegraph"])
        .arg(&svg)
        .assert()
        .success();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<?xml"));
    assert!(text.contains("main.cacheSession"));
    assert!(text.contains("rgb(255,"), "growth is red");
    assert!(text.contains("main.(*lru).put"), "names are present");
    assert!(!text.contains("(*lru).put<"), "no raw markup from names");
    assert!(text.ends_with("</svg>\n"));
}

#[test]
fn different_sample_types_are_a_clear_error() {
    leakdiff()
        .args([BASE, "testdata/legacy/profile__testdata__cppbench.heap"])
        .args(["--sample-index", "alloc_space"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "do not share sample type `alloc_space`",
        ))
        .stderr(predicate::str::contains(
            "inuse_objects/count, inuse_space/bytes",
        ));
}

#[test]
fn subcommand_form_equals_default_form() {
    assert_eq!(stdout(&["diff", BASE, LATER]), stdout(&[BASE, LATER]));
}

#[test]
fn output_flag_writes_the_report_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    leakdiff()
        .args([BASE, LATER, "-f", "json", "-o"])
        .arg(&path)
        .assert()
        .success()
        .stdout("");
    assert!(std::fs::read_to_string(path)
        .unwrap()
        .contains("leakdiff.diff/v1"));
    let _ = testdata("go");
}
