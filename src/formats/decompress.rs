//! gzip detection and capped decompression (a gzip bomb stops at the cap with a clear error).

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

use super::error::{ParseError, Position};

/// gzip's magic bytes.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// zstd's magic bytes.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Default cap on decompressed size: 4 GiB.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 4 << 30;

struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Decompressed bytes plus what was learned on the way.
#[derive(Debug)]
pub struct Decoded {
    /// The payload.
    pub bytes: Vec<u8>,
    /// True when the input was gzip.
    pub was_gzip: bool,
}

/// Returns the payload of `raw`: gunzipped (all members) if it starts with the gzip magic, else as is.
pub fn decompress(raw: Vec<u8>, source: &str, max_bytes: u64) -> Result<Decoded, ParseError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(Decoded {
            bytes: raw,
            was_gzip: false,
        });
    }
    let mut counting = Counting {
        inner: &raw[..],
        read: 0,
    };
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(1 << 30));
    let result = {
        let decoder = MultiGzDecoder::new(&mut counting);
        decoder
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut out)
    };
    if let Err(e) = result {
        let message = if e.kind() == io::ErrorKind::UnexpectedEof {
            "truncated gzip stream (the file ends inside compressed data)".to_string()
        } else {
            format!("corrupt gzip stream: {e}")
        };
        return Err(ParseError::malformed(
            source,
            "gzip",
            Position::CompressedByte(counting.read.min(raw.len() as u64)),
            message,
        ));
    }
    if out.len() as u64 > max_bytes {
        return Err(ParseError::malformed(
            source,
            "gzip",
            Position::CompressedByte(counting.read),
            format!(
                "decompresses to more than {max_bytes} bytes (the cap); raise it with --max-decompressed-size if the file is genuine"
            ),
        ));
    }
    Ok(Decoded {
        bytes: out,
        was_gzip: true,
    })
}

/// Compression of a raw input, by its magic bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (possibly several members).
    Gzip,
    /// zstd.
    Zstd,
    /// Not compressed.
    None,
}

/// Detects the compression of raw bytes.
pub fn compression(raw: &[u8]) -> Compression {
    if raw.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if raw.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// A reader that fails once more than `cap` bytes came through.
struct Capped<R> {
    inner: R,
    seen: u64,
    cap: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        if self.seen > self.cap {
            return Err(io::Error::other(format!(
                "decompresses to more than {} bytes (the cap); raise it with --max-decompressed-size if the file is genuine",
                self.cap
            )));
        }
        Ok(n)
    }
}

/// A streaming reader of the decompressed payload of `raw`, capped at `max_bytes`.
pub fn stream<'a>(
    raw: &'a [u8],
    source: &str,
    max_bytes: u64,
) -> Result<Box<dyn Read + 'a>, ParseError> {
    let inner: Box<dyn Read + 'a> = match compression(raw) {
        Compression::Gzip => Box::new(MultiGzDecoder::new(raw)),
        Compression::Zstd => {
            Box::new(ruzstd::decoding::StreamingDecoder::new(raw).map_err(|e| {
                ParseError::malformed(
                    source,
                    "zstd",
                    Position::CompressedByte(0),
                    format!("bad zstd frame: {e}"),
                )
            })?)
        }
        Compression::None => Box::new(raw),
    };
    Ok(Box::new(Capped {
        inner,
        seen: 0,
        cap: max_bytes,
    }))
}

/// The first `n` decompressed bytes (fewer if the payload is shorter or broken).
pub fn head(raw: &[u8], source: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    if let Ok(r) = stream(raw, source, u64::MAX) {
        let _ = r.take(n as u64).read_to_end(&mut out);
    }
    out
}
