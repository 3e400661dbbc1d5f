//! Evidence on the first alert: what a person will want once a leak is suspected, fetched from
//! the service right then, into a folder of its own: a heap profile taken right after a forced
//! GC (`heap?gc=1`: the heap as of that moment, not of the last collection), every goroutine with
//! its full stack (`goroutine?debug=2`) and the runtime's goroutine leak profile where it is
//! served (Go ≥ 1.26). Each answer is checked to be the profile asked for and written whole.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::collect::{check, Endpoint, FRESH_HEAP};
use super::signal::stopping;
use crate::fetch::{self, FetchError, FetchOptions, Url};

/// What was gathered.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// What could not be fetched or written, in words (a profile not served is no error).
    pub errors: Vec<String>,
}

/// Fetches the evidence from the net/http/pprof folder at `url` into `dir` (created).
pub fn gather(url: &Url, dir: &Path, headers: &[(String, String)], timeout: Duration) -> Gathered {
    let mut out = Gathered::default();
    if let Err(e) = std::fs::create_dir_all(dir) {
        out.errors
            .push(format!("cannot create {}: {e}", dir.display()));
        return out;
    }
    let opts = FetchOptions {
        timeout,
        max_body: 1 << 30,
        headers: headers.to_vec(),
    };
    let wanted = [
        (Endpoint::Heap, "heap-after-gc.pb.gz"),
        (Endpoint::GoroutineDebug2, "goroutines.txt"),
        (Endpoint::Goroutineleak, "goroutineleak.pb.gz"),
    ];
    for (what, file) in wanted {
        let target = url.join(match what {
            Endpoint::Heap => FRESH_HEAP,
            _ => what.path(),
        });
        let body = match fetch::get(&target, &opts, &stopping) {
            Ok(b) => b,
            Err(FetchError::Status { status: 404, .. }) if what == Endpoint::Goroutineleak => {
                continue
            }
            Err(e) => {
                out.errors.push(format!("{target}: {e}"));
                continue;
            }
        };
        if let Err(e) = check(&body, what) {
            out.errors.push(format!("{target}: {e}"));
            continue;
        }
        let to = dir.join(file);
        let written = crate::files::write_atomically(
            &to,
            crate::files::Durable {
                sync: true,
                modified: Some(SystemTime::now()),
            },
            |w| w.write_all(&body),
        );
        match written {
            Ok(()) => out.files.push(to),
            Err(e) => out
                .errors
                .push(format!("cannot write {}: {e}", to.display())),
        }
    }
    out
}
