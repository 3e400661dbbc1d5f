//! `leakdiff report`: planted patterns found with the right classification, controls silent, the
//! parca series against `go tool pprof -base`, the Parquet store round trip, failures, HTML.

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

use crate::common::testdata;

fn leakdiff() -> Command {
    crate::common::leakdiff_cmd()
}

fn report_json(args: &[&str]) -> (Value, i32) {
    let out = leakdiff()
        .arg("report")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, code)
}

fn patterns(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_string(),
                s["pattern"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn truth(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap()
}

#[test]
fn planted_patterns_are_found_and_decoys_are_not_leaks() {
    let dir = testdata("go/series/leak");
    let (r, code) = report_json(&["--input", dir.to_str().unwrap(), "--top", "0"]);
    assert_eq!(code, 0);
    assert_eq!(r["schema"], "leakdiff.report/v1");
    assert_eq!(r["value_type"], "inuse_space/bytes");
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 12);
    let t = truth(&dir);
    let want: BTreeMap<String, String> = t["leaks"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        patterns(&r["suspects"]),
        want,
        "every planted leak, nothing else"
    );
    // The decoys that grew are named, with the right non-leak pattern.
    let benign = patterns(&r["not_leaks"]);
    for (k, v) in t["not_leaks"].as_object().unwrap() {
        let v = v.as_str().unwrap();
        if v != "flat" {
            assert_eq!(benign.get(k).map(String::as_str), Some(v), "{k}");
        }
    }
    // Each suspect carries the fields the schema documents.
    for s in r["suspects"].as_array().unwrap() {
        for f in [
            "frames",
            "severity",
            "slope_per_hour",
            "p_value",
            "r2",
            "prediction",
            "remediation",
            "series",
            "fitted",
        ] {
            assert!(!s[f].is_null(), "{f} missing in {s}");
        }
        assert!(s["p_value"].as_f64().unwrap() < 0.05);
        assert_eq!(s["series"].as_array().unwrap().len(), 12);
    }
    // Goroutines: the one blocked group grows linearly by 5 a step.
    let g = &r["goroutines"];
    let gs = patterns(&g["suspects"]);
    let want_g: Vec<String> = t["goroutine_leaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(gs.keys().cloned().collect::<Vec<_>>(), want_g);
    assert_eq!(gs["main.leakGoroutine"], "linear");
    let series = g["suspects"][0]["series"].as_array().unwrap();
    assert_eq!(series.first().unwrap().as_f64(), Some(5.0));
    assert_eq!(series.last().unwrap().as_f64(), Some(60.0));
    // The heap suspects correlate with the goroutine count (both grow with each step).
    assert!(
        r["suspects"][0]["correlation_with_goroutines"]
            .as_f64()
            .unwrap()
            > 0.8
    );
}

#[test]
fn the_control_series_is_silent() {
    let dir = testdata("go/series/control");
    let (r, code) = report_json(&["--input", dir.to_str().unwrap(), "--top", "0"]);
    assert_eq!(code, 0);
    assert_eq!(
        r["suspects"].as_array().unwrap().len(),
        0,
        "{}",
        r["suspects"]
    );
    assert_eq!(r["goroutines"]["suspects"].as_array().unwrap().len(), 0);
    assert_ne!(r["total"]["trend"]["pattern"], "linear");
    let benign = patterns(&r["not_leaks"]);
    assert_eq!(benign["main.cacheSawtooth"], "oscillating");
    assert_eq!(benign["main.warmPlateau"], "plateau");
}

#[test]
fn parca_series_growth_matches_pprof_base_diff() {
    // `go tool pprof -top -sample_index=inuse_space -base FIRST LAST`: the five growers and the
    // total growth of 90.38MB.
    let golden = std::fs::read_to_string(testdata(
        "pprof/many-last-minus-first.golden.pprof-go1.23-top-inuse_space-base.txt",
    ))
    .unwrap();
    let dir = testdata("pprof/parca-many");
    let (r, code) = report_json(&["--input", dir.to_str().unwrap(), "--memory-limit", "1GiB"]);
    assert_eq!(code, 0);
    // Ten Go heap profiles, two GC states: the first eight repeat one heap, the last two another.
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 2);
    assert_eq!(r["gc_repeats"], 8);
    // One change is no trend: no suspect is claimed from two states.
    assert!(
        r["suspects"].as_array().unwrap().is_empty(),
        "{}",
        r["suspects"]
    );
    let (c, text, err) = crate::common::run(&["report", dir.to_str().unwrap(), "--no-progress"]);
    assert_eq!(c, 0, "{err}");
    assert!(
        text.contains("over 10 heap snapshots, 2 distinct GC states"),
        "{text}"
    );
    assert!(
        text.contains("two distinct GC states are one change, not a trend"),
        "{text}"
    );
    // pprof's MB are MiB.
    let mb = |v: &Value| format!("{:.2}MB", v.as_f64().unwrap() / 1048576.0);
    let total = mb(&r["total"]["trend"]["growth"]);
    assert!(
        golden.contains(&format!("accounting for {total}")),
        "{total}"
    );
    // Every suspect is one of pprof's growers with the same growth.
    for s in r["suspects"].as_array().unwrap() {
        let key = s["key"].as_str().unwrap();
        let line = golden
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("{key} not in pprof's top"));
        let flat = line.split_whitespace().next().unwrap();
        let ours = s["growth"].as_f64().unwrap() / 1048576.0;
        let theirs: f64 = flat.trim_end_matches("MB").parse().unwrap();
        assert!((ours - theirs).abs() < 0.006, "{key}: {ours} vs {theirs}");
    }
}

#[test]
fn a_saved_parquet_store_gives_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.parquet");
    let dir = testdata("go/series/leak");
    let (a, _) = report_json(&[
        "--input",
        dir.to_str().unwrap(),
        "--save",
        store.to_str().unwrap(),
    ]);
    assert!(store.is_file());
    let (b, code) = report_json(&["--input", store.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(a, b);
}

#[test]
fn order_by_name_and_a_file_that_fails_is_skipped_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let src = testdata("pprof/parca-many");
    let mut names: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    // Names that sort in reverse time order: --order name then reads the series backwards.
    for (i, p) in names.iter().enumerate() {
        std::fs::copy(p, tmp.path().join(format!("snap-{}.pb.gz", 10 - i))).unwrap();
    }
    let (by_time, _) = report_json(&["--input", tmp.path().to_str().unwrap()]);
    assert!(by_time["total"]["trend"]["growth"].as_f64().unwrap() > 0.0);
    let (by_name, _) = report_json(&["--input", tmp.path().to_str().unwrap(), "--order", "name"]);
    assert_eq!(
        by_name["snapshots"][0]["source"],
        tmp.path().join("snap-1.pb.gz").display().to_string()
    );
    assert!(by_name["total"]["trend"]["growth"].as_f64().unwrap() < 0.0);

    std::fs::write(tmp.path().join("garbage.pb.gz"), b"\x1f\x8bnot gzip at all").unwrap();
    let out = leakdiff()
        .args(["report", "--input", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("garbage.pb.gz"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("over 10 heap snapshots, 2 distinct GC states"),
        "the report is still written: {text}"
    );
}

/// Builds a series of pprof files whose growing function has a hostile name.
fn hostile_series(dir: &Path) {
    crate::common::pprof_series(
        dir,
        &[
            ("main.main", "main.go", 1),
            ("<script>alert(1)</script>&\"'", "<b>x.go", 2),
        ],
        1 << 20,
    );
}

#[test]
fn html_report_is_self_contained_and_escapes_symbol_names() {
    let tmp = tempfile::tempdir().unwrap();
    hostile_series(tmp.path());
    let html = tmp.path().join("report.html");
    leakdiff()
        .args(["report", "--input", tmp.path().to_str().unwrap(), "-o"])
        .arg(&html)
        .assert()
        .success();
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(
        !text.contains("<script>alert"),
        "an unescaped name reached the HTML"
    );
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The only scripts are the two flamegraphs' own (zoom, search), and they fetch nothing.
    assert_eq!(
        text.matches("<script").count(),
        text.matches("<script type=\"text/javascript\"><![CDATA[")
            .count()
    );
    assert_eq!(
        text.matches("<script").count(),
        2,
        "diff and latest flamegraphs"
    );
    assert!(!text.contains("fetch(") && !text.contains("XMLHttpRequest"));
    for bad in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!text.contains(bad), "external resource: {bad}");
    }
    assert!(
        text.contains("<svg"),
        "charts and flamegraphs are inline SVG"
    );
    assert!(text.contains("linear"));
}

#[test]
fn html_report_renders_in_headless_chromium_without_console_errors() {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(chromium) = crate::common::tool("chromium", found, "apt-get install chromium") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("report.html");
    leakdiff()
        .args(["report", "--input"])
        .arg(testdata("go/series/leak"))
        .arg("-o")
        .arg(&html)
        .assert()
        .success();
    let out = std::process::Command::new(testdata("../scripts/check-html.sh"))
        .arg(&html)
        .env("CHROMIUM", chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("console errors: 0"), "{stdout}");
    assert!(stdout.contains("main.leakExponential"), "{stdout}");
}

#[test]
fn a_broken_parquet_store_is_one_error_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("store.parquet");
    std::fs::write(&bad, b"PAR1 this is not a parquet file PAR1").unwrap();
    let out = leakdiff()
        .args(["report", "--input"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("store.parquet"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn heaptrack_slices_make_a_series_and_two_allocators_are_two_processes() {
    // One heaptrack recording cut into 8 snapshots, then trended: the planted C leaks lead.
    let tmp = tempfile::tempdir().unwrap();
    leakdiff()
        .args(["slice", "--slices", "8", "-o"])
        .arg(tmp.path())
        .arg(testdata("c/leak.heaptrack.zst"))
        .assert()
        .success();
    let (r, code) = report_json(&["--input", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    let keys: Vec<&str> = r["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["cache_session", "append_audit", "register_listener"],
        "{keys:?}"
    );
    // jemalloc then gperftools: the same program run twice, under two allocators: two processes
    // (their memory maps place the vDSO apart), never one series.
    let mix = tempfile::tempdir().unwrap();
    std::fs::copy(
        testdata("c/leak-jemalloc-exact-base.heap"),
        mix.path().join("1.heap"),
    )
    .unwrap();
    std::fs::copy(
        testdata("c/leak-gperftools-later.heap"),
        mix.path().join("2.heap"),
    )
    .unwrap();
    let bin = testdata("c/leakgen");
    let (r, code) = report_json(&[
        "--input",
        mix.path().to_str().unwrap(),
        "--order",
        "name",
        "--binary",
        bin.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let formats: Vec<&str> = r["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["legacy heap profile"], "{formats:?}");
    let note = r["skipped"][0]["message"].as_str().unwrap();
    assert!(
        note.starts_with("1 heap snapshot(s) of another process (vdso@0x"),
        "{note}"
    );
    // One snapshot: no trend, no suspect.
    assert!(
        r["suspects"].as_array().unwrap().is_empty(),
        "{}",
        r["suspects"]
    );
}

/// A real Go 1.27 `collect` recording: the heap's compress/flate and runtime/pprof keys were
/// allocated by net/http/pprof serving the collector. They are set apart by default, never
/// suspects nor not-leaks, and `--keep-profiler` judges them again.
#[test]
fn the_profilers_own_allocations_are_set_apart_unless_kept() {
    let dir = testdata("collect/series");
    let dir = dir.to_str().unwrap();
    let (v, _) = report_json(&["--no-progress", "--top", "0", "-i", dir]);
    let keys: Vec<&str> = v["profiler_overhead"]["keys"]
        .as_array()
        .expect("profiler_overhead")
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(keys.contains(&"compress/flate.NewWriter"), "{keys:?}");
    let named = |v: &Value, section: &str| -> Vec<String> {
        v[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["key"].as_str().unwrap().to_string())
            .collect()
    };
    for section in ["suspects", "not_leaks"] {
        let names = named(&v, section);
        assert!(
            names
                .iter()
                .all(|k| !k.starts_with("compress/flate.") && !k.starts_with("runtime/pprof.")),
            "{section}: {names:?}"
        );
    }
    let (kept, _) = report_json(&["--no-progress", "--top", "0", "--keep-profiler", "-i", dir]);
    assert!(kept["profiler_overhead"].is_null());
    let all: Vec<String> = named(&kept, "not_leaks")
        .into_iter()
        .chain(named(&kept, "suspects"))
        .collect();
    assert!(
        all.iter().any(|k| k.starts_with("compress/flate.")),
        "{all:?}"
    );
    assert!(kept["keys_analyzed"].as_u64() > v["keys_analyzed"].as_u64());
}

/// `check` and `export` leave the profiler's keys out as `report` does, and take `--keep-profiler`:
/// `check` says on stderr how many it left out and `export --format prometheus` has a gauge of
/// them; kept, they are judged like any key, and neither appears.
#[test]
fn check_and_export_take_keep_profiler() {
    let dir = testdata("collect/series");
    let check = |extra: &[&str]| {
        let out = leakdiff()
            .args(["check", "-i"])
            .arg(&dir)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let note = "allocated by the profiler itself";
    assert!(check(&[]).contains(note));
    assert!(!check(&["--keep-profiler"]).contains(note));
    let export = |extra: &[&str]| -> String {
        let out = leakdiff()
            .args(["export", "--format", "prometheus", "-i"])
            .arg(&dir)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let gauge = "leakdiff_profiler_overhead{value_type=\"inuse_space\",unit=\"bytes\"} ";
    assert!(export(&[]).contains(gauge));
    assert!(!export(&["--keep-profiler"]).contains(gauge));
}

/// Charts a person can read: y ticks at round values (no `26.80MiB`) and never one label twice,
/// x ticks at round times, what grew but is no leak in grey rather than the suspects' red, flat
/// process metrics in one line rather than a chart each, the latest snapshot's flamegraph in
/// colours that do not read as growth.
#[test]
fn charts_tick_at_round_values_and_colour_only_suspects_red() {
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("r.html");
    leakdiff()
        .args(["report", "-o"])
        .arg(&html)
        .arg(testdata("real/go/prometheus-growing"))
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    let mut two_decimals = Vec::new();
    for chart in page.split("<svg class=\"chart\"").skip(1) {
        let chart = chart.split("</svg>").next().unwrap();
        let labels: Vec<&str> = chart
            .split("class=\"ax\">")
            .skip(1)
            .filter_map(|l| l.split('<').next())
            .collect();
        let mut seen = std::collections::HashSet::new();
        for l in &labels {
            assert!(seen.insert(*l), "label {l} twice in one chart: {labels:?}");
            let number = l.split(' ').next().unwrap();
            if number.split('.').nth(1).is_some_and(|d| d.len() > 1) {
                two_decimals.push(l.to_string());
            }
        }
        assert!(labels.contains(&"0"), "{labels:?}");
        assert!(
            labels.iter().any(|l| l.ends_with('m') || l.ends_with('s')),
            "{labels:?}"
        );
    }
    assert!(two_decimals.is_empty(), "{two_decimals:?}");
    let benign = page
        .split("<h2>Grew, but not leaks</h2>")
        .nth(1)
        .expect("a section of what grew but is no leak");
    let benign = benign.split("</section>").next().unwrap();
    assert!(
        benign.contains("stroke=\"#7f8c8d\""),
        "benign charts are grey"
    );
    assert!(!benign.contains("#c0392b"), "benign charts are not red");
    let flat = page
        .split("id=\"flat-metrics\"")
        .nth(1)
        .expect("flat metrics folded");
    assert!(flat
        .split("</p>")
        .next()
        .unwrap()
        .contains("data-metric=\"threads\""));
    assert!(!page.contains("<div class=\"metric\" data-metric=\"threads\""));
    let latest = page
        .split("id=\"flame-latest\"")
        .nth(1)
        .expect("latest flamegraph");
    assert!(
        !latest.contains("fill=\"rgb(255,"),
        "no warm frames in the latest flamegraph"
    );
}
