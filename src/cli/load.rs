//! Reading snapshots from disk into one shared interner.

use std::path::Path;

use anyhow::Result;

use crate::formats::{self, Decoded, ParseError, ReadOptions};
use crate::model::{Interner, Profile};

/// Reads a file and decodes it (no interning yet).
pub fn decode_path(path: &Path, options: &ReadOptions) -> Result<Decoded, ParseError> {
    let source = path.display().to_string();
    let raw = std::fs::read(path).map_err(|e| ParseError::Io {
        source_name: source.clone(),
        message: format!("cannot read: {e}"),
    })?;
    formats::decode_bytes(raw, &source, options)
}

/// Reads and parses one file into `interner`.
pub fn load_profile(
    path: &Path,
    interner: &mut Interner,
    options: &ReadOptions,
) -> Result<Profile, ParseError> {
    decode_path(path, options)?.into_profile(interner)
}

/// Reads and decodes two files in parallel, then interns both into one interner so that ids mean
/// the same thing on both sides.
pub fn load_pair(
    base: &Path,
    later: &Path,
    options: &ReadOptions,
) -> Result<(Interner, Profile, Profile)> {
    // Decode the later file while the base one is decoded and interned; then intern the later one.
    let (a, b) = rayon::join(
        || {
            let mut interner = Interner::new();
            decode_path(base, options)
                .and_then(|d| d.into_profile(&mut interner))
                .map(|p| (interner, p))
        },
        || decode_path(later, options),
    );
    let (mut interner, base) = a?;
    let later = b?.into_profile(&mut interner)?;
    Ok((interner, base, later))
}
