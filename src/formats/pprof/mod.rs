//! pprof inputs: `profile.proto` (gzipped or raw) and the legacy `heap profile:` text family.
//!
//! May import: `model`, `formats::error`. Never analysis modules.

mod convert;
pub mod encode;
pub mod legacy;
#[allow(clippy::all, missing_docs)]
pub mod schema;
pub mod wire;

use crate::formats::error::ParseError;
use crate::model::{Format, Interner, Profile};

/// Converts decoded wire structs (with their record offsets) into the model.
pub fn convert_decoded(
    p: &schema::Profile,
    samples: &wire::Samples,
    offsets: &wire::Offsets,
    source: &str,
    format: Format,
    interner: &mut Interner,
) -> Result<Profile, ParseError> {
    convert::convert(p, samples, offsets, source, format, interner)
}

/// Converts already-decoded wire structs into the model (used by the legacy text parser too).
pub fn from_schema(
    p: &schema::Profile,
    source: &str,
    format: Format,
    interner: &mut Interner,
) -> Result<Profile, ParseError> {
    let samples = wire::Samples::from_schema(&p.sample);
    convert::convert(
        p,
        &samples,
        &wire::Offsets::default(),
        source,
        format,
        interner,
    )
}
