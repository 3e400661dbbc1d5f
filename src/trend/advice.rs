//! Severity rules and remediation hints for a suspect series.

use serde::Serialize;

use super::{Pattern, Trend};

/// Severity of a suspect, most severe first: what the growth would cost if it went on
/// ([`severity`]), held back where the evidence is too thin to say so ([`hold`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Reaches the memory limit within a day, grows by a GiB an hour or more, or compounds
    /// while holding a tenth of the heap; seen for an hour or 256 MiB of growth.
    Critical,
    /// Reaches the limit within a week, grows by 100 MiB an hour or more, compounds, or holds a
    /// quarter of the heap while growing by a tenth of it an hour; seen for 15 minutes or 64 MiB.
    High,
    /// Holds ≥ 1 % of the heap or grows by ≥ 1 % of the heap per hour; or more, seen too briefly.
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
    /// Whether the series is in bytes: the absolute rates and growths of the rules apply.
    pub bytes: bool,
    /// The limit the series' total runs into, when known (memory limit, open-files limit).
    pub limit: Option<f64>,
}

/// A GiB an hour: growth at this rate is critical whatever the heap (24 GiB a day).
pub const CRITICAL_RATE_BYTES_PER_HOUR: f64 = 1024.0 * 1024.0 * 1024.0;
/// 100 MiB an hour (2.3 GiB a day): high whatever the heap.
pub const HIGH_RATE_BYTES_PER_HOUR: f64 = 100.0 * 1024.0 * 1024.0;

/// The severity the growth's impact gives, before the evidence is weighed ([`hold`]); `None`
/// for a series whose pattern is not a leak.
///
/// - critical: crosses the limit within 24 h; or grows ≥ 1 GiB/h; or grows exponentially while
///   holding ≥ 10 %;
/// - high: crosses the limit within 7 days; or grows ≥ 100 MiB/h; or grows exponentially; or
///   holds ≥ 25 % of the heap with p < 0.01 while growing by ≥ 10 % of it per hour;
/// - medium: holds ≥ 1 % of the heap, or grows by ≥ 1 % of the heap per hour;
/// - low: any other leak.
///
/// A share alone is no impact: a suspect that is most of a 6 MiB heap and grows by 50 MiB a day
/// costs little, wherever it sits in the heap.
pub fn severity(input: &SeverityInput) -> Option<Severity> {
    let t = input.trend;
    if !t.pattern.is_leak() {
        return None;
    }
    let total = input.total_last.max(1.0);
    let share = t.last / total;
    let rate_share = t.slope_per_hour / total;
    let rate = if input.bytes { t.slope_per_hour } else { 0.0 };
    let confident = t.mann_kendall.p_value < 0.01;
    let hours = input.hours_to_limit;
    let exp = t.pattern == Pattern::Exponential;
    if hours.is_some_and(|h| h <= 24.0)
        || rate >= CRITICAL_RATE_BYTES_PER_HOUR
        || (exp && share >= 0.10)
    {
        Some(Severity::Critical)
    } else if hours.is_some_and(|h| h <= 24.0 * 7.0)
        || rate >= HIGH_RATE_BYTES_PER_HOUR
        || exp
        || (share >= 0.25 && confident && rate_share >= 0.10 && t.pattern != Pattern::Stepped)
    {
        Some(Severity::High)
    } else if share >= 0.01 || rate_share >= 0.01 {
        Some(Severity::Medium)
    } else {
        Some(Severity::Low)
    }
}

/// What a growth must show before it can be rated critical: watched for at least the first
/// number of hours, and for the second or grown by the bytes of the third. A bounded cache or
/// history filling up grows linearly until it is full, and no test on a few minutes can tell it
/// from a leak.
pub const CRITICAL_EVIDENCE: (f64, f64, f64) = (0.25, 1.0, 256.0 * 1024.0 * 1024.0);
/// …and before it can be rated high.
pub const HIGH_EVIDENCE: (f64, f64, f64) = (5.0 / 60.0, 0.25, 64.0 * 1024.0 * 1024.0);

/// Why a severity is lower than the growth's impact alone would make it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Held {
    /// The severity the impact alone gives.
    pub impact: Severity,
    /// Why it is held back.
    pub reason: HeldReason,
    /// Hours over which the growth was watched.
    pub watched_hours: f64,
    /// Growth over them (in the series' unit).
    pub growth: f64,
    /// The late rate over the early one ([`Trend::late_rate_ratio`]).
    pub late_rate_ratio: Option<f64>,
    /// More hours of watching, at this rate, after which the evidence allows the next severity
    /// up (`None` where watching longer would not change it: the growth slows).
    pub watch_more_hours: Option<f64>,
}

/// [`Held::reason`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldReason {
    /// Watched too briefly, with too little growth, to rule out a bounded cache filling up.
    Short,
    /// The growth slows toward a level (its late rate is under half its early rate): a cache or a
    /// history filling toward its bound looks like this.
    Decelerating,
}

/// The severity the evidence supports, at most `impact`: medium at most for growth that slows
/// toward a level; high needs 15 minutes of watching, 64 MiB of growth or a tenth of the limit,
/// critical an hour, 256 MiB or a quarter of the limit (bytes only for the sizes). A limit that
/// comes sooner than that evidence could is not waited for. The [`Held`] says why when it is
/// lower.
pub fn hold(input: &SeverityInput, impact: Severity) -> (Severity, Option<Held>) {
    let t = input.trend;
    let bytes = input.bytes;
    let held = |to: Severity, reason, watch_more_hours| {
        (
            to,
            Some(Held {
                impact,
                reason,
                watched_hours: t.span_hours,
                growth: t.growth,
                late_rate_ratio: t.late_rate_ratio,
                watch_more_hours,
            }),
        )
    };
    if impact >= Severity::Medium {
        return (impact, None);
    }
    if t.late_rate_ratio.is_some_and(|r| r < super::DECELERATING) {
        return held(Severity::Medium, HeldReason::Decelerating, None);
    }
    // The evidence a severity needs: hours watched at least, then hours watched, bytes grown or
    // this share of the limit grown.
    let need = |(least, hours, grown): (f64, f64, f64), of_limit: f64| {
        let mut grown = if bytes { grown } else { f64::INFINITY };
        if let Some(l) = input.limit.filter(|l| *l > 0.0) {
            grown = grown.min(of_limit * l);
        }
        (least, hours, grown)
    };
    let (critical, high) = (need(CRITICAL_EVIDENCE, 0.25), need(HIGH_EVIDENCE, 0.10));
    let seen = |(least, hours, grown): (f64, f64, f64)| {
        t.span_hours >= least && (t.span_hours >= hours || t.growth >= grown)
    };
    // Hours more at this rate until the evidence is met.
    let more = |(least, hours, grown): (f64, f64, f64)| {
        let by_time = (hours - t.span_hours).max(0.0);
        let either = if grown.is_finite() && t.slope_per_hour > 0.0 {
            by_time.min(((grown - t.growth) / t.slope_per_hour).max(0.0))
        } else {
            by_time
        };
        either.max(least - t.span_hours)
    };
    // The limit is reached before more watching could make the case: say so now.
    if input
        .hours_to_limit
        .filter(|h| super::supports(t, *h))
        .is_some_and(|h| {
            h <= more(if impact == Severity::Critical {
                critical
            } else {
                high
            })
        })
    {
        return (impact, None);
    }
    match impact {
        Severity::Critical if seen(critical) => (impact, None),
        Severity::Critical if seen(high) => {
            held(Severity::High, HeldReason::Short, Some(more(critical)))
        }
        Severity::High if seen(high) => (impact, None),
        _ => held(Severity::Medium, HeldReason::Short, Some(more(high))),
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
        // 1 MB a minute for 9 minutes: 60 MB/h.
        let s = |total: f64, h: Option<f64>| {
            severity(&SeverityInput {
                trend: &t,
                total_last: total,
                hours_to_limit: h,
                bytes: true,
                limit: None,
            })
        };
        // Half the heap, growing by three heaps an hour: high, not critical (a share is no
        // impact); a limit within 3 h is.
        assert_eq!(s(20e6, None), Some(Severity::High));
        assert_eq!(s(50e6, Some(3.0)), Some(Severity::Critical));
        assert_eq!(s(50e6, Some(100.0)), Some(Severity::High));
        assert_eq!(s(500e6, None), Some(Severity::Medium));
        assert_eq!(s(1e12, None), Some(Severity::Low));
        let flat = analyze(&times, &[5.0; 10], &TrendOptions::default());
        assert_eq!(
            severity(&SeverityInput {
                trend: &flat,
                total_last: 10.0,
                hours_to_limit: None,
                bytes: true,
                limit: None,
            }),
            None
        );
        // Nine minutes and 9 MB hold critical at medium: 6 more minutes (to 15) allow high.
        fn input(t: &Trend, bytes: bool, limit: Option<f64>, h: Option<f64>) -> SeverityInput<'_> {
            SeverityInput {
                trend: t,
                total_last: 0.0,
                hours_to_limit: h,
                bytes,
                limit,
            }
        }
        let (sev, held) = hold(&input(&t, true, None, None), Severity::Critical);
        assert_eq!(sev, Severity::Medium);
        let held = held.unwrap();
        assert_eq!(held.reason, HeldReason::Short);
        assert!(
            (held.watch_more_hours.unwrap() - 0.1).abs() < 1e-9,
            "{held:?}"
        );
        assert_eq!(
            hold(&input(&t, true, None, None), Severity::Medium),
            (Severity::Medium, None)
        );
        // A tenth of a 50 MB limit grown (9 MB) is evidence for high; a limit reached before
        // the evidence for critical could come is not waited for.
        assert_eq!(
            hold(&input(&t, true, Some(50e6), None), Severity::Critical).0,
            Severity::High
        );
        assert_eq!(
            hold(&input(&t, true, Some(50e6), Some(0.05)), Severity::Critical),
            (Severity::Critical, None)
        );
        // 100 MB a minute: 900 MB in 9 minutes is bytes enough for critical, but critical needs
        // 15 minutes of watching at least: held at high, 6 minutes more.
        let big: Vec<f64> = v.iter().map(|x| x * 100.0).collect();
        let tb = analyze(&times, &big, &TrendOptions::default());
        let (sev, held) = hold(&input(&tb, true, None, None), Severity::Critical);
        assert_eq!(sev, Severity::High);
        assert!((held.unwrap().watch_more_hours.unwrap() - 0.1).abs() < 1e-9);
        let times20: Vec<f64> = (0..20).map(|i| i as f64 * 60.0).collect();
        let big20: Vec<f64> = (0..20).map(|i| 1e8 * (i + 1) as f64).collect();
        let t20 = analyze(&times20, &big20, &TrendOptions::default());
        assert_eq!(
            hold(&input(&t20, true, None, None), Severity::Critical),
            (Severity::Critical, None)
        );
        // …but not as a count: then only the time counts.
        assert_eq!(
            hold(&input(&tb, false, None, None), Severity::Critical).0,
            Severity::Medium
        );
        // Growth that slows toward a level (a cache filling) is medium at most, however long.
        let hours: Vec<f64> = (0..30).map(|i| i as f64 * 600.0).collect();
        let filling: Vec<f64> = (0..30)
            .map(|i| 1e9 * (1.0 - (-(i as f64) / 12.0).exp()))
            .collect();
        let tf = analyze(&hours, &filling, &TrendOptions::default());
        assert!(
            tf.late_rate_ratio.unwrap() < crate::trend::DECELERATING,
            "{tf:?}"
        );
        let (sev, held) = hold(&input(&tf, true, None, None), Severity::Critical);
        assert_eq!(
            (sev, held.map(|h| h.reason)),
            (Severity::Medium, Some(HeldReason::Decelerating))
        );
    }
}
