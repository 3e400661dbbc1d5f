//! Writing a file whole: a temporary name in the same folder, then a rename, so no reader ever
//! sees half a file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

/// Writes `body` to `path` through a temporary file and a rename. With `durable`, the file is
/// also given that modification time and fsynced before the rename (`collect`: the time is the
/// fetch time, and a crash never leaves a renamed file whose bytes are not on disk). The
/// temporary file is removed on failure.
pub fn write_atomically(
    path: &Path,
    durable: Option<SystemTime>,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.leakdiff-tmp-{}", std::process::id()));
    let result = (|| -> io::Result<()> {
        let mut w = BufWriter::new(File::create(&tmp)?);
        body(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        if let Some(t) = durable {
            file.set_modified(t)?;
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
