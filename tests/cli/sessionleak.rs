//! A planted service leak read as a newcomer reads it (testdata/go/sessionleak, Go 1.27.3,
//! counts in its README): sessions never closed in a global slice, each with a conn pointing
//! back, two buffers and three peers, every fourth also in a map. With the binary's DWARF the
//! first screen names the Go types and the path that keeps them, whether the process recorded
//! every allocation or ran at Go's default MemProfileRate.

use std::time::{Duration, SystemTime};

use crate::common::{assert_in_order, run, testdata};
use crate::heapdump::objects_by_name;

const DEBUG: &str = "testdata/go/sessionleak/sessionleak-go1.27.3.debug";
const DEFAULT_RATE: &str = "testdata/go/sessionleak/default-rate.dump.gz";

/// At the default MemProfileRate the allocation sites retain 0.12 % of the heap: `retained`
/// says so and answers by root, then by type: 2,000 `main.session`s, each under `main.sessions`
/// by the same trace, their 2,000 conns and 4,000 buffers; `cycles` names the 2,000
/// session↔conn pairs by type and field.
#[test]
fn the_first_screen_names_the_types_at_the_default_rate() {
    let (code, out, err) = run(&["retained", DEFAULT_RATE, "--binary", DEBUG]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the allocation sites retain 0.12 % of the 941.91KiB reachable")
            && err.contains("ranking by root, then by type instead"),
        "{err}"
    );
    let (roots, types) = out.split_once("top retainers by type").expect(&out);
    assert!(
        roots.contains("#1    647.44KiB  5969 object(s)  main.sessions (bss)\n"),
        "{roots}"
    );
    // The indexed quarter is held by two roots: the slice and the map.
    assert!(roots.contains("several roots"), "{roots}");
    for line in [
        "#1    843.75KiB  2000 object(s)  main.session\n     root: main.sessions (bss)\n     → []*main.session 0x",
        "     → [0] main.session 0x",
        "     2000 of its 2000 objects by a trace like this (the same root, types and fields)\n#2    647.44KiB  1 object(s)  []*main.session\n",
        "  4009 object(s)  []uint8\n", // 4,000 buffers and the 9 requests' bodies
        "  2000 object(s)  main.conn\n",
        "     → .conn main.conn 0x",
    ] {
        assert!(types.contains(line), "{line}\n{types}");
    }
    // No 1 KiB site (`runtime.schedinit`) for the heap: the sites are ranked only when asked.
    assert!(!out.contains("top retainers by site"), "{out}");
    let (_, sites, _) = run(&["retained", DEFAULT_RATE, "--binary", DEBUG, "--by", "site"]);
    assert!(
        sites.contains(
            "#1      1.12KiB  1 object(s)  runtime.schedinit runtime/proc.go:1076  [runtime]"
        ),
        "{sites}"
    );

    // What only the parked handlers' arguments hold, typed from main.serve's DWARF: the
    // request kept whole at its CFA, the slice in pieces, the interface's two words spilled in
    // the `go` wrapper's frame (main.main.gowrap1) where Go puts a call's register arguments.
    let (_, out, err) = run(&[
        "retained",
        DEFAULT_RATE,
        "--binary",
        DEBUG,
        "--by",
        "type",
        "--top",
        "0",
    ]);
    for line in [
        "  9 object(s)  main.request\n",
        "  3 object(s)  []*main.request\n",
        "  3 object(s)  main.audit\n     root: stack of goroutine ",
        ", main.main.gowrap1 (argument h of main.serve)\n     → main.audit 0x",
    ] {
        assert!(out.contains(line), "{line}\n{out}\n{err}");
    }
    let (code, out, err) = run(&["cycles", DEFAULT_RATE, "--binary", DEBUG]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("#1   2000 cycles of 2 objects: main.conn ↔ main.session, 218.75KiB, retains 843.75KiB summed over its cycles, all reachable from main.sessions (bss)\n     through main.session.conn → main.conn.owner → main.session\n"),
        "{out}"
    );
}

/// The report over one such dump shows the same in its object-graph section, roots and types
/// first (JSON and HTML too); without the DWARF it says how to get the types.
#[test]
fn the_report_of_a_default_rate_dump_ranks_roots_and_types_first() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        testdata("go/sessionleak/default-rate.dump.gz"),
        dir.path().join("d.dump.gz"),
    )
    .unwrap();
    let input = dir.path().to_str().unwrap();
    let debug = testdata("go/sessionleak/sessionleak-go1.27.3.debug");
    let debug = debug.to_str().unwrap();
    let (code, out, err) = run(&["report", "--input", input, "--binary", debug]);
    assert_eq!(code, 0, "{err}");
    let graph = &out[out.find("OBJECT GRAPH").expect(&out)..];
    let want = [
        "  the allocation sites retain 0.12 % of it",
        "  by root:\n  retains  647.44KiB (5969 objects)  main.sessions (bss)\n",
        "  by Go type:\n  retains  843.75KiB (2000 objects)  main.session\n     root: main.sessions (bss)\n",
        "  by allocation site:\n  retains    1.12KiB (1 objects)  runtime.schedinit",
    ];
    assert_in_order(graph, &want);
    let (_, json, _) = run(&["report", "--input", input, "--binary", debug, "-f", "json"]);
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let g = &r["object_graph"];
    assert!(g["site_coverage"].as_f64().unwrap() < 0.01, "{g}");
    assert_eq!(g["top_roots"][0]["name"], "main.sessions (bss)");
    assert_eq!(g["top_types"][0]["name"], "main.session");
    assert_eq!(g["top_types"][0]["objects"], 2000);
    assert_eq!(g["top_types"][0]["traces_like"], 2000);
    let (_, html, _) = run(&["report", "--input", input, "--binary", debug, "-f", "html"]);
    assert!(
        html.contains("top retainer main.session (843.75KiB)"),
        "{html}"
    );
    assert!(html.contains("<h3>By Go type</h3>"), "{html}");
    // Without the DWARF: roots by address kind and no types, and how to get them.
    let (_, out, _) = run(&["report", "--input", input]);
    let graph = &out[out.find("OBJECT GRAPH").expect(&out)..];
    assert!(
        graph.contains("by root (by type with the program's DWARF: --binary PATH), then by site"),
        "{graph}"
    );
    assert!(!graph.contains("by Go type"), "{graph}");
}

/// Eight dumps a minute apart, 40 more sessions each, every allocation recorded: the report's
/// suspects are the allocating functions, and the path that keeps each alive names the global,
/// the slice, the session and the field; the object-graph section ranks the types after the
/// sites, with how many sessions share the trace.
#[test]
fn a_leaking_series_names_the_types_on_the_suspects_paths() {
    let dir = tempfile::tempdir().unwrap();
    let start = SystemTime::now() - Duration::from_secs(3600);
    for k in 1..=8 {
        let name = format!("s-{k:02}.dump.gz");
        let to = dir.path().join(&name);
        std::fs::copy(testdata(&format!("go/sessionleak/series/{name}")), &to).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&to)
            .unwrap()
            .set_modified(start + Duration::from_secs(60 * k))
            .unwrap();
    }
    let input = dir.path().to_str().unwrap();
    let debug = testdata("go/sessionleak/sessionleak-go1.27.3.debug");
    // Each dump holds exactly what the generator made by then, typed exactly.
    for k in 1..=8u64 {
        let dump = format!("testdata/go/sessionleak/series/s-{k:02}.dump.gz");
        let (_, json, err) = run(&[
            "retained", &dump, "--binary", DEBUG, "--by", "type", "--top", "0", "-f", "json",
        ]);
        let r: serde_json::Value = serde_json::from_str(&json).expect(&err);
        let by_name = objects_by_name(&r);
        let count = |name: &str| by_name.get(name).copied().unwrap_or(0);
        assert_eq!(count("main.session"), 40 * k, "{dump}");
        assert_eq!(count("main.conn"), 40 * k, "{dump}");
        assert_eq!(count("[]*main.session"), 1, "{dump}");
    }
    let (code, json, err) = run(&[
        "report",
        "--input",
        input,
        "--binary",
        debug.to_str().unwrap(),
        "-f",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let suspect = |key: &str| {
        r["suspects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("{key}: {}", r["suspects"]))
            .clone()
    };
    let s = suspect("main.newSession");
    assert_eq!(s["pattern"], "linear", "{s}");
    // 320 sessions of 64 B, each with its 256 B data, its conn and the conn's 64 B buffer.
    assert_eq!(s["retained_bytes"], 320 * (64 + 256 + 48 + 64), "{s}");
    let path: Vec<&str> = s["retained_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(path[0], "root: main.sessions (bss)", "{path:?}");
    assert!(path[1].starts_with("[]*main.session 0x"), "{path:?}");
    assert!(
        path[2].starts_with('[') && path[2].contains("] main.session 0x"),
        "{path:?}"
    );
    let c = suspect("main.newConn");
    let last = c["retained_path"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last.as_str().unwrap().starts_with(".conn main.conn 0x"),
        "{c}"
    );
    let types = r["object_graph"]["top_types"].as_array().unwrap();
    assert_eq!(types[0]["name"], "main.session");
    assert_eq!(
        (
            types[0]["objects"].as_u64(),
            types[0]["traces_like"].as_u64()
        ),
        (Some(320), Some(320))
    );
    assert!(r["object_graph"]["site_coverage"].as_f64().unwrap() > 0.9);
}
