//! Go heap dumps of our own generator (testdata/go/heapdumpgen, MemProfileRate = 1): records,
//! objects and allocation samples counted exactly, on Go 1.19 and 1.23; roots named from the
//! generator's symbol table on Go 1.19 and 1.27.

use std::collections::{BTreeMap, HashSet};

use leakdiff::formats::allocators;
use leakdiff::formats::heapdump::{self, HeapDump};

use crate::common::testdata;

fn read(name: &str) -> HeapDump {
    let bytes = dump_bytes(&format!("go/heapdump/{name}"));
    heapdump::parse(&bytes, name).unwrap()
}

/// Sampled objects per allocating function (the leaf of the sample's bucket).
fn by_function(d: &HeapDump) -> BTreeMap<String, usize> {
    let buckets: BTreeMap<u64, &heapdump::Bucket> = d.buckets.iter().map(|b| (b.id, b)).collect();
    let mut out = BTreeMap::new();
    for (_, bucket) in &d.samples {
        // The first frame past the runtime's allocator (Go 1.27's buckets can start inside it).
        let frames = &buckets[bucket].frames;
        let leaf = &frames[allocators::allocator_frames(frames).min(frames.len() - 1)].0;
        if leaf.starts_with("main.") {
            *out.entry(leaf.clone()).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn generator_dumps_have_the_planted_objects() {
    for version in ["go1.19.8", "go1.23.5"] {
        for garbage in [false, true] {
            let name = if garbage {
                format!("{version}-garbage.dump.gz")
            } else {
                format!("{version}.dump.gz")
            };
            let d = read(&name);
            assert_eq!(d.params.version, version);
            assert_eq!((d.params.ptr_size, d.params.big_endian), (8, false));
            assert_eq!(d.record_counts[6], 1);
            assert_eq!(d.record_counts[10], 1, "memstats");
            assert_eq!(d.objects.len() as u64, d.record_counts[1]);
            // Every sample names a known bucket and a dumped object.
            let addrs: HashSet<u64> = d.objects.addr.iter().collect();
            let ids: HashSet<u64> = d.buckets.iter().map(|b| b.id).collect();
            for (addr, bucket) in &d.samples {
                assert!(
                    addrs.contains(addr),
                    "{name}: sample {addr:#x} is no object"
                );
                assert!(ids.contains(bucket), "{name}: bucket {bucket}");
            }
            let f = by_function(&d);
            assert_eq!(f["main.makePair"], 6, "{name}: 3 parents + 3 children");
            assert_eq!(f["main.makeEntry"], 8, "{name}: 4 entries + 4 values");
            assert_eq!(f["main.makeTree"], 15, "{name}: a full tree of depth 4");
            // Rings of 3, 5 and 8, plus with -garbage two unreachable rings of 4.
            let rings = if garbage { 16 + 8 } else { 16 };
            assert_eq!(f["main.makeRing"], rings, "{name}");
            assert!(!d.roots.is_empty() && !d.goroutines.is_empty() && !d.frames.is_empty());
        }
    }
}

/// Cycles whose members were all allocated by the generator's own functions, by leaf function
/// and size, split into reachable and unreachable.
/// (allocating functions joined by `+`, objects) per cycle.
type Cycles = Vec<(String, usize)>;

fn planted_cycles(name: &str) -> (Cycles, Cycles) {
    let d = read(name);
    let g = leakdiff::graph::build(&d);
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for c in leakdiff::graph::report_cycles(&g) {
        let all_main = c.sites.iter().all(|(s, _)| s.starts_with("main."));
        if !all_main {
            continue;
        }
        let mut fns: Vec<String> = c
            .sites
            .iter()
            .map(|(s, _)| s.split(' ').next().unwrap().to_string())
            .collect();
        fns.sort();
        fns.dedup();
        let key = (fns.join("+"), c.objects);
        if c.reachable {
            live.push(key);
        } else {
            dead.push(key);
        }
    }
    live.sort();
    dead.sort();
    (live, dead)
}

#[test]
fn planted_cycles_are_found_exactly_and_the_tree_is_not_one() {
    let want_live: Vec<(String, usize)> = vec![
        ("main.main".into(), 1), // the self-loop, allocated in main
        ("main.makeEntry".into(), 2),
        ("main.makeEntry".into(), 2),
        ("main.makeEntry".into(), 2),
        ("main.makeEntry".into(), 2),
        ("main.makePair".into(), 2),
        ("main.makePair".into(), 2),
        ("main.makePair".into(), 2),
        ("main.makeRing".into(), 3),
        ("main.makeRing".into(), 5),
        ("main.makeRing".into(), 8),
    ];
    for v in ["go1.19.8", "go1.23.5"] {
        let (live, dead) = planted_cycles(&format!("{v}.dump.gz"));
        assert_eq!(live, want_live, "{v}");
        assert!(dead.is_empty(), "{v}: {dead:?}");
        let (live, dead) = planted_cycles(&format!("{v}-garbage.dump.gz"));
        assert_eq!(live, want_live, "{v} garbage");
        assert_eq!(
            dead,
            vec![("main.makeRing".into(), 4), ("main.makeRing".into(), 4)],
            "{v}: the two dropped rings, unreachable"
        );
    }
}

/// A `leakdiff.retained/v1` document's retainers: name → objects.
pub(crate) fn objects_by_name(v: &serde_json::Value) -> BTreeMap<String, u64> {
    v["retainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["objects"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn leakdiff(args: &[&str]) -> std::process::Output {
    crate::common::leakdiff_cmd().args(args).output().unwrap()
}

/// `leakdiff COMMAND DUMP --binary DEBUG ARGS…`, dump and binary under testdata.
/// A gzipped test dump's bytes.
fn dump_bytes(rel: &str) -> Vec<u8> {
    let raw = std::fs::read(testdata(rel)).unwrap();
    leakdiff::formats::decompress::decompress(
        raw,
        "x",
        1 << 30,
        leakdiff::formats::decompress::Payload::Streamed,
    )
    .unwrap()
    .bytes
}

fn with_binary(command: &str, dump: &str, debug: &str, args: &[&str]) -> std::process::Output {
    let (dump, debug) = (testdata(dump), testdata(debug));
    let mut all = vec![
        command,
        dump.to_str().unwrap(),
        "--binary",
        debug.to_str().unwrap(),
    ];
    all.extend(args);
    leakdiff(&all)
}

#[test]
fn cycles_and_retained_commands() {
    let dump = testdata("go/heapdump/go1.19.8-garbage.dump.gz");
    let dump = dump.to_str().unwrap();
    let out = leakdiff(&["cycles", dump, "--format", "json", "--top", "0"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "leakdiff.cycles/v1");
    assert_eq!(v["unreachable_cycles"], 2);
    let ring8 = v["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["objects"] == 8
                && c["sites"][0][0]
                    .as_str()
                    .unwrap()
                    .starts_with("main.makeRing")
        })
        .expect("the ring of 8");
    assert_eq!(ring8["reachable"], true);
    let path: Vec<&str> = ring8["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(path[0].starts_with("root: global"), "{path:?}");
    // rings is a global slice: root → its backing array → the ring.
    assert!(path.last().unwrap().contains("main.makeRing"), "{path:?}");
    let text = leakdiff(&["cycles", dump]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("2 unreachable"), "{text}");

    let out = leakdiff(&["retained", dump, "--format", "json", "--top", "0"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "leakdiff.retained/v1");
    let tree = v["retainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().unwrap().starts_with("main.makeTree"))
        .expect("the tree's site");
    assert_eq!(tree["objects"], 15);
    // The root node dominates the whole tree: 15 nodes of one size class each.
    let per_node = tree["retained_bytes"].as_u64().unwrap() / 15;
    assert_eq!(tree["retained_bytes"].as_u64().unwrap(), 15 * per_node);
    let out = leakdiff(&["retained", dump, "--by", "object", "--top", "3"]);
    assert!(out.status.success());
}

#[test]
fn hostile_dumps_exit_2_with_one_line() {
    let bytes = dump_bytes("go/heapdump/go1.23.5.dump.gz");
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("header only", heapdump::MAGIC.to_vec()),
        ("old format", b"go1.4 heap dump\n\x00".to_vec()),
        ("garbage tag", [heapdump::MAGIC, &[0x63, 0, 0]].concat()),
        (
            "huge length",
            [heapdump::MAGIC, &[1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]].concat(),
        ),
    ];
    for (name, data) in cases {
        let p = tmp.path().join("d.dump");
        std::fs::write(&p, &data).unwrap();
        let out = leakdiff(&["cycles", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            err.contains("d.dump") && err.contains("Go heap dump"),
            "{name}: {err}"
        );
    }
}

#[test]
fn two_dumps_diff_by_site_and_report_shows_what_retains_a_suspect() {
    for v in ["go1.19.8", "go1.23.5"] {
        let a = testdata(&format!("go/heapdump/{v}-grow-1.dump.gz"));
        let b = testdata(&format!("go/heapdump/{v}-grow-2.dump.gz"));
        let out = leakdiff(&[
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--sample-index",
            "inuse_objects",
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let delta = |f: &str| {
            r["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|row| row["key"] == f)
                .map(|row| row["delta"].as_i64().unwrap())
        };
        // The second dump has 3 more pairs (6 objects) and 2 more rings of 8.
        assert_eq!(delta("main.makePair"), Some(6), "{v}");
        assert_eq!(delta("main.makeRing"), Some(16), "{v}");
        assert_eq!(
            delta("main.makeEntry"),
            None,
            "{v}: unchanged rows are not listed"
        );
        // retained_space is a value type of its own.
        let out = leakdiff(&[
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--sample-index",
            "retained_space",
        ]);
        assert!(out.status.success());

        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&a, dir.path().join("1.dump.gz")).unwrap();
        std::fs::copy(&b, dir.path().join("2.dump.gz")).unwrap();
        let report = |extra: &[&str]| {
            let mut args = vec![
                "report",
                "--input",
                dir.path().to_str().unwrap(),
                "--order",
                "name",
                "--sample-index",
                "inuse_objects",
                "--min-growth",
                "1",
            ];
            args.extend_from_slice(extra);
            leakdiff(&args)
        };
        let out = report(&["--format", "json"]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // Two dumps are one change: the diff by site above says what grew; no trend is claimed.
        assert!(
            r["suspects"].as_array().unwrap().is_empty(),
            "{}",
            r["suspects"]
        );
        let g = &r["object_graph"];
        assert_eq!(g["unreachable_cycles"], 0);
        // 3 + 3 pairs, 4 entries, 3 + 2 rings, 1 self-loop at least.
        assert!(g["reachable_cycles"].as_u64().unwrap() >= 16);
        if v == "go1.19.8" {
            // With the generator's symbol table the report's paths start at the global's name.
            let symbols = testdata("go/heapdump/heapdumpgen-go1.19.8.symbols");
            let out = report(&["--binary", symbols.to_str().unwrap()]);
            assert!(out.status.success());
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("two snapshots are one change"), "{text}");
            assert!(text.contains("OBJECT GRAPH of"), "{text}");
            assert!(text.contains("\n     root: main.cache (bss)\n"), "{text}");
            // With its DWARF, each retainer's path names the Go types and fields, as `retained`
            // does.
            let debug = testdata("go/heapdump/heapdumpgen-go1.19.8.debug");
            let out = report(&["--binary", debug.to_str().unwrap()]);
            assert!(out.status.success());
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("\n     → .values[0] main.Entry 0x"), "{text}");
            assert!(text.contains("\n     → [3] main.RingNode 0x"), "{text}");
            // Every allocation is recorded: the sites come first, then the Go types, each
            // with its path, as `retained --by type` ranks them.
            let (sites, types) = text.split_once("  by Go type:\n").expect(&text);
            assert!(sites.contains("main.makeRing ./main.go:69"), "{sites}");
            assert!(
                types.contains("(5 objects)  hash<string,*unicode.RangeTable>\n     root: unicode.Scripts (bss)\n"),
                "{types}"
            );
            let out = report(&["--binary", debug.to_str().unwrap(), "--format", "json"]);
            let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let g = &r["object_graph"];
            // The unicode tables were allocated before MemProfileRate = 1: the sites hold 12.9 %.
            assert!(g["site_coverage"].as_f64().unwrap() > 0.1, "{g}");
            let types = g["top_types"].as_array().unwrap();
            assert_eq!(types.len(), 5, "{g}");
            assert_eq!(types[0]["name"], "hash<string,*unicode.RangeTable>");
            assert_eq!(types[0]["objects"], 5);
            assert_eq!(types[0]["path"][0], "root: unicode.Scripts (bss)");
            let html = report(&["--binary", debug.to_str().unwrap(), "--format", "html"]);
            let html = String::from_utf8_lossy(&html.stdout);
            assert!(html.contains("<h3>By Go type</h3>"), "{html}");
            assert!(
                html.contains("<h3>hash&lt;string,*unicode.RangeTable&gt;</h3>"),
                "{html}"
            );
            // Without the DWARF there are no types to rank.
            let out = report(&["--format", "json"]);
            let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(r["object_graph"]["top_types"], serde_json::json!([]));
        }
    }
}

/// The objects heapdumpgen makes, by Go type: 3 parent↔child pairs, rings of 3, 5 and 8 nodes, 4
/// cache entries with their values, a 15-node tree, a self-loop, and the two slices holding them.
const GENERATOR_TYPES: &[(&str, u64)] = &[
    ("main.Parent", 3),
    ("main.Child", 3),
    ("main.RingNode", 16),
    ("main.Entry", 4),
    ("main.Value", 4),
    ("main.Tree", 15),
    ("main.Self", 1),
    ("[]*main.Parent", 1),
    ("[]*main.RingNode", 1),
];

/// `retained --by type` with the generator's DWARF (`objcopy --only-keep-debug` of the build
/// that wrote the Go 1.19.8 dump): the objects get the Go types the generator made, with its
/// exact counts (3 pairs, 3 rings of 3 + 5 + 8, 4 cache entries, a tree of 15, one self-loop),
/// and the map's innards their runtime types. The symbol table alone has no DWARF: by shape, and
/// the warning says why.
#[test]
fn retained_by_type_types_the_objects_from_the_binarys_dwarf() {
    let dump = testdata("go/heapdump/go1.19.8.dump.gz");
    let debug = testdata("go/heapdump/heapdumpgen-go1.19.8.debug");
    let (dump, debug) = (dump.to_str().unwrap(), debug.to_str().unwrap());
    let out = leakdiff(&[
        "retained", dump, "--by", "type", "--binary", debug, "-f", "json", "--top", "0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("types from the binary's DWARF (go1.19.8)"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["by"], "type");
    let types = objects_by_name(&v);
    let with_map = GENERATOR_TYPES
        .iter()
        .copied()
        .chain([("hash<string,*main.Entry>", 1)]);
    for (name, n) in with_map {
        assert_eq!(types.get(name), Some(&n), "{name}: {types:?}");
    }
    // Each object once: the types' objects add up to at most the reachable ones.
    let total: u64 = types.values().sum();
    assert!(total <= v["dump"]["reachable"].as_u64().unwrap(), "{total}");
    // Without DWARF (the symbol table only): by shape, saying why.
    let symbols = testdata("go/heapdump/heapdumpgen-go1.19.8.symbols");
    let out = leakdiff(&[
        "retained",
        dump,
        "--by",
        "type",
        "--binary",
        symbols.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no DWARF") && err.contains("ranking by shape"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("top retainers by shape"));
}

/// The same types on Go 1.23.9 and 1.27.3 (both with malloc headers on objects over 512 bytes):
/// Go 1.23's maps are still in the bucket layout (`hash<K,V>`); Go 1.27's are swiss tables, the
/// cache's map typed through its directory-less group (`map<string,*main.Entry>` →
/// `map.group[string]*main.Entry`) to the entries and their values. The generator's exact counts
/// on both.
#[test]
fn retained_by_type_follows_go_1_23s_buckets_and_go_1_27s_swiss_maps() {
    for (dump, debug, version, maps, not) in [
        (
            "go/go1.23/go1.23.9.dump.gz",
            "go/go1.23/heapdumpgen-go1.23.9.debug",
            "go1.23.9",
            &[("hash<string,*main.Entry>", 1)][..],
            "map<",
        ),
        (
            "go/go1.27/go1.27.3.dump.gz",
            "go/go1.27/heapdumpgen-go1.27.3.debug",
            "go1.27.3",
            &[
                ("map<string,*main.Entry>", 1),
                ("map.group[string]*main.Entry", 1),
            ][..],
            "hash<",
        ),
    ] {
        let args = ["--by", "type", "-f", "json", "--top", "0"];
        let out = with_binary("retained", dump, debug, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let said = format!("types from the binary's DWARF ({version})");
        assert!(err.contains(&said), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let types = objects_by_name(&v);
        for &(name, n) in GENERATOR_TYPES.iter().chain(maps) {
            assert_eq!(types.get(name), Some(&n), "{version} {name}: {types:?}");
        }
        assert!(!types.keys().any(|k| k.starts_with(not)), "{types:?}");
    }
}

/// What `testdata/go/typesgen` makes and keeps through interfaces, closures and a stack, with its
/// counts (its README): `*Square` and `*Blob` stored in interfaces directly, `Circle` and `Pair`
/// values boxed, `*Lonely` in an interface global, four closures of `makeCounter.func1`, and a
/// `*Stacked` only a parked goroutine's local holds.
const INDIRECT: &[(&str, u64)] = &[
    ("main.Square", 6),
    ("main.Holder", 6),
    ("main.Circle", 4),
    ("main.Blob", 6),
    ("main.Pair", 3),
    ("main.Lonely", 1),
    ("func main.makeCounter.func1", 4),
    ("[]main.Shape", 1),
    ("main.Stacked", 1),
    ("main.StackInner", 1),
    ("main.Tri", 1),
    ("main.TriLeaf", 1),
];

/// The object counts by type of `retained --by type` on `dump` with `binary`, and its stderr.
fn types_of(dump: &str, binary: &std::path::Path) -> (BTreeMap<String, u64>, String) {
    let dump = testdata(dump);
    let out = leakdiff(&[
        "retained",
        dump.to_str().unwrap(),
        "--by",
        "type",
        "--binary",
        binary.to_str().unwrap(),
        "-f",
        "json",
        "--top",
        "0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (objects_by_name(&v), err)
}

/// Objects reached only through interfaces and func values get their types: an interface's
/// data word is typed by the dynamic type its first word names (a type descriptor, whose DWARF
/// type has its address, or an itab, whose descriptor the dump's itab records give: Go 1.27's
/// symbol table has no itabs), pointer-shaped values stored directly and others boxed; a func
/// value's closure by the function its code pointer is; a stack slot by the local its frame's
/// function keeps there at the frame's pc (from the DWARF's location lists); an object no
/// pointer types, by its malloc header (Go 1.22+). The generator's
/// exact counts on Go 1.19, 1.23 and 1.27, from DWARF-only files; a boxed value's trace steps
/// through the interface slice by index, and a stack root names its local.
#[test]
fn interfaces_closures_and_stacks_are_typed_by_what_they_hold() {
    for v in ["go1.19.8", "go1.23.9", "go1.27.3"] {
        let dump = format!("go/typesgen/typesgen-{v}.dump.gz");
        let debug = format!("go/typesgen/typesgen-{v}.debug");
        let (types, err) = types_of(&dump, &testdata(&debug));
        for &(name, n) in INDIRECT {
            assert_eq!(types.get(name), Some(&n), "{v} {name}: {types:?} {err}");
        }
        assert!(err.contains("interface values' dynamic types"), "{err}");
        assert!(err.contains("objects typed exactly"), "{err}");
        assert!(err.contains("func values' closures"), "{err}");
        // Reached only through an unsafe.Pointer: named by its malloc header from Go 1.22.
        let headers = v != "go1.19.8";
        for name in ["main.Big", "main.BigLeaf"] {
            assert_eq!(
                types.get(name),
                headers.then_some(&1),
                "{v} {name}: {types:?}"
            );
        }
        assert_eq!(err.contains("1 objects' malloc headers"), headers, "{err}");
        // Reached only through closures: typed by their captures where the DWARF places them
        // (Go 1.23+), `c` by value, `&t` by reference.
        let captures = v != "go1.19.8";
        for (name, n) in [
            ("main.Counter", 4),
            ("main.Tally", 1),
            ("main.TallyNote", 1),
        ] {
            assert_eq!(
                types.get(name),
                captures.then_some(&n),
                "{v} {name}: {types:?}"
            );
        }
        // One Link behind a plain pointer, one behind an atomic.Pointer (an unsafe.Pointer):
        // that one is inferred, from its size, pointer words and its Peer (a Holder), and the
        // LinkLeaf it points to with it; neither is counted as exact.
        for name in ["main.Link", "main.LinkLeaf"] {
            assert_eq!(types.get(name), Some(&1), "{v} {name}: {types:?}");
            let inferred = format!("{name} (inferred)");
            assert_eq!(types.get(&inferred), Some(&1), "{v} {inferred}: {types:?}");
        }
        assert!(
            err.contains("2 more inferred") && err.contains(": 1 object whose size"),
            "{err}"
        );
        let out = with_binary("retained", &dump, &debug, &["--by", "type", "--top", "0"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("root: main.shared (bss)\n     → main.Link (inferred) "),
            "{text}"
        );
        assert!(text.contains("→ .Own main.LinkLeaf (inferred) "), "{text}");
        let circle = text
            .split("\n#")
            .find(|s| s.contains("object(s)  main.Circle\n"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(circle.contains("root: main.shapes (bss)"), "{circle}");
        assert!(circle.contains("→ [6] main.Circle "), "{circle}");
        assert!(
            text.contains(", main.holdOnStack (local p)\n     → main.Stacked "),
            "{text}"
        );
        // A Shape local: the stack word before its data word is the itab naming *main.Tri.
        assert!(
            text.contains(", main.holdOnStack (local s)\n     → main.Tri "),
            "{text}"
        );
        assert!(err.contains("goroutines' stack slots"), "{err}");
        // A cycle through a closure's capture: the Loop's Tick captured the Loop. The closure's
        // step back is named by its capture where the DWARF places it.
        assert_eq!(types.get("main.Loop"), Some(&1), "{v}: {types:?}");
        assert_eq!(
            types.get("func main.makeLoop.func1"),
            Some(&1),
            "{v}: {types:?}"
        );
        let out = with_binary("cycles", &dump, &debug, &[]);
        let cycles = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            cycles.contains("through main.Loop.Tick → func main.makeLoop.func1.l → main.Loop\n"),
            captures,
            "{cycles}"
        );
        assert_eq!(
            text.contains("→ func main.makeTally.func1 ")
                && text.contains("\n     → .t main.Tally "),
            captures,
            "{text}"
        );
    }
}

/// Damaged dumps through the typed path (interface words, closures' code words, stack slots,
/// the dump's itab records): bytes flipped all over a real Go 1.27 dump, read with its DWARF by
/// `retained --by type` and `cycles`: a clear error (exit 2, one line) or an answer, never a
/// panic.
#[test]
fn damaged_dumps_never_panic_on_the_typed_path() {
    let bytes = dump_bytes("go/typesgen/typesgen-go1.27.3.dump.gz");
    let debug = testdata("go/typesgen/typesgen-go1.27.3.debug");
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("d.dump");
    // A fixed pseudo-random walk (xorshift): the same cases every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for case in 0..24 {
        let mut data = bytes.clone();
        for _ in 0..1 + case % 8 {
            let at = 16 + (next() as usize) % (data.len() - 16);
            data[at] = next() as u8;
        }
        std::fs::write(&p, &data).unwrap();
        for command in ["retained", "cycles"] {
            let out = leakdiff(
                &[
                    command,
                    p.to_str().unwrap(),
                    "--binary",
                    debug.to_str().unwrap(),
                    "--by",
                    "type",
                ][..if command == "cycles" { 4 } else { 6 }],
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("panicked"), "case {case} {command}: {err}");
            match out.status.code() {
                Some(0) => {}
                Some(2) => assert_eq!(err.lines().count(), 1, "case {case}: {err}"),
                c => panic!("case {case} {command}: exit {c:?}: {err}"),
            }
        }
    }
}

/// Leak traces name each step's field, from the binary's DWARF, where the object was typed
/// through that pointer: a slice's element by index, a struct's pointer by member, a map's
/// innards by the runtime's own fields (Go 1.19's buckets, Go 1.27's swiss groups); and each
/// type says how many of its objects have a trace like the one shown.
#[test]
fn leak_traces_name_the_field_of_each_step() {
    for (dump, debug, steps) in [
        (
            "go/heapdump/go1.19.8.dump.gz",
            "go/heapdump/heapdumpgen-go1.19.8.debug",
            &[
                "→ [0] main.Parent ",
                "→ .Child main.Child ",
                "→ .buckets bucket<string,*main.Entry> ",
                "→ .values[0] main.Entry ",
                // The three pairs hang from the slice alike; three of the sixteen ring nodes
                // (the rings' heads) do, the rest further along their rings.
                "     3 of its 3 objects by a trace like this",
                "     4 of its 4 objects by a trace like this",
                "     3 of its 16 objects by a trace like this",
            ][..],
        ),
        (
            "go/go1.27/go1.27.3.dump.gz",
            "go/go1.27/heapdumpgen-go1.27.3.debug",
            &[
                "→ [0] main.Parent ",
                "→ .Child main.Child ",
                "→ .dirPtr map.group[string]*main.Entry ",
                "→ .slots[0].elem main.Entry ",
                "→ .Value main.Value ",
            ][..],
        ),
    ] {
        let out = with_binary("retained", dump, debug, &["--by", "type", "--top", "0"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for step in steps {
            assert!(text.contains(step), "{step}: {text}");
        }
        // A step whose object was typed through another object's pointer names no field.
        assert!(!text.contains("→ . "), "{text}");
    }
}

/// `cycles --binary` says each cycle's shape in the generator's own types and fields, on the
/// Go 1.19.8, 1.23.9 and 1.27.3 dumps: its pairs, its cache entries and values, its rings and
/// its self-loop, as `heapdumpgen/main.go` declares them.
#[test]
fn cycles_name_their_shape_in_types_and_fields() {
    for (dump, debug) in [
        (
            "go/heapdump/go1.19.8.dump.gz",
            "go/heapdump/heapdumpgen-go1.19.8.debug",
        ),
        (
            "go/go1.23/go1.23.9.dump.gz",
            "go/go1.23/heapdumpgen-go1.23.9.debug",
        ),
        (
            "go/go1.27/go1.27.3.dump.gz",
            "go/go1.27/heapdumpgen-go1.27.3.debug",
        ),
    ] {
        let out = with_binary("cycles", dump, debug, &["--top", "0"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        for shape in [
            "through main.Parent.Child → main.Child.Parent → main.Parent\n",
            "through main.Entry.Value → main.Value.Owner → main.Entry\n",
            "through main.RingNode.Next → main.RingNode\n",
            "through main.Self.Me → main.Self\n",
        ] {
            assert!(text.contains(shape), "{dump}: {shape}{text}");
        }
        let json = with_binary("cycles", dump, debug, &["-f", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert!(
            v["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["fields"] == "main.RingNode.Next → main.RingNode"),
            "{v}"
        );
    }
}

/// `retained --by root`: what each root keeps, each object counted once. With the generator's
/// symbol table (`--binary`: its `.symtab`, stripped of code and DWARF by
/// `generate-heapdumps.sh`) the globals are named: `main.parents` holds the 3 pairs and its
/// backing array, `main.rings` 3 rings (16 nodes) and its array, `main.tree` the 15-node tree,
/// `main.cache` the 4 entry/value pairs and the map's 2 objects. Without it the output says how
/// to get names; a binary of another build is refused by its segments and names nothing.
#[test]
fn retained_by_root_names_the_globals_from_the_binary() {
    for (dump, symbols) in [
        (
            "heapdump/go1.19.8.dump.gz",
            "heapdump/heapdumpgen-go1.19.8.symbols",
        ),
        (
            "go1.27/go1.27.3.dump.gz",
            "go1.27/heapdumpgen-go1.27.3.symbols",
        ),
    ] {
        let dump = testdata(&format!("go/{dump}"));
        let symbols = testdata(&format!("go/{symbols}"));
        let (dump, symbols) = (dump.to_str().unwrap(), symbols.to_str().unwrap());
        let out = leakdiff(&[
            "retained", dump, "--by", "root", "--binary", symbols, "-f", "json", "--top", "0",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["by"], "root");
        let roots = objects_by_name(&v);
        assert_eq!(
            roots.get("main.parents (bss)"),
            Some(&7),
            "{dump}: {roots:?}"
        );
        assert_eq!(
            roots.get("main.rings (bss)"),
            Some(&17),
            "{dump}: {roots:?}"
        );
        assert_eq!(roots.get("main.tree (bss)"), Some(&15), "{dump}: {roots:?}");
        assert_eq!(
            roots.get("main.cache (bss)"),
            Some(&10),
            "{dump}: {roots:?}"
        );
        assert_eq!(roots.get("main.self (bss)"), Some(&1), "{dump}: {roots:?}");
        // Every reachable object once.
        let total: u64 = roots.values().sum();
        assert_eq!(total, v["dump"]["reachable"].as_u64().unwrap(), "{dump}");
        // Paths from roots use the names too.
        let out = leakdiff(&["cycles", dump, "--binary", symbols, "--top", "0"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.matches("root: main.rings (bss)").count(), 3, "{text}");
        // Cycles of one shape are one line: the 3 pairs, the 4 cache entries.
        let line = |start: &str| {
            text.lines()
                .find(|l| l.contains(start))
                .unwrap_or_else(|| panic!("{start}: {text}"))
                .to_string()
        };
        assert!(
            line("3 cycles of 2 objects: main.makePair")
                .ends_with("all reachable from main.parents (bss)"),
            "{text}"
        );
        assert!(
            line("4 cycles of 2 objects: main.makeEntry")
                .ends_with("all reachable from main.cache (bss)"),
            "{text}"
        );
        assert_eq!(
            text.matches("root: main.parents (bss)").count(),
            1,
            "{text}"
        );
    }
    let d119 = testdata("go/heapdump/go1.19.8.dump.gz");
    let out = leakdiff(&["retained", d119.to_str().unwrap(), "--by", "root"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("global (bss)") && text.contains("--binary PATH"),
        "{text}"
    );
    // The Go 1.19 generator's symbols against the Go 1.23 dump: other addresses.
    let d123 = testdata("go/heapdump/go1.23.5.dump.gz");
    let sym = testdata("go/heapdump/heapdumpgen-go1.19.8.symbols");
    let out = leakdiff(&[
        "retained",
        d123.to_str().unwrap(),
        "--by",
        "root",
        "--binary",
        sym.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match the dump"), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    let globals: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('#') && (l.contains("(bss)") || l.contains("(data)")))
        .collect();
    assert!(!globals.is_empty(), "the globals are still listed: {text}");
    assert!(
        globals.iter().all(|l| l.contains("global (")),
        "names from a wrong binary: {text}"
    );
}

/// `retained --by shape`, for dumps whose objects have no allocation record: objects grouped by
/// size and how many objects they point at, each retained byte counted once. The generator's
/// tree is 7 inner 24-byte nodes with two children each, retaining all 15 nodes (360 B); its
/// rings are 16 nodes of 16 bytes with one pointer each.
#[test]
fn retained_by_shape_groups_objects_without_records() {
    let dump = testdata("go/heapdump/go1.19.8.dump.gz");
    let out = leakdiff(&[
        "retained",
        dump.to_str().unwrap(),
        "--by",
        "shape",
        "--top",
        "0",
        "-f",
        "json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shape = |name: &str| -> (u64, u64) {
        let r = v["retainers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {v}"));
        (
            r["objects"].as_u64().unwrap(),
            r["retained_bytes"].as_u64().unwrap(),
        )
    };
    assert_eq!(shape("24 B objects pointing at 2 objects"), (7, 360));
    assert_eq!(shape("16 B objects pointing at 1 object"), (16, 256));
    let objects: u64 = v["retainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["objects"].as_u64().unwrap())
        .sum();
    assert_eq!(objects, v["dump"]["reachable"].as_u64().unwrap());
}

#[test]
fn a_forced_small_budget_spills_and_changes_nothing() {
    let spill = tempfile::tempdir().unwrap();
    let dir = spill.path().to_str().unwrap();
    for name in [
        "go/heapdump/go1.19.8-garbage.dump.gz",
        "go/go1.27/go1.27.3.dump.gz",
    ] {
        let dump = testdata(name);
        let dump = dump.to_str().unwrap();
        for cmd in [
            &[
                "retained", dump, "--by", "object", "--top", "0", "-f", "json",
            ][..],
            &["retained", dump, "--by", "root", "--top", "0"][..],
            &["cycles", dump, "--top", "0", "-f", "json"][..],
        ] {
            let run = |budget: &str, spill_dir: &str| {
                let mut args = cmd.to_vec();
                args.extend(["--memory-budget", budget, "--spill-dir", spill_dir]);
                crate::common::leakdiff_cmd()
                    .args(&args)
                    .env("LEAKDIFF_PROGRESS", "log")
                    .output()
                    .unwrap()
            };
            let whole = run("1TiB", dir);
            let spilled = run("1", dir);
            assert!(
                whole.status.success() && spilled.status.success(),
                "{cmd:?}"
            );
            let log = String::from_utf8_lossy(&spilled.stderr);
            assert!(
                log.contains("moving object addresses and sizes to"),
                "{cmd:?}: {log}"
            );
            assert!(!String::from_utf8_lossy(&whole.stderr).contains("moving object"));
            assert_eq!(whole.stdout, spilled.stdout, "{cmd:?}");
            // The files are unlinked as soon as they are made.
            assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
            // A directory that cannot take the file: a warning, the same answer from memory.
            let nowhere = run("1", "/nonexistent/leakdiff-spill");
            assert!(nowhere.status.success(), "{cmd:?}");
            let err = String::from_utf8_lossy(&nowhere.stderr);
            assert!(
                err.contains("warning: could not spill to /nonexistent"),
                "{err}"
            );
            assert_eq!(whole.stdout, nowhere.stdout, "{cmd:?}");
        }
    }
}

/// `retained` leads with the program's own memory: sites, objects, roots and types of the Go
/// runtime (goroutine stacks from `runtime.malg`, a GC worker's stack) come after, marked.
#[test]
fn retained_lists_the_programs_own_memory_before_the_runtimes() {
    let dump = testdata("go/heapdump/go1.23.5.dump.gz");
    let dump = dump.to_str().unwrap();
    for by in ["site", "object", "root"] {
        let out = leakdiff(&["retained", dump, "--by", by, "-f", "json", "--top", "0"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let runtime: Vec<bool> = v["retainers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["runtime"].as_bool().unwrap())
            .collect();
        let first_runtime = runtime.iter().position(|r| *r).unwrap_or(runtime.len());
        assert!(first_runtime > 0, "{by}: the program's own come first");
        assert!(
            runtime[first_runtime..].iter().all(|r| *r),
            "{by}: {runtime:?}"
        );
        if by == "site" {
            let malg = v["retainers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"].as_str().unwrap().starts_with("runtime.malg"))
                .expect("runtime.malg");
            assert_eq!(malg["runtime"], true);
        }
    }
    let out = leakdiff(&["retained", dump, "--top", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("the Go runtime's own") && text.contains("[runtime]"),
        "{text}"
    );
}

/// A process left at Go's default MemProfileRate records one allocation per 512 KiB: its dump's
/// allocation sites retain a sliver of the heap (here none of a 300 KiB heap of small objects,
/// `simulate --sampled-records`), and a ranking by site would answer nothing. `retained` ranks by
/// root then (by type with types), and says why; `--by site` still ranks sites. A dump with every
/// allocation recorded keeps the site view.
#[test]
fn retained_answers_by_root_when_the_sites_retain_too_little() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sim");
    let o = leakdiff(&[
        "simulate",
        "--type",
        "cycle",
        "--pattern",
        "linear",
        "--sampled-records",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dump = dir.join("heap-012.dump.gz");
    let o = leakdiff(&["retained", dump.to_str().unwrap()]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{err}");
    assert!(err.contains("ranking by root instead"), "{err}");
    assert!(out.contains("top retainers by root"), "{out}");
    assert!(out.contains("global (bss)"), "{out}");
    let o = leakdiff(&["retained", dump.to_str().unwrap(), "--by", "site"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("top retainers by site"), "{out}");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("instead"));
    // `report` over these dumps answers the same way in its object-graph section: the roots
    // first, saying why, the sites (none here) after.
    let o = leakdiff(&["report", "--input", dir.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let graph = &out[out.find("OBJECT GRAPH").expect(&out)..];
    assert!(
        graph.contains("the allocation sites retain 0.00 % of it")
            && graph.contains("--binary PATH"),
        "{graph}"
    );
    assert!(
        graph.contains("  by root:\n  retains  307.52KiB (2902 objects)  global (bss)\n"),
        "{graph}"
    );
    assert!(!graph.contains("by allocation site"), "{graph}");
    let o = leakdiff(&[
        "report",
        "--input",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let g = &r["object_graph"];
    assert!(g["site_coverage"].as_f64().unwrap() < 0.01, "{g}");
    assert_eq!(g["top_roots"][0]["name"], "global (bss)", "{g}");
    let o = leakdiff(&[
        "report",
        "--input",
        dir.to_str().unwrap(),
        "--format",
        "html",
    ]);
    let html = String::from_utf8_lossy(&o.stdout);
    assert!(
        html.contains("<h3>By root</h3>") && html.contains("top retainer global (bss)"),
        "{html}"
    );
    let full = testdata("go/go1.27/go1.27.3.dump.gz");
    let o = leakdiff(&["retained", full.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("top retainers by site"));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("instead"));
}

/// With the binary's DWARF, a cycle member that has no allocation record is named by its Go
/// type instead of "(not sampled)": the unicode tables' map buckets of the Go 1.19 dump are a
/// cycle of `[]bucket<string,*unicode.RangeTable>`; without the binary they are not sampled.
#[test]
fn cycles_name_unrecorded_members_by_their_type() {
    let dump = testdata("go/heapdump/go1.19.8.dump.gz");
    let dwarf = testdata("go/heapdump/heapdumpgen-go1.19.8.debug");
    let sites_of = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["cycles", dump.to_str().unwrap(), "-f", "json"];
        args.extend_from_slice(extra);
        let o = leakdiff(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["sites"].as_array().unwrap().clone())
            .map(|s| s[0].as_str().unwrap().to_string())
            .collect()
    };
    let typed = sites_of(&["--binary", dwarf.to_str().unwrap()]);
    assert!(
        typed.contains(&"[]bucket<string,*unicode.RangeTable>".to_string()),
        "{typed:?}"
    );
    let untyped = sites_of(&[]);
    assert!(
        !untyped.iter().any(|s| s.contains("bucket<")),
        "{untyped:?}"
    );
    assert!(untyped.iter().any(|s| s == "(not sampled)"), "{untyped:?}");
}
