//! jemalloc ≥ 4 heap profiles (`heap_v2/<rate>`, the per-thread "threaded" format written by
//! `prof.dump`, `prof_gdump` and at exit), read as jeprof reads them.
//!
//! Each `@` backtrace is unsampled on its own `t*` line with jeprof's Poisson formula
//! (`scale = 1 / (1 - exp(-(bytes/objs)/rate))`) before anything is summed: jemalloc 5.3 writes
//! deliberately pre-biased numbers that only this per-stack formula turns back into its unbiased
//! totals. Per-thread lines and the header totals are ignored, like jeprof's default view.
//! Return addresses of callers are moved back into the call (`-1`, all but the leaf), like jeprof's
//! `FixCallerAddresses`. Frames inside the allocator's own shared object (found through
//! `MAPPED_LIBRARIES`) are cut from the leaf end; once symbolized, jeprof's list of allocator
//! function names is applied too (as `drop_frames`).

use rustc_hash::FxHashMap;

use crate::formats::error::{ParseError, Position};
use crate::formats::pprof::legacy::{assign_mappings, clip, parse_mappings, Builder, MappedRange};
use crate::formats::pprof::schema;

const FORMAT: &str = "jemalloc heap_v2";

/// jeprof's `RemoveUninterestingFrames` list for heap profiles (plus the `_` Mach-O variants), the
/// internals of jemalloc itself (also when linked statically with a `je_`/`_rjem_` prefix), and
/// Rust's global-allocator shims.
pub const ALLOCATOR_FRAMES: &str = concat!(
    r"_?(calloc|cfree|malloc|newImpl|void\* newImpl|free|memalign|posix_memalign|aligned_alloc|",
    r"pvalloc|valloc|realloc|mallocx|rallocx|xallocx|dallocx|sdallocx|sdallocx_noflags|tc_calloc|",
    r"tc_cfree|tc_malloc|tc_free|tc_memalign|tc_posix_memalign|tc_pvalloc|tc_valloc|tc_realloc|",
    r"tc_new|tc_delete|tc_newarray|tc_deletearray|tc_new_nothrow|tc_newarray_nothrow|do_malloc|",
    r"::do_malloc|::do_malloc_or_cpp_alloc|DoSampledAllocation|simple_alloc::allocate|",
    r"__malloc_alloc_template::allocate|__builtin_delete|__builtin_new|__builtin_vec_delete|",
    r"__builtin_vec_new|operator new|operator new\[\]|malloc_zone_malloc|malloc_zone_calloc|",
    r"malloc_zone_valloc|malloc_zone_realloc|malloc_zone_memalign|malloc_zone_free|",
    r"__start_google_malloc|__stop_google_malloc|__start_malloc_hook|__stop_malloc_hook)|",
    r".*TCMalloc.*|tcmalloc::.*|",
    r"(_rjem_)?(je_)?(prof_backtrace(_impl)?|prof_tctx_create|prof_alloc_prep|imalloc(_body)?|",
    r"ialloc.*|malloc_default|je_malloc|_rjem_malloc|_rjem_calloc|_rjem_realloc|_rjem_mallocx|",
    r"_rjem_rallocx)|",
    r"__rust_alloc|__rust_alloc_zeroed|__rust_realloc|__rg_alloc|__rg_alloc_zeroed|__rg_realloc|",
    r"__rdl_alloc|__rdl_alloc_zeroed|__rdl_realloc"
);

/// True when the bytes start like a jemalloc `heap_v2` profile.
pub fn sniff(text: &[u8]) -> bool {
    text.starts_with(b"heap_v2/")
}

/// True for the shared objects whose frames are allocator internals.
pub fn is_allocator_module(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.starts_with("libjemalloc") || base.starts_with("libtcmalloc")
}

/// jeprof's `AdjustSamples` for sampling algorithm 2, in floating point.
pub fn unsample(objs: u64, bytes: u64, rate: u64) -> (f64, f64) {
    let (n, s) = (objs as f64, bytes as f64);
    if objs == 0 || rate == 0 {
        return (n, s);
    }
    let ratio = (s / n) / rate as f64;
    let scale = 1.0 / (1.0 - (-ratio).exp());
    if !scale.is_finite() {
        return (n, s);
    }
    (n * scale, s * scale)
}

struct Stack {
    addrs: std::ops::Range<usize>,
    /// Unsampled (inuse objects, inuse bytes, alloc objects, alloc bytes).
    values: [f64; 4],
}

/// Parses a `heap_v2` profile (already decompressed) into wire structs.
pub fn to_schema(text: &[u8], source: &str) -> Result<schema::Profile, ParseError> {
    let err = |line: u64, m: String| ParseError::malformed(source, FORMAT, Position::Line(line), m);
    let mut lines = text
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l));
    let (_, header) = lines.next().ok_or_else(|| err(1, "empty input".into()))?;
    let header = trim(header);
    let rate: u64 = header
        .strip_prefix(b"heap_v2/")
        .and_then(|r| std::str::from_utf8(r).ok())
        .and_then(|r| r.trim().parse().ok())
        .ok_or_else(|| {
            err(
                1,
                format!(
                    "header is not `heap_v2/<rate>`: `{}`",
                    clip(&String::from_utf8_lossy(header))
                ),
            )
        })?;

    let mut addrs: Vec<u64> = Vec::new();
    let mut stacks: Vec<Stack> = Vec::new();
    let mut current: Option<std::ops::Range<usize>> = None;
    let mut has_accum = false;
    let mut maps_at: Option<usize> = None;
    let mut offset = header.len() + 1;
    for (no, raw) in lines.by_ref() {
        let line_start = offset;
        offset += raw.len() + 1;
        let line = trim(raw);
        if line.is_empty() {
            continue;
        }
        if line.starts_with(b"MAPPED_LIBRARIES:") || line.starts_with(b"--- Memory map:") {
            maps_at = Some(line_start + raw.len() + 1);
            break;
        }
        if let Some(rest) = line.strip_prefix(b"@") {
            let start = addrs.len();
            for tok in rest.split(|&b| b == b' ' || b == b'\t') {
                if tok.is_empty() {
                    continue;
                }
                let hex = tok
                    .strip_prefix(b"0x")
                    .or_else(|| tok.strip_prefix(b"0X"))
                    .unwrap_or(tok);
                let a = parse_hex(hex).ok_or_else(|| {
                    err(
                        no,
                        format!("bad address `{}`", clip(&String::from_utf8_lossy(tok))),
                    )
                })?;
                // jeprof's FixCallerAddresses: every frame but the leaf is a return address.
                addrs.push(if addrs.len() == start {
                    a
                } else {
                    a.wrapping_sub(1)
                });
            }
            if addrs.len() == start {
                return Err(err(no, "backtrace with no addresses".into()));
            }
            current = Some(start..addrs.len());
            continue;
        }
        if line.first() == Some(&b't') {
            let (thread, counts) = parse_counts(line).ok_or_else(|| {
                err(
                    no,
                    format!(
                        "expected `tN: objs: bytes [objs: bytes]`, found `{}`",
                        clip(&String::from_utf8_lossy(line))
                    ),
                )
            })?;
            // Header lines (before the first `@`) and per-thread lines are not used.
            if thread != b"*" {
                continue;
            }
            let Some(range) = current.take() else {
                continue;
            };
            let (n1, s1) = unsample(counts[0], counts[1], rate);
            let (n2, s2) = unsample(counts[2], counts[3], rate);
            has_accum |= counts[2] != 0 || counts[3] != 0;
            stacks.push(Stack {
                addrs: range,
                values: [n1, s1, n2, s2],
            });
            continue;
        }
        return Err(err(
            no,
            format!(
                "expected `@ addresses` or a `tN:` count line, found `{}`",
                clip(&String::from_utf8_lossy(line))
            ),
        ));
    }
    let maps: Vec<MappedRange> = match maps_at {
        Some(at) => {
            let rest = String::from_utf8_lossy(&text[at.min(text.len())..]);
            parse_mappings(rest.lines())
        }
        None => Vec::new(),
    };
    build(rate, &addrs, &stacks, &maps, has_accum, source)
}

fn build(
    rate: u64,
    addrs: &[u64],
    stacks: &[Stack],
    maps: &[MappedRange],
    has_accum: bool,
    source: &str,
) -> Result<schema::Profile, ParseError> {
    let mut b = Builder::new();
    let pt = schema::ValueType {
        r#type: b.str("space"),
        unit: b.str("bytes"),
    };
    b.p.period_type = Some(pt);
    b.p.period = i64::try_from(rate).map_err(|_| {
        ParseError::malformed(
            source,
            FORMAT,
            Position::Line(1),
            "sampling rate out of range",
        )
    })?;
    let types: &[(&str, &str)] = if has_accum {
        &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ]
    } else {
        &[("inuse_objects", "count"), ("inuse_space", "bytes")]
    };
    for (t, u) in types {
        let vt = schema::ValueType {
            r#type: b.str(t),
            unit: b.str(u),
        };
        b.p.sample_type.push(vt);
    }
    b.p.default_sample_type = b.str("inuse_space");
    b.p.drop_frames = b.str(ALLOCATOR_FRAMES);
    let comment = b.str(&format!(
        "jemalloc heap_v2, one sample per {rate} bytes, unsampled per stack as jeprof does"
    ));
    b.p.comment.push(comment);

    // Which mappings are the allocator's own shared object.
    let allocator: Vec<bool> = maps.iter().map(|m| is_allocator_module(&m.path)).collect();
    let in_allocator = |a: u64| {
        maps.iter()
            .position(|m| a >= m.start && a < m.limit)
            .is_some_and(|i| allocator[i])
    };
    let mut memo: FxHashMap<u64, bool> = FxHashMap::default();
    for s in stacks {
        let mut frames = &addrs[s.addrs.clone()];
        // Cut allocator frames at the leaf end (but never the whole stack).
        let cut = frames
            .iter()
            .take_while(|&&a| *memo.entry(a).or_insert_with(|| in_allocator(a)))
            .count();
        if cut < frames.len() {
            frames = &frames[cut..];
        }
        let location_id = frames.iter().map(|&a| b.location(a, None)).collect();
        let value = if has_accum {
            vec![
                round(s.values[2]),
                round(s.values[3]),
                round(s.values[0]),
                round(s.values[1]),
            ]
        } else {
            vec![round(s.values[0]), round(s.values[1])]
        };
        b.p.sample.push(schema::Sample {
            location_id,
            value,
            label: Vec::new(),
        });
    }
    assign_mappings(&mut b, maps);
    Ok(b.p)
}

fn round(v: f64) -> i64 {
    if v.is_finite() {
        v.round() as i64
    } else {
        0
    }
}

fn trim(l: &[u8]) -> &[u8] {
    let start = l
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(l.len());
    let end = l
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &l[start..end.max(start)]
}

fn parse_hex(h: &[u8]) -> Option<u64> {
    if h.is_empty() || h.len() > 16 {
        return None;
    }
    let mut v = 0u64;
    for &c in h {
        let d = (c as char).to_digit(16)?;
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// Parses `tID: objs: bytes [objs: bytes]` (ID is `*` or a number; a thread name may follow).
fn parse_counts(line: &[u8]) -> Option<(&[u8], [u64; 4])> {
    let rest = line.strip_prefix(b"t")?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let thread = &rest[..colon];
    if thread != b"*" && (thread.is_empty() || !thread.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let mut nums = [0u64; 4];
    let mut it = rest[colon + 1..].iter().copied().peekable();
    let separators: [&[u8]; 4] = [b":", b"[", b":", b"]"];
    for (i, sep) in separators.iter().enumerate() {
        while it.peek().is_some_and(|b| *b == b' ' || *b == b'\t') {
            it.next();
        }
        let mut digits = 0;
        let mut v: u64 = 0;
        while let Some(d) = it.peek().and_then(|b| (*b as char).to_digit(10)) {
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
            digits += 1;
            it.next();
        }
        if digits == 0 {
            return None;
        }
        nums[i] = v;
        while it.peek().is_some_and(|b| *b == b' ' || *b == b'\t') {
            it.next();
        }
        if it.next()? != sep[0] {
            return None;
        }
    }
    Some((thread, nums))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jeprof_formula() {
        // One 1 KiB object sampled at 512 KiB: scale = 1/(1-exp(-1/512)) ≈ 512.5.
        let (n, s) = unsample(1, 1024, 524288);
        assert!(
            (n - 512.5).abs() < 0.01 && (s - 524800.2).abs() < 0.5,
            "{n} {s}"
        );
        assert_eq!(unsample(0, 0, 4096), (0.0, 0.0));
    }

    #[test]
    fn counts_lines() {
        assert_eq!(
            parse_counts(b"t*: 13: 6688 [0: 0]"),
            Some((&b"*"[..], [13, 6688, 0, 0]))
        );
        assert_eq!(
            parse_counts(b"t12: 1: 2 [3: 4] worker-1"),
            Some((&b"12"[..], [1, 2, 3, 4]))
        );
        assert_eq!(parse_counts(b"t1: 1: 2 [3 4]"), None);
        assert_eq!(parse_counts(b"tx: 1: 2 [3: 4]"), None);
        assert_eq!(parse_counts(b"t1: 99999999999999999999: 2 [3: 4]"), None);
    }

    #[test]
    fn allocator_frames_are_cut_and_callers_adjusted() {
        let text = b"heap_v2/1\n  t*: 1: 16 [0: 0]\n@ 0x1010 0x2010 0x2020\n  t*: 1: 16 [0: 0]\n  t0: 1: 16 [0: 0]\n\nMAPPED_LIBRARIES:\n00001000-00002000 r-xp 00000000 00:00 0 /usr/lib/libjemalloc.so.2\n00002000-00003000 r-xp 00000000 00:00 0 /bin/app\n";
        let p = to_schema(text, "t").unwrap();
        assert_eq!(p.sample.len(), 1);
        let addrs: Vec<u64> = p.sample[0]
            .location_id
            .iter()
            .map(|id| p.location[*id as usize - 1].address)
            .collect();
        assert_eq!(addrs, vec![0x200f, 0x201f]);
        assert_eq!(p.sample[0].value, vec![1, 16]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = to_schema(b"heap_v2/4096\n@ 0xzz\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = to_schema(b"heap_v2/x\n", "f").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
