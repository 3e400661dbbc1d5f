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
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn layout(bin: &str) -> Layout {
    let text = std::fs::read_to_string(testdata(&format!("native-names/{bin}.layout"))).unwrap();
    let mut l = Layout {
        loads: Vec::new(),
        fns: Vec::new(),
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "load" => l.loads.push((hex(f[1]), hex(f[2]), hex(f[3]))),
            "fn" => l
                .fns
                .push((hex(f[1]), f[2].split(';').next().unwrap().to_string())),
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
    ] {
        let l = layout(bin);
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
