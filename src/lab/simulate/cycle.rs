//! Cycle leaks as Go heap dumps: sessions that point at their connection and back (a cycle of
//! two), kept on a list from a global and never removed. Decoys: a worker pool of fixed size
//! whose workers and tasks point at each other (stable cycles), an LRU cache whose doubly linked
//! list (one large cycle) fills and then evicts, and rings of calls that are already garbage (at
//! most a few GC periods old). The background is trees of `--objects` nodes rebuilt in part
//! between dumps. Every object carries an alloc sample, as with `runtime.MemProfileRate = 1`,
//! which is how heap dumps are taken when objects should be attributed to sites.

use super::{gzip, nanos, Func, Names, Rng, Shape, SimFile, SimOptions, Truth};
use crate::formats::heapdump::DumpWriter;

const HEAP_START: u64 = 0xc000_000000;

/// A bump allocator: freed memory is not reused, so addresses stay unique over the series.
struct Heap {
    next: u64,
}

impl Heap {
    fn alloc(&mut self, size: u64) -> u64 {
        let a = self.next;
        self.next += size.div_ceil(16) * 16;
        a
    }
}

/// One allocation site: a bucket in the dump.
struct SiteDef {
    func: Func,
    size: u64,
}

/// Objects to write: (address, site index, pointers as (offset, target)).
type Obj = (u64, usize, Vec<(u64, u64)>);

// Over 120 lines: one scenario's dumps and its truth written together, so they cannot disagree.
#[allow(clippy::too_many_lines)]
pub(super) fn simulate(o: &SimOptions, truth: &mut Truth) -> Vec<SimFile> {
    let mut rng = Rng::new(o.seed ^ 0x6379_636c);
    let mut names = Names::new(&mut rng);
    let mut sites: Vec<SiteDef> = Vec::new();
    let mut site = |names: &mut Names, rng: &mut Rng, size: u64| {
        sites.push(SiteDef {
            func: names.func(rng),
            size,
        });
        sites.len() - 1
    };
    let session = site(&mut names, &mut rng, 128);
    let conn = site(&mut names, &mut rng, 256);
    let worker = site(&mut names, &mut rng, 64);
    let task = site(&mut names, &mut rng, 96);
    let lru_node = site(&mut names, &mut rng, 48);
    let lru_entry = site(&mut names, &mut rng, 512);
    let call = site(&mut names, &mut rng, 80);
    let n_trees = 3 + rng.below(3);
    let trees: Vec<usize> = (0..n_trees)
        .map(|_| {
            let size = *rng.pick(&[32u64, 48, 64, 128]);
            site(&mut names, &mut rng, size)
        })
        .collect();
    let name = |s: usize| sites[s].func.name.clone();
    for s in [session, conn] {
        if o.pattern.is_leak() {
            truth.leaks.insert(name(s), o.pattern.name().into());
        } else {
            truth.not_leaks.insert(name(s), o.pattern.name().into());
        }
    }
    truth.not_leaks.insert(name(worker), "flat".into());
    truth.not_leaks.insert(name(task), "flat".into());
    truth.not_leaks.insert(name(lru_node), "plateau".into());
    truth.not_leaks.insert(name(lru_entry), "plateau".into());
    truth.not_leaks.insert(name(call), "oscillating".into());
    truth.background.extend(trees.iter().map(|&s| name(s)));

    let r = o.rate_per_sec;
    let mut session_shape = Shape::subject(o.pattern, r, o, &mut rng);
    let mut lru_shape = Shape::Plateau {
        base: 4.0,
        rate: (r * rng.range(1.0, 3.0)).max(0.05),
        until: super::span(o) * rng.range(0.2, 0.45),
    };
    let period = 3 + rng.below(3);
    let mut garbage_shape = Shape::Sawtooth {
        base: 0.0,
        per_step: 1.0 + rng.below(3) as f64,
        period,
        phase: rng.below(period),
    };
    let objects = o.objects.unwrap_or(2_000).max(n_trees) as f64;
    let mut tree_shapes: Vec<Shape> = trees
        .iter()
        .map(|_| Shape::Steady {
            level: objects / n_trees as f64,
            sigma: 0.03,
            state: 0.0,
        })
        .collect();
    let pool_size = 4 + rng.below(12);

    let mut heap = Heap {
        next: HEAP_START + 0x10000,
    };
    let mut sessions: Vec<(u64, u64)> = Vec::new();
    let pool: Vec<(u64, u64)> = (0..pool_size)
        .map(|_| (heap.alloc(sites[worker].size), heap.alloc(sites[task].size)))
        .collect();
    let mut lru: Vec<(u64, u64)> = Vec::new();
    let mut tree_nodes: Vec<Vec<u64>> = vec![Vec::new(); n_trees];
    let mut files = Vec::with_capacity(o.snapshots);
    for i in 0..o.snapshots {
        let t = super::at(o, i);
        // Sessions: the leak (or, for oscillating and plateau, closed again).
        let want = session_shape.value(i, t, &mut rng).round().max(0.0) as usize;
        resize(
            &mut sessions,
            want,
            &mut heap,
            (sites[session].size, sites[conn].size),
        );
        // The cache: fills, then evicts its oldest entries as new ones come.
        let want = lru_shape.value(i, t, &mut rng).round().max(1.0) as usize;
        let evict = if lru.len() >= want {
            (lru.len() as f64 * 0.3).round() as usize
        } else {
            0
        };
        lru.drain(..evict.min(lru.len()));
        resize(
            &mut lru,
            want,
            &mut heap,
            (sites[lru_node].size, sites[lru_entry].size),
        );
        // Garbage rings of three calls, not yet collected.
        let rings = garbage_shape.value(i, t, &mut rng).round().max(0.0) as usize;
        let garbage: Vec<[u64; 3]> = (0..rings)
            .map(|_| std::array::from_fn(|_| heap.alloc(sites[call].size)))
            .collect();
        // Trees: a fifth of the nodes reallocated, the size wandering.
        for (k, nodes) in tree_nodes.iter_mut().enumerate() {
            let want = tree_shapes[k].value(i, t, &mut rng).round().max(1.0) as usize;
            let size = sites[trees[k]].size;
            nodes.truncate(want);
            for n in nodes.iter_mut() {
                if rng.f64() < 0.2 {
                    *n = heap.alloc(size);
                }
            }
            while nodes.len() < want {
                nodes.push(heap.alloc(size));
            }
        }

        let mut objs: Vec<Obj> = Vec::new();
        for (k, &(s, c)) in sessions.iter().enumerate() {
            let mut ptrs = vec![(8, c)];
            if k > 0 {
                ptrs.push((0, sessions[k - 1].0));
            }
            objs.push((s, session, ptrs));
            objs.push((c, conn, vec![(0, s)]));
        }
        for (k, &(w, tk)) in pool.iter().enumerate() {
            let mut ptrs = vec![(8, tk)];
            if k + 1 < pool.len() {
                ptrs.push((0, pool[k + 1].0));
            }
            objs.push((w, worker, ptrs));
            objs.push((tk, task, vec![(0, w)]));
        }
        for (k, &(nd, e)) in lru.iter().enumerate() {
            let mut ptrs = vec![(16, e)];
            if k > 0 {
                ptrs.push((0, lru[k - 1].0));
            }
            if k + 1 < lru.len() {
                ptrs.push((8, lru[k + 1].0));
            }
            objs.push((nd, lru_node, ptrs));
            objs.push((e, lru_entry, Vec::new()));
        }
        for ring in &garbage {
            for k in 0..3 {
                objs.push((ring[k], call, vec![(0, ring[(k + 1) % 3])]));
            }
        }
        for (k, nodes) in tree_nodes.iter().enumerate() {
            for j in 0..nodes.len() {
                let ptrs: Vec<(u64, u64)> = [2 * j + 1, 2 * j + 2]
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c < nodes.len())
                    .map(|(slot, &c)| (8 * slot as u64, nodes[c]))
                    .collect();
                objs.push((nodes[j], trees[k], ptrs));
            }
        }
        let mut roots = vec![
            sessions.last().map_or(0, |s| s.0),
            pool.first().map_or(0, |p| p.0),
            lru.last().map_or(0, |l| l.0),
        ];
        roots.extend(tree_nodes.iter().map(|n| n.first().copied().unwrap_or(0)));
        // Allocation records: every allocation (MemProfileRate = 1), or the ones Go's sampler
        // picks, each with probability 1 − e^(−size/rate), as in a process left at its default.
        let recorded: Vec<bool> = objs
            .iter()
            .map(|(_, s, _)| {
                !o.sampled_records
                    || rng.f64()
                        < 1.0 - (-(sites[*s].size as f64) / o.sampling_rate.max(1) as f64).exp()
            })
            .collect();
        let bytes = write_dump(&sites, &objs, &recorded, &roots, heap.next).unwrap_or_default();
        files.push(SimFile {
            name: format!("heap-{:03}.dump.gz", i + 1),
            bytes: gzip(&bytes),
            time_nanos: nanos(o, i),
        });
    }
    files
}

/// Drops the oldest pairs, or allocates new pairs at the end, until `list` holds `want`.
fn resize(list: &mut Vec<(u64, u64)>, want: usize, heap: &mut Heap, sizes: (u64, u64)) {
    if list.len() > want {
        list.drain(..list.len() - want);
    }
    while list.len() < want {
        list.push((heap.alloc(sizes.0), heap.alloc(sizes.1)));
    }
}

fn write_dump(
    sites: &[SiteDef],
    objs: &[Obj],
    recorded: &[bool],
    roots: &[u64],
    heap_end: u64,
) -> std::io::Result<Vec<u8>> {
    let mut w = DumpWriter::new(Vec::new(), HEAP_START, heap_end, "go1.23.5")?;
    for (addr, s, ptrs) in objs {
        w.object(*addr, sites[*s].size, ptrs)?;
    }
    w.bss(0x5f0000, roots)?;
    let main = ("main.main", "main.go", 64);
    let mut count = vec![0u64; sites.len()];
    for ((_, s, _), _) in objs.iter().zip(recorded).filter(|(_, r)| **r) {
        count[*s] += 1;
    }
    for (k, s) in sites.iter().enumerate() {
        let frames = [
            (
                s.func.name.as_str(),
                s.func.file.as_str(),
                s.func.line as u64,
            ),
            main,
        ];
        w.bucket(k as u64 + 1, s.size, &frames, count[k], 0)?;
    }
    for ((addr, s, _), _) in objs.iter().zip(recorded).filter(|(_, r)| **r) {
        w.alloc_sample(*addr, *s as u64 + 1)?;
    }
    w.finish()
}
