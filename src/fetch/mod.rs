//! The HTTP(S) client: one GET of a profile endpoint, with headers, a whole-request deadline, a
//! body cap and a stop check, on ureq with rustls. Used by `collect` and by every command that
//! takes a URL where a file would go.
//!
//! May import: nothing else of this crate.

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connecting failed (target down, refused, name unknown).
    #[error("cannot connect to {addr}: {message}")]
    Connect {
        /// host:port.
        addr: String,
        /// What failed.
        message: String,
    },
    /// The request took longer than its deadline.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// The answer was not HTTP, broken, or TLS failed.
    #[error("bad HTTP answer: {0}")]
    Protocol(String),
    /// A status other than 200.
    #[error("HTTP status {status}: {reason}")]
    Status {
        /// Code.
        status: u16,
        /// Reason and the start of the body.
        reason: String,
    },
    /// The body is larger than the cap.
    #[error("answer larger than {0} bytes")]
    TooLarge(u64),
    /// Asked to stop.
    #[error("interrupted")]
    Interrupted,
    /// The URL or a header is not one this client sends.
    #[error("{0}")]
    Url(String),
}

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// True for `https://`.
    pub tls: bool,
    /// Host as written (without brackets for IPv6).
    pub host: String,
    /// Port (80 or 443 when absent).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// True when `s` names an `http://` or `https://` resource.
pub fn is_url(s: &str) -> bool {
    let l = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

impl Url {
    /// Parses an `http://` or `https://` URL.
    pub fn parse(s: &str) -> Result<Url, FetchError> {
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("https://") {
            (true, &s[8..])
        } else if lower.starts_with("http://") {
            (false, &s[7..])
        } else {
            return Err(FetchError::Url(format!(
                "`{s}`: not an http:// or https:// URL"
            )));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(FetchError::Url(format!(
                "`{s}`: credentials in the URL are not sent; use --header 'Authorization: …'"
            )));
        }
        let bare_v6 = authority.starts_with('[') && authority.ends_with(']');
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !bare_v6 => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| FetchError::Url(format!("`{s}`: bad port `{p}`")))?;
                (h, port)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(FetchError::Url(format!("`{s}`: no host")));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FetchError::Url(format!(
                "`{s}`: spaces or control characters in the path"
            )));
        }
        Ok(Url {
            tls,
            host: host.trim_start_matches('[').trim_end_matches(']').into(),
            port,
            path,
        })
    }

    /// This URL with `rel` appended to its path (which is taken as a folder).
    pub fn join(&self, rel: &str) -> Url {
        let mut path = self.path.clone();
        if !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(rel.trim_start_matches('/'));
        Url {
            path,
            ..self.clone()
        }
    }

    /// The URL of `name` beside this one's last path segment (a trailing `/` ignored; the query
    /// dropped): `/debug/pprof/` → `/debug/vars` for `vars`.
    pub fn sibling(&self, name: &str) -> Url {
        let path = self.path.split('?').next().unwrap_or("");
        let path = path.trim_end_matches('/');
        let parent = path.rfind('/').map_or("", |i| &path[..i]);
        Url {
            path: format!("{parent}/{name}"),
            ..self.clone()
        }
    }

    /// This URL with `key=value` added to its query.
    pub fn with_query(&self, key: &str, value: &str) -> Url {
        let sep = if self.path.contains('?') { '&' } else { '?' };
        Url {
            path: format!("{}{sep}{key}={value}", self.path),
            ..self.clone()
        }
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

/// Parses a `--header 'Name: value'` argument.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}`: a header is `Name: value`"))?;
    let name = name.trim();
    let ok_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok_name {
        return Err(format!("`{name}` is not a header name"));
    }
    let value = value.trim();
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("the value of `{name}` has a line break"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Knobs of one GET.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Whole-request deadline.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_body: u64,
    /// Extra request headers (`Authorization`, …), sent as given.
    pub headers: Vec<(String, String)>,
}

impl Default for FetchOptions {
    fn default() -> FetchOptions {
        FetchOptions {
            timeout: Duration::from_secs(30),
            max_body: 1 << 30,
            headers: Vec::new(),
        }
    }
}

/// GETs `url`: the body of a 200 answer. The request runs on its own thread; `stop` is polled
/// while waiting, so Ctrl-C does not wait for a slow target (the abandoned request ends at its
/// own deadline).
pub fn get(url: &Url, opts: &FetchOptions, stop: &dyn Fn() -> bool) -> Result<Vec<u8>, FetchError> {
    let deadline = Instant::now() + opts.timeout;
    let (tx, rx) = mpsc::channel();
    let (url_s, opts2) = (url.to_string(), opts.clone());
    let authority = url.authority();
    std::thread::Builder::new()
        .name("leakdiff-fetch".into())
        .spawn(move || {
            let _ = tx.send(get_blocking(&url_s, &authority, &opts2));
        })
        .map_err(|e| FetchError::Protocol(format!("cannot start a request thread: {e}")))?;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => return r,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(FetchError::Protocol("the request thread died".into()))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if stop() {
                    return Err(FetchError::Interrupted);
                }
                // ureq keeps its own deadline; this is the backstop.
                if Instant::now() > deadline + Duration::from_secs(1) {
                    return Err(FetchError::Timeout(opts.timeout));
                }
            }
        }
    }
}

/// One agent for the process: its TLS configuration (rustls, the root store) is built once, and
/// connections are pooled across `collect`'s rounds. Deadlines are set per request.
fn agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(format!("leakdiff/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    })
}

fn get_blocking(url: &str, authority: &str, opts: &FetchOptions) -> Result<Vec<u8>, FetchError> {
    let mut req = agent()
        .get(url)
        .config()
        .timeout_global(Some(opts.timeout))
        .build();
    for (k, v) in &opts.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let map = |e: ureq::Error| error_of(e, authority, opts);
    let mut resp = req.call().map_err(map)?;
    if resp.status().as_u16() != 200 {
        return Err(status_error(&mut resp));
    }
    resp.body_mut()
        .with_config()
        .limit(opts.max_body)
        .read_to_vec()
        .map_err(map)
}

/// POSTs `body` as JSON to `url` (an alert to a webhook or Alertmanager), with `opts`' headers and
/// deadline; any 2xx answer is success.
pub fn post_json(url: &Url, body: &[u8], opts: &FetchOptions) -> Result<(), FetchError> {
    let authority = url.authority();
    let mut req = agent()
        .post(url.to_string())
        .config()
        .timeout_global(Some(opts.timeout))
        .build()
        .header("Content-Type", "application/json");
    for (k, v) in &opts.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let mut resp = req.send(body).map_err(|e| error_of(e, &authority, opts))?;
    if resp.status().is_success() {
        return Ok(());
    }
    Err(status_error(&mut resp))
}

/// The error of an answer that is not the success asked for: its status, reason and the first
/// 200 bytes of its body, control characters blanked.
fn status_error(resp: &mut ureq::http::Response<ureq::Body>) -> FetchError {
    let status = resp.status().as_u16();
    let reason = resp.status().canonical_reason().unwrap_or("").to_string();
    let head = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .unwrap_or_default();
    let text: String = String::from_utf8_lossy(&head[..head.len().min(200)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    FetchError::Status {
        status,
        reason: format!("{reason} {}", text.trim()).trim().to_string(),
    }
}

fn error_of(e: ureq::Error, authority: &str, opts: &FetchOptions) -> FetchError {
    let connect = |message: String| FetchError::Connect {
        addr: authority.to_string(),
        message,
    };
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout(opts.timeout),
        ureq::Error::HostNotFound => connect("host not found".into()),
        ureq::Error::ConnectionFailed => connect("connection failed".into()),
        ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge(opts.max_body),
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::AddrNotAvailable
            ) =>
        {
            connect(io.to_string())
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            FetchError::Timeout(opts.timeout)
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => truncated(),
        ureq::Error::BadUri(s) => FetchError::Url(format!("bad URL: {s}")),
        ureq::Error::Http(h) => FetchError::Url(format!("bad request: {h}")),
        other => {
            let text = other.to_string();
            if text.contains("Peer disconnected") {
                truncated()
            } else {
                FetchError::Protocol(text)
            }
        }
    }
}

fn truncated() -> FetchError {
    FetchError::Protocol(
        "the connection closed before the whole body arrived (a truncated answer)".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_join() {
        let u = Url::parse("http://127.0.0.1:6060/debug/pprof").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "127.0.0.1", 6060));
        assert_eq!(
            u.join("heap").to_string(),
            "http://127.0.0.1:6060/debug/pprof/heap"
        );
        let s = Url::parse("HTTPS://[::1]/x?debug=1").unwrap();
        assert_eq!((s.tls, s.host.as_str(), s.port), (true, "::1", 443));
        assert_eq!(s.with_query("seconds", "30").path, "/x?debug=1&seconds=30");
        assert_eq!(Url::parse("http://h?x=1").unwrap().path, "/?x=1");
        assert!(Url::parse("ftp://h/").is_err());
        assert!(Url::parse("http://:80/").is_err());
        assert!(Url::parse("http://u:p@h/").is_err());
        assert!(Url::parse("http://h:99999/").is_err());
        assert!(is_url("https://x") && is_url("HTTP://x") && !is_url("./http:"));
    }

    #[test]
    fn headers_parse_and_refuse_line_breaks() {
        assert_eq!(
            parse_header("Authorization:  Bearer abc ").unwrap(),
            ("Authorization".into(), "Bearer abc".into())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("Bad Name: x").is_err());
        assert!(parse_header("X: a\r\nInjected: b").is_err());
    }
}
