//! gzip detection and capped decompression (a gzip bomb stops at the cap with a clear error).

use std::io::{self, Read};

use super::error::{ParseError, Position};

/// gzip's magic bytes.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// zstd's magic bytes.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Default cap on decompressed size: 4 GiB.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 4 << 30;

/// Where a payload that is held whole is taken for a decompression bomb: past `.0` bytes of
/// output, more than `.1` output bytes per input byte consumed so far. Under the default cap only
/// (a cap the user sets turns the check off).
///
/// Profiles (pprof, jemalloc, legacy and gperftools text, process samples): the most compressible
/// real one in testdata is 25:1 (a gperftools profile at zstd -19), so more than 100:1 past 8 MiB
/// is a bomb. Zeros reach 1030:1 at gzip -6 and -9, 103:1 at flate2's fastest level, 229:1 at
/// gzip -1, and 29,000:1 at zstd -1.
pub const PROFILE_BOMB: [(u64, u64); 1] = [(8 << 20, 100)];
/// Goroutine dumps are repetitive text: Go 1.27's debug=2 dump of 100,000 goroutines parked 60
/// frames deep (64 MiB, where Go cuts it) is 157:1 at gzip -9 and 475:1 at zstd -19. gzip stops
/// at 600:1 and zstd at 2000:1, past 64 MiB.
pub const REPETITIVE_GZIP_BOMB: [(u64, u64); 1] = [(64 << 20, 600)];
/// See [`REPETITIVE_GZIP_BOMB`].
pub const REPETITIVE_ZSTD_BOMB: [(u64, u64); 1] = [(64 << 20, 2000)];

/// What the decompressed bytes are for, which sets the bomb check ([`PROFILE_BOMB`] and the
/// others).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A profile, held whole and then parsed.
    Profile,
    /// Repetitive text held whole (goroutine dumps, packed JSON).
    Repetitive,
    /// Parsed as it is decompressed (heaptrack recordings, Go heap dumps): memory does not grow
    /// with the output, so only the cap applies.
    Streamed,
}

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
/// if any; `tiers` are the bomb checks that apply (none for a streamed payload or a cap the user
/// set).
fn overflow(seen: u64, cap: u64, raw_len: u64, tiers: &[(u64, u64)]) -> Option<Overflow> {
    if seen > cap {
        return Some(Overflow(format!(
            "decompresses to more than {cap} bytes (the cap); raise it with --max-decompressed-size if the file is genuine"
        )));
    }
    let ratio = seen / raw_len.max(1);
    let (_, limit) = tiers
        .iter()
        .find(|&&(floor, limit)| seen > floor && ratio > limit)?;
    Some(Overflow(format!(
        "decompresses to over {seen} bytes from {raw_len} (more than {limit}:1, as decompression bombs do); give --max-decompressed-size explicitly if the file is genuine (that turns this check off)"
    )))
}

/// Counts the compressed bytes a decoder has taken, where the capped reader outside the decoder
/// can see them (the ratio of a bomb is output over input consumed so far, not over the file).
/// A buffered reader: a decoder that reads through it takes bytes as it uses them, so the count
/// is exact rather than a read-ahead buffer's worth too high.
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: io::BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: io::BufRead> io::BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
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

/// Returns the payload of `raw`, held whole: gunzipped (all members) if it starts with the gzip
/// magic, unzstded if with zstd's, else as is. One level only: what comes out is not looked at
/// again. Capped at `max_bytes`, and checked for a bomb's ratio as it grows, as `payload` says.
pub fn decompress(
    raw: Vec<u8>,
    source: &str,
    max_bytes: u64,
    payload: Payload,
) -> Result<Decoded, ParseError> {
    let kind = compression(&raw);
    if kind == Compression::None {
        return Ok(Decoded {
            bytes: raw,
            was_gzip: false,
        });
    }
    let format = if kind == Compression::Gzip {
        "gzip"
    } else {
        "zstd"
    };
    let (reader, consumed) = stream_from(&raw[..], kind, source, max_bytes, payload)?;
    let result = read_capped(reader, max_bytes, raw.len().saturating_mul(4).min(1 << 30));
    let at = consumed
        .load(std::sync::atomic::Ordering::Relaxed)
        .min(raw.len() as u64);
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            if let Some(o) = e.get_ref().and_then(|x| x.downcast_ref::<Overflow>()) {
                return Err(ParseError::malformed(
                    source,
                    format,
                    Position::CompressedByte(at),
                    o.0.clone(),
                ));
            }
            let message = if e.kind() == io::ErrorKind::UnexpectedEof {
                format!("truncated {format} stream (the file ends inside compressed data)")
            } else {
                format!("corrupt {format} stream: {e}")
            };
            return Err(ParseError::malformed(
                source,
                format,
                Position::CompressedByte(at),
                message,
            ));
        }
    };
    Ok(Decoded {
        bytes: out,
        was_gzip: kind == Compression::Gzip,
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
    /// The bomb checks that apply.
    tiers: &'static [(u64, u64)],
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        let consumed = self.consumed.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(o) = overflow(self.seen, self.cap, consumed, self.tiers) {
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
    payload: Payload,
) -> Result<Box<dyn Read + Send + 'a>, ParseError> {
    Ok(stream_from(raw, compression(raw), source, max_bytes, payload)?.0)
}

/// A streaming reader of the decompressed payload of `input` (a file, say), compressed as
/// `kind`, capped at `max_bytes` and checked for a bomb's ratio as it goes (as `payload` says); also the count of input bytes the decoder has taken so far (for progress).
#[allow(clippy::type_complexity)]
pub fn stream_from<'a>(
    input: impl Read + Send + 'a,
    kind: Compression,
    source: &str,
    max_bytes: u64,
    payload: Payload,
) -> Result<
    (
        Box<dyn Read + Send + 'a>,
        std::sync::Arc<std::sync::atomic::AtomicU64>,
    ),
    ParseError,
> {
    let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Counting {
        inner: io::BufReader::with_capacity(1 << 16, input),
        read: std::sync::Arc::clone(&consumed),
    };
    let inner: Box<dyn Read + Send + 'a> = match kind {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(counted)),
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
    let tiers: &'static [(u64, u64)] = match (payload, kind) {
        _ if max_bytes != DEFAULT_MAX_DECOMPRESSED => &[],
        (Payload::Profile, _) => &PROFILE_BOMB,
        (Payload::Repetitive, Compression::Gzip) => &REPETITIVE_GZIP_BOMB,
        (Payload::Repetitive, Compression::Zstd) => &REPETITIVE_ZSTD_BOMB,
        _ => &[],
    };
    let counter = std::sync::Arc::clone(&consumed);
    Ok((
        Box::new(Capped {
            inner,
            seen: 0,
            cap: max_bytes,
            consumed,
            tiers,
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
    if let Ok(r) = stream(raw, source, u64::MAX, Payload::Streamed) {
        let _ = r.take(n as u64).read_to_end(&mut out);
    }
    out
}

/// The first `n` decompressed bytes, or all of them if fewer; `None` when the stream breaks or
/// ends empty before that (the whole read then says where and why).
pub fn clean_head(raw: &[u8], source: &str, n: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let r = stream(raw, source, u64::MAX, Payload::Streamed).ok()?;
    r.take(n as u64).read_to_end(&mut out).ok()?;
    (!out.is_empty()).then_some(out)
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

    /// The output size a bomb was stopped at, from its error.
    fn stopped_at(e: &str) -> u64 {
        let rest = e.split("decompresses to over ").nth(1).unwrap_or("");
        rest.split(' ').next().unwrap().parse().unwrap()
    }

    fn gzip_fast(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn only_held_payloads_are_checked_for_a_bombs_ratio() {
        // 80 MiB of zeros at flate2's fastest level (103:1): a bomb when held as a profile,
        // past 8 MiB; repetitive text at that ratio is read whole; a stream is not checked.
        let raw = gzip_fast(&vec![0u8; 80 << 20]);
        let e = match decompress(raw.clone(), "z", DEFAULT_MAX_DECOMPRESSED, Payload::Profile) {
            Ok(d) => panic!("not rejected: {} bytes", d.bytes.len()),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("more than 100:1"), "{e}");
        assert!((8 << 20..9 << 20).contains(&stopped_at(&e)), "{e}");
        let d = decompress(
            raw.clone(),
            "z",
            DEFAULT_MAX_DECOMPRESSED,
            Payload::Repetitive,
        );
        assert_eq!(d.map(|d| d.bytes.len()).ok(), Some(80 << 20));
        // Repetitive text stops at 600:1, past 64 MiB.
        let nines = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&vec![0u8; 80 << 20]).unwrap();
            e.finish().unwrap()
        };
        let e = match decompress(nines, "z", DEFAULT_MAX_DECOMPRESSED, Payload::Repetitive) {
            Ok(d) => panic!("not rejected: {} bytes", d.bytes.len()),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("more than 600:1"), "{e}");
        assert!((64 << 20..65 << 20).contains(&stopped_at(&e)), "{e}");
        let mut r = stream(&raw, "z", DEFAULT_MAX_DECOMPRESSED, Payload::Streamed).unwrap();
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 80 << 20);
        // The cap holds for both.
        let mut r = stream(&raw, "z", 1 << 20, Payload::Streamed).unwrap();
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err().to_string();
        assert!(e.contains("more than 1048576 bytes (the cap)"), "{e}");
        // zstd zeros (thousands to one) stop past 8 MiB as a profile.
        let z = ruzstd::encoding::compress_to_vec(
            &vec![0u8; 12 << 20][..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let e = match decompress(z, "z", DEFAULT_MAX_DECOMPRESSED, Payload::Profile) {
            Ok(d) => panic!("not rejected: {} bytes", d.bytes.len()),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("zstd at compressed byte") && e.contains("more than 100:1"),
            "{e}"
        );
        // A zstd payload held is decoded once, like gzip's.
        let z = ruzstd::encoding::compress_to_vec(
            &b"heap_v2/1\n"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let d = decompress(z, "z", DEFAULT_MAX_DECOMPRESSED, Payload::Profile).unwrap();
        assert_eq!(d.bytes, b"heap_v2/1\n");
        assert!(!d.was_gzip);
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
