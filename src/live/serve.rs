//! The dashboard's server: serves the current page, its state and its JSON on loopback, while a
//! watcher thread recomputes them when the inputs change. What a page holds is the caller's
//! business (`cli::dashboard` renders the report).

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::http::{read_request, respond};
use super::signal::{sleep_until, stopping};

/// What the server hands out; replaced whole on each recompute.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// Bumped on every recompute; the page reloads when it changes.
    pub generation: u64,
    /// Snapshots the page was made from.
    pub snapshots: usize,
    /// When it was made (RFC 3339).
    pub updated: String,
    /// Why there is no report, when there is none.
    pub error: Option<String>,
    /// `/`.
    pub html: String,
    /// `/api/report.json`.
    pub json: String,
}

/// How the server runs.
pub struct ServeOptions {
    /// How often to look for changes.
    pub refresh: Duration,
    /// Stop at this time (else at Ctrl-C).
    pub end: Option<Instant>,
}

fn answer(mut stream: TcpStream, state: &RwLock<Arc<Page>>) {
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

/// Serves `first` on `listener`, and replaces it with `compute(generation)` each time
/// `signature()` changes, until Ctrl-C or the end. Each request gets a thread of its own.
pub fn serve<S, F, C>(
    listener: TcpListener,
    first: Page,
    options: &ServeOptions,
    signature: F,
    compute: C,
) -> std::io::Result<()>
where
    S: PartialEq + Send,
    F: Fn() -> S + Sync,
    C: Fn(u64) -> Page + Sync,
{
    listener.set_nonblocking(true)?;
    let state = Arc::new(RwLock::new(Arc::new(first)));
    let mut sig = signature();
    let (refresh, end) = (options.refresh, options.end);
    std::thread::scope(|scope| {
        let st = Arc::clone(&state);
        let (signature, compute) = (&signature, &compute);
        // The watcher: recompute when the inputs change.
        scope.spawn(move || {
            let mut generation = 1;
            loop {
                if !sleep_until(Instant::now() + refresh)
                    || end.is_some_and(|e| Instant::now() >= e)
                {
                    return;
                }
                let now = signature();
                if now == sig {
                    continue;
                }
                sig = now;
                generation += 1;
                let next = compute(generation);
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
                    scope.spawn(move || answer(stream, &st));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => eprintln!("leakdiff: dashboard: accept failed: {e}"),
            }
        }
    })
}
