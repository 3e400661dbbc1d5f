//! Goroutine leaks as goroutine protobufs or `debug=2` dumps: groups of goroutines, each
//! goroutine with its id, creator and the time it started waiting, so dumps carry ids, `created by
//! … in goroutine N` and `[chan send, 7 minutes]` as Go 1.21+ writes them.

use std::fmt::Write as _;

use super::{gzip, nanos, Func, GoroutineForm, Names, Rng, Shape, SimFile, SimOptions, Truth};
use crate::formats::pprof::encode;
use crate::model::{Format, Interner, ProfileBuilder, ValueType};

/// How a group waits: the debug=2 state, the runtime frames a protobuf shows (leaf first) and the
/// library frames both show between them and the program's function.
struct Wait {
    state: &'static str,
    runtime: &'static [&'static str],
    library: &'static [&'static str],
}

const WAITS: &[Wait] = &[
    Wait {
        state: "chan receive",
        runtime: &["runtime.gopark", "runtime.chanrecv", "runtime.chanrecv1"],
        library: &[],
    },
    Wait {
        state: "chan send",
        runtime: &["runtime.gopark", "runtime.chansend", "runtime.chansend1"],
        library: &[],
    },
    Wait {
        state: "select",
        runtime: &["runtime.gopark", "runtime.selectgo"],
        library: &[],
    },
    Wait {
        state: "sync.Mutex.Lock",
        runtime: &["runtime.gopark", "runtime.goparkunlock"],
        library: &[
            "sync.runtime_SemacquireMutex",
            "sync.(*Mutex).lockSlow",
            "sync.(*Mutex).Lock",
        ],
    },
    Wait {
        state: "sync.WaitGroup.Wait",
        runtime: &["runtime.gopark", "runtime.semacquire1"],
        library: &["sync.runtime_Semacquire", "sync.(*WaitGroup).Wait"],
    },
    Wait {
        state: "IO wait",
        runtime: &["runtime.gopark", "runtime.netpollblock"],
        library: &[
            "internal/poll.runtime_pollWait",
            "internal/poll.(*pollDesc).wait",
            "internal/poll.(*FD).Read",
            "net.(*netFD).Read",
            "net.(*conn).Read",
        ],
    },
];

/// Goroutines that run the same code and wait the same way.
struct Group {
    func: Func,
    wait: &'static Wait,
    creator: Func,
    shape: Shape,
    /// Whether goroutines finish (short-lived ones are replaced between snapshots).
    churn: f64,
    /// Goroutines alive: (id, parent id, start time in seconds).
    members: Vec<(u64, u64, f64)>,
}

impl Group {
    fn step(&mut self, i: usize, t: f64, interval: f64, next_id: &mut u64, rng: &mut Rng) {
        let target = self.shape.value(i, t, rng).round().max(0.0) as usize;
        let turn = (self.members.len() as f64 * self.churn).round() as usize;
        for _ in 0..turn.min(self.members.len()) {
            let k = rng.below(self.members.len());
            self.members.swap_remove(k);
        }
        while self.members.len() > target {
            // The oldest finish first.
            self.members.remove(0);
        }
        while self.members.len() < target {
            *next_id += 1 + rng.below(3) as u64;
            let born = if i == 0 {
                t - rng.range(0.0, 600.0)
            } else {
                t - rng.range(0.0, interval)
            };
            self.members.push((*next_id, 1, born));
        }
        self.members.sort_by_key(|m| m.0);
    }
}

pub(super) fn simulate(o: &SimOptions, truth: &mut Truth) -> Vec<SimFile> {
    let mut rng = Rng::new(o.seed ^ 0x676f_726f);
    let mut names = Names::new(&mut rng);
    let r = o.rate_per_sec;
    let mut groups: Vec<Group> = Vec::new();
    let mut group = |names: &mut Names,
                     rng: &mut Rng,
                     wait: Option<&'static Wait>,
                     shape: Shape,
                     churn: f64| {
        let func = names.func(rng);
        let creator = names.func(rng);
        let wait = wait.unwrap_or_else(|| rng.pick(WAITS));
        groups.push(Group {
            func,
            wait,
            creator,
            shape,
            churn,
            members: Vec::new(),
        });
        groups
            .last()
            .map(|g| g.func.name.clone())
            .unwrap_or_default()
    };
    // Background: worker pools of fixed size, connections that come and go, tickers.
    let background = o.objects.unwrap_or(200).max(1) as f64;
    let n_pools = 3 + rng.below(4);
    for _ in 0..n_pools {
        let level = (background * rng.range(0.05, 0.2)).round().max(1.0);
        let steady = Shape::Steady {
            level,
            sigma: 0.0,
            state: 0.0,
        };
        let name = group(&mut names, &mut rng, Some(&WAITS[0]), steady, 0.0);
        truth.background.push(name);
    }
    let name = group(
        &mut names,
        &mut rng,
        Some(&WAITS[5]),
        Shape::Bursty {
            level: background * 0.3,
            sigma: 0.25,
        },
        1.0,
    );
    truth.background.push(name);
    for _ in 0..2 + rng.below(3) {
        let name = group(
            &mut names,
            &mut rng,
            Some(&WAITS[2]),
            Shape::Steady {
                level: 1.0,
                sigma: 0.0,
                state: 0.0,
            },
            0.0,
        );
        truth.background.push(name);
    }
    // Decoys: batches that fan out and finish (sawtooth), a pool that warms up.
    let period = 3 + rng.below(3);
    let saw = Shape::Sawtooth {
        base: 0.0,
        per_step: (r * o.interval_secs * rng.range(0.5, 1.5)).max(2.0),
        period,
        phase: rng.below(period),
    };
    let name = group(&mut names, &mut rng, Some(&WAITS[4]), saw, 0.0);
    truth.not_leaks.insert(name, "oscillating".into());
    let until = o.interval_secs * (1 + rng.below(2)) as f64;
    let warm = Shape::Plateau {
        base: 2.0,
        rate: (r * super::span(o) * rng.range(0.3, 1.0)).max(8.0) / until,
        until,
    };
    let name = group(&mut names, &mut rng, Some(&WAITS[2]), warm, 0.0);
    truth.not_leaks.insert(name, "plateau".into());
    // The subject.
    let shape = Shape::subject(o.pattern, r, o, &mut rng);
    let name = group(&mut names, &mut rng, None, shape, 0.0);
    if o.pattern.is_leak() {
        truth.goroutine_leaks.push(name);
    } else {
        truth.not_leaks.insert(name, o.pattern.name().into());
    }

    let mut next_id = 40u64;
    let mut files = Vec::with_capacity(o.snapshots);
    for i in 0..o.snapshots {
        let t = super::at(o, i);
        for g in &mut groups {
            g.step(i, t, o.interval_secs, &mut next_id, &mut rng);
        }
        let (name, bytes) = match o.goroutine_form {
            GoroutineForm::Pprof => (
                format!("goroutine-{:03}.pb.gz", i + 1),
                protobuf(&groups, o, i),
            ),
            GoroutineForm::Debug2 => (
                format!("goroutine-{:03}.txt", i + 1),
                debug2(&groups, t, &mut rng).into_bytes(),
            ),
        };
        files.push(SimFile {
            name,
            bytes,
            time_nanos: nanos(o, i),
        });
    }
    files
}

/// The writer's own goroutine, as every goroutine profile shows it.
const SELF: &[(&str, &str, u32)] = &[
    (
        "runtime/pprof.writeGoroutineStacks",
        "runtime/pprof/pprof.go",
        761,
    ),
    (
        "runtime/pprof.writeGoroutine",
        "runtime/pprof/pprof.go",
        750,
    ),
    (
        "runtime/pprof.(*Profile).WriteTo",
        "runtime/pprof/pprof.go",
        374,
    ),
    (
        "net/http/pprof.handler.ServeHTTP",
        "net/http/pprof/pprof.go",
        272,
    ),
    ("net/http.(*conn).serve", "net/http/server.go", 2092),
];

fn protobuf(groups: &[Group], o: &SimOptions, i: usize) -> Vec<u8> {
    let mut interner = Interner::new();
    let mut b = ProfileBuilder::new(Format::Pprof, vec![ValueType::new("goroutine", "count")]);
    let meta = b.meta_mut();
    meta.time_nanos = Some(nanos(o, i));
    meta.period_type = Some(ValueType::new("goroutine", "count"));
    meta.period = 1;
    let own: Vec<_> = SELF
        .iter()
        .rev()
        .map(|(f, file, line)| interner.symbol_frame(f, file, *line))
        .collect();
    let stack = interner.stack_from_root(own);
    b.add_sample(stack, &[1], &[]);
    for g in groups {
        if g.members.is_empty() {
            continue;
        }
        let mut frames: Vec<_> = g
            .wait
            .runtime
            .iter()
            .chain(g.wait.library)
            .map(|f| interner.symbol_frame(f, "", 0))
            .collect();
        frames.push(interner.symbol_frame(&g.func.name, &g.func.file, g.func.line));
        frames.reverse();
        let stack = interner.stack_from_root(frames);
        b.add_sample(stack, &[g.members.len() as i64], &[]);
    }
    match b.finish(&interner) {
        Ok(p) => gzip(&encode::encode(&p, &interner)),
        Err(_) => Vec::new(),
    }
}

fn debug2(groups: &[Group], t: f64, rng: &mut Rng) -> String {
    let mut out = String::new();
    out.push_str("goroutine 1 [running]:\n");
    for (f, file, line) in SELF {
        let _ = write!(
            out,
            "{f}(...)\n\t{file}:{line} +0x{:x}\n",
            0x20 + rng.below(0x200)
        );
    }
    out.push('\n');
    let mut all: Vec<(u64, &Group, u64, f64)> = groups
        .iter()
        .flat_map(|g| {
            g.members
                .iter()
                .map(move |&(id, parent, born)| (id, g, parent, born))
        })
        .collect();
    all.sort_by_key(|a| a.0);
    for (id, g, parent, born) in all {
        let minutes = ((t - born) / 60.0).floor() as i64;
        let _ = if minutes >= 1 {
            writeln!(out, "goroutine {id} [{}, {minutes} minutes]:", g.wait.state)
        } else {
            writeln!(out, "goroutine {id} [{}]:", g.wait.state)
        };
        for f in g.wait.library {
            let _ = writeln!(out, "{f}(...)\n\t{}:{}", library_file(f), 90);
        }
        let _ = write!(
            out,
            "{}(...)\n\t{}:{} +0x{:x}\ncreated by {} in goroutine {parent}\n\t{}:{} +0x{:x}\n\n",
            g.func.name,
            g.func.file,
            g.func.line,
            0x40 + (id % 0x100),
            g.creator.name,
            g.creator.file,
            g.creator.line,
            0x9f
        );
    }
    out
}

fn library_file(f: &str) -> &'static str {
    if f.starts_with("sync.") {
        "sync/mutex.go"
    } else if f.starts_with("internal/poll") {
        "internal/poll/fd_poll_runtime.go"
    } else {
        "net/net.go"
    }
}
