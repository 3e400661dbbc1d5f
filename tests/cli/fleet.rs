//! Fleet datasets: `ingest` writes Hive-partitioned Parquet that `report`/`check`/`export` read
//! back with the same verdicts as the folders it came from; re-ingesting is a no-op; the
//! service and time range are pushed down to partitions and part footers; foreign files,
//! parts of a later version and half-written parts are handled as doc/guide.md says; and the
//! Spark job (contrib/spark) gives `report`'s suspects key for key, in Spark's local mode.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::{run, testdata};

fn ingest(service: &str, input: &Path, dataset: &Path, extra: &[&str]) -> String {
    let (input, dataset) = (input.display().to_string(), dataset.display().to_string());
    let mut args = vec!["ingest", "--service", service, "-i", &input, "-o", &dataset];
    args.extend_from_slice(extra);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    err
}

fn report(args: &[&str]) -> (Value, String) {
    let mut all = vec!["report", "-f", "json", "--top", "0"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all);
    assert_eq!(code, 0, "{args:?}: {err}");
    (serde_json::from_str(&out).unwrap(), err)
}

/// (section, key, pattern, severity) of every suspect, sorted.
fn verdicts(r: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for (section, list) in [
        ("heap", &r["suspects"]),
        ("goroutine", &r["goroutines"]["suspects"]),
        ("process", &r["process"]["suspects"]),
    ] {
        for s in list.as_array().into_iter().flatten() {
            out.push((
                section.to_string(),
                s["key"].as_str().unwrap().to_string(),
                s["pattern"].as_str().unwrap().to_string(),
                s["severity"].as_str().unwrap().to_string(),
            ));
        }
    }
    out.sort();
    out
}

fn parts(dataset: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dataset.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_dataset_gives_the_verdicts_of_its_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("fleet");
    let folders = [
        ("leak", "go/series/leak"),
        ("control", "go/series/control"),
        ("go127", "collect/go1.27/series"),
    ];
    for (service, folder) in folders {
        ingest(service, &testdata(folder), &ds, &["--no-progress"]);
    }
    // The layout: service=NAME/date=YYYY-MM-DD/part-….parquet, and the marker at the root.
    assert!(ds.join("_leakdiff_dataset.json").is_file());
    for p in parts(&ds) {
        let rel = p.strip_prefix(&ds).unwrap().display().to_string();
        let bits: Vec<&str> = rel.split('/').collect();
        assert_eq!(bits.len(), 3, "{rel}");
        assert!(bits[0].starts_with("service="), "{rel}");
        assert!(bits[1].starts_with("date=") && bits[1].len() == 15, "{rel}");
        assert!(bits[2].starts_with("part-"), "{rel}");
        // The footer names the schema, and holds no Arrow schema with view types (which older
        // readers and pandas cannot take).
        let bytes = std::fs::read(&p).unwrap();
        let has = |n: &[u8]| bytes.windows(n.len()).any(|w| w == n);
        assert!(
            has(b"\"schema\":\"leakdiff.dataset\",\"version\":1"),
            "{rel}"
        );
        assert!(!has(b"ARROW:schema"), "{rel}");
    }
    for (service, folder) in folders {
        let (from_folder, _) = report(&[testdata(folder).to_str().unwrap(), "--no-progress"]);
        let (from_dataset, err) = report(&[ds.to_str().unwrap(), "--service", service]);
        assert!(
            err.contains(&format!("service {service}, 1 of 1 date partition(s) read")),
            "{err}"
        );
        assert_eq!(verdicts(&from_dataset), verdicts(&from_folder), "{service}");
        assert_eq!(
            from_dataset["snapshots"].as_array().unwrap().len(),
            from_folder["snapshots"].as_array().unwrap().len()
        );
        let (a, b) = (
            from_folder["total"]["trend"]["growth"].as_f64(),
            from_dataset["total"]["trend"]["growth"].as_f64(),
        );
        assert_eq!(a, b, "{service}: total growth");
        let (a, b) = (
            from_folder["total"]["trend"]["slope_per_hour"]
                .as_f64()
                .unwrap_or(0.0),
            from_dataset["total"]["trend"]["slope_per_hour"]
                .as_f64()
                .unwrap_or(0.0),
        );
        assert!(
            (a - b).abs() <= 1e-4 * a.abs().max(1.0),
            "{service}: slope {a} vs {b} (µs times against ns)"
        );
    }
    // The leak series' planted leaks are there, by name.
    let (r, _) = report(&[ds.to_str().unwrap(), "--service", "leak"]);
    let keys: Vec<String> = verdicts(&r).into_iter().map(|v| v.1).collect();
    for k in [
        "main.leakLinear",
        "main.leakExponential",
        "main.leakGoroutine",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
    }
    // check and export read it too.
    let (code, out, err) = run(&[
        "check",
        "-i",
        ds.to_str().unwrap(),
        "--service",
        "leak",
        "-f",
        "json",
    ]);
    assert_eq!(code, 1, "a leaking series fails the check: {out}{err}");
    let (code, out, err) = run(&["check", "-i", ds.to_str().unwrap(), "--service", "control"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&[
        "export",
        ds.to_str().unwrap(),
        "--service",
        "leak",
        "-f",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("main.leakLinear"), "{out}");
    // With several services and none named: an error that lists them.
    let (code, _, err) = run(&["report", ds.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("control, go127, leak"), "{err}");
    let (code, _, err) = run(&["report", ds.to_str().unwrap(), "--service", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no service \"nope\""), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // Dataset flags on a folder are an error, not ignored.
    let (code, _, err) = run(&[
        "report",
        testdata("go/series/leak").to_str().unwrap(),
        "--since",
        "24h",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("are for a dataset"), "{err}");
}

#[test]
fn ingesting_a_snapshot_twice_is_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("fleet");
    let err = ingest("svc", &testdata("go/series/leak"), &ds, &["--no-progress"]);
    assert!(err.contains("24 snapshot(s)"), "{err}");
    let before = parts(&ds);
    let err = ingest("svc", &testdata("go/series/leak"), &ds, &["--no-progress"]);
    assert!(
        err.contains("0 snapshot(s), 0 row(s) into 0 part(s)") && err.contains("24 already there"),
        "{err}"
    );
    assert_eq!(parts(&ds), before);
    // A copy of some of the files under other names is the same snapshots (these profiles have
    // no time of their own: their time is the file's mtime, which the copy keeps).
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for f in ["heap-003.pb.gz", "heap-004.pb.gz"] {
        let from = testdata("go/series/leak").join(f);
        let to = copy.join(format!("renamed-{f}"));
        std::fs::copy(&from, &to).unwrap();
        let mtime = std::fs::metadata(&from).unwrap().modified().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&to)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    let err = ingest("svc", &copy, &ds, &["--no-progress"]);
    assert!(err.contains("2 already there"), "{err}");
    assert_eq!(parts(&ds), before);
    // The same snapshots as another service are that service's.
    let err = ingest("other", &copy, &ds, &["--no-progress"]);
    assert!(err.contains("2 snapshot(s)"), "{err}");
}

/// Snapshots per part, from each part's footer.
fn footer_snapshots(dataset: &Path) -> usize {
    parts(dataset)
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let at = text.find("\"snapshots\":").expect("the part's metadata") + 12;
            text[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<usize>()
                .unwrap()
        })
        .sum()
}

#[test]
fn concurrent_ingests_of_overlapping_files_store_each_snapshot_once() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("fleet");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (dir, range) in [(&a, 1..=8), (&b, 5..=12)] {
        std::fs::create_dir(dir).unwrap();
        for i in range {
            let name = format!("heap-{i:03}.pb.gz");
            let from = testdata("go/series/leak").join(&name);
            std::fs::copy(&from, dir.join(&name)).unwrap();
            // The copies keep the time of their file: the same snapshots in both folders.
            let mtime = std::fs::metadata(&from).unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(dir.join(&name))
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        }
    }
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(&ds);
        let bin = assert_cmd::cargo::cargo_bin("leakdiff");
        let spawn = |dir: &Path| {
            std::process::Command::new(&bin)
                .args(["ingest", "--service", "svc", "--no-progress", "-o"])
                .arg(&ds)
                .arg("-i")
                .arg(dir)
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut x, mut y) = (spawn(&a), spawn(&b));
        assert!(x.wait().unwrap().success() && y.wait().unwrap().success());
        assert_eq!(footer_snapshots(&ds), 12, "{:?}", parts(&ds));
    }
}

/// A copy of the leak series whose files have no time of their own but their mtime: four
/// snapshots a day over three days.
fn series_over_three_days(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let day0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_547_200); // 2025-12-01
    for i in 1..=12u64 {
        let name = format!("heap-{i:03}.pb.gz");
        let to = dir.join(&name);
        std::fs::copy(testdata("go/series/leak").join(&name), &to).unwrap();
        let t = day0 + Duration::from_secs((i - 1) / 4 * 86_400 + (i - 1) % 4 * 3600);
        std::fs::File::options()
            .write(true)
            .open(&to)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    vec![
        "2025-12-01".into(),
        "2025-12-02".into(),
        "2025-12-03".into(),
    ]
}

#[test]
fn since_and_until_read_only_the_partitions_and_parts_they_name() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("fleet");
    let days = series_over_three_days(&tmp.path().join("series"));
    ingest(
        "svc",
        &tmp.path().join("series"),
        &ds,
        &["--order", "mtime", "--no-progress"],
    );
    let dirs: Vec<String> = std::fs::read_dir(ds.join("service=svc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for d in &days {
        assert!(dirs.contains(&format!("date={d}")), "{dirs:?}");
    }
    let d = ds.to_str().unwrap();
    let (all, err) = report(&[d]);
    assert!(err.contains("3 of 3 date partition(s) read"), "{err}");
    assert_eq!(all["snapshots"].as_array().unwrap().len(), 12);
    let (one, err) = report(&[
        d,
        "--since",
        "2025-12-02",
        "--until",
        "2025-12-02T23:59:59Z",
    ]);
    assert!(err.contains("1 of 3 date partition(s) read"), "{err}");
    assert_eq!(one["snapshots"].as_array().unwrap().len(), 4);
    // Within a day, the time range cuts rows: 2025-12-02 01:00, 02:00 and 03:00 are the
    // snapshots 6, 7 and 8 (00:00 is 5).
    let (some, _) = report(&[
        d,
        "--since",
        "2025-12-02T01:00:00Z",
        "--until",
        "2025-12-02T03:00:00Z",
    ]);
    assert_eq!(some["snapshots"].as_array().unwrap().len(), 3);
    let (tail, err) = report(&[d, "--since", "2025-12-03"]);
    assert!(err.contains("1 of 3 date partition(s) read"), "{err}");
    assert_eq!(tail["snapshots"].as_array().unwrap().len(), 4);
    let (code, _, err) = run(&["report", d, "--since", "2030-01-01"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no snapshots of service \"svc\" in that time range"),
        "{err}"
    );
    let (code, _, err) = run(&[
        "report",
        d,
        "--since",
        "2025-12-03",
        "--until",
        "2025-12-01",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--since is after --until"), "{err}");
    let (code, _, err) = run(&["report", d, "--since", "last tuesday"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a time"), "{err}");
}

#[test]
fn foreign_files_later_versions_and_half_written_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("fleet");
    ingest("svc", &testdata("go/series/leak"), &ds, &["--no-progress"]);
    let (clean, _) = report(&[ds.to_str().unwrap()]);
    let part = parts(&ds).remove(0);
    let day = part.parent().unwrap().to_path_buf();
    // A crash mid-write leaves the hidden temporary name: ignored, and said.
    std::fs::write(day.join(".part-x.parquet.999.tmp"), b"PAR1 half a part").unwrap();
    // A note someone left, and a Parquet file of another schema (a saved store).
    std::fs::write(day.join("README.txt"), b"ops notes").unwrap();
    let (code, _, err) = run(&[
        "report",
        testdata("go/series/leak").to_str().unwrap(),
        "--save",
        day.join("store.parquet").to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(code, 0, "{err}");
    let (r, err) = report(&[ds.to_str().unwrap()]);
    assert_eq!(verdicts(&r), verdicts(&clean), "never a wrong answer");
    assert!(err.contains("README.txt: not a dataset part"), "{err}");
    assert!(
        err.contains("store.parquet: a Parquet file that is no leakdiff.dataset part, skipped"),
        "{err}"
    );
    assert!(err.contains("1 unfinished write(s) ignored"), "{err}");
    // Ingest skips them the same way.
    let err = ingest("svc", &testdata("go/series/leak"), &ds, &["--no-progress"]);
    assert!(err.contains("24 already there"), "{err}");
    // A part of a later version is an error naming it: its rows may mean something else.
    let mut bytes = std::fs::read(&part).unwrap();
    let needle = b"\"version\":1,";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the version in the footer");
    bytes[at + needle.len() - 2] = b'7';
    let future = day.join("part-future.parquet");
    std::fs::write(&future, &bytes).unwrap();
    let (code, out, err) = run(&["report", ds.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("part-future.parquet: dataset part of leakdiff.dataset version 7"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("error")).count(),
        1,
        "{err}"
    );
    // A bad service name never becomes a path.
    for bad in ["../x", "a/b", "", ".."] {
        let (code, _, err) = run(&[
            "ingest",
            "--service",
            bad,
            "-i",
            testdata("go/series/leak").to_str().unwrap(),
            "-o",
            ds.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{bad:?}");
        assert!(err.contains("service name"), "{err}");
    }
}

/// The Python that has pyspark, pandas and pyarrow (`.ci/run` makes one), if any.
fn spark_python() -> Option<PathBuf> {
    let p = std::env::var_os("LEAKDIFF_SPARK_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists());
    crate::common::tool(
        "spark",
        p,
        "apt-get install openjdk-17-jre-headless, then set LEAKDIFF_SPARK_PYTHON to a python with pyspark, pandas and pyarrow (`.ci/run` makes one)",
    )
}

#[test]
fn the_spark_job_gives_reports_suspects_key_for_key() {
    let Some(python) = spark_python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("leakdiff");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(python)
        .current_dir(root)
        .arg("contrib/spark/test_fleet.py")
        .arg("--leakdiff")
        .arg(&bin)
        .arg("--work")
        .arg(tmp.path())
        .args(["--sql-top", "leak", "--sql-top", "go127"])
        .args([
            "go127=testdata/collect/go1.27/series",
            "leak=testdata/go/series/leak",
            "control=testdata/go/series/control",
            "collect=testdata/collect/series",
            // Ten Go heap profiles holding two GC states: one change, no suspect (as control).
            "control-parca=testdata/pprof/parca-many",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr
        .lines()
        .filter(|l| !l.contains(" WARN ") && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(out.status.success(), "{stdout}\n{tail}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    for service in ["go127", "leak", "collect"] {
        assert!(
            tail.contains(&format!("{service}: "))
                && !tail.contains(&format!("{service}: 0 suspect")),
            "{service} compared: {tail}"
        );
    }
}
