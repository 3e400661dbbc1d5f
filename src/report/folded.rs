//! Folded stacks: one line per stack, frames root → leaf joined by `;`, then the value(s).
//! A diff writes `stack BASE LATER` (Brendan Gregg's difffolded and `inferno-diff-folded`'s
//! output, read by `flamegraph.pl` and `inferno-flamegraph`); one profile writes `stack VALUE`
//! (`stackcollapse` output, `jeprof --collapsed`, read by flamegraph.pl, inferno and speedscope).

use std::io::{self, Write};

use crate::diff::StackValues;
use crate::model::{Interner, StackId};

/// A frame name made safe for the folded format: `;` separates frames and the line ends the
/// record, so both (and other control characters) become `_`.
pub fn folded_frame(name: &str) -> String {
    name.chars()
        .map(|c| if c == ';' || c.is_control() { '_' } else { c })
        .collect()
}

fn stack_line(interner: &Interner, stack: StackId) -> String {
    let frames = interner.stack_frames(stack);
    if frames.is_empty() {
        return "[unknown]".to_string();
    }
    let names: Vec<String> = frames
        .iter()
        .map(|&f| folded_frame(&interner.frame_name(f)))
        .collect();
    names.join(";")
}

/// Lines sorted by stack text (so equal inputs give equal files); stacks with the same text (two
/// inlined copies) are summed.
fn lines(
    interner: &Interner,
    values: &StackValues,
    pick: impl Fn([i64; 2]) -> [i64; 2],
) -> Vec<(String, [i64; 2])> {
    let mut m: std::collections::BTreeMap<String, [i64; 2]> = Default::default();
    for &(s, v) in &values.stacks {
        let v = pick(v);
        if v == [0, 0] {
            continue;
        }
        let e = m.entry(stack_line(interner, s)).or_default();
        e[0] = e[0].saturating_add(v[0]);
        e[1] = e[1].saturating_add(v[1]);
    }
    m.into_iter().collect()
}

/// `stack BASE LATER` for every stack present on either side (values clamped at 0: the format
/// takes counts).
pub fn write_diff<W: Write + ?Sized>(
    interner: &Interner,
    values: &StackValues,
    out: &mut W,
) -> io::Result<()> {
    for (stack, [b, l]) in lines(interner, values, |[b, l]| [b.max(0), l.max(0)]) {
        writeln!(out, "{stack} {b} {l}")?;
    }
    Ok(())
}

/// `stack VALUE` of one profile (its later side).
pub fn write_profile<W: Write + ?Sized>(
    interner: &Interner,
    values: &StackValues,
    out: &mut W,
) -> io::Result<()> {
    for (stack, [_, v]) in lines(interner, values, |[_, l]| [0, l.max(0)]) {
        writeln!(out, "{stack} {v}")?;
    }
    Ok(())
}
