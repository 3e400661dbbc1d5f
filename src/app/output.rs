//! Where a command's results go: a file written atomically, or standard output; the notes every
//! command prints on stderr about its inputs.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

/// Writes what `render` produces to `output`, or to standard output when there is none.
pub fn emit(
    output: Option<&Path>,
    render: impl Fn(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    match output {
        Some(path) if !is_stdout(path) => {
            write_file(path, |w| render(w))?;
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            eprintln!(
                "leakdiff: wrote {} ({})",
                path.display(),
                crate::units::human(i64::try_from(size).unwrap_or(i64::MAX), "bytes")
            );
            Ok(())
        }
        _ => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            render(&mut w)
                .and_then(|_| w.flush())
                .context("could not write the output")
        }
    }
}

/// Writes a profile as gzipped `profile.proto`, atomically.
pub fn write_pprof(
    path: &Path,
    profile: &crate::model::Profile,
    interner: &crate::model::Interner,
) -> Result<()> {
    let bytes = crate::formats::pprof::encode::encode(profile, interner);
    write_file(path, |w| {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        gz.write_all(&bytes)?;
        gz.finish().map(|_| ())
    })
}

/// Writes a file through a temporary name and a rename, so no half-written file is left behind.
pub fn write_file(path: &Path, body: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    if is_stdout(path) {
        let stdout = io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        return body(&mut w)
            .and_then(|_| w.flush())
            .context("could not write the output");
    }
    crate::files::write_atomically(path, crate::files::Durable::default(), body)
        .with_context(|| format!("could not write {}", path.display()))
}

/// True when an output path is `-`: standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The name an input goes by in titles and notes: its file name, `stdin` for `-`.
pub fn file_name(p: &Path) -> String {
    if crate::input::is_stdin(p) {
        return "stdin".to_string();
    }
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Warns when LATER was taken before BASE (by the profiles' own times): the diff then reads
/// backwards, growth as shrinkage.
pub fn warn_order(base: &crate::model::Profile, later: &crate::model::Profile) {
    if let (Some(b), Some(l)) = (base.meta.time_nanos, later.meta.time_nanos) {
        if l < b {
            eprintln!(
                "leakdiff: warning: LATER ({}, taken {}) is older than BASE ({}, taken {}): the diff reads backwards; give the older snapshot first",
                later.meta.source,
                crate::units::rfc3339_utc_millis(l),
                base.meta.source,
                crate::units::rfc3339_utc_millis(b),
            );
        }
    }
}

/// Prints each input's warnings and the symbolizer's, one line each, on stderr.
pub fn warn_inputs<'a>(
    loader: &crate::input::Loader,
    profiles: impl IntoIterator<Item = &'a crate::model::Profile>,
) {
    for p in profiles {
        for w in &p.meta.warnings {
            eprintln!("leakdiff: warning: {}: {w}", p.meta.source);
        }
    }
    if let Some(w) = loader.symbolizer.warning() {
        eprintln!("leakdiff: warning: {w}");
    }
}
