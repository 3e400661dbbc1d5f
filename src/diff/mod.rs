//! Two snapshots → ranked [`DiffRow`]s for one value type: later − base, per function (flat and
//! cumulative, recursion counted once), stack, allocation site, file or line.
//!
//! May import: `model`, `units`. Works on plain Fx hash maps (polars stays off this path); rayon
//! parallelises the per-stack walk. Output is identical whatever the thread count: sums are
//! integers and the final order is total.

use rayon::prelude::*;
use regex::Regex;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{FrameId, Interner, Profile, StackId, StrId, ValueType};
use crate::units::Threshold;

mod aggregate;
mod filter;
mod rows;
mod select;

pub use aggregate::*;
pub use filter::*;
pub use rows::*;
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
