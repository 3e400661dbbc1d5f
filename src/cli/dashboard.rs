//! `leakdiff dashboard`: serves the HTML report of a folder on loopback and recomputes it as new
//! snapshots arrive (from `leakdiff collect`). The page polls `api/state` and reloads when the
//! data changed; `api/report.json` is the `leakdiff.report/v1` JSON of the same state.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use clap::Args;

use super::analyze::{attach_object_graph, flamegraphs, load_store, loader_for};
use super::collect::{catch_signals, sleep_until, stopping};
use super::http::{read_request, respond};
use super::EXIT_OK;
use crate::leaks::{self, AnalyzeOptions};
use crate::store::{KeyBy, Order};
use crate::units::{parse_duration_ms, parse_size};

#[derive(Args, Debug)]
pub(super) struct DashboardArgs {
    /// Folder of snapshots (what `leakdiff collect` writes), read recursively.
    #[arg(long, short = 'i', value_name = "DIR", required = true)]
    input: Vec<PathBuf>,
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
    /// Memory limit for the time-to-limit projections (e.g. 2GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<i64>,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    duration: Option<u64>,
    /// Refuse inputs that decompress to more than this (e.g. 4GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB")]
    max_decompressed_size: i64,
}

/// What the server hands out; replaced whole on each recompute.
struct State {
    generation: u64,
    snapshots: usize,
    updated: String,
    error: Option<String>,
    html: String,
    json: String,
}

/// Files, sizes and mtimes under the inputs: a change means new data.
fn signature(inputs: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    crate::store::expand_inputs(inputs)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let len = m.as_ref().map_or(0, |m| m.len());
            let t = m.and_then(|m| m.modified().ok());
            (p, len, t)
        })
        .collect()
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

fn compute(args: &DashboardArgs, generation: u64) -> State {
    let loader = loader_for(args.max_decompressed_size, &[], &[], false);
    let dir = args
        .input
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
    let run = || -> Result<(leaks::Report, usize)> {
        let store = load_store(&args.input, &loader, Order::Time, KeyBy::Function, false)?;
        let options = AnalyzeOptions {
            memory_limit: args.memory_limit.map(|v| v as f64),
            ..Default::default()
        };
        let mut report = leaks::analyze(&store, &options)?;
        attach_object_graph(&mut report, &loader);
        Ok((report, store.snapshots.len()))
    };
    match run() {
        Ok((report, n)) => {
            let mut extras = flamegraphs(&report, &loader);
            extras.live_poll_ms = Some(args.refresh.max(200));
            let mut html = Vec::new();
            let mut json = Vec::new();
            let err = crate::report::write_report_html(&report, &extras, &mut html)
                .and_then(|_| crate::report::write_report_json(&report, &mut json))
                .err();
            State {
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
            State {
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

fn serve(mut stream: TcpStream, state: &RwLock<Arc<State>>) {
    let Ok(req) = read_request(&mut stream) else {
        return;
    };
    let s = state
        .read()
        .map(|g| Arc::clone(&g))
        .unwrap_or_else(|e| Arc::clone(&e.into_inner()));
    let head = req.method == "HEAD";
    if req.method != "GET" && !head {
        let _ = respond(&mut stream, 405, "text/plain", b"GET only\n", false);
        return;
    }
    let path = req.path.split('?').next().unwrap_or("/");
    let _ = match path {
        "/" | "/index.html" => respond(
            &mut stream,
            200,
            "text/html; charset=utf-8",
            s.html.as_bytes(),
            head,
        ),
        "/api/state" => {
            let body = serde_json::json!({
                "generation": s.generation,
                "snapshots": s.snapshots,
                "updated": s.updated,
                "error": s.error,
            })
            .to_string();
            respond(&mut stream, 200, "application/json", body.as_bytes(), head)
        }
        "/api/report.json" => respond(
            &mut stream,
            200,
            "application/json",
            s.json.as_bytes(),
            head,
        ),
        _ => respond(&mut stream, 404, "text/plain", b"not found\n", head),
    };
}

pub(super) fn run_dashboard(args: DashboardArgs) -> Result<u8> {
    let listener = TcpListener::bind((args.bind.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    catch_signals();
    let mut sig = signature(&args.input);
    let state = Arc::new(RwLock::new(Arc::new(compute(&args, 1))));
    eprintln!(
        "leakdiff: dashboard on http://{addr}/ ({} snapshots of {}); Ctrl-C stops",
        state.read().map(|s| s.snapshots).unwrap_or(0),
        args.input
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let end = args
        .duration
        .map(|d| Instant::now() + Duration::from_millis(d));
    let refresh = Duration::from_millis(args.refresh.max(200));
    std::thread::scope(|scope| -> Result<()> {
        let st = Arc::clone(&state);
        let args = &args;
        // The watcher: recompute when the files change.
        scope.spawn(move || {
            let mut generation = 1;
            loop {
                if !sleep_until(Instant::now() + refresh)
                    || end.is_some_and(|e| Instant::now() >= e)
                {
                    return;
                }
                let now = signature(&args.input);
                if now == sig {
                    continue;
                }
                sig = now;
                generation += 1;
                let next = compute(args, generation);
                eprintln!(
                    "leakdiff: dashboard: recomputed ({} snapshots)",
                    next.snapshots
                );
                if let Ok(mut g) = st.write() {
                    *g = Arc::new(next);
                }
            }
        });
        loop {
            if stopping() || end.is_some_and(|e| Instant::now() >= e) {
                return Ok(());
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    let st = Arc::clone(&state);
                    let _ = stream.set_nonblocking(false);
                    scope.spawn(move || serve(stream, &st));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => eprintln!("leakdiff: dashboard: accept failed: {e}"),
            }
        }
    })?;
    eprintln!("leakdiff: dashboard stopped");
    Ok(EXIT_OK)
}
