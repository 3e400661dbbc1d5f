//! The legacy `heap profile:` text family as google/pprof reads it (legacy_profile.go): Go
//! `heap/N`, `heap_v2`/`heapz_v2`, gperftools `heapprofile`, tcmalloc `growth`/`growthz` and
//! `fragmentation`. Values are unsampled with pprof's formula; every address is decremented by one;
//! the allocator frames pprof drops are set as drop_frames. Go's `#\t0xpc\tfunc+0xoff\tfile:line`
//! comments, which pprof ignores, are used to symbolize frames when present.

use std::sync::OnceLock;

use regex::Regex;
use rustc_hash::FxHashMap;

use super::schema;
use crate::formats::error::{ParseError, Position};
use crate::model::{Format, Interner, Profile};

const FORMAT: &str = "legacy heap profile";

/// pprof's allocator frames (`allocRxStr` in legacy_profile.go), dropped from legacy heap stacks.
const ALLOC_RX: &str = concat!(
    r"calloc|cfree|malloc|free|memalign|do_memalign|(__)?posix_memalign|pvalloc|valloc|realloc|",
    r"tcmalloc::.*|tc_calloc|tc_cfree|tc_malloc|tc_free|tc_memalign|tc_posix_memalign|tc_pvalloc|",
    r"tc_valloc|tc_realloc|tc_new|tc_delete|tc_newarray|tc_deletearray|tc_new_nothrow|",
    r"tc_newarray_nothrow|malloc_zone_malloc|malloc_zone_calloc|malloc_zone_valloc|",
    r"malloc_zone_realloc|malloc_zone_memalign|malloc_zone_free|runtime\..*|BaseArena::.*|",
    r"(::)?do_malloc_no_errno|(::)?do_malloc_pages|(::)?do_malloc|DoSampledAllocation|",
    r"MallocedMemBlock::MallocedMemBlock|_M_allocate|__builtin_(vec_)?delete|__builtin_(vec_)?new|",
    r"__gnu_cxx::new_allocator::allocate|__libc_malloc|__malloc_alloc_template::allocate|allocate|",
    r"cpp_alloc|operator new(\[\])?|simple_alloc::allocate"
);
/// Frames kept even though they match [`ALLOC_RX`] (`allocSkipRxStr`).
const ALLOC_SKIP_RX: &str = r"runtime\.panic|runtime\.reflectcall|runtime\.call[0-9]*";

struct Res {
    header: Regex,
    growth: Regex,
    fragmentation: Regex,
    sample: Regex,
    go_symbol: Regex,
    maps_full: Regex,
    maps_brief: Regex,
}

fn res() -> &'static Res {
    static RES: OnceLock<Res> = OnceLock::new();
    RES.get_or_init(|| Res {
        header: Regex::new(
            r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ *(heap[_a-z0-9]*)/?(\d*)",
        )
        .expect("static regex"),
        growth: Regex::new(r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ growthz?")
            .expect("static regex"),
        fragmentation: Regex::new(
            r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ fragmentationz?",
        )
        .expect("static regex"),
        sample: Regex::new(r"^(-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *\] @([ x0-9a-f]*)$")
            .expect("static regex"),
        go_symbol: Regex::new(r"^#\s+0x([0-9a-f]+)\s+(.+?)\+0x[0-9a-f]+\s+(.*):(\d+)$")
            .expect("static regex"),
        maps_full: Regex::new(
            r"^([0-9a-fA-F]+)-([0-9a-fA-F]+)\s+([-rwxps]{4})\s+([0-9a-fA-F]+)\s+\S+\s+\d+\s*(.*)$",
        )
        .expect("static regex"),
        maps_brief: Regex::new(
            r"^([0-9a-fA-F]+)-([0-9a-fA-F]+):?\s+(\S+)(?:\s+\(@([0-9a-fA-F]+)\))?(?:\s+(\S+))?\s*$",
        )
        .expect("static regex"),
    })
}

/// True when the text starts like a legacy heap profile (after `%` command lines).
pub fn sniff(text: &[u8]) -> bool {
    first_content_line(text).is_some_and(|l| l.trim_start().starts_with("heap profile:"))
}

fn first_content_line(text: &[u8]) -> Option<&str> {
    let head = &text[..text.len().min(4096)];
    let head = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    head.lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('%'))
}

/// pprof's `scaleHeapSample`: unsample a (count, bytes) pair taken at `rate` bytes per sample.
pub fn scale_heap_sample(count: i64, size: i64, rate: i64) -> (i64, i64) {
    if count == 0 || size == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        return (count, size);
    }
    let avg = size as f64 / count as f64;
    let scale = 1.0 / (1.0 - (-avg / rate as f64).exp());
    ((count as f64 * scale) as i64, (size as f64 * scale) as i64)
}

/// Builds wire structs for text formats: strings, locations by address, functions by name.
pub(crate) struct Builder {
    pub(crate) p: schema::Profile,
    strings: FxHashMap<String, i64>,
    locations: FxHashMap<u64, usize>,
    functions: FxHashMap<(i64, i64), u64>,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        let mut b = Builder {
            p: schema::Profile::default(),
            strings: FxHashMap::default(),
            locations: FxHashMap::default(),
            functions: FxHashMap::default(),
        };
        b.str("");
        b
    }

    pub(crate) fn str(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.p.string_table.len() as i64;
        self.p.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    pub(crate) fn location(
        &mut self,
        addr: u64,
        symbols: Option<&Vec<(String, String, i64)>>,
    ) -> u64 {
        if let Some(&i) = self.locations.get(&addr) {
            return self.p.location[i].id;
        }
        let id = self.p.location.len() as u64 + 1;
        let mut loc = schema::Location {
            id,
            address: addr,
            ..Default::default()
        };
        for (func, file, line) in symbols.into_iter().flatten() {
            let key = (self.str(func), self.str(file));
            let next = self.functions.len() as u64 + 1;
            let fid = *self.functions.entry(key).or_insert(next);
            if fid == next {
                self.p.function.push(schema::Function {
                    id: fid,
                    name: key.0,
                    system_name: key.0,
                    filename: key.1,
                    start_line: 0,
                });
            }
            loc.line.push(schema::Line {
                function_id: fid,
                line: *line,
                column: 0,
            });
        }
        self.locations.insert(addr, self.p.location.len());
        self.p.location.push(loc);
        id
    }
}

fn num(s: &str, line_no: u64, source: &str) -> Result<i64, ParseError> {
    s.parse::<i64>().map_err(|_| {
        ParseError::malformed(
            source,
            FORMAT,
            Position::Line(line_no),
            format!("number out of range: {s}"),
        )
    })
}

/// Parses a legacy heap profile (already decompressed).
pub fn parse(text: &[u8], source: &str, interner: &mut Interner) -> Result<Profile, ParseError> {
    let schema = to_model_schema(text, source)?;
    super::from_schema(&schema, source, Format::PprofLegacyHeap, interner)
}

/// [`to_schema`] plus the clean-ups leakdiff applies before interning (Go's hidden runtime frames).
pub fn to_model_schema(text: &[u8], source: &str) -> Result<schema::Profile, ParseError> {
    let mut schema = to_schema(text, source)?;
    hide_unnamed_ends(&mut schema);
    name_in_use_columns(&mut schema, text);
    Ok(schema)
}

/// A heap profile whose allocation counts equal its in-use counts (gperftools' first dump, taken
/// before anything was freed; Go's text form with no frees) gets pprof's two columns `objects`
/// and `space`, which hold in-use values: they are named `inuse_objects` and `inuse_space`, as in
/// the four-column dumps after it, so a series lines up. Growth and fragmentation profiles keep
/// their names (their `space` is not what is in use).
fn name_in_use_columns(p: &mut schema::Profile, text: &[u8]) {
    let header = text
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l))
        .find(|l| !l.trim().is_empty() && !l.starts_with('%'));
    let Some(header) = header else {
        return;
    };
    let kind = header.rsplit('@').next().unwrap_or("").trim();
    if !header.starts_with("heap profile:")
        || kind.starts_with("growth")
        || kind.starts_with("fragmentation")
    {
        return;
    }
    let name = |p: &schema::Profile, i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| p.string_table.get(i))
            .cloned()
            .unwrap_or_default()
    };
    let names: Vec<String> = p.sample_type.iter().map(|t| name(p, t.r#type)).collect();
    if names != ["objects", "space"] {
        return;
    }
    for (i, new) in ["inuse_objects", "inuse_space"].into_iter().enumerate() {
        p.sample_type[i].r#type = p.string_table.len() as i64;
        p.string_table.push(new.to_string());
    }
}

/// Go's debug=1 writer hides runtime frames at both ends of a stack (allocator internals at the
/// leaf, runtime.goexit at the root) by printing no `#` symbol line for them. Where a sample has
/// symbols, drop its unsymbolized end locations too, as Go's protobuf form does.
fn hide_unnamed_ends(p: &mut schema::Profile) {
    let named: FxHashMap<u64, bool> = p
        .location
        .iter()
        .map(|l| (l.id, !l.line.is_empty()))
        .collect();
    for s in &mut p.sample {
        let is_named = |id: &u64| named.get(id).copied().unwrap_or(false);
        let Some(first) = s.location_id.iter().position(is_named) else {
            continue;
        };
        let last = s
            .location_id
            .iter()
            .rposition(is_named)
            .map_or(s.location_id.len(), |i| i + 1);
        s.location_id = s.location_id[first..last].to_vec();
    }
}

/// Parses a legacy heap profile into the wire structs, exactly as pprof's legacy parser would build
/// them (plus Go symbol comments).
// Over 120 lines: one pass over the text in file order (header, samples, symbols, mappings).
#[allow(clippy::too_many_lines)]
pub fn to_schema(text: &[u8], source: &str) -> Result<schema::Profile, ParseError> {
    let re = res();
    let text = String::from_utf8_lossy(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i as u64 + 1, l));
    let mut b = Builder::new();
    let err = |line: u64, m: String| ParseError::malformed(source, FORMAT, Position::Line(line), m);

    let (header_no, header) = lines
        .by_ref()
        .find(|(_, l)| !l.trim().is_empty() && !l.starts_with('%'))
        .ok_or_else(|| err(1, "empty input".into()))?;
    let (mut sampling_v2, mut period, mut has_alloc) = (false, 1i64, false);
    if let Some(h) = re.header.captures(header) {
        if !h[6].is_empty() {
            period = num(&h[6], header_no, source)?;
        }
        has_alloc = (h[3] != h[1] && &h[3] != "0") || (h[4] != h[2] && &h[4] != "0");
        match &h[5] {
            "heapz_v2" | "heap_v2" => sampling_v2 = true,
            "heapprofile" => period = 1,
            "heap" => {
                sampling_v2 = true;
                period /= 2;
            }
            other => {
                return Err(err(
                    header_no,
                    format!("unknown heap profile kind `{other}`"),
                ))
            }
        }
    } else if re.growth.is_match(header) || re.fragmentation.is_match(header) {
        period = 1;
    } else {
        return Err(err(
            header_no,
            "header is not `heap profile: N: N [N: N] @ kind/rate`".into(),
        ));
    }
    let pt = schema::ValueType {
        r#type: b.str("space"),
        unit: b.str("bytes"),
    };
    b.p.period_type = Some(pt);
    b.p.period = period;
    let types: &[(&str, &str)] = if has_alloc {
        &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ]
    } else {
        &[("objects", "count"), ("space", "bytes")]
    };
    for (t, u) in types {
        let vt = schema::ValueType {
            r#type: b.str(t),
            unit: b.str(u),
        };
        b.p.sample_type.push(vt);
    }
    b.p.drop_frames = b.str(ALLOC_RX);
    b.p.keep_frames = b.str(ALLOC_SKIP_RX);
    let bytes_key = b.str("bytes");

    // Samples, each followed by optional Go symbol comments.
    struct Pending {
        values: Vec<i64>,
        blocksize: i64,
        addrs: Vec<u64>,
        symbols: FxHashMap<u64, Vec<(String, String, i64)>>,
    }
    let mut pending: Option<Pending> = None;
    let flush = |b: &mut Builder, p: Pending| {
        let ids: Vec<u64> = p
            .addrs
            .iter()
            .map(|&a| b.location(a, p.symbols.get(&a)))
            .collect();
        b.p.sample.push(schema::Sample {
            location_id: ids,
            value: p.values,
            label: vec![schema::Label {
                key: bytes_key,
                num: p.blocksize,
                ..Default::default()
            }],
        });
    };
    let mut saw_map = false;
    for (no, raw) in lines.by_ref() {
        let line = raw.trim();
        if line.starts_with('#') {
            // Go's debug=1 heap profile ends with its runtime.MemStats; NumGC counts the
            // collections so far, which tells snapshots of one collection's heap apart.
            if let Some(n) = line
                .strip_prefix("# NumGC = ")
                .and_then(|n| n.trim().parse::<u64>().ok())
            {
                let c = b.str(&format!("{GC_COMMENT}{n}"));
                b.p.comment.push(c);
                continue;
            }
            if let (Some(p), Some(c)) = (pending.as_mut(), re.go_symbol.captures(line)) {
                let pc = u64::from_str_radix(&c[1], 16).unwrap_or(0);
                let entry = (
                    c[2].to_string(),
                    c[3].to_string(),
                    c[4].parse().unwrap_or(0),
                );
                p.symbols.entry(pc).or_default().push(entry);
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if line.contains("MAPPED_LIBRARIES:") || line.contains("--- Memory map: ---") {
            saw_map = true;
            break;
        }
        let c = re.sample.captures(line).ok_or_else(|| {
            err(
                no,
                format!(
                    "expected `count: bytes [count: bytes] @ addresses`, found `{}`",
                    clip(line)
                ),
            )
        })?;
        let mut values = Vec::with_capacity(4);
        let mut blocksize = 0;
        let mut add = |count: &str, size: &str, label: &str| -> Result<(), ParseError> {
            let (mut count, mut size) = (num(count, no, source)?, num(size, no, source)?);
            if count == 0 && size != 0 {
                return Err(err(
                    no,
                    format!("{label} count was 0 but {label} bytes was {size}"),
                ));
            }
            if count != 0 {
                blocksize = size / count;
                if sampling_v2 {
                    (count, size) = scale_heap_sample(count, size, period);
                }
            }
            values.extend([count, size]);
            Ok(())
        };
        if has_alloc {
            add(&c[3], &c[4], "allocation")?;
        }
        add(&c[1], &c[2], "inuse")?;
        let mut addrs = Vec::new();
        for tok in c[5].split_whitespace() {
            let hex = tok.strip_prefix("0x").unwrap_or(tok);
            let a = u64::from_str_radix(hex, 16)
                .map_err(|_| err(no, format!("bad address `{}`", clip(tok))))?;
            // Return addresses point after the call; pprof moves every one back into the call.
            addrs.push(a.wrapping_sub(1));
        }
        if let Some(p) = pending.take() {
            flush(&mut b, p);
        }
        pending = Some(Pending {
            values,
            blocksize,
            addrs,
            symbols: FxHashMap::default(),
        });
    }
    if let Some(p) = pending.take() {
        flush(&mut b, p);
    }
    if saw_map {
        let maps = parse_mappings(lines.map(|(_, l)| l));
        assign_mappings(&mut b, &maps);
    }
    Ok(b.p)
}

pub(crate) fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// One executable mapping from a memory-map section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedRange {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub limit: u64,
    /// File offset of `start`.
    pub offset: u64,
    /// The file.
    pub path: String,
}

/// The comment a Go debug=1 heap profile's `# NumGC = N` becomes: `NumGC=N`.
pub const GC_COMMENT: &str = "NumGC=";

/// Parses `/proc/self/maps` lines (non-executable ones skipped) or pprof's brief form
/// `start-end[:] path [(@offset)] [buildid]`, with `name=value` substitutions for `$name`.
pub fn parse_mappings<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<MappedRange> {
    let re = res();
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for raw in lines {
        // glog prefixes end with "] ".
        let line = raw.rsplit_once("] ").map(|(_, r)| r).unwrap_or(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(c) = re.maps_full.captures(line) {
            if c[3].as_bytes().get(2) != Some(&b'x') {
                continue;
            }
            let (Ok(start), Ok(limit), Ok(offset)) = (
                u64::from_str_radix(&c[1], 16),
                u64::from_str_radix(&c[2], 16),
                u64::from_str_radix(&c[4], 16),
            ) else {
                continue;
            };
            out.push(MappedRange {
                start,
                limit,
                offset,
                path: c[5].trim().to_string(),
            });
        } else if let Some(c) = re.maps_brief.captures(line) {
            let (Ok(start), Ok(limit)) = (
                u64::from_str_radix(&c[1], 16),
                u64::from_str_radix(&c[2], 16),
            ) else {
                continue;
            };
            let offset = c
                .get(4)
                .and_then(|m| u64::from_str_radix(m.as_str(), 16).ok())
                .unwrap_or(0);
            let mut path = c[3].to_string();
            for (k, v) in &vars {
                path = path.replace(&format!("${k}"), v);
            }
            out.push(MappedRange {
                start,
                limit,
                offset,
                path,
            });
        } else if let Some((k, v)) = line.split_once('=') {
            if !k.contains(char::is_whitespace) {
                vars.push((k.to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

pub(crate) fn assign_mappings(b: &mut Builder, maps: &[MappedRange]) {
    for (i, m) in maps.iter().enumerate() {
        let filename = b.str(&m.path);
        b.p.mapping.push(schema::Mapping {
            id: i as u64 + 1,
            memory_start: m.start,
            memory_limit: m.limit,
            file_offset: m.offset,
            filename,
            ..Default::default()
        });
    }
    for loc in &mut b.p.location {
        if let Some(i) = maps
            .iter()
            .position(|m| loc.address >= m.start && loc.address < m.limit)
        {
            loc.mapping_id = i as u64 + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_matches_pprof_formula() {
        // One 1 KiB object sampled at 512 KiB: scale = 1/(1-exp(-1/512)) ≈ 512.5.
        assert_eq!(scale_heap_sample(1, 1024, 524288), (512, 524800));
        assert_eq!(scale_heap_sample(0, 0, 524288), (0, 0));
        assert_eq!(scale_heap_sample(3, 30, 1), (3, 30));
    }

    #[test]
    fn zero_count_with_bytes_is_an_error_with_a_line() {
        let text = b"heap profile: 1: 1 [1: 1] @ heapprofile\n0: 5 [0: 0] @ 0x1\n";
        let e = to_schema(text, "x").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
