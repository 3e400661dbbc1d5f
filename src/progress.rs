//! The progress line on stderr while files load and graphs build: phases, a bar with an ETA,
//! or, for logs and benchmarks, one line per phase with the time and the process's memory.
//!
//! May import: `graph` (its steps), `units`, `spill`.

use std::io::{self, Write};
use std::path::Path;

/// A progress line on stderr: the phase, a bar with the count (or bytes) done and an ETA,
/// redrawn in place at most ten times a second and cleared at the end. Shown only when stderr is
/// a terminal (and TERM is not dumb), or when `LEAKDIFF_PROGRESS=always` (tests).
/// With `LEAKDIFF_PROGRESS=log`, each phase is a line instead, with the time since the start and
/// the process's resident and peak memory (for benchmarks and logs).
pub struct Progress {
    shown: std::sync::atomic::AtomicBool,
    log: bool,
    ended: std::sync::atomic::AtomicBool,
    start: std::time::Instant,
    last: std::sync::Mutex<Option<std::time::Instant>>,
    /// The current phase and when it began (its ETA is measured from there).
    phase: std::sync::Mutex<(String, std::time::Instant)>,
}

impl Progress {
    /// A progress line, shown when `wanted` and stderr is a terminal (or forced by
    /// `LEAKDIFF_PROGRESS`).
    pub fn new(wanted: bool) -> Progress {
        use std::io::IsTerminal;
        let mode = std::env::var_os("LEAKDIFF_PROGRESS");
        let forced = mode.as_ref().is_some_and(|v| v == "always");
        let log = wanted && mode.as_ref().is_some_and(|v| v == "log");
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let now = std::time::Instant::now();
        Progress {
            shown: std::sync::atomic::AtomicBool::new(
                wanted && !log && (forced || (io::stderr().is_terminal() && !dumb)),
            ),
            log,
            ended: std::sync::atomic::AtomicBool::new(false),
            start: now,
            last: std::sync::Mutex::new(None),
            phase: std::sync::Mutex::new(("loading snapshots".into(), now)),
        }
    }

    /// Starts a phase without a count (`reading base.pb.gz (120 MiB)`).
    pub fn phase(&self, name: impl Into<String>) {
        let name = name.into();
        if self.log {
            let (rss, peak) = memory_now();
            eprintln!(
                "leakdiff: {:>8.2} s  {}  (RSS {} MiB, peak {} MiB)",
                self.start.elapsed().as_secs_f64(),
                crate::units::term_safe(&name),
                rss >> 20,
                peak >> 20
            );
        }
        if self.shown() {
            let mut e = io::stderr().lock();
            let _ = write!(e, "\r\x1b[K{}…", crate::units::term_safe(&name));
            let _ = e.flush();
        }
        if let Ok(mut p) = self.phase.lock() {
            *p = (name, std::time::Instant::now());
        }
    }

    /// A graph or parser step: starts its phase when it is a new one, then shows its count.
    pub fn step(&self, s: crate::graph::Step<'_>) {
        let new = self.phase.lock().map(|p| p.0 != s.phase).unwrap_or(false);
        if new {
            self.phase(s.phase);
        }
        if s.total > 0 {
            self.draw(s.done, s.total, s.bytes, s.objects);
        }
    }

    /// `done` of `total` snapshots of the current phase.
    pub fn tick(&self, done: usize, total: usize) {
        self.draw(done as u64, total as u64, false, 0);
    }

    /// The bar: `done` of `total` units (bytes: shown in MiB, with `objects` read so far).
    fn draw(&self, done: u64, total: u64, bytes: bool, objects: u64) {
        if !self.shown() || total == 0 {
            return;
        }
        let now = std::time::Instant::now();
        if let Ok(mut last) = self.last.lock() {
            if done < total && last.is_some_and(|t| now.duration_since(t).as_millis() < 100) {
                return;
            }
            *last = Some(now);
        }
        let frac = done as f64 / total as f64;
        let filled = (frac * 20.0).round() as usize;
        let (phase, began) = self
            .phase
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|_| (String::new(), self.start));
        let elapsed = now.duration_since(began).as_secs_f64();
        let eta = if done > 0 && done < total {
            format!(
                " ETA {}",
                crate::units::format_duration_s(elapsed / frac - elapsed)
            )
        } else {
            String::new()
        };
        let count = if bytes {
            let mut c = format!("{}/{} MiB", done >> 20, total >> 20);
            if objects > 0 {
                c.push_str(&format!(", {objects} objects"));
            }
            c
        } else {
            format!("{done}/{total}")
        };
        let mut e = io::stderr().lock();
        let _ = write!(
            e,
            "\r\x1b[K{} [{}{}] {count}{eta}",
            crate::units::term_safe(&phase),
            "#".repeat(filled.min(20)),
            ".".repeat(20 - filled.min(20))
        );
        let _ = e.flush();
    }

    fn shown(&self) -> bool {
        self.shown.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Clears the line (to print a warning); the next step draws it again.
    pub fn clear(&self) {
        if self.shown() {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
    }

    /// Clears the line; nothing more is drawn. In log mode, the last line: the whole time and
    /// the peak memory.
    pub fn finish(&self) {
        if self.shown.swap(false, std::sync::atomic::Ordering::Relaxed) {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
        if self.log && !self.ended.swap(true, std::sync::atomic::Ordering::Relaxed) {
            self.phase("done");
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The process's resident memory and its peak, in bytes (0 where /proc cannot tell).
fn memory_now() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name| crate::spill::proc_bytes(&status, name).unwrap_or(0);
    (field("VmRSS:"), field("VmHWM:"))
}

/// ` (120 MiB)` for a regular file, else nothing: for progress phases.
pub fn size_note(p: &Path) -> String {
    std::fs::metadata(p)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| format!(" ({})", crate::units::human(m.len() as i64, "bytes")))
        .unwrap_or_default()
}
