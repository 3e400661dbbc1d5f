//! A small HTTP/1.1 client and server on `std::net`, enough for `collect` (GET a pprof endpoint)
//! and `dashboard` (serve a page and a JSON state on loopback). Plain HTTP only: net/http/pprof
//! endpoints are served on loopback or behind a proxy.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connecting failed (target down, refused).
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
    /// The answer was not HTTP, or broken.
    #[error("bad HTTP answer: {0}")]
    Protocol(String),
    /// A status other than 200.
    #[error("HTTP status {status}: {reason}")]
    Status {
        /// Code.
        status: u16,
        /// Reason phrase and the start of the body.
        reason: String,
    },
    /// The body is larger than the cap.
    #[error("answer larger than {0} bytes")]
    TooLarge(u64),
    /// Asked to stop.
    #[error("interrupted")]
    Interrupted,
    /// The URL is not one this client reads.
    #[error("{0}")]
    Url(String),
}

/// A parsed `http://host:port/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Host as written.
    pub host: String,
    /// Port (80 when absent).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses an `http://` URL.
    pub fn parse(s: &str) -> Result<Url, FetchError> {
        let rest = s.strip_prefix("http://").ok_or_else(|| {
            FetchError::Url(format!(
                "`{s}`: only http:// URLs are supported (serve net/http/pprof on loopback, or tunnel it)"
            ))
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let bare_v6 = authority.starts_with('[') && authority.ends_with(']');
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !bare_v6 => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| FetchError::Url(format!("`{s}`: bad port `{p}`")))?;
                (h, port)
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(FetchError::Url(format!("`{s}`: no host")));
        }
        Ok(Url {
            host: host.trim_start_matches('[').trim_end_matches(']').into(),
            port,
            path: path.to_string(),
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
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

/// Knobs of one GET.
#[derive(Clone, Copy, Debug)]
pub struct FetchOptions {
    /// Whole-request deadline.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_body: u64,
}

/// GETs `url`; the body of a 200 answer. `stop` is polled while waiting, so Ctrl-C does not wait
/// for a slow target.
pub fn get(url: &Url, opts: FetchOptions, stop: &dyn Fn() -> bool) -> Result<Vec<u8>, FetchError> {
    let deadline = Instant::now() + opts.timeout;
    let authority = url.authority();
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| FetchError::Connect {
            addr: authority.clone(),
            message: e.to_string(),
        })?
        .collect();
    let mut last = String::from("no address");
    let mut stream = None;
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(FetchError::Timeout(opts.timeout));
        }
        match TcpStream::connect_timeout(&a, left.min(Duration::from_secs(10))) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut stream = stream.ok_or(FetchError::Connect {
        addr: authority.clone(),
        message: last,
    })?;
    let tick = Duration::from_millis(200);
    let io = |e: io::Error| FetchError::Protocol(e.to_string());
    stream.set_read_timeout(Some(tick)).map_err(io)?;
    stream
        .set_write_timeout(Some(opts.timeout.max(tick)))
        .map_err(io)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: leakdiff/{}\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
        url.path,
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut reader = Patient {
        inner: BufReader::new(stream),
        deadline,
        timeout: opts.timeout,
        stop,
    };
    read_response(&mut reader, opts.max_body)
}

/// A reader that retries reads that time out until the deadline or a stop request.
struct Patient<'a, R> {
    inner: R,
    deadline: Instant,
    timeout: Duration,
    stop: &'a dyn Fn() -> bool,
}

impl<R: BufRead> Patient<'_, R> {
    fn wait<T>(&mut self, mut f: impl FnMut(&mut R) -> io::Result<T>) -> Result<T, FetchError> {
        loop {
            match f(&mut self.inner) {
                Ok(v) => return Ok(v),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    if (self.stop)() {
                        return Err(FetchError::Interrupted);
                    }
                    if Instant::now() >= self.deadline {
                        return Err(FetchError::Timeout(self.timeout));
                    }
                }
                Err(e) => return Err(FetchError::Protocol(e.to_string())),
            }
        }
    }

    fn line(&mut self) -> Result<String, FetchError> {
        let mut buf = Vec::new();
        loop {
            let (done, used) = self.wait(|r| {
                let avail = r.fill_buf()?;
                if avail.is_empty() {
                    return Ok((true, 0));
                }
                match avail.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        buf.extend_from_slice(&avail[..=i]);
                        Ok((true, i + 1))
                    }
                    None => {
                        buf.extend_from_slice(avail);
                        Ok((false, avail.len()))
                    }
                }
            })?;
            self.inner.consume(used);
            if buf.len() > 64 * 1024 {
                return Err(FetchError::Protocol("header line over 64 KiB".into()));
            }
            if done {
                if buf.is_empty() {
                    return Err(FetchError::Protocol(
                        "connection closed before the answer".into(),
                    ));
                }
                let s = String::from_utf8_lossy(&buf);
                return Ok(s.trim_end_matches(['\r', '\n']).to_string());
            }
        }
    }

    /// Reads exactly `n` bytes into `out`, or up to EOF when `n` is `None`.
    fn body(&mut self, n: Option<u64>, out: &mut Vec<u8>, max: u64) -> Result<(), FetchError> {
        let mut left = n;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if left == Some(0) {
                return Ok(());
            }
            let want = left.map_or(chunk.len(), |l| l.min(chunk.len() as u64) as usize);
            let got = self.wait(|r| r.read(&mut chunk[..want]))?;
            if got == 0 {
                return match left {
                    None => Ok(()),
                    Some(l) => Err(FetchError::Protocol(format!(
                        "connection closed with {l} bytes of the body missing"
                    ))),
                };
            }
            out.extend_from_slice(&chunk[..got]);
            if out.len() as u64 > max {
                return Err(FetchError::TooLarge(max));
            }
            if let Some(l) = left.as_mut() {
                *l -= got as u64;
            }
        }
    }
}

fn read_response<R: BufRead>(r: &mut Patient<'_, R>, max: u64) -> Result<Vec<u8>, FetchError> {
    let status_line = r.line()?;
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(FetchError::Protocol(format!(
            "not an HTTP status line: {:?}",
            truncate(&status_line, 60)
        )));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(FetchError::Protocol(format!(
            "not an HTTP/1 status line: {:?}",
            truncate(&status_line, 60)
        )));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| FetchError::Protocol(format!("bad status code {code:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for _ in 0..200 {
        let h = r.line().or_else(|e| match e {
            FetchError::Protocol(_) => Ok(String::new()),
            e => Err(e),
        })?;
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse()
                    .map_err(|_| FetchError::Protocol(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    if length.is_some_and(|l| l > max) {
        return Err(FetchError::TooLarge(max));
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = r.line()?;
            let size = u64::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| FetchError::Protocol(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                break;
            }
            if body.len() as u64 + size > max {
                return Err(FetchError::TooLarge(max));
            }
            r.body(Some(size), &mut body, max)?;
            r.line()?; // the CRLF after the chunk
        }
    } else {
        r.body(length, &mut body, max)?;
    }
    if status != 200 {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(FetchError::Status {
            status,
            reason: format!("{reason} {}", text.trim()).trim().to_string(),
        });
    }
    Ok(body)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// A request the server read: method and path (with query).
#[derive(Debug)]
pub struct Request {
    /// GET, HEAD, …
    pub method: String,
    /// Path and query.
    pub path: String,
}

/// Reads one request head from a client (bodies are not read: the dashboard takes none).
pub fn read_request(stream: &mut TcpStream) -> io::Result<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.by_ref().take(8192).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    for _ in 0..100 {
        let mut h = String::new();
        if reader.by_ref().take(8192).read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
    }
    Ok(Request { method, path })
}

/// Writes one response and closes.
pub fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_join() {
        let u = Url::parse("http://127.0.0.1:6060/debug/pprof/").unwrap();
        assert_eq!(u.port, 6060);
        assert_eq!(u.join("heap").path, "/debug/pprof/heap");
        assert_eq!(
            Url::parse("http://h/x")
                .unwrap()
                .join("goroutine?debug=2")
                .path,
            "/x/goroutine?debug=2"
        );
        assert_eq!(Url::parse("http://[::1]:80/").unwrap().host, "::1");
        assert_eq!(Url::parse("http://[::1]/").unwrap().port, 80);
        assert!(Url::parse("https://h/").is_err());
        assert!(Url::parse("http://:80/").is_err());
    }

    fn parse(bytes: &[u8]) -> Result<Vec<u8>, FetchError> {
        let mut r = Patient {
            inner: BufReader::new(bytes),
            deadline: Instant::now() + Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            stop: &|| false,
        };
        read_response(&mut r, 1000)
    }

    #[test]
    fn responses_decode_length_chunked_and_eof() {
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").unwrap(),
            b"abc"
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                .unwrap(),
            b"abcde"
        );
        assert_eq!(parse(b"HTTP/1.0 200 OK\r\n\r\nxyz").unwrap(), b"xyz");
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"),
            Err(FetchError::Protocol(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"),
            Err(FetchError::Status { status: 404, .. })
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"),
            Err(FetchError::TooLarge(1000))
        ));
        assert!(parse(b"garbage\r\n\r\n").is_err());
        assert!(parse(b"").is_err());
    }
}
