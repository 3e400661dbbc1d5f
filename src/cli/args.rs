//! The flags every command that reads profiles shares, flattened into each.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::formats::heaptrack::{suppress, HeaptrackOptions};
use crate::formats::ReadOptions;
use crate::input::Loader;
use crate::symbolize::SymbolOptions;
use crate::units::{parse_duration_ms, parse_size};

/// How inputs are read: decompression cap, symbolization, heaptrack suppressions.
#[derive(Args, Debug, Clone)]
pub(super) struct InputArgs {
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB", help_heading = "Input")]
    pub max_decompressed_size: i64,
    /// Send this header when an input is an http(s):// URL (`Authorization: Bearer …`).
    /// Repeatable.
    #[arg(long = "header", short = 'H', value_name = "'NAME: VALUE'", value_parser = crate::fetch::parse_header, help_heading = "Input")]
    pub headers: Vec<(String, String)>,
    /// Like pprof's -seconds: ask URL inputs for a delta profile over this many seconds
    /// (`?seconds=N`).
    #[arg(long, value_name = "N", help_heading = "Input")]
    pub seconds: Option<u64>,
    /// Deadline of fetching one URL input (added to --seconds).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "30s", help_heading = "Input")]
    pub timeout: u64,
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
        let mut loader = Loader::new(
            ReadOptions {
                max_decompressed_bytes: self.max_decompressed_size.max(0) as u64,
                heaptrack,
            },
            SymbolOptions {
                disabled: self.no_symbolize,
                binaries: self.binary.clone(),
                dirs: self.symbols.clone(),
                only_dirs: false,
            },
        );
        // A lone --binary also names the globals of any Go heap dump among the inputs.
        if let [binary] = self.binary.as_slice() {
            loader.dump_binary = Some(binary.clone());
        }
        loader.fetch.headers = self.headers.clone();
        loader.fetch.timeout = std::time::Duration::from_millis(self.timeout.max(1));
        loader.seconds = self.seconds;
        Ok(loader)
    }
}

/// How a heap dump is read (`cycles`, `retained`).
#[derive(Args, Debug, Clone)]
pub(super) struct DumpInputArgs {
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB", help_heading = "Input")]
    pub max_decompressed_size: i64,
    /// The program that wrote the dump (unstripped, or a file with its symbol table): names the
    /// globals that are roots (`main.sessions`). Checked against the dump's data and bss
    /// segments; a binary that does not match names nothing and says so.
    #[arg(long, value_name = "PATH", help_heading = "Input")]
    pub binary: Option<PathBuf>,
    /// Memory the dump's graph may take before the columns a phase does not read go to a
    /// temporary file, mapped back (e.g. 6GiB; default: a quarter of this machine's memory).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = "Input")]
    pub memory_budget: Option<i64>,
    /// Where that file goes (unlinked at once; default: $TMPDIR, else /var/tmp).
    #[arg(long, value_name = "DIR", help_heading = "Input")]
    pub spill_dir: Option<PathBuf>,
}

impl DumpInputArgs {
    pub fn loader(&self) -> Loader {
        let mut loader = Loader::new(
            ReadOptions {
                max_decompressed_bytes: self.max_decompressed_size.max(0) as u64,
                ..Default::default()
            },
            SymbolOptions {
                disabled: true,
                ..Default::default()
            },
        );
        loader.dump_binary = self.binary.clone();
        loader.dump_memory = crate::graph::Memory {
            budget: self
                .memory_budget
                .map_or_else(crate::graph::Memory::default_budget, |b| b.max(0) as u64),
            spill_dir: self
                .spill_dir
                .clone()
                .unwrap_or_else(crate::spill::default_dir),
        };
        loader
    }
}

/// The inputs of a series command: positional paths and/or `-i PATH…` (both may repeat).
#[derive(Args, Debug, Clone)]
pub(super) struct SeriesInputs {
    /// Snapshots: folders (read recursively), files, `-` (stdin), http(s):// URLs, or a Parquet
    /// store saved with `report --save`.
    #[arg(value_name = "PATH", required_unless_present = "input")]
    paths: Vec<PathBuf>,
    /// The same as PATH (`-i a b` takes both; repeatable).
    #[arg(long = "input", short = 'i', value_name = "PATH", num_args = 1..)]
    input: Vec<PathBuf>,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub slices: SeriesSlices,
}

/// How a series command cuts a heaptrack recording (one file holding a whole run) into snapshots.
#[derive(Args, Debug, Clone)]
pub(super) struct SeriesSlices {
    /// Cut each heaptrack recording among the inputs into N snapshots at equal steps of its
    /// duration, so that it is trended like a folder of dumps.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=100_000), help_heading = "heaptrack")]
    pub slices: u32,
    /// Cut each heaptrack recording into a snapshot every DURATION (e.g. 10s) and one at the
    /// end, instead of --slices.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, help_heading = "heaptrack")]
    pub slice_every: Option<u64>,
}

impl SeriesSlices {
    /// Sets the loader to cut heaptrack recordings this way.
    pub fn apply(&self, loader: &mut Loader) {
        use crate::formats::heaptrack::SliceSpec;
        loader.slices = Some(match self.slice_every {
            Some(ms) => SliceSpec::EveryMs(ms),
            None => SliceSpec::Count(self.slices),
        });
        loader.read.heaptrack.timeline = true;
    }
}

/// Which part of a fleet dataset (`leakdiff ingest`) a series command reads.
#[derive(Args, Debug, Clone, Default)]
pub(super) struct DatasetArgs {
    /// The service to read when the input is a dataset (may be left out when it holds one).
    #[arg(long, value_name = "NAME", help_heading = "Dataset")]
    pub service: Option<String>,
    /// Only snapshots at or after this time: 2026-12-01, 2026-12-01T10:00:00Z, or 24h (ago).
    #[arg(long, value_name = "TIME", help_heading = "Dataset")]
    pub since: Option<String>,
    /// Only snapshots at or before this time (same forms as --since).
    #[arg(long, value_name = "TIME", help_heading = "Dataset")]
    pub until: Option<String>,
}

impl DatasetArgs {
    /// The filter these flags describe, times parsed against now.
    pub fn filter(&self) -> Result<crate::dataset::Filter> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let time = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
            v.as_deref()
                .map(|t| {
                    crate::units::parse_time(t, now).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
                })
                .transpose()
        };
        let filter = crate::dataset::Filter {
            service: self.service.clone(),
            since_ns: time("since", &self.since)?,
            until_ns: time("until", &self.until)?,
        };
        if let (Some(a), Some(b)) = (filter.since_ns, filter.until_ns) {
            anyhow::ensure!(a <= b, "--since is after --until");
        }
        Ok(filter)
    }
}

impl SeriesInputs {
    /// Every input, `-i` ones first, in the order given.
    pub fn all(&self) -> Vec<PathBuf> {
        self.input.iter().chain(&self.paths).cloned().collect()
    }
}

/// pprof's single-dash flags (`-sample_index=alloc_space`, `-inuse_space`, `-base FILE`,
/// `-nodecount=10`, …) as leakdiff's (`--sample-index=alloc_space`, …), so a pprof command line
/// works as typed. Only the names below are rewritten, only before a `--`, and `--snake_case`
/// forms of them too; anything else is left for clap to judge.
pub fn pprof_style(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const VALUED: &[(&str, &str)] = &[
        ("sample_index", "--sample-index"),
        ("focus", "--focus"),
        ("ignore", "--ignore"),
        ("hide", "--hide"),
        ("show", "--show"),
        ("tagfocus", "--tag-focus"),
        ("tagignore", "--tag-ignore"),
        ("nodecount", "--top"),
        ("nodefraction", "--node-fraction"),
        ("base", "--base"),
        ("diff_base", "--diff-base"),
        ("seconds", "--seconds"),
        ("timeout", "--timeout"),
        ("output", "--output"),
    ];
    const SHORTCUTS: &[(&str, &str)] = &[
        ("inuse_space", "--sample-index=inuse_space"),
        ("inuse_objects", "--sample-index=inuse_objects"),
        ("alloc_space", "--sample-index=alloc_space"),
        ("alloc_objects", "--sample-index=alloc_objects"),
        ("normalize", "--normalize"),
        ("flat", "--sort=delta"),
        ("cum", "--sort=cum"),
        ("text", "--format=text"),
        ("top", "--format=text"),
        ("folded", "--format=folded"),
        ("collapsed", "--format=folded"),
    ];
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, a) in args.into_iter().enumerate() {
        let Some(s) = a.to_str().filter(|_| i > 0 && !passthrough) else {
            out.push(a);
            continue;
        };
        if s == "--" {
            passthrough = true;
            out.push(a);
            continue;
        }
        // `-name` (pprof's form) or `--snake_name` (pprof's names with two dashes); leakdiff's
        // own `--kebab-name` and one-letter flags are not touched.
        let body = match s.strip_prefix("--") {
            Some(b) if b.split('=').next().is_some_and(|n| n.contains('_')) => b,
            Some(_) => {
                out.push(a);
                continue;
            }
            None => match s.strip_prefix('-') {
                Some(b) if b.len() > 1 => b,
                _ => {
                    out.push(a);
                    continue;
                }
            },
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        if let Some((_, long)) = VALUED.iter().find(|(n, _)| *n == name) {
            match value {
                Some(v) => out.push(format!("{long}={v}").into()),
                None => out.push((*long).into()),
            }
        } else if let Some((_, long)) = SHORTCUTS
            .iter()
            .find(|(n, _)| *n == name && value.is_none())
        {
            out.push((*long).into());
        } else if name == "symbolize" && value == Some("none") {
            out.push("--no-symbolize".into());
        } else {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pprof_style;

    fn run(args: &[&str]) -> Vec<String> {
        pprof_style(args.iter().map(|s| s.into()))
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn pprof_flags_become_leakdiff_flags() {
        assert_eq!(
            run(&[
                "leakdiff",
                "-sample_index=alloc_space",
                "-base",
                "a.pb",
                "b.pb"
            ]),
            [
                "leakdiff",
                "--sample-index=alloc_space",
                "--base",
                "a.pb",
                "b.pb"
            ]
        );
        assert_eq!(
            run(&[
                "leakdiff",
                "-inuse_objects",
                "-nodecount=5",
                "-tagfocus=handler=up",
                "x",
                "y"
            ]),
            [
                "leakdiff",
                "--sample-index=inuse_objects",
                "--top=5",
                "--tag-focus=handler=up",
                "x",
                "y"
            ]
        );
        assert_eq!(
            run(&["leakdiff", "--diff_base", "a", "b", "--sample_index=1"]),
            ["leakdiff", "--diff-base", "a", "b", "--sample-index=1"]
        );
        // leakdiff's own flags, short flags, `-` and everything after `--` are left alone.
        assert_eq!(
            run(&["leakdiff", "--base", "a", "-", "-o", "-", "-f", "json", "--", "-focus"]),
            ["leakdiff", "--base", "a", "-", "-o", "-", "-f", "json", "--", "-focus"]
        );
        assert_eq!(run(&["leakdiff", "-text"]), ["leakdiff", "--format=text"]);
    }
}
