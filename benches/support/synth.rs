//! Go-shaped heap profiles of a chosen number of distinct stacks, for benchmarks. Deterministic.
//! Shape: 4 value types (alloc_objects, alloc_space, inuse_objects, inuse_space), space/bytes period
//! 524288, Go-like package/function/file names, some inlined locations, a `bytes` label per sample.
//! The later profile keeps 95 % of the base stacks (values changed), drops 5 % and adds 10 % new ones.
//! Stacks are paths of a call tree, as in real programs: each new stack takes a prefix (half to all
//! but one frame) of an earlier stack and adds 1–8 new frames. `LEAKDIFF_SYNTH_RANDOM=1` makes
//! every stack an independent random path instead (no shared prefixes: the worst case).

use std::io::Write;

use leakdiff::formats::pprof::schema;
use prost::Message;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The distinct stacks (leaf first) of a synthetic program with about `stacks` stacks, plus 10 %
/// more; and the number of functions and locations they use.
fn build_stacks(stacks: usize) -> (Vec<Vec<u64>>, usize, usize) {
    let functions = (stacks / 10).clamp(100, 20_000);
    let locations = functions * 3;
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let mut all: Vec<Vec<u64>> = Vec::with_capacity(stacks + stacks / 10);
    let random = std::env::var_os("LEAKDIFF_SYNTH_RANDOM").is_some();
    let mut seen = std::collections::HashSet::new();
    while all.len() < stacks + stacks / 10 {
        // Built root first: runtime.main → main.main → … → allocation site.
        let mut s: Vec<u64> = if random || all.is_empty() {
            let depth = 8 + rng.below(24) as usize;
            let mut s = vec![1, 2];
            s.extend((0..depth).map(|_| 3 + rng.below(locations as u64 - 3)));
            s
        } else {
            let parent = &all[rng.below(all.len() as u64) as usize];
            let keep = parent.len() / 2 + rng.below((parent.len() / 2) as u64) as usize;
            let mut s = parent[parent.len() - keep..].to_vec();
            s.reverse();
            let extra = 1 + rng.below(8) as usize;
            s.extend((0..extra).map(|_| 3 + rng.below(locations as u64 - 3)));
            s.truncate(64);
            s
        };
        s.reverse(); // leaf first, like pprof
        if seen.insert(s.clone()) {
            all.push(s);
        }
    }
    (all, functions, locations)
}

/// A series of `n` gzipped snapshots of one process with about `stacks` stacks, 60 s apart: every
/// stack keeps its objects with a little noise, and one stack in 500 leaks `objs` more objects
/// every snapshot.
// Used by gen_profiles only; benches/diff.rs includes this file too.
#[allow(dead_code)]
pub fn series(stacks: usize, n: usize) -> impl Iterator<Item = Vec<u8>> {
    let (all, functions, locations) = build_stacks(stacks);
    let which: Vec<usize> = (0..stacks).collect();
    (0..n).map(move |k| {
        let mut rng = Rng(7);
        let mut noise = Rng(1000 + k as u64);
        let k = k as i64;
        encode(
            &all,
            &which,
            functions,
            locations,
            1_700_000_000_000_000_000 + k * 60_000_000_000,
            &mut rng,
            &mut |i, objs, _| {
                let leak = if i % 500 == 0 { objs * k } else { 0 };
                objs + leak + noise.below(3) as i64
            },
        )
    })
}

/// Builds (base, later) gzipped profiles with about `stacks` distinct stacks each.
pub fn pair(stacks: usize) -> (Vec<u8>, Vec<u8>) {
    let (all, functions, locations) = build_stacks(stacks);
    let base_end = stacks;
    let later: Vec<usize> = (0..all.len()).filter(|&i| i >= stacks / 20).collect();
    let base: Vec<usize> = (0..base_end).collect();
    let mut r1 = Rng(7);
    let mut r2 = Rng(11);
    (
        encode(
            &all,
            &base,
            functions,
            locations,
            1_700_000_000_000_000_000,
            &mut r1,
            &mut |_, objs, rng| objs + rng.below(3) as i64,
        ),
        encode(
            &all,
            &later,
            functions,
            locations,
            1_700_000_060_000_000_000,
            &mut r2,
            &mut |_, objs, rng| objs * 2 + rng.below(3) as i64,
        ),
    )
}

fn encode(
    all: &[Vec<u64>],
    which: &[usize],
    functions: usize,
    locations: usize,
    time_nanos: i64,
    rng: &mut Rng,
    inuse_of: &mut dyn FnMut(usize, i64, &mut Rng) -> i64,
) -> Vec<u8> {
    let mut p = schema::Profile::default();
    let mut strings = vec![String::new()];
    let s = |v: String, strings: &mut Vec<String>| {
        strings.push(v);
        strings.len() as i64 - 1
    };
    for (t, u) in [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ] {
        let vt = schema::ValueType {
            r#type: s(t.into(), &mut strings),
            unit: s(u.into(), &mut strings),
        };
        p.sample_type.push(vt);
    }
    p.period_type = Some(schema::ValueType {
        r#type: s("space".into(), &mut strings),
        unit: s("bytes".into(), &mut strings),
    });
    p.period = 524_288;
    p.time_nanos = time_nanos;
    let bytes_key = s("bytes".into(), &mut strings);
    let exe = s("/usr/local/bin/service".into(), &mut strings);
    p.mapping.push(schema::Mapping {
        id: 1,
        memory_start: 0x400000,
        memory_limit: 0x2000000,
        filename: exe,
        has_functions: true,
        has_filenames: true,
        has_line_numbers: true,
        ..Default::default()
    });
    for f in 0..functions {
        let name = match f {
            0 => "runtime.main".to_string(),
            1 => "main.main".to_string(),
            _ => format!(
                "github.com/acme/svc{}/internal/pkg{}.(*Handler{}).Method{}",
                f % 37,
                f % 211,
                f % 97,
                f
            ),
        };
        let file = format!(
            "github.com/acme/svc{}/internal/pkg{}/file{}.go",
            f % 37,
            f % 211,
            f % 13
        );
        let id = f as u64 + 1;
        let n = s(name, &mut strings);
        let fi = s(file, &mut strings);
        p.function.push(schema::Function {
            id,
            name: n,
            system_name: n,
            filename: fi,
            start_line: 10,
        });
    }
    let mut lr = Rng(99);
    for l in 0..locations {
        let f = if l < 2 {
            l as u64 + 1
        } else {
            3 + lr.below(functions as u64 - 2)
        };
        let mut lines = vec![schema::Line {
            function_id: f,
            line: 10 + lr.below(300) as i64,
            column: 0,
        }];
        if l % 7 == 0 && l > 2 {
            // An inlined callee.
            lines.insert(
                0,
                schema::Line {
                    function_id: 3 + lr.below(functions as u64 - 2),
                    line: 5 + lr.below(50) as i64,
                    column: 0,
                },
            );
        }
        p.location.push(schema::Location {
            id: l as u64 + 1,
            mapping_id: 1,
            address: 0x400000 + 16 * l as u64,
            line: lines,
            is_folded: false,
        });
    }
    for &i in which {
        let size = 16i64 << rng.below(10);
        let objs = 1 + rng.below(50) as i64;
        let inuse = inuse_of(i, objs, rng);
        p.sample.push(schema::Sample {
            location_id: all[i].clone(),
            value: vec![objs * 4, objs * 4 * size, inuse, inuse * size],
            label: vec![schema::Label {
                key: bytes_key,
                num: size,
                ..Default::default()
            }],
        });
    }
    p.string_table = strings;
    let raw = p.encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&raw).expect("in-memory gzip");
    gz.finish().expect("in-memory gzip")
}
