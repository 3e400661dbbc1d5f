//! What a new user meets in the first hour: a mistyped command, `check DIR`, snapshots given in
//! the wrong order, outputs written to files, thresholds in the units of everything else.

use crate::common::{run, testdata};

const BASE: &str = "testdata/go/leak-base.pb.gz";
const LATER: &str = "testdata/go/leak-later.pb.gz";

#[test]
fn a_mistyped_command_is_named_not_read_as_a_file() {
    for (typed, meant) in [
        ("reprot", "report"),
        ("goroutnes", "goroutines"),
        ("chek", "check"),
    ] {
        let (c, _, err) = run(&[typed, "testdata/go/series/leak"]);
        assert_eq!(c, 2, "{err}");
        assert!(
            err.contains(&format!("did you mean `leakdiff {meant}`?")),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // A missing file that is close to no command is still said to be missing.
    let (c, _, err) = run(&["missing.pb.gz", LATER]);
    assert_eq!(c, 2);
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn check_takes_a_folder_as_report_does() {
    let (c1, out1, err1) = run(&["check", "testdata/go/series/leak", "-f", "json"]);
    let (c2, out2, err2) = run(&["check", "-i", "testdata/go/series/leak", "-f", "json"]);
    assert_eq!(c1, c2, "{err1}\n{err2}");
    assert_eq!(c1, 1, "the leak series fails the default check: {err1}");
    assert_eq!(out1, out2);
    // One file alone is still two snapshots short.
    let (c, _, err) = run(&["check", BASE]);
    assert_eq!(c, 2);
    assert!(err.contains("give two snapshots"), "{err}");
}

#[test]
fn later_older_than_base_is_said_and_close_times_are_told_apart() {
    let (c, out, err) = run(&[LATER, BASE]);
    assert_eq!(c, 0, "{err}");
    assert!(err.contains("is older than BASE"), "{err}");
    // The two profiles were taken 0.17 s apart: the header tells them apart.
    let taken: Vec<&str> = out
        .lines()
        .take(3)
        .filter_map(|l| l.split("taken ").nth(1))
        .collect();
    assert_eq!(taken.len(), 2, "{out}");
    assert_ne!(taken[0], taken[1], "{out}");
    assert!(taken.iter().all(|t| t.contains('.')), "milliseconds: {out}");
    let (_, _, err) = run(&[BASE, LATER]);
    assert!(!err.contains("older"), "{err}");
}

#[test]
fn outputs_written_to_files_are_said_and_thresholds_read_in_units() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let (c, _, err) = run(&[
        "report",
        "testdata/go/series/leak",
        "--no-progress",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    assert!(
        err.contains(&format!("wrote {}", html.display())) && err.contains("KiB"),
        "{err}"
    );
    let (c, _, err) = run(&[BASE, LATER, "--fail-on-growth", "1MiB"]);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("growth threshold 1.00MiB crossed (total +72.50MiB)"),
        "{err}"
    );
    let (c, _, err) = run(&["export", "testdata/go/series/leak", "-f", "pprof"]);
    assert_eq!(c, 2);
    assert!(err.contains("--format pprof writes"), "{err}");
    let leak = testdata("go/series/leak");
    assert!(leak.is_dir());
}

#[test]
fn times_from_file_dates_are_said() {
    // Go heap dumps carry no time: ordered by their files' dates, and the run says so.
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in ["go1.19.8-grow-1.dump.gz", "go1.19.8-grow-2.dump.gz"]
        .iter()
        .enumerate()
    {
        std::fs::copy(
            testdata(&format!("go/heapdump/{f}")),
            dir.path().join(format!("{i}.dump.gz")),
        )
        .unwrap();
    }
    let (c, _, err) = run(&["report", dir.path().to_str().unwrap(), "--no-progress"]);
    assert_eq!(c, 0, "{err}");
    assert!(
        err.contains("times from file dates: 2 of 2 snapshots (Go heap dump)"),
        "{err}"
    );
    // pprof profiles carry their own times: nothing to say.
    let (_, _, err) = run(&["report", "testdata/go/series/leak", "--no-progress"]);
    assert!(!err.contains("file dates"), "{err}");
}

/// A test whose tool is missing fails with the command that installs it, unless the user opted
/// out of that tool by name (`LEAKDIFF_SKIP`); a present tool is used.
#[test]
fn a_missing_tool_fails_its_test_unless_opted_out_by_name() {
    assert_eq!(crate::common::tool("chromium", Some(7), "x"), Some(7));
    let name = "leakdiff-selftest-missing-tool";
    let skip = std::env::var("LEAKDIFF_SKIP").unwrap_or_default();
    let opted_out = skip
        .split(',')
        .any(|s| s.trim() == "all" || s.trim() == name);
    let r = std::panic::catch_unwind(|| {
        crate::common::tool::<()>(name, None, "apt-get install the-tool")
    });
    if opted_out {
        assert_eq!(r.ok(), Some(None));
    } else {
        let msg = r.expect_err("a missing tool fails the test");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("apt-get install the-tool"), "{msg}");
        assert!(msg.contains(&format!("LEAKDIFF_SKIP={name}")), "{msg}");
    }
}
