//! Columns that can leave memory. A column of plain numbers lives in a `Vec` until it is spilled:
//! then it is written to a temporary file (unlinked at once, so nothing is left behind whatever
//! happens) and mapped back read-only. Its pages are then file pages: read from the page cache or
//! the disk when touched, and the kernel can drop them under memory pressure instead of keeping
//! them in the process's own memory. For the heap-dump graph's columns that a phase does not read
//! (see `--memory-budget`).
//!
//! May import: nothing else in the crate.

use std::io::Write;
use std::path::Path;

/// Numbers a column can hold: any bit pattern is a value, no padding, no pointers.
pub trait Plain: Copy + Default + Send + Sync + 'static {}
impl Plain for u32 {}
impl Plain for u64 {}

/// A read-only mapping of a spilled column.
struct Mapped<T: Plain> {
    ptr: *const T,
    len: usize,
    bytes: usize,
}

// SAFETY: the mapping is read-only and owned by this value: sharing or moving it across threads
// is sharing or moving a `&[T]` of plain numbers.
unsafe impl<T: Plain> Send for Mapped<T> {}
// SAFETY: as above; nothing writes through the mapping.
unsafe impl<T: Plain> Sync for Mapped<T> {}

/// A new temporary file in `dir`, already unlinked: it lives as long as it is open.
fn temp_file(dir: &Path) -> std::io::Result<std::fs::File> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!(".leakdiff-spill-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    // Unlinked before anything can fail.
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// The bytes of plain values.
fn bytes_of<T: Plain>(data: &[T]) -> &[u8] {
    // SAFETY: `T: Plain` has no padding, so its bytes are initialized; the slice covers exactly
    // the data.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

impl<T: Plain> Mapped<T> {
    fn new(data: &[T], dir: &Path) -> std::io::Result<Mapped<T>> {
        Mapped::written(dir, data.len(), &mut |w| w.write_all(bytes_of(data)))
    }

    /// A column of `len` values that `write` writes, in order, to a temporary file in `dir`,
    /// mapped back.
    fn written(
        dir: &Path,
        len: usize,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<Mapped<T>> {
        use std::os::fd::AsRawFd;
        let bytes = len * std::mem::size_of::<T>();
        let mut file = temp_file(dir)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        write(&mut w)?;
        w.flush()?;
        drop(w);
        if file.metadata()?.len() != bytes as u64 {
            return Err(std::io::Error::other("a column's file is not its length"));
        }
        if bytes == 0 {
            return Ok(Mapped {
                ptr: std::ptr::NonNull::<T>::dangling().as_ptr(),
                len: 0,
                bytes: 0,
            });
        }
        // SAFETY: a fresh read-only shared mapping of a file we own, `bytes` long; the result is
        // checked before use, and unmapped only in `drop`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapped {
            ptr: ptr.cast::<T>(),
            len,
            bytes,
        })
    }

    fn as_slice(&self) -> &[T] {
        // SAFETY: `ptr` maps `len` values written from a `[T]` (page-aligned, so aligned for T),
        // or is dangling with `len` 0.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Plain> Drop for Mapped<T> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            // SAFETY: the mapping made in `new`, unmapped once.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.bytes) };
        }
    }
}

/// A column: in memory, or spilled to a mapped temporary file (then read-only).
pub enum Column<T: Plain> {
    /// In memory.
    Mem(Vec<T>),
    /// Spilled.
    Spilled(SpilledColumn<T>),
}

/// The spilled form of a [`Column`].
pub struct SpilledColumn<T: Plain>(Mapped<T>);

impl<T: Plain> Default for Column<T> {
    fn default() -> Column<T> {
        Column::Mem(Vec::new())
    }
}

impl<T: Plain> Clone for Column<T> {
    /// A copy in memory.
    fn clone(&self) -> Column<T> {
        Column::Mem(self.to_vec())
    }
}

impl<T: Plain + std::fmt::Debug> std::fmt::Debug for Column<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Mem(v) => write!(f, "Column::Mem(len {})", v.len()),
            Column::Spilled(m) => write!(f, "Column::Spilled(len {})", m.0.len),
        }
    }
}

impl<T: Plain> std::ops::Deref for Column<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Column::Mem(v) => v,
            Column::Spilled(m) => m.0.as_slice(),
        }
    }
}

impl<T: Plain> Column<T> {
    /// An empty column with room for `n` values.
    pub fn with_capacity(n: usize) -> Column<T> {
        Column::Mem(Vec::with_capacity(n))
    }

    /// Appends a value; a spilled column comes back into memory first.
    pub fn push(&mut self, x: T) {
        self.vec_mut().push(x);
    }

    /// The values in memory, to change (a spilled column comes back first).
    pub fn vec_mut(&mut self) -> &mut Vec<T> {
        if let Column::Spilled(m) = self {
            *self = Column::Mem(m.0.as_slice().to_vec());
        }
        match self {
            Column::Mem(v) => v,
            Column::Spilled(_) => unreachable!("brought back into memory above"),
        }
    }

    /// Bytes of process memory the column holds (0 once spilled: its pages are the file's).
    pub fn memory(&self) -> usize {
        match self {
            Column::Mem(v) => v.capacity() * std::mem::size_of::<T>(),
            Column::Spilled(_) => 0,
        }
    }

    /// Gives back capacity past the length.
    pub fn shrink_to_fit(&mut self) {
        if let Column::Mem(v) = self {
            v.shrink_to_fit();
        }
    }

    /// Writes the column to a temporary file in `dir` and maps it back, freeing its memory.
    /// On an error (a full disk) the column stays in memory.
    pub fn spill(&mut self, dir: &Path) -> std::io::Result<()> {
        if let Column::Mem(v) = self {
            let m = Mapped::new(v, dir)?;
            *self = Column::Spilled(SpilledColumn(m));
        }
        Ok(())
    }

    /// Whether the column is spilled.
    pub fn is_spilled(&self) -> bool {
        matches!(self, Column::Spilled(_))
    }
}

/// Asks the processor to bring `s[i]` into its cache, for a read at random soon after (nothing
/// past the end, or where the processor has no such hint).
#[inline]
pub fn prefetch<T>(s: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = s.get(i) {
        // SAFETY: a prefetch hint reads nothing and cannot fault; the address is an element's.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (x as *const T).cast::<i8>(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (s, i);
}

/// Values in a part of a [`Scatter`]'s column (the memory `finish` holds at a time).
const PART: usize = 1 << 23;

/// A column of plain values written at random positions, in any order, without being held in
/// memory: each value goes to the log of its part of the column, appended (the page cache, not
/// the process, holds the logs); [`Scatter::finish`] reads each part's log back into that part
/// and writes the column, part by part, to a spilled column. For a column that is filled at
/// random and read only later.
pub struct Scatter<T: Plain> {
    dir: std::path::PathBuf,
    len: usize,
    fill: T,
    /// Values in a part ([`PART`], smaller in tests).
    part: usize,
    logs: Vec<std::io::BufWriter<std::fs::File>>,
    error: Option<std::io::Error>,
}

impl<T: Plain> Scatter<T> {
    /// A column of `len` values, `fill` where none is set, logged in `dir`.
    pub fn new(dir: &Path, len: usize, fill: T) -> std::io::Result<Scatter<T>> {
        Scatter::with_part(dir, len, fill, PART)
    }

    /// [`Scatter::new`] with parts of `part` values.
    fn with_part(dir: &Path, len: usize, fill: T, part: usize) -> std::io::Result<Scatter<T>> {
        let logs = (0..len.div_ceil(part).max(1))
            .map(|_| temp_file(dir).map(|f| std::io::BufWriter::with_capacity(1 << 16, f)))
            .collect::<std::io::Result<_>>()?;
        Ok(Scatter {
            dir: dir.to_path_buf(),
            len,
            fill,
            part,
            logs,
            error: None,
        })
    }

    /// Sets value `i` (a later one for the same `i` wins). A failed write (a full disk) is kept
    /// for [`Scatter::finish`] to return.
    pub fn set(&mut self, i: usize, x: T) {
        if self.error.is_some() || i >= self.len {
            return;
        }
        let log = &mut self.logs[i / self.part];
        let at = ((i % self.part) as u32).to_le_bytes();
        if let Err(e) = log
            .write_all(&at)
            .and_then(|()| log.write_all(bytes_of(&[x])))
        {
            self.error = Some(e);
        }
    }

    /// The column, spilled; the first failed write's error, or the file's.
    pub fn finish(self) -> std::io::Result<Column<T>> {
        use std::io::{Read, Seek};
        if let Some(e) = self.error {
            return Err(e);
        }
        let (len, fill, size) = (self.len, self.fill, self.part);
        let record = 4 + std::mem::size_of::<T>();
        let mut logs = self.logs.into_iter();
        let mut part = 0;
        let m = Mapped::written(&self.dir, len, &mut |out| {
            for log in logs.by_ref() {
                let mut file = log
                    .into_inner()
                    .map_err(std::io::IntoInnerError::into_error)?;
                file.seek(std::io::SeekFrom::Start(0))?;
                let mut values = vec![fill; size.min(len - part * size)];
                let mut buf = vec![0u8; record << 16];
                loop {
                    // A whole buffer of records, or what is left.
                    let mut got = 0;
                    while got < buf.len() {
                        match file.read(&mut buf[got..])? {
                            0 => break,
                            k => got += k,
                        }
                    }
                    for r in buf[..got].chunks_exact(record) {
                        let at = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
                        // SAFETY: `r[4..]` holds the bytes of one `T` written by `set`; any bit
                        // pattern is a value of a `Plain` type; unaligned read.
                        let x = unsafe { std::ptr::read_unaligned(r[4..].as_ptr().cast::<T>()) };
                        if let Some(v) = values.get_mut(at) {
                            *v = x;
                        }
                    }
                    if got < buf.len() {
                        break;
                    }
                }
                out.write_all(bytes_of(&values))?;
                part += 1;
            }
            Ok(())
        })?;
        Ok(Column::Spilled(SpilledColumn(m)))
    }
}

/// Where spilled columns go by default: `$TMPDIR` when set, else `/var/tmp` (on disk on most
/// systems, where `/tmp` is often memory), else the system's temporary directory.
pub fn default_dir() -> std::path::PathBuf {
    if let Some(d) = std::env::var_os("TMPDIR") {
        return d.into();
    }
    let var_tmp = Path::new("/var/tmp");
    if var_tmp.is_dir() {
        return var_tmp.to_path_buf();
    }
    std::env::temp_dir()
}

/// Total memory of this machine in bytes (`/proc/meminfo`), if known.
pub fn total_memory() -> Option<u64> {
    proc_bytes(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemTotal:")
}

/// A `Name:   1234 kB` line of a /proc file (`/proc/meminfo`, `/proc/self/status`), in bytes.
pub fn proc_bytes(text: &str, name: &str) -> Option<u64> {
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(name))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb << 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scattered_column_is_the_column_set_in_memory() {
        let dir =
            std::env::temp_dir().join(format!("leakdiff-scatter-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let len = 20_000;
        let mut want = vec![u64::MAX; len];
        // Five parts, the last one short; positions out of order, some set twice.
        let mut s = Scatter::with_part(&dir, len, u64::MAX, 4096).unwrap();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for k in 0..30_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % len as u64) as usize;
            want[i] = k;
            s.set(i, k);
        }
        s.set(len, 1);
        let c = s.finish().unwrap();
        assert!(c.is_spilled());
        assert_eq!(&c[..], &want[..]);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no file left");
        // Nothing set: the fill.
        let c = Scatter::new(&dir, 3, 7u32).unwrap().finish().unwrap();
        assert_eq!(&c[..], &[7, 7, 7]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Scatter::new(&dir, 3, 7u32).is_err(), "no folder");
    }

    #[test]
    fn a_spilled_column_reads_back_every_value_and_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("leakdiff-spill-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let values: Vec<u64> = (0..300_000u64).map(|i| (i * 0x9e37_79b9) ^ i).collect();
        let mut c = Column::Mem(values.clone());
        assert!(c.memory() > 0);
        c.spill(&dir).unwrap();
        assert!(c.is_spilled());
        assert_eq!(c.memory(), 0);
        assert_eq!(&c[..], &values[..]);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "the file is unlinked"
        );
        // Pushing brings it back.
        c.push(7);
        assert!(!c.is_spilled());
        assert_eq!(c.len(), values.len() + 1);
        // Empty columns spill too.
        let mut e: Column<u32> = Column::default();
        e.spill(&dir).unwrap();
        assert!(e.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_and_the_column_stays() {
        let mut c = Column::Mem(vec![1u32, 2, 3]);
        assert!(c.spill(Path::new("/nonexistent/leakdiff")).is_err());
        assert!(!c.is_spilled());
        assert_eq!(&c[..], &[1, 2, 3]);
    }
}
