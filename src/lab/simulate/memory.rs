//! Memory leaks as Go heap protobufs: every site is a population of live objects whose sampled
//! subset is tracked the way Go's profiler keeps it (an object is sampled once, when allocated,
//! with probability 1 − e^(−size/rate), and stays sampled until freed), then unsampled with Go's
//! formula, so the values carry Go's sampling noise.

use super::{gzip, nanos, span, Func, Names, Rng, Shape, SimFile, SimOptions, SimPattern, Truth};
use crate::formats::pprof::encode;
use crate::model::{Format, Interner, Label, LabelValue, ProfileBuilder, ValueType};

const SIZES: &[u64] = &[
    16, 32, 48, 64, 96, 128, 256, 512, 1024, 2048, 4096, 8192, 32768,
];

/// Objects of one size allocated on one stack.
struct Population {
    /// Frames, leaf first.
    stack: Vec<Func>,
    size: u64,
    /// Share of the site's objects.
    weight: f64,
    live: u64,
    sampled: u64,
    alloc_sampled: u64,
}

impl Population {
    /// Allocates `d` objects; returns the bytes allocated.
    fn add(&mut self, d: u64, p: f64, rng: &mut Rng) -> u64 {
        let s = rng.binomial(d, p);
        self.live += d;
        self.sampled += s;
        self.alloc_sampled += s;
        d * self.size
    }

    fn remove(&mut self, d: u64, rng: &mut Rng) {
        let d = d.min(self.live);
        if d == 0 {
            return;
        }
        let frac = self.sampled as f64 / self.live as f64;
        let s = rng.binomial(d, frac).min(self.sampled);
        self.live -= d;
        self.sampled -= s;
    }
}

/// An allocation site: a function, its shape in bytes, and its populations.
struct Site {
    shape: Shape,
    /// Fraction of live objects freed and allocated again between snapshots.
    churn: f64,
    pops: Vec<Population>,
}

impl Site {
    fn new(
        name: &Func,
        callers: &[Vec<Func>],
        shape: Shape,
        churn: f64,
        size: u64,
        rng: &mut Rng,
    ) -> Site {
        let n = 1 + rng.below(3);
        let mut weights: Vec<f64> = (0..n).map(|_| rng.range(0.2, 1.0)).collect();
        let sum: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= sum);
        let pops = weights
            .into_iter()
            .map(|weight| {
                let mut stack = vec![name.clone()];
                stack.extend(rng.pick(callers).iter().cloned());
                Population {
                    stack,
                    size,
                    weight,
                    live: 0,
                    sampled: 0,
                    alloc_sampled: 0,
                }
            })
            .collect();
        Site { shape, churn, pops }
    }

    /// Moves the site to snapshot `i`, holding `scale` of what its shape says (1; 0.02 while the
    /// process tears down). Returns the bytes allocated on the way.
    fn step(
        &mut self,
        i: usize,
        t: f64,
        scale: f64,
        p_of: impl Fn(u64) -> f64,
        rng: &mut Rng,
    ) -> u64 {
        let bytes = self.shape.value(i, t, rng).max(0.0) * scale;
        let mut allocated = 0;
        for pop in &mut self.pops {
            let p = p_of(pop.size);
            let target = (bytes * pop.weight / pop.size as f64).round() as u64;
            let turn = (pop.live as f64 * self.churn).round() as u64;
            pop.remove(turn, rng);
            allocated += pop.add(turn, p, rng);
            if target > pop.live {
                allocated += pop.add(target - pop.live, p, rng);
            } else {
                pop.remove(pop.live - target, rng);
            }
        }
        allocated
    }

    fn live_bytes(&self) -> u64 {
        self.pops.iter().map(|p| p.live * p.size).sum()
    }
}

// Over 120 lines: one scenario's snapshots and its truth written together, so they cannot disagree.
#[allow(clippy::too_many_lines)]
pub(super) fn simulate(o: &SimOptions, truth: &mut Truth) -> Vec<SimFile> {
    let mut rng = Rng::new(o.seed);
    let mut names = Names::new(&mut rng);
    let g = o.growth_bytes_per_sec;
    let t = span(o);
    // Callers: request handlers under net/http, background loops under main.
    let serve = Func {
        name: "net/http.(*conn).serve".into(),
        file: "net/http/server.go".into(),
        line: 2092,
    };
    let main = Func {
        name: "main.main".into(),
        file: "main.go".into(),
        line: 64,
    };
    let runtime_main = Func {
        name: "runtime.main".into(),
        file: "runtime/proc.go".into(),
        line: 272,
    };
    let callers: Vec<Vec<Func>> = (0..8)
        .map(|k| {
            let mut c = vec![names.func(&mut rng)];
            if k % 3 == 0 {
                c.push(main.clone());
                c.push(runtime_main.clone());
            } else {
                c.push(serve.clone());
            }
            c
        })
        .collect();
    let mut sites = Vec::new();
    // The background: many steady sites with churn.
    let objects = o.objects.unwrap_or(200_000).max(1) as f64;
    let n_background = 30 + rng.below(20);
    let weights: Vec<f64> = (0..n_background)
        .map(|_| rng.log_range(1.0, 100.0))
        .collect();
    let wsum: f64 = weights.iter().sum();
    for w in weights {
        let f = names.func(&mut rng);
        let size = *rng.pick(SIZES);
        let level = objects * w / wsum * size as f64;
        let (shape, churn) = if rng.f64() < 0.2 {
            (Shape::Bursty { level, sigma: 0.3 }, 1.0)
        } else {
            (
                Shape::Steady {
                    level,
                    sigma: 0.03,
                    state: 0.0,
                },
                rng.range(0.0, 0.5),
            )
        };
        truth.background.push(f.name.clone());
        sites.push(Site::new(&f, &callers, shape, churn, size, &mut rng));
    }
    // Decoys: a cache that fills and then evicts, a warm-up plateau, a GC-driven sawtooth.
    let decoy_size = |rng: &mut Rng| *rng.pick(&SIZES[3..10]);
    let f = names.func(&mut rng);
    truth.not_leaks.insert(f.name.clone(), "plateau".into());
    let size = decoy_size(&mut rng);
    let shape = Shape::Plateau {
        base: 0.0,
        rate: g * rng.range(1.0, 3.0),
        until: t * rng.range(0.2, 0.45),
    };
    sites.push(Site::new(&f, &callers, shape, 0.3, size, &mut rng));
    let f = names.func(&mut rng);
    truth.not_leaks.insert(f.name.clone(), "plateau".into());
    let size = decoy_size(&mut rng);
    let until = o.interval_secs * (1 + rng.below(2)) as f64;
    let shape = Shape::Plateau {
        base: g * o.interval_secs,
        rate: g * t * rng.range(0.3, 1.0) / until,
        until,
    };
    sites.push(Site::new(&f, &callers, shape, 0.05, size, &mut rng));
    let f = names.func(&mut rng);
    truth.not_leaks.insert(f.name.clone(), "oscillating".into());
    let size = decoy_size(&mut rng);
    let period = 3 + rng.below(3);
    let shape = Shape::Sawtooth {
        base: 0.0,
        per_step: g * o.interval_secs * rng.range(0.5, 1.5),
        period,
        phase: rng.below(period),
    };
    sites.push(Site::new(&f, &callers, shape, 0.0, size, &mut rng));
    // The subject.
    let f = names.func(&mut rng);
    if o.pattern.is_leak() {
        truth.leaks.insert(f.name.clone(), o.pattern.name().into());
    } else {
        truth
            .not_leaks
            .insert(f.name.clone(), o.pattern.name().into());
    }
    let size = *rng.pick(&[64u64, 128, 256, 512, 1024, 4096]);
    let shape = Shape::subject(o.pattern, g, o, &mut rng);
    let churn = if o.pattern == SimPattern::Plateau {
        0.2
    } else {
        0.0
    };
    sites.push(Site::new(&f, &callers, shape, churn, size, &mut rng));
    if o.profiler_noise {
        profiler_sites(o, truth, &serve, &mut sites, &mut rng);
    }

    let rate = o.sampling_rate as f64;
    let p_of = |size: u64| 1.0 - (-(size as f64) / rate).exp();
    let n = o.snapshots + usize::from(o.teardown);
    let mut files = Vec::with_capacity(n);
    // What the profile shows of each population: (alloc_sampled, sampled) as of the last
    // completed GC.
    let mut shown: Vec<Vec<(u64, u64)>> = Vec::new();
    let (mut since_gc, mut live_at_gc, mut gc_at) = (0u64, 0u64, f64::NEG_INFINITY);
    for i in 0..n {
        let ti = super::at(o, i);
        let scale = if i >= o.snapshots { 0.02 } else { 1.0 };
        for s in &mut sites {
            since_gc += s.step(i, ti, scale, p_of, &mut rng);
        }
        // Go's collector with GOGC=100: a cycle completes once the bytes allocated since the
        // last one reach the heap live after it, or two minutes after it (the forced periodic
        // GC). A heap profile is the heap as of the last completed cycle: between cycles the
        // snapshots repeat it. Without --gc-stale, a cycle completes before every snapshot.
        if !o.gc_stale || since_gc >= live_at_gc || ti - gc_at >= 120.0 {
            shown = sites
                .iter()
                .map(|s| {
                    s.pops
                        .iter()
                        .map(|p| (p.alloc_sampled, p.sampled))
                        .collect()
                })
                .collect();
            live_at_gc = sites.iter().map(Site::live_bytes).sum();
            (since_gc, gc_at) = (0, ti);
        }
        let mut interner = Interner::new();
        let mut b = ProfileBuilder::new(
            Format::Pprof,
            vec![
                ValueType::new("alloc_objects", "count"),
                ValueType::new("alloc_space", "bytes"),
                ValueType::new("inuse_objects", "count"),
                ValueType::new("inuse_space", "bytes"),
            ],
        );
        let meta = b.meta_mut();
        meta.time_nanos = Some(nanos(o, i));
        meta.period_type = Some(ValueType::new("space", "bytes"));
        meta.period = o.sampling_rate as i64;
        let k_bytes = interner.intern("bytes");
        let no_unit = interner.intern("");
        for (s, counts) in sites.iter().zip(&shown) {
            for (pop, &(alloc_sampled, sampled)) in s.pops.iter().zip(counts) {
                if alloc_sampled == 0 {
                    continue;
                }
                // Go's unsampling: scale = 1 / (1 − e^(−avg/rate)).
                let scale = 1.0 / p_of(pop.size);
                let v = |n: u64| (n as f64 * scale).round() as i64;
                let vb = |n: u64| (n as f64 * pop.size as f64 * scale).round() as i64;
                let frames: Vec<_> = pop
                    .stack
                    .iter()
                    .rev()
                    .map(|f| interner.symbol_frame(&f.name, &f.file, f.line))
                    .collect();
                let stack = interner.stack_from_root(frames);
                let label = Label {
                    key: k_bytes,
                    value: LabelValue::Num {
                        value: pop.size as i64,
                        unit: no_unit,
                    },
                };
                b.add_sample(
                    stack,
                    &[v(alloc_sampled), vb(alloc_sampled), v(sampled), vb(sampled)],
                    &[label],
                );
            }
        }
        let bytes = match b.finish(&interner) {
            Ok(p) => gzip(&encode::encode(&p, &interner)),
            Err(_) => Vec::new(),
        };
        files.push(SimFile {
            name: format!("heap-{:03}.pb.gz", i + 1),
            bytes,
            time_nanos: nanos(o, i),
        });
    }
    files
}

/// The Go profiler's own allocations, as net/http/pprof makes them serving heap profiles to a
/// collector: compress/flate's writer state (grows as the profiles grow, churned every request),
/// runtime/pprof's builder buffers (bursty) and its symbol tables (warm up, then stay). Not leaks:
/// `report` sets them apart as profiler overhead.
fn profiler_sites(
    o: &SimOptions,
    truth: &mut Truth,
    serve: &Func,
    sites: &mut Vec<Site>,
    rng: &mut Rng,
) {
    let func = |name: &str, file: &str, line: u32| Func {
        name: name.into(),
        file: file.into(),
        line,
    };
    let handler = vec![
        func(
            "runtime/pprof.writeHeapProto",
            "runtime/pprof/protomem.go",
            28,
        ),
        func(
            "runtime/pprof.writeHeapInternal",
            "runtime/pprof/pprof.go",
            582,
        ),
        func(
            "net/http/pprof.handler.ServeHTTP",
            "net/http/pprof/pprof.go",
            272,
        ),
        func("net/http.HandlerFunc.ServeHTTP", "net/http/server.go", 2220),
        serve.clone(),
    ];
    let mut gzip = vec![
        func("compress/flate.NewWriter", "compress/flate/deflate.go", 666),
        func(
            "compress/gzip.(*Writer).Write",
            "compress/gzip/gzip.go",
            191,
        ),
        func(
            "runtime/pprof.(*profileBuilder).flush",
            "runtime/pprof/proto.go",
            146,
        ),
    ];
    gzip.extend(handler.iter().cloned());
    let mut build = vec![func(
        "runtime/pprof.(*profileBuilder).build",
        "runtime/pprof/proto.go",
        366,
    )];
    build.extend(handler.iter().cloned());
    let mut symbols = vec![func(
        "runtime/pprof.(*profileBuilder).appendLocsForStack",
        "runtime/pprof/proto.go",
        402,
    )];
    symbols.extend(handler);
    let g = o.growth_bytes_per_sec;
    let t = span(o);
    let shapes = [
        (
            func(
                "compress/flate.(*compressor).init",
                "compress/flate/deflate.go",
                586,
            ),
            gzip,
            Shape::Linear {
                base: 1.2e6,
                rate: g * rng.range(0.2, 0.5),
            },
            1.0,
        ),
        (
            func(
                "runtime/pprof.(*protobuf).varint",
                "runtime/pprof/protobuf.go",
                32,
            ),
            build,
            Shape::Bursty {
                level: (g * t * 0.2).max(256.0 * 1024.0),
                sigma: 0.4,
            },
            1.0,
        ),
        (
            func(
                "runtime/pprof.(*profileBuilder).emitLocation",
                "runtime/pprof/proto.go",
                590,
            ),
            symbols,
            Shape::Plateau {
                base: 64.0 * 1024.0,
                rate: g * rng.range(0.5, 1.0),
                until: t * rng.range(0.3, 0.6),
            },
            0.0,
        ),
    ];
    for (f, stack, shape, churn) in shapes {
        truth.not_leaks.insert(f.name.clone(), "profiler".into());
        let size = *rng.pick(&SIZES[6..11]);
        sites.push(Site::new(&f, &[stack], shape, churn, size, rng));
    }
}
