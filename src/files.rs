//! Writing a file whole: a hidden temporary name in the same folder, then a rename, so that no
//! reader ever sees half a file, and a file left half-written by a crash keeps its hidden name
//! (which leakdiff, Spark and DuckDB's `*.parquet` globs all pass over).
//!
//! May import: nothing else in the crate.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

/// How durable a whole write must be.
#[derive(Copy, Clone, Debug, Default)]
pub struct Durable {
    /// fsync the file before the rename: a crash never leaves a renamed file whose bytes are
    /// not on disk.
    pub sync: bool,
    /// Give the file this modification time (`collect`: the fetch time).
    pub modified: Option<SystemTime>,
}

/// Writes `body` to `path` through `.NAME.PID.tmp` beside it and a rename; the temporary file is
/// removed on failure. `io` turns an I/O error on a path into the caller's error type.
pub fn write_whole<E>(
    path: &Path,
    durable: Durable,
    body: impl FnOnce(&mut dyn Write) -> Result<(), E>,
    io: impl Fn(&Path, io::Error) -> E,
) -> Result<(), E> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> Result<(), E> {
        let mut w = BufWriter::new(File::create(&tmp).map_err(|e| io(&tmp, e))?);
        body(&mut w)?;
        let file = w.into_inner().map_err(|e| io(&tmp, e.into_error()))?;
        if let Some(t) = durable.modified {
            file.set_modified(t).map_err(|e| io(&tmp, e))?;
        }
        if durable.sync {
            file.sync_all().map_err(|e| io(&tmp, e))?;
        }
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_whole`] with plain I/O errors.
pub fn write_atomically(
    path: &Path,
    durable: Durable,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    write_whole(path, durable, body, |_, e| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_neither_file_nor_temporary() {
        let dir = std::env::temp_dir().join(format!("leakdiff-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.txt");
        let err = write_atomically(&path, Durable::default(), |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("stopped"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let durable = Durable {
            sync: true,
            modified: Some(when),
        };
        write_atomically(&path, durable, |w| w.write_all(b"whole")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), when);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
