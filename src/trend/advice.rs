//! Severity rules and remediation hints for a suspect series.

use serde::Serialize;

use super::{Pattern, Trend};

/// Severity of a suspect, most severe first.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Will hit the memory limit within a day, or dominates the heap and keeps growing.
    Critical,
    /// Will hit the limit within a week, holds ≥ 10 % of the heap, or grows exponentially.
    High,
    /// Holds ≥ 1 % of the heap or grows by ≥ 1 % of the heap per hour.
    Medium,
    /// Any other significant leak pattern.
    Low,
}

impl Severity {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// What the severity rules look at.
#[derive(Copy, Clone, Debug)]
pub struct SeverityInput<'a> {
    /// The suspect's trend.
    pub trend: &'a Trend,
    /// The total of the same value type at the last snapshot.
    pub total_last: f64,
    /// Hours until the total crosses the memory limit if this suspect keeps its rate (when a limit
    /// was given).
    pub hours_to_limit: Option<f64>,
}

/// Severity by the documented rules; `None` for a series whose pattern is not a leak.
///
/// - critical: crosses the limit within 24 h; or holds ≥ 25 % of the heap with p < 0.01 and a
///   linear or exponential pattern; or grows exponentially while holding ≥ 10 %;
/// - high: crosses the limit within 7 days; or holds ≥ 10 %; or grows exponentially;
/// - medium: holds ≥ 1 % of the heap, or grows by ≥ 1 % of the heap per hour;
/// - low: any other leak.
pub fn severity(input: &SeverityInput) -> Option<Severity> {
    let t = input.trend;
    if !t.pattern.is_leak() {
        return None;
    }
    let total = input.total_last.max(1.0);
    let share = t.last / total;
    let rate_share = t.slope_per_hour / total;
    let confident = t.mann_kendall.p_value < 0.01;
    let hours = input.hours_to_limit;
    let exp = t.pattern == Pattern::Exponential;
    if hours.is_some_and(|h| h <= 24.0)
        || (share >= 0.25 && confident && t.pattern != Pattern::Stepped)
        || (exp && share >= 0.10)
    {
        Some(Severity::Critical)
    } else if hours.is_some_and(|h| h <= 24.0 * 7.0) || share >= 0.10 || exp {
        Some(Severity::High)
    } else if share >= 0.01 || rate_share >= 0.01 {
        Some(Severity::Medium)
    } else {
        Some(Severity::Low)
    }
}

/// A remediation hint from the suspect's frames (leaf first) and pattern.
pub fn remediation(frames_leaf_first: &[&str], pattern: Pattern) -> String {
    let has = |needles: &[&str]| {
        frames_leaf_first
            .iter()
            .take(12)
            .any(|f| needles.iter().any(|n| f.contains(n)))
    };
    // Names are matched on the function part only (after the last `/`): package paths such as
    // `…/internal/…` or `…/cache/…` say nothing about what the function does.
    let lower: Vec<String> = frames_leaf_first
        .iter()
        .take(6)
        .map(|f| f.rsplit('/').next().unwrap_or(f).to_ascii_lowercase())
        .collect();
    let named = |needles: &[&str]| lower.iter().any(|f| needles.iter().any(|n| f.contains(n)));
    if frames_leaf_first
        .first()
        .is_some_and(|f| f.starts_with("runtime.malg"))
    {
        return "goroutine stacks (runtime.malg: each new goroutine's descriptor and stack): this \
                grows with the number of goroutines; see the goroutine section for the groups \
                that pile up"
            .into();
    }
    if has(&["time.After", "time.NewTimer", "time.Tick", "time.NewTicker"]) {
        return "timers created in a loop: call Stop on every time.NewTicker/NewTimer, or create one \
                and Reset it; time.After in a loop keeps a timer alive until it fires"
            .into();
    }
    if has(&[
        "context.WithCancel",
        "context.WithTimeout",
        "context.WithDeadline",
    ]) {
        return "contexts that are never cancelled: call the cancel function (defer cancel()) on \
                every path"
            .into();
    }
    if has(&["runtime.newproc", "runtime.malg"]) {
        return "goroutines that never exit: give each one a way to stop (context or close of a \
                channel) and wait for it"
            .into();
    }
    if named(&[
        "register",
        "subscribe",
        "listener",
        "addhandler",
        "watch",
        "observer",
        "callback",
    ]) {
        return "registrations without a matching unregister: remove the listener/subscription \
                when its owner is done (defer unregister)"
            .into();
    }
    if named(&["cache", "memo", "lru", "intern"]) {
        return "a cache without a bound: give it a size limit or a TTL (evict the oldest entries)"
            .into();
    }
    // Only the allocation itself says "map" or "slice": a caller named `Append` (a TSDB
    // appender) says nothing about slices.
    let leaf_is = |needles: &[&str]| {
        frames_leaf_first
            .iter()
            .take(3)
            .take_while(|f| f.starts_with("runtime.") || f.starts_with("internal/runtime/"))
            .any(|f| needles.iter().any(|n| f.contains(n)))
    };
    if leaf_is(&[
        "runtime.mapassign",
        "runtime.growmap",
        "runtime.makemap",
        "hashGrow",
        "internal/runtime/maps.",
    ]) {
        return "a map that only grows: delete entries when they are done, or bound it and evict"
            .into();
    }
    if leaf_is(&["runtime.growslice"]) {
        return "a slice that is only appended to: bound it (ring buffer) or trim what has been \
                processed"
            .into();
    }
    if has(&["bytes.(*Buffer)", "strings.(*Builder)", "bufio."]) {
        return "a buffer that keeps growing: Reset it after use or cap its size".into();
    }
    // Nothing in the frames names a cause: the shape is all the suspect tells; what to do next
    // depends on the program and is said once per report ([`Program::next_step`]).
    match pattern {
        Pattern::Exponential => "grows faster and faster".into(),
        Pattern::Stepped => "grows in steps that never come back (a map or slice that doubles as \
                             entries keep coming, or batches that stay referenced)"
            .into(),
        _ => "grows steadily".into(),
    }
}

/// What kind of program a heap series comes from: it decides the next step a report suggests.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Program {
    /// A Go program (its heap profiles, heap dumps).
    Go,
    /// A native program recorded by heaptrack.
    Heaptrack,
    /// A native program profiled by jemalloc.
    Jemalloc,
    /// A native program profiled by gperftools (tcmalloc).
    Gperftools,
    /// Anything else, or a mix.
    Other,
}

impl Program {
    /// The next step once a heap suspect is known: a heap profile says where memory was
    /// allocated, never what keeps it; each kind of program has its own tool for that.
    pub fn next_step(self) -> &'static str {
        match self {
            Program::Go => {
                "a heap profile says where objects were allocated, not what keeps them: look at \
                 what holds them (a global, a long-lived struct, a channel), or write a Go heap \
                 dump (runtime/debug.WriteHeapDump) and run `leakdiff retained DUMP --binary \
                 PROGRAM` for the path from a root and the types that hold them"
            }
            Program::Heaptrack => {
                "heaptrack records where memory was allocated, not what keeps it: on the \
                 recording, `heaptrack_print --print-leaks` lists what was never freed; memory \
                 still reachable is held by the owner of the allocating call site (a container, \
                 a cache, a pool that is never trimmed)"
            }
            Program::Jemalloc => {
                "a jemalloc profile says where memory was allocated, not what keeps it: `jeprof \
                 --base=FIRST.heap PROGRAM LAST.heap` shows the same growth by stack, and \
                 MALLOC_CONF=prof_leak:true reports at exit what was never freed; memory still \
                 reachable is held by the owner of the allocating call site"
            }
            Program::Gperftools => {
                "a gperftools heap profile says where memory was allocated, not what keeps it: \
                 `pprof --base=FIRST PROGRAM LAST` shows the same growth, and HEAPCHECK=normal \
                 reports at exit what is unreachable; memory still reachable is held by the \
                 owner of the allocating call site"
            }
            Program::Other => {
                "a heap profile says where memory was allocated, not what keeps it: look at \
                 what owns the allocating call site"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trend::{analyze, TrendOptions};

    #[test]
    fn remediation_by_frames() {
        let r = remediation(&["runtime.growslice", "main.appendAudit"], Pattern::Linear);
        assert!(r.contains("slice"), "{r}");
        let r = remediation(&["main.cacheSession", "main.main"], Pattern::Linear);
        assert!(r.contains("cache"), "{r}");
        let r = remediation(&["time.NewTicker", "main.poll"], Pattern::Linear);
        assert!(r.contains("Stop"), "{r}");
        let r = remediation(&["main.registerListener"], Pattern::Linear);
        assert!(r.contains("unregister"), "{r}");
        let r = remediation(
            &["github.com/acme/internal/pkg.(*H).Method"],
            Pattern::Linear,
        );
        assert_eq!(r, "grows steadily");
        let r = remediation(&["main.work"], Pattern::Stepped);
        assert!(r.contains("steps"), "{r}");
        // Prometheus' head appender: `Append` in a name is not a slice.
        let r = remediation(
            &[
                "github.com/prometheus/prometheus/tsdb.newMemSeries",
                "github.com/prometheus/prometheus/tsdb.(*headAppender).Append",
            ],
            Pattern::Linear,
        );
        assert!(!r.contains("slice") && r.contains("steadily"), "{r}");
        // The next step is the program's own.
        assert!(Program::Go.next_step().contains("leakdiff retained"));
        assert!(Program::Heaptrack.next_step().contains("heaptrack_print"));
        assert!(!Program::Jemalloc.next_step().contains("Go heap dump"));
    }

    #[test]
    fn severity_rules() {
        let times: Vec<f64> = (0..10).map(|i| i as f64 * 60.0).collect();
        let v: Vec<f64> = (0..10).map(|i| 1e6 * (i + 1) as f64).collect();
        let t = analyze(&times, &v, &TrendOptions::default());
        let s = |total: f64, h: Option<f64>| {
            severity(&SeverityInput {
                trend: &t,
                total_last: total,
                hours_to_limit: h,
            })
        };
        assert_eq!(s(20e6, None), Some(Severity::Critical));
        assert_eq!(s(50e6, None), Some(Severity::High));
        assert_eq!(s(50e6, Some(3.0)), Some(Severity::Critical));
        assert_eq!(s(500e6, None), Some(Severity::Medium));
        assert_eq!(s(1e12, None), Some(Severity::Low));
        let flat = analyze(&times, &[5.0; 10], &TrendOptions::default());
        assert_eq!(
            severity(&SeverityInput {
                trend: &flat,
                total_last: 10.0,
                hours_to_limit: None
            }),
            None
        );
    }
}
