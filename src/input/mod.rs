//! Paths → profiles: the one loader (read, decompress, sniff, decode, symbolize; a Go heap dump
//! becomes its live objects per allocation site with its object graph summarized), folder walking
//! in natural order, file times, and a series of inputs loaded into the [`Store`] in parallel with
//! the folder rules: a file in a folder that is no profile is left out with a note, a broken
//! profile is a failure of the run while the rest is still read.
//!
//! Library users and tests load files through this module. May import: `model`, `formats`,
//! `symbolize`, `graph`, `store`, `units`, `fetch` (URL inputs). Reads files, standard input and URLs;
//! prints nothing (warnings are returned).

mod load;
mod walk;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use load::{decode_path, input_name, is_stdin, is_url, load_pair, load_profile, Loader};
pub use walk::{collect_files, expand_inputs, mtime_nanos, InputFile};

use crate::formats::ParseError;
use crate::store::{KeyBy, Order, SnapshotIn, Store, StoreBuilder, StoreError};

/// Errors of loading a series.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A folder could not be listed.
    #[error("cannot list {path}: {message}")]
    List {
        /// The folder.
        path: String,
        /// Why.
        message: String,
    },
    /// Nothing to read.
    #[error("no snapshot files under {0}")]
    NoFiles(String),
    /// A saved store could not be read.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The store could not be built or read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Options of [`load_series`].
#[derive(Clone, Default)]
pub struct SeriesOptions<'a> {
    /// Snapshot order.
    pub order: Order,
    /// How samples are keyed.
    pub by: KeyBy,
    /// Called with (files done, files in all) after each file.
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
    /// Frames heap keys skip besides the allocator's (`--keep-frames`, `--drop-frames`).
    pub frames: crate::store::FrameRules,
}

/// Whether a regular file starts with Parquet's magic (a pipe, stdin or URL is never opened
/// here: its bytes would be lost).
pub fn is_parquet(path: &Path) -> bool {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"PAR1"
}

/// Reads a store saved as Parquet (`report --save`, `export --format parquet`).
pub fn open_store(path: &Path) -> Result<Store, InputError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ParseError::Io {
        source_name: name.clone(),
        message: format!("cannot read: {e}"),
    })?;
    Ok(Store::read_parquet(bytes, &name)?)
}

/// Loads a series: one Parquet store, or every snapshot file under `inputs` (folders walked in
/// natural order), decoded in parallel, each reduced into the store as soon as it is read.
pub fn load_series(
    inputs: &[PathBuf],
    loader: &Loader,
    options: &SeriesOptions,
) -> Result<Store, InputError> {
    if inputs.len() == 1 && inputs[0].is_file() && is_parquet(&inputs[0]) {
        return open_store(&inputs[0]);
    }
    let files = expand_inputs(inputs).map_err(|e| InputError::List {
        path: inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        message: e.to_string(),
    })?;
    if files.is_empty() {
        return Err(InputError::NoFiles(
            inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    load_files(&files, loader, options)
}

/// Loads the given files as a series (as [`load_series`] does after walking its folders): each
/// file's `from_folder` decides whether the folder rules apply to it (a file that is no profile
/// left out with a note; one form of goroutine evidence per moment).
pub fn load_files(
    files: &[InputFile],
    loader: &Loader,
    options: &SeriesOptions,
) -> Result<Store, InputError> {
    let builder = StoreBuilder::new(options.by, options.order).with_frames(options.frames.clone());
    add_files(&builder, files, 0, loader, options.progress);
    Ok(builder.finish()?)
}

/// What the heap snapshots of files just read say of where and when they were taken, in file
/// order, where the data tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Added {
    /// The process each is of (a Go heap profile's vDSO address).
    pub processes: Vec<String>,
    /// When each was taken (the profile's own time), nanoseconds since the epoch.
    pub times: Vec<i64>,
}

/// Reads `files` into `builder`, numbered from `first`, in parallel: each worker decodes,
/// reduces to rows and hands its profile over (kept only while it is the first or last heap
/// snapshot), so memory holds about as many profiles as there are threads, plus the rows. What
/// the heap snapshots say of their process and time, in file order.
fn add_files(
    builder: &StoreBuilder,
    files: &[InputFile],
    first: usize,
    loader: &Loader,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Added {
    let done = std::sync::atomic::AtomicUsize::new(0);
    let processes = std::sync::Mutex::new(Vec::new());
    let times = std::sync::Mutex::new(Vec::new());
    files.par_iter().enumerate().for_each(|(i, f)| {
        let i = first + i;
        let source = f.path.display().to_string();
        let mtime = mtime_nanos(&f.path);
        match loader.load_snapshots(&f.path, mtime) {
            Ok(parts) => {
                let n = parts.len();
                let mtime = mtime.unwrap_or(0);
                for (k, (interner, profile, graph)) in parts.into_iter().enumerate() {
                    let process = profile.meta.process.clone();
                    let time = profile.meta.time_nanos;
                    if builder.add(SnapshotIn {
                        input_index: i,
                        source: if n > 1 {
                            format!("{source} (slice {}/{n})", k + 1)
                        } else {
                            source.clone()
                        },
                        from_folder: f.from_folder,
                        mtime_nanos: mtime,
                        interner,
                        profile,
                        graph,
                    }) == Some(crate::store::Kind::Heap)
                    {
                        if let Some(p) = process {
                            processes
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((i, p));
                        }
                        if let Some(t) = time {
                            times.lock().unwrap_or_else(|e| e.into_inner()).push((i, t));
                        }
                    }
                }
            }
            // The skip list names the file beside the reason.
            Err(ParseError::Unrecognized { detail, .. }) if f.from_folder => builder.skip(
                i,
                &source,
                format!("not a recognized profile format: {detail}"),
            ),
            Err(ParseError::NotAProfile { looks_like, .. }) if f.from_folder => builder.skip(
                i,
                &source,
                format!("not a profile: it looks like {looks_like}"),
            ),
            Err(e) => builder.fail(i, &source, e.to_string()),
        }
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if let Some(p) = progress {
            p(n, files.len());
        }
    });
    fn in_order<T: Ord>(m: std::sync::Mutex<Vec<(usize, T)>>) -> Vec<T> {
        let mut v = m.into_inner().unwrap_or_else(|e| e.into_inner());
        v.sort();
        v.into_iter().map(|(_, x)| x).collect()
    }
    Added {
        processes: in_order(processes),
        times: in_order(times),
    }
}

/// A series read a few files at a time, as a watcher collects them round by round: each file is
/// read once, when added, and [`GrowingSeries::store`] builds the store of what is held. It holds
/// at most `2·max` snapshots of each kind, evenly spaced ([`StoreBuilder::thin`]), so a round
/// costs the same after ten thousand rounds as after a thousand.
pub struct GrowingSeries {
    builder: StoreBuilder,
    added: usize,
    max: usize,
}

impl GrowingSeries {
    /// An empty series keyed and ordered as `options` say, holding at most `2·max` snapshots of
    /// each kind (0: all).
    pub fn new(options: &SeriesOptions, max: usize) -> GrowingSeries {
        GrowingSeries {
            builder: StoreBuilder::new(options.by, options.order)
                .with_frames(options.frames.clone()),
            added: 0,
            max,
        }
    }

    /// Reads `files` (as files of a folder: one that is no profile is left out with a note) into
    /// the series. Returns what its heap snapshots say of where and when they were taken.
    pub fn add(&mut self, files: &[PathBuf], loader: &Loader) -> Added {
        let files = InputFile::of_folder(files);
        let added = add_files(&self.builder, &files, self.added, loader, None);
        self.added += files.len();
        self.builder.thin(self.max);
        added
    }

    /// How many files were added.
    pub fn files(&self) -> usize {
        self.added
    }

    /// The store of what is held: everything added so far, thinned.
    pub fn store(&self) -> Result<Store, InputError> {
        Ok(self.builder.build()?)
    }
}
