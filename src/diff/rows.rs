//! Values to rows: each key's base, later and delta, the floors that hide small rows, the
//! status words and the order.

use super::*;

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
pub(super) fn stack_rows(
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
pub(super) fn site_rows(
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
pub(super) fn frame_rows(
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
pub(super) fn fraction_floor(options: &DiffOptions, btotal: i64, ltotal: i64) -> Option<i64> {
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

pub(super) fn min_delta_floor(options: &DiffOptions, btotal: i64, ltotal: i64) -> Option<i64> {
    options.min_delta.map(|t| match t {
        Threshold::Absolute(v) => v,
        Threshold::Percent(p) => {
            let reference = if btotal != 0 { btotal } else { ltotal };
            (reference.unsigned_abs() as f64 * p / 100.0).ceil() as i64
        }
    })
}

pub(super) fn merge_into(
    mut big: FxHashMap<u32, Acc>,
    small: FxHashMap<u32, Acc>,
) -> FxHashMap<u32, Acc> {
    for (k, v) in small {
        big.entry(k).or_default().add(&v);
    }
    big
}

pub(super) fn site_key(interner: &Interner, f: FrameId) -> String {
    let loc = interner.frame_location(f);
    if loc.is_empty() {
        interner.frame_name(f)
    } else {
        format!("{} {loc}", interner.frame_name(f))
    }
}

pub(super) fn frame_out(interner: &Interner, f: FrameId) -> FrameOut {
    let fr = interner.frame_at(f);
    FrameOut {
        function: interner.frame_name(f),
        file: interner.str(fr.file).to_string(),
        line: fr.line,
    }
}

pub(super) fn make_row(
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

pub(super) fn sort_rows(rows: &mut [DiffRow], by: SortBy) {
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
