//! What a stack is keyed by: a frame's token (its function when symbolized), the leaf past the
//! allocator's and the runtime's frames, the key's name and frames, and what each caller of a
//! key holds.

use rustc_hash::FxHashMap;

use super::super::{KeyBy, Kind, CALLER_DEPTH};
use crate::goroutines;
use crate::model::{FrameId, Interner, Profile, StackId};

/// A cheap id of a frame as a key: its function when symbolized (frames of one function at
/// different lines are one key), else the frame itself.
pub(super) fn frame_token(interner: &Interner, f: FrameId) -> u64 {
    const FUNCTION: u64 = 1 << 40;
    const FRAME: u64 = 2 << 40;
    let frame = interner.frame_at(f);
    if frame.is_symbolized() {
        FUNCTION | u64::from(frame.function.0)
    } else {
        FRAME | u64::from(f.0)
    }
}

/// A cheap id of a stack's key: stacks with the same token have the same key string.
pub(super) fn token_of(
    interner: &Interner,
    stack: StackId,
    by: KeyBy,
    kind: Kind,
    rules: &FrameRules,
) -> u64 {
    const FRAME: u64 = 2 << 40;
    let by_frame = |f: FrameId| frame_token(interner, f);
    match by {
        KeyBy::Stack => u64::from(stack.0),
        KeyBy::Site => interner
            .stack_leaf_first(stack)
            .next()
            .map_or(u64::MAX, |f| FRAME | u64::from(f.0)),
        // The frame the goroutine is named after (goroutines::user_function's rule), so that
        // goroutines parked in one runtime or standard-library function under different callers
        // of the program's own never share a key.
        KeyBy::Function if kind == Kind::Goroutine => {
            let frames: Vec<FrameId> = interner.stack_leaf_first(stack).collect();
            let names: Vec<String> = frames.iter().map(|&f| interner.frame_name(f)).collect();
            goroutines::user_frame_index(&names)
                .and_then(|i| frames.get(i))
                .map_or(u64::MAX, |&f| by_frame(f))
        }
        KeyBy::Function => heap_leaf(interner, stack, rules).map_or(u64::MAX, by_frame),
    }
}

/// The frame a heap key is named after: the leaf, past Go's allocator frames when the runtime left
/// them in (goroutine descriptors allocated on the system stack: `runtime.mallocgc` under
/// `runtime.malg`, with no caller of the program's own), so such a key reads `runtime.malg`, not
/// `runtime.mallocgc`. Never past the root.
pub(super) fn heap_leaf(
    interner: &Interner,
    stack: StackId,
    rules: &FrameRules,
) -> Option<FrameId> {
    let leaf = interner.stack_leaf_first(stack).next()?;
    let past = interner
        .stack_leaf_first(stack)
        .find(|&f| !rules.skips(interner, f));
    // Every frame is the allocator's: keep the leaf.
    Some(past.unwrap_or(leaf))
}

/// Which frames a heap key skips on its way from the leaf ([`heap_leaf`]): the allocator's and
/// the standard containers' ([`crate::formats::allocators`]), plus those `drop` matches, except
/// those `keep` matches (`--drop-frames`, `--keep-frames`: whole function names, as pprof's
/// `drop_frames` and `keep_frames`).
#[derive(Clone, Debug, Default)]
pub struct FrameRules {
    /// Frames never skipped.
    pub keep: Option<regex::Regex>,
    /// Frames skipped besides the allocator's.
    pub drop: Option<regex::Regex>,
}

impl FrameRules {
    /// The rules for two patterns, each matched against whole function names.
    pub fn new(keep: Option<&str>, drop: Option<&str>) -> Result<FrameRules, regex::Error> {
        let whole = |p: &str| regex::Regex::new(&format!("^(?:{p})$"));
        Ok(FrameRules {
            keep: keep.map(whole).transpose()?,
            drop: drop.map(whole).transpose()?,
        })
    }

    /// Whether the key skips a function of this name.
    pub fn skips_name(&self, name: &str) -> bool {
        if self.keep.as_ref().is_some_and(|r| r.is_match(name)) {
            return false;
        }
        self.drop.as_ref().is_some_and(|r| r.is_match(name))
            || crate::formats::allocators::is_allocator_function(name)
            || crate::formats::allocators::pseudo_frame(name).is_some()
    }

    /// An unsymbolized frame is judged by its module (an address in the C++ runtime is the
    /// runtime's), and by the name it shows, `module+0xoffset`, where `--keep-frames` or
    /// `--drop-frames` is given.
    fn skips(&self, interner: &Interner, f: FrameId) -> bool {
        let frame = interner.frame_at(f);
        if frame.is_symbolized() {
            return self.skips_name(interner.str(frame.function));
        }
        if self.keep.is_some() || self.drop.is_some() {
            return self.skips_name(&interner.frame_name(f));
        }
        let module = interner.str(frame.module);
        crate::formats::allocators::is_standard_library(module.rsplit('/').next().unwrap_or(module))
    }
}

/// Index of [`heap_leaf`]'s frame in a stack's frames, leaf first.
pub(super) fn heap_leaf_index(
    interner: &Interner,
    frames: &[FrameId],
    rules: &FrameRules,
) -> Option<usize> {
    let past = frames.iter().position(|&f| !rules.skips(interner, f));
    past.or((!frames.is_empty()).then_some(0))
}

/// A heap snapshot's values per (caller name, key name): every distinct function within
/// [`CALLER_DEPTH`] frames above the key's frame, once per stack, with the fewest frames between
/// them. `key_names` maps key tokens to the key strings built for them.
pub(super) fn callers_of(
    interner: &Interner,
    profile: &Profile,
    nv: usize,
    key_names: &FxHashMap<u64, String>,
    rules: &FrameRules,
) -> FxHashMap<(String, String), (u16, Vec<i64>)> {
    // Samples of one stack are walked once.
    let mut per_stack: FxHashMap<StackId, Vec<i64>> = FxHashMap::default();
    for smp in profile.samples() {
        let slot = per_stack.entry(smp.stack).or_insert_with(|| vec![0; nv]);
        for (a, v) in slot.iter_mut().zip(smp.values) {
            *a = a.saturating_add(*v);
        }
    }
    let mut per_token: FxHashMap<(u64, u64), (FrameId, u16, Vec<i64>)> = FxHashMap::default();
    let mut frames = Vec::new();
    let mut seen: Vec<u64> = Vec::new();
    for (stack, values) in per_stack {
        if values.iter().all(|v| *v == 0) {
            continue;
        }
        frames.clear();
        frames.extend(interner.stack_leaf_first(stack));
        let Some(at) = heap_leaf_index(interner, &frames, rules) else {
            continue;
        };
        let key = frame_token(interner, frames[at]);
        seen.clear();
        seen.push(key);
        for (d, &f) in frames[at + 1..].iter().take(CALLER_DEPTH).enumerate() {
            let c = frame_token(interner, f);
            if seen.contains(&c) {
                continue;
            }
            seen.push(c);
            let depth = (d + 1) as u16;
            let slot = per_token
                .entry((c, key))
                .or_insert_with(|| (f, depth, vec![0; nv]));
            slot.1 = slot.1.min(depth);
            for (a, v) in slot.2.iter_mut().zip(&values) {
                *a = a.saturating_add(*v);
            }
        }
    }
    let mut names: FxHashMap<u64, String> = FxHashMap::default();
    let mut out: FxHashMap<(String, String), (u16, Vec<i64>)> = FxHashMap::default();
    for ((c, key), (f, depth, values)) in per_token {
        let Some(key) = key_names.get(&key) else {
            continue;
        };
        let caller = names
            .entry(c)
            .or_insert_with(|| interner.frame_name(f))
            .clone();
        if &caller == key {
            continue;
        }
        let slot = out
            .entry((caller, key.clone()))
            .or_insert_with(|| (depth, vec![0; nv]));
        slot.0 = slot.0.min(depth);
        for (a, v) in slot.1.iter_mut().zip(&values) {
            *a = a.saturating_add(*v);
        }
    }
    out
}

/// Function names of a stack, leaf first (at most 32).
pub(super) fn frames_of(interner: &Interner, stack: StackId) -> Vec<String> {
    interner
        .stack_leaf_first(stack)
        .take(32)
        .map(|f| interner.frame_name(f))
        .collect()
}

pub(super) fn key_of(
    interner: &Interner,
    stack: StackId,
    by: KeyBy,
    kind: Kind,
    rules: &FrameRules,
) -> String {
    let leaf = interner.stack_leaf_first(stack).next();
    match by {
        // A goroutine's leaf is where the runtime parked it; its function is the first frame of
        // the program's own.
        KeyBy::Function if kind == Kind::Goroutine => {
            crate::goroutines::user_function(&frames_of(interner, stack))
        }
        KeyBy::Function => heap_leaf(interner, stack, rules)
            .map(|f| interner.frame_name(f))
            .unwrap_or_default(),
        KeyBy::Site => match leaf {
            Some(f) => {
                let loc = interner.frame_location(f);
                let name = interner.frame_name(f);
                if loc.is_empty() {
                    name
                } else {
                    format!("{name} {loc}")
                }
            }
            None => String::new(),
        },
        KeyBy::Stack => {
            let mut all: Vec<String> = interner
                .stack_leaf_first(stack)
                .map(|f| interner.frame_name(f))
                .collect();
            all.reverse();
            all.join(";")
        }
    }
}
