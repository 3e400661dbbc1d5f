//! `leakdiff collect`: fetch heap and goroutine profiles from a net/http/pprof endpoint, and sample
//! `/proc/PID`, on a schedule, into timestamped files that `report`, `dashboard` and `export` read.
//!
//! Every file is checked (it must parse as the profile asked for) and written whole: temp file,
//! fsync, rename. A target that is down, slow or answers garbage is retried with backoff until the
//! next round; a write that fails (disk full) keeps the data in memory and retries, so nothing
//! fetched is dropped while the process runs. Ctrl-C (or SIGTERM) ends the run after the request in
//! flight, and writes what is pending.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::signal::{catch_signals, sleep_until, stopping};
use crate::fetch::{self, FetchError, FetchOptions, Url};
use crate::formats::procstat::{self, ProcessSample, Unit};

/// A heap profile of the heap as of now: the runtime runs a garbage collection first.
pub const FRESH_HEAP: &str = "heap?gc=1";

/// What `collect` fetches from the pprof endpoint.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoint {
    /// `heap`: in-use and allocated memory by stack (protobuf).
    Heap,
    /// `goroutine`: goroutine counts by stack (protobuf).
    Goroutine,
    /// `goroutine?debug=2`: every goroutine with its state and wait time (text).
    GoroutineDebug2,
    /// `goroutineleak` (Go ≥ 1.26): the goroutines the runtime's GC proved blocked forever
    /// (protobuf). A target that does not serve it (404) is not asked again.
    Goroutineleak,
}

impl Endpoint {
    pub(super) fn path(self) -> &'static str {
        match self {
            Endpoint::Heap => "heap",
            Endpoint::Goroutine => "goroutine",
            Endpoint::GoroutineDebug2 => "goroutine?debug=2",
            Endpoint::Goroutineleak => "goroutineleak",
        }
    }

    fn file(self, stamp: &str) -> String {
        match self {
            Endpoint::Heap => format!("heap-{stamp}.pb.gz"),
            Endpoint::Goroutine => format!("goroutine-{stamp}.pb.gz"),
            Endpoint::GoroutineDebug2 => format!("goroutine-{stamp}.txt"),
            Endpoint::Goroutineleak => format!("goroutineleak-{stamp}.pb.gz"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Heap => "heap",
            Endpoint::Goroutine => "goroutine",
            Endpoint::GoroutineDebug2 => "goroutine?debug=2",
            Endpoint::Goroutineleak => "goroutineleak",
        }
    }
}

/// What `collect` does (the command line's flags, typed).
#[derive(Clone, Debug)]
pub struct CollectOptions {
    /// The net/http/pprof base URL (e.g. http://127.0.0.1:6060/debug/pprof/).
    pub url: Option<String>,
    /// Also sample /proc/PID each round: RSS, open fds by kind, TCP connections by state,
    /// threads, memory mappings.
    pub pid: Option<u32>,
    /// Time between rounds.
    pub interval: u64,
    /// Stop after this long (default: run until Ctrl-C).
    pub duration: Option<u64>,
    /// Stop after N rounds.
    pub count: Option<u64>,
    /// Folder to write to (created if missing).
    pub output: PathBuf,
    /// What to fetch from the endpoint, comma-separated.
    pub profiles: Vec<Endpoint>,
    /// Deadline of one request.
    pub timeout: u64,
    /// Refuse answers larger than this.
    pub max_profile_size: i64,
    /// Extra request headers (`Authorization: Bearer …`).
    pub headers: Vec<(String, String)>,
    /// Hold at most this much fetched data in memory while writes fail (disk full); beyond it,
    /// rounds are skipped until writing works again.
    pub max_pending: i64,
    /// Only errors on stderr.
    pub quiet: bool,
    /// Ask for `heap?gc=1`: a garbage collection before each heap profile.
    pub gc: bool,
}

/// Now, in nanoseconds since the epoch.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// `20261125T101500.123Z`: sorts by name in time order.
fn stamp(nanos: i64) -> String {
    let s = crate::units::rfc3339_utc(nanos).replace(['-', ':'], "");
    let ms = nanos.rem_euclid(1_000_000_000) / 1_000_000;
    format!("{}.{ms:03}Z", s.trim_end_matches('Z'))
}

/// A file fetched (or sampled) and not yet written.
struct Pending {
    path: PathBuf,
    bytes: Vec<u8>,
    time: SystemTime,
}

/// Writes one file whole: temp name, mtime, fsync, rename.
fn write_whole(p: &Pending) -> std::io::Result<()> {
    crate::files::write_atomically(
        &p.path,
        crate::files::Durable {
            sync: true,
            modified: Some(p.time),
        },
        |w| w.write_all(&p.bytes),
    )
}

struct Collector {
    args: CollectOptions,
    url: Option<Url>,
    pending: VecDeque<Pending>,
    pending_bytes: u64,
    written: u64,
    rejected: u64,
    failed: u64,
    write_failing: bool,
    /// Endpoints the target does not serve (404 for `goroutineleak`): not asked again.
    unserved: Vec<Endpoint>,
    /// Files written since the sink last took them.
    fresh: Vec<PathBuf>,
    /// Whether the target serves `/debug/vars` (expvar): unknown until asked, and not asked again
    /// once it does not.
    vars_served: Option<bool>,
}

impl Collector {
    fn log(&self, msg: impl AsRef<str>) {
        if !self.args.quiet {
            eprintln!("leakdiff: collect: {}", msg.as_ref());
        }
    }

    /// Writes what is pending, oldest first; stops at the first failure (kept for later).
    fn flush(&mut self) {
        while let Some(p) = self.pending.front() {
            match write_whole(p) {
                Ok(()) => {
                    if self.write_failing {
                        self.write_failing = false;
                        eprintln!("leakdiff: collect: writing works again");
                    }
                    self.log(format!(
                        "wrote {} ({} bytes)",
                        p.path.display(),
                        p.bytes.len()
                    ));
                    self.written += 1;
                    self.fresh.push(p.path.clone());
                    self.pending_bytes -= p.bytes.len() as u64;
                    self.pending.pop_front();
                }
                Err(e) => {
                    if !self.write_failing {
                        eprintln!(
                            "leakdiff: collect: cannot write {}: {e}; holding {} file(s) in memory and retrying",
                            p.path.display(),
                            self.pending.len()
                        );
                    }
                    self.write_failing = true;
                    return;
                }
            }
        }
    }

    fn push(&mut self, path: PathBuf, bytes: Vec<u8>, time: SystemTime) {
        self.pending_bytes += bytes.len() as u64;
        self.pending.push_back(Pending { path, bytes, time });
    }

    /// Fetches one endpoint with retries and backoff until `until`; the checked body.
    fn fetch(&mut self, url: &Url, what: Endpoint, until: Instant) -> Option<Vec<u8>> {
        let opts = FetchOptions {
            timeout: Duration::from_millis(self.args.timeout.max(1)),
            max_body: self.args.max_profile_size.max(0) as u64,
            headers: self.args.headers.clone(),
        };
        let target = url.join(match what {
            // The runtime runs a garbage collection first: the profile is the heap as of now,
            // not as of the last collection that ran on its own.
            Endpoint::Heap if self.args.gc => FRESH_HEAP,
            _ => what.path(),
        });
        let mut backoff = Duration::from_millis(250);
        let cap = Duration::from_millis(self.args.interval.clamp(250, 10_000));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let left = until.saturating_duration_since(Instant::now());
            let o = FetchOptions {
                timeout: opts.timeout.min(left.max(Duration::from_millis(100))),
                ..opts.clone()
            };
            let result = match fetch::get(&target, &o, &stopping) {
                Err(FetchError::Interrupted) => return None,
                // Only Go ≥ 1.26 serves the leak profile (1.26 with GOEXPERIMENT=
                // goroutineleakprofile): a 404 is an answer, said once.
                Err(FetchError::Status { status: 404, .. }) if what == Endpoint::Goroutineleak => {
                    self.log(format!(
                        "{target}: not served (Go before 1.26, or 1.26 without GOEXPERIMENT=goroutineleakprofile); not asked again"
                    ));
                    self.unserved.push(what);
                    return None;
                }
                Err(e) => Err(e.to_string()),
                Ok(body) => match check(&body, what) {
                    Ok(()) => Ok(body),
                    Err(e) => {
                        self.rejected += 1;
                        Err(e)
                    }
                },
            };
            match result {
                Ok(body) => {
                    if attempt > 1 {
                        self.log(format!("{} answered on attempt {attempt}", what.name()));
                    }
                    return Some(body);
                }
                Err(e) => {
                    let next = Instant::now() + backoff;
                    if next >= until || stopping() {
                        eprintln!(
                            "leakdiff: collect: {target}: {e}; giving up this round after {attempt} attempt(s)"
                        );
                        self.failed += 1;
                        return None;
                    }
                    eprintln!(
                        "leakdiff: collect: {target}: {e}; retrying in {:.1}s",
                        backoff.as_secs_f64()
                    );
                    if !sleep_until(next) {
                        return None;
                    }
                    backoff = (backoff * 2).min(cap);
                }
            }
        }
    }

    /// How many collections the runtime has completed (`memstats.NumGC` of expvar's
    /// `/debug/vars`, beside net/http/pprof's folder), when the target serves it.
    fn num_gc(&mut self, url: &Url) -> Option<u64> {
        if self.vars_served == Some(false) {
            return None;
        }
        let vars = url.sibling("vars");
        let opts = FetchOptions {
            timeout: Duration::from_millis(self.args.timeout.clamp(1, 5_000)),
            max_body: 1 << 24,
            headers: self.args.headers.clone(),
        };
        let n = fetch::get(&vars, &opts, &stopping).ok().and_then(|body| {
            let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
            v["memstats"]["NumGC"].as_u64()
        });
        if self.vars_served.is_none() {
            self.vars_served = Some(n.is_some());
            if n.is_none() {
                self.log(format!(
                    "{vars}: no memstats.NumGC (the program does not import expvar): heap profiles that repeat the last collection are told apart by their values; not asked again"
                ));
            }
        }
        n
    }

    /// A heap profile, with the number of collections completed when it was taken as a
    /// `NumGC=N` comment when the target says it and no collection completed while it was
    /// fetched (the count read before and after agree): the profile is the heap as of that
    /// collection, and reports trend each collection once by it. Not with `--gc` (every
    /// profile is then fresh).
    fn fetch_heap(&mut self, url: &Url, until: Instant) -> Option<Vec<u8>> {
        let before = if self.args.gc { None } else { self.num_gc(url) };
        let body = self.fetch(url, Endpoint::Heap, until)?;
        let after = before.and_then(|_| self.num_gc(url));
        match (before, after) {
            (Some(b), Some(a)) if a == b => {
                let comment = format!("{}{b}", crate::formats::pprof::legacy::GC_COMMENT);
                let max = self.args.max_profile_size.max(0) as u64;
                Some(
                    crate::formats::pprof::encode::append_comment(body.clone(), &comment, max)
                        .unwrap_or(body),
                )
            }
            _ => Some(body),
        }
    }

    /// One round: fetch, sample, write. False when the sampled process is gone.
    fn round(&mut self, until: Instant) -> bool {
        let mut alive = true;
        if self.pending_bytes > self.args.max_pending.max(0) as u64 {
            eprintln!(
                "leakdiff: collect: {} bytes wait to be written (over --max-pending); skipping this round",
                self.pending_bytes
            );
            return true;
        }
        if let Some(url) = self.url.clone() {
            let list: Vec<Endpoint> = self
                .args
                .profiles
                .iter()
                .copied()
                .filter(|e| !self.unserved.contains(e))
                .collect();
            for (k, &what) in list.iter().enumerate() {
                if stopping() {
                    break;
                }
                // Each endpoint gets its share of what is left of the round, so one that is
                // down or slow does not starve the others.
                let left = until.saturating_duration_since(Instant::now());
                let share = until.min(Instant::now() + left / (list.len() - k) as u32);
                let body = if what == Endpoint::Heap {
                    self.fetch_heap(&url, share)
                } else {
                    self.fetch(&url, what, share)
                };
                if let Some(body) = body {
                    let t = now_nanos();
                    let path = self.args.output.join(what.file(&stamp(t)));
                    self.push(path, body, SystemTime::now());
                }
            }
        }
        if let Some(pid) = self.args.pid {
            match sample_process(pid) {
                Ok(sample) => {
                    let path = self
                        .args
                        .output
                        .join(format!("process-{}.txt", stamp(sample.time_nanos)));
                    self.push(path, sample.to_text().into_bytes(), SystemTime::now());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!("leakdiff: collect: process {pid} is gone; stopping");
                    alive = false;
                }
                Err(e) => {
                    eprintln!("leakdiff: collect: cannot sample /proc/{pid}: {e}");
                    self.failed += 1;
                }
            }
        }
        self.flush();
        alive
    }
}

/// Checks that a fetched body is the profile asked for, so garbage never lands in the folder.
pub(super) fn check(body: &[u8], what: Endpoint) -> Result<(), String> {
    let options = crate::formats::ReadOptions::default();
    let mut interner = crate::model::Interner::new();
    let profile = crate::formats::decode_bytes(body.to_vec(), what.name(), &options)
        .and_then(|d| d.into_profile(&mut interner))
        .map_err(|e| format!("rejected: {e}"))?;
    let vts = profile.value_types();
    let ok = match what {
        Endpoint::Heap => vts.iter().any(|v| v.unit == "bytes"),
        Endpoint::Goroutine => vts.iter().any(|v| v.kind == "goroutine"),
        Endpoint::GoroutineDebug2 => profile.format == crate::model::Format::GoroutineText,
        Endpoint::Goroutineleak => vts.iter().any(|v| v.kind == "goroutineleak"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "rejected: a {} profile, not {}",
            profile.format.name(),
            what.name()
        ))
    }
}

/// One sample of `/proc/PID`.
pub fn sample_process(pid: u32) -> std::io::Result<ProcessSample> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let status = std::fs::read_to_string(dir.join("status"))?;
    let mut s = ProcessSample {
        time_nanos: now_nanos(),
        pid,
        command: std::fs::read_to_string(dir.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_string(),
        metrics: Vec::new(),
    };
    for (name, unit, v) in procstat::parse_status(&status) {
        s.push(name, unit, v);
    }
    let mut kinds =
        std::collections::BTreeMap::from([("file", 0u64), ("socket", 0), ("pipe", 0), ("anon", 0)]);
    let mut sockets = std::collections::HashSet::new();
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir.join("fd"))? {
        let Ok(entry) = entry else { continue };
        // An fd closed between listing and reading its link is simply not counted.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let (kind, inode) = procstat::fd_kind(&target.to_string_lossy());
        *kinds.entry(kind).or_default() += 1;
        total += 1;
        if let Some(i) = inode {
            sockets.insert(i);
        }
    }
    s.push("fds", Unit::Count, total);
    for (k, v) in kinds {
        s.push(format!("fds/{k}"), Unit::Count, v);
    }
    let mut states = std::collections::BTreeMap::new();
    for table in ["net/tcp", "net/tcp6"] {
        let text = std::fs::read_to_string(dir.join(table)).unwrap_or_default();
        for (state, inode) in procstat::parse_net_tcp(&text) {
            if sockets.contains(&inode) {
                *states
                    .entry(procstat::tcp_state_name(state))
                    .or_insert(0u64) += 1;
            }
        }
    }
    s.push("tcp", Unit::Count, states.values().copied().sum::<u64>());
    for (state, n) in states {
        s.push(format!("tcp/{state}"), Unit::Count, n);
    }
    let maps = std::fs::read_to_string(dir.join("maps"))?;
    s.push("mappings", Unit::Count, maps.lines().count() as u64);
    if let Some(limit) = std::fs::read_to_string(dir.join("limits"))
        .ok()
        .and_then(|t| procstat::parse_open_files_limit(&t))
    {
        s.push("limit/fds", Unit::Count, limit);
    }
    Ok(s)
}

/// How a collect run ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything fetched was written.
    Done,
    /// Every fetch failed: nothing was collected.
    NothingCollected,
    /// This many fetched files could not be written before the run ended.
    Lost(usize),
}

/// Why a collect run could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The URL.
    #[error(transparent)]
    Url(#[from] FetchError),
    /// `--pid` names no process.
    #[error("no process {0} in /proc")]
    NoProcess(u32),
    /// A zero interval.
    #[error("--interval must be more than 0")]
    Interval,
    /// The output folder.
    #[error("cannot create {path}: {message}")]
    Output {
        /// The folder.
        path: String,
        /// Why.
        message: String,
    },
}

/// Runs `collect` until its duration, count or a signal ends it.
pub fn run(args: CollectOptions) -> Result<Outcome, CollectError> {
    run_with(args, None)
}

/// What a sink asks of the collection after a round.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Go,
    /// Stop after this round (`watch --exit-on` saw its verdict).
    Stop,
}

/// What is handed the files of each round once they are written (`collect --dataset` ingests
/// them, `watch` judges the series); an error is printed and counted, the files stay in the
/// folder.
pub type Sink<'a> = &'a mut dyn FnMut(&[PathBuf]) -> Result<Flow, String>;

/// [`run`], handing each round's written files to `sink`.
// Over 120 lines: the collection loop: fetch, check, write, retry and stop in one place.
#[allow(clippy::too_many_lines)]
pub fn run_with(args: CollectOptions, mut sink: Option<Sink>) -> Result<Outcome, CollectError> {
    let url = args.url.as_deref().map(Url::parse).transpose()?;
    if let Some(pid) = args.pid {
        if !Path::new(&format!("/proc/{pid}/status")).exists() {
            return Err(CollectError::NoProcess(pid));
        }
    }
    if args.interval == 0 {
        return Err(CollectError::Interval);
    }
    std::fs::create_dir_all(&args.output).map_err(|e| CollectError::Output {
        path: args.output.display().to_string(),
        message: e.to_string(),
    })?;
    catch_signals();
    let interval = Duration::from_millis(args.interval);
    let start = Instant::now();
    let end = args.duration.map(|d| start + Duration::from_millis(d));
    let mut c = Collector {
        args,
        url,
        pending: VecDeque::new(),
        pending_bytes: 0,
        written: 0,
        rejected: 0,
        failed: 0,
        write_failing: false,
        unserved: Vec::new(),
        fresh: Vec::new(),
        vars_served: None,
    };
    let mut sink_failed = 0usize;
    let mut sink_stopped = false;
    let mut hand_over = |c: &mut Collector| {
        if let Some(s) = sink.as_mut() {
            let fresh = std::mem::take(&mut c.fresh);
            if !fresh.is_empty() {
                match s(&fresh) {
                    Ok(Flow::Go) => {}
                    Ok(Flow::Stop) => sink_stopped = true,
                    Err(e) => {
                        eprintln!("leakdiff: collect: {e}");
                        sink_failed += fresh.len();
                    }
                }
            }
        }
        sink_stopped
    };
    c.log(format!(
        "every {:.1}s into {}{}",
        interval.as_secs_f64(),
        c.args.output.display(),
        c.url
            .as_ref()
            .map(|u| format!(" from {u}"))
            .unwrap_or_default()
    ));
    let mut rounds = 0u64;
    loop {
        if stopping()
            || end.is_some_and(|e| Instant::now() >= e)
            || c.args.count.is_some_and(|n| rounds >= n)
        {
            break;
        }
        // Rounds stay on the grid start + k·interval; a round that overran skips the ticks it missed.
        let k = (start.elapsed().as_nanos() / interval.as_nanos().max(1)) as u32;
        let tick = start + interval * k;
        let tick = if rounds > 0 && tick <= Instant::now() - Duration::from_millis(1) {
            start + interval * (k + 1)
        } else {
            tick
        };
        if rounds > 0 {
            if end.is_some_and(|e| tick >= e) {
                break;
            }
            if !sleep_until(tick) {
                break;
            }
        }
        let mut until = tick + interval;
        if let Some(e) = end {
            until = until.min(e.max(Instant::now() + Duration::from_millis(500)));
        }
        let alive = c.round(until);
        let stop = hand_over(&mut c);
        rounds += 1;
        if !alive || stop {
            break;
        }
        if c.write_failing {
            // Retry the pending writes a few times within the interval rather than once per round.
            let retry_until = tick + interval;
            while c.write_failing && Instant::now() + Duration::from_secs(1) < retry_until {
                if !sleep_until(Instant::now() + Duration::from_secs(1)) {
                    break;
                }
                c.flush();
            }
        }
    }
    c.flush();
    hand_over(&mut c);
    let lost = c.pending.len();
    eprintln!(
        "leakdiff: collect: {} round(s), {} file(s) written to {}, {} fetch(es) failed, {} answer(s) rejected{}",
        rounds,
        c.written,
        c.args.output.display(),
        c.failed,
        c.rejected,
        if stopping() { "; stopped by signal" } else { "" }
    );
    if c.written == 0 && c.failed > 0 && !stopping() {
        eprintln!("leakdiff: collect: nothing was collected (the errors are above)");
        return Ok(Outcome::NothingCollected);
    }
    if sink_failed > 0 {
        eprintln!(
            "leakdiff: collect: {sink_failed} written file(s) were not handed on (the errors are above); they are in {}",
            c.args.output.display()
        );
        return Ok(Outcome::Lost(sink_failed));
    }
    if lost > 0 {
        eprintln!(
            "leakdiff: collect: {lost} fetched file(s) could not be written and are lost (the last error is above)"
        );
        return Ok(Outcome::Lost(lost));
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_in_time_order() {
        let a = stamp(1_764_064_500_123_000_000);
        assert_eq!(a, "20251125T095500.123Z");
        assert!(stamp(1_764_064_500_999_000_000) < stamp(1_764_064_501_000_000_000));
    }

    #[test]
    fn own_process_samples() {
        let s = sample_process(std::process::id()).unwrap();
        let get = |n: &str| s.metrics.iter().find(|m| m.0 == n).map(|m| m.2);
        assert!(get("rss").unwrap() > 0);
        assert!(get("threads").unwrap() >= 1);
        assert!(get("fds").unwrap() >= 3);
        assert!(get("mappings").unwrap() > 10);
        let text = s.to_text();
        assert_eq!(
            procstat::parse(text.as_bytes(), "x").unwrap().metrics,
            s.metrics
        );
    }
}
