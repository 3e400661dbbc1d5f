//! Typed parse errors: every one names the input, the format and where in it things went wrong.

use std::fmt;

/// Where in an input a problem is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// A byte offset in the (decompressed, unless stated) input.
    Byte(u64),
    /// A byte offset in the compressed file as stored on disk.
    CompressedByte(u64),
    /// A 1-based line number.
    Line(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Byte(b) => write!(f, "byte {b}"),
            Position::CompressedByte(b) => write!(f, "compressed byte {b}"),
            Position::Line(l) => write!(f, "line {l}"),
        }
    }
}

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not any format leakdiff knows.
    #[error("{source_name}: not a recognized profile format: {detail}")]
    Unrecognized {
        /// The input's name (usually its path).
        source_name: String,
        /// What was seen instead.
        detail: String,
    },
    /// The bytes are plainly something else: an executable, a script, an image, notes.
    #[error("{source_name}: not a profile: it looks like {looks_like}")]
    NotAProfile {
        /// The input's name.
        source_name: String,
        /// What it looks like (`an ELF executable`, `UTF-8 text`).
        looks_like: String,
    },
    /// The bytes are this format, but broken.
    #[error("{source_name}: malformed {format} at {position}: {message}")]
    Malformed {
        /// The input's name.
        source_name: String,
        /// Format name (`pprof`, `gzip`, `legacy heap profile`, …).
        format: &'static str,
        /// Where.
        position: Position,
        /// What is wrong.
        message: String,
    },
    /// The input was read, but cannot do what was asked of it.
    #[error("{source_name}: {message}")]
    Unsupported {
        /// The input's name.
        source_name: String,
        /// What cannot be done.
        message: String,
    },
    /// Reading the input itself failed.
    #[error("{source_name}: {message}")]
    Io {
        /// The input's name.
        source_name: String,
        /// What failed.
        message: String,
    },
}

impl ParseError {
    /// A malformed-input error.
    pub fn malformed(
        source_name: &str,
        format: &'static str,
        position: Position,
        message: impl Into<String>,
    ) -> Self {
        ParseError::Malformed {
            source_name: source_name.to_string(),
            format,
            position,
            message: message.into(),
        }
    }
}
