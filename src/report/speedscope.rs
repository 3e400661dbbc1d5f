//! speedscope's file format (<https://www.speedscope.app/file-format-schema.json>): one
//! `sampled` profile per side, frames shared, weights in bytes (or `none` for counts). Opens in
//! speedscope and, through its importer, in the Firefox Profiler.

use std::io::{self, Write};

use serde::Serialize;

use crate::diff::StackValues;
use crate::model::{FrameId, Interner};

/// The schema URL speedscope checks.
pub const SCHEMA_URL: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared,
    profiles: Vec<Sampled<'a>>,
    name: String,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    exporter: String,
}

#[derive(Serialize)]
struct Shared {
    frames: Vec<Frame>,
}

#[derive(Serialize)]
struct Frame {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

#[derive(Serialize)]
struct Sampled<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: i64,
    #[serde(rename = "endValue")]
    end_value: i64,
    samples: Vec<Vec<usize>>,
    weights: Vec<i64>,
}

/// speedscope's unit for a pprof unit.
fn unit_of(unit: &str) -> &'static str {
    match unit {
        "bytes" => "bytes",
        "nanoseconds" => "nanoseconds",
        "microseconds" => "microseconds",
        "milliseconds" => "milliseconds",
        "seconds" => "seconds",
        _ => "none",
    }
}

/// Writes one profile per name: with two names, the base and later sides of `values`; with one,
/// the later side alone. Stacks with no positive value on a side are left out of it.
pub fn write<W: Write + ?Sized>(
    interner: &Interner,
    values: &StackValues,
    names: &[&str],
    out: &mut W,
) -> io::Result<()> {
    let mut frame_index: rustc_hash::FxHashMap<FrameId, usize> = Default::default();
    let mut frames: Vec<Frame> = Vec::new();
    let sides: &[usize] = if names.len() >= 2 { &[0, 1] } else { &[1] };
    let unit = unit_of(&values.value_type.unit);
    let mut profiles = Vec::new();
    for (k, &side) in sides.iter().enumerate() {
        let mut samples = Vec::new();
        let mut weights = Vec::new();
        for &(stack, v) in &values.stacks {
            let w = v[side];
            if w <= 0 {
                continue;
            }
            let path: Vec<usize> = interner
                .stack_frames(stack)
                .into_iter()
                .map(|f| {
                    *frame_index.entry(f).or_insert_with(|| {
                        let fr = interner.frame_at(f);
                        let file = interner.str(fr.file);
                        frames.push(Frame {
                            name: interner.frame_name(f),
                            file: (!file.is_empty()).then(|| file.to_string()),
                            line: (fr.line > 0).then_some(fr.line),
                        });
                        frames.len() - 1
                    })
                })
                .collect();
            samples.push(path);
            weights.push(w);
        }
        let total = weights.iter().fold(0i64, |a, w| a.saturating_add(*w));
        profiles.push(Sampled {
            kind: "sampled",
            name: names.get(k).copied().unwrap_or("profile"),
            unit,
            start_value: 0,
            end_value: total,
            samples,
            weights,
        });
    }
    let file = File {
        schema: SCHEMA_URL,
        shared: Shared { frames },
        name: format!("{}: {}", values.value_type.kind, names.join(" → ")),
        active_profile_index: profiles.len() - 1,
        profiles,
        exporter: format!("leakdiff {}", env!("CARGO_PKG_VERSION")),
    };
    serde_json::to_writer(&mut *out, &file)?;
    writeln!(out)
}
