//! Go goroutine text dumps: `/debug/pprof/goroutine?debug=2` (and `runtime.Stack(buf, true)`,
//! panic and fatal-error tracebacks, SIGQUIT dumps: anything before the first `goroutine N [...]:`
//! header is skipped) and the aggregated `?debug=1` form.
//!
//! In the model a goroutine is a sample of count 1 (`goroutine/count`) whose labels keep what the
//! dump says about it: `state` (status or wait reason), `wait_minutes`, `locked_to_thread`,
//! `created_by` (function and file:line of the `go` statement), `parent_goroutine` (Go ≥ 1.21),
//! `goroutine` (its id), `leaked` (Go ≥ 1.26: the runtime's GC proved it blocked forever),
//! `durable` and `synctest_bubble` (Go ≥ 1.25), and its pprof labels (Go 1.27 prints them after the
//! bracket: `goroutine 19 [select (no cases)] {handler: upload}:`). A debug=1 group is one sample
//! with its count and its pprof labels. Go 1.27's `goroutineleak` profile in its debug=1 form
//! (`goroutineleak profile: total N`) reads as groups of value type `goroutineleak/count`: every
//! goroutine in it was proven leaked.
//!
//! Malformed lines are skipped and counted in one warning; a goroutine header that cannot be read
//! is counted and named in a warning (its goroutine is not silently lost), and a dump whose headers
//! are mostly unreadable is an error; a text with no goroutine at all is an error.

use std::sync::OnceLock;

use regex::Regex;

use crate::formats::error::{ParseError, Position};
use crate::model::{
    Format, Interner, Label, LabelValue, Profile, ProfileBuilder, StackId, StrId, ValueType,
};

const FORMAT: &str = "goroutine dump";

/// One source position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Function, fully qualified.
    pub function: String,
    /// Source file.
    pub file: String,
    /// Line.
    pub line: u32,
}

/// One goroutine (debug=2) or one group of identical stacks (debug=1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Goroutine {
    /// Goroutine id (debug=2 only).
    pub id: Option<u64>,
    /// How many goroutines this stands for (1 for debug=2).
    pub count: i64,
    /// Status or wait reason (`chan receive`, `select`, `running`, …), without `(scan)`.
    pub state: String,
    /// Minutes blocked (`, N minutes`), when printed.
    pub wait_minutes: Option<i64>,
    /// `locked to thread`.
    pub locked: bool,
    /// Frames, innermost first.
    pub frames: Vec<Frame>,
    /// The `go` statement that started it.
    pub created_by: Option<Frame>,
    /// The goroutine that ran that `go` statement (Go ≥ 1.21).
    pub parent: Option<u64>,
    /// pprof labels (debug=1 `# labels:` lines; debug=2 `{key: value}` after the header's
    /// bracket, Go 1.27).
    pub labels: Vec<(String, String)>,
    /// `(leaked)`: the runtime's leak detector proved it can never run again (Go ≥ 1.26).
    pub leaked: bool,
    /// `(durable)`: blocked durably inside a synctest bubble (Go ≥ 1.25).
    pub durable: bool,
    /// `synctest bubble N`.
    pub bubble: Option<u64>,
}

/// A parsed dump, not yet interned.
#[derive(Clone, Debug, Default)]
pub struct Dump {
    /// The goroutines or groups, in file order.
    pub goroutines: Vec<Goroutine>,
    /// Lines that could not be read.
    pub skipped_lines: u64,
    /// Which form it was.
    pub aggregated: bool,
    /// A `goroutineleak` profile (debug=1): every goroutine listed is a proven leak.
    pub leak_profile: bool,
    /// Goroutine headers that could not be read: how many, and the first one.
    pub bad_headers: u64,
    /// The first unreadable header, with its line number.
    pub first_bad_header: Option<(u64, String)>,
    /// A debug=2 dump of exactly [`GO_DEBUG2_LIMIT`] bytes: cut where Go stops writing.
    pub cut_by_go: bool,
}

/// runtime/pprof writes a debug=2 goroutine dump into a buffer it doubles up to 64 MiB, and
/// stops there: a dump of exactly this size lacks the goroutines past the cut.
pub const GO_DEBUG2_LIMIT: usize = 64 << 20;

struct Res {
    header: Regex,
    location: Regex,
    created: Regex,
    labels: Regex,
    d1_group: Regex,
    d1_frame: Regex,
}

fn res() -> &'static Res {
    static RES: OnceLock<Res> = OnceLock::new();
    RES.get_or_init(|| Res {
        header: Regex::new(
            r"^goroutine (\d+)(?: gp=0x[0-9a-f]+ m=(?:\d+|nil)(?: mp=0x[0-9a-f]+)?)? \[",
        )
        .expect("static regex"),
        location: Regex::new(r"^\s+(.+):(\d+)(?: \+0x[0-9a-f]+)?(?: fp=.*)?$")
            .expect("static regex"),
        created: Regex::new(r"^created by (.+?)(?: in goroutine (\d+))?$").expect("static regex"),
        labels: Regex::new(r#""((?:[^"\\]|\\.)*)":"((?:[^"\\]|\\.)*)""#).expect("static regex"),
        d1_group: Regex::new(r"^(\d+) @(?: 0x[0-9a-f]+)*$").expect("static regex"),
        d1_frame: Regex::new(r"^#\s+0x[0-9a-f]+\s+(\S.*?)\+0x[0-9a-f]+\s+(.+):(\d+)$")
            .expect("static regex"),
    })
}

/// True when the text looks like a goroutine dump (debug=1, debug=2 or a traceback).
pub fn sniff(text: &[u8]) -> bool {
    let head = &text[..text.len().min(64 << 10)];
    let head = String::from_utf8_lossy(head);
    let start = head.trim_start();
    if start.starts_with("goroutine profile: total ")
        || start.starts_with("goroutineleak profile: total ")
    {
        return true;
    }
    head.lines()
        .take(400)
        .any(|l| res().header.is_match(l.trim_end_matches('\r')))
}

/// Parses a dump (already decompressed).
pub fn parse(text: &[u8], source: &str) -> Result<Dump, ParseError> {
    let len = text.len();
    let text = String::from_utf8_lossy(text);
    let start = text.trim_start();
    let dump = if start.starts_with("goroutine profile: total ") {
        parse_debug1(&text, false)
    } else if start.starts_with("goroutineleak profile: total ") {
        parse_debug1(&text, true)
    } else {
        let mut dump = parse_debug2(&text);
        dump.cut_by_go = len == GO_DEBUG2_LIMIT;
        dump
    };
    if dump.bad_headers > 0 && dump.bad_headers as usize >= dump.goroutines.len() {
        let (line, header) = dump.first_bad_header.clone().unwrap_or_default();
        return Err(ParseError::malformed(
            source,
            FORMAT,
            Position::Line(line),
            format!(
                "{} of {} goroutine headers cannot be read, the first: `{}`",
                dump.bad_headers,
                dump.bad_headers as usize + dump.goroutines.len(),
                clip(&header, 120)
            ),
        ));
    }
    if dump.goroutines.is_empty() {
        return Err(ParseError::malformed(
            source,
            FORMAT,
            Position::Line(1),
            "no goroutine found (expected `goroutine N [state]:` blocks or `goroutine profile: total N`)",
        ));
    }
    Ok(dump)
}

/// `func(args)` → `func`: cut at the `(` that opens the argument list closing the line.
fn function_of(line: &str) -> Option<&str> {
    let line = line.trim_end();
    if !line.ends_with(')') {
        return None;
    }
    let mut depth = 0i32;
    for (i, c) in line.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    let f = line[..i].trim_end();
                    return (!f.is_empty()).then_some(f);
                }
            }
            _ => {}
        }
    }
    None
}

fn location(line: &str) -> Option<(String, u32)> {
    let c = res().location.captures(line)?;
    Some((c[1].to_string(), c[2].parse().ok()?))
}

/// The rest of a debug=2 header after `goroutine N [`: the bracket's state, marks and notes, then
/// Go 1.27's labels: `chan send (leaked), 3 minutes, locked to thread] {handler: upload}:`.
/// `None` when it does not have that shape.
fn header(rest: &str) -> Option<Goroutine> {
    let rest = rest.strip_suffix(':')?;
    // The bracket closes at the last `]` before the labels (a wait reason has no `]`; a label
    // value may, inside its braces).
    let (bracket, after) = match rest.find("] {") {
        Some(i) if rest.ends_with('}') => (&rest[..i], Some(&rest[i + 2..])),
        _ => (rest.strip_suffix(']')?, None),
    };
    if bracket.contains(']') || bracket.contains('[') {
        return None;
    }
    let mut g = Goroutine {
        count: 1,
        ..Default::default()
    };
    for (i, part) in bracket.split(", ").enumerate() {
        if i == 0 {
            let mut state = part;
            loop {
                if let Some(s) = state.strip_suffix(" (scan)") {
                    state = s;
                } else if let Some(s) = state.strip_suffix(" (leaked)") {
                    g.leaked = true;
                    state = s;
                } else if let Some(s) = state.strip_suffix(" (durable)") {
                    g.durable = true;
                    state = s;
                } else {
                    break;
                }
            }
            if state.is_empty() {
                return None;
            }
            g.state = state.to_string();
        } else if let Some(m) = part.strip_suffix(" minutes") {
            g.wait_minutes = Some(m.trim().parse().ok()?);
        } else if part == "locked to thread" {
            g.locked = true;
        } else if let Some(b) = part.strip_prefix("synctest bubble ") {
            g.bubble = Some(b.trim().parse().ok()?);
        }
        // Other notes (future runtimes) are kept out of the state, not fatal.
    }
    if let Some(labels) = after {
        g.labels = header_labels(labels)?;
    }
    Some(g)
}

/// Go 1.27's header labels: `{key: value, key2: "quoted, value"}` (sorted by key; a key or value
/// is Go-quoted when it needs to be).
fn header_labels(text: &str) -> Option<Vec<(String, String)>> {
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let (key, after) = token(rest, ':')?;
        let after = after
            .strip_prefix(':')?
            .strip_prefix(' ')
            .unwrap_or(after.get(1..)?);
        let (value, after) = token(after, ',')?;
        out.push((key, value));
        rest = match after.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if after.is_empty() => after,
            None => return None,
        };
    }
    Some(out)
}

/// A bare word up to `stop`, or a Go-quoted string; and what follows it.
fn token(text: &str, stop: char) -> Option<(String, &str)> {
    if let Some(body) = text.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((out, &body[i + 1..])),
                '\\' => {
                    let (_, e) = chars.next()?;
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                }
                c => out.push(c),
            }
        }
        return None;
    }
    let end = text.find(stop).unwrap_or(text.len());
    let word = text[..end].trim();
    (!word.is_empty()).then(|| (word.to_string(), &text[end..]))
}

/// At most `n` characters of `s`.
fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn parse_debug2(text: &str) -> Dump {
    let re = res();
    let mut dump = Dump::default();
    let mut current: Option<Goroutine> = None;
    // A function line waiting for its location; a `created by` waiting for its location.
    let mut pending: Option<String> = None;
    let mut creator: Option<(String, Option<u64>)> = None;
    // Inside `[originating from goroutine N]:` sections, which are not this goroutine's stack.
    let mut ancestors = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if let Some(h) = re.header.captures(line) {
            if let Some(g) = current.take() {
                dump.goroutines.push(g);
            }
            let rest = &line[h.get(0).map_or(0, |m| m.end())..];
            match header(rest) {
                Some(mut g) => {
                    g.id = h[1].parse().ok();
                    current = Some(g);
                }
                None => {
                    // A header this parser cannot read: its goroutine is counted, not lost
                    // silently (named in the warning; mostly unreadable is an error).
                    dump.bad_headers += 1;
                    if dump.first_bad_header.is_none() {
                        dump.first_bad_header = Some((n as u64 + 1, line.to_string()));
                    }
                }
            }
            pending = None;
            creator = None;
            ancestors = false;
            continue;
        }
        let Some(g) = current.as_mut() else {
            continue; // preamble: panic message, registers, …
        };
        if line.trim().is_empty() {
            dump.goroutines.push(current.take().expect("current"));
            pending = None;
            creator = None;
            continue;
        }
        if ancestors {
            continue;
        }
        if line.starts_with("[originating from goroutine") {
            ancestors = true;
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let Some((file, l)) = location(line) else {
                if !line.contains("goroutine running on other thread") {
                    dump.skipped_lines += 1;
                }
                continue;
            };
            if let Some((function, parent)) = creator.take() {
                g.created_by = Some(Frame {
                    function,
                    file,
                    line: l,
                });
                g.parent = parent;
            } else if let Some(function) = pending.take() {
                g.frames.push(Frame {
                    function,
                    file,
                    line: l,
                });
            } else {
                dump.skipped_lines += 1;
            }
            continue;
        }
        if line.starts_with("...") && line.ends_with("...") {
            continue; // elided frames
        }
        if let Some(c) = re.created.captures(line) {
            creator = Some((
                c[1].to_string(),
                c.get(2).and_then(|m| m.as_str().parse().ok()),
            ));
            pending = None;
            continue;
        }
        match function_of(line) {
            Some(f) => {
                if pending.is_some() {
                    dump.skipped_lines += 1;
                }
                pending = Some(f.to_string());
            }
            None => dump.skipped_lines += 1,
        }
    }
    if let Some(g) = current.take() {
        dump.goroutines.push(g);
    }
    dump
}

fn parse_debug1(text: &str, leak_profile: bool) -> Dump {
    let re = res();
    let mut dump = Dump {
        aggregated: true,
        leak_profile,
        ..Default::default()
    };
    let mut current: Option<Goroutine> = None;
    for raw in text.lines().skip(1) {
        let line = raw.trim_end_matches('\r').trim();
        if line.is_empty() {
            continue;
        }
        if let Some(c) = re.d1_group.captures(line) {
            if let Some(g) = current.take() {
                dump.goroutines.push(g);
            }
            current = Some(Goroutine {
                count: c[1].parse().unwrap_or(0),
                leaked: leak_profile,
                ..Default::default()
            });
            continue;
        }
        let Some(g) = current.as_mut() else {
            dump.skipped_lines += 1;
            continue;
        };
        if let Some(rest) = line.strip_prefix("# labels:") {
            g.labels = re
                .labels
                .captures_iter(rest)
                .map(|c| (c[1].to_string(), c[2].to_string()))
                .collect();
        } else if let Some(c) = re.d1_frame.captures(line) {
            g.frames.push(Frame {
                function: c[1].to_string(),
                file: c[2].to_string(),
                line: c[3].parse().unwrap_or(0),
            });
        } else {
            dump.skipped_lines += 1;
        }
    }
    if let Some(g) = current.take() {
        dump.goroutines.push(g);
    }
    dump
}

impl Dump {
    /// Interns the dump: one sample per goroutine (or group), value type `goroutine/count`.
    pub fn into_profile(
        self,
        source: &str,
        interner: &mut Interner,
    ) -> Result<Profile, ParseError> {
        let kind = if self.leak_profile {
            "goroutineleak"
        } else {
            "goroutine"
        };
        let mut b = ProfileBuilder::new(Format::GoroutineText, vec![ValueType::new(kind, "count")]);
        let key = |i: &mut Interner, k: &str| i.intern(k);
        let (k_state, k_minutes, k_locked, k_created, k_parent, k_id) = (
            key(interner, "state"),
            key(interner, "wait_minutes"),
            key(interner, "locked_to_thread"),
            key(interner, "created_by"),
            key(interner, "parent_goroutine"),
            key(interner, "goroutine"),
        );
        let (k_leaked, k_durable, k_bubble) = (
            key(interner, "leaked"),
            key(interner, "durable"),
            key(interner, "synctest_bubble"),
        );
        let minutes = interner.intern("minutes");
        let mut labels: Vec<Label> = Vec::new();
        for g in &self.goroutines {
            let frames: Vec<_> = g
                .frames
                .iter()
                .rev()
                .map(|f| interner.symbol_frame(&f.function, &f.file, f.line))
                .collect();
            let stack = interner.stack_from_root(frames);
            labels.clear();
            let str_label = |i: &mut Interner, k: StrId, v: &str| Label {
                key: k,
                value: LabelValue::Str(i.intern(v)),
            };
            let num_label = |k: StrId, v: i64, unit: StrId| Label {
                key: k,
                value: LabelValue::Num { value: v, unit },
            };
            if !g.state.is_empty() {
                labels.push(str_label(interner, k_state, &g.state));
            }
            if let Some(m) = g.wait_minutes {
                labels.push(num_label(k_minutes, m, minutes));
            }
            if g.locked {
                labels.push(str_label(interner, k_locked, "true"));
            }
            if g.leaked {
                labels.push(str_label(interner, k_leaked, "true"));
            }
            if g.durable {
                labels.push(str_label(interner, k_durable, "true"));
            }
            if let Some(n) = g.bubble {
                labels.push(num_label(
                    k_bubble,
                    i64::try_from(n).unwrap_or(i64::MAX),
                    StrId::EMPTY,
                ));
            }
            if let Some(c) = &g.created_by {
                let text = format!("{} {}:{}", c.function, c.file, c.line);
                labels.push(str_label(interner, k_created, &text));
            }
            if let Some(p) = g.parent {
                labels.push(num_label(
                    k_parent,
                    i64::try_from(p).unwrap_or(i64::MAX),
                    StrId::EMPTY,
                ));
            }
            if let Some(id) = g.id {
                labels.push(num_label(
                    k_id,
                    i64::try_from(id).unwrap_or(i64::MAX),
                    StrId::EMPTY,
                ));
            }
            for (k, v) in &g.labels {
                let k = interner.intern(k);
                labels.push(str_label(interner, k, v));
            }
            let stack = if g.frames.is_empty() {
                StackId::ROOT
            } else {
                stack
            };
            b.add_sample(stack, &[g.count], &labels);
        }
        let meta = b.meta_mut();
        meta.source = source.to_string();
        meta.period_type = Some(ValueType::new(kind, "count"));
        meta.period = 1;
        meta.comments.push(if self.leak_profile {
            "goroutineleak profile, debug=1 (aggregated; every goroutine proven leaked)".to_string()
        } else if self.aggregated {
            "goroutine profile, debug=1 (aggregated)".to_string()
        } else {
            "goroutine dump, debug=2 (one sample per goroutine)".to_string()
        });
        if self.skipped_lines > 0 {
            meta.warnings
                .push(format!("{} unreadable line(s) skipped", self.skipped_lines));
        }
        if self.cut_by_go {
            meta.warnings.push(format!(
                "the dump is exactly 64 MiB, where Go's debug=2 writer stops: goroutines past the cut are missing ({} read); the debug=1 profile counts them all",
                self.goroutines.len()
            ));
        }
        if let Some((line, header)) = &self.first_bad_header {
            meta.warnings.push(format!(
                "{} goroutine(s) left out: their headers cannot be read (the first, line {line}: `{}`)",
                self.bad_headers,
                clip(header, 120)
            ));
        }
        b.finish(interner)
            .map_err(|e| ParseError::malformed(source, FORMAT, Position::Line(0), e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1d\n\ngoroutine 7 [chan receive, 12 minutes, locked to thread]:\nmain.(*T).wait[...](0xc000010000, {0x1, 0x2})\n\t/src/main.go:95\nmain.worker(...)\n\t/src/main.go:40 +0x25\ncreated by main.spawn in goroutine 1\n\t/src/main.go:30 +0x4f\n\ngoroutine 8 [select (scan)]:\nmain.loop()\r\n\tC:/Go/src/main.go:5 +0x1\r\n";

    #[test]
    fn debug2_blocks_states_minutes_creators() {
        let d = parse(DUMP.as_bytes(), "t").unwrap();
        assert_eq!(d.goroutines.len(), 3);
        let g = &d.goroutines[1];
        assert_eq!(g.id, Some(7));
        assert_eq!(g.state, "chan receive");
        assert_eq!(g.wait_minutes, Some(12));
        assert!(g.locked);
        assert_eq!(g.frames[0].function, "main.(*T).wait[...]");
        assert_eq!(g.frames[0].line, 95);
        assert_eq!(g.frames[1].function, "main.worker");
        assert_eq!(g.created_by.as_ref().unwrap().function, "main.spawn");
        assert_eq!(g.parent, Some(1));
        let g = &d.goroutines[2];
        assert_eq!(g.state, "select");
        assert_eq!(g.frames[0].file, "C:/Go/src/main.go");
        assert_eq!(d.skipped_lines, 0);
    }

    #[test]
    fn debug1_groups_and_labels() {
        let text = "goroutine profile: total 6\n5 @ 0x46d0ae 0x4068dc\n#\t0x4db4e4\tmain.blockedReceiver+0x24\t/src/gogen/main.go:95\n\n1 @ 0x46d0ae\n# labels: {\"worker\":\"labeled\"}\n#\t0x4dc364\tmain.blockedReceiver+0x24\t/src/gogen/main.go:95\n";
        let d = parse(text.as_bytes(), "t").unwrap();
        assert!(d.aggregated);
        assert_eq!(d.goroutines.len(), 2);
        assert_eq!(d.goroutines[0].count, 5);
        assert_eq!(
            d.goroutines[1].labels,
            vec![("worker".into(), "labeled".into())]
        );
        assert_eq!(d.goroutines[0].frames[0].function, "main.blockedReceiver");
    }

    #[test]
    fn garbage_is_skipped_or_an_error_never_a_panic() {
        assert!(parse(b"hello\nworld\n", "t").is_err());
        let d = parse(b"goroutine 1 [running]:\n)(\n\tnot a location\n(((\n", "t").unwrap();
        assert_eq!(d.goroutines.len(), 1);
        assert!(d.skipped_lines >= 2);
    }
}
