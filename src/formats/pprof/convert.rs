//! `profile.proto` messages → the shared model: ids resolved, inline frames expanded (callee first
//! in the proto, root → leaf in the model), drop_frames/keep_frames applied as pprof applies them.

use regex::Regex;
use rustc_hash::FxHashMap;

use super::schema;
use super::wire::{Offsets, Samples};
use crate::formats::error::{ParseError, Position};
use crate::model::{
    Format, FrameId, Interner, Label, LabelValue, Profile, ProfileBuilder, StackId, StrId,
    ValueType,
};

struct Ctx<'a> {
    source: &'a str,
    format: &'static str,
    strings: &'a [String],
}

impl Ctx<'_> {
    fn err(&self, at: u64, message: impl Into<String>) -> ParseError {
        ParseError::malformed(self.source, self.format, Position::Byte(at), message)
    }

    fn str(&self, index: i64, at: u64) -> Result<&str, ParseError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.strings.get(i))
            .map(String::as_str)
            .ok_or_else(|| {
                self.err(
                    at,
                    format!(
                        "string index {index} is outside the string table ({} entries)",
                        self.strings.len()
                    ),
                )
            })
    }
}

/// Per-location result of pprof's prune rule.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Prune {
    Keep,
    Whole,
    Beneath,
}

/// pprof's `simplifyFunc`: drop a leading '.', cut the argument list at the first '(' that does not
/// belong to a reserved name.
fn simplify_func(name: &str) -> &str {
    let name = name.strip_prefix('.').unwrap_or(name);
    const RESERVED: [&str; 2] = ["(anonymous namespace)", "operator()"];
    let mut skip_to = 0;
    for (i, c) in name.char_indices() {
        if i < skip_to {
            continue;
        }
        if let Some(r) = RESERVED.iter().find(|r| name[i..].starts_with(**r)) {
            skip_to = i + r.len();
            continue;
        }
        if c == '(' {
            return &name[..i];
        }
    }
    name
}

fn full_match_regex(ctx: &Ctx<'_>, index: i64, what: &str) -> Result<Option<Regex>, ParseError> {
    if index == 0 {
        return Ok(None);
    }
    let pattern = ctx.str(index, 0)?;
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| ctx.err(0, format!("{what} is not a valid regular expression: {e}")))
}

/// Converts a decoded profile into the model.
pub fn convert(
    p: &schema::Profile,
    samples: &Samples,
    offsets: &Offsets,
    source: &str,
    format: Format,
    interner: &mut Interner,
) -> Result<Profile, ParseError> {
    let ctx = Ctx {
        source,
        format: format.name(),
        strings: &p.string_table,
    };
    if p.string_table.first().is_some_and(|s| !s.is_empty()) {
        return Err(ctx.err(0, "string_table[0] must be the empty string"));
    }
    if p.sample_type.is_empty() && !samples.is_empty() {
        return Err(ctx.err(0, "the profile has samples but no sample_type"));
    }
    if p.sample_type.is_empty() && p.string_table.is_empty() {
        return Err(ctx.err(0, "no sample types and no string table: not a profile"));
    }
    let value_types = p
        .sample_type
        .iter()
        .map(|v| Ok(ValueType::new(ctx.str(v.r#type, 0)?, ctx.str(v.unit, 0)?)))
        .collect::<Result<Vec<_>, ParseError>>()?;
    let mut b = ProfileBuilder::new(format, value_types);
    fill_meta(&ctx, p, &mut b)?;
    let functions = function_table(&ctx, p, offsets, interner)?;
    let mappings = mapping_table(&ctx, p, offsets, interner)?;
    let drop = full_match_regex(&ctx, p.drop_frames, "drop_frames")?;
    let keep = full_match_regex(&ctx, p.keep_frames, "keep_frames")?;
    let locs = locations(
        &ctx,
        p,
        offsets,
        &functions,
        &mappings,
        (&drop, &keep),
        interner,
    )?;
    let (seq, seq_starts) =
        resolve_samples(&ctx, p, samples, offsets, &locs, drop.is_some(), interner)?;
    let stack_of = intern_stacks(&seq, &seq_starts, &locs, interner);
    add_samples(&ctx, p, samples, offsets, &stack_of, &mut b, interner)?;
    b.finish(interner).map_err(|e| ctx.err(0, e.to_string()))
}

/// A function id → (name, file).
type Functions = FxHashMap<u64, (StrId, StrId)>;
/// A mapping id → (module, start, offset).
type Mappings = FxHashMap<u64, (StrId, u64, u64)>;

/// The function table, names and files interned.
fn function_table(
    ctx: &Ctx<'_>,
    p: &schema::Profile,
    offsets: &Offsets,
    interner: &mut Interner,
) -> Result<Functions, ParseError> {
    // Functions: id → (name, file).
    let mut functions: Functions = FxHashMap::default();
    for (i, f) in p.function.iter().enumerate() {
        let at = offsets.function.get(i).copied().unwrap_or(0);
        if f.id == 0 {
            return Err(ctx.err(at, "function id 0 is reserved"));
        }
        let name = ctx.str(f.name, at)?;
        let name = if name.is_empty() {
            ctx.str(f.system_name, at)?
        } else {
            name
        };
        let entry = (
            interner.intern(name),
            interner.intern(ctx.str(f.filename, at)?),
        );
        if functions.insert(f.id, entry).is_some() {
            return Err(ctx.err(at, format!("function id {} appears twice", f.id)));
        }
    }
    Ok(functions)
}

/// The mapping table.
fn mapping_table(
    ctx: &Ctx<'_>,
    p: &schema::Profile,
    offsets: &Offsets,
    interner: &mut Interner,
) -> Result<Mappings, ParseError> {
    // Mappings: id → (module, start, offset).
    let mut mappings: Mappings = FxHashMap::default();
    for (i, m) in p.mapping.iter().enumerate() {
        let at = offsets.mapping.get(i).copied().unwrap_or(0);
        if m.id == 0 {
            return Err(ctx.err(at, "mapping id 0 is reserved"));
        }
        let entry = (
            interner.intern(ctx.str(m.filename, at)?),
            m.memory_start,
            m.file_offset,
        );
        if mappings.insert(m.id, entry).is_some() {
            return Err(ctx.err(at, format!("mapping id {} appears twice", m.id)));
        }
    }
    Ok(mappings)
}

/// The locations: each one's frames (leaf first, inline frames expanded) and its prune state.
struct Locations {
    /// Location id → index.
    index: FxHashMap<u64, u32>,
    /// Every location's frames, one after another.
    frames: Vec<FrameId>,
    /// Per location: its frames' span in `frames`, and whether `drop_frames` prunes it.
    spans: Vec<(u32, u32, Prune)>,
}

/// The location table as frames, with `drop_frames`/`keep_frames` applied as pprof's Prune does.
fn locations(
    ctx: &Ctx<'_>,
    p: &schema::Profile,
    offsets: &Offsets,
    functions: &Functions,
    mappings: &Mappings,
    (drop, keep): (&Option<Regex>, &Option<Regex>),
    interner: &mut Interner,
) -> Result<Locations, ParseError> {
    let mut prune_cache: FxHashMap<StrId, bool> = FxHashMap::default();
    // Locations: id → (frames leaf first, prune state).
    let mut loc_index: FxHashMap<u64, u32> = FxHashMap::default();
    let mut loc_frames: Vec<FrameId> = Vec::new();
    let mut loc_spans: Vec<(u32, u32, Prune)> = Vec::with_capacity(p.location.len());
    for (i, loc) in p.location.iter().enumerate() {
        let at = offsets.location.get(i).copied().unwrap_or(0);
        if loc.id == 0 {
            return Err(ctx.err(at, "location id 0 is reserved"));
        }
        let mapping = if loc.mapping_id == 0 {
            None
        } else {
            Some(*mappings.get(&loc.mapping_id).ok_or_else(|| {
                ctx.err(
                    at,
                    format!(
                        "location {} refers to missing mapping {}",
                        loc.id, loc.mapping_id
                    ),
                )
            })?)
        };
        let start = loc_frames.len() as u32;
        let mut lines: Vec<(StrId, StrId, u32)> = Vec::with_capacity(loc.line.len());
        for line in &loc.line {
            let (name, file) = if line.function_id == 0 {
                (StrId::EMPTY, StrId::EMPTY)
            } else {
                *functions.get(&line.function_id).ok_or_else(|| {
                    ctx.err(
                        at,
                        format!(
                            "location {} refers to missing function {}",
                            loc.id, line.function_id
                        ),
                    )
                })?
            };
            lines.push((name, file, u32::try_from(line.line).unwrap_or(0)));
        }
        let mut prune = Prune::Keep;
        let mut first_kept = 0;
        if let Some(drop) = &drop {
            // Scan from the caller (last line) to the callee (first line), as pprof's Prune does.
            let hit = (0..lines.len()).rev().find(|&j| {
                let name = lines[j].0;
                name != StrId::EMPTY
                    && *prune_cache.entry(name).or_insert_with(|| {
                        let simple = simplify_func(interner.str(name));
                        drop.is_match(simple) && !keep.as_ref().is_some_and(|k| k.is_match(simple))
                    })
            });
            if let Some(j) = hit {
                if j + 1 == lines.len() {
                    prune = Prune::Whole;
                } else {
                    prune = Prune::Beneath;
                    first_kept = j + 1;
                }
            }
        }
        if lines.is_empty() {
            let (module, offset) = match mapping {
                Some((module, start, file_offset)) => (
                    module,
                    loc.address.wrapping_sub(start).wrapping_add(file_offset),
                ),
                None => (StrId::EMPTY, loc.address),
            };
            loc_frames.push(interner.frame(crate::model::Frame {
                function: StrId::EMPTY,
                file: StrId::EMPTY,
                line: 0,
                module,
                address: offset,
            }));
        } else {
            for &(function, file, line) in &lines[first_kept..] {
                loc_frames.push(interner.frame(crate::model::Frame {
                    function,
                    file,
                    line,
                    module: StrId::EMPTY,
                    address: 0,
                }));
            }
        }
        loc_spans.push((start, loc_frames.len() as u32, prune));
        if loc_index.insert(loc.id, i as u32).is_some() {
            return Err(ctx.err(at, format!("location id {} appears twice", loc.id)));
        }
    }

    Ok(Locations {
        index: loc_index,
        frames: loc_frames,
        spans: loc_spans,
    })
}

/// Samples, pass 1: location ids resolved, the prune rule applied, each sample's root-first
/// location sequence in one flat array (with each sample's start).
fn resolve_samples(
    ctx: &Ctx<'_>,
    p: &schema::Profile,
    samples: &Samples,
    offsets: &Offsets,
    l: &Locations,
    pruning: bool,
    interner: &Interner,
) -> Result<(Vec<u32>, Vec<usize>), ParseError> {
    let (loc_index, loc_frames, loc_spans) = (&l.index, &l.frames, &l.spans);
    // Samples, pass 1: resolve location ids, apply the prune rule, keep root-first location
    // sequences in one flat array.
    let width = p.sample_type.len();
    let n = samples.len();
    let mut seq: Vec<u32> = Vec::with_capacity(samples.total_locations());
    let mut seq_starts: Vec<usize> = Vec::with_capacity(n + 1);
    seq_starts.push(0);
    let mut locs: Vec<u32> = Vec::new();
    for i in 0..n {
        let (location_ids, values, _) = samples.get(i);
        let at = offsets.sample.get(i).copied().unwrap_or(0);
        if values.len() != width {
            return Err(ctx.err(
                at,
                format!(
                    "sample has {} values but the profile declares {width} sample types",
                    values.len()
                ),
            ));
        }
        locs.clear();
        for id in location_ids {
            locs.push(
                *loc_index.get(id).ok_or_else(|| {
                    ctx.err(at, format!("sample refers to missing location {id}"))
                })?,
            );
        }
        // pprof's prune: walk from the root; after the first user location, the first pruned one
        // cuts the sample.
        let mut keep_from = 0usize;
        if pruning {
            let mut found_user = false;
            for j in (0..locs.len()).rev() {
                let (a, z, state) = loc_spans[locs[j] as usize];
                if state == Prune::Keep {
                    // Unlike pprof, an unsymbolized location (e.g. Go's hidden runtime.goexit at
                    // the root of a debug=1 text profile) does not count as user code: otherwise
                    // a matching runtime.main above it would cut away the whole stack.
                    let named = loc_frames[a as usize..z as usize]
                        .iter()
                        .any(|&f| interner.frame_at(f).is_symbolized());
                    found_user |= named;
                    continue;
                }
                if !found_user {
                    continue;
                }
                keep_from = if state == Prune::Whole { j + 1 } else { j };
                break;
            }
        }
        seq.extend(locs[keep_from..].iter().rev());
        seq_starts.push(seq.len());
    }

    Ok((seq, seq_starts))
}

/// Pass 2: each sample's stack.
fn intern_stacks(
    seq: &[u32],
    seq_starts: &[usize],
    l: &Locations,
    interner: &mut Interner,
) -> Vec<StackId> {
    let (loc_frames, loc_spans) = (&l.frames, &l.spans);
    let n = seq_starts.len().saturating_sub(1);
    // Pass 2: intern stacks in sorted order, so each one reuses the path of the one before it and
    // looks up only the frames past their common prefix (most of a real profile's stacks share
    // long prefixes; the prefix-tree lookups were the parser's main cost).
    let seq_of = |i: usize| &seq[seq_starts[i]..seq_starts[i + 1]];
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&x, &y| seq_of(x as usize).cmp(seq_of(y as usize)).then(x.cmp(&y)));
    let mut stack_of: Vec<StackId> = vec![StackId::ROOT; n];
    let mut path: Vec<(u32, StackId)> = Vec::new();
    for &i in &order {
        let sq = seq_of(i as usize);
        let common = path
            .iter()
            .zip(sq)
            .take_while(|((l, _), s)| l == *s)
            .count();
        path.truncate(common);
        let mut stack = path.last().map_or(StackId::ROOT, |&(_, s)| s);
        for &l in &sq[common..] {
            let (a, z, _) = loc_spans[l as usize];
            for &f in loc_frames[a as usize..z as usize].iter().rev() {
                stack = interner.child(stack, f);
            }
            path.push((l, stack));
        }
        stack_of[i as usize] = stack;
    }

    stack_of
}

/// Pass 3: the samples in their original order, with their labels.
fn add_samples(
    ctx: &Ctx<'_>,
    p: &schema::Profile,
    samples: &Samples,
    offsets: &Offsets,
    stack_of: &[StackId],
    b: &mut ProfileBuilder,
    interner: &mut Interner,
) -> Result<(), ParseError> {
    let n = stack_of.len();
    // Pass 3: samples in their original order, with labels.
    b.reserve(n);
    let mut str_ids: Vec<Option<StrId>> = vec![None; p.string_table.len()];
    let mut intern_index =
        |index: i64, at: u64, interner: &mut Interner| -> Result<StrId, ParseError> {
            let s = ctx.str(index, at)?;
            let slot = &mut str_ids[index as usize];
            Ok(*slot.get_or_insert_with(|| interner.intern(s)))
        };
    let mut labels: Vec<Label> = Vec::new();
    for (i, &stack) in stack_of.iter().enumerate() {
        let (_, values, sample_labels) = samples.get(i);
        let at = offsets.sample.get(i).copied().unwrap_or(0);
        labels.clear();
        for l in sample_labels {
            let key = intern_index(l.key, at, interner)?;
            let value = if l.str != 0 {
                LabelValue::Str(intern_index(l.str, at, interner)?)
            } else if l.num != 0 || l.num_unit != 0 {
                LabelValue::Num {
                    value: l.num,
                    unit: intern_index(l.num_unit, at, interner)?,
                }
            } else {
                continue;
            };
            labels.push(Label { key, value });
        }
        b.add_sample(stack, values, &labels);
    }
    Ok(())
}

fn fill_meta(ctx: &Ctx<'_>, p: &schema::Profile, b: &mut ProfileBuilder) -> Result<(), ParseError> {
    let meta = b.meta_mut();
    meta.source = ctx.source.to_string();
    meta.time_nanos = (p.time_nanos != 0).then_some(p.time_nanos);
    meta.duration_nanos = (p.duration_nanos != 0).then_some(p.duration_nanos);
    if let Some(pt) = &p.period_type {
        let vt = ValueType::new(ctx.str(pt.r#type, 0)?, ctx.str(pt.unit, 0)?);
        if vt.kind == "space" && vt.unit == "bytes" && p.period > 1 {
            meta.sampling_rate_bytes = Some(p.period as u64);
        }
        meta.period_type = Some(vt);
    }
    meta.period = p.period;
    for &c in &p.comment {
        let text = ctx.str(c, 0)?;
        if let Some(n) = text
            .strip_prefix(super::legacy::GC_COMMENT)
            .and_then(|n| n.parse().ok())
        {
            meta.gc_count = Some(n);
        }
        meta.comments.push(text.to_string());
    }
    if p.default_sample_type != 0 {
        meta.default_sample_type = Some(ctx.str(p.default_sample_type, 0)?.to_string());
    }
    // The vDSO: mapped at a random address in every process (also where the program itself is
    // not position-independent, as Go's default build), fixed for the process's life.
    meta.process = p
        .mapping
        .iter()
        .find(|m| ctx.str(m.filename, 0).is_ok_and(|f| f == "[vdso]") && m.memory_start != 0)
        .map(|m| format!("vdso@{:#x}", m.memory_start));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::simplify_func;

    #[test]
    fn simplify_func_cuts_argument_lists_but_not_reserved_names() {
        assert_eq!(simplify_func("foo(int)"), "foo");
        assert_eq!(simplify_func(".bar"), "bar");
        assert_eq!(
            simplify_func("(anonymous namespace)::f(int)"),
            "(anonymous namespace)::f"
        );
        assert_eq!(simplify_func("Foo::operator()(int)"), "Foo::operator()");
        assert_eq!(simplify_func("main.main"), "main.main");
    }
}
