//! Input formats: sniffing (never by file name), capped decompression, and one parser per format,
//! all writing into the shared [`model`](crate::model).
//!
//! May import: `model`, `spill` (columns that can leave memory). Never analysis (`diff`, `trend`, `graph`) or output modules.

pub mod allocators;
pub mod decompress;
pub mod error;
pub mod goroutine;
pub mod gotypes;
pub mod heapdump;
pub mod heaptrack;
pub mod jemalloc;
pub mod pprof;
pub mod procstat;

use std::io::Read;

pub use decompress::DEFAULT_MAX_DECOMPRESSED;
pub use error::{ParseError, Position};

use crate::model::{Interner, Profile};

/// What sniffing found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// Legacy `heap profile:` text.
    LegacyHeap,
    /// jemalloc `heap_v2/<rate>` text.
    Jemalloc,
    /// Go goroutine text dump.
    Goroutines,
    /// leakdiff's process sample.
    Process,
    /// Assumed `profile.proto` (any other bytes; a proto can start with almost any byte).
    PprofProto,
}

/// Options for reading inputs.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Largest decompressed payload accepted, in bytes. Default: 4 GiB.
    pub max_decompressed_bytes: u64,
    /// heaptrack reader options (suppressions). Default: heaptrack's defaults.
    pub heaptrack: heaptrack::HeaptrackOptions,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED,
            heaptrack: Default::default(),
        }
    }
}

/// Known formats leakdiff recognizes but does not read yet, by their first bytes.
fn unsupported(payload: &[u8]) -> Option<&'static str> {
    let head = &payload[..payload.len().min(64)];
    let starts = |p: &[u8]| head.starts_with(p);
    if starts(b"go1.") && head.windows(10).any(|w| w == b" heap dump") {
        return Some("a Go heap dump: read it with `leakdiff cycles` or `leakdiff retained` (diffs and report take heap profiles)");
    }
    if starts(b"threadcreate profile:") {
        return Some("threadcreate profiles are not heap or goroutine evidence");
    }
    if starts(b"--- ") {
        return Some("this legacy pprof text profile (contention, threadz, Java heapz) is not a heap profile leakdiff reads");
    }
    None
}

/// Looks at a decompressed payload and says which parser should read it.
pub fn sniff(payload: &[u8], source: &str) -> Result<Sniffed, ParseError> {
    if payload.is_empty() {
        return Err(ParseError::Unrecognized {
            source_name: source.to_string(),
            detail: "the input is empty".into(),
        });
    }
    if procstat::sniff(payload) {
        return Ok(Sniffed::Process);
    }
    if pprof::legacy::sniff(payload) {
        return Ok(Sniffed::LegacyHeap);
    }
    if jemalloc::sniff(payload) {
        return Ok(Sniffed::Jemalloc);
    }
    if looks_like_text(payload) && goroutine::sniff(payload) {
        return Ok(Sniffed::Goroutines);
    }
    if let Some(detail) = unsupported(payload) {
        return Err(ParseError::Unrecognized {
            source_name: source.to_string(),
            detail: detail.into(),
        });
    }
    if let Some(what) = not_a_profile(payload) {
        return Err(ParseError::NotAProfile {
            source_name: source.to_string(),
            looks_like: what.into(),
        });
    }
    // Text that no text parser took: a protobuf's field keys and lengths put control bytes in
    // its first bytes (`sample_type`'s first key is 0x08), and text may decode as a protobuf by
    // chance, so it is refused before it is tried as one.
    if looks_like_text(payload) {
        let ascii = payload[..payload.len().min(512)].is_ascii();
        return Err(ParseError::NotAProfile {
            source_name: source.to_string(),
            looks_like: if ascii { "text" } else { "UTF-8 text" }.to_string()
                + " (no profile format leakdiff knows)",
        });
    }
    Ok(Sniffed::PprofProto)
}

/// Files that are plainly no profile, by their magic: what sits beside profiles in a folder (the
/// program, its scripts, notes, pictures, archives). No profile leakdiff reads starts this way;
/// a protobuf's first byte is a field key, and none of these is one pprof writes.
fn not_a_profile(payload: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| payload.starts_with(p);
    let kinds: [(&[u8], &str); 10] = [
        (b"\x7fELF", "an ELF executable or library"),
        (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
        (b"\xfe\xed\xfa\xcf", "a Mach-O executable"),
        (b"MZ", "a Windows executable"),
        (b"#!", "a script"),
        (b"\x89PNG", "a PNG image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a zip archive"),
        (
            b"PAR1",
            "a Parquet file that is no leakdiff store or dataset part",
        ),
        (b"\xef\xbb\xbf", "UTF-8 text"),
    ];
    kinds.iter().find(|(magic, _)| starts(magic)).map(|k| k.1)
}

/// Whether the payload's first 512 bytes are text: UTF-8 (a character cut at the end is fine)
/// with no control characters but tabs and line ends.
fn looks_like_text(payload: &[u8]) -> bool {
    let head = &payload[..payload.len().min(512)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(t) => t,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| c == '\n' || c == '\r' || c == '\t' || !c.is_control())
}

/// An input decoded but not yet interned. Decoding needs no shared state, so many inputs can be
/// decoded in parallel and then converted one after another into one [`Interner`].
pub struct Decoded {
    source: String,
    body: Body,
}

// One value per input file, moved once: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Body {
    Pprof {
        format: crate::model::Format,
        profile: pprof::schema::Profile,
        samples: pprof::wire::Samples,
        offsets: pprof::wire::Offsets,
    },
    Heaptrack(Box<heaptrack::Recording>),
    Goroutines(goroutine::Dump),
    Process(procstat::ProcessSample),
}

impl Decoded {
    /// Interns the decoded input into the model.
    pub fn into_profile(self, interner: &mut Interner) -> Result<Profile, ParseError> {
        match self.body {
            Body::Pprof {
                format,
                profile,
                samples,
                offsets,
            } => {
                pprof::convert_decoded(&profile, &samples, &offsets, &self.source, format, interner)
            }
            Body::Heaptrack(rec) => rec.into_profile(&self.source, interner),
            Body::Goroutines(dump) => dump.into_profile(&self.source, interner),
            Body::Process(sample) => sample.into_profile(&self.source, interner),
        }
    }

    /// The wire structs of a pprof-shaped input (pprof, legacy text, jemalloc), for symbolization.
    pub fn wire_profile_mut(&mut self) -> Option<&mut pprof::schema::Profile> {
        match &mut self.body {
            Body::Pprof { profile, .. } => Some(profile),
            Body::Heaptrack(_) | Body::Goroutines(_) | Body::Process(_) => None,
        }
    }

    /// The recording of a heaptrack input, for naming the ips heaptrack left unnamed.
    pub fn heaptrack_mut(&mut self) -> Option<&mut heaptrack::Recording> {
        match &mut self.body {
            Body::Heaptrack(rec) => Some(rec),
            Body::Pprof { .. } | Body::Goroutines(_) | Body::Process(_) => None,
        }
    }

    /// Cuts a heaptrack recording (decoded with `timeline` on) into snapshots of in-use memory;
    /// `ended_at_nanos` anchors the recording's end in wall-clock time (see
    /// [`heaptrack::Recording::slices`]).
    pub fn into_slices(
        self,
        spec: heaptrack::SliceSpec,
        interner: &mut Interner,
        ended_at_nanos: Option<i64>,
    ) -> Result<Vec<Profile>, ParseError> {
        let kind = match self.body {
            Body::Heaptrack(rec) => {
                return rec.slices(spec, &self.source, interner, ended_at_nanos)
            }
            Body::Pprof { format, .. } => format.name(),
            Body::Goroutines(_) => crate::model::Format::GoroutineText.name(),
            Body::Process(_) => crate::model::Format::ProcessSample.name(),
        };
        Err(ParseError::Unsupported {
            source_name: self.source,
            message: format!(
                "only heaptrack recordings have the timestamps to cut into slices; this is a {kind} profile"
            ),
        })
    }

    /// heaptrack's whole-recording numbers, when the input is a heaptrack recording.
    pub fn heaptrack_summary(&self) -> Option<&heaptrack::Summary> {
        match &self.body {
            Body::Heaptrack(rec) => Some(rec.summary()),
            Body::Pprof { .. } | Body::Goroutines(_) | Body::Process(_) => None,
        }
    }
}

/// Decompresses, sniffs and decodes raw (possibly compressed) bytes.
pub fn decode_bytes(
    raw: Vec<u8>,
    source: &str,
    options: &ReadOptions,
) -> Result<Decoded, ParseError> {
    // Streamed formats first: a heaptrack recording is never held in memory whole.
    if heaptrack::sniff(&decompress::head(&raw, source, 256)) {
        let reader = decompress::stream(
            &raw,
            source,
            options.max_decompressed_bytes,
            decompress::Payload::Streamed,
        )?;
        let rec = if decompress::compression(&raw) == decompress::Compression::None {
            let input = std::io::BufReader::with_capacity(1 << 16, reader);
            heaptrack::read(input, source, &options.heaptrack)?
        } else {
            // Decompress on another thread while this one parses.
            decompress::in_background(reader, |input| {
                heaptrack::read(input, source, &options.heaptrack)
            })?
        };
        return Ok(Decoded {
            source: source.to_string(),
            body: Body::Heaptrack(Box::new(rec)),
        });
    }
    // What the payload is, from its first bytes: that sets the bomb check, and a payload no
    // parser takes (a zeros bomb's first byte is no protobuf key) is refused before it is
    // decompressed whole.
    let head = match decompress::compression(&raw) {
        decompress::Compression::None => None,
        _ => decompress::clean_head(&raw, source, 64 << 10),
    };
    let sniffed = if let Some(head) = head {
        let sniffed = sniff(&head, source)?;
        if sniffed == Sniffed::PprofProto {
            if let Some(e) = pprof::wire::first_key_error(&head) {
                return Err(ParseError::malformed(
                    source,
                    "pprof",
                    Position::Byte(e.offset),
                    e.message,
                ));
            }
        }
        Some(sniffed)
    } else {
        None
    };
    let kind = if sniffed == Some(Sniffed::Goroutines) {
        decompress::Payload::Repetitive
    } else {
        decompress::Payload::Profile
    };
    let decoded = decompress::decompress(raw, source, options.max_decompressed_bytes, kind)?;
    let payload = decoded.bytes;
    let sniffed = match sniffed {
        Some(s) => s,
        None => sniff(&payload, source)?,
    };
    let (format, profile, samples, offsets) = match sniffed {
        Sniffed::LegacyHeap => {
            let mut p = pprof::legacy::to_model_schema(&payload, source)?;
            drop(payload);
            let samples = pprof::wire::Samples::from_schema(&std::mem::take(&mut p.sample));
            (
                crate::model::Format::PprofLegacyHeap,
                p,
                samples,
                pprof::wire::Offsets::default(),
            )
        }
        Sniffed::Process => {
            return Ok(Decoded {
                source: source.to_string(),
                body: Body::Process(procstat::parse(&payload, source)?),
            })
        }
        Sniffed::Goroutines => {
            return Ok(Decoded {
                source: source.to_string(),
                body: Body::Goroutines(goroutine::parse(&payload, source)?),
            })
        }
        Sniffed::Jemalloc => {
            let mut p = jemalloc::to_schema(&payload, source)?;
            // The text is not needed past this point: freed before the samples are copied.
            drop(payload);
            let samples = pprof::wire::Samples::from_schema(&std::mem::take(&mut p.sample));
            (
                crate::model::Format::Jemalloc,
                p,
                samples,
                pprof::wire::Offsets::default(),
            )
        }
        // Text never gets here: `sniff` refused it on the same first bytes.
        Sniffed::PprofProto => match pprof::wire::decode(&payload) {
            Ok((p, s, o)) => (crate::model::Format::Pprof, p, s, o),
            Err(e) => {
                return Err(ParseError::malformed(
                    source,
                    "pprof",
                    Position::Byte(e.offset),
                    e.message,
                ))
            }
        },
    };
    Ok(Decoded {
        source: source.to_string(),
        body: Body::Pprof {
            format,
            profile,
            samples,
            offsets,
        },
    })
}

/// Reads any supported input from a reader.
pub fn parse_reader<R: Read>(
    mut reader: R,
    source: &str,
    interner: &mut Interner,
    options: &ReadOptions,
) -> Result<Profile, ParseError> {
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).map_err(|e| ParseError::Io {
        source_name: source.to_string(),
        message: e.to_string(),
    })?;
    parse_bytes(raw, source, interner, options)
}

/// Reads any supported input from its raw (possibly compressed) bytes.
pub fn parse_bytes(
    raw: Vec<u8>,
    source: &str,
    interner: &mut Interner,
    options: &ReadOptions,
) -> Result<Profile, ParseError> {
    decode_bytes(raw, source, options)?.into_profile(interner)
}
