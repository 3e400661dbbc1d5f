//! Working the way pprof users work: stdin, named pipes and URLs as inputs, `-o -`, pprof's flag
//! names, `--base` (subtract), the node-fraction cut, folded and speedscope outputs, colour,
//! completions and the man page, terminal-safe names, progress lines, SARIF paths, positional
//! series inputs, and the HTML summary's order.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use assert_cmd::Command;

use crate::common::{run, testdata};

const BASE: &str = "testdata/go/leak-base.pb.gz";
const LATER: &str = "testdata/go/leak-later.pb.gz";

fn leakdiff() -> Command {
    crate::common::leakdiff_cmd()
}

fn json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// The rows and totals of a JSON diff (the sources differ by how the inputs were named).
fn numbers(v: &serde_json::Value) -> (serde_json::Value, serde_json::Value) {
    (v["rows"].clone(), v["totals"].clone())
}

fn one_error_line(err: &str) -> &str {
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("leakdiff: error: "), "{err}");
    lines[0]
}

/// Runs leakdiff with `stdin` on its standard input; it must succeed.
fn piped(args: &[&str], stdin: Vec<u8>) -> std::process::Output {
    let out = leakdiff().args(args).write_stdin(stdin).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn stdin_is_read_once_and_sniffed_without_losing_bytes() {
    let file = json(&[BASE, LATER, "-f", "json"]);
    let later = std::fs::read(testdata("go/leak-later.pb.gz")).unwrap();
    let out = piped(&[BASE, "-", "-f", "json"], later);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(numbers(&got), numbers(&file));
    assert_eq!(got["later"]["source"], "stdin");
    // A Go heap dump through stdin (the sniff that used to eat the first 4 KiB).
    let dump = std::fs::read(testdata("go/heapdump/go1.23.5-grow-1.dump.gz")).unwrap();
    piped(
        &[
            "-",
            "testdata/go/heapdump/go1.23.5-grow-2.dump.gz",
            "-f",
            "json",
        ],
        dump,
    );
}

#[test]
fn bad_stdin_is_one_clear_line() {
    for (stdin, want) in [
        (&b""[..], "empty input"),
        (&b"<html>not a profile</html>"[..], "stdin"),
    ] {
        let out = leakdiff()
            .args([BASE, "-"])
            .write_stdin(stdin)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(one_error_line(&err).contains(want), "{err}");
        assert!(out.stdout.is_empty());
    }
    let out = leakdiff()
        .args(["-", "-"])
        .write_stdin(std::fs::read(testdata("go/leak-later.pb.gz")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read once"));
}

#[test]
fn named_pipes_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("later.fifo");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    let bytes = std::fs::read(testdata("go/leak-later.pb.gz")).unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            f.write_all(&bytes).unwrap();
        })
    };
    let (code, out, err) = run(&[BASE, fifo.to_str().unwrap(), "-f", "json"]);
    writer.join().unwrap();
    assert_eq!(code, 0, "{err}");
    let piped: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        numbers(&piped),
        numbers(&json(&[BASE, LATER, "-f", "json"]))
    );
}

#[test]
fn output_dash_is_standard_output() {
    let (code, out, _) = run(&[BASE, LATER, "-o", "-", "-f", "csv"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("key,"), "{out}");
    assert!(!std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("-")
        .exists());
}

/// A loopback HTTP server with the routes the URL tests need; records each request head.
struct Server {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

fn serve() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || answer(stream, &seen));
        }
    });
    Server { port, heads }
}

fn answer(mut s: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    seen.lock().unwrap().push(head.clone());
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let send = |s: &mut TcpStream, status: &str, body: &[u8]| {
        let _ = write!(
            s,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(body);
    };
    match path.split('?').next().unwrap() {
        "/debug/pprof/heap" => send(
            &mut s,
            "200 OK",
            &std::fs::read(testdata("go/leak-later.pb.gz")).unwrap(),
        ),
        "/html" => send(
            &mut s,
            "200 OK",
            b"<!DOCTYPE html><html><body>login</body></html>",
        ),
        "/endless" => {
            let _ = write!(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let chunk = vec![b'x'; 64 << 10];
            while s.write_all(&chunk).is_ok() {}
        }
        "/slow" => std::thread::sleep(std::time::Duration::from_secs(30)),
        _ => send(&mut s, "404 Not Found", b"404 page not found\n"),
    }
}

#[test]
fn urls_are_inputs_with_headers_seconds_and_clear_errors() {
    let srv = serve();
    let url = format!("http://127.0.0.1:{}/debug/pprof/heap", srv.port);
    let got = json(&[
        BASE,
        &url,
        "-f",
        "json",
        "-H",
        "Authorization: Bearer s3cret",
        "--header",
        "X-Scope: team-a",
        "--seconds",
        "1",
    ]);
    assert_eq!(numbers(&got), numbers(&json(&[BASE, LATER, "-f", "json"])));
    assert_eq!(got["later"]["source"], url.as_str());
    let heads = srv.heads.lock().unwrap().join("\n");
    assert!(
        heads.contains("GET /debug/pprof/heap?seconds=1 "),
        "{heads}"
    );
    assert!(
        heads.contains("authorization: Bearer s3cret")
            || heads.contains("Authorization: Bearer s3cret"),
        "{heads}"
    );
    assert!(
        heads.to_ascii_lowercase().contains("x-scope: team-a"),
        "{heads}"
    );
    // pprof's form of the same command.
    let (code, _, err) = run(&["-seconds=1", BASE, &url, "-f", "json"]);
    assert_eq!(code, 0, "{err}");

    let base_url = format!("http://127.0.0.1:{}", srv.port);
    for (path, extra, want) in [
        ("/nothing", vec![], "HTTP status 404"),
        ("/html", vec![], "HTML page"),
        (
            "/endless",
            vec!["--max-decompressed-size", "1MiB"],
            "larger than",
        ),
        ("/slow", vec!["--timeout", "1s"], "no complete answer"),
    ] {
        let u = format!("{base_url}{path}");
        let mut args = vec![BASE, u.as_str()];
        args.extend(extra);
        let t = std::time::Instant::now();
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{path}: {err}");
        assert!(out.is_empty());
        let line = one_error_line(&err);
        assert!(line.contains(want) && line.contains(&u), "{path}: {line}");
        assert!(t.elapsed().as_secs() < 20, "{path} took {:?}", t.elapsed());
    }
    // Nothing listens here.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/debug/pprof/heap", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("diff.txt");
    let (code, _, err) = run(&[BASE, &dead, "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(one_error_line(&err).contains("cannot connect"), "{err}");
    assert!(!out.exists(), "nothing half-written");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn collect_sends_headers_and_speaks_tls() {
    let srv = serve();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/debug/pprof/", srv.port);
    let (code, _, err) = run(&[
        "collect",
        "--url",
        &url,
        "--profiles",
        "heap",
        "--count",
        "1",
        "-H",
        "Authorization: Bearer abc",
        "-o",
        dir.path().to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(srv
        .heads
        .lock()
        .unwrap()
        .iter()
        .any(|h| h.contains("Bearer abc")));
    // https:// is spoken (a plain-HTTP listener fails the TLS handshake), not refused.
    let tls = format!("https://127.0.0.1:{}/debug/pprof/", srv.port);
    let (code, _, err) = run(&[
        "collect",
        "--url",
        &tls,
        "--profiles",
        "heap",
        "--count",
        "1",
        "--timeout",
        "2s",
        "-o",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("only http://"), "{err}");
    assert!(err.contains("https://127.0.0.1"), "{err}");
}

#[test]
fn pprof_flag_names_are_accepted() {
    let ours = json(&[BASE, LATER, "--sample-index", "inuse_objects", "-f", "json"]);
    for form in [
        vec!["-sample_index=inuse_objects", BASE, LATER, "-f", "json"],
        vec!["-inuse_objects", BASE, LATER, "-f", "json"],
        vec!["--sample_index", "inuse_objects", BASE, LATER, "-f", "json"],
        vec!["-diff_base", BASE, LATER, "-inuse_objects", "-f", "json"],
    ] {
        assert_eq!(numbers(&json(&form)), numbers(&ours), "{form:?}");
    }
    let top3 = json(&[BASE, LATER, "-nodecount=3", "-f", "json"]);
    assert_eq!(top3["rows"].as_array().unwrap().len(), 3);
    let focus = json(&[BASE, LATER, "-focus=cacheSession", "-f", "json"]);
    let everything = json(&[BASE, LATER, "-f", "json"]);
    assert!(
        focus["totals"]["later"].as_i64().unwrap()
            < everything["totals"]["later"].as_i64().unwrap()
    );
    let f = json(&[BASE, LATER, "--focus", "cacheSession", "-f", "json"]);
    assert_eq!(numbers(&focus), numbers(&f));
}

#[test]
fn base_subtracts_and_shows_the_difference_as_one_profile() {
    let sub = json(&["--base", BASE, LATER, "-f", "json"]);
    let diff = json(&[BASE, LATER, "-f", "json"]);
    assert_eq!(sub["mode"], "base");
    assert_eq!(diff["mode"], "diff_base");
    assert_eq!(sub["totals"], diff["totals"]);
    let total_delta = sub["totals"]["delta"].as_f64().unwrap();
    let row = &sub["rows"][0];
    let want = row["delta"].as_f64().unwrap() * 100.0 / total_delta.abs();
    assert!(
        (row["delta_pct"].as_f64().unwrap() - want).abs() < 1e-6,
        "{row}"
    );
    assert!(sub["percent_base"]
        .as_str()
        .unwrap()
        .contains("pprof -base"));
    // Two inputs beside --base are refused.
    let (code, _, err) = run(&["--base", BASE, LATER, LATER]);
    assert_eq!(code, 2);
    assert!(err.contains("not two"), "{err}");
}

#[test]
fn hide_show_and_tag_filters_act_like_pprof() {
    let by_stack = json(&[BASE, LATER, "--by", "stack", "-f", "json"]);
    let hidden = json(&[
        BASE,
        LATER,
        "--by",
        "stack",
        "-hide=^runtime\\.",
        "-f",
        "json",
    ]);
    let keys = |v: &serde_json::Value| crate::common::keys(&v["rows"]);
    assert!(keys(&by_stack).iter().any(|k| k.contains("runtime.")));
    assert!(
        !keys(&hidden).iter().any(|k| k.contains("runtime.")),
        "{:?}",
        keys(&hidden)
    );
    assert_eq!(
        hidden["totals"], by_stack["totals"],
        "hide moves values, drops none"
    );
    let shown = json(&[
        BASE, LATER, "--by", "stack", "--show", "^main\\.", "-f", "json",
    ]);
    assert!(keys(&shown).iter().all(|k| k
        .split(';')
        .chain(k.split(" → "))
        .all(|f| f.trim().is_empty() || !f.contains("runtime."))));
    // Labels: Go 1.27 goroutine profiles carry pprof labels (`handler`).
    let a = "testdata/go/go1.27/leak-goroutines-base.pb.gz";
    let b = "testdata/go/go1.27/leak-goroutines-later.pb.gz";
    let all = json(&[a, b, "-f", "json"]);
    let up = json(&[a, b, "-tagfocus=handler=upload", "-f", "json"]);
    let not_up = json(&[a, b, "--tag-ignore", "handler=upload", "-f", "json"]);
    let later = |v: &serde_json::Value| v["totals"]["later"].as_i64().unwrap();
    assert!(
        later(&up) > 0 && later(&up) < later(&all),
        "{} of {}",
        later(&up),
        later(&all)
    );
    assert_eq!(later(&up) + later(&not_up), later(&all));
}

#[test]
fn node_fraction_hides_small_rows_in_tables_and_says_so() {
    let (_, text, _) = run(&[BASE, LATER, "--top", "0"]);
    let (_, all, _) = run(&[BASE, LATER, "--top", "0", "--node-fraction", "0"]);
    assert!(text.lines().count() < all.lines().count(), "{text}");
    assert!(
        text.contains("% of the total hidden (--node-fraction 0 shows them)"),
        "{text}"
    );
    assert!(!all.contains("hidden"));
    // JSON keeps every row unless asked.
    let j = json(&[BASE, LATER, "-f", "json"]);
    let cut = json(&[BASE, LATER, "-f", "json", "-nodefraction=0.005"]);
    assert!(cut["hidden_small"].as_u64().unwrap() > 0);
    assert_eq!(
        j["rows"].as_array().unwrap().len(),
        cut["rows"].as_array().unwrap().len() + cut["hidden_small"].as_u64().unwrap() as usize
    );
}

fn folded_sums(text: &str, columns: usize) -> Vec<i64> {
    let mut sums = vec![0i64; columns];
    for line in text.lines() {
        let parts: Vec<&str> = line.rsplitn(columns + 1, ' ').collect();
        assert_eq!(parts.len(), columns + 1, "{line}");
        assert!(!parts[columns].is_empty() && !parts[columns].contains('\n'));
        for (k, s) in sums.iter_mut().enumerate() {
            *s += parts[columns - 1 - k].parse::<i64>().unwrap();
        }
    }
    sums
}

#[test]
fn folded_output_sums_to_the_totals() {
    let j = json(&[BASE, LATER, "-f", "json"]);
    let (code, folded, err) = run(&[BASE, LATER, "-f", "folded"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        folded
            .lines()
            .any(|l| l.starts_with("runtime.main;main.main;")),
        "{folded}"
    );
    assert_eq!(
        folded_sums(&folded, 2),
        [
            j["totals"]["base"].as_i64().unwrap(),
            j["totals"]["later"].as_i64().unwrap()
        ]
    );
    // One profile: `stack value`.
    let (code, one, _) = run(&[LATER, "-f", "folded"]);
    assert_eq!(code, 0);
    assert_eq!(
        folded_sums(&one, 1),
        [j["totals"]["later"].as_i64().unwrap()]
    );
    // A folder's first → last.
    let (code, exported, err) = run(&["export", "testdata/go/series/leak", "-f", "folded"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(folded_sums(&exported, 2).len(), 2);
}

/// The part of JSON Schema (draft 6) that speedscope's schema uses: `$ref` into `definitions`,
/// `anyOf`, `type`, `enum`, `properties`, `required`, `items`.
fn validate(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    v: &serde_json::Value,
    at: &str,
) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
        let name = r.trim_start_matches("#/definitions/");
        let target = if r == "#" {
            root
        } else {
            &root["definitions"][name]
        };
        if target.is_null() {
            return Err(format!("{at}: unknown $ref {r}"));
        }
        return validate(target, root, v, at);
    }
    if let Some(any) = schema.get("anyOf").and_then(|a| a.as_array()) {
        return any
            .iter()
            .find(|s| validate(s, root, v, at).is_ok())
            .map(|_| ())
            .ok_or_else(|| format!("{at}: matches none of anyOf"));
    }
    if let Some(t) = schema.get("type").and_then(|t| t.as_str()) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            other => return Err(format!("{at}: type {other} not handled here")),
        };
        if !ok {
            return Err(format!("{at}: not a {t}: {v}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(|e| e.as_array()) {
        if !e.contains(v) {
            return Err(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let Some(req) = schema.get("required").and_then(|r| r.as_array()) {
        for k in req {
            if v.get(k.as_str().unwrap()).is_none() {
                return Err(format!("{at}: missing {k}"));
            }
        }
    }
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (k, s) in props {
            if let Some(x) = v.get(k) {
                validate(s, root, x, &format!("{at}.{k}"))?;
            }
        }
    }
    if let Some(items) = schema.get("items") {
        for (i, x) in v.as_array().into_iter().flatten().enumerate() {
            validate(items, root, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn speedscope_files_follow_the_published_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("speedscope/file-format-schema.json")).unwrap(),
    )
    .unwrap();
    // The validator can fail: a file without `shared` or with a bad unit does not pass.
    let bad: serde_json::Value = serde_json::json!({"$schema": "https://www.speedscope.app/file-format-schema.json", "profiles": [{"type": "sampled", "name": "x", "unit": "furlongs", "startValue": 0, "endValue": 1, "samples": [[0]], "weights": [1]}], "shared": {"frames": [{"name": "f"}]}});
    assert!(validate(&schema, &schema, &bad, "$").is_err());
    let j = json(&[BASE, LATER, "-f", "json"]);
    let two = json(&[BASE, LATER, "-f", "speedscope"]);
    validate(&schema, &schema, &two, "$").unwrap();
    let profiles = two["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2);
    assert_eq!(profiles[0]["unit"], "bytes");
    let sum = |p: &serde_json::Value| -> i64 {
        p["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_i64().unwrap())
            .sum()
    };
    assert_eq!(sum(&profiles[0]), j["totals"]["base"].as_i64().unwrap());
    assert_eq!(sum(&profiles[1]), j["totals"]["later"].as_i64().unwrap());
    let frames = two["shared"]["frames"].as_array().unwrap().len();
    for p in profiles {
        for s in p["samples"].as_array().unwrap() {
            assert!(s
                .as_array()
                .unwrap()
                .iter()
                .all(|f| (f.as_u64().unwrap() as usize) < frames));
        }
    }
    let one = json(&[LATER, "-f", "speedscope"]);
    validate(&schema, &schema, &one, "$").unwrap();
    assert_eq!(one["profiles"].as_array().unwrap().len(), 1);
    let exported = json(&["export", "testdata/go/series/leak", "-f", "speedscope"]);
    validate(&schema, &schema, &exported, "$").unwrap();
    // Goroutine counts have no byte unit.
    let g = json(&[
        "testdata/go/go1.27/leak-goroutines-base.pb.gz",
        "testdata/go/go1.27/leak-goroutines-later.pb.gz",
        "-f",
        "speedscope",
    ]);
    validate(&schema, &schema, &g, "$").unwrap();
    assert_eq!(g["profiles"][0]["unit"], "none");
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("leakdiff") && out.contains("report"),
            "{shell}"
        );
    }
    let (code, out, _) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(".ie") || out.contains(".TH leakdiff"),
        "{}",
        &out[..200.min(out.len())]
    );
    assert!(out.contains("report"));
}

#[test]
fn color_follows_the_flag_and_the_environment() {
    let esc = |c: &mut Command| {
        let out = c.args([BASE, LATER, "--top", "3"]).output().unwrap();
        String::from_utf8(out.stdout).unwrap().contains('\x1b')
    };
    assert!(esc(leakdiff().arg("--color=always")));
    assert!(!esc(leakdiff()
        .arg("--color=never")
        .env("CLICOLOR_FORCE", "1")));
    assert!(!esc(&mut leakdiff()), "not a terminal");
    assert!(esc(leakdiff().env("CLICOLOR_FORCE", "1")));
    assert!(!esc(leakdiff()
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")));
    assert!(!esc(leakdiff().env("CLICOLOR_FORCE", "0")));
}

/// Six snapshots of a leak whose one function name carries terminal escapes: (first, last, all).
fn hostile_series(dir: &std::path::Path) -> (String, String, Vec<String>) {
    use leakdiff::model::{Format, Interner, ProfileBuilder, ValueType};
    let mut i = Interner::new();
    let f = i.symbol_frame("evil\x1b]0;pwned\x07\x1b[2Jname", "x.go", 1);
    let main = i.symbol_frame("main.main", "m.go", 1);
    let s = i.stack_from_root([main, f]);
    let mut paths = Vec::new();
    for k in 0..6i64 {
        let v = 1000 + k * 4_000_000;
        let mut b =
            ProfileBuilder::new(Format::Pprof, vec![ValueType::new("inuse_space", "bytes")]);
        b.meta_mut().time_nanos = Some(1_700_000_000_000_000_000 + k * 60_000_000_000);
        b.add_sample(s, &[v], &[]);
        let p = b.finish(&i).unwrap();
        let bytes = leakdiff::formats::pprof::encode::encode(&p, &i);
        let path = dir.join(format!("evil-{k}.pb"));
        std::fs::write(&path, bytes).unwrap();
        paths.push(path.display().to_string());
    }
    (paths[0].clone(), paths[5].clone(), paths)
}

#[test]
fn symbol_names_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, all) = hostile_series(dir.path());
    let mut report = vec!["report"];
    report.extend(all.iter().map(|s| s.as_str()));
    for args in [
        vec![a.as_str(), b.as_str()],
        vec![a.as_str(), b.as_str(), "--color=always"],
        report,
        vec!["check", a.as_str(), b.as_str()],
    ] {
        let out = leakdiff().args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("evil\\x1b]0;pwned\\x07\\x1b[2Jname"),
            "{args:?}: {text}"
        );
        let raw_escapes = text.matches('\x1b').count();
        let ours = text.matches("\x1b[31m").count()
            + text.matches("\x1b[32m").count()
            + text.matches("\x1b[0m").count();
        assert_eq!(raw_escapes, ours, "{args:?}: only our own colour codes");
        assert!(!text.contains('\x07'));
    }
    // JSON keeps the name exactly (escaped by JSON itself).
    let j = json(&[&a, &b, "-f", "json"]);
    assert!(j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["key"] == "evil\x1b]0;pwned\x07\x1b[2Jname"));
}

#[test]
fn help_examples_parse() {
    let mut cmd = leakdiff::cli::command();
    cmd.build();
    let mut checked = 0;
    let mut helps: Vec<String> = vec![cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default()];
    for sub in cmd.get_subcommands() {
        helps.push(
            sub.get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default(),
        );
    }
    for help in helps {
        for line in help.lines() {
            let Some(ex) = line.trim_start().strip_prefix("leakdiff ") else {
                continue;
            };
            // Up to a pipe, a redirection or a comment (three spaces).
            let ex = ex
                .split(" |")
                .next()
                .unwrap()
                .split(" >")
                .next()
                .unwrap()
                .split(" &&")
                .next()
                .unwrap()
                .split("   ")
                .next()
                .unwrap();
            let mut args = vec!["leakdiff".to_string()];
            let mut cur = String::new();
            let mut quote = None;
            for c in ex.chars() {
                match (quote, c) {
                    (None, '\'' | '"') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (None, ' ') => {
                        if !cur.is_empty() {
                            args.push(std::mem::take(&mut cur));
                        }
                    }
                    (_, c) => cur.push(c),
                }
            }
            if !cur.is_empty() {
                args.push(cur);
            }
            leakdiff::cli::command()
                .try_get_matches_from(&args)
                .unwrap_or_else(|e| panic!("example `{line}` does not parse: {e}"));
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} examples");
}

#[test]
fn progress_lines_only_when_asked_or_on_a_terminal() {
    let out = leakdiff()
        .args(["report", "testdata/go/series/leak"])
        .env("LEAKDIFF_PROGRESS", "always")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loading snapshots [") && err.contains("\r\x1b[K"),
        "{err:?}"
    );
    let out = leakdiff()
        .args(["report", "testdata/go/series/leak"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\r'));
    let out = leakdiff()
        .args([BASE, LATER])
        .env("LEAKDIFF_PROGRESS", "always")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("reading leak-base.pb.gz") && err.contains("diffing"),
        "{err:?}"
    );
}

#[test]
fn sarif_paths_are_relative_to_the_repository() {
    let sarif_of = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["check", BASE, LATER, "-f", "sarif"];
        args.extend(extra);
        let (code, out, err) = run(&args);
        assert_eq!(
            code, 1,
            "the planted leaks are over the default limit: {err}"
        );
        serde_json::from_str(&out).unwrap()
    };
    let sarif = sarif_of(&["--srcroot", "leakgen/"]);
    let loc =
        &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(loc["uri"], "main.go", "{loc}");
    assert_eq!(loc["uriBaseId"], "%SRCROOT%");
    let plain = sarif_of(&[]);
    let loc =
        &plain["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(loc["uri"], "leakgen/main.go");
}

#[test]
fn series_inputs_are_positional_or_repeated_after_i() {
    let dir = "testdata/go/series/leak";
    let a = json(&["report", dir, "-f", "json"]);
    let b = json(&["report", "-i", dir, "-f", "json"]);
    assert_eq!(a["suspects"], b["suspects"]);
    let files: Vec<String> = std::fs::read_dir(testdata("go/series/leak"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".pb.gz"))
        .collect();
    let mut args = vec![
        "report".to_string(),
        "-f".into(),
        "json".into(),
        "-i".into(),
    ];
    args.extend(files.iter().cloned());
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let c = json(&args);
    assert_eq!(
        c["snapshots"].as_array().unwrap().len(),
        a["snapshots"].as_array().unwrap().len()
    );
    let (code, _, err) = run(&[
        "goroutines",
        "-i",
        "testdata/go/go1.27/leak-goroutines-base.debug2.txt",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["report"]);
    assert_eq!(code, 2);
    assert!(err.contains("PATH"), "{err}");
}

#[test]
fn html_summary_counts_every_section_most_severe_first() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let (code, _, err) = run(&[
        "report",
        "testdata/collect/go1.27/series",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert!(code == 0, "{err}");
    let text = std::fs::read_to_string(&html).unwrap();
    let rank = |s: &str| {
        ["critical", "high", "medium", "low", "none"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    let mut sections = Vec::new();
    for li in text.split("<li data-section=\"").skip(1) {
        let id = li.split('"').next().unwrap().to_string();
        let sev = li
            .split("data-severity=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        sections.push((id, sev));
    }
    let ids: Vec<&str> = sections.iter().map(|(i, _)| i.as_str()).collect();
    assert!(
        ids.contains(&"heap") && ids.contains(&"goroutines") && ids.contains(&"process"),
        "{ids:?}"
    );
    assert!(
        sections.windows(2).all(|w| rank(&w[0].1) <= rank(&w[1].1)),
        "{sections:?}"
    );
    // The sections follow in the summary's order.
    let pos: Vec<usize> = ids
        .iter()
        .map(|id| {
            text.find(&format!("<section id=\"{id}\">"))
                .unwrap_or_else(|| panic!("{id}"))
        })
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{ids:?} at {pos:?}");
}

#[test]
fn flamegraph_colours_by_own_change_and_has_its_script() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("d.svg");
    let (code, _, err) = run(&[BASE, LATER, "--flamegraph", svg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&svg).unwrap();
    let fill_of = |name: &str| -> String {
        let g = text
            .split("<g class=\"f\"")
            .find(|g| g.contains(&format!("data-n=\"{name}\"")))
            .unwrap_or_else(|| panic!("{name}"));
        g.split("fill=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    // The root only contains growth: it is grey, not the reddest frame.
    assert_eq!(fill_of("all"), "rgb(230,230,230)");
    assert!(
        text.contains("fill=\"rgb(255,0,0)\""),
        "the frame with the largest own growth is full red"
    );
    assert!(text.contains("<script type=\"text/javascript\"><![CDATA["));
    assert!(text.contains("&#10;"), "tooltips keep their line breaks");
    // No network: nothing fetched, and the only URLs are XML namespaces.
    assert!(!text.contains("fetch(") && !text.contains("XMLHttpRequest"));
    let urls: Vec<&str> = text
        .match_indices("http")
        .map(|(i, _)| &text[i..(i + 40).min(text.len())])
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .filter(|u| !u.starts_with("http://www.w3.org/"))
        .collect();
    assert!(urls.is_empty(), "no network in the script: {urls:?}");
}

/// Headless Chromium: `CHROMIUM` or /usr/bin/chromium; required unless `LEAKDIFF_SKIP` names it.
fn chromium() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("CHROMIUM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    crate::common::tool(
        "chromium",
        p.exists().then_some(p),
        "apt-get install chromium (or set CHROMIUM to its path)",
    )
}

fn headless(
    chrome: &std::path::Path,
    profile: &std::path::Path,
    extra: &[String],
    url: &str,
) -> (String, String) {
    let mut c = std::process::Command::new(chrome);
    c.args(crate::common::CHROMIUM_FLAGS)
        .args([
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null());
    let out = c.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn console_messages(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect()
}

#[test]
fn flamegraph_zooms_and_searches_in_a_browser() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("d.svg");
    let (code, _, err) = run(&[BASE, LATER, "--flamegraph", svg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let url = format!("file://{}#zoom=main.cacheSession&search=lru", svg.display());
    let (dom, stderr) = headless(
        &chrome,
        &dir.path().join("p1"),
        &["--dump-dom".into()],
        &url,
    );
    assert!(console_messages(&stderr).is_empty(), "{stderr}");
    let head = dom.split("<g").next().unwrap();
    assert!(head.contains("data-zoomed=\"main.cacheSession\""), "{head}");
    let matched: f64 = head
        .split("data-matched=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no search result: {head}"))
        .parse()
        .unwrap();
    assert!(matched > 0.0 && matched <= 100.0, "{matched}");
    assert!(dom.contains("Matched: "), "the matched share is shown");
    assert!(
        dom.contains("display: none"),
        "frames outside the zoomed one are hidden"
    );
    // The zoomed frame spans the width.
    let zoomed = dom
        .split("<g class=\"f\"")
        .find(|g| g.contains("data-n=\"main.cacheSession\"") && !g.contains("display: none"))
        .unwrap();
    assert!(zoomed.contains("width=\"1180.00\""), "{zoomed}");
    let png = dir.path().join("shot.png");
    let (_, stderr) = headless(
        &chrome,
        &dir.path().join("p2"),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,900".into(),
        ],
        &url,
    );
    assert!(console_messages(&stderr).is_empty(), "{stderr}");
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 5000);
    // Inside the HTML report (offline, one file), aimed at the diff flamegraph.
    let html = dir.path().join("r.html");
    let (code, _, err) = run(&[
        "report",
        "testdata/go/series/leak",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let report = std::fs::read_to_string(&html).unwrap();
    assert!(!report.contains("src=\"http") && !report.contains("href=\"http"));
    let url = format!(
        "file://{}#flame=flame-diff&zoom=main.main&search=main",
        html.display()
    );
    let (dom, stderr) = headless(
        &chrome,
        &dir.path().join("p3"),
        &["--dump-dom".into()],
        &url,
    );
    assert!(console_messages(&stderr).is_empty(), "{stderr}");
    let diff_svg = dom
        .split("id=\"flame-diff\"")
        .nth(1)
        .expect("diff flamegraph");
    let diff_head = diff_svg.split("<g").next().unwrap();
    assert!(
        diff_head.contains("data-zoomed=\"main.main\""),
        "{diff_head}"
    );
    let latest = dom
        .split("id=\"flame-latest\"")
        .nth(1)
        .expect("latest flamegraph");
    assert!(
        !latest.split("<g").next().unwrap().contains("data-zoomed"),
        "only the named one"
    );
}
