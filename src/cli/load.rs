//! Reading snapshots from disk into one shared interner.

use std::path::Path;

use anyhow::Result;

use crate::formats::{self, ParseError, ReadOptions};
use crate::model::{Interner, Profile};

/// Reads and parses one file into `interner`.
pub fn load_profile(
    path: &Path,
    interner: &mut Interner,
    options: &ReadOptions,
) -> Result<Profile, ParseError> {
    let source = path.display().to_string();
    let raw = std::fs::read(path).map_err(|e| ParseError::Io {
        source_name: source.clone(),
        message: format!("cannot read: {e}"),
    })?;
    formats::parse_bytes(raw, &source, interner, options)
}

/// Reads two files in parallel, each into its own interner, then merges them into one so that ids
/// mean the same thing on both sides.
pub fn load_pair(
    base: &Path,
    later: &Path,
    options: &ReadOptions,
) -> Result<(Interner, Profile, Profile)> {
    let (a, b) = rayon::join(
        || {
            let mut i = Interner::new();
            load_profile(base, &mut i, options).map(|p| (i, p))
        },
        || {
            let mut i = Interner::new();
            load_profile(later, &mut i, options).map(|p| (i, p))
        },
    );
    let (mut interner, base) = a?;
    let (other, mut later) = b?;
    let remap = interner.absorb(&other);
    later.remap(&remap);
    Ok((interner, base, later))
}
