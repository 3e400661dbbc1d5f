//! Parse and diff two Go-shaped heap profiles of about 200k distinct stacks each.
//! `cargo bench --bench diff`; whole-command timings against go tool pprof: benches/cli.sh.

#[path = "support/synth.rs"]
mod synth;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use leakdiff::diff::{diff, DiffOptions, Granularity};
use leakdiff::formats::{parse_bytes, ReadOptions};
use leakdiff::model::Interner;

fn bench(c: &mut Criterion) {
    let stacks: usize = std::env::var("LEAKDIFF_BENCH_STACKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let (base, later) = synth::pair(stacks);
    let opts = ReadOptions::default();
    let mut g = c.benchmark_group("pprof");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(base.len() as u64));
    g.bench_function("parse_200k_stacks_gz", |b| {
        b.iter(|| parse_bytes(base.clone(), "base", &mut Interner::new(), &opts).unwrap())
    });
    let raw = leakdiff::formats::decompress::decompress(
        base.clone(),
        "b",
        u64::MAX,
        leakdiff::formats::decompress::Payload::Streamed,
    )
    .unwrap()
    .bytes;
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("parse_200k_stacks_raw_proto", |b| {
        b.iter(|| parse_bytes(raw.clone(), "base", &mut Interner::new(), &opts).unwrap())
    });
    g.finish();

    let mut interner = Interner::new();
    let pb = parse_bytes(base.clone(), "base", &mut interner, &opts).unwrap();
    let pl = parse_bytes(later.clone(), "later", &mut interner, &opts).unwrap();
    let mut g = c.benchmark_group("diff");
    g.sample_size(10);
    for by in [Granularity::Function, Granularity::Stack, Granularity::Line] {
        let o = DiffOptions {
            by,
            top: Some(20),
            ..Default::default()
        };
        g.bench_function(format!("{by:?}").to_lowercase(), |b| {
            b.iter(|| diff(&pb, &pl, &interner, &o).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
