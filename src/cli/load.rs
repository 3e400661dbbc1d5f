//! Reading snapshots from disk into one shared interner, symbolizing address-only inputs on the way.

use std::path::Path;

use anyhow::Result;

use crate::formats::{self, Decoded, ParseError, ReadOptions};
use crate::model::{Interner, Profile};
use crate::symbolize::{SymbolOptions, Symbolizer};

/// Everything needed to read inputs: format options and a symbolizer whose module cache is shared
/// by every input of the run.
pub struct Loader {
    /// Format options (decompression cap, heaptrack suppressions).
    pub read: ReadOptions,
    /// Symbolizer for address-only inputs.
    pub symbolizer: Symbolizer,
}

impl Loader {
    /// A loader with these options.
    pub fn new(read: ReadOptions, symbols: SymbolOptions) -> Loader {
        Loader {
            read,
            symbolizer: Symbolizer::new(symbols),
        }
    }

    /// Reads a file, decodes it and symbolizes it (no interning yet).
    pub fn decode(&self, path: &Path) -> Result<Decoded, ParseError> {
        let source = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| ParseError::Io {
            source_name: source.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let mut decoded = formats::decode_bytes(raw, &source, &self.read)?;
        if let Some(p) = decoded.wire_profile_mut() {
            self.symbolizer.symbolize(p);
        }
        Ok(decoded)
    }

    /// Reads and parses one file into `interner`.
    pub fn load(&self, path: &Path, interner: &mut Interner) -> Result<Profile, ParseError> {
        self.decode(path)?.into_profile(interner)
    }

    /// Reads and decodes two files in parallel, then interns both into one interner so that ids
    /// mean the same thing on both sides.
    pub fn load_pair(&self, base: &Path, later: &Path) -> Result<(Interner, Profile, Profile)> {
        // Decode the later file while the base one is decoded and interned; then intern later.
        let (a, b) = rayon::join(
            || {
                let mut interner = Interner::new();
                self.load(base, &mut interner).map(|p| (interner, p))
            },
            || self.decode(later),
        );
        let (mut interner, base) = a?;
        let later = b?.into_profile(&mut interner)?;
        Ok((interner, base, later))
    }
}

/// Reads a file and decodes it with default symbolization (no interning yet).
pub fn decode_path(path: &Path, options: &ReadOptions) -> Result<Decoded, ParseError> {
    Loader::new(options.clone(), SymbolOptions::default()).decode(path)
}

/// Reads and parses one file into `interner`, with default symbolization.
pub fn load_profile(
    path: &Path,
    interner: &mut Interner,
    options: &ReadOptions,
) -> Result<Profile, ParseError> {
    decode_path(path, options)?.into_profile(interner)
}

/// [`Loader::load_pair`] with default symbolization.
pub fn load_pair(
    base: &Path,
    later: &Path,
    options: &ReadOptions,
) -> Result<(Interner, Profile, Profile)> {
    Loader::new(options.clone(), SymbolOptions::default()).load_pair(base, later)
}
