//! A session registry served tick by tick: `growing` keeps every session (the planted leak:
//! `register` inserts into a map nothing prunes, `append_event` pushes onto each session's
//! history), `steady` evicts the oldest past 1,000 sessions. Each tick also builds and drops
//! per-request temporaries (`render_page`). After every tick the heap profile is written as
//! jemalloc_pprof makes it (gzipped pprof, addresses with the executable's mapping).
//!
//!     sessions MODE TICKS OUT_DIR

use std::collections::{HashMap, VecDeque};
use std::io::Write;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// jemalloc reads its options from this symbol (prefixed as tikv-jemalloc-sys builds it):
// profiling on from the start, one sample per 4 KiB allocated on average.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"prof:true,prof_active:true,lg_prof_sample:12\0";

struct Session {
    name: String,
    token: Vec<u8>,
    history: Vec<Event>,
}

#[derive(Clone, Copy)]
struct Event {
    at: u64,
    kind: u32,
    size: u32,
}

struct Registry {
    sessions: HashMap<u64, Session>,
    order: VecDeque<u64>,
    cap: usize,
}

#[inline(never)]
fn register(reg: &mut Registry, id: u64) {
    let session = Session {
        name: format!("client-{id:08}-{}", id.wrapping_mul(2654435761) % 10_000),
        token: vec![(id % 251) as u8; 96],
        history: Vec::new(),
    };
    reg.sessions.insert(id, session);
    reg.order.push_back(id);
    if reg.cap > 0 && reg.order.len() > reg.cap {
        evict_oldest(reg);
    }
}

#[inline(never)]
fn evict_oldest(reg: &mut Registry) {
    if let Some(old) = reg.order.pop_front() {
        reg.sessions.remove(&old);
    }
}

#[inline(never)]
fn append_event(session: &mut Session, at: u64, kind: u32) {
    session.history.push(Event { at, kind, size: 32 });
}

#[inline(never)]
fn render_page(session: &Session, n: usize) -> usize {
    let mut page = String::with_capacity(256);
    for i in 0..n {
        page.push_str(&session.name);
        page.push_str(&format!(" event {i}\n"));
    }
    let scratch: Vec<u64> = (0..(512 + n as u64 * 64)).collect();
    page.len() + scratch.len() + session.token.len()
}

#[inline(never)]
fn handle(reg: &mut Registry, tick: u64, requests: u64) -> usize {
    let mut out = 0;
    for r in 0..requests {
        if reg.order.is_empty() {
            break;
        }
        let id = reg.order[((tick * 7919 + r * 104729) % reg.order.len() as u64) as usize];
        if let Some(s) = reg.sessions.get_mut(&id) {
            append_event(s, tick * 1_000 + r, (r % 7) as u32);
            out += render_page(s, (r % 5) as usize + 1);
            let last = s.history.last().map_or(0, |e| e.at as usize + e.kind as usize + e.size as usize);
            out += last;
        }
    }
    out
}

fn dump(out_dir: &std::path::Path, tick: u64) {
    let mut ctl = jemalloc_pprof::PROF_CTL
        .as_ref()
        .expect("jemalloc profiling is off")
        .blocking_lock();
    let bytes = ctl.dump_pprof().expect("dump_pprof");
    let path = out_dir.join(format!("heap.{tick:04}.pb.gz"));
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(&bytes).expect("write");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("growing", String::as_str);
    let ticks: u64 = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(20);
    let out_dir = std::path::PathBuf::from(args.get(3).map_or(".", String::as_str));
    let mut reg = Registry {
        sessions: HashMap::new(),
        order: VecDeque::new(),
        cap: if mode == "steady" { 1_000 } else { 0 },
    };
    let mut next = 0u64;
    let mut sink = 0usize;
    for tick in 0..ticks {
        for _ in 0..500 {
            register(&mut reg, next);
            next += 1;
        }
        sink = sink.wrapping_add(handle(&mut reg, tick, 4_000));
        dump(&out_dir, tick);
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    println!("{mode}: {} sessions, {sink}", reg.sessions.len());
}
