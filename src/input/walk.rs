//! Folder walking: the files of a folder in natural name order, leakdiff's own outputs and hidden
//! files left out, and file times.

use std::path::{Path, PathBuf};

use crate::units::natural_cmp;

/// File names in a folder that are never snapshots: leakdiff's own outputs, notes and scripts.
const NOT_SNAPSHOTS: &[&str] = &[
    ".json", ".md", ".html", ".svg", ".csv", ".parquet", ".prom", ".toml", ".sh", ".go", ".c",
];

/// Files leakdiff writes beside the snapshots it collects: `watch`'s log.
const OWN_FILES: &[&str] = &["watch.jsonl"];

/// Every file under `dir`, recursively, in natural order of the path; hidden files and files with
/// the extensions of leakdiff's outputs, notes and scripts (`truth.json`, `report.html`, …) are
/// left out.
pub fn collect_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(path);
            } else if !NOT_SNAPSHOTS.iter().any(|e| name.ends_with(e))
                && !OWN_FILES.contains(&name.as_str())
            {
                out.push(path);
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(out)
}

/// One input file, and whether it was found in a folder (rather than named by the user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// The file.
    pub path: PathBuf,
    /// Found by walking a folder: a file there that is no profile is left out with a note; one
    /// named by the user is an error.
    pub from_folder: bool,
}

impl InputFile {
    /// Files taken as a folder's (collected rounds): one that is no profile is left out.
    pub fn of_folder(paths: &[PathBuf]) -> Vec<InputFile> {
        paths
            .iter()
            .map(|p| InputFile {
                path: p.clone(),
                from_folder: true,
            })
            .collect()
    }
}

/// Files or folders, expanded in the order given (each folder in natural order).
pub fn expand_inputs(inputs: &[PathBuf]) -> std::io::Result<Vec<InputFile>> {
    let mut out = Vec::new();
    for i in inputs {
        if i.is_dir() {
            out.extend(collect_files(i)?.into_iter().map(|path| InputFile {
                path,
                from_folder: true,
            }));
        } else {
            out.push(InputFile {
                path: i.clone(),
                from_folder: false,
            });
        }
    }
    Ok(out)
}

/// A file's modification time in ns since the epoch.
pub fn mtime_nanos(path: &Path) -> Option<i64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_nanos()).ok()
}
