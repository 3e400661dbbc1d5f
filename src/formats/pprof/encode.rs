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

/// `raw` (an encoded profile, gzipped or not) with one more comment. Protobuf messages merge when
/// concatenated and a repeated field's entries append, so the comment's string goes after the
/// profile's own strings, at the index its table ends at, and the comment points there; nothing
/// else is rewritten. Gzipped again when it came gzipped; `None` when `raw` is not a profile
/// that decodes within `max_bytes`.
pub fn append_comment(raw: Vec<u8>, comment: &str, max_bytes: u64) -> Option<Vec<u8>> {
    use crate::formats::decompress::{decompress, Payload};
    let decoded = decompress(raw, "profile", max_bytes, Payload::Profile).ok()?;
    let strings = super::wire::decode_schema(&decoded.bytes)
        .ok()?
        .string_table
        .len();
    // An empty table still has index 0, the empty string, implied by nothing: add it first.
    let mut more = schema::Profile::default();
    if strings == 0 {
        more.string_table.push(String::new());
    }
    more.comment
        .push(more.string_table.len() as i64 + strings as i64);
    more.string_table.push(comment.to_string());
    let mut bytes = decoded.bytes;
    more.encode(&mut bytes).ok()?;
    if !decoded.was_gzip {
        return Some(bytes);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &bytes).ok()?;
    gz.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{decode_bytes, ReadOptions};

    fn read(raw: Vec<u8>) -> (Profile, Interner) {
        let mut interner = Interner::new();
        let p = decode_bytes(raw, "t", &ReadOptions::default())
            .and_then(|d| d.into_profile(&mut interner))
            .unwrap();
        (p, interner)
    }

    /// A Go heap profile as net/http/pprof serves it (gzipped) gains `NumGC=42` as a comment:
    /// read back, it carries the count and every sample it had; an ungzipped one stays so.
    #[test]
    fn a_comment_appended_reads_back_with_the_profile_unchanged() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/go/leak-base.pb.gz");
        let raw = std::fs::read(path).unwrap();
        let (before, _) = read(raw.clone());
        let with = append_comment(raw, "NumGC=42", 1 << 30).unwrap();
        assert_eq!(&with[..2], &[0x1f, 0x8b], "still gzip");
        let (after, _) = read(with.clone());
        assert_eq!(after.meta.gc_count, Some(42));
        assert_eq!(
            after.meta.comments.last().map(String::as_str),
            Some("NumGC=42")
        );
        assert_eq!(after.sample_count(), before.sample_count());
        for i in 0..before.value_types().len() {
            assert_eq!(after.total(i), before.total(i));
        }
        let plain = crate::formats::decompress::decompress(
            with,
            "t",
            1 << 30,
            crate::formats::decompress::Payload::Profile,
        )
        .unwrap()
        .bytes;
        let again = append_comment(plain, "NumGC=43", 1 << 30).unwrap();
        assert_ne!(&again[..2], &[0x1f, 0x8b]);
        let (last, _) = read(again);
        assert_eq!(last.meta.gc_count, Some(43));
        assert!(append_comment(b"not a profile".to_vec(), "x", 1 << 20).is_none());
    }
}
