//! Units: parsing `10MB`/`1.5GiB`/`5%` thresholds and formatting values for people.
//!
//! May import: nothing else in the crate.

use std::fmt;

/// A threshold given either as an absolute amount (in the value's unit) or a percentage.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Threshold {
    /// Absolute amount (bytes for byte values, a count otherwise).
    Absolute(i64),
    /// Percent, 0–∞.
    Percent(f64),
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Absolute(v) => write!(f, "{v}"),
            Threshold::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Parses `1048576`, `512KiB`, `10MB`, `1.5G`, `2gib` (decimal SI: kB/MB/GB are 1000-based;
/// KiB/MiB/GiB and bare K/M/G are 1024-based, as pprof prints them).
pub fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (try 10MB, 512KiB, 1048576)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{s}` (use B, KB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    let v = value * mult;
    if !v.is_finite() || v.abs() > i64::MAX as f64 {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(v.round() as i64)
}

/// Parses a duration: a number with `ms`, `s`, `m`, `h` or `d` (`30s`, `1.5h`, `500ms`), into
/// milliseconds. A bare number is seconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let not_duration = || format!("`{s}` is not a duration (try 30s, 5m, 1h, 1h30m)");
    if t.is_empty() {
        return Err(not_duration());
    }
    // Go's form: one or more NUMBER UNIT parts (`1h30m`, `2m30.5s`); a bare number is seconds.
    let mut rest = t;
    let mut ms = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let v: f64 = rest[..n].parse().map_err(|_| not_duration())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (unit, after) = rest.split_at(u);
        let factor = match unit.trim() {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "" if after.is_empty() && ms == 0.0 => 1e3,
            "s" | "sec" => 1e3,
            "m" | "min" => 60e3,
            "h" => 3600e3,
            "d" => 86400e3,
            "" => return Err(not_duration()),
            other => {
                return Err(format!(
                    "unknown duration unit `{other}` in `{s}` (ns, us, ms, s, m, h, d)"
                ))
            }
        };
        ms += v * factor;
        rest = after;
    }
    if !(1.0..=1e15).contains(&ms) {
        return Err(format!("duration `{s}` is out of range"));
    }
    Ok(ms.round() as u64)
}

/// Parses a rate per second: an amount (a size like `1MB`, or a count like `10`), optionally over
/// a duration (`/s`, `/m`, `/h`, `/30s`): `1MB/s`, `10/s`, `5/m`, `64KiB/30s`. A bare amount is per
/// second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let (amount, per) = s.trim().split_once('/').unwrap_or((s.trim(), "s"));
    let amount = match amount.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        _ => parse_size(amount)
            .map_err(|_| format!("`{s}` is not a rate (try 1MB/s, 10/s, 5/m)"))?
            as f64,
    };
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
        per.to_string()
    } else {
        format!("1{per}")
    };
    let ms = parse_duration_ms(&per)?;
    if amount < 0.0 {
        return Err(format!("`{s}` must not be negative"));
    }
    Ok(amount * 1000.0 / ms as f64)
}

/// Parses a threshold: `5%` or a size (see [`parse_size`]).
pub fn parse_threshold(s: &str) -> Result<Threshold, String> {
    let t = s.trim();
    if let Some(p) = t.strip_suffix('%') {
        let v: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a percentage"))?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("`{s}` must be a non-negative percentage"));
        }
        return Ok(Threshold::Percent(v));
    }
    let v = parse_size(t)?;
    if v < 0 {
        return Err(format!("`{s}` must not be negative"));
    }
    Ok(Threshold::Absolute(v))
}

/// A rate given per hour, shown in the unit that fits the span it was measured over: per second
/// under two minutes, per minute under two hours, per hour under two days, else per day. With no
/// span (snapshots taken at one instant) there is no rate.
pub fn rate_over(per_hour: f64, unit: &str, span_hours: f64) -> String {
    if span_hours.is_nan() || span_hours <= 0.0 {
        return "no span".into();
    }
    let (factor, per) = match span_hours * 3600.0 {
        s if s < 120.0 => (1.0 / 3600.0, "s"),
        s if s < 7200.0 => (1.0 / 60.0, "min"),
        s if s < 48.0 * 3600.0 => (1.0, "h"),
        _ => (24.0, "d"),
    };
    let v = per_hour * factor;
    let s = if v.is_finite() && unit != "bytes" && v != 0.0 && v.abs() < 10.0 {
        // A slow count (810 mappings an hour is 0.23 a second) keeps its first digits.
        if v.abs() < 1.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.1}")
        }
    } else {
        human_f64(v, unit)
    };
    if v > 0.0 {
        format!("+{s}/{per}")
    } else {
        format!("{s}/{per}")
    }
}

/// [`human`] of a computed value, rounded; `huge` when it is not finite.
pub fn human_f64(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "huge".into();
    }
    human(
        v.round().clamp(i64::MIN as f64, i64::MAX as f64) as i64,
        unit,
    )
}

/// The binary prefix a byte count is shown in: its divisor and unit (`(1048576, "MiB")` for
/// 83 MiB), up to PiB.
pub fn binary_prefix(bytes: f64) -> (f64, &'static str) {
    const STEPS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut scale = 1.0;
    let mut i = 0;
    while bytes / scale >= 1024.0 && i + 1 < STEPS.len() {
        scale *= 1024.0;
        i += 1;
    }
    (scale, STEPS[i])
}

/// Formats a value with a binary-prefixed unit: `83.20MiB`, `-512B`, `1.5k` for counts.
pub fn human(value: i64, unit: &str) -> String {
    let neg = value < 0;
    let mag = value.unsigned_abs() as f64;
    let sign = if neg { "-" } else { "" };
    if unit == "bytes" {
        match binary_prefix(mag) {
            (_, "B") => format!("{sign}{}B", value.unsigned_abs()),
            (scale, prefix) => format!("{sign}{:.2}{prefix}", mag / scale),
        }
    } else {
        let (v, s) = if mag >= 1e9 {
            (mag / 1e9, "G")
        } else if mag >= 1e6 {
            (mag / 1e6, "M")
        } else if mag >= 1e4 {
            (mag / 1e3, "k")
        } else {
            return format!("{value}");
        };
        format!("{sign}{v:.2}{s}")
    }
}

/// Formats a percentage with a sign, or `n/a`.
pub fn percent(p: Option<f64>) -> String {
    match p {
        Some(v) if v.is_finite() => format!("{v:+.1}%"),
        _ => "n/a".to_string(),
    }
}

/// pprof's `measurement.ScaledLabel` for byte values shown in a fixed unit (`B`, `kB`, `MB`, `GB`,
/// `TB`, `PB`; 1024-based): two decimals, a trailing `.00` dropped, zero shown as `0`. Used to compare
/// leakdiff's exact numbers with what `go tool pprof -top` printed. `None` for an unknown unit.
pub fn pprof_scaled(value: i64, unit: &str) -> Option<String> {
    let div: f64 = match unit {
        "B" => 1.0,
        "kB" => 1024.0,
        "MB" => 1048576.0,
        "GB" => 1073741824.0,
        "TB" => 1099511627776.0,
        "PB" => 1125899906842624.0,
        _ => return None,
    };
    let s = format!("{:.2}", value as f64 / div);
    let s = s.strip_suffix(".00").unwrap_or(&s).to_string();
    if s == "0" || s == "-0" {
        return Some("0".to_string());
    }
    Some(format!("{s}{unit}"))
}

/// Formats nanoseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn rfc3339_utc(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// [`rfc3339_utc`] with milliseconds (`2026-11-25T00:44:17.412Z`), for times that differ by
/// less than a second.
pub fn rfc3339_utc_millis(ns: i64) -> String {
    let s = rfc3339_utc(ns);
    let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
    format!("{}.{ms:03}Z", &s[..s.len() - 1])
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a point in time into nanoseconds since the epoch: RFC 3339 (`2026-12-01T10:00:00Z`,
/// `2026-12-01T10:00:00.5+01:00`, `2026-12-01 10:00`; no zone means UTC), a date (`2026-12-01`,
/// its midnight UTC), or a duration ago (`24h`, `7d`: `now_ns` less that).
pub fn parse_time(s: &str, now_ns: i64) -> Result<i64, String> {
    let t = s.trim();
    let bad = || {
        format!("`{s}` is not a time (try 2026-12-01, 2026-12-01T10:00:00Z, or 24h for a day ago)")
    };
    if t.len() < 10 || t.as_bytes().get(4) != Some(&b'-') {
        return parse_duration_ms(t)
            .map(|ms| now_ns.saturating_sub((ms as i64).saturating_mul(1_000_000)))
            .map_err(|_| bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = t.get(r).ok_or_else(bad)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if t.as_bytes()[7] != b'-' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut nanos = 0i64;
    let rest = &t[10..];
    if !rest.is_empty() {
        let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(bad)?;
        let b = rest.as_bytes();
        let two = |i: usize| -> Result<i64, String> {
            match (b.get(i), b.get(i + 1)) {
                (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                    Ok(i64::from(x - b'0') * 10 + i64::from(y - b'0'))
                }
                _ => Err(bad()),
            }
        };
        let (h, mi) = (two(0)?, two(3)?);
        if b.get(2) != Some(&b':') || h > 23 || mi > 59 {
            return Err(bad());
        }
        let mut at = 5;
        let mut sec = 0;
        if b.get(at) == Some(&b':') {
            sec = two(at + 1)?;
            if sec > 60 {
                return Err(bad());
            }
            at += 3;
            if b.get(at) == Some(&b'.') {
                at += 1;
                let start = at;
                while b.get(at).is_some_and(|c| c.is_ascii_digit()) {
                    at += 1;
                }
                let frac = &rest[start..at];
                if frac.is_empty() {
                    return Err(bad());
                }
                let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
                nanos = digits.parse().map_err(|_| bad())?;
            }
        }
        secs += h * 3600 + mi * 60 + sec;
        let zone = &rest[at..];
        match zone {
            "" | "Z" | "z" => {}
            _ => {
                let zb = zone.as_bytes();
                let sign = match zb[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return Err(bad()),
                };
                let zh: i64 = zone
                    .get(1..3)
                    .and_then(|x| x.parse().ok())
                    .ok_or_else(bad)?;
                let zm: i64 = zone
                    .get(4..6)
                    .and_then(|x| x.parse().ok())
                    .ok_or_else(bad)?;
                if zone.len() != 6 || zb[3] != b':' {
                    return Err(bad());
                }
                secs -= sign * (zh * 3600 + zm * 60);
            }
        }
    }
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// Compares paths with runs of digits as numbers (`snap-9` before `snap-10`).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..na], &b[..nb]);
                let ta = da.iter().skip_while(|c| **c == b'0').count();
                let tb = db.iter().skip_while(|c| **c == b'0').count();
                let ord = ta
                    .cmp(&tb)
                    .then_with(|| da[na - ta..].cmp(&db[nb - tb..]))
                    .then(na.cmp(&nb));
                if ord.is_ne() {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// `s` with control characters (C0 but tab and newline, DEL, C1) written as `\x1b`-style escapes,
/// so a symbol name cannot move the cursor, retitle the window or hide text in a terminal.
pub fn term_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            o.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            o.push(c);
        }
    }
    std::borrow::Cow::Owned(o)
}

/// A writer that passes text through [`term_safe`]: for outputs meant for a terminal that hold
/// names from the inputs (they never carry escape sequences of their own).
pub struct TermSafe<W>(pub W);

impl<W: std::io::Write> std::io::Write for TermSafe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(term_safe(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A duration in seconds as a short Go-style string: `45s`, `3m20s`, `2h5m`.
pub fn format_duration_s(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_round_trip() {
        let now = 1_764_633_600_000_000_000; // 2025-12-02T00:00:00Z
        assert_eq!(rfc3339_utc(now), "2025-12-02T00:00:00Z");
        assert_eq!(parse_time("2025-12-02", 0), Ok(now));
        assert_eq!(parse_time("2025-12-02T00:00:00Z", 0), Ok(now));
        assert_eq!(parse_time("2025-12-02 01:00+01:00", 0), Ok(now));
        assert_eq!(parse_time("2025-12-01T23:30:00-00:30", 0), Ok(now));
        assert_eq!(
            parse_time("2025-12-02T00:00:00.5Z", 0),
            Ok(now + 500_000_000)
        );
        assert_eq!(parse_time("24h", now), Ok(now - 86_400_000_000_000));
        assert_eq!(parse_time("1970-01-01", 0), Ok(0));
        for ns in [0, now, 951_782_400_000_000_000 /* 2000-02-29 */] {
            assert_eq!(parse_time(&rfc3339_utc(ns), 0), Ok(ns));
        }
        for bad in [
            "2025-13-01",
            "2025-12-02T25:00",
            "yesterday",
            "2025-12-02Tnoon",
            "2025-12-02T10:00+1",
        ] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_rate("1MB/s"), Ok(1e6));
        assert_eq!(parse_rate("10/s"), Ok(10.0));
        assert_eq!(parse_rate("6/m"), Ok(0.1));
        assert_eq!(parse_rate("64KiB/32s"), Ok(2048.0));
        assert_eq!(parse_rate("3"), Ok(3.0));
        assert_eq!(parse_rate("0.2/s"), Ok(0.2));
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("1.5h"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("2"), Ok(2_000));
        assert!(parse_duration_ms("0s").is_err());
        assert!(parse_duration_ms("5 parsecs").is_err());
        // Go's composite form, as pprof and Go programs write durations.
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("2m30.5s"), Ok(150_500));
        assert_eq!(parse_duration_ms("1500us"), Ok(2));
        assert!(parse_duration_ms("1h30").is_err());
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("h").is_err());
    }

    #[test]
    fn sizes_parse_with_si_and_binary_units() {
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("3 furlongs").is_err());
    }

    #[test]
    fn thresholds_are_bytes_or_percent() {
        assert_eq!(parse_threshold("5%"), Ok(Threshold::Percent(5.0)));
        assert_eq!(parse_threshold("1KiB"), Ok(Threshold::Absolute(1024)));
        assert!(parse_threshold("-5%").is_err());
    }

    #[test]
    fn pprof_formatting_matches_its_top_output() {
        assert_eq!(pprof_scaled(87241216, "MB").unwrap(), "83.20MB");
        assert_eq!(pprof_scaled(1048576, "MB").unwrap(), "1MB");
        assert_eq!(pprof_scaled(-524288, "MB").unwrap(), "-0.50MB");
        assert_eq!(pprof_scaled(0, "GB").unwrap(), "0");
    }

    #[test]
    fn terminal_text_has_no_control_characters() {
        assert_eq!(term_safe("main.f"), "main.f");
        assert_eq!(term_safe("a\x1b[2Jb\u{9b}c\td\n"), "a\\x1b[2Jb\\x9bc\td\n");
        let mut out = Vec::new();
        std::io::Write::write_all(&mut TermSafe(&mut out), "x\x07y".as_bytes()).unwrap();
        assert_eq!(out, b"x\\x07y");
    }

    #[test]
    fn short_durations() {
        assert_eq!(format_duration_s(4.4), "4s");
        assert_eq!(format_duration_s(200.0), "3m20s");
        assert_eq!(format_duration_s(7500.0), "2h05m");
    }
}
