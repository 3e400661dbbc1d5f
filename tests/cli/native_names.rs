//! Address → name on every binary layout, against `addr2line -f -i -C` (testdata/native-names,
//! made by its build.sh): GNU ld and lld (whose text segment sits 0x1000 above its file offset),
//! PIE and not, C and Rust; each address given through a mapping of the whole file from offset 0
//! (as jemalloc_pprof writes them) and through the text segment's `/proc/PID/maps` line (as
//! jemalloc, gperftools and Go write them).

use crate::common::{run, testdata};

/// A binary's load segments (file offset, virtual address) and its reference names.
struct Layout {
    loads: Vec<(u64, u64, u64)>,
    fns: Vec<(u64, String)>,
    hidden: Option<(u64, String, String)>,
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn layout(bin: &str) -> Layout {
    let text = std::fs::read_to_string(testdata(&format!("native-names/{bin}.layout"))).unwrap();
    let mut l = Layout {
        loads: Vec::new(),
        fns: Vec::new(),
        hidden: None,
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "load" => l.loads.push((hex(f[1]), hex(f[2]), hex(f[3]))),
            "fn" => l
                .fns
                .push((hex(f[1]), f[2].split(';').next().unwrap().to_string())),
            // An address no symbol left names: what it is, and the symbol before it.
            "hidden" => l.hidden = Some((hex(f[1]), f[2].to_string(), f[3].to_string())),
            _ => panic!("{line}"),
        }
    }
    l
}

#[test]
fn every_layout_names_what_addr2line_names() {
    let tmp = tempfile::tempdir().unwrap();
    for (bin, pie) in [
        ("leakc-gnu", true),
        ("leakc-gnu-nopie", false),
        ("leakc-lld", true),
        ("leakc-lld-nopie", false),
        ("leakrs", true),
        ("leakc-hidden", true),
    ] {
        let mut l = layout(bin);
        // A name is never guessed: an address no symbol left names keeps its module and offset
        // as an unnamed frame shows them (the file offset of the call site, one byte before the
        // return address the profile holds; GNU ld's text is at the offset it is linked at), and
        // the exported function it lies after is a hint.
        if let Some((addr, _, before)) = &l.hidden {
            l.fns
                .push((*addr, format!("{bin}+{:#x} (after {before})", addr - 1)));
        }
        assert!(l.fns.len() >= 2, "{bin}");
        let bias: u64 = if pie { 0x55d0_a000_0000 } else { 0 };
        let (text_off, text_vaddr, text_size) = l.loads[1];
        let maps = [
            // The whole file from offset 0, at the first segment's address.
            format!(
                "{:x}-{:x}: /opt/app/{bin}",
                bias + l.loads[0].1,
                bias + l.loads[0].1 + 0x100_0000
            ),
            // The text segment's maps line: page-aligned address and offset.
            format!(
                "{:x}-{:x} r-xp {:08x} 08:01 1234 /opt/app/{bin}",
                bias + (text_vaddr & !0xfff),
                bias + text_vaddr + text_size,
                text_off & !0xfff
            ),
        ];
        for map in maps {
            let mut p = String::new();
            p += &format!(
                "heap profile: {n}: {t} [{n}: {t}] @ heapprofile\n",
                n = l.fns.len(),
                t = (1..=l.fns.len()).map(|k| 1000 * k).sum::<usize>()
            );
            for (k, (addr, _)) in l.fns.iter().enumerate() {
                let size = 1000 * (k + 1);
                p += &format!("1: {size} [1: {size}] @ {:#x}\n", bias + addr);
            }
            p += &format!("\nMAPPED_LIBRARIES:\n{map}\n");
            let file = tmp.path().join(format!("{bin}.heap"));
            std::fs::write(&file, &p).unwrap();
            let (c, out, err) = run(&[
                file.to_str().unwrap(),
                "-f",
                "folded",
                "--binary",
                testdata(&format!("native-names/{bin}")).to_str().unwrap(),
            ]);
            assert_eq!(c, 0, "{bin}: {err}");
            for (k, (addr, want)) in l.fns.iter().enumerate() {
                let size = format!(" {}", 1000 * (k + 1));
                let line = out
                    .lines()
                    .find(|x| x.ends_with(&size))
                    .unwrap_or_else(|| panic!("{bin} {map}: no sample of {size}: {out}"));
                let got = line.trim_end_matches(&size).rsplit(';').next().unwrap();
                assert_eq!(got, want, "{bin} at {addr:#x} through `{map}`");
            }
        }
    }
}

/// Writes six growing snapshots of one stack (root first) as pprof files.
fn series(dir: &std::path::Path, root_first: &[&str]) {
    let frames: Vec<(&str, &str, u32)> = root_first.iter().map(|f| (*f, "", 0)).collect();
    crate::common::pprof_series(dir, &frames, 1 << 22);
}

/// A leak's key is the program's own function, past the allocator's frames and the standard
/// library's containers: a Rust service on jemalloc (tikv-jemallocator's profiler, `RawVec`
/// growth under `Vec::push`) is keyed `app::register`, a C++ one the function above
/// `std::vector`'s growth and `operator new`.
#[test]
fn leaks_are_keyed_by_the_programs_function_past_the_allocator() {
    for (stack, want) in [
        (
            vec![
                "main",
                "app::main",
                "app::handle",
                "app::register",
                "alloc::vec::Vec<T,A>::push",
                "alloc::raw_vec::RawVec<T,A>::grow_one",
                "alloc::raw_vec::RawVecInner<A>::grow_amortized",
                "alloc::raw_vec::finish_grow",
                "__rust_alloc",
                "_rjem_malloc",
                "_rjem_je_malloc_default",
                "_rjem_je_prof_tctx_create",
                "prof_backtrace_impl",
            ],
            "app::register",
        ),
        (
            vec![
                "main",
                "Server::run()",
                "Server::remember(Session const&)",
                "std::vector<Session, std::allocator<Session> >::push_back(Session const&)",
                "std::vector<Session, std::allocator<Session> >::_M_realloc_insert(Session const&)",
                "operator new(unsigned long)",
                "malloc",
            ],
            "Server::remember(Session const&)",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        series(tmp.path(), &stack);
        let (c, out, err) = run(&["report", "-f", "json", tmp.path().to_str().unwrap()]);
        assert!(c == 0 || c == 1, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let keys = crate::common::keys(&v["suspects"]);
        assert_eq!(keys, [want], "{v}");
        // The page dims the frames the key skipped, and only those.
        let html = tmp.path().join("r.html");
        let (c, _, err) = run(&[
            "report",
            tmp.path().to_str().unwrap(),
            "-o",
            html.to_str().unwrap(),
        ]);
        assert!(c == 0 || c == 1, "{err}");
        let page = std::fs::read_to_string(&html).unwrap();
        let leaf = stack.last().unwrap();
        assert!(
            page.contains(&format!("<span class=\"dim\">{leaf}</span>")),
            "{leaf}"
        );
        assert!(
            !page.contains(&format!("<span class=\"dim\">{want}</span>")),
            "{want}"
        );
    }
}

/// `--keep-frames` and `--drop-frames` move the key as pprof's keep_frames and drop_frames would:
/// whole function names; a bad regex is one line and exit 2.
#[test]
fn keep_and_drop_frames_move_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    series(
        tmp.path(),
        &[
            "main",
            "Server::run()",
            "Server::remember(Session const&)",
            "std::vector<Session, std::allocator<Session> >::push_back(Session const&)",
            "operator new(unsigned long)",
        ],
    );
    let dir = tmp.path().to_str().unwrap();
    for (flag, pattern, want) in [
        (
            "--keep-frames",
            r"std::vector<.*>::push_back\(.*\)",
            "std::vector<Session, std::allocator<Session> >::push_back(Session const&)",
        ),
        ("--drop-frames", r"Server::remember\(.*\)", "Server::run()"),
        // Whole names only: a part of one matches nothing.
        (
            "--drop-frames",
            "Server::remember",
            "Server::remember(Session const&)",
        ),
    ] {
        let (c, out, err) = run(&["report", "-f", "json", dir, flag, pattern]);
        assert!(c == 0 || c == 1, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            crate::common::keys(&v["suspects"]),
            [want],
            "{flag} {pattern}"
        );
    }
    let (c, _, err) = run(&["report", dir, "--drop-frames", "("]);
    assert_eq!(c, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--drop-frames"), "{err}");
}

/// A mapping's build id is checked against the file found at its path: the file of another build
/// is not used (its frames stay `module+offset` and the warning says why), the file of the same
/// build names them. One pprof protobuf with an address in `cache_session` of leakc-gnu (PIE).
#[test]
fn a_file_of_another_build_is_not_used() {
    use leakdiff::formats::pprof::schema::{Location, Mapping, Profile, Sample, ValueType};
    use prost::Message;
    let bin = testdata("native-names/leakc-gnu");
    let id = leakdiff::symbolize::Module::load(&bin, &[], false)
        .unwrap()
        .build_id()
        .to_string();
    assert!(!id.is_empty());
    let l = layout("leakc-gnu");
    let (addr, want) = l
        .fns
        .iter()
        .find(|(_, n)| n == "cache_session")
        .unwrap()
        .clone();
    let bias = 0x55d0_a000_0000u64;
    let tmp = tempfile::tempdir().unwrap();
    let name_with = |build_id: &str| -> (i32, String, String) {
        let strings = vec![
            String::new(),
            "inuse_space".into(),
            "bytes".into(),
            bin.to_str().unwrap().to_string(),
            build_id.to_string(),
        ];
        let p = Profile {
            sample_type: vec![ValueType { r#type: 1, unit: 2 }],
            sample: vec![Sample {
                location_id: vec![1],
                value: vec![4096],
                label: vec![],
            }],
            mapping: vec![Mapping {
                id: 1,
                memory_start: bias,
                memory_limit: bias + 0x10_0000,
                file_offset: 0,
                filename: 3,
                build_id: 4,
                ..Default::default()
            }],
            location: vec![Location {
                id: 1,
                mapping_id: 1,
                address: bias + addr,
                ..Default::default()
            }],
            string_table: strings,
            ..Default::default()
        };
        let file = tmp.path().join(format!("p-{}.pb", build_id.len()));
        std::fs::write(&file, p.encode_to_vec()).unwrap();
        run(&[file.to_str().unwrap(), "-f", "folded"])
    };
    let (c, out, err) = name_with(&id);
    assert_eq!(c, 0, "{err}");
    assert!(out.starts_with(&format!("{want} ")), "{out}");
    let (c, out, err) = name_with("0123456789abcdef0123456789abcdef01234567");
    assert_eq!(c, 0, "{err}");
    assert!(out.starts_with("leakc-gnu+0x"), "{out}");
    assert!(err.contains("has another build id"), "{err}");
}

/// Node's heap profiles (`@datadog/pprof`) put memory outside the JS heap under a root-level
/// `(external)` pseudo-frame, and native allocations under `(V8 API)`: no function of the
/// program's. `(external)` alone is set apart and explained (not a suspect, whatever it grows);
/// `(V8 API)` under JS frames is skipped for the key, which is the JS function that called it.
#[test]
fn v8_pseudo_frames_are_explained_not_suspected() {
    let tmp = tempfile::tempdir().unwrap();
    let external: &[(&str, &str, u32)] = &[("(external)", "", 0)];
    let handler: &[(&str, &str, u32)] = &[
        ("(root)", "", 0),
        (
            "processTicksAndRejections",
            "node:internal/process/task_queues",
            95,
        ),
        ("handle", "/srv/app/server.js", 21),
    ];
    let native: &[(&str, &str, u32)] = &[
        ("(root)", "", 0),
        ("register", "/srv/app/server.js", 40),
        ("(V8 API)", "", 0),
    ];
    crate::common::pprof_series_of(
        tmp.path(),
        &[(external, 8 << 20), (handler, 1 << 20), (native, 1 << 20)],
    );
    let (c, out, err) = run(&["report", "-f", "json", tmp.path().to_str().unwrap()]);
    assert_eq!(c, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let suspects = crate::common::keys(&r["suspects"]);
    assert!(suspects.contains(&"handle".to_string()), "{suspects:?}");
    assert!(suspects.contains(&"register".to_string()), "{suspects:?}");
    assert!(!suspects.iter().any(|k| k.starts_with('(')), "{suspects:?}");
    let outside = &r["outside_code"][0];
    assert_eq!(outside["key"], "(external)");
    assert_eq!(outside["pattern"], "linear");
    assert!(outside["meaning"]
        .as_str()
        .unwrap()
        .contains("outside the JS heap"));
    let (_, text, _) = run(&["report", tmp.path().to_str().unwrap()]);
    assert!(text.contains("OUTSIDE THE CODE"), "{text}");
    assert!(
        text.contains("(external): memory outside the JS heap"),
        "{text}"
    );
}
