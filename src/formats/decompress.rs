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

/// Past this much output, a ratio over [`BOMB_RATIO`] is taken for a decompression bomb (under the
/// default cap only: a cap the user sets turns the check off).
pub const BOMB_FLOOR: u64 = 256 << 20;
/// Output bytes per input byte that no profile reaches (gzip cannot pass about 1032:1; the most
/// compressible real file in testdata, a heaptrack recording, is 74:1), but zeros do.
pub const BOMB_RATIO: u64 = 1000;
/// The second tier: past 1 GiB of output, over 150:1 (zeros at gzip -1 are 229:1) is a bomb too.
pub const BOMB_FLOOR_2: u64 = 1 << 30;
/// See [`BOMB_FLOOR_2`].
pub const BOMB_RATIO_2: u64 = 150;

/// Why a capped read stopped: the cap, or a bomb's ratio.
#[derive(Debug)]
struct Overflow(String);

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Overflow {}

/// The overflow a read has reached after `seen` output bytes from `raw_len` input bytes consumed,
/// if any.
fn overflow(seen: u64, cap: u64, raw_len: u64) -> Option<Overflow> {
    if seen > cap {
        return Some(Overflow(format!(
            "decompresses to more than {cap} bytes (the cap); raise it with --max-decompressed-size if the file is genuine"
        )));
    }
    let limit = if seen > BOMB_FLOOR_2 {
        BOMB_RATIO_2
    } else {
        BOMB_RATIO
    };
    if cap == DEFAULT_MAX_DECOMPRESSED && seen > BOMB_FLOOR && seen / raw_len.max(1) > limit {
        return Some(Overflow(format!(
            "decompresses to over {seen} bytes from {raw_len} (more than {limit}:1, as decompression bombs do); give --max-decompressed-size explicitly if the file is genuine (that turns this check off)"
        )));
    }
    None
}

/// Counts the compressed bytes a decoder has taken, where the capped reader outside the decoder
/// can see them (the ratio of a bomb is output over input consumed so far, not over the file).
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads a [`Capped`] reader to its end into a vector whose capacity never passes `cap` bytes (a
/// plain `read_to_end` doubles, and would hold twice the cap when the cap is reached).
pub(super) fn read_capped(mut r: impl Read, cap: u64, hint: usize) -> io::Result<Vec<u8>> {
    let limit = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut out: Vec<u8> = Vec::with_capacity(hint.min(limit));
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // `r` is a `Capped` reader: it fails past the cap, so `need` stays within it.
        let need = out.len() + n;
        if need > out.capacity() {
            let want = out.capacity().saturating_mul(2).min(limit).max(need);
            out.reserve_exact(want - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
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
    let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counting = Counting {
        inner: &raw[..],
        read: std::sync::Arc::clone(&consumed),
    };
    let result = read_capped(
        Capped {
            inner: MultiGzDecoder::new(counting),
            seen: 0,
            cap: max_bytes,
            consumed: std::sync::Arc::clone(&consumed),
        },
        max_bytes,
        raw.len().saturating_mul(4).min(1 << 30),
    );
    let at = consumed.load(std::sync::atomic::Ordering::Relaxed);
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            if let Some(o) = e.get_ref().and_then(|x| x.downcast_ref::<Overflow>()) {
                return Err(ParseError::malformed(
                    source,
                    "gzip",
                    Position::CompressedByte(at),
                    o.0.clone(),
                ));
            }
            let message = if e.kind() == io::ErrorKind::UnexpectedEof {
                "truncated gzip stream (the file ends inside compressed data)".to_string()
            } else {
                format!("corrupt gzip stream: {e}")
            };
            return Err(ParseError::malformed(
                source,
                "gzip",
                Position::CompressedByte(at.min(raw.len() as u64)),
                message,
            ));
        }
    };
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

/// A reader that fails once more than `cap` bytes came through, or once the output passes
/// [`BOMB_FLOOR`] at more than [`BOMB_RATIO`] times the input bytes consumed so far, or
/// [`BOMB_FLOOR_2`] at more than [`BOMB_RATIO_2`] (default cap only).
struct Capped<R> {
    inner: R,
    seen: u64,
    cap: u64,
    /// Compressed bytes the decoder has taken so far.
    consumed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        let consumed = self.consumed.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(o) = overflow(self.seen, self.cap, consumed) {
            return Err(io::Error::other(o));
        }
        Ok(n)
    }
}

/// A streaming reader of the decompressed payload of `raw`, capped at `max_bytes`.
pub fn stream<'a>(
    raw: &'a [u8],
    source: &str,
    max_bytes: u64,
) -> Result<Box<dyn Read + Send + 'a>, ParseError> {
    Ok(stream_from(raw, compression(raw), source, max_bytes)?.0)
}

/// A streaming reader of the decompressed payload of `input` (a file, say), compressed as
/// `kind`, capped at `max_bytes` and checked for a bomb's ratio as it goes; also the count of
/// input bytes the decoder has taken so far (for progress).
#[allow(clippy::type_complexity)]
pub fn stream_from<'a>(
    input: impl Read + Send + 'a,
    kind: Compression,
    source: &str,
    max_bytes: u64,
) -> Result<
    (
        Box<dyn Read + Send + 'a>,
        std::sync::Arc<std::sync::atomic::AtomicU64>,
    ),
    ParseError,
> {
    let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Counting {
        inner: input,
        read: std::sync::Arc::clone(&consumed),
    };
    let inner: Box<dyn Read + Send + 'a> = match kind {
        Compression::Gzip => Box::new(MultiGzDecoder::new(counted)),
        Compression::Zstd => Box::new(ruzstd::decoding::StreamingDecoder::new(counted).map_err(
            |e| {
                ParseError::malformed(
                    source,
                    "zstd",
                    Position::CompressedByte(0),
                    format!("bad zstd frame: {e}"),
                )
            },
        )?),
        Compression::None => Box::new(counted),
    };
    let counter = std::sync::Arc::clone(&consumed);
    Ok((
        Box::new(Capped {
            inner,
            seen: 0,
            cap: max_bytes,
            consumed,
        }),
        counter,
    ))
}

/// Runs `consume` on a buffered reader of `reader`'s bytes while another thread does the reading
/// (decompression) ahead of it, a few chunks at a time: on two cores, decompressing and parsing
/// overlap. Read errors reach `consume` as errors of its reader.
pub fn in_background<T>(
    reader: Box<dyn Read + Send + '_>,
    consume: impl FnOnce(&mut dyn io::BufRead) -> T,
) -> T {
    const CHUNK: usize = 1 << 20;
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut reader = reader;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let mut filled = 0;
                let result = loop {
                    match reader.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == CHUNK {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(filled);
                let done = filled < CHUNK || result.is_err();
                let sent = match result {
                    Ok(()) if filled == 0 => break,
                    Ok(()) => tx.send(Ok(buf)),
                    Err(e) => {
                        if filled > 0 && tx.send(Ok(buf)).is_err() {
                            break;
                        }
                        tx.send(Err(e))
                    }
                };
                // The consumer stopped early (an error): stop reading.
                if sent.is_err() || done {
                    break;
                }
            }
        });
        let mut r = ChannelReader {
            rx,
            current: Vec::new(),
            pos: 0,
        };
        consume(&mut r)
    })
}

struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = io::BufRead::fill_buf(self)?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl io::BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.current.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The reading thread finished: end of input.
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.current.len());
    }
}

/// The first `n` decompressed bytes (fewer if the payload is shorter or broken).
pub fn head(raw: &[u8], source: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    if let Ok(r) = stream(raw, source, u64::MAX) {
        let _ = r.take(n as u64).read_to_end(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader of `left` bytes that then fails (or ends cleanly).
    struct Failing {
        left: usize,
        fail: bool,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return if self.fail {
                    Err(io::Error::other("broken frame"))
                } else {
                    Ok(0)
                };
            }
            let n = buf.len().min(self.left).min(70_000);
            buf[..n].fill(b'x');
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn background_reader_delivers_every_byte_then_the_error() {
        for (len, fail) in [(3_500_000, true), (3 << 20, false), (0, false), (10, true)] {
            let (got, err) = in_background(Box::new(Failing { left: len, fail }), |r| {
                let mut out = Vec::new();
                let e = r.read_to_end(&mut out).err();
                (out.len(), e.map(|e| e.to_string()))
            });
            assert_eq!(got, len);
            assert_eq!(err.is_some(), fail, "{err:?}");
        }
        // A consumer that stops early does not hang the reading thread.
        let first = in_background(
            Box::new(Failing {
                left: 50 << 20,
                fail: false,
            }),
            |r| r.fill_buf().map(|b| b.len()).unwrap_or(0),
        );
        assert_eq!(first, 1 << 20);
    }
}
