//! Writes a synthetic Go heap dump for the graph benchmark:
//! `cargo bench --bench gen_heapdump -- FILE [OBJECTS]` (default 10,000,000 objects of 32 bytes).
//! Object i points at object i+1 (a chain as deep as the heap: the worst case for recursive
//! graph code), at a random object, and every other one at a second random object; a bss root
//! points at object 0. The random edges make one giant strongly connected component.

use std::io::BufWriter;

use leakdiff::formats::heapdump::DumpWriter;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let path = args
        .first()
        .map(String::as_str)
        .unwrap_or("testdata/bench/graph.dump");
    let n: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let base: u64 = 0xc000000000;
    let mut w = DumpWriter::new(out, base, base + 32 * n, "go1.23.5").unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..n {
        let next = if i + 1 < n { base + 32 * (i + 1) } else { 0 };
        let r1 = base + 32 * (rnd() % n) + 8;
        let r2 = if i % 2 == 0 {
            base + 32 * (rnd() % n)
        } else {
            0
        };
        w.object(base + 32 * i, 32, &[(0, next), (8, r1), (16, r2)])
            .unwrap();
    }
    // A bss root to object 0.
    w.bss(0x500000, &[base]).unwrap();
    w.finish().unwrap();
    eprintln!("wrote {path}: {n} objects");
}
