//! The process section: RSS, file descriptors, connections, threads and mappings trended, each
//! with the advice its kind of growth calls for.

use super::*;

/// Growth of a process byte metric (RSS, mapped bytes) below this is noise: allocators keep and
/// return whole arenas.
pub const PROCESS_BYTES_FLOOR: f64 = 4.0 * 1024.0 * 1024.0;

/// What to do about a growing process metric.
pub(super) fn process_remediation(name: &str) -> &'static str {
    match name {
        n if n.starts_with("tcp/CLOSE_WAIT") => "connections in CLOSE_WAIT grow: the peer closed and this process never did; close response bodies and connections on every path (defer resp.Body.Close(), conn.Close())",
        n if n.starts_with("tcp") => "open TCP connections grow: look for clients built per request (http.Client/Transport, DB pools) and connections never closed or returned to their pool",
        n if n.starts_with("fds/socket") => "open sockets grow: close connections and listeners on every path; reuse one HTTP client",
        n if n.starts_with("fds/pipe") => "open pipes grow: wait for child processes and close both ends of pipes (cmd.Wait, StdoutPipe)",
        n if n.starts_with("fds") => "open file descriptors grow: close files on every path (defer f.Close()); the process dies with EMFILE at its limit",
        "threads" => "OS threads grow: look for goroutines blocked in cgo or system calls, runtime.LockOSThread without unlock, or thread pools that never shrink",
        "vm_size" => "address space grows: the Go runtime and allocators reserve it ahead of use (heap arenas of 64 MiB, thread stacks), so it is no memory by itself; compare with rss: address space growing while rss holds is reservation, not a leak",
        "mappings" => "memory mappings grow: look for mmap without munmap, dlopen without dlclose, or per-thread arenas",
        _ => "resident memory grows: compare with the heap profiles' in-use total; growth outside the heap points at cgo, mmap or allocator fragmentation",
    }
}

pub(super) fn process_section(
    ev: &Evidence,
    options: &AnalyzeOptions,
) -> Result<Option<ProcessSection>, AnalyzeError> {
    if ev.process.snapshots.is_empty() {
        return Ok(None);
    }
    let (snaps, times) = snapshots_out(&ev.process.snapshots);
    let metrics: Vec<(String, String, Vec<f64>)> = ev
        .process
        .metrics
        .iter()
        .map(|m| (m.name.clone(), m.unit.to_string(), m.values.clone()))
        .collect();
    let limit_of = |name: &str| -> Option<f64> {
        let key = format!("limit/{name}");
        // Every fd counts against the open-files limit, sockets and connections included.
        let shared = (name.starts_with("fds") || name.starts_with("tcp")).then_some("limit/fds");
        metrics
            .iter()
            .find(|m| m.0 == key)
            .or_else(|| shared.and_then(|k| metrics.iter().find(|m| m.0 == k)))
            .and_then(|m| m.2.last().copied())
            .filter(|v| *v > 0.0)
            .or_else(|| (name == "rss").then_some(options.memory_limit).flatten())
    };
    let limits: Vec<Option<f64>> = metrics.iter().map(|m| limit_of(&m.0)).collect();
    let mut trends = Vec::new();
    for (name, unit, values) in &metrics {
        let floor = match (unit.as_str(), options.min_growth) {
            ("bytes", Some(m)) => m,
            ("bytes", None) => PROCESS_BYTES_FLOOR,
            _ => trend::count_floor(options.min_goroutine_growth),
        };
        let topts = TrendOptions {
            floor,
            alpha: options.alpha,
            ..Default::default()
        };
        let t = trend::analyze(&times, values, &topts);
        let tested = t.growth > floor && !name.starts_with("limit/");
        trends.push((t, tested));
    }
    // No multiple-testing correction here, unlike heap keys: a dozen metrics, most of them parts
    // of each other (fds ⊃ fds/socket ⊃ tcp), not thousands of independent sites.
    let mut out = Vec::new();
    let mut suspects = Vec::new();
    for (((name, unit, values), (t, tested)), limit) in metrics.into_iter().zip(trends).zip(limits)
    {
        if tested && t.pattern.is_leak() {
            // Severity and time to limit against the metric's own limit: with none, the share
            // rules cannot apply (an fd count has no heap to be a share of).
            let own = [t.last];
            // Address space is no memory: a Go runtime reserves arenas of 64 MiB at a time. The
            // absolute rates of the severity rules apply to it only under a limit (RLIMIT_AS).
            let bytes = unit == "bytes" && (name != "vm_size" || limit.is_some());
            let ctx = Ctx {
                times: &times,
                totals: &own,
                goroutines: None,
                limit,
                bytes,
            };
            let key = KeyInfo {
                name: name.clone(),
                frames: vec![name.clone()],
            };
            if let Some(mut sus) = suspect(&key, values.clone(), t.clone(), &ctx) {
                sus.share = limit.map_or(0.0, |l| sus.last / l);
                let rated = SeverityInput {
                    trend: &t,
                    total_last: limit.unwrap_or(f64::INFINITY),
                    hours_to_limit: sus.prediction.hours_to_limit,
                    bytes,
                    limit,
                };
                let impact = trend::severity(&rated).unwrap_or(sus.severity);
                // A metric with no limit to measure headroom against is rated by its own
                // growth: doubling within the window is high at least, half again medium.
                let ratio = if t.first > 0.0 {
                    t.last / t.first
                } else {
                    f64::INFINITY
                };
                let floor_sev = if unit == "bytes" && !bytes {
                    // Address space without a limit: its growth is no cost by itself.
                    Severity::Low
                } else if ratio >= 2.0 {
                    Severity::High
                } else if ratio >= 1.5 {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                (sus.severity, sus.held) = trend::hold(&rated, impact.min(floor_sev));
                sus.correlation_with_total = None;
                sus.remediation = process_remediation(&name).to_string();
                suspects.push(sus);
            }
        }
        out.push(MetricOut {
            name,
            unit,
            series: values,
            pattern: t.pattern,
            limit,
        });
    }
    rank(&mut suspects);
    Ok(Some(ProcessSection {
        snapshots: snaps,
        metrics: out,
        suspects,
    }))
}
