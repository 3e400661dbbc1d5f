//! The real-program corpus (`testdata/real`): Debian's Prometheus, Pushgateway and Alertmanager
//! collected under growing and steady load, and Debian's python3.11 and gawk under heaptrack,
//! jemalloc and gperftools, each with a hand-written truth. `eval` scores the detectors on it.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn real(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/real")
        .join(rel)
}

/// jemalloc and gperftools dumps carry no time: their series' time axis is the files' mtimes,
/// which git does not keep. `mtimes.tsv` has the ones the profilers wrote; put them back.
fn restore_mtimes() {
    restore_mtimes_of("native");
}

/// [`restore_mtimes`] for one corpus folder (`native`, `cpp`).
fn restore_mtimes_of(corpus: &str) {
    let root = real(corpus);
    let table = std::fs::read_to_string(root.join("mtimes.tsv")).unwrap();
    for line in table.lines() {
        let (path, t) = line.split_once('\t').unwrap();
        let secs: f64 = t.parse().unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs);
        let f = std::fs::File::options()
            .write(true)
            .open(root.join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        f.set_modified(when).unwrap();
    }
}

/// Runs leakdiff with these arguments (strings and paths alike).
fn run<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    crate::common::leakdiff_cmd().args(args).output().unwrap()
}

/// [`run`], failing the test with leakdiff's stderr unless it succeeds; its stdout.
fn stdout_of<I, S>(args: I) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = run(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Arguments of mixed kinds as `OsString`s.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$(std::ffi::OsString::from($a)),*]
    };
}

fn eval(dirs: &[PathBuf]) -> Value {
    eval_with_symbols(dirs, real("native/symbols"))
}

fn eval_with_symbols(dirs: &[PathBuf], symbols: PathBuf) -> Value {
    let mut a = args!["eval"];
    a.extend(dirs.iter().map(|d| d.clone().into_os_string()));
    a.extend(args!["--symbols", symbols, "--no-latency", "-f", "json"]);
    serde_json::from_slice(&stdout_of(a)).unwrap()
}

/// A C++ service (`cpp/gen/sessions.cpp`: a session registry that is never pruned and a
/// per-session history vector, or the same capped at 1,000 sessions), linked with GNU ld and
/// with lld, under jemalloc's profiler, gperftools and heaptrack: 12 series. Each leak is keyed
/// by the program's function above the standard containers, also where the demangler writes a
/// template's return type first (`void std::vector<…>::_M_realloc_insert<…>`) and where an
/// address in libstdc++ has no name (eval reads no mapped path: `libstdc++.so.6.0.30+0x13fcdd`
/// is the string's own growth under `register_session`). No finding on a capped run.
#[test]
fn eval_scores_a_cpp_service_under_three_profilers_and_two_linkers() {
    restore_mtimes_of("cpp");
    let r = eval_with_symbols(&[real("cpp")], real("cpp/bin"));
    let o = &r["overall"];
    assert_eq!(o["scenarios"], 12, "{o}");
    assert_eq!(o["leaks"], 12, "{o}");
    assert_eq!(o["detected"], 12, "{o}");
    assert_eq!(o["false_positives"], 0, "{}", r["scenarios"]);
    assert_eq!(o["leak_free_with_findings"], 0, "{o}");
    for s in r["scenarios"].as_array().unwrap() {
        let dir = s["dir"].as_str().unwrap();
        if dir.ends_with("-growing") {
            let found = names(&s["detected"]);
            for f in ["register_session(", "append_history("] {
                assert!(found.iter().any(|k| k.starts_with(f)), "{dir}: {found:?}");
            }
        }
    }
    // heaptrack names where an unnamed frame lies by its offset in the file, as pprof does, not
    // by the address it ran at (which moves with every run).
    let json = stdout_of(args![
        "report",
        real("cpp/lld-heaptrack-steady"),
        "--by",
        "stack",
        "-f",
        "json"
    ]);
    let json = String::from_utf8_lossy(&json);
    let frame = ";libstdc++.so.6+0xa57b9 (after std::__throw_ios_failure(char const*, int))";
    assert!(json.contains(frame), "{json}");
}

/// A Rust service on tikv-jemallocator with jemalloc's profiler on, each profile written by
/// jemalloc_pprof (`rust/gen/service`; rustc's default linker, lld, places the text 0x1000 above
/// its file offset): the stacks start in jemalloc's profiler and Rust's `RawVec` and `hashbrown`
/// growth, and each leak is keyed by the program's function, as `go tool pprof -traces` names
/// the frames (`rust/reference/`).
#[test]
fn eval_scores_a_rust_service_profiled_through_jemalloc_pprof() {
    let r = eval_with_symbols(&[real("rust")], real("rust/bin"));
    let o = &r["overall"];
    assert_eq!(o["scenarios"], 2, "{o}");
    assert_eq!(o["detected"], 2, "{}", r["scenarios"]);
    assert_eq!(o["false_positives"], 0, "{}", r["scenarios"]);
    assert_eq!(o["leak_free_with_findings"], 0, "{o}");
    let last = real("rust/rust-jemalloc_pprof-growing/heap.0019.pb.gz");
    let folded = stdout_of(args![last, "-f", "folded", "--symbols", real("rust/bin")]);
    let folded = String::from_utf8_lossy(&folded);
    let stack = "sessions::main;sessions::handle;sessions::append_event;alloc::raw_vec::RawVec<T,A>::grow_one;alloc::raw_vec::RawVecInner<A>::finish_grow;do_rallocx;_rjem_je_prof_tctx_create;_rjem_je_prof_backtrace;prof_backtrace_impl ";
    assert!(folded.contains(stack), "{folded}");
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// What doc/performance.md's real-corpus row says, measured: every native leak found (heaptrack
/// recordings trended slice by slice, exit dumps and teardown left out, CPython's allocator frames
/// skipped, stripped python3.11 named from its debug file's symbols), no finding on any steady
/// run, no high or critical finding on etcd's bounded raft log still filling, false positives
/// within 2 %; at least 95 % of the leaks found in the first three Go services (their per-series
/// sites under their floors through the callers that own them), and all 36 leaks overall:
/// etcd's index and lease sites are found through the caller that owns them (their sum keeps
/// its samples: its falls are a map's old buckets freed after the new ones); InfluxDB's series
/// index grows by a few sampled objects per site, and the sites the suspects do not cover are
/// named beside them, under their caller.
#[test]
fn eval_scores_the_real_program_corpus() {
    restore_mtimes();
    let r = eval(&[real("go"), real("native")]);
    let o = &r["overall"];
    assert_eq!(o["scenarios"], 24, "{o}");
    assert_eq!(
        o["leak_free_with_findings"], 0,
        "{}",
        r["leak_free_with_findings"]
    );
    assert!(o["fpr"].as_f64().unwrap() <= 0.02, "{o}");
    for s in r["scenarios"].as_array().unwrap() {
        let dir = s["dir"].as_str().unwrap();
        let missed = names(&s["missed"]);
        if dir.contains("/native/") {
            assert!(missed.is_empty(), "{dir}: missed {missed:?}");
            assert!(
                names(&s["false_positives"]).is_empty(),
                "{dir}: {}",
                s["false_positives"]
            );
        }
    }
    let detected = o["detected"].as_u64().unwrap();
    assert_eq!(detected, 36, "{o}");
    assert_eq!(o["leaks"], 36, "{o}");
    let (mut found, mut planted) = (0, 0);
    for s in r["scenarios"].as_array().unwrap() {
        let dir = s["dir"].as_str().unwrap();
        if ["prometheus", "pushgateway", "alertmanager"]
            .iter()
            .any(|svc| dir.contains(svc))
            || dir.contains("/native/")
        {
            found += names(&s["detected"]).len();
            planted += names(&s["leaks"]).len();
        }
    }
    assert!(found * 100 >= 95 * planted, "{found} of {planted}");
}

/// Debian's Prometheus under growing cardinality, a heap profile every 4 s: 30 snapshots hold 11
/// GC states (the Go heap profile repeats the last GC's heap until the next). Trended once each,
/// the staircase of `MemPostings.addFor` (0.55 → 10.1 → 7.3 MiB, then the same state repeated to
/// the end, which read as a plateau) is a leak, and the report says how many snapshots it folded.
#[test]
fn go_heap_snapshots_between_gcs_are_one_observation() {
    let r = report_json("go/prometheus-growing");
    assert_eq!(r["gc_repeats"], 19, "{}", r["gc_repeats"]);
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 11);
    let suspects: Vec<String> = r["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap().to_string())
        .collect();
    assert!(
        suspects
            .iter()
            .any(|k| k.ends_with("index.(*MemPostings).addFor")),
        "{suspects:?}"
    );
    let text =
        String::from_utf8(stdout_of(args!["report", real("go/prometheus-growing")])).unwrap();
    assert!(
        text.contains("over 30 heap snapshots, 11 distinct GC states"),
        "{text}"
    );
    // Native recordings observe the heap when asked: nothing folded.
    let r = report_json("native/python-heaptrack-nodebug");
    assert_eq!(r["gc_repeats"], 0);
}

/// The next step fits the program: a Go heap dump for Go, heaptrack's and jemalloc's own tools for
/// native programs; said once per report, not under every suspect.
#[test]
fn the_next_step_is_the_programs_own() {
    for (dir, want, never) in [
        ("go/prometheus-growing", "Go heap dump", "heaptrack"),
        (
            "native/gawk-heaptrack-growing",
            "heaptrack_print",
            "Go heap dump",
        ),
        ("native/gawk-jemalloc-growing", "jeprof", "Go heap dump"),
        (
            "native/python-gperftools-growing",
            "HEAPCHECK",
            "Go heap dump",
        ),
    ] {
        let r = report_json(dir);
        assert!(!r["suspects"].as_array().unwrap().is_empty(), "{dir}");
        let next = r["next_step"].as_str().unwrap_or_default();
        assert!(
            next.contains(want) && !next.contains(never),
            "{dir}: {next}"
        );
        for s in r["suspects"].as_array().unwrap() {
            let fix = s["remediation"].as_str().unwrap();
            assert!(!fix.contains("heap dump"), "{dir}: {fix}");
        }
    }
}

fn report_json(dir: &str) -> Value {
    serde_json::from_slice(&stdout_of(args!["report", real(dir), "-f", "json"])).unwrap()
}

/// The caller under which `keys` are named, if any.
fn caller_of(r: &Value, key: &str) -> Option<String> {
    r["callers"].as_array().unwrap().iter().find_map(|c| {
        c["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k[0] == key)
            .then(|| c["caller"].as_str().unwrap().to_string())
    })
}

/// Prometheus under growing cardinality: 30 MiB of the total's growth is in sites each under its
/// floor at 512 KiB sampling. The report looks up the call tree and names the frames that own
/// it: the stripe map's `getOrSet` (its hash map `seriesHashmap.set`, 1 → 7 samples, and the
/// isolation rings), the chunk appender under `memSeries.append`; the 4 MiB write buffer that
/// rose once is never one of them. Alertmanager's marker map is found under the aggregation
/// group's loop. Steady Prometheus names no caller.
#[test]
fn report_names_the_callers_that_own_growth_spread_under_the_floor() {
    let r = report_json("go/prometheus-growing");
    let left = r["unexplained_growth"].as_f64().unwrap();
    assert!(left > 20.0 * 1048576.0, "{left}");
    assert_eq!(
        caller_of(
            &r,
            "github.com/prometheus/prometheus/tsdb.seriesHashmap.set"
        )
        .as_deref(),
        Some("github.com/prometheus/prometheus/tsdb.(*stripeSeries).getOrSet"),
        "{}",
        r["callers"]
    );
    assert!(caller_of(
        &r,
        "github.com/prometheus/prometheus/tsdb/chunkenc.(*XORChunk).Appender"
    )
    .is_some());
    assert!(caller_of(&r, "bufio.NewWriterSize").is_none());
    let suspects: Vec<&str> = r["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    for c in r["callers"].as_array().unwrap() {
        assert!(c["pattern"] != "plateau" && c["growth"].as_f64().unwrap() > 0.0);
        for k in c["keys"].as_array().unwrap() {
            assert!(!suspects.contains(&k[0].as_str().unwrap()), "{k}");
        }
    }
    let a = report_json("go/alertmanager-growing");
    assert_eq!(
        caller_of(
            &a,
            "github.com/prometheus/alertmanager/types.(*memMarker).SetInhibited"
        )
        .as_deref(),
        Some("github.com/prometheus/alertmanager/dispatch.(*aggrGroup).run"),
        "{}",
        a["callers"]
    );
    // Steady Prometheus still grows (head chunks filling): 8 MiB under the floors, owned by no
    // caller with a leak pattern.
    let steady = report_json("go/prometheus-steady");
    assert!(
        steady["callers"].as_array().unwrap().is_empty(),
        "{}",
        steady["callers"]
    );
    let out = stdout_of(args!["report", real("go/prometheus-growing")]);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("GROWTH UNDER CALLERS:") && text.contains("tsdb.(*stripeSeries).getOrSet"),
        "{text}"
    );
}

/// InfluxDB with a tag of unbounded values: every new series allocates at several sites under
/// the index's `CreateSeriesListIfNotExists`. `Tags.Clone` and `newSeries` gather enough samples
/// to be suspects; `Tag.Clone` (four samples gained, none lost), the index's own map and
/// `measurement.AddSeries`' map (their falls are the old arrays of the rises before them) are
/// named beside them. The write cache's sawtooth under the same engine never is, and steady
/// InfluxDB, with no suspect, names nothing beside one.
#[test]
fn report_names_the_small_sites_growing_beside_the_suspects() {
    const IDX: &str = "github.com/influxdata/influxdb/tsdb/index/inmem.";
    let r = report_json("go/influxdb-growing");
    let beside = r["beside_suspects"].as_array().unwrap();
    let under = beside
        .iter()
        .find(|b| b["caller"] == format!("{IDX}(*Index).CreateSeriesListIfNotExists"))
        .unwrap_or_else(|| panic!("{beside:?}"));
    let with: Vec<&str> = under["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        with.contains(&"github.com/influxdata/influxdb/models.Tags.Clone"),
        "{with:?}"
    );
    let keys: Vec<String> = beside
        .iter()
        .flat_map(|b| b["keys"].as_array().unwrap().iter())
        .map(|k| k["key"].as_str().unwrap().to_string())
        .collect();
    for k in [
        "github.com/influxdata/influxdb/models.Tag.Clone".to_string(),
        format!("{IDX}(*Index).CreateSeriesListIfNotExists"),
        format!("{IDX}(*measurement).AddSeries"),
    ] {
        assert!(keys.contains(&k), "{k} not in {keys:?}");
    }
    assert!(keys.iter().all(|k| !k.contains("tsm1")), "{keys:?}");
    let text = String::from_utf8_lossy(&stdout_of(args!["report", real("go/influxdb-growing")]))
        .to_string();
    assert!(text.contains("BESIDE THE SUSPECTS:"), "{text}");
    let steady = report_json("go/influxdb-steady");
    assert!(
        steady["beside_suspects"].as_array().unwrap().is_empty(),
        "{}",
        steady["beside_suspects"]
    );
}

/// The python3.11 cache under jemalloc: the exit dump (`.f.heap`, written after the interpreter
/// freed its objects) is left out and said so; the leak is named after the first frame past
/// CPython's allocator (`_PyBytes_FromBuffer`, not `_PyMem_RawMalloc`), the GCC clone suffix
/// (`.lto_priv.0`) dropped, from the committed symbol file.
#[test]
fn report_holds_growth_until_exit_and_names_the_stripped_interpreter() {
    restore_mtimes();
    let out = stdout_of(args![
        "report",
        real("native/python-jemalloc-growing"),
        "--symbols",
        real("native/symbols"),
    ]);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("held until exit:"), "{text}");
    assert!(
        text.contains("(exit dump: the process tearing down)"),
        "{text}"
    );
    let suspects = text.split("SUSPECTS").nth(1).unwrap_or("");
    let first = suspects.lines().nth(2).unwrap_or("");
    assert!(
        first.contains("linear") && first.ends_with("_PyBytes_FromBuffer"),
        "{text}"
    );
    assert!(!text.contains("lto_priv"), "{text}");
}

/// heaptrack leaves a stripped binary's frames as bare addresses when its debug file is not
/// installed where the recording is interpreted. The same raw recording of python3.11,
/// interpreted without and with python3.11-dbg's debug file: leakdiff names the unnamed ips
/// from the committed symbol file (the executable is linked for fixed addresses, so an ip is its
/// symbol-table address), each with the function heaptrack itself names there with the debug file
/// in place, and `report` names the leak.
#[test]
fn heaptrack_frames_left_unnamed_are_named_from_the_symbols() {
    use leakdiff::formats::{decode_bytes, ReadOptions};
    use leakdiff::symbolize::{SymbolOptions, Symbolizer};
    let rec = real("native/python-heaptrack-nodebug/python-heaptrack-nodebug.zst");
    let decode =
        |p: &Path| decode_bytes(std::fs::read(p).unwrap(), "rec", &ReadOptions::default()).unwrap();
    let mut bare = decode(&rec);
    let mut full = decode(&real(
        "native/reference/python-heaptrack-nodebug/withdebug.zst",
    ));
    let exe = "/usr/bin/python3.11";
    let heaptrack_names: std::collections::HashMap<u64, String> = full
        .heaptrack_mut()
        .unwrap()
        .module_ips()
        .into_iter()
        .filter(|m| m.module == exe)
        .flat_map(|m| m.named)
        .collect();
    let bare_rec = bare.heaptrack_mut().unwrap();
    let before = bare_rec.module_ips();
    assert_eq!(before[0].module, exe);
    let unnamed: Vec<u64> = before[0].unnamed.iter().map(|(_, a)| *a).collect();
    assert_eq!(unnamed.len(), 544);
    let symbolizer = Symbolizer::new(SymbolOptions {
        dirs: vec![real("native/symbols")],
        only_dirs: true,
        ..Default::default()
    });
    let named = symbolizer.symbolize_heaptrack(bare_rec);
    let after: std::collections::HashMap<u64, String> = bare_rec
        .module_ips()
        .into_iter()
        .filter(|m| m.module == exe)
        .flat_map(|m| m.named)
        .collect();
    assert_eq!(named, 544);
    let mut compared = 0;
    for a in &unnamed {
        if let (Some(ours), Some(theirs)) = (after.get(a), heaptrack_names.get(a)) {
            // heaptrack keeps GCC's clone suffixes (`encode_locale.constprop.0`); C names have
            // no dots.
            let theirs = theirs.split('.').next().unwrap();
            assert_eq!(ours, theirs, "ip {a:#x}");
            compared += 1;
        }
    }
    assert_eq!(compared, 544);

    let first_suspect = |extra: Vec<std::ffi::OsString>| {
        let mut a = args!["report", &rec];
        a.extend(extra);
        let text = String::from_utf8_lossy(&stdout_of(a)).into_owned();
        let suspects = text.split("SUSPECTS").nth(1).unwrap_or("").to_string();
        suspects.lines().nth(2).unwrap_or("").to_string()
    };
    let named = first_suspect(args!["--symbols", real("native/symbols")]);
    assert!(
        named.contains("linear") && named.ends_with("_PyBytes_FromBuffer"),
        "{named}"
    );
    // Without symbols the same leak is the address heaptrack left (0x665d05).
    let bare = first_suspect(args!["--no-symbolize"]);
    assert!(bare.ends_with("python3.11+0x665d05"), "{bare}");
}

/// The Go services' growth at 512 KiB sampling: no suspect is exponential. Prometheus'
/// `newScrapePool.func1` is a map doubling its buckets, each jump overshooting until the old ones
/// are evacuated (stepped); Alertmanager's `OpenAPIAlertsToAlerts` rises by seven samples, a
/// little faster late on (linear). 2.5 minutes of data project nothing 24 h ahead, and a limit
/// crossing further out than ten spans says it is beyond the data.
#[test]
fn real_go_services_get_the_patterns_and_projections_their_data_supports() {
    let mut patterns = std::collections::HashMap::new();
    for dir in [
        "prometheus-growing",
        "pushgateway-growing",
        "alertmanager-growing",
    ] {
        let r = report_json(&format!("go/{dir}"));
        for s in r["suspects"].as_array().unwrap() {
            let key = s["key"].as_str().unwrap().to_string();
            assert!(s["prediction"]["value_in_24h"].is_null(), "{dir}: {key}");
            patterns.insert(key, s["pattern"].as_str().unwrap().to_string());
        }
    }
    let pattern = |k: &str| patterns.get(k).map(String::as_str);
    assert!(
        patterns.values().all(|p| p != "exponential"),
        "{patterns:?}"
    );
    assert_eq!(
        pattern("github.com/prometheus/prometheus/scrape.newScrapePool.func1"),
        Some("stepped")
    );
    assert_eq!(
        pattern("github.com/prometheus/alertmanager/api/v2.OpenAPIAlertsToAlerts"),
        Some("linear")
    );
    let text = String::from_utf8_lossy(&stdout_of(args![
        "report",
        real("go/prometheus-growing"),
        "--memory-limit",
        "1GiB"
    ]))
    .into_owned();
    assert!(
        text.contains("limit reached in 2.3h (interval 2.0h … 2.6h) at this rate, beyond the 20m the data supports"),
        "{text}"
    );
}

/// A heaptrack recording given to `report` is cut into 20 slices by default (and as asked with
/// --slices), so the gawk store's growth is trended, not read as one snapshot.
#[test]
fn report_trends_a_heaptrack_recording_by_its_slices() {
    let rec = real("native/gawk-heaptrack-growing/gawk-heaptrack-growing.zst");
    let json = |extra: &[&str]| -> Value {
        let mut a = args!["report", &rec, "-f", "json"];
        a.extend(extra.iter().map(std::ffi::OsString::from));
        serde_json::from_slice(&stdout_of(a)).unwrap()
    };
    let r = json(&[]);
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 20);
    let keys: Vec<&str> = r["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"gawk+0x46596c"), "{keys:?}");
    assert!(keys.contains(&"gawk+0x465b85"), "{keys:?}");
    let r = json(&["--slices", "8"]);
    assert_eq!(r["snapshots"].as_array().unwrap().len(), 8);
}

/// Debian's jq under gperftools, a dump every 4 KiB allocated: the first dump, taken before
/// anything was freed, has pprof's two columns (`objects`, `space`), the later ones four. They
/// line up as in-use columns: the series starts at the first dump's 5480 bytes (its header), the
/// diff of the first and a later dump works, and an `alloc_*` column is trended only when asked.
#[test]
fn gperftools_two_column_first_dump_lines_up_with_the_four_column_ones() {
    restore_mtimes();
    let dir = real("native/jq-gperftools-slurp");
    let r: Value =
        serde_json::from_slice(&stdout_of(args!["report", "-f", "json", "--input", &dir])).unwrap();
    assert_eq!(r["value_type"], "inuse_space/bytes");
    let series = r["total"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 14);
    assert_eq!(series[0].as_f64(), Some(5480.0));
    assert!(series.iter().all(|v| v.as_f64().unwrap() > 0.0));

    let out = stdout_of([dir.join("gperf.0001.heap"), dir.join("gperf.0265.heap")]);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("leakdiff: inuse_space (bytes)"), "{text}");
    assert!(text.contains("from 5.35KiB to 17.25KiB"), "{text}");

    // The first dump has no allocation column: asking for one says which snapshots lack it.
    let out = run(args![
        "report",
        "--sample-index",
        "alloc_space",
        "--input",
        &dir
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"alloc_space\" is not in every heap snapshot"),
        "{err}"
    );

    // Asked for on a series that has it, the counter is trended and the report says what it is.
    let out = stdout_of(args![
        "report",
        "--sample-index",
        "alloc_space",
        "--input",
        real("native/gawk-gperftools-steady"),
    ]);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("note: alloc_space counts everything allocated since the program started"),
        "{text}"
    );
}

/// A store saved with `report --save` keeps the caller table: reported from the Parquet file,
/// Prometheus' growth under callers is the same as from the folder.
#[test]
fn a_saved_store_and_a_fleet_dataset_keep_the_callers() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("store.parquet");
    let direct: Value = serde_json::from_slice(&stdout_of(args![
        "report",
        real("go/prometheus-growing"),
        "-f",
        "json",
        "--save",
        &saved,
    ]))
    .unwrap();
    let again: Value =
        serde_json::from_slice(&stdout_of(args!["report", &saved, "-f", "json"])).unwrap();
    assert!(!direct["callers"].as_array().unwrap().is_empty());
    assert_eq!(direct["callers"], again["callers"]);
    assert_eq!(direct["unexplained_growth"], again["unexplained_growth"]);
    // A fleet dataset keeps them too (in each part's metadata), ingested twice over.
    let fleet = tmp.path().join("fleet");
    for _ in 0..2 {
        stdout_of(args![
            "ingest",
            "--service",
            "prom",
            "-i",
            real("go/prometheus-growing"),
            "-o",
            &fleet,
            "--no-progress"
        ]);
    }
    let from_fleet: Value = serde_json::from_slice(&stdout_of(args![
        "report",
        &fleet,
        "--service",
        "prom",
        "-f",
        "json"
    ]))
    .unwrap();
    // The dataset keeps times in microseconds, the folder in nanoseconds: rates agree to 1e-6.
    let without_rate = |v: &Value| -> Vec<Value> {
        let mut list = v["callers"].as_array().unwrap().clone();
        for c in &mut list {
            c.as_object_mut().unwrap().remove("slope_per_hour");
        }
        list
    };
    assert_eq!(without_rate(&direct), without_rate(&from_fleet));
    let rates = |v: &Value| -> Vec<f64> {
        v["callers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["slope_per_hour"].as_f64().unwrap())
            .collect()
    };
    for (a, b) in rates(&direct).iter().zip(rates(&from_fleet)) {
        assert!((a - b).abs() <= 1e-6 * a.abs(), "{a} vs {b}");
    }
    assert_eq!(
        direct["unexplained_growth"],
        from_fleet["unexplained_growth"]
    );
}

/// `watch` reads each round's files once into a growing series and judges it whole after every
/// round: on real services' series fed a file at a time, its last round's verdicts are the ones
/// the folder read at once gives, and every round's changes replay to them.
#[test]
fn a_series_grown_a_file_at_a_time_gives_the_folders_verdicts() {
    use leakdiff::input::{GrowingSeries, Loader, SeriesOptions};
    use leakdiff::leaks::verdicts::{changes, verdicts, Change};
    use leakdiff::store::{KeyBy, Order, DEFAULT_MAX_POINTS};
    let options = || SeriesOptions {
        order: Order::Time,
        by: KeyBy::Function,
        progress: None,
        frames: Default::default(),
    };
    let judge = |store: &leakdiff::store::Store| {
        let ev = store.evidence_with(None, DEFAULT_MAX_POINTS).unwrap();
        leakdiff::leaks::analyze(&ev, &Default::default()).unwrap()
    };
    let loader = Loader::new(Default::default(), Default::default());
    for dir in [
        "go/prometheus-growing",
        "go/etcd-growing",
        "go/influxdb-steady",
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(real(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap() != "truth.json")
            .collect();
        files.sort();
        let whole = leakdiff::input::load_series(&[real(dir)], &loader, &options()).unwrap();
        let want = verdicts(&judge(&whole));
        let mut growing = GrowingSeries::new(&options(), 0);
        let mut held = Vec::new();
        let mut replayed = Vec::new();
        // Rounds of three files (a heap profile, a goroutine profile, a /proc sample).
        for round in files.chunks(3) {
            growing.add(round, &loader);
            let store = growing.store().unwrap();
            if let Ok(ev) = store.evidence_with(None, DEFAULT_MAX_POINTS) {
                if let Ok(r) = leakdiff::leaks::analyze(&ev, &Default::default()) {
                    let now = verdicts(&r);
                    for c in changes(&held, &now, &r) {
                        match c {
                            Change::NewSuspect { verdict } => replayed.push(verdict),
                            Change::Severity { verdict, .. } => {
                                let at = replayed.iter().position(|v| {
                                    (v.section, &v.key) == (verdict.section, &verdict.key)
                                });
                                replayed[at.unwrap()] = verdict;
                            }
                            Change::Stopped { section, key, .. } => {
                                replayed.retain(|v| (v.section, &v.key) != (section, &key));
                            }
                            Change::Restarted { .. } | Change::ClockWentBack { .. } => {
                                panic!("one process, one clock")
                            }
                        }
                    }
                    let keyed = |v: &[leakdiff::leaks::verdicts::Verdict]| {
                        let mut k: Vec<_> = v
                            .iter()
                            .map(|v| (v.section, v.key.clone(), v.severity))
                            .collect();
                        k.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
                        k
                    };
                    assert_eq!(keyed(&replayed), keyed(&now), "{dir}");
                    held = now;
                }
            }
        }
        assert_eq!(growing.files(), files.len());
        assert!(!want.is_empty() || dir.ends_with("steady"), "{dir}");
        assert_eq!(held, want, "{dir}");
    }
}

/// A watcher's series holds at most twice its point budget of each kind: through Prometheus' 30
/// rounds with a budget of 4, the first and the latest heap snapshot in time order every round,
/// and at the end every eighth (counting from the first) and the latest.
#[test]
fn a_growing_series_holds_an_evenly_spaced_bounded_set() {
    use leakdiff::input::{GrowingSeries, Loader, SeriesOptions};
    use leakdiff::store::{KeyBy, Kind, Order};
    let options = SeriesOptions {
        order: Order::Time,
        by: KeyBy::Function,
        progress: None,
        frames: Default::default(),
    };
    let loader = Loader::new(Default::default(), Default::default());
    let heaps = crate::common::files_starting(&real("go/prometheus-growing"), "heap-");
    let mut growing = GrowingSeries::new(&options, 4);
    for (round, f) in heaps.iter().enumerate() {
        growing.add(std::slice::from_ref(f), &loader);
        let store = growing.store().unwrap();
        let held: Vec<String> = store
            .snapshots_of(Kind::Heap)
            .iter()
            .map(|&i| store.snapshots[i].source.clone())
            .collect();
        assert!(held.len() <= 8, "round {round}: {held:?}");
        assert_eq!(held.first(), Some(&heaps[0].display().to_string()));
        assert_eq!(held.last(), Some(&f.display().to_string()));
        let mut sorted = held.clone();
        sorted.sort();
        assert_eq!(held, sorted, "round {round}");
    }
    let store = growing.store().unwrap();
    let at: Vec<usize> = store
        .snapshots_of(Kind::Heap)
        .iter()
        .map(|&i| {
            let s = &store.snapshots[i].source;
            heaps
                .iter()
                .position(|h| h.display().to_string() == *s)
                .unwrap()
        })
        .collect();
    assert_eq!(at, [0, 8, 16, 24, 29]);
}

/// Node's heap profiles as @datadog/pprof 5.20 writes them (testdata/real/node: a service keeping
/// every request's handler, a 4 KiB Buffer and a session record): `(external)`, the Buffers'
/// backing stores (4 → 26 MiB, three quarters of the total), is set apart as memory outside the
/// JS heap, not a suspect, and the JS functions that allocate what holds it lead the suspects;
/// `eval` finds the 3 planted leaks. The bounded run's `(external)` is a sawtooth, no finding.
#[test]
fn node_heap_profiles_put_the_code_first_and_explain_external_memory() {
    let r = report_json("node/node-growing");
    let suspects = crate::common::keys(&r["suspects"]);
    for k in ["recordSession", "handleRequest", "FastBuffer"] {
        assert!(suspects.contains(&k.to_string()), "{k}: {suspects:?}");
    }
    assert_eq!(suspects[0], "recordSession", "{suspects:?}");
    assert!(!suspects.iter().any(|k| k.starts_with('(')), "{suspects:?}");
    let outside = r["outside_code"].as_array().unwrap();
    let external = outside.iter().find(|o| o["key"] == "(external)").unwrap();
    assert_eq!(external["pattern"], "linear");
    assert!(external["last"].as_f64().unwrap() > 20.0 * 1024.0 * 1024.0);
    let steady = report_json("node/node-steady");
    assert!(!crate::common::keys(&steady["suspects"]).contains(&"(external)".to_string()));
    let e = eval(&[real("node")]);
    assert_eq!(e["overall"]["leaks"], 3, "{}", e["overall"]);
    assert_eq!(e["overall"]["detected"], 3, "{}", e["overall"]);
}
