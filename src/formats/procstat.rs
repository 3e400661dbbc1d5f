//! leakdiff's own process-sample text format: what `leakdiff collect --pid` reads from
//! `/proc/PID` at one moment (RSS, open fds by kind, TCP connections by state, threads, memory
//! mappings), one metric per line, so the store can trend fd, connection and mapping counts like
//! heap sites.
//!
//! ```text
//! leakdiff process sample v1
//! @time_nanos 1764064500000000000
//! @pid 4242
//! @command server
//! rss bytes 14680064
//! fds count 12
//! fds/socket count 7
//! limit/fds count 1024
//! ```
//!
//! Lines after the header: `@key value` metadata, or `NAME UNIT VALUE` with UNIT `bytes` or
//! `count` and VALUE a non-negative integer. `#` starts a comment line. Names are unique.
//!
//! In the model each metric is one sample whose stack is one frame named after the metric, with
//! two value columns, `process_bytes/bytes` and `process_count/count`.

use std::fmt::Write as _;

use super::error::{ParseError, Position};
use crate::model::{Format, Interner, Profile, ProfileBuilder, ValueType};

/// Format name in errors.
pub const FORMAT: &str = "leakdiff process sample";
/// The first line.
pub const HEADER: &str = "leakdiff process sample v1";
/// Value type of byte metrics.
pub const BYTES: &str = "process_bytes";
/// Value type of count metrics.
pub const COUNT: &str = "process_count";

/// True when the payload starts with the header.
pub fn sniff(payload: &[u8]) -> bool {
    payload.starts_with(HEADER.as_bytes())
}

/// Unit of a metric.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Bytes (RSS, mapped size).
    Bytes,
    /// A count (fds, connections, threads, mappings).
    Count,
}

impl Unit {
    /// Name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Count => "count",
        }
    }
}

/// One sample of a process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessSample {
    /// When it was taken (ns since the epoch).
    pub time_nanos: i64,
    /// The process.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub command: String,
    /// Metrics in file order: name, unit, value.
    pub metrics: Vec<(String, Unit, u64)>,
}

impl ProcessSample {
    /// Adds a metric.
    pub fn push(&mut self, name: impl Into<String>, unit: Unit, value: u64) {
        self.metrics.push((name.into(), unit, value));
    }

    /// The file text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{HEADER}");
        let _ = writeln!(s, "@time_nanos {}", self.time_nanos);
        let _ = writeln!(s, "@pid {}", self.pid);
        let command: String = self
            .command
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let _ = writeln!(s, "@command {}", command.trim());
        for (name, unit, value) in &self.metrics {
            let _ = writeln!(s, "{name} {} {value}", unit.name());
        }
        s
    }
}

/// Parses a sample; errors name the line.
pub fn parse(payload: &[u8], source: &str) -> Result<ProcessSample, ParseError> {
    let err = |line: usize, m: String| {
        ParseError::malformed(source, FORMAT, Position::Line(line as u64 + 1), m)
    };
    let text = std::str::from_utf8(payload).map_err(|e| {
        ParseError::malformed(
            source,
            FORMAT,
            Position::Byte(e.valid_up_to() as u64),
            "not UTF-8",
        )
    })?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, l)) if l.trim_end() == HEADER => {}
        _ => return Err(err(0, format!("expected `{HEADER}`"))),
    }
    let mut out = ProcessSample::default();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(meta) = line.strip_prefix('@') {
            let (key, value) = meta.split_once(' ').unwrap_or((meta, ""));
            let value = value.trim();
            match key {
                "time_nanos" => {
                    out.time_nanos = value
                        .parse()
                        .map_err(|_| err(n, format!("bad time `{value}`")))?
                }
                "pid" => {
                    out.pid = value
                        .parse()
                        .map_err(|_| err(n, format!("bad pid `{value}`")))?
                }
                "command" => out.command = value.to_string(),
                _ => {} // unknown metadata: newer writers may add some
            }
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(unit), Some(value), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err(n, "expected `NAME UNIT VALUE`".into()));
        };
        let unit = match unit {
            "bytes" => Unit::Bytes,
            "count" => Unit::Count,
            u => return Err(err(n, format!("unknown unit `{u}` (bytes or count)"))),
        };
        let value: u64 = value
            .parse()
            .map_err(|_| err(n, format!("bad value `{value}`")))?;
        if value > i64::MAX as u64 {
            return Err(err(n, format!("value {value} is too large")));
        }
        if !seen.insert(name.to_string()) {
            return Err(err(n, format!("metric `{name}` appears twice")));
        }
        out.metrics.push((name.to_string(), unit, value));
    }
    Ok(out)
}

impl ProcessSample {
    /// Into the model: one sample per metric, its stack one frame named after the metric.
    pub fn into_profile(
        self,
        source: &str,
        interner: &mut Interner,
    ) -> Result<Profile, ParseError> {
        let mut b = ProfileBuilder::new(
            Format::ProcessSample,
            vec![
                ValueType::new(BYTES, "bytes"),
                ValueType::new(COUNT, "count"),
            ],
        );
        {
            let meta = b.meta_mut();
            meta.source = source.to_string();
            meta.time_nanos = (self.time_nanos > 0).then_some(self.time_nanos);
            meta.process = (self.pid > 0).then(|| format!("pid {}", self.pid));
        }
        for (name, unit, value) in &self.metrics {
            let frame = interner.symbol_frame(name, "", 0);
            let stack = interner.stack_from_root([frame]);
            let v = *value as i64;
            let values = match unit {
                Unit::Bytes => [v, 0],
                Unit::Count => [0, v],
            };
            b.add_sample(stack, &values, &[]);
        }
        b.finish(interner).map_err(|e| ParseError::Unsupported {
            source_name: source.to_string(),
            message: e.to_string(),
        })
    }
}

/// `/proc/PID/status` fields in bytes or counts: `VmRSS`, `VmSize` (kB in the file) and
/// `Threads`.
pub fn parse_status(text: &str) -> Vec<(&'static str, Unit, u64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let num = |v: &str| {
            v.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        };
        match k {
            "VmRSS" => out.extend(num(v).map(|kb| ("rss", Unit::Bytes, kb * 1024))),
            "VmSize" => out.extend(num(v).map(|kb| ("vm_size", Unit::Bytes, kb * 1024))),
            "Threads" => out.extend(num(v).map(|n| ("threads", Unit::Count, n))),
            _ => {}
        }
    }
    out
}

/// The kind of an open fd from its `/proc/PID/fd/N` link target: `socket`, `pipe`, `anon`
/// (eventpoll, eventfd, timerfd, …) or `file`; with the socket's inode.
pub fn fd_kind(target: &str) -> (&'static str, Option<u64>) {
    let inode = |p: &str| {
        target
            .strip_prefix(p)
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
    };
    if target.starts_with("socket:[") {
        ("socket", inode("socket:["))
    } else if target.starts_with("pipe:[") {
        ("pipe", None)
    } else if target.starts_with("anon_inode:") {
        ("anon", None)
    } else {
        ("file", None)
    }
}

/// TCP state names by the kernel's hex code (`include/net/tcp_states.h`).
pub fn tcp_state_name(code: u8) -> &'static str {
    match code {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// `/proc/PID/net/tcp` or `tcp6` rows as (state code, socket inode).
pub fn parse_net_tcp(text: &str) -> Vec<(u8, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            let inode = f.get(9)?.parse().ok()?;
            Some((state, inode))
        })
        .collect()
}

/// The soft `Max open files` of `/proc/PID/limits` (`None` when unlimited or absent).
pub fn parse_open_files_limit(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_texts_parse() {
        let status = "Name:\tsrv\nVmSize:\t  1000 kB\nVmRSS:\t   512 kB\nThreads:\t7\n";
        assert_eq!(
            parse_status(status),
            vec![
                ("vm_size", Unit::Bytes, 1_024_000),
                ("rss", Unit::Bytes, 524_288),
                ("threads", Unit::Count, 7)
            ]
        );
        assert_eq!(fd_kind("socket:[12345]"), ("socket", Some(12345)));
        assert_eq!(fd_kind("pipe:[1]").0, "pipe");
        assert_eq!(fd_kind("anon_inode:[eventpoll]").0, "anon");
        assert_eq!(fd_kind("/tmp/x (deleted)").0, "file");
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:17BC 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:17BC 0100007F:D2F0 08 00000000:00000000 00:00000000 00000000  1000        0 4343 1\n";
        assert_eq!(parse_net_tcp(tcp), vec![(0x0A, 4242), (0x08, 4343)]);
        assert_eq!(tcp_state_name(8), "CLOSE_WAIT");
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(parse_open_files_limit(limits), Some(1024));
    }

    #[test]
    fn round_trips_and_names_bad_lines() {
        let mut s = ProcessSample {
            time_nanos: 1_764_064_500_000_000_000,
            pid: 42,
            command: "srv\nx".into(),
            metrics: Vec::new(),
        };
        s.push("rss", Unit::Bytes, 1 << 20);
        s.push("fds/socket", Unit::Count, 7);
        let text = s.to_text();
        let back = parse(text.as_bytes(), "a").unwrap();
        assert_eq!(back.metrics, s.metrics);
        assert_eq!(back.command, "srv x");
        assert_eq!(back.time_nanos, s.time_nanos);
        let bad = format!("{HEADER}\nrss bytes\n");
        let e = parse(bad.as_bytes(), "f").unwrap_err().to_string();
        assert!(
            e.contains("f: malformed leakdiff process sample at line 2"),
            "{e}"
        );
        let dup = format!("{HEADER}\nrss bytes 1\nrss bytes 2\n");
        assert!(parse(dup.as_bytes(), "f").is_err());
        assert!(parse(b"leakdiff process sample v2\n", "f").is_err());
    }
}
