//! The shared data model every parser writes into and every analysis reads.
//!
//! Owns: interned strings, frames keyed by value, stacks as a prefix tree (root → leaf), value types,
//! snapshot metadata and the immutable [`Profile`] that [`ProfileBuilder::finish`] validates.
//! May import: nothing else in the crate. No I/O happens here.

mod intern;
mod profile;

pub use intern::{Frame, FrameId, Interner, Remap, StackId, StackNode, StrId};
pub use profile::{
    Format, Kind, Label, LabelValue, Profile, ProfileBuilder, SampleRef, SnapshotMeta,
    ValidationError, ValueType,
};
