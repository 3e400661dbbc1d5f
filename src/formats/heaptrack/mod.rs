//! heaptrack recordings (interpreted; file formats v1–v3; gzip, zstd or plain), read as a stream:
//! memory grows with distinct strings, instruction pointers, traces and allocation sites, not with
//! the number of allocation events. Totals and per-site costs follow heaptrack_print 1.4
//! (accumulatedtracedata.cpp): allocations, temporary allocations, leaked (in use at the end), peak
//! (heap at the global peak, per site at that moment), peak RSS, suppressions.
//!
//! May import: `model`, `formats::error`.

use std::io::BufRead;

use rustc_hash::FxHashMap;

use crate::formats::error::{ParseError, Position};
use crate::model::{Format, Interner, Profile, ProfileBuilder, StackId, ValueType};

mod reader;
mod recording;
pub mod suppress;

pub use reader::*;
pub use recording::*;

const FORMAT: &str = "heaptrack";

/// Newest file format this reader understands.
pub const MAX_FILE_VERSION: u64 = 3;

/// Options of the heaptrack reader.
#[derive(Clone, Debug)]
pub struct HeaptrackOptions {
    /// Suppression patterns from files (`leak:` already stripped). Default: none.
    pub suppressions: Vec<String>,
    /// Apply heaptrack's built-in suppressions. Default: true.
    pub builtin_suppressions: bool,
    /// Apply the `S` lines embedded in the recording. Default: true.
    pub embedded_suppressions: bool,
    /// Keep per-site changes between timestamps, so the recording can be cut into snapshots
    /// ([`Recording::slices`]). Default: false (memory then does not grow with the run's length).
    pub timeline: bool,
}

impl Default for HeaptrackOptions {
    fn default() -> Self {
        HeaptrackOptions {
            suppressions: Vec::new(),
            builtin_suppressions: true,
            embedded_suppressions: true,
            timeline: false,
        }
    }
}

/// Whole-recording numbers, as heaptrack_print prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Calls to allocation functions.
    pub allocations: u64,
    /// Allocations freed right after (heaptrack's definition: the next event frees it).
    pub temporary: u64,
    /// Bytes allocated and never freed (after suppressions).
    pub leaked_bytes: i64,
    /// Largest heap size seen.
    pub peak_bytes: i64,
    /// When the peak happened, ms since start.
    pub peak_time_ms: i64,
    /// Peak RSS in bytes (includes heaptrack's own overhead).
    pub peak_rss_bytes: i64,
    /// Last timestamp + 1, ms.
    pub total_time_ms: i64,
    /// Physical memory of the machine, bytes.
    pub total_system_memory_bytes: i64,
    /// Leaked bytes hidden by suppressions.
    pub suppressed_leaked_bytes: i64,
    /// The recorded command line.
    pub debuggee: String,
    /// True when heaptrack attached to a running process (earlier allocations unknown).
    pub from_attached: bool,
    /// heaptrack file format version.
    pub file_version: u64,
}

#[derive(Clone, Copy, Default)]
struct FrameRec {
    function: u32,
    file: u32,
    line: u32,
}

struct Ip {
    address: u64,
    module: u32,
    frames: Vec<FrameRec>,
}

#[derive(Clone, Copy, Default)]
struct Trace {
    ip: u32,
    parent: u32,
}

#[derive(Clone, Copy, Default)]
struct Site {
    trace: u32,
    allocations: u64,
    alloc_bytes: i64,
    temporary: u64,
    leaked: i64,
    leaked_count: i64,
    peak: i64,
    /// Event number of the last change (for the lazily taken value at the global peak).
    last_event: u64,
}

impl Site {
    /// Records that the site changes at `event`. Its value at the global peak is taken lazily: if
    /// it last changed at or before the peak event, its current value is its value at the peak.
    fn touch(&mut self, event: u64, peak_event: u64) -> &mut Site {
        if self.last_event <= peak_event {
            self.peak = self.leaked;
        }
        self.last_event = event;
        self
    }
}

/// How a site changed between two timestamps.
#[derive(Clone, Copy, Default)]
struct Change {
    site: u32,
    inuse_count: i64,
    inuse_bytes: i64,
    allocations: i64,
    alloc_bytes: i64,
}

/// Per-site changes up to a timestamp (ms since start), in file order.
struct Checkpoint {
    time_ms: i64,
    changes: Vec<Change>,
}

/// Changes since the last timestamp, per site.
#[derive(Default)]
struct Pending {
    /// Per site: index into `changes` + 1, or 0 when the site has not changed since the flush.
    slot: Vec<u32>,
    changes: Vec<Change>,
}

impl Pending {
    #[inline]
    fn add(&mut self, site: u32, count: i64, bytes: i64, allocated: bool) {
        let si = site as usize;
        if si >= self.slot.len() {
            self.slot.resize(si + 1, 0);
        }
        let i = match self.slot[si] {
            0 => {
                self.changes.push(Change {
                    site,
                    ..Default::default()
                });
                self.slot[si] = self.changes.len() as u32;
                self.changes.len() - 1
            }
            n => n as usize - 1,
        };
        let c = &mut self.changes[i];
        c.inuse_count += count;
        c.inuse_bytes = c.inuse_bytes.saturating_add(bytes);
        if allocated {
            c.allocations += 1;
            c.alloc_bytes = c.alloc_bytes.saturating_add(bytes);
        }
    }

    fn flush(&mut self, time_ms: i64, into: &mut Vec<Checkpoint>) {
        if self.changes.is_empty() {
            return;
        }
        for c in &self.changes {
            self.slot[c.site as usize] = 0;
        }
        into.push(Checkpoint {
            time_ms,
            changes: std::mem::take(&mut self.changes),
        });
    }
}

/// Where to cut a recording into snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceSpec {
    /// N snapshots at equal steps of the recording's duration (the last at its end).
    Count(u32),
    /// A snapshot every so many milliseconds, and one at the end.
    EveryMs(u64),
}

impl SliceSpec {
    /// Snapshot times (ms since start) for a recording that lasted `total_ms`.
    pub fn boundaries(self, total_ms: i64) -> Vec<i64> {
        let total = total_ms.max(1);
        match self {
            SliceSpec::Count(n) => {
                let n = i64::from(n.max(1));
                (1..=n).map(|i| total * i / n).collect()
            }
            SliceSpec::EveryMs(step) => {
                let step = i64::try_from(step.max(1)).unwrap_or(i64::MAX);
                let mut out: Vec<i64> = (1..)
                    .map(|i: i64| i.saturating_mul(step))
                    .take_while(|&t| t < total)
                    .take(100_000)
                    .collect();
                out.push(total);
                out
            }
        }
    }
}

/// A decoded recording, not yet interned.
pub struct Recording {
    summary: Summary,
    strings: Vec<String>,
    ips: Vec<Ip>,
    traces: Vec<Trace>,
    sites: Vec<Site>,
    /// Sites zeroed by suppressions.
    suppressed: Vec<bool>,
    timeline: Vec<Checkpoint>,
    warnings: Vec<String>,
}

/// True when the (decompressed) head looks like a heaptrack file: a `v` line of hex numbers.
pub fn sniff(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    line.len() > 2
        && line.starts_with(b"v ")
        && line[2..]
            .iter()
            .all(|&b| b == b' ' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
