//! A heap-dump writer, for dumps built in memory (simulations and tests): the records the
//! reader reads, in the runtime's order.

use super::*;

/// Writes a go1.7 heap dump, record by record, in the runtime's field order (64-bit little-endian,
/// as amd64 writes it). Used by `leakdiff simulate` and the graph benchmark; a dump it writes is
/// read back by [`parse`] like one from `debug.WriteHeapDump`.
pub struct DumpWriter<W: std::io::Write> {
    out: W,
}

impl<W: std::io::Write> DumpWriter<W> {
    /// Starts a dump: the header and the parameters record (record 6).
    pub fn new(
        mut out: W,
        heap_start: u64,
        heap_end: u64,
        version: &str,
    ) -> std::io::Result<DumpWriter<W>> {
        out.write_all(MAGIC)?;
        let mut w = DumpWriter { out };
        w.uv(6)?;
        w.uv(0)?; // little-endian
        w.uv(8)?;
        w.uv(heap_start)?;
        w.uv(heap_end)?;
        w.string("amd64")?;
        w.string(version)?;
        w.uv(2)?;
        Ok(w)
    }

    fn uv(&mut self, mut v: u64) -> std::io::Result<()> {
        let mut buf = [0u8; 10];
        let mut n = 0;
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                buf[n] = b;
                n += 1;
                break;
            }
            buf[n] = b | 0x80;
            n += 1;
        }
        self.out.write_all(&buf[..n])
    }

    fn string(&mut self, s: &str) -> std::io::Result<()> {
        self.uv(s.len() as u64)?;
        self.out.write_all(s.as_bytes())
    }

    /// Contents of `size` bytes with `words` at the given offsets, then its field list.
    fn contents(&mut self, size: u64, words: &[(u64, u64)]) -> std::io::Result<()> {
        let mut c = vec![0u8; size as usize];
        for &(off, v) in words {
            if let Some(slot) = c.get_mut(off as usize..off as usize + 8) {
                slot.copy_from_slice(&v.to_le_bytes());
            }
        }
        self.uv(size)?;
        self.out.write_all(&c)?;
        for &(off, _) in words {
            self.uv(1)?;
            self.uv(off)?;
        }
        self.uv(0)
    }

    /// An object (record 1): its address, size and pointer fields (offset, value).
    pub fn object(&mut self, addr: u64, size: u64, pointers: &[(u64, u64)]) -> std::io::Result<()> {
        self.uv(1)?;
        self.uv(addr)?;
        self.contents(size, pointers)
    }

    /// The bss segment (record 13) at `start`, holding the given pointer words one after another.
    pub fn bss(&mut self, start: u64, targets: &[u64]) -> std::io::Result<()> {
        self.uv(13)?;
        self.uv(start)?;
        let words: Vec<(u64, u64)> = targets
            .iter()
            .enumerate()
            .map(|(i, &t)| (8 * i as u64, t))
            .collect();
        self.contents(8 * targets.len() as u64, &words)
    }

    /// A memory-profile bucket (record 16): frames leaf first as (function, file, line).
    pub fn bucket(
        &mut self,
        id: u64,
        size: u64,
        frames: &[(&str, &str, u64)],
        allocs: u64,
        frees: u64,
    ) -> std::io::Result<()> {
        self.uv(16)?;
        self.uv(id)?;
        self.uv(size)?;
        self.uv(frames.len() as u64)?;
        for (f, file, line) in frames {
            self.string(f)?;
            self.string(file)?;
            self.uv(*line)?;
        }
        self.uv(allocs)?;
        self.uv(frees)
    }

    /// An alloc sample (record 17): the object at `addr` was allocated in `bucket`.
    pub fn alloc_sample(&mut self, addr: u64, bucket: u64) -> std::io::Result<()> {
        self.uv(17)?;
        self.uv(addr)?;
        self.uv(bucket)
    }

    /// The EOF record; returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.uv(0)?;
        self.out.flush()?;
        Ok(self.out)
    }
}
