//! Goroutine leak analysis: goroutines of one or many snapshots grouped by (state, stack) or by
//! creation site, system goroutines and `--ignore-top` functions left out, groups blocked for long
//! flagged with their age and a remediation per way of blocking, counts trended across snapshots.
//!
//! The one goroutine detector: `goroutines`, `report`, `check`, `export`, `dashboard` and `eval`
//! all call [`analyze`], and every goroutine group, key and suspect is named by
//! [`user_function`].
//!
//! May import: `model`, `trend`. No I/O: the caller loads the snapshots and reduces each with
//! [`reduce`] (what the store keeps of a goroutine snapshot).

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::model::{Interner, LabelValue, Profile, StackId};
use crate::trend::{self, Trend, TrendOptions};

/// JSON schema id of [`GoroutineReport`].
pub const SCHEMA: &str = "leakdiff.goroutines/v1";

/// How goroutines are grouped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Same stack (the state is kept: a stack waits one way).
    #[default]
    Stack,
    /// Same `created by` site (function and file:line).
    Creator,
    /// Same value of a pprof label (`label:handler`), then the same stack: `pprof.Do` labels, in
    /// protobufs, debug=1 and Go 1.27's debug=2 headers alike.
    Label(String),
}

impl std::str::FromStr for GroupBy {
    type Err = String;

    /// `stack`, `creator` or `label:KEY`.
    fn from_str(s: &str) -> Result<GroupBy, String> {
        match s {
            "stack" => Ok(GroupBy::Stack),
            "creator" => Ok(GroupBy::Creator),
            _ => match s.strip_prefix("label:") {
                Some(k) if !k.is_empty() => Ok(GroupBy::Label(k.to_string())),
                _ => Err(format!("`{s}`: one of stack, creator, label:KEY")),
            },
        }
    }
}

/// Labels leakdiff's goroutine parser sets itself; every other label is the program's.
const DUMP_LABELS: &[&str] = &[
    "state",
    "wait_minutes",
    "locked_to_thread",
    "created_by",
    "parent_goroutine",
    "goroutine",
    "leaked",
    "durable",
    "synctest_bubble",
];

/// Options of the analysis.
#[derive(Clone, Debug)]
pub struct GoroutineOptions {
    /// Grouping.
    pub group_by: GroupBy,
    /// Leave out goroutines whose top function (the leaf, or the first frame of the program's
    /// own) is one of these.
    pub ignore_top: Vec<String>,
    /// Keep runtime and system goroutines (GC workers, finalizer, signal loop, test harness).
    pub include_system: bool,
    /// Flag blocked groups that waited at least this many minutes.
    pub min_age_minutes: i64,
    /// A group must grow by at least this many goroutines to be a leak across snapshots.
    pub min_growth: f64,
    /// Significance level of the trend test.
    pub alpha: f64,
}

impl Default for GoroutineOptions {
    fn default() -> Self {
        GoroutineOptions {
            group_by: GroupBy::Stack,
            ignore_top: Vec::new(),
            include_system: false,
            min_age_minutes: 1,
            min_growth: 3.0,
            alpha: 0.05,
        }
    }
}

/// How a goroutine waits, from its state.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// `chan receive`.
    ChanReceive,
    /// `chan send`.
    ChanSend,
    /// `chan receive (nil chan)` / `chan send (nil chan)`.
    NilChan,
    /// `select`.
    Select,
    /// `select (no cases)`.
    SelectNoCases,
    /// `semacquire`, `sync.Mutex.Lock`, `sync.RWMutex.*Lock`.
    Lock,
    /// `sync.WaitGroup.Wait` (or semacquire under WaitGroup.Wait).
    WaitGroup,
    /// `sync.Cond.Wait`.
    CondWait,
    /// `IO wait`.
    IoWait,
    /// `sleep`.
    Sleep,
    /// No state and no runtime frames to tell (debug=1 hides them).
    Unknown,
    /// Running, runnable, syscall and everything else.
    Other,
}

impl BlockKind {
    /// From a debug=2 state and the stack (leaf first).
    pub fn of(state: &str, frames: &[String]) -> BlockKind {
        let has = |f: &str| frames.iter().take(8).any(|x| x.contains(f));
        let s = state;
        if s.contains("nil chan") {
            BlockKind::NilChan
        } else if s.starts_with("chan receive") {
            BlockKind::ChanReceive
        } else if s.starts_with("chan send") {
            BlockKind::ChanSend
        } else if s.starts_with("select (no cases)") {
            BlockKind::SelectNoCases
        } else if s.starts_with("select") {
            BlockKind::Select
        } else if s.starts_with("sync.WaitGroup") || has("sync.(*WaitGroup).Wait") {
            BlockKind::WaitGroup
        } else if s.starts_with("sync.Cond") || has("sync.(*Cond).Wait") {
            BlockKind::CondWait
        } else if s.starts_with("semacquire")
            || s.starts_with("sync.Mutex")
            || s.starts_with("sync.RWMutex")
        {
            BlockKind::Lock
        } else if s.starts_with("IO wait") {
            BlockKind::IoWait
        } else if s.starts_with("sleep") {
            BlockKind::Sleep
        } else if s.is_empty() {
            // Protobufs and debug=1 carry no state: read it off the frames the goroutine waits in.
            let at = |f: &str| frames.iter().take(6).any(|x| x.starts_with(f));
            if at("runtime.chanrecv") {
                BlockKind::ChanReceive
            } else if at("runtime.chansend") {
                BlockKind::ChanSend
            } else if at("runtime.selectgo") {
                BlockKind::Select
            } else if at("runtime.block") {
                BlockKind::SelectNoCases
            } else if at("sync.(*Mutex).")
                || at("sync.(*RWMutex).")
                || at("sync.runtime_Semacquire")
                // Go 1.24+: the mutex lives in internal/sync.
                || at("internal/sync.(*Mutex).")
                || at("internal/sync.runtime_Semacquire")
            {
                BlockKind::Lock
            } else if at("internal/poll.runtime_pollWait") {
                BlockKind::IoWait
            } else if at("time.Sleep") {
                BlockKind::Sleep
            } else if frames.iter().any(|f| is_runtime_frame(f)) {
                BlockKind::Other
            } else {
                BlockKind::Unknown
            }
        } else {
            BlockKind::Other
        }
    }

    /// Whether goroutines in this state are blocked (not running).
    pub fn is_blocked(self) -> bool {
        self != BlockKind::Other
    }

    /// What usually fixes a leak of this kind.
    pub fn remediation(self, frames: &[String]) -> &'static str {
        if frames
            .iter()
            .take(8)
            .any(|f| f.starts_with("time.") && (f.contains("Ticker") || f.contains("Tick")))
        {
            return "a ticker that is never stopped: defer ticker.Stop(), and return from the loop on ctx.Done()";
        }
        match self {
            BlockKind::ChanReceive => "receiving from a channel nobody closes or sends to: close it when the producer is done (missing close), or select on ctx.Done() (missing cancel)",
            BlockKind::ChanSend => "sending with no receiver left: give the channel a buffer (1 for a single result) or select on ctx.Done() so the sender can give up",
            BlockKind::NilChan => "a nil channel blocks forever: make the channel before use",
            BlockKind::Select => "a select whose cases never fire: add `case <-ctx.Done(): return` and pass the context down from the caller",
            BlockKind::SelectNoCases => "`select {}` blocks forever by design; if intended, ignore it with --ignore-top",
            BlockKind::Lock => "a lock never released: Unlock on every path (defer mu.Unlock() right after Lock), look for an early return",
            BlockKind::WaitGroup => "WaitGroup Add/Done mismatch: call Add before `go`, and `defer wg.Done()` first thing in the goroutine",
            BlockKind::CondWait => "Cond.Wait with no Signal/Broadcast to come: signal when the condition changes, or use a channel and a context",
            BlockKind::IoWait => "network I/O without a deadline: set Read/Write deadlines or use a context-aware client, and close idle connections",
            BlockKind::Sleep => "sleeping in a loop that never ends: use a time.Ticker with Stop, and select on ctx.Done()",
            BlockKind::Unknown => "goroutines that keep piling up here: make sure each one can exit (close its channel, cancel its context, call Done)",
            BlockKind::Other => "not blocked: running, runnable or in a system call",
        }
    }
}

/// Whether a frame is the Go runtime's (goroutines park inside it).
pub fn is_runtime_frame(name: &str) -> bool {
    name.starts_with("runtime.")
        || name.starts_with("runtime/internal")
        || name.starts_with("internal/")
        || name.starts_with("sync.runtime_")
}

/// Whether a function is the Go standard library's: its import path's first element has no dot
/// (`net`, `net/http`, `crypto/tls`), unlike module paths (`github.com/…`); `main` is the
/// program's own.
pub fn is_std_frame(name: &str) -> bool {
    let first = name.split('/').next().unwrap_or(name);
    let pkg = if name.contains('/') {
        first
    } else {
        first.split('.').next().unwrap_or(first)
    };
    !pkg.contains('.') && pkg != "main" && !pkg.is_empty()
}

/// The function a goroutine group is named after: the first frame (leaf side) of the program's
/// own (not the runtime's, the standard library's or `sync`'s, where goroutines wait: a goroutine
/// blocked reading a socket is named after the code that reads, not `net.(*conn).Read`), else the
/// first that is not the runtime's or `sync`'s, else the leaf.
pub fn user_function(frames_leaf_first: &[String]) -> String {
    user_frame_index(frames_leaf_first)
        .and_then(|i| frames_leaf_first.get(i))
        .cloned()
        .unwrap_or_default()
}

/// The index (leaf first) of the frame [`user_function`] names a goroutine after; `None` for an
/// empty stack. The store keys goroutine rows by this frame, so its keys and the groups of
/// [`analyze`] follow one rule.
pub fn user_frame_index<S: AsRef<str>>(frames_leaf_first: &[S]) -> Option<usize> {
    let waits_in = |f: &str| is_runtime_frame(f) || f.starts_with("sync.");
    let names = || frames_leaf_first.iter().map(|f| f.as_ref());
    names()
        .position(|f| !waits_in(f) && !is_std_frame(f))
        .or_else(|| names().position(|f| !waits_in(f)))
        .or(if frames_leaf_first.is_empty() {
            None
        } else {
            Some(0)
        })
}

/// Whether a goroutine (frames leaf first, creator) is the runtime's or the harness's own: only
/// runtime frames, the signal loop, or the testing package's runner.
pub fn is_system(frames: &[String], created_by: &str) -> bool {
    if frames.is_empty() {
        return created_by.starts_with("runtime.");
    }
    if frames.iter().all(|f| is_runtime_frame(f)) {
        return true;
    }
    frames.iter().any(|f| {
        f.starts_with("os/signal.") && (f.ends_with("signal_recv") || f.ends_with(".loop"))
    }) || frames
        .last()
        .is_some_and(|f| f == "testing.RunTests" || f == "testing.(*M).Run")
        || (frames.first().is_some_and(|f| f.starts_with("runtime."))
            && frames
                .iter()
                .any(|f| f == "testing.tRunner" || f == "testing.runTests"))
}

/// One group over the snapshots.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// State (wait reason) shared by the group; "" when the input has none (protobufs, debug=1).
    pub state: String,
    /// Kind of blocking.
    pub kind: BlockKind,
    /// The first frame of the program's own (leaf side), or the leaf.
    pub function: String,
    /// Frames, leaf first.
    pub frames: Vec<String>,
    /// The `created by` site, when known.
    pub created_by: Option<String>,
    /// The program's pprof labels of the group's goroutines (of the first seen).
    pub labels: Vec<(String, String)>,
    /// Count per snapshot.
    pub counts: Vec<f64>,
    /// Longest wait in the last snapshot that has the group (minutes), when the dump says.
    pub max_wait_minutes: Option<i64>,
    /// Flagged: blocked for at least the minimum age.
    pub blocked_long: bool,
    /// Trend of the counts (three snapshots or more).
    pub trend: Option<Trend>,
    /// Whether the group is a leak: proven by the runtime, growing with a leak pattern, or (one
    /// snapshot) blocked long.
    pub leak: bool,
    /// `"go runtime goroutineleak"` when the Go runtime's leak detector proved goroutines of this
    /// group blocked forever (Go ≥ 1.26: a `goroutineleak` profile, or `(leaked)` in a dump).
    pub proven_by: Option<&'static str>,
    /// The most goroutines of the group proven leaked in one snapshot.
    pub proven_leaked: f64,
    /// Whether the trend (or, with fewer than three snapshots, age and growth) flagged it,
    /// proof aside.
    pub trend_leak: bool,
    /// What to do.
    pub remediation: String,
}

/// What a proven leak is proven by.
pub const PROVEN_BY: &str = "go runtime goroutineleak";

/// The answer of `leakdiff goroutines`.
#[derive(Clone, Debug, Serialize)]
pub struct GoroutineReport {
    /// `leakdiff.goroutines/v1`.
    pub schema: &'static str,
    /// Inputs in order.
    pub sources: Vec<String>,
    /// Goroutines per snapshot after filtering.
    pub totals: Vec<f64>,
    /// Goroutines left out per snapshot as system goroutines.
    pub system: Vec<f64>,
    /// Goroutines left out per snapshot by --ignore-top.
    pub ignored: Vec<f64>,
    /// Groups, leaks first, then by growth and size.
    pub groups: Vec<Group>,
    /// Whether the inputs hold the runtime's leak check (a `goroutineleak` profile, or goroutines
    /// marked `(leaked)`): then a trending group it does not prove is still blocked on something
    /// reachable.
    pub leak_check: bool,
    /// The `goroutineleak` profiles among the inputs (not part of the counts' series).
    pub leak_profiles: Vec<String>,
}

/// Goroutines of one snapshot that share a stack, state and creator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoroutineRecord {
    /// Frames, leaf first.
    pub frames: Vec<String>,
    /// State (wait reason), "" when the input has none (protobufs, debug=1).
    pub state: String,
    /// The `created by` site (function and file:line), when known.
    pub created_by: Option<String>,
    /// Longest wait among them (minutes), when the dump says.
    pub max_wait_minutes: Option<i64>,
    /// How many goroutines.
    pub count: i64,
    /// Proven leaked by the runtime (`(leaked)`, or listed in a `goroutineleak` profile).
    #[serde(default)]
    pub leaked: bool,
    /// The program's pprof labels (`pprof.Do`), sorted by key.
    #[serde(default)]
    pub labels: Vec<(String, String)>,
}

/// A goroutine snapshot as the detector reads it: its goroutines grouped by stack, state and
/// creator. Small (one record per distinct goroutine), so the store keeps every one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GoroutineSnapshot {
    /// The input it came from.
    pub source: String,
    /// Its goroutines.
    pub records: Vec<GoroutineRecord>,
    /// A `goroutineleak` profile: it lists only proven leaks, so it proves groups but is not a
    /// point of the counts' series.
    #[serde(default)]
    pub leak_profile: bool,
}

/// Reduces a goroutine profile or dump (any form) to its records: the count value of each
/// sample with its `state`, `wait_minutes` and `created_by` labels.
pub fn reduce(interner: &Interner, profile: &Profile) -> GoroutineSnapshot {
    let k_state = interner.find_str("state");
    let k_wait = interner.find_str("wait_minutes");
    let k_created = interner.find_str("created_by");
    let k_leaked = interner.find_str("leaked");
    let vi = profile.default_value_index();
    let leak_profile = profile
        .value_types()
        .get(vi)
        .is_some_and(|v| v.kind == "goroutineleak");
    type Key = (StackId, String, Option<String>, bool, Vec<(String, String)>);
    let mut index: FxHashMap<Key, usize> = FxHashMap::default();
    let mut records: Vec<GoroutineRecord> = Vec::new();
    for s in profile.samples() {
        let count = s.values.get(vi).copied().unwrap_or(0);
        if count <= 0 {
            continue;
        }
        let mut state = String::new();
        let mut wait = None;
        let mut created = None;
        let mut leaked = leak_profile;
        let mut user: Vec<(String, String)> = Vec::new();
        for l in s.labels {
            if let LabelValue::Str(v) = l.value {
                let k = interner.str(l.key);
                if !DUMP_LABELS.contains(&k) {
                    user.push((k.to_string(), interner.str(v).to_string()));
                }
            }
            match l.value {
                LabelValue::Str(v) if Some(l.key) == k_leaked => {
                    leaked |= interner.str(v) == "true"
                }
                LabelValue::Str(v) if Some(l.key) == k_state => state = interner.str(v).to_string(),
                LabelValue::Str(v) if Some(l.key) == k_created => {
                    created = Some(interner.str(v).to_string())
                }
                LabelValue::Num { value, .. } if Some(l.key) == k_wait => wait = Some(value),
                _ => {}
            }
        }
        let at = *index
            .entry({
                user.sort();
                (
                    s.stack,
                    state.clone(),
                    created.clone(),
                    leaked,
                    user.clone(),
                )
            })
            .or_insert_with(|| {
                records.push(GoroutineRecord {
                    frames: interner
                        .stack_leaf_first(s.stack)
                        .map(|f| interner.frame_name(f))
                        .collect(),
                    state,
                    created_by: created,
                    max_wait_minutes: None,
                    count: 0,
                    leaked,
                    labels: user,
                });
                records.len() - 1
            });
        let r = &mut records[at];
        r.count = r.count.saturating_add(count);
        if let Some(w) = wait {
            r.max_wait_minutes = Some(r.max_wait_minutes.map_or(w, |m| m.max(w)));
        }
    }
    GoroutineSnapshot {
        source: profile.meta.source.clone(),
        records,
        leak_profile,
    }
}

struct Acc {
    state: String,
    frames: Vec<String>,
    created_by: Option<String>,
    labels: Vec<(String, String)>,
    counts: Vec<f64>,
    max_wait: Option<i64>,
    /// Proven-leaked goroutines per snapshot (every snapshot, leak profiles included).
    proven: FxHashMap<usize, f64>,
}

/// Groups the goroutines of `snapshots` (each with its time in seconds).
// Over 120 lines: one pass grouping goroutines across snapshots, then the tests over the groups.
#[allow(clippy::too_many_lines)]
pub fn analyze(
    snapshots: &[(&GoroutineSnapshot, f64)],
    options: &GoroutineOptions,
) -> GoroutineReport {
    // The counts' series: every snapshot but the goroutineleak profiles, which only prove.
    let series: Vec<usize> = (0..snapshots.len())
        .filter(|&i| !snapshots[i].0.leak_profile)
        .collect();
    let n = series.len();
    let mut groups: FxHashMap<String, Acc> = FxHashMap::default();
    let mut totals = vec![0.0; n];
    let mut system = vec![0.0; n];
    let mut ignored = vec![0.0; n];
    let mut leak_check = false;
    for (at, (snap, _)) in snapshots.iter().enumerate() {
        let si = series.iter().position(|&i| i == at);
        leak_check |= snap.leak_profile;
        for r in &snap.records {
            leak_check |= r.leaked;
            let count = r.count as f64;
            let frames = &r.frames;
            let creator_fn = r
                .created_by
                .as_deref()
                .map(|c| c.split(' ').next().unwrap_or(c))
                .unwrap_or("");
            if !options.include_system && is_system(frames, creator_fn) {
                if let Some(si) = si {
                    system[si] += count;
                }
                continue;
            }
            let user = user_function(frames);
            if options
                .ignore_top
                .iter()
                .any(|t| frames.first() == Some(t) || &user == t)
            {
                if let Some(si) = si {
                    ignored[si] += count;
                }
                continue;
            }
            if let Some(si) = si {
                totals[si] += count;
            }
            let key = group_key(&options.group_by, r, &user);
            let acc = groups.entry(key).or_insert_with(|| Acc {
                state: r.state.clone(),
                frames: frames.clone(),
                created_by: r.created_by.clone(),
                labels: r.labels.clone(),
                counts: vec![0.0; n],
                max_wait: None,
                proven: FxHashMap::default(),
            });
            // Keep the fullest stack seen: debug=1 hides the runtime frames that tell how a
            // goroutine waits.
            if frames.len() > acc.frames.len() {
                acc.frames = frames.clone();
            }
            if acc.state.is_empty() {
                acc.state = r.state.clone();
            }
            if acc.created_by.is_none() {
                acc.created_by = r.created_by.clone();
            }
            if let Some(si) = si {
                acc.counts[si] += count;
            }
            if r.leaked {
                *acc.proven.entry(at).or_default() += count;
            }
            if let Some(w) = r.max_wait_minutes {
                acc.max_wait = Some(acc.max_wait.map_or(w, |m: i64| m.max(w)));
            }
        }
    }
    let times: Vec<f64> = series.iter().map(|&i| snapshots[i].1).collect();
    let topts = TrendOptions {
        floor: trend::count_floor(options.min_growth),
        alpha: options.alpha,
        ..Default::default()
    };
    let mut out: Vec<Group> = groups
        .into_values()
        .map(|a| {
            let kind = BlockKind::of(&a.state, &a.frames);
            let blocked_long = kind.is_blocked()
                && a.max_wait
                    .is_some_and(|m| m >= options.min_age_minutes.max(1));
            let trend = (n >= 3).then(|| trend::analyze(&times, &a.counts, &topts));
            let growth =
                a.counts.last().copied().unwrap_or(0.0) - a.counts.first().copied().unwrap_or(0.0);
            let trend_leak = match &trend {
                Some(t) => t.pattern.is_leak(),
                None if n == 2 => growth >= options.min_growth && kind.is_blocked(),
                None => blocked_long,
            };
            let function = user_function(&a.frames);
            let proven_leaked = a.proven.values().copied().fold(0.0, f64::max);
            let proven_by = (proven_leaked > 0.0).then_some(PROVEN_BY);
            Group {
                remediation: kind.remediation(&a.frames).to_string(),
                state: a.state,
                kind,
                function,
                frames: a.frames,
                created_by: a.created_by,
                labels: a.labels,
                counts: a.counts,
                max_wait_minutes: a.max_wait,
                blocked_long,
                trend,
                leak: trend_leak || proven_by.is_some(),
                proven_by,
                proven_leaked,
                trend_leak,
            }
        })
        .collect();
    // Every group is tested at once: Holm's correction over the groups that grew past the floor.
    let trends: Vec<Trend> = out.iter().filter_map(|g| g.trend.clone()).collect();
    let tested = trends.iter().filter(|t| t.growth > topts.floor).count();
    let keep = trend::holm(&trends, tested, options.alpha);
    let mut k = keep.into_iter();
    for g in out.iter_mut().filter(|g| g.trend.is_some()) {
        if !k.next().unwrap_or(true) {
            g.trend_leak = false;
            g.leak = g.proven_by.is_some();
        }
    }
    out.sort_by(|a, b| {
        let ga = a.counts.last().unwrap_or(&0.0) - a.counts.first().unwrap_or(&0.0);
        let gb = b.counts.last().unwrap_or(&0.0) - b.counts.first().unwrap_or(&0.0);
        b.leak
            .cmp(&a.leak)
            .then(b.blocked_long.cmp(&a.blocked_long))
            .then(gb.total_cmp(&ga))
            .then(
                b.counts
                    .last()
                    .unwrap_or(&0.0)
                    .total_cmp(a.counts.last().unwrap_or(&0.0)),
            )
            .then_with(|| a.function.cmp(&b.function))
            .then_with(|| a.state.cmp(&b.state))
            .then_with(|| a.frames.cmp(&b.frames))
    });
    GoroutineReport {
        schema: SCHEMA,
        sources: series
            .iter()
            .map(|&i| snapshots[i].0.source.clone())
            .collect(),
        totals,
        system,
        ignored,
        groups: out,
        leak_check,
        leak_profiles: snapshots
            .iter()
            .filter(|(s, _)| s.leak_profile)
            .map(|(s, _)| s.source.clone())
            .collect(),
    }
}

/// The key of a goroutine's group. Runtime frames are left out of a stack key, as debug=1 leaves
/// them out of its dump, and so is the state, which debug=1 and protobufs do not carry: one group
/// is the same whichever form each snapshot came in.
fn group_key(by: &GroupBy, r: &GoroutineRecord, user: &str) -> String {
    let stack = || {
        r.frames
            .iter()
            .filter(|f| !is_runtime_frame(f))
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    };
    match by {
        GroupBy::Stack => stack(),
        GroupBy::Creator => r
            .created_by
            .clone()
            .unwrap_or_else(|| format!("(no creator) {user}")),
        GroupBy::Label(k) => {
            let v = r
                .labels
                .iter()
                .find(|(key, _)| key == k)
                .map_or("(none)", |(_, v)| v.as_str());
            format!("{k}={v}\n{}", stack())
        }
    }
}

/// Short name of a pattern, or "-" without a trend.
pub fn pattern_name(t: &Option<Trend>) -> &'static str {
    t.as_ref().map_or("-", |t| t.pattern.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn kinds_and_system() {
        assert_eq!(BlockKind::of("chan receive", &[]), BlockKind::ChanReceive);
        assert_eq!(
            BlockKind::of("chan send (nil chan)", &[]),
            BlockKind::NilChan
        );
        assert_eq!(
            BlockKind::of(
                "semacquire",
                &v(&["sync.runtime_Semacquire", "sync.(*WaitGroup).Wait"])
            ),
            BlockKind::WaitGroup
        );
        assert_eq!(BlockKind::of("sync.Mutex.Lock", &[]), BlockKind::Lock);
        assert_eq!(BlockKind::of("running", &[]), BlockKind::Other);
        assert!(is_system(
            &v(&["runtime.gopark", "runtime.forcegchelper"]),
            "runtime.init.6"
        ));
        assert!(is_system(
            &v(&["runtime.gopark", "os/signal.signal_recv", "os/signal.loop"]),
            "os/signal.Notify.func1.1"
        ));
        assert!(!is_system(
            &v(&["runtime.gopark", "main.worker"]),
            "main.main"
        ));
        assert!(BlockKind::Select
            .remediation(&v(&["runtime.selectgo", "time.(*Ticker).Reset"]))
            .contains("Stop"));
    }
}
