//! Model → `profile.proto` (prost-encoded). Used for round-trip tests now and `export --format pprof`
//! later; the output opens in `go tool pprof`.

use prost::Message;
use rustc_hash::FxHashMap;

use super::schema;
use crate::model::{Interner, LabelValue, Profile, StackId, StrId};

struct Strings {
    table: Vec<String>,
    index: FxHashMap<String, i64>,
}

impl Strings {
    fn new() -> Self {
        let mut s = Strings {
            table: Vec::new(),
            index: FxHashMap::default(),
        };
        s.get("");
        s
    }
    fn get(&mut self, v: &str) -> i64 {
        if let Some(&i) = self.index.get(v) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(v.to_string());
        self.index.insert(v.to_string(), i);
        i
    }
}

/// Builds the wire structs for a profile. One location per frame (inlining is not re-folded).
pub fn to_schema(profile: &Profile, interner: &Interner) -> schema::Profile {
    let mut strings = Strings::new();
    let mut out = schema::Profile::default();
    for vt in profile.value_types() {
        out.sample_type.push(schema::ValueType {
            r#type: strings.get(&vt.kind),
            unit: strings.get(&vt.unit),
        });
    }
    let mut location_of: FxHashMap<u32, u64> = FxHashMap::default();
    let mut function_of: FxHashMap<(StrId, StrId), u64> = FxHashMap::default();
    let mut mapping_of: FxHashMap<StrId, u64> = FxHashMap::default();
    for sample in profile.samples() {
        let mut ids = Vec::new();
        let mut cur = sample.stack;
        while cur != StackId::ROOT {
            let node = interner.node(cur);
            let next_id = location_of.len() as u64 + 1;
            let id = *location_of.entry(node.frame.0).or_insert(next_id);
            if id == next_id {
                let f = interner.frame_at(node.frame);
                let mut loc = schema::Location {
                    id,
                    ..Default::default()
                };
                if f.is_symbolized() {
                    let next_fn = function_of.len() as u64 + 1;
                    let fid = *function_of.entry((f.function, f.file)).or_insert(next_fn);
                    if fid == next_fn {
                        let name = strings.get(interner.str(f.function));
                        out.function.push(schema::Function {
                            id: fid,
                            name,
                            system_name: name,
                            filename: strings.get(interner.str(f.file)),
                            start_line: 0,
                        });
                    }
                    loc.line.push(schema::Line {
                        function_id: fid,
                        line: i64::from(f.line),
                        column: 0,
                    });
                } else {
                    let next_m = mapping_of.len() as u64 + 1;
                    let mid = *mapping_of.entry(f.module).or_insert(next_m);
                    if mid == next_m {
                        out.mapping.push(schema::Mapping {
                            id: mid,
                            filename: strings.get(interner.str(f.module)),
                            ..Default::default()
                        });
                    }
                    loc.mapping_id = mid;
                    loc.address = f.address;
                }
                out.location.push(loc);
            }
            ids.push(id);
            cur = node.parent;
        }
        let label = sample
            .labels
            .iter()
            .map(|l| match l.value {
                LabelValue::Str(s) => schema::Label {
                    key: strings.get(interner.str(l.key)),
                    str: strings.get(interner.str(s)),
                    ..Default::default()
                },
                LabelValue::Num { value, unit } => schema::Label {
                    key: strings.get(interner.str(l.key)),
                    num: value,
                    num_unit: strings.get(interner.str(unit)),
                    ..Default::default()
                },
            })
            .collect();
        out.sample.push(schema::Sample {
            location_id: ids,
            value: sample.values.to_vec(),
            label,
        });
    }
    let meta = &profile.meta;
    out.time_nanos = meta.time_nanos.unwrap_or(0);
    out.duration_nanos = meta.duration_nanos.unwrap_or(0);
    if let Some(pt) = &meta.period_type {
        out.period_type = Some(schema::ValueType {
            r#type: strings.get(&pt.kind),
            unit: strings.get(&pt.unit),
        });
    }
    out.period = meta.period;
    out.comment = meta.comments.iter().map(|c| strings.get(c)).collect();
    if let Some(d) = &meta.default_sample_type {
        out.default_sample_type = strings.get(d);
    }
    out.string_table = strings.table;
    out
}

/// Encodes a profile as uncompressed `profile.proto` bytes.
pub fn encode(profile: &Profile, interner: &Interner) -> Vec<u8> {
    to_schema(profile, interner).encode_to_vec()
}
