//! A protobuf wire decoder for `profile.proto` that reports byte offsets, accepts packed and
//! unpacked repeated scalars, skips unknown fields and detects concatenated profiles.
//!
//! Field numbers: proto/profile.proto. prost is used to *encode* (schema.rs); decoding is ours so
//! that every error can say where it happened.

use super::schema;

/// A decoding failure at a byte offset of the decompressed protobuf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// Byte offset.
    pub offset: u64,
    /// What went wrong.
    pub message: String,
}

/// Where each top-level record started (for later semantic errors).
#[derive(Debug, Default, Clone)]
pub struct Offsets {
    /// Start of each `sample`.
    pub sample: Vec<u64>,
    /// Start of each `location`.
    pub location: Vec<u64>,
    /// Start of each `function`.
    pub function: Vec<u64>,
    /// Start of each `mapping`.
    pub mapping: Vec<u64>,
}

/// All samples of a profile in flat arrays (one allocation per column, not per sample).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Samples {
    location_ids: Vec<u64>,
    location_starts: Vec<usize>,
    values: Vec<i64>,
    value_starts: Vec<usize>,
    labels: Vec<schema::Label>,
    label_starts: Vec<usize>,
}

impl Samples {
    fn new() -> Self {
        Samples {
            location_starts: vec![0],
            value_starts: vec![0],
            label_starts: vec![0],
            ..Default::default()
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.location_starts.len() - 1
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total location ids over all samples.
    pub fn total_locations(&self) -> usize {
        self.location_ids.len()
    }

    /// Sample `i`: location ids (leaf first), values, labels.
    pub fn get(&self, i: usize) -> (&[u64], &[i64], &[schema::Label]) {
        (
            &self.location_ids[self.location_starts[i]..self.location_starts[i + 1]],
            &self.values[self.value_starts[i]..self.value_starts[i + 1]],
            &self.labels[self.label_starts[i]..self.label_starts[i + 1]],
        )
    }

    fn close(&mut self) {
        self.location_starts.push(self.location_ids.len());
        self.value_starts.push(self.values.len());
        self.label_starts.push(self.labels.len());
    }

    /// Flattens wire structs.
    pub fn from_schema(samples: &[schema::Sample]) -> Self {
        let mut s = Samples::new();
        for x in samples {
            s.location_ids.extend_from_slice(&x.location_id);
            s.values.extend_from_slice(&x.value);
            s.labels.extend_from_slice(&x.label);
            s.close();
        }
        s
    }

    /// Expands back into wire structs.
    pub fn to_schema(&self) -> Vec<schema::Sample> {
        (0..self.len())
            .map(|i| {
                let (l, v, lb) = self.get(i);
                schema::Sample {
                    location_id: l.to_vec(),
                    value: v.to_vec(),
                    label: lb.to_vec(),
                }
            })
            .collect()
    }
}

type Result<T> = std::result::Result<T, WireError>;

#[derive(Copy, Clone)]
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Wire {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], base: u64) -> Self {
        Cursor { buf, pos: 0, base }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn err<T>(&self, at: u64, message: impl Into<String>) -> Result<T> {
        Err(WireError {
            offset: at,
            message: message.into(),
        })
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64> {
        let start = self.offset();
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return self.err(start, "varint runs past the end of its message");
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return self.err(start, "varint longer than 64 bits");
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        self.err(start, "varint longer than 10 bytes")
    }

    fn key(&mut self) -> Result<(u32, Wire, u64)> {
        let at = self.offset();
        let key = self.varint()?;
        let field = key >> 3;
        let wire = match key & 7 {
            0 => Wire::Varint,
            1 => Wire::Fixed64,
            2 => Wire::Len,
            5 => Wire::Fixed32,
            w => return self.err(at, format!("unsupported wire type {w} (field {field})")),
        };
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return self.err(at, format!("invalid field number {field}"));
        }
        Ok((field as u32, wire, at))
    }

    fn bytes(&mut self) -> Result<Cursor<'a>> {
        let at = self.offset();
        let len = self.varint()?;
        let remaining = (self.buf.len() - self.pos) as u64;
        if len > remaining {
            return self.err(
                at,
                format!("length {len} runs past the end of its message ({remaining} bytes left)"),
            );
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(Cursor::new(
            &self.buf[start..self.pos],
            self.base + start as u64,
        ))
    }

    fn skip(&mut self, wire: Wire) -> Result<()> {
        let at = self.offset();
        let n = match wire {
            Wire::Varint => return self.varint().map(|_| ()),
            Wire::Len => return self.bytes().map(|_| ()),
            Wire::Fixed64 => 8,
            Wire::Fixed32 => 4,
        };
        if self.buf.len() - self.pos < n {
            return self.err(at, "fixed-width field runs past the end of its message");
        }
        self.pos += n;
        Ok(())
    }

    fn expect(&self, got: Wire, want: Wire, field: u32, at: u64) -> Result<()> {
        if got == want {
            Ok(())
        } else {
            self.err(at, format!("field {field} has the wrong wire type"))
        }
    }

    fn int64(&mut self, wire: Wire, field: u32, at: u64) -> Result<i64> {
        self.expect(wire, Wire::Varint, field, at)?;
        Ok(self.varint()? as i64)
    }

    fn uint64(&mut self, wire: Wire, field: u32, at: u64) -> Result<u64> {
        self.expect(wire, Wire::Varint, field, at)?;
        self.varint()
    }

    fn boolean(&mut self, wire: Wire, field: u32, at: u64) -> Result<bool> {
        Ok(self.uint64(wire, field, at)? != 0)
    }

    /// A repeated varint field, packed (one LEN record) or not (one varint).
    fn repeated(&mut self, wire: Wire, out: &mut Vec<u64>) -> Result<()> {
        match wire {
            Wire::Varint => out.push(self.varint()?),
            Wire::Len => {
                let mut inner = self.bytes()?;
                while !inner.done() {
                    out.push(inner.varint()?);
                }
            }
            _ => {
                return self.err(
                    self.offset(),
                    "repeated integer field has the wrong wire type",
                )
            }
        }
        Ok(())
    }
}

/// Decodes one `Profile` message into wire structs (samples included in `sample`).
pub fn decode_schema(buf: &[u8]) -> Result<schema::Profile> {
    let (mut p, samples, _) = decode(buf)?;
    p.sample = samples.to_schema();
    Ok(p)
}

/// The error decoding stops at on the first field's key, seen from a payload's first bytes (a
/// zeros bomb's `invalid field number 0`): a compressed input can be refused before it is
/// decompressed whole. `head` must hold at least 10 bytes unless it is the whole payload.
pub fn first_key_error(head: &[u8]) -> Option<WireError> {
    if head.is_empty() {
        return None;
    }
    Cursor::new(head, 0).key().err()
}

/// Decodes one `Profile` message: everything but the samples as wire structs, the samples flat.
pub fn decode(buf: &[u8]) -> Result<(schema::Profile, Samples, Offsets)> {
    let mut c = Cursor::new(buf, 0);
    let mut p = schema::Profile::default();
    let mut offsets = Offsets::default();
    let mut samples = Samples::new();
    let mut seen_time = false;
    let mut scratch = Vec::new();
    while !c.done() {
        let (field, wire, at) = c.key()?;
        match field {
            1 => p.sample_type.push(value_type(c.len_of(wire, field, at)?)?),
            2 => {
                offsets.sample.push(at);
                sample(c.len_of(wire, field, at)?, &mut samples, &mut scratch)?;
            }
            3 => {
                offsets.mapping.push(at);
                p.mapping.push(mapping(c.len_of(wire, field, at)?)?);
            }
            4 => {
                offsets.location.push(at);
                p.location
                    .push(location(c.len_of(wire, field, at)?, &mut scratch)?);
            }
            5 => {
                offsets.function.push(at);
                p.function.push(function(c.len_of(wire, field, at)?)?);
            }
            6 => {
                let s = c.len_of(wire, field, at)?;
                p.string_table
                    .push(String::from_utf8_lossy(s.buf).into_owned());
            }
            7 => p.drop_frames = c.int64(wire, field, at)?,
            8 => p.keep_frames = c.int64(wire, field, at)?,
            9 => {
                if seen_time {
                    return c.err(
                        at,
                        "concatenated profiles detected (time_nanos appears twice); split the file into one profile each",
                    );
                }
                seen_time = true;
                p.time_nanos = c.int64(wire, field, at)?;
            }
            10 => p.duration_nanos = c.int64(wire, field, at)?,
            11 => p.period_type = Some(value_type(c.len_of(wire, field, at)?)?),
            12 => p.period = c.int64(wire, field, at)?,
            13 => {
                scratch.clear();
                c.repeated(wire, &mut scratch)?;
                p.comment.extend(scratch.iter().map(|&v| v as i64));
            }
            14 => p.default_sample_type = c.int64(wire, field, at)?,
            15 => p.doc_url = c.int64(wire, field, at)?,
            _ => c.skip(wire)?,
        }
    }
    Ok((p, samples, offsets))
}

impl<'a> Cursor<'a> {
    fn len_of(&mut self, wire: Wire, field: u32, at: u64) -> Result<Cursor<'a>> {
        self.expect(wire, Wire::Len, field, at)?;
        // Report a bad length at the start of its field, where a reader would look.
        self.bytes().map_err(|e| WireError {
            offset: at,
            message: format!("field {field}: {}", e.message),
        })
    }
}

fn value_type(mut c: Cursor<'_>) -> Result<schema::ValueType> {
    let mut v = schema::ValueType::default();
    while !c.done() {
        let (field, wire, at) = c.key()?;
        match field {
            1 => v.r#type = c.int64(wire, field, at)?,
            2 => v.unit = c.int64(wire, field, at)?,
            _ => c.skip(wire)?,
        }
    }
    Ok(v)
}

fn sample(mut c: Cursor<'_>, out: &mut Samples, scratch: &mut Vec<u64>) -> Result<()> {
    while !c.done() {
        let (field, wire, at) = c.key()?;
        match field {
            1 => c.repeated(wire, &mut out.location_ids)?,
            2 => {
                scratch.clear();
                c.repeated(wire, scratch)?;
                out.values.extend(scratch.iter().map(|&v| v as i64));
            }
            3 => out.labels.push(label(c.len_of(wire, field, at)?)?),
            _ => c.skip(wire)?,
        }
    }
    out.close();
    Ok(())
}

fn label(mut c: Cursor<'_>) -> Result<schema::Label> {
    let mut l = schema::Label::default();
    while !c.done() {
        let (field, wire, at) = c.key()?;
        match field {
            1 => l.key = c.int64(wire, field, at)?,
            2 => l.str = c.int64(wire, field, at)?,
            3 => l.num = c.int64(wire, field, at)?,
            4 => l.num_unit = c.int64(wire, field, at)?,
            _ => c.skip(wire)?,
        }
    }
    Ok(l)
}

fn mapping(mut c: Cursor<'_>) -> Result<schema::Mapping> {
    let mut m = schema::Mapping::default();
    while !c.done() {
        let (field, wire, at) = c.key()?;
        match field {
            1 => m.id = c.uint64(wire, field, at)?,
            2 => m.memory_start = c.uint64(wire, field, at)?,
            3 => m.memory_limit = c.uint64(wire, field, at)?,
            4 => m.file_offset = c.uint64(wire, field, at)?,
            5 => m.filename = c.int64(wire, field, at)?,
            6 => m.build_id = c.int64(wire, field, at)?,
            7 => m.has_functions = c.boolean(wire, field, at)?,
            8 => m.has_filenames = c.boolean(wire, field, at)?,
            9 => m.has_line_numbers = c.boolean(wire, field, at)?,
            10 => m.has_inline_frames = c.boolean(wire, field, at)?,
            _ => c.skip(wire)?,
        }
    }
    Ok(m)
}

fn location(mut c: Cursor<'_>, _scratch: &mut Vec<u64>) -> Result<schema::Location> {
    let mut l = schema::Location::default();
    while !c.done() {
        let (field, wire, at) = c.key()?;
        match field {
            1 => l.id = c.uint64(wire, field, at)?,
            2 => l.mapping_id = c.uint64(wire, field, at)?,
            3 => l.address = c.uint64(wire, field, at)?,
            4 => l.line.push(line(c.len_of(wire, field, at)?)?),
            5 => l.is_folded = c.boolean(wire, field, at)?,
            _ => c.skip(wire)?,
        }
    }
    Ok(l)
}

fn line(mut c: Cursor<'_>) -> Result<schema::Line> {
    let mut l = schema::Line::default();
    while !c.done() {
        let (field, wire, at) = c.key()?;
        match field {
            1 => l.function_id = c.uint64(wire, field, at)?,
            2 => l.line = c.int64(wire, field, at)?,
            3 => l.column = c.int64(wire, field, at)?,
            _ => c.skip(wire)?,
        }
    }
    Ok(l)
}

fn function(mut c: Cursor<'_>) -> Result<schema::Function> {
    let mut f = schema::Function::default();
    while !c.done() {
        let (field, wire, at) = c.key()?;
        match field {
            1 => f.id = c.uint64(wire, field, at)?,
            2 => f.name = c.int64(wire, field, at)?,
            3 => f.system_name = c.int64(wire, field, at)?,
            4 => f.filename = c.int64(wire, field, at)?,
            5 => f.start_line = c.int64(wire, field, at)?,
            _ => c.skip(wire)?,
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn packed_and_unpacked_values_decode_alike() {
        // Sample{location_id: [1, 2, 3] packed, value: [7] unpacked}
        let packed = [0x12, 0x07, 0x0a, 0x03, 1, 2, 3, 0x10, 7];
        let p = decode_schema(&packed).unwrap();
        assert_eq!(p.sample[0].location_id, vec![1, 2, 3]);
        // location ids unpacked, values packed
        let unpacked = [0x12, 0x09, 0x08, 1, 0x08, 2, 0x08, 3, 0x12, 0x01, 7];
        let q = decode_schema(&unpacked).unwrap();
        assert_eq!(q.sample[0].location_id, vec![1, 2, 3]);
        assert_eq!(q.sample[0].value, vec![7]);
    }

    #[test]
    fn negative_int64_values_survive() {
        let mut p = schema::Profile::default();
        p.sample.push(schema::Sample {
            location_id: vec![1],
            value: vec![-5, 3],
            label: vec![],
        });
        let bytes = p.encode_to_vec();
        assert_eq!(decode_schema(&bytes).unwrap(), p);
    }

    #[test]
    fn length_past_the_end_names_its_offset() {
        let err = decode(&[0x38, 0x01, 0x12, 0x40, 0x00]).unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(err.message.contains("past the end"), "{}", err.message);
    }

    #[test]
    fn second_time_nanos_is_concatenation() {
        let err = decode(&[0x48, 0x01, 0x48, 0x02]).unwrap_err();
        assert!(err.message.contains("concatenated"));
        assert_eq!(err.offset, 2);
    }
}
