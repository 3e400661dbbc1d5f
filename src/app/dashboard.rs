//! `leakdiff dashboard`: serves the HTML report of a folder on loopback and recomputes it as new
//! snapshots arrive (from `leakdiff collect` or `watch`). The page polls `api/state` and reloads
//! when the data changed; `api/report.json` is the `leakdiff.report/v1` JSON of the same state.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use super::series::{self, Analysis};
use super::EXIT_OK;
use crate::input::Loader;
use crate::leaks;
use crate::live::serve::{self, Page, ServeOptions};
use crate::live::signal::catch_signals;
use crate::store::{FrameRules, KeyBy, Order};

/// A dashboard, its flags read.
pub struct DashboardJob {
    /// The folders (or dataset) served.
    pub inputs: Vec<PathBuf>,
    /// The part of a dataset to read, worked out again at each recomputation (`--since 24h`
    /// moves with the clock).
    pub dataset: Box<dyn Fn() -> Result<crate::dataset::Filter> + Send + Sync>,
    /// How heap keys skip frames.
    pub frames: FrameRules,
    /// The analysis.
    pub analysis: Analysis,
    /// Milliseconds between looks for new snapshots (and the page's polls).
    pub refresh: u64,
    /// Stop after this many milliseconds (None: until a signal).
    pub duration: Option<u64>,
}

/// Files, sizes and mtimes under the inputs: a change means new data.
fn signature(inputs: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let files: Vec<PathBuf> = if inputs.len() == 1 && crate::dataset::is_dataset(&inputs[0]) {
        crate::dataset::part_files(&inputs[0])
    } else {
        crate::input::expand_inputs(inputs)
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.path)
            .collect()
    };
    files
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let len = m.as_ref().map_or(0, |m| m.len());
            let t = m.and_then(|m| m.modified().ok());
            (p, len, t)
        })
        .collect()
}

/// The log of a watcher writing to the (first) folder, when there is one: the last 8 MiB of it
/// at most (a watcher running for weeks), from the start of a line.
fn watch_log(inputs: &[PathBuf]) -> Option<crate::report::watch::WatchLog> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 8 << 20;
    let path = inputs
        .iter()
        .map(|d| d.join(crate::report::watch::LOG_NAME))
        .find(|p| p.is_file())?;
    let mut f = std::fs::File::open(&path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = if len > TAIL {
        text.split_once('\n').map_or("", |x| x.1)
    } else {
        &text
    };
    Some(crate::report::watch::read_log(text))
}

fn waiting_page(dir: &str, message: &str, poll_ms: u64) -> String {
    let esc = crate::report::flamegraph::escape;
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>leakdiff dashboard</title></head><body>\
<h1>leakdiff dashboard</h1><p>Waiting for snapshots in <code>{}</code>: {}</p>\
<p id=\"live-status\" data-generation=\"\">live</p>\
<script>setInterval(function(){{fetch(\"api/state\",{{cache:\"no-store\"}}).then(function(r){{return r.json();}}).then(function(s){{if(s.snapshots>0){{location.reload();}}}});}},{poll_ms});</script>\
</body></html>",
        esc(dir),
        esc(message)
    )
}

/// The page of the inputs as they are now. The loader (and its symbol cache) lives as long as
/// the dashboard.
fn compute(job: &DashboardJob, loader: &Loader, generation: u64) -> Page {
    let dir = job
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let updated = crate::units::rfc3339_utc(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
    );
    let run = || -> Result<(leaks::Report, crate::store::Store)> {
        let store = series::load_store(
            &job.inputs,
            &(job.dataset)()?,
            loader,
            Order::Time,
            KeyBy::Function,
            false,
            job.frames.clone(),
        )?;
        let report = series::analyze(&store, &job.analysis, false)?;
        Ok((report, store))
    };
    match run() {
        Ok((report, store)) => {
            let n = store.snapshots.len();
            let mut extras = crate::report::flamegraph::report_flamegraphs(&report, &store);
            extras.live_poll_ms = Some(job.refresh.max(200));
            extras.watch = watch_log(&job.inputs);
            let mut html = Vec::new();
            let mut json = Vec::new();
            let err = crate::report::write_report_html(&report, &extras, &mut html)
                .and_then(|_| crate::report::write_report_json(&report, &mut json))
                .err();
            Page {
                generation,
                snapshots: n,
                updated,
                error: err.map(|e| e.to_string()),
                html: String::from_utf8_lossy(&html).into_owned(),
                json: String::from_utf8_lossy(&json).into_owned(),
            }
        }
        Err(e) => {
            let message = format!("{e:#}");
            Page {
                generation,
                snapshots: 0,
                updated,
                html: waiting_page(&dir, &message, job.refresh.max(200)),
                json: serde_json::json!({ "error": message }).to_string(),
                error: Some(message),
            }
        }
    }
}

/// Serves the dashboard on `listener` until a signal or the job's duration.
pub fn run_dashboard(job: &DashboardJob, listener: TcpListener, loader: &Loader) -> Result<u8> {
    let addr = listener.local_addr()?;
    catch_signals();
    let first = compute(job, loader, 1);
    eprintln!(
        "leakdiff: dashboard on http://{addr}/ ({} snapshots of {}); Ctrl-C stops",
        first.snapshots,
        job.inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let options = ServeOptions {
        refresh: Duration::from_millis(job.refresh.max(200)),
        end: job
            .duration
            .map(|d| Instant::now() + Duration::from_millis(d)),
    };
    serve::serve(
        listener,
        first,
        &options,
        || signature(&job.inputs),
        |generation| compute(job, loader, generation),
    )?;
    eprintln!("leakdiff: dashboard stopped");
    Ok(EXIT_OK)
}
