//! The legacy `heap profile:` parser builds what google/pprof builds: its `.string` goldens (and
//! `go tool pprof -raw` of our own Go debug=1 dumps) list the same samples, values, labels,
//! addresses and mappings.

use std::collections::HashMap;

use leakdiff::formats::pprof::{legacy, schema};

use crate::common::testdata;

#[derive(Debug, Default)]
struct Golden {
    types: Vec<String>,
    samples: Vec<(Vec<i64>, Vec<u64>, Option<i64>)>,
    locations: HashMap<u64, (u64, u64)>,
    mappings: Vec<(u64, u64, u64, String)>,
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// Parses pprof's `Profile.String()` text.
fn parse_string(text: &str) -> Golden {
    let mut g = Golden::default();
    let mut section = "";
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        match line.trim() {
            "Samples:" => {
                section = "samples";
                let types = lines.next().unwrap();
                g.types = types
                    .split_whitespace()
                    .map(|t| t.trim_end_matches("[dflt]").to_string())
                    .collect();
                continue;
            }
            "Locations" => {
                section = "locations";
                continue;
            }
            "Mappings" => {
                section = "mappings";
                continue;
            }
            _ => {}
        }
        match section {
            "samples" => {
                let t = line.trim();
                if let Some(rest) = t.strip_prefix("bytes:[") {
                    let v = rest.trim_end_matches(']').parse().unwrap();
                    g.samples.last_mut().unwrap().2 = Some(v);
                } else if let Some((vals, locs)) = t.split_once(':') {
                    let values = vals
                        .split_whitespace()
                        .map(|v| v.parse().unwrap())
                        .collect();
                    let ids = locs
                        .split_whitespace()
                        .map(|v| v.parse().unwrap())
                        .collect();
                    g.samples.push((values, ids, None));
                }
            }
            "locations" => {
                let t = line.trim();
                if let Some((id, rest)) = t.split_once(": ") {
                    if let Ok(id) = id.parse::<u64>() {
                        let mut parts = rest.split_whitespace();
                        let addr = hex(parts.next().unwrap());
                        let m = parts
                            .next()
                            .unwrap()
                            .trim_start_matches("M=")
                            .parse()
                            .unwrap();
                        g.locations.insert(id, (addr, m));
                    }
                }
            }
            "mappings" => {
                if let Some((_, rest)) = line.split_once(": ") {
                    let mut parts = rest.split_whitespace();
                    let range: Vec<u64> = parts.next().unwrap().split('/').map(hex).collect();
                    let file = parts.next().unwrap_or("").to_string();
                    g.mappings.push((range[0], range[1], range[2], file));
                }
            }
            _ => {}
        }
    }
    g
}

fn strings(p: &schema::Profile, i: i64) -> &str {
    &p.string_table[i as usize]
}

fn assert_same(ours: &schema::Profile, golden: &Golden, what: &str, check_mappings: bool) {
    let types: Vec<String> = ours
        .sample_type
        .iter()
        .map(|t| format!("{}/{}", strings(ours, t.r#type), strings(ours, t.unit)))
        .collect();
    assert_eq!(types, golden.types, "{what}: sample types");
    assert_eq!(
        ours.sample.len(),
        golden.samples.len(),
        "{what}: sample count"
    );
    let addr_of: HashMap<u64, u64> = ours.location.iter().map(|l| (l.id, l.address)).collect();
    for (n, (s, (values, ids, bytes))) in ours.sample.iter().zip(&golden.samples).enumerate() {
        assert_eq!(&s.value, values, "{what}: values of sample {n}");
        let mine: Vec<u64> = s.location_id.iter().map(|id| addr_of[id]).collect();
        let theirs: Vec<u64> = ids.iter().map(|id| golden.locations[id].0).collect();
        assert_eq!(mine, theirs, "{what}: addresses of sample {n}");
        let label = s
            .label
            .iter()
            .find(|l| strings(ours, l.key) == "bytes")
            .map(|l| l.num);
        assert_eq!(label, *bytes, "{what}: bytes label of sample {n}");
    }
    if check_mappings {
        let mine: Vec<(u64, u64, u64, String)> = ours
            .mapping
            .iter()
            .map(|m| {
                (
                    m.memory_start,
                    m.memory_limit,
                    m.file_offset,
                    strings(ours, m.filename).to_string(),
                )
            })
            .collect();
        assert_eq!(mine, golden.mappings, "{what}: mappings");
    }
}

fn check(input: &str, golden: &str, check_mappings: bool) {
    let bytes = std::fs::read(testdata(input)).unwrap();
    let mut ours = legacy::to_schema(&bytes, input).unwrap_or_else(|e| panic!("{e}"));
    if golden.ends_with(".raw.txt") {
        // `go tool pprof -raw` merges the profile first, and pprof's merge drops all-zero samples.
        ours.sample.retain(|s| s.value.iter().any(|&v| v != 0));
    }
    let g = parse_string(&std::fs::read_to_string(testdata(golden)).unwrap());
    assert_same(&ours, &g, input, check_mappings);
}

#[test]
fn go_legacy_heap_equals_pprof_string_golden() {
    check(
        "legacy/profile__testdata__gobench.heap",
        "legacy/profile__testdata__gobench.heap.string",
        false,
    );
}

#[test]
fn cpp_heapz_v2_equals_pprof_string_golden_with_memory_map() {
    check(
        "legacy/profile__testdata__cppbench.heap",
        "legacy/profile__testdata__cppbench.heap.string",
        true,
    );
}

#[test]
fn tcmalloc_growth_equals_pprof_string_golden() {
    check(
        "legacy/profile__testdata__cppbench.growth",
        "legacy/profile__testdata__cppbench.growth.string",
        true,
    );
}

#[test]
fn our_go_debug1_dumps_equal_pprof_raw() {
    for name in ["leak-base", "leak-later", "control-base", "control-later"] {
        check(
            &format!("go/{name}.heap.txt"),
            &format!("go/golden/{name}.heap.txt.raw.txt"),
            false,
        );
    }
}

#[test]
fn go_debug1_text_and_proto_agree_on_the_leaks() {
    // The text form carries Go's own symbol comments, so it diffs by function like the proto.
    use leakdiff::diff::{diff, DiffOptions};
    let (i, a, b) = crate::common::load_two("go/leak-base.heap.txt", "go/leak-later.heap.txt");
    let r = diff(&a, &b, &i, &DiffOptions::default()).unwrap();
    assert_eq!(crate::common::top_keys(&r, 3), crate::common::PLANTED);
}
