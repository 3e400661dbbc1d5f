//! A fleet dataset on disk: Hive-partitioned Parquet that DuckDB, Spark, DataFusion or polars read
//! as one table, `DATASET/service=NAME/date=YYYY-MM-DD/part-….parquet`, written append-only by
//! `leakdiff ingest` and `collect --dataset`, read back by `report`/`check`/`export`/`dashboard`
//! with the service and time range pushed down to the folders and to each part's footer.
//!
//! The rules:
//! - Every part is written whole under a hidden temporary name (`.part-….tmp`), synced, then
//!   renamed: a reader never sees half a part, and a part left half-written by a crash keeps its
//!   hidden name, which readers (leakdiff, Spark, DuckDB's `*.parquet` globs) ignore.
//! - Re-ingesting a snapshot is a no-op: each snapshot has a content hash, and the hashes already
//!   in the service's parts are skipped. A part's name is derived from the hashes it holds.
//! - One writer per service at a time: an ingest holds a `flock` on `service=NAME/_ingest.lock`
//!   from reading the hashes there to renaming its last part. Names starting with `_` are
//!   metadata to every reader.
//! - A file in the dataset that is no part (another name, a Parquet file of another schema) is
//!   skipped with a note; a part of a later schema version is an error naming the file.
//!
//! May import: `store` (the rows and their Parquet encoding), `units`, `files`. Reads and writes files;
//! prints nothing (notes are returned).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::store::{self, DatasetSnapshot, Store, StoreError, DATASET_SCHEMA, DATASET_VERSION};

/// The marker file at a dataset's root (JSON: schema and version).
pub const MARKER: &str = "_leakdiff_dataset.json";

/// Rows per row group when writing.
pub const ROW_GROUP: usize = 65_536;

/// Errors of a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file or folder could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        message: String,
    },
    /// A part of a later layout version than this leakdiff reads.
    #[error("{path}: dataset part of {schema} version {version}; this leakdiff reads version {DATASET_VERSION} (upgrade leakdiff)")]
    FutureVersion {
        /// The part.
        path: String,
        /// Its schema.
        schema: String,
        /// Its version.
        version: u32,
    },
    /// No service was named and the dataset has several, or the one named is not there.
    #[error("{root}: {message}")]
    Service {
        /// The dataset.
        root: String,
        /// What is wrong, with the services there.
        message: String,
    },
    /// A service name that cannot be a folder name.
    #[error("service name {0:?}: use letters, digits, '.', '_' and '-' only")]
    BadName(String),
    /// A part could not be encoded or decoded.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> DatasetError + '_ {
    move |e| DatasetError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Which part of a dataset to read.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// The service (may be left out when the dataset has one).
    pub service: Option<String>,
    /// Earliest time, ns since the epoch (inclusive).
    pub since_ns: Option<i64>,
    /// Latest time, ns since the epoch (inclusive).
    pub until_ns: Option<i64>,
}

/// What a read touched and skipped.
#[derive(Clone, Debug, Default)]
pub struct ReadStats {
    /// The service read.
    pub service: String,
    /// Date partitions of the service, and how many of them were read.
    pub partitions: usize,
    /// Date partitions read.
    pub partitions_read: usize,
    /// Parts read.
    pub parts_read: usize,
    /// Parts left out by their footer's time range.
    pub parts_pruned: usize,
    /// Hidden files left by an unfinished write, ignored.
    pub unfinished: usize,
    /// Snapshots read.
    pub snapshots: usize,
    /// Notes: foreign files skipped.
    pub notes: Vec<String>,
}

/// Whether `path` is a dataset's root: a folder with the marker file or a `service=` folder.
pub fn is_dataset(path: &Path) -> bool {
    if !path.is_dir() {
        return false;
    }
    if path.join(MARKER).is_file() {
        return true;
    }
    std::fs::read_dir(path).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with("service=")
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
    })
}

/// Checks a service name: it becomes a folder name.
pub fn check_service(name: &str) -> Result<(), DatasetError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(DatasetError::BadName(name.to_string()))
    }
}

/// Every visible part file of a dataset (all services and dates), sorted: what changes when a
/// part is added (the dashboard's signal to recompute).
pub fn part_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let visible = |e: &std::fs::DirEntry| !e.file_name().to_string_lossy().starts_with(['.', '_']);
    for s in std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(visible)
    {
        for d in std::fs::read_dir(s.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(visible)
        {
            for f in std::fs::read_dir(d.path())
                .into_iter()
                .flatten()
                .flatten()
                .filter(visible)
            {
                if f.path().extension().is_some_and(|x| x == "parquet") {
                    out.push(f.path());
                }
            }
        }
    }
    out.sort();
    out
}

/// The services of a dataset, sorted.
pub fn services(root: &Path) -> Result<Vec<String>, DatasetError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).map_err(io_err(root))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(s) = name.strip_prefix("service=") {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(s.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `YYYY-MM-DD` of a time (µs since the epoch, UTC).
pub fn date_of_us(us: i64) -> String {
    crate::units::rfc3339_utc(us.saturating_mul(1000))[..10].to_string()
}

/// Runs a Parquet read, turning a panic of the Parquet library on a corrupt file into an error
/// naming the file (the dataset is shared: one bad part must not take the run down).
fn guarded<T>(
    path: &Path,
    read: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, DatasetError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(r) => Ok(r?),
        Err(_) => Err(DatasetError::Io {
            path: path.display().to_string(),
            message: "corrupt Parquet part (the reader gave up on it)".into(),
        }),
    }
}

/// Entries of a folder, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>, DatasetError> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .flatten()
        .collect();
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

/// A part found on disk (its footer read and within the filter).
struct Part {
    path: PathBuf,
}

/// Lists the parts of a service within the filter's dates, reading each footer; notes foreign
/// files, counts hidden ones, errors on a later version.
fn list_parts(
    root: &Path,
    service: &str,
    since_us: Option<i64>,
    until_us: Option<i64>,
    stats: &mut ReadStats,
) -> Result<Vec<Part>, DatasetError> {
    let dir = root.join(format!("service={service}"));
    let mut parts = Vec::new();
    if !dir.is_dir() {
        return Ok(parts);
    }
    let since_day = since_us.map(date_of_us);
    let until_day = until_us.map(date_of_us);
    for d in sorted_entries(&dir)? {
        let name = d.file_name().to_string_lossy().into_owned();
        // `_…` is metadata (the ingest lock, an engine's `_SUCCESS`), `.…` an unfinished write.
        if name.starts_with('_') {
            continue;
        }
        if name.starts_with('.') {
            stats.unfinished += 1;
            continue;
        }
        let Some(day) = name.strip_prefix("date=") else {
            stats.notes.push(format!(
                "{}: not a date=YYYY-MM-DD partition, skipped",
                d.path().display()
            ));
            continue;
        };
        if !d.file_type().is_ok_and(|t| t.is_dir()) {
            stats
                .notes
                .push(format!("{}: not a folder, skipped", d.path().display()));
            continue;
        }
        stats.partitions += 1;
        // Dates sort as strings: the partition pushdown.
        if since_day.as_deref().is_some_and(|s| day < s)
            || until_day.as_deref().is_some_and(|u| day > u)
        {
            continue;
        }
        stats.partitions_read += 1;
        for f in sorted_entries(&d.path())? {
            let fname = f.file_name().to_string_lossy().into_owned();
            let path = f.path();
            if fname.starts_with('_') {
                continue;
            }
            if fname.starts_with('.') {
                stats.unfinished += 1;
                continue;
            }
            if !fname.ends_with(".parquet") || !f.file_type().is_ok_and(|t| t.is_file()) {
                stats.notes.push(format!(
                    "{}: not a dataset part (*.parquet), skipped",
                    path.display()
                ));
                continue;
            }
            let file = std::fs::File::open(&path).map_err(io_err(&path))?;
            let meta = match guarded(&path, || {
                store::part_meta(file, &path.display().to_string())
            }) {
                Ok(Some(m)) => m,
                Ok(None) => {
                    stats.notes.push(format!(
                        "{}: a Parquet file that is no {DATASET_SCHEMA} part, skipped",
                        path.display()
                    ));
                    continue;
                }
                Err(e) => {
                    stats.notes.push(format!("{e}; skipped"));
                    continue;
                }
            };
            if meta.schema != DATASET_SCHEMA {
                stats.notes.push(format!(
                    "{}: schema {:?}, not {DATASET_SCHEMA}; skipped",
                    path.display(),
                    meta.schema
                ));
                continue;
            }
            if meta.version > DATASET_VERSION {
                return Err(DatasetError::FutureVersion {
                    path: path.display().to_string(),
                    schema: meta.schema,
                    version: meta.version,
                });
            }
            if meta.service != service {
                stats.notes.push(format!(
                    "{}: rows of service {:?} in the folder of {service:?}, skipped",
                    path.display(),
                    meta.service
                ));
                continue;
            }
            if since_us.is_some_and(|s| meta.time_max_us < s)
                || until_us.is_some_and(|u| meta.time_min_us > u)
            {
                stats.parts_pruned += 1;
                continue;
            }
            parts.push(Part { path });
        }
    }
    Ok(parts)
}

/// The service a filter means: the one named (which must be there), else the only one.
fn pick_service(root: &Path, asked: Option<&str>) -> Result<String, DatasetError> {
    let all = services(root)?;
    let listed = || {
        if all.is_empty() {
            "it has none".to_string()
        } else {
            format!("it has {}", all.join(", "))
        }
    };
    match asked {
        Some(s) => {
            check_service(s)?;
            if all.iter().any(|x| x == s) {
                Ok(s.to_string())
            } else {
                Err(DatasetError::Service {
                    root: root.display().to_string(),
                    message: format!("no service {s:?} in this dataset; {}", listed()),
                })
            }
        }
        None if all.len() == 1 => Ok(all[0].clone()),
        None => Err(DatasetError::Service {
            root: root.display().to_string(),
            message: format!("name a service with --service; {}", listed()),
        }),
    }
}

/// Reads one service's snapshots within the time range into a [`Store`] (parts decoded in
/// parallel).
pub fn read(root: &Path, filter: &Filter) -> Result<(Store, ReadStats), DatasetError> {
    let service = pick_service(root, filter.service.as_deref())?;
    let since_us = filter.since_ns.map(|n| n.div_euclid(1000));
    let until_us = filter.until_ns.map(|n| n.div_euclid(1000));
    let mut stats = ReadStats {
        service: service.clone(),
        ..Default::default()
    };
    let parts = list_parts(root, &service, since_us, until_us, &mut stats)?;
    stats.parts_read = parts.len();
    // Each part is folded into the store's compact columns as soon as it is decoded, so memory
    // holds the table and as many parts' rows as there are threads.
    let builder = std::sync::Mutex::new(store::DatasetStoreBuilder::default());
    let count = std::sync::atomic::AtomicUsize::new(0);
    // At most one part per thread at a time: polars decodes on its own pool, and a rayon worker
    // waiting on another pool steals from its own, so a plain par_iter would start every part.
    parts
        .chunks(rayon::current_num_threads().max(1))
        .try_for_each(|chunk| {
            chunk
                .par_iter()
                .try_for_each(|p| -> Result<(), DatasetError> {
                    let file = std::fs::File::open(&p.path).map_err(io_err(&p.path))?;
                    let snaps = guarded(&p.path, || {
                        store::decode_part(file, &p.path.display().to_string(), since_us, until_us)
                    })?;
                    count.fetch_add(snaps.len(), std::sync::atomic::Ordering::Relaxed);
                    builder
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .add(snaps);
                    Ok(())
                })
        })?;
    if count.into_inner() == 0 {
        return Err(DatasetError::Service {
            root: root.display().to_string(),
            message: format!(
                "no snapshots of service {service:?}{} ({} of {} date partitions read)",
                match (&filter.since_ns, &filter.until_ns) {
                    (None, None) => String::new(),
                    _ => " in that time range".into(),
                },
                stats.partitions_read,
                stats.partitions
            ),
        });
    }
    let store = builder
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .finish()?;
    stats.snapshots = store.snapshots.len();
    Ok((store, stats))
}

/// What an ingest did.
#[derive(Clone, Debug, Default)]
pub struct IngestStats {
    /// Snapshots written.
    pub snapshots: usize,
    /// Rows written.
    pub rows: usize,
    /// Snapshots already in the dataset, left out.
    pub already: usize,
    /// Parts written.
    pub parts: Vec<PathBuf>,
}

/// Writes a file of the dataset whole (hidden temporary name, synced, renamed).
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    let durable = crate::files::Durable {
        sync: true,
        modified: None,
    };
    crate::files::write_whole(path, durable, write, |p, e| io_err(p)(e))
}

/// Holds an exclusive lock on `service=NAME/_ingest.lock` (flock) until dropped. The name starts
/// with `_`, so readers never take it for data.
fn lock_service(root: &Path, service: &str) -> Result<std::fs::File, DatasetError> {
    use std::os::unix::io::AsRawFd;
    let dir = root.join(format!("service={service}"));
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join("_ingest.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    // SAFETY: flock on a descriptor this function owns; released when the file is closed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io_err(&path)(std::io::Error::last_os_error()));
    }
    Ok(file)
}

/// The snapshot hashes already stored for a service at the times of `store`'s snapshots (the
/// `snapshot` column of the parts that can hold them).
fn existing_hashes(
    root: &Path,
    service: &str,
    store: &Store,
) -> Result<rustc_hash::FxHashSet<String>, DatasetError> {
    // A snapshot's hash covers its time, so it can only be in a part whose time range holds that
    // time: only those parts are read (a `collect --dataset` round reads one day's, not all).
    let times = store
        .snapshots
        .iter()
        .map(|s| s.time_nanos.div_euclid(1000));
    let (since, until) = (times.clone().min(), times.max());
    let mut stats = ReadStats::default();
    let parts = list_parts(root, service, since, until, &mut stats)?;
    let mut out = rustc_hash::FxHashSet::default();
    for p in parts {
        let file = std::fs::File::open(&p.path).map_err(io_err(&p.path))?;
        out.extend(guarded(&p.path, || {
            store::part_hashes(file, &p.path.display().to_string())
        })?);
    }
    Ok(out)
}

/// Appends a store's snapshots to the dataset as `service`: one part per date, snapshots already
/// there left out, parts encoded in parallel.
pub fn ingest(root: &Path, service: &str, store: &Store) -> Result<IngestStats, DatasetError> {
    check_service(service)?;
    std::fs::create_dir_all(root).map_err(io_err(root))?;
    let marker = root.join(MARKER);
    if !marker.exists() {
        let text = format!(
            "{{\"schema\": \"{DATASET_SCHEMA}\", \"version\": {DATASET_VERSION}, \"layout\": \"service=NAME/date=YYYY-MM-DD/part-*.parquet\"}}\n"
        );
        write_atomically(&marker, |f| {
            std::io::Write::write_all(f, text.as_bytes()).map_err(io_err(&marker))
        })?;
    }
    // One writer per service at a time (`collect --dataset` and a cron `ingest` may meet): the
    // hashes read below stay true until this ingest's parts are in.
    let _lock = lock_service(root, service)?;
    let have = existing_hashes(root, service, store)?;
    let mut stats = IngestStats::default();
    // Snapshots by UTC date; each date's rows are made, hashed and written on their own (in
    // parallel), so memory holds the store and a few days of rows.
    let view = store.dataset_view()?;
    let mut by_date: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, s) in store.snapshots.iter().enumerate() {
        by_date
            .entry(date_of_us(s.time_nanos.div_euclid(1000)))
            .or_default()
            .push(i);
    }
    let seen = std::sync::Mutex::new(rustc_hash::FxHashSet::default());
    let already = std::sync::atomic::AtomicUsize::new(0);
    let dates: Vec<(&String, &Vec<usize>)> = by_date.iter().collect();
    // As many dates at a time as there are threads (see `read`: polars writes on its own pool).
    let written: Vec<Option<(PathBuf, usize, usize)>> = dates
        .chunks(rayon::current_num_threads().max(1))
        .map(|chunk| {
            chunk
                .par_iter()
                .map(|&(date, indices)| -> Result<_, DatasetError> {
                    let mut snaps = view.snapshots(indices);
                    snaps.retain(|s| {
                        let new = !have.contains(&s.hash)
                            && seen
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .insert(s.hash.clone());
                        if !new {
                            already.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        new
                    });
                    if snaps.is_empty() {
                        return Ok(None);
                    }
                    let dir = root
                        .join(format!("service={service}"))
                        .join(format!("date={date}"));
                    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
                    // Named by the first time and the hashes it holds: the same snapshots give the same
                    // name, and two ingests of different snapshots never collide.
                    let mut hashes: Vec<&str> = snaps.iter().map(|s| s.hash.as_str()).collect();
                    hashes.sort_unstable();
                    let id = store::content_id(&hashes);
                    let first = snaps.iter().map(|s| s.time_us).min().unwrap_or(0);
                    let stamp = crate::units::rfc3339_utc(first.saturating_mul(1000))
                        .replace([':', '-'], "");
                    let path = dir.join(format!("part-{stamp}-{}.parquet", &id[..16]));
                    let refs: Vec<&DatasetSnapshot> = snaps.iter().collect();
                    let mut meta = None;
                    write_atomically(&path, |w| {
                        meta = Some(store::encode_part(
                            service, "function", &refs, ROW_GROUP, w,
                        )?);
                        Ok(())
                    })?;
                    let (n, rows) = meta.map_or((0, 0), |m| (m.snapshots, m.rows));
                    Ok(Some((path, n, rows)))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    stats.already = already.into_inner();
    for (path, snaps, rows) in written.into_iter().flatten() {
        stats.parts.push(path);
        stats.snapshots += snaps;
        stats.rows += rows;
    }
    Ok(stats)
}
