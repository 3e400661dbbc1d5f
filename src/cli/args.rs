//! The flags every command that reads profiles shares, flattened into each.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::formats::heaptrack::{suppress, HeaptrackOptions};
use crate::formats::ReadOptions;
use crate::input::Loader;
use crate::symbolize::SymbolOptions;
use crate::units::parse_size;

/// How inputs are read: decompression cap, symbolization, heaptrack suppressions.
#[derive(Args, Debug, Clone)]
pub(super) struct InputArgs {
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB", help_heading = "Input")]
    pub max_decompressed_size: i64,
    /// Binary to symbolize address-only inputs with, instead of the file the profile's mapping
    /// names (matched by file name; a single one that matches nothing stands for the main
    /// program). Repeatable.
    #[arg(long, value_name = "PATH", help_heading = "Symbols")]
    pub binary: Vec<PathBuf>,
    /// Folder to look for binaries and `.build-id/` debug files in before the mapped paths.
    /// Repeatable.
    #[arg(long, value_name = "DIR", help_heading = "Symbols")]
    pub symbols: Vec<PathBuf>,
    /// Leave address-only frames as module+offset.
    #[arg(long, help_heading = "Symbols")]
    pub no_symbolize: bool,
    /// LeakSanitizer-style suppression file (`leak:PATTERN` lines) for heaptrack inputs.
    #[arg(long, value_name = "FILE", help_heading = "heaptrack")]
    pub suppressions: Option<PathBuf>,
    /// Do not apply heaptrack's built-in suppressions (libc, ld.so, glib).
    #[arg(long, help_heading = "heaptrack")]
    pub disable_builtin_suppressions: bool,
    /// Do not apply suppressions embedded in heaptrack recordings (`S` lines).
    #[arg(long, help_heading = "heaptrack")]
    pub disable_embedded_suppressions: bool,
}

impl InputArgs {
    /// The loader these flags describe (the suppression file read and its bad lines warned about).
    pub fn loader(&self) -> Result<Loader> {
        let mut heaptrack = HeaptrackOptions {
            builtin_suppressions: !self.disable_builtin_suppressions,
            embedded_suppressions: !self.disable_embedded_suppressions,
            ..Default::default()
        };
        if let Some(path) = &self.suppressions {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read suppression file {}", path.display()))?;
            let (patterns, invalid) = suppress::parse_file(&text);
            for bad in invalid {
                eprintln!(
                    "leakdiff: warning: {}: invalid suppression line `{bad}` (like heaptrack 1.4, it is kept as an empty pattern, which suppresses everything)",
                    path.display()
                );
            }
            heaptrack.suppressions = patterns;
        }
        Ok(Loader::new(
            ReadOptions {
                max_decompressed_bytes: self.max_decompressed_size.max(0) as u64,
                heaptrack,
            },
            SymbolOptions {
                disabled: self.no_symbolize,
                binaries: self.binary.clone(),
                dirs: self.symbols.clone(),
            },
        ))
    }
}

/// How a heap dump is read (`cycles`, `retained`).
#[derive(Args, Debug, Clone)]
pub(super) struct DumpInputArgs {
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB", help_heading = "Input")]
    pub max_decompressed_size: i64,
}

impl DumpInputArgs {
    pub fn loader(&self) -> Loader {
        Loader::new(
            ReadOptions {
                max_decompressed_bytes: self.max_decompressed_size.max(0) as u64,
                ..Default::default()
            },
            SymbolOptions {
                disabled: true,
                ..Default::default()
            },
        )
    }
}
