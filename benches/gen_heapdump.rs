//! Writes a synthetic Go heap dump for the graph benchmark:
//! `cargo bench --bench gen_heapdump -- FILE [OBJECTS]` (default 10,000,000 objects of 32 bytes).
//! Object i points at object i+1 (a chain as deep as the heap: the worst case for recursive
//! graph code), at a random object, and every other one at a second random object; a bss root
//! points at object 0. The random edges make one giant strongly connected component.

use std::io::{BufWriter, Write};

fn uv(out: &mut impl Write, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.write_all(&[b]).unwrap();
            return;
        }
        out.write_all(&[b | 0x80]).unwrap();
    }
}

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
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    out.write_all(b"go1.7 heap dump\n").unwrap();
    let base: u64 = 0xc000000000;
    // params
    uv(&mut out, 6);
    uv(&mut out, 0);
    uv(&mut out, 8);
    uv(&mut out, base);
    uv(&mut out, base + 32 * n);
    for s in [&b"amd64"[..], b"go1.23.5"] {
        uv(&mut out, s.len() as u64);
        out.write_all(s).unwrap();
    }
    uv(&mut out, 2);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..n {
        uv(&mut out, 1);
        uv(&mut out, base + 32 * i);
        let next = if i + 1 < n { base + 32 * (i + 1) } else { 0 };
        let r1 = base + 32 * (rnd() % n) + 8;
        let r2 = if i % 2 == 0 {
            base + 32 * (rnd() % n)
        } else {
            0
        };
        uv(&mut out, 32);
        for w in [next, r1, r2, 0] {
            out.write_all(&w.to_le_bytes()).unwrap();
        }
        for off in [0u64, 8, 16] {
            uv(&mut out, 1);
            uv(&mut out, off);
        }
        uv(&mut out, 0);
    }
    // bss with one root to object 0
    uv(&mut out, 13);
    uv(&mut out, 0x500000);
    uv(&mut out, 8);
    out.write_all(&base.to_le_bytes()).unwrap();
    uv(&mut out, 1);
    uv(&mut out, 0);
    uv(&mut out, 0);
    uv(&mut out, 0);
    out.flush().unwrap();
    eprintln!("wrote {path}: {n} objects");
}
