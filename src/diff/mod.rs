//! Two snapshots → ranked [`DiffRow`]s for one value type: later − base, per function (flat and
//! cumulative, recursion counted once), stack, allocation site, file or line.
//!
//! May import: `model`, `units`. Works on plain Fx hash maps (polars stays off this path); rayon
//! parallelises the per-stack walk. Output is identical whatever the thread count: sums are
//! integers and the final order is total.

mod select;

use rayon::prelude::*;
use regex::Regex;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{FrameId, Interner, Profile, StackId, StrId, ValueType};
use crate::units::Threshold;

pub use select::{select_value, SelectError};

/// JSON schema id of [`DiffResult`].
pub const SCHEMA: &str = "leakdiff.diff/v1";

/// What one row aggregates.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Function name: flat (leaf) and cumulative (anywhere on the stack, once per stack).
    #[default]
    Function,
    /// Whole stacks, root → leaf.
    Stack,
    /// Allocation site: the leaf frame with its file:line.
    Site,
    /// Source file: flat and cumulative.
    File,
    /// Function + file:line: flat and cumulative.
    Line,
}

/// Row order.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// Largest growth first, largest shrink last (flat delta, then cumulative delta).
    #[default]
    Delta,
    /// Largest absolute change first.
    Abs,
    /// Largest cumulative growth first.
    Cum,
}

/// Row status.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Absent (zero) in base, present in later.
    New,
    /// Present in base, absent (zero) in later.
    Gone,
    /// Grew.
    Grew,
    /// Shrank.
    Shrank,
    /// Unchanged.
    Same,
}

impl Status {
    fn of(base: i64, later: i64) -> Status {
        match (base == 0, later == 0) {
            (true, false) => Status::New,
            (false, true) => Status::Gone,
            _ if later > base => Status::Grew,
            _ if later < base => Status::Shrank,
            _ => Status::Same,
        }
    }

    /// Upper-case label.
    pub fn label(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::Gone => "GONE",
            Status::Grew => "GREW",
            Status::Shrank => "SHRANK",
            Status::Same => "SAME",
        }
    }
}

/// Options of a diff. `Default` gives pprof-like behaviour on the default value type.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Row granularity. Default: function.
    pub by: Granularity,
    /// Value type by pprof name (`inuse_space`) or index; `None` = inuse_space, else the
    /// producer's default, else the last. Default: `None`.
    pub sample: Option<String>,
    /// Keep only samples with a frame matching this (function name or file). Default: none.
    pub focus: Option<Regex>,
    /// Drop samples with a frame matching this. Default: none.
    pub ignore: Option<Regex>,
    /// Scale base values so base's total equals later's. Default: false.
    pub normalize: bool,
    /// Hide rows whose |delta| (flat or cumulative) is below this; a percentage is of |base total|.
    /// Default: none (rows with no change at all are always hidden).
    pub min_delta: Option<Threshold>,
    /// Keep only the first N rows after sorting; `None` = all. Default: `None`.
    pub top: Option<usize>,
    /// Row order. Default: growth first.
    pub sort: SortBy,
    /// Keep only samples with a label matching one of these (pprof `-tagfocus`). Default: none.
    pub tag_focus: Vec<TagFilter>,
    /// Drop samples with a label matching one of these (pprof `-tagignore`). Default: none.
    pub tag_ignore: Vec<TagFilter>,
    /// Hide rows whose flat and cumulative |delta| are both under this fraction of the total
    /// (pprof's `-nodefraction`; the CLI's tables default to pprof's 0.005). Default: none.
    pub node_fraction: Option<f64>,
    /// pprof `-base`: later − base shown as one profile, percentages of the total difference;
    /// `false` is `-diff_base` (percentages of the base). Default: false.
    pub subtract: bool,
}

/// A `-tagfocus`/`-tagignore` term: `REGEX` (any label's value) or `KEY=REGEX`; numeric
/// labels match as their decimal value, or with their unit (`1024bytes`).
#[derive(Clone, Debug)]
pub struct TagFilter {
    /// Only labels with this key, when given.
    pub key: Option<String>,
    /// Matched against the value (anchored by the caller's regex, as pprof does not anchor).
    pub value: Regex,
}

impl TagFilter {
    /// Parses `KEY=REGEX` or `REGEX`.
    pub fn parse(s: &str) -> Result<TagFilter, regex::Error> {
        let (key, pattern) = match s.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c)) =>
            {
                (Some(k.to_string()), v)
            }
            _ => (None, s),
        };
        Ok(TagFilter {
            key,
            value: Regex::new(pattern)?,
        })
    }

    fn matches(&self, interner: &Interner, labels: &[crate::model::Label]) -> bool {
        labels.iter().any(|l| {
            if self
                .key
                .as_deref()
                .is_some_and(|k| interner.str(l.key) != k)
            {
                return false;
            }
            match l.value {
                crate::model::LabelValue::Str(v) => self.value.is_match(interner.str(v)),
                crate::model::LabelValue::Num { value, unit } => {
                    let n = value.to_string();
                    self.value.is_match(&n)
                        || self.value.is_match(&format!("{n}{}", interner.str(unit)))
                }
            }
        })
    }
}

/// pprof's `-hide`/`-show` on frames, not samples: frames matching `hide` (or, with `show`, not
/// matching it) are taken out of every stack, so their values go to the caller that is shown.
/// Rewrites the profiles' stacks in `interner`.
pub fn prune_frames(
    interner: &mut Interner,
    profiles: &mut [&mut Profile],
    hide: Option<&Regex>,
    show: Option<&Regex>,
) {
    if hide.is_none() && show.is_none() {
        return;
    }
    let dropped: Vec<bool> = (0..interner.frames().len())
        .map(|i| {
            let id = FrameId(i as u32);
            let name = interner.frame_name(id);
            hide.is_some_and(|r| r.is_match(&name)) || show.is_some_and(|r| !r.is_match(&name))
        })
        .collect();
    let nodes: Vec<(StackId, FrameId)> = interner.nodes()[1..]
        .iter()
        .map(|n| (n.parent, n.frame))
        .collect();
    let mut to = Vec::with_capacity(nodes.len() + 1);
    to.push(StackId::ROOT);
    for (parent, frame) in nodes {
        let p: StackId = to[parent.index()];
        let id = if dropped[frame.index()] {
            p
        } else {
            interner.child(p, frame)
        };
        to.push(id);
    }
    for p in profiles.iter_mut() {
        p.map_stacks(|s| to.get(s.index()).copied().unwrap_or(StackId::ROOT));
    }
}

/// One frame as shown in outputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FrameOut {
    /// Function name, or `module+0xaddr` when unsymbolized.
    pub function: String,
    /// Source file ("" when unknown).
    pub file: String,
    /// Source line (0 when unknown).
    pub line: u32,
}

/// Cumulative (inclusive) values of a row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cumulative {
    /// Base value.
    pub base: i64,
    /// Later value.
    pub later: i64,
    /// later − base.
    pub delta: i64,
    /// delta / base × 100; null when base is 0.
    pub delta_pct: Option<f64>,
}

/// One row of a diff.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiffRow {
    /// Display key (function, `func file:line`, file, or `root;…;leaf`).
    pub key: String,
    /// Frames behind the key (root → leaf for stacks; one frame otherwise; empty for files).
    pub frames: Vec<FrameOut>,
    /// Base value (flat for function/file/line views).
    pub base: i64,
    /// Later value.
    pub later: i64,
    /// later − base; positive means it grew.
    pub delta: i64,
    /// delta / base × 100 of this row; null when base is 0.
    pub delta_pct: Option<f64>,
    /// NEW / GONE / GREW / SHRANK / SAME (by the cumulative values where there are some).
    pub status: Status,
    /// Inclusive values (function, file and line views only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cum: Option<Cumulative>,
}

/// Totals of the diffed value type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Totals {
    /// Base total (after focus/ignore; scaled when normalized).
    pub base: i64,
    /// Later total.
    pub later: i64,
    /// later − base.
    pub delta: i64,
    /// delta / base × 100; null when base is 0.
    pub delta_pct: Option<f64>,
}

/// One side of the diff.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Side {
    /// Input name.
    pub source: String,
    /// Input format.
    pub format: String,
    /// Profile time, ns since epoch.
    pub time_nanos: Option<i64>,
    /// Total of the value type before normalization.
    pub total: i64,
    /// Samples read.
    pub samples: usize,
}

/// A finished diff (JSON schema `leakdiff.diff/v1`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiffResult {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The value type compared.
    pub sample_type: ValueType,
    /// Its unit (copy of `sample_type.unit`).
    pub unit: String,
    /// Row granularity.
    pub by: Granularity,
    /// Sign convention, in words.
    pub sign_convention: &'static str,
    /// What percentages are relative to, in words.
    pub percent_base: &'static str,
    /// Base input.
    pub base: Side,
    /// Later input.
    pub later: Side,
    /// Factor applied to base values when `--normalize` was given.
    pub normalize_factor: Option<f64>,
    /// Totals.
    pub totals: Totals,
    /// Rows that changed, before `--top`/`--min-delta`.
    pub rows_changed: usize,
    /// The node fraction applied (pprof `-nodefraction`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_fraction: Option<f64>,
    /// Rows hidden because they are under the node fraction.
    #[serde(skip_serializing_if = "is_zero")]
    pub hidden_small: usize,
    /// `diff_base` (default) or `base` (pprof `-base`: the difference shown as one profile).
    pub mode: &'static str,
    /// The largest flat growth of any row before `--min-delta`, the node fraction and `--top`
    /// (what `--fail-on-growth` judges; not part of the JSON).
    #[serde(skip)]
    pub max_row_growth: i64,
    /// The rows, sorted.
    pub rows: Vec<DiffRow>,
}

/// The sign convention stated in every output.
pub const SIGN_CONVENTION: &str = "delta = later - base; positive = grew, negative = shrank";
/// The percentage base stated in every output.
pub const PERCENT_BASE: &str =
    "delta% = delta / base of the same row (totals: of the base total); n/a when base is 0";
/// The percentage base in `--base` (subtract) mode.
pub const PERCENT_BASE_SUBTRACT: &str =
    "delta% = delta / |total delta| (pprof -base: the difference as one profile); n/a when it is 0";

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn pct(delta: i64, base: i64) -> Option<f64> {
    (base != 0).then(|| delta as f64 * 100.0 / base.unsigned_abs() as f64)
}

/// Per-frame and per-node filter state.
fn sample_filter(
    interner: &Interner,
    focus: Option<&Regex>,
    ignore: Option<&Regex>,
) -> Option<Vec<bool>> {
    if focus.is_none() && ignore.is_none() {
        return None;
    }
    let frame_hits: Vec<(bool, bool)> = (0..interner.frames().len())
        .into_par_iter()
        .map(|i| {
            let id = FrameId(i as u32);
            let name = interner.frame_name(id);
            let file = interner.str(interner.frame_at(id).file);
            let hit = |r: &Regex| r.is_match(&name) || (!file.is_empty() && r.is_match(file));
            (focus.is_some_and(hit), ignore.is_some_and(hit))
        })
        .collect();
    let nodes = interner.nodes();
    let mut state: Vec<(bool, bool)> = Vec::with_capacity(nodes.len());
    state.push((false, false));
    for n in &nodes[1..] {
        let (pf, pi) = state[n.parent.index()];
        let (ff, fi) = frame_hits[n.frame.index()];
        state.push((pf || ff, pi || fi));
    }
    Some(
        state
            .into_iter()
            .map(|(f, i)| (focus.is_none() || f) && !i)
            .collect(),
    )
}

fn aggregate(
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
struct Acc {
    flat: [i64; 2],
    cum: [i64; 2],
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        for i in 0..2 {
            self.flat[i] = self.flat[i].saturating_add(o.flat[i]);
            self.cum[i] = self.cum[i].saturating_add(o.cum[i]);
        }
    }
}

/// Key of a frame under a granularity: dense key ids plus a representative frame per key.
struct KeySpace {
    of_frame: Vec<u32>,
    representative: Vec<FrameId>,
}

fn key_space(interner: &Interner, by: Granularity) -> KeySpace {
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

/// A diff as a profile other tools open (`go tool pprof -top diff.pb.gz`): one sample per stack
/// whose value is later − base (negative where memory was freed), in the compared value type.
pub fn diff_profile(
    values: &StackValues,
    interner: &Interner,
    comment: &str,
) -> Result<Profile, crate::model::ValidationError> {
    let mut b = crate::model::ProfileBuilder::new(
        crate::model::Format::Pprof,
        vec![values.value_type.clone()],
    );
    b.meta_mut().comments.push(comment.to_string());
    b.reserve(values.stacks.len());
    for (stack, [base, later]) in &values.stacks {
        let d = later.saturating_sub(*base);
        if d != 0 {
            b.add_sample(*stack, &[d], &[]);
        }
    }
    b.finish(interner)
}

/// Diffs two profiles whose ids point into the same `interner`.
pub fn diff(
    base: &Profile,
    later: &Profile,
    interner: &Interner,
    options: &DiffOptions,
) -> Result<DiffResult, SelectError> {
    let values = stack_values(base, later, interner, options)?;
    Ok(diff_values(base, later, values, interner, options))
}

/// [`diff`] of values already aggregated per stack (so a caller that also draws a flamegraph
/// aggregates once). `options.sample`, `focus` and `ignore` were applied by [`stack_values`].
pub fn diff_values(
    base: &Profile,
    later: &Profile,
    values: StackValues,
    interner: &Interner,
    options: &DiffOptions,
) -> DiffResult {
    let StackValues {
        value_type,
        stacks,
        base_total: btotal_raw,
        later_total: ltotal,
    } = values;
    let factor = (options.normalize && btotal_raw != 0).then(|| ltotal as f64 / btotal_raw as f64);
    let scale = |v: i64| factor.map_or(v, |f| (v as f64 * f).round() as i64);

    let mut changed_override = None;
    let mut rows: Vec<DiffRow> = match options.by {
        Granularity::Stack => {
            let (rows, changed) = stack_rows(
                &stacks,
                interner,
                options,
                &scale,
                scale(btotal_raw),
                ltotal,
            );
            changed_override = Some(changed);
            rows
        }
        Granularity::Site => site_rows(&stacks, interner, &scale),
        by => frame_rows(&stacks, interner, by, &scale),
    };
    rows.retain(|r| r.delta != 0 || r.cum.as_ref().is_some_and(|c| c.delta != 0));
    let rows_changed = changed_override.unwrap_or(rows.len());
    let max_row_growth = rows.iter().map(|r| r.delta).max().unwrap_or(0);
    let btotal = scale(btotal_raw);
    let big_enough = |r: &DiffRow, floor: i64| {
        r.delta.unsigned_abs() as i64 >= floor
            || r.cum
                .as_ref()
                .is_some_and(|c| c.delta.unsigned_abs() as i64 >= floor)
    };
    if let Some(floor) = min_delta_floor(options, btotal, ltotal) {
        rows.retain(|r| big_enough(r, floor));
    }
    let mut hidden_small = 0;
    if let Some(floor) = fraction_floor(options, btotal, ltotal) {
        let before = rows.len();
        rows.retain(|r| big_enough(r, floor));
        hidden_small = before - rows.len();
    }
    if options.subtract {
        let d = ltotal.saturating_sub(btotal);
        for r in &mut rows {
            r.delta_pct = pct(r.delta, d);
            if let Some(c) = r.cum.as_mut() {
                c.delta_pct = pct(c.delta, d);
            }
        }
    }
    sort_rows(&mut rows, options.sort);
    if let Some(n) = options.top {
        rows.truncate(n);
    }
    let side = |p: &Profile, total: i64| Side {
        source: p.meta.source.clone(),
        format: p.format.name().to_string(),
        time_nanos: p.meta.time_nanos,
        total,
        samples: p.sample_count(),
    };
    DiffResult {
        schema: SCHEMA,
        unit: value_type.unit.clone(),
        sample_type: value_type,
        by: options.by,
        sign_convention: SIGN_CONVENTION,
        percent_base: if options.subtract {
            PERCENT_BASE_SUBTRACT
        } else {
            PERCENT_BASE
        },
        base: side(base, btotal_raw),
        later: side(later, ltotal),
        normalize_factor: factor,
        totals: Totals {
            base: btotal,
            later: ltotal,
            delta: ltotal.saturating_sub(btotal),
            delta_pct: pct(ltotal.saturating_sub(btotal), btotal),
        },
        rows_changed,
        node_fraction: options.node_fraction.filter(|f| *f > 0.0),
        hidden_small,
        mode: if options.subtract {
            "base"
        } else {
            "diff_base"
        },
        max_row_growth,
        rows,
    }
}

/// Rows per whole stack (`--by stack`): numbers first, key strings only for the rows that can be
/// shown; also returns how many stacks changed before `--min-delta` and `--top`.
fn stack_rows(
    stacks: &[(StackId, [i64; 2])],
    interner: &Interner,
    options: &DiffOptions,
    scale: &dyn Fn(i64) -> i64,
    btotal: i64,
    ltotal: i64,
) -> (Vec<DiffRow>, usize) {
    // Numbers first; strings only for the rows that can be shown (200k stacks would
    // otherwise build 200k keys to print 20).
    let mut numeric: Vec<(StackId, i64, i64)> = stacks
        .iter()
        .map(|&(s, [b, l])| (s, scale(b), l))
        .filter(|&(_, b, l)| l != b)
        .collect();
    let changed = numeric.len();
    if let Some(floor) = min_delta_floor(options, btotal, ltotal) {
        numeric.retain(|&(_, b, l)| l.saturating_sub(b).unsigned_abs() as i64 >= floor);
    }
    if let Some(n) = options.top.filter(|&n| n > 0 && n < numeric.len()) {
        // Keep the n best by the primary sort key and everything tied with the n-th;
        // sort_rows breaks the ties by key below, exactly as for all rows.
        let primary = |&(_, b, l): &(StackId, i64, i64)| {
            let d = l.saturating_sub(b);
            match options.sort {
                SortBy::Abs => (std::cmp::Reverse(d.unsigned_abs()), std::cmp::Reverse(d)),
                SortBy::Delta | SortBy::Cum => (std::cmp::Reverse(0), std::cmp::Reverse(d)),
            }
        };
        let (_, nth, _) = numeric.select_nth_unstable_by_key(n - 1, primary);
        let cut = primary(nth);
        numeric.retain(|r| primary(r) <= cut);
    }
    let rows = numeric
        .into_iter()
        .map(|(s, b, l)| {
            let frames = interner.stack_frames(s);
            let key = if frames.is_empty() {
                "(empty stack)".to_string()
            } else {
                frames
                    .iter()
                    .map(|&f| interner.frame_name(f))
                    .collect::<Vec<_>>()
                    .join(";")
            };
            make_row(
                key,
                frames.iter().map(|&f| frame_out(interner, f)).collect(),
                b,
                l,
                None,
            )
        })
        .collect();
    (rows, changed)
}

/// Rows per allocation site (`--by site`): the leaf frame with its file:line.
fn site_rows(
    stacks: &[(StackId, [i64; 2])],
    interner: &Interner,
    scale: &dyn Fn(i64) -> i64,
) -> Vec<DiffRow> {
    let mut sites: FxHashMap<FrameId, [i64; 2]> = FxHashMap::default();
    let mut empty = [0i64; 2];
    for &(s, [b, l]) in stacks {
        let slot = if s == StackId::ROOT {
            &mut empty
        } else {
            sites.entry(interner.node(s).frame).or_default()
        };
        slot[0] = slot[0].saturating_add(b);
        slot[1] = slot[1].saturating_add(l);
    }
    let mut rows: Vec<DiffRow> = sites
        .into_iter()
        .map(|(f, [b, l])| {
            make_row(
                site_key(interner, f),
                vec![frame_out(interner, f)],
                scale(b),
                l,
                None,
            )
        })
        .collect();
    if empty != [0, 0] {
        rows.push(make_row(
            "(empty stack)".into(),
            vec![],
            scale(empty[0]),
            empty[1],
            None,
        ));
    }
    rows
}

/// Rows per function, file or line, flat (the leaf's own) and cumulative (each key once per
/// stack), accumulated over chunks of stacks in parallel.
fn frame_rows(
    stacks: &[(StackId, [i64; 2])],
    interner: &Interner,
    by: Granularity,
    scale: &dyn Fn(i64) -> i64,
) -> Vec<DiffRow> {
    let keys = key_space(interner, by);
    let nkeys = keys.representative.len();
    let chunk = (stacks.len() / (rayon::current_num_threads() * 4)).max(2048);
    let accs: FxHashMap<u32, Acc> = stacks
        .par_chunks(chunk)
        .map(|part| {
            let mut acc: FxHashMap<u32, Acc> = FxHashMap::default();
            let mut seen: Vec<u32> = vec![u32::MAX; nkeys];
            for (gen, &(s, [b, l])) in part.iter().enumerate() {
                let gen = gen as u32;
                let mut leaf = true;
                for f in interner.stack_leaf_first(s) {
                    let k = keys.of_frame[f.index()];
                    let e = acc.entry(k).or_default();
                    if leaf {
                        e.flat[0] = e.flat[0].saturating_add(b);
                        e.flat[1] = e.flat[1].saturating_add(l);
                        leaf = false;
                    }
                    if seen[k as usize] != gen {
                        seen[k as usize] = gen;
                        e.cum[0] = e.cum[0].saturating_add(b);
                        e.cum[1] = e.cum[1].saturating_add(l);
                    }
                }
            }
            acc
        })
        .reduce(FxHashMap::default, |mut a, b| {
            if a.len() < b.len() {
                return merge_into(b, a);
            }
            for (k, v) in b {
                a.entry(k).or_default().add(&v);
            }
            a
        });
    accs.into_iter()
        .map(|(k, acc)| {
            let f = keys.representative[k as usize];
            let (key, frames) = match by {
                Granularity::File => {
                    let fr = interner.frame_at(f);
                    let name = if fr.file != StrId::EMPTY {
                        interner.str(fr.file).to_string()
                    } else if fr.module != StrId::EMPTY {
                        interner.str(fr.module).to_string()
                    } else {
                        "(unknown file)".to_string()
                    };
                    (name, vec![])
                }
                Granularity::Line => (site_key(interner, f), vec![frame_out(interner, f)]),
                _ => {
                    let mut out = frame_out(interner, f);
                    out.file = if interner.frame_at(f).is_symbolized() {
                        out.file
                    } else {
                        String::new()
                    };
                    out.line = 0;
                    (interner.frame_name(f), vec![out])
                }
            };
            let cum = (scale(acc.cum[0]), acc.cum[1]);
            make_row(key, frames, scale(acc.flat[0]), acc.flat[1], Some(cum))
        })
        .collect()
}

/// The `--min-delta` floor in the value's unit (a percentage is of the base total, or of the
/// later total when base is empty).
/// The node-fraction cut in the row's unit: of the base total (of the total difference with
/// `--base`), else of the later total; never 0 (a cut of 0 is none).
fn fraction_floor(options: &DiffOptions, btotal: i64, ltotal: i64) -> Option<i64> {
    let f = options.node_fraction.filter(|f| *f > 0.0)?;
    let reference = if options.subtract {
        ltotal.saturating_sub(btotal)
    } else if btotal != 0 {
        btotal
    } else {
        ltotal
    };
    Some(((reference.unsigned_abs() as f64 * f).ceil() as i64).max(1))
}

fn min_delta_floor(options: &DiffOptions, btotal: i64, ltotal: i64) -> Option<i64> {
    options.min_delta.map(|t| match t {
        Threshold::Absolute(v) => v,
        Threshold::Percent(p) => {
            let reference = if btotal != 0 { btotal } else { ltotal };
            (reference.unsigned_abs() as f64 * p / 100.0).ceil() as i64
        }
    })
}

fn merge_into(mut big: FxHashMap<u32, Acc>, small: FxHashMap<u32, Acc>) -> FxHashMap<u32, Acc> {
    for (k, v) in small {
        big.entry(k).or_default().add(&v);
    }
    big
}

fn site_key(interner: &Interner, f: FrameId) -> String {
    let loc = interner.frame_location(f);
    if loc.is_empty() {
        interner.frame_name(f)
    } else {
        format!("{} {loc}", interner.frame_name(f))
    }
}

fn frame_out(interner: &Interner, f: FrameId) -> FrameOut {
    let fr = interner.frame_at(f);
    FrameOut {
        function: interner.frame_name(f),
        file: interner.str(fr.file).to_string(),
        line: fr.line,
    }
}

fn make_row(
    key: String,
    frames: Vec<FrameOut>,
    base: i64,
    later: i64,
    cum: Option<(i64, i64)>,
) -> DiffRow {
    let delta = later.saturating_sub(base);
    let cum = cum.map(|(b, l)| {
        let d = l.saturating_sub(b);
        Cumulative {
            base: b,
            later: l,
            delta: d,
            delta_pct: pct(d, b),
        }
    });
    let status = match &cum {
        Some(c) => Status::of(c.base, c.later),
        None => Status::of(base, later),
    };
    DiffRow {
        key,
        frames,
        base,
        later,
        delta,
        delta_pct: pct(delta, base),
        status,
        cum,
    }
}

fn sort_rows(rows: &mut [DiffRow], by: SortBy) {
    let cum_delta = |r: &DiffRow| r.cum.as_ref().map_or(r.delta, |c| c.delta);
    let location = |r: &DiffRow| -> Vec<(String, u32)> {
        r.frames.iter().map(|f| (f.file.clone(), f.line)).collect()
    };
    rows.sort_by(|a, b| {
        let primary = match by {
            SortBy::Delta => b.delta.cmp(&a.delta).then(cum_delta(b).cmp(&cum_delta(a))),
            SortBy::Abs => b
                .delta
                .unsigned_abs()
                .cmp(&a.delta.unsigned_abs())
                .then(
                    cum_delta(b)
                        .unsigned_abs()
                        .cmp(&cum_delta(a).unsigned_abs()),
                )
                .then(b.delta.cmp(&a.delta)),
            SortBy::Cum => cum_delta(b).cmp(&cum_delta(a)).then(b.delta.cmp(&a.delta)),
        };
        primary
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| location(a).cmp(&location(b)))
    });
}

/// True when `result` crosses a `--fail-on-growth` threshold: the total, or any row's flat delta,
/// grew by at least the amount (a percentage is of the base total).
pub fn crosses(result: &DiffResult, threshold: Threshold) -> bool {
    let reference = result.totals.base.unsigned_abs() as f64;
    let over = |delta: i64| match threshold {
        Threshold::Absolute(v) => delta > 0 && delta >= v,
        Threshold::Percent(p) => {
            delta > 0 && (reference == 0.0 || delta as f64 * 100.0 / reference >= p)
        }
    };
    over(result.totals.delta)
        || over(result.max_row_growth)
        || result.rows.iter().any(|r| over(r.delta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, ProfileBuilder};

    fn profile(i: &mut Interner, stacks: &[(&[&str], i64)]) -> Profile {
        let mut b =
            ProfileBuilder::new(Format::Pprof, vec![ValueType::new("inuse_space", "bytes")]);
        for (names, v) in stacks {
            let frames: Vec<_> = names.iter().map(|n| i.symbol_frame(n, "f.go", 1)).collect();
            let s = i.stack_from_root(frames);
            b.add_sample(s, &[*v], &[]);
        }
        b.finish(i).unwrap()
    }

    #[test]
    fn recursion_is_counted_once_in_cumulative_values() {
        let mut i = Interner::new();
        let base = profile(&mut i, &[]);
        let later = profile(&mut i, &[(&["main", "walk", "walk", "walk", "alloc"], 100)]);
        let r = diff(&base, &later, &i, &DiffOptions::default()).unwrap();
        let walk = r.rows.iter().find(|r| r.key == "walk").unwrap();
        assert_eq!(walk.cum.as_ref().unwrap().later, 100);
        assert_eq!(walk.later, 0);
    }

    #[test]
    fn stack_rows_with_top_equal_the_head_of_all_rows_ties_included() {
        let mut i = Interner::new();
        let names: Vec<String> = (0..60).map(|k| format!("f{k}")).collect();
        let mut base_stacks: Vec<(Vec<&str>, i64)> = Vec::new();
        let mut later_stacks: Vec<(Vec<&str>, i64)> = Vec::new();
        for k in 0..60usize {
            let stack = vec![names[k % 7].as_str(), names[k].as_str()];
            base_stacks.push((stack.clone(), 100));
            // Many ties: deltas in {-20, 0, 10, 20, 30}.
            later_stacks.push((
                stack,
                100 + [10, 20, 30, -20, 0][k % 5] * (1 + (k % 2) as i64),
            ));
        }
        let b: Vec<(&[&str], i64)> = base_stacks.iter().map(|(s, v)| (&s[..], *v)).collect();
        let l: Vec<(&[&str], i64)> = later_stacks.iter().map(|(s, v)| (&s[..], *v)).collect();
        let base = profile(&mut i, &b);
        let later = profile(&mut i, &l);
        for sort in [SortBy::Delta, SortBy::Abs, SortBy::Cum] {
            let run = |top: Option<usize>| {
                let opts = DiffOptions {
                    by: Granularity::Stack,
                    sort,
                    top,
                    ..Default::default()
                };
                diff(&base, &later, &i, &opts).unwrap()
            };
            let all = run(None);
            for n in [1, 5, 13, 30, 200] {
                let top = run(Some(n));
                let keys =
                    |r: &DiffResult| r.rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
                let want: Vec<String> = keys(&all).into_iter().take(n).collect();
                assert_eq!(keys(&top), want, "{sort:?} top {n}");
                assert_eq!(top.rows_changed, all.rows_changed);
            }
        }
    }

    #[test]
    fn diff_marks_stack_only_in_later_as_new_and_vanished_as_gone() {
        let mut i = Interner::new();
        let base = profile(&mut i, &[(&["main", "old"], 50), (&["main", "kept"], 10)]);
        let later = profile(&mut i, &[(&["main", "fresh"], 70), (&["main", "kept"], 10)]);
        let opts = DiffOptions {
            by: Granularity::Stack,
            ..Default::default()
        };
        let r = diff(&base, &later, &i, &opts).unwrap();
        let status: Vec<(&str, Status)> =
            r.rows.iter().map(|r| (r.key.as_str(), r.status)).collect();
        assert_eq!(
            status,
            [("main;fresh", Status::New), ("main;old", Status::Gone)]
        );
        assert_eq!(r.rows[0].delta_pct, None);
        assert_eq!(r.rows[1].delta_pct, Some(-100.0));
    }

    #[test]
    fn fail_on_growth_percent_is_of_the_base_total() {
        let mut i = Interner::new();
        let base = profile(&mut i, &[(&["a"], 1000)]);
        let later = profile(&mut i, &[(&["a"], 1000), (&["b"], 60)]);
        let r = diff(&base, &later, &i, &DiffOptions::default()).unwrap();
        assert!(crosses(&r, Threshold::Percent(5.0)));
        assert!(!crosses(&r, Threshold::Percent(10.0)));
        assert!(crosses(&r, Threshold::Absolute(60)));
        assert!(!crosses(&r, Threshold::Absolute(61)));
    }

    #[test]
    fn fail_on_growth_sees_rows_the_node_fraction_hid() {
        let mut i = Interner::new();
        let base = profile(
            &mut i,
            &[(&["main", "big"], 1 << 30), (&["main", "small"], 0)],
        );
        let later = profile(
            &mut i,
            &[
                (&["main", "big"], (1 << 30) - (1 << 20)),
                (&["main", "small"], 1 << 20),
            ],
        );
        let opts = DiffOptions {
            node_fraction: Some(0.005),
            top: Some(1),
            ..Default::default()
        };
        let r = diff(&base, &later, &i, &opts).unwrap();
        assert_eq!(r.totals.delta, 0);
        assert!(
            r.rows.iter().all(|row| row.key != "small"),
            "hidden: under 0.5 %"
        );
        assert!(r.hidden_small > 0);
        assert!(crosses(&r, Threshold::Absolute(512 << 10)));
        assert!(!crosses(&r, Threshold::Absolute(2 << 20)));
    }
}
