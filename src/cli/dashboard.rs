//! `leakdiff dashboard`: serves the HTML report of a folder on loopback and recomputes it as new
//! snapshots arrive (from `leakdiff collect`). The page polls `api/state` and reloads when the
//! data changed; `api/report.json` is the `leakdiff.report/v1` JSON of the same state.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use clap::Args;

use super::args::{InputArgs, SeriesInputs};
use super::series::{self, AnalysisArgs};
use super::EXIT_OK;
use crate::input::Loader;
use crate::leaks::{self};
use crate::live::serve::{self, Page, ServeOptions};
use crate::live::signal::catch_signals;
use crate::store::{KeyBy, Order};
use crate::units::parse_duration_ms;

#[derive(Args, Debug)]
pub(super) struct DashboardArgs {
    #[command(flatten)]
    inputs: SeriesInputs,
    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on. Anything but loopback exposes symbol names and paths of the
    /// profiled program to the network.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// How often to look for new snapshots (and how often the page asks for news).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "2s")]
    refresh: u64,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    duration: Option<u64>,
    #[command(flatten)]
    analysis: AnalysisArgs,
    #[command(flatten)]
    read: InputArgs,
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
fn compute(args: &DashboardArgs, loader: &Loader, generation: u64) -> Page {
    let dir = args
        .inputs
        .all()
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
            &args.inputs.all(),
            &args.inputs.dataset,
            loader,
            Order::Time,
            KeyBy::Function,
            false,
            args.analysis.frames()?,
        )?;
        let report = args.analysis.analyze(&store, 0, false)?;
        Ok((report, store))
    };
    match run() {
        Ok((report, store)) => {
            let n = store.snapshots.len();
            let mut extras = crate::report::flamegraph::report_flamegraphs(&report, &store);
            extras.live_poll_ms = Some(args.refresh.max(200));
            extras.watch = watch_log(&args.inputs.all());
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
                html: waiting_page(&dir, &message, args.refresh.max(200)),
                json: serde_json::json!({ "error": message }).to_string(),
                error: Some(message),
            }
        }
    }
}

pub(super) fn run_dashboard(args: DashboardArgs) -> Result<u8> {
    let listener = TcpListener::bind((args.bind.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    catch_signals();
    let loader = series::loader(&args.read, &args.inputs.slices)?;
    let first = compute(&args, &loader, 1);
    eprintln!(
        "leakdiff: dashboard on http://{addr}/ ({} snapshots of {}); Ctrl-C stops",
        first.snapshots,
        args.inputs
            .all()
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let options = ServeOptions {
        refresh: Duration::from_millis(args.refresh.max(200)),
        end: args
            .duration
            .map(|d| Instant::now() + Duration::from_millis(d)),
    };
    serve::serve(
        listener,
        first,
        &options,
        || signature(&args.inputs.all()),
        |generation| compute(&args, &loader, generation),
    )?;
    eprintln!("leakdiff: dashboard stopped");
    Ok(EXIT_OK)
}
