//! Samples to values by key: the key space of both profiles (functions, sites or stacks) and each
//! key's flat and cumulative values, computed once per stack.

use super::*;

pub(super) fn aggregate(
    profile: &Profile,
    column: usize,
    keep: Option<&[bool]>,
    tags: Option<(&Interner, &DiffOptions)>,
) -> (FxHashMap<StackId, i64>, i64) {
    let mut map: FxHashMap<StackId, i64> = FxHashMap::default();
    let mut total = 0i64;
    for (i, (stack, v)) in profile
        .stacks()
        .iter()
        .zip(profile.column(column))
        .enumerate()
    {
        if keep.is_some_and(|k| !k.get(stack.index()).copied().unwrap_or(false)) {
            continue;
        }
        if let Some((interner, o)) = tags {
            let labels = profile.sample(i).labels;
            if (!o.tag_focus.is_empty() && !o.tag_focus.iter().any(|t| t.matches(interner, labels)))
                || o.tag_ignore.iter().any(|t| t.matches(interner, labels))
            {
                continue;
            }
        }
        total = total.saturating_add(v);
        let e = map.entry(*stack).or_insert(0);
        *e = e.saturating_add(v);
    }
    (map, total)
}

#[derive(Copy, Clone, Default)]
pub(super) struct Acc {
    pub(super) flat: [i64; 2],
    pub(super) cum: [i64; 2],
}

impl Acc {
    pub(super) fn add(&mut self, o: &Acc) {
        for i in 0..2 {
            self.flat[i] = self.flat[i].saturating_add(o.flat[i]);
            self.cum[i] = self.cum[i].saturating_add(o.cum[i]);
        }
    }
}

/// Key of a frame under a granularity: dense key ids plus a representative frame per key.
pub(super) struct KeySpace {
    pub(super) of_frame: Vec<u32>,
    pub(super) representative: Vec<FrameId>,
}

pub(super) fn key_space(interner: &Interner, by: Granularity) -> KeySpace {
    let mut of_frame = Vec::with_capacity(interner.frames().len());
    let mut representative = Vec::new();
    let mut ids: FxHashMap<(StrId, StrId, u32, StrId, u64), u32> = FxHashMap::default();
    for (i, f) in interner.frames().iter().enumerate() {
        let k = match by {
            Granularity::Function if f.is_symbolized() => {
                (f.function, StrId::EMPTY, 0, StrId::EMPTY, 0)
            }
            Granularity::File if f.file != StrId::EMPTY => {
                (StrId::EMPTY, f.file, 0, StrId::EMPTY, 0)
            }
            Granularity::File => (StrId::EMPTY, StrId::EMPTY, 0, f.module, 0),
            _ => (f.function, f.file, f.line, f.module, f.address),
        };
        let next = representative.len() as u32;
        let id = *ids.entry(k).or_insert(next);
        if id == next {
            representative.push(FrameId(i as u32));
        }
        of_frame.push(id);
    }
    KeySpace {
        of_frame,
        representative,
    }
}

/// Per-stack values of the chosen value type on both sides, after focus/ignore.
#[derive(Clone, Debug)]
pub struct StackValues {
    /// The value type compared.
    pub value_type: ValueType,
    /// (stack, [base, later]) sorted by stack id; stacks absent from a side carry 0 there.
    pub stacks: Vec<(StackId, [i64; 2])>,
    /// Base total (raw, not normalized).
    pub base_total: i64,
    /// Later total.
    pub later_total: i64,
}

/// Aggregates both profiles per stack for the value type `options` selects, after focus/ignore.
pub fn stack_values(
    base: &Profile,
    later: &Profile,
    interner: &Interner,
    options: &DiffOptions,
) -> Result<StackValues, SelectError> {
    let (bi, li, value_type) = select_value(base, later, options.sample.as_deref())?;
    let keep = sample_filter(interner, options.focus.as_ref(), options.ignore.as_ref());
    let keep = keep.as_deref();
    let tags = (!options.tag_focus.is_empty() || !options.tag_ignore.is_empty())
        .then_some((interner, options));
    let ((bmap, base_total), (lmap, later_total)) = rayon::join(
        || aggregate(base, bi, keep, tags),
        || aggregate(later, li, keep, tags),
    );
    let mut stacks: FxHashMap<StackId, [i64; 2]> = FxHashMap::default();
    stacks.reserve(bmap.len().max(lmap.len()));
    for (s, v) in bmap {
        stacks.entry(s).or_default()[0] = v;
    }
    for (s, v) in lmap {
        stacks.entry(s).or_default()[1] = v;
    }
    let mut stacks: Vec<(StackId, [i64; 2])> = stacks.into_iter().collect();
    stacks.sort_unstable_by_key(|(s, _)| *s);
    Ok(StackValues {
        value_type,
        stacks,
        base_total,
        later_total,
    })
}
