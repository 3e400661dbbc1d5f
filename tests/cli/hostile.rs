//! Bad input is normal input: every broken file exits 2 with one line naming the file and where,
//! and nothing panics.

use std::io::Write;

const GOOD: &str = "testdata/go/leak-base.pb.gz";

fn run_on(bytes: &[u8], extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.prof");
    std::fs::write(&bad, bytes).unwrap();
    let out = crate::common::leakdiff_cmd()
        .arg(GOOD)
        .arg(&bad)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    (out.status.code().unwrap_or(-1), stderr)
}

fn assert_clean_error(bytes: &[u8], extra: &[&str], needle: &str) {
    let (code, stderr) = run_on(bytes, extra);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("leakdiff: error: "), "{stderr}");
    assert!(stderr.contains("bad.prof"), "names the file: {stderr}");
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    assert!(!stderr.contains("panicked"));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn empty_file() {
    assert_clean_error(b"", &[], "empty");
}

#[test]
fn truncated_gzip_names_a_compressed_offset() {
    let good = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/go/leak-later.pb.gz"
    ))
    .unwrap();
    assert_clean_error(&good[..good.len() / 2], &[], "compressed byte");
}

#[test]
fn random_bytes() {
    // Deterministic pseudo-random bytes (xorshift).
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    assert_clean_error(&bytes, &[], "byte");
}

#[test]
fn another_format_is_named() {
    assert_clean_error(
        b"go1.7 heap dump\n\x01\x02",
        &[],
        "malformed Go heap dump at byte 18: truncated",
    );
    assert_clean_error(
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        &[],
        "not a profile: it looks like a PNG image",
    );
    assert_clean_error(
        b"hello, this is a plain text file\n",
        &[],
        "not a profile: it looks like text",
    );
}

#[test]
fn length_past_the_end() {
    // Profile.sample (field 2, LEN) claiming 100 bytes with 2 present.
    assert_clean_error(
        &[0x12, 0x64, 0x08, 0x01],
        &[],
        "at byte 0: field 2: length 100 runs past the end",
    );
}

#[test]
fn gzip_bomb_stops_at_the_cap() {
    let mut payload = b"heap_v2/524288\n".to_vec();
    payload.resize(8 << 20, b' ');
    let bomb = gzip(&payload);
    assert!(bomb.len() < 64 << 10);
    assert_clean_error(
        &bomb,
        &["--max-decompressed-size", "1MiB"],
        "decompresses to more than 1048576 bytes",
    );
}

/// The output size a bomb was stopped at, from its error line.
fn stopped_at(stderr: &str) -> u64 {
    let rest = stderr.split("decompresses to over ").nth(1).unwrap_or("");
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn zeros_are_refused_from_their_first_bytes() {
    // 300 MiB of zeros (gzip at 1030:1, zstd at 32,500:1): no profile starts with a zero byte
    // (it is no protobuf key), so they are refused from the first decompressed bytes, with or
    // without a cap of the user's.
    for name in ["zeros-300MiB.gz", "zeros-300MiB.zst"] {
        let bomb = std::fs::read(crate::common::testdata("hostile").join(name)).unwrap();
        for extra in [&[][..], &["--max-decompressed-size", "1GiB"]] {
            assert_clean_error(
                &bomb,
                extra,
                "malformed pprof at byte 0: invalid field number 0",
            );
        }
    }
}

fn gzip_at(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn bombs_that_start_like_a_profile_stop_at_their_ratio() {
    // Heads of each held format, then filler: a profile stops past 8 MiB of output at over
    // 100:1 (flate2's fastest level makes zeros 103:1), a goroutine dump (repetitive text) past
    // 64 MiB at over 600:1.
    let mb = 1u64 << 20;
    // (first line, filler byte, gzip level, MiB of output, the ratio that stops it, at MiB)
    type Case<'a> = (&'a [u8], u8, u32, usize, &'a str, u64);
    let cases: [Case; 5] = [
        (
            b"heap_v2/524288\n  t*: 1: 16 [0: 0]\n",
            0,
            1,
            24,
            "100:1",
            8,
        ),
        (
            b"heap_v2/524288\n  t*: 1: 16 [0: 0]\n",
            b' ',
            9,
            24,
            "100:1",
            8,
        ),
        (
            b"heap profile: 1: 16 [1: 16] @ heap/1048576\n",
            b' ',
            9,
            24,
            "100:1",
            8,
        ),
        (b"\x0a\x04\x08\x01\x10\x02", b' ', 9, 24, "100:1", 8),
        (
            b"goroutine 1 [running]:\nmain.main()\n",
            b' ',
            9,
            72,
            "600:1",
            64,
        ),
    ];
    for (head, fill, level, size, limit, floor) in cases {
        let mut payload = head.to_vec();
        payload.resize(size << 20, fill);
        let bomb = gzip_at(&payload, level);
        let (_, stderr) = run_on(&bomb, &[]);
        assert_clean_error(
            &bomb,
            &[],
            &format!("more than {limit}, as decompression bombs do"),
        );
        let at = stopped_at(&stderr);
        assert!(at > floor * mb && at < (floor + 1) * mb, "{stderr}");
        // A cap of the user's turns the ratio off: the whole payload is read, and its parser
        // says what it is (a jemalloc header and blank lines is an empty profile).
        let (_, stderr) = run_on(&bomb, &["--max-decompressed-size", "100MiB"]);
        assert!(
            !stderr.contains("bombs") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

#[test]
fn concatenated_gzip_profiles_are_rejected() {
    let good = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/go/leak-base.pb.gz"
    ))
    .unwrap();
    let mut two = good.clone();
    two.extend_from_slice(&good);
    assert_clean_error(&two, &[], "concatenated profiles detected");
}

#[test]
fn legacy_heap_garbage_line_names_the_line() {
    let text = b"heap profile: 1: 10 [1: 10] @ heap_v2/524288\n1: 10 [1: 10] @ 0x1\nthis is not a sample\n";
    assert_clean_error(text, &[], "line 3");
}

#[test]
fn pprof_fuzz_crasher_and_missing_file() {
    let crasher = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/hostile/fuzz__testdata__7e3c92482f6f39fc502b822ded792c589849cca8"
    ))
    .unwrap();
    let (code, stderr) = run_on(&crasher, &[]);
    assert_eq!(code, 2, "{stderr}");
    let out = crate::common::leakdiff_cmd()
        .args([GOOD, "/nonexistent/x.pb.gz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.pb.gz: cannot read"));
}

#[test]
fn parser_never_panics_on_mutations_of_real_files() {
    use leakdiff::formats::{parse_bytes, ReadOptions};
    use leakdiff::model::Interner;
    let opts = ReadOptions {
        max_decompressed_bytes: 16 << 20,
        ..Default::default()
    };
    let seeds: Vec<Vec<u8>> = [
        "go/leak-base.pb.gz",
        "go/leak-base.heap.txt",
        "heaptrack/tests__auto__heaptrack.david.18594.gz",
        "legacy/profile__testdata__cppbench.heap",
        "c/leak-jemalloc-later.heap",
        "c/leak-gperftools-later.heap",
        "go/leak-goroutines-later.debug2.txt",
        "go/leak-goroutines-later.debug1.txt",
        "collect/series/process-20261125T060504.309Z.txt",
        // Go 1.27: labelled and (leaked) headers, the goroutineleak profile in its forms.
        "go/go1.27/leak-goroutines-mid.debug2.txt",
        "go/go1.27/leak-goroutineleak.debug1.txt",
        "go/go1.27/leak-goroutineleak.pb.gz",
        "go/go1.27/synctest-goroutines.debug2.txt",
    ]
    .iter()
    .map(|f| std::fs::read(crate::common::testdata(f)).unwrap())
    .collect();
    let mut x: u64 = 42;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for seed in &seeds {
        // Decompress gzip seeds so mutations hit the protobuf, not the gzip CRC.
        let plain = leakdiff::formats::decompress::decompress(
            seed.clone(),
            "s",
            1 << 30,
            leakdiff::formats::decompress::Payload::Streamed,
        )
        .unwrap()
        .bytes;
        for _ in 0..400 {
            let mut m = plain.clone();
            for _ in 0..(1 + next() % 8) {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            if next() % 4 == 0 {
                let cut = (next() as usize) % m.len();
                m.truncate(cut);
            }
            let _ = parse_bytes(m, "mutant", &mut Interner::new(), &opts);
        }
    }
}

#[test]
fn jemalloc_garbage_names_the_line_and_exits_2() {
    assert_clean_error(
        b"heap_v2/4096\n  t*: 1: 2 [0: 0]\n@ 0x10 0x20\n  t*: 1: x [0: 0]\n",
        &[],
        "line 4",
    );
    assert_clean_error(b"heap_v2/abc\n", &[], "jemalloc heap_v2");
}

#[test]
fn hostile_goroutine_dumps_warn_or_exit_2() {
    let real = std::fs::read(crate::common::testdata(
        "go/leak-goroutines-later.debug2.txt",
    ))
    .unwrap();
    // CRLF line ends, a truncated dump and a 10 MB garbage line inside a block: read, with a warning.
    let crlf = String::from_utf8(real.clone())
        .unwrap()
        .replace('\n', "\r\n");
    let mut long = real[..real.len() / 2].to_vec();
    long.extend(std::iter::repeat_n(b'x', 10 << 20));
    long.extend_from_slice(b"\n");
    for bytes in [crlf.into_bytes(), real[..real.len() / 3].to_vec(), long] {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("dump.txt");
        std::fs::write(&f, &bytes).unwrap();
        let out = crate::common::leakdiff_cmd()
            .arg(&f)
            .arg(&f)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"));
    }
    // No goroutine at all: one line, exit 2.
    assert_clean_error(
        b"goroutine profile: total 3\nnonsense\n",
        &[],
        "no goroutine found",
    );
    assert_clean_error(
        b"goroutineleak profile: total 3\nnonsense\n",
        &[],
        "no goroutine found",
    );
    // Headers with unbalanced brackets or braces only: one line naming the first, exit 2.
    assert_clean_error(
        b"goroutine 1 [chan receive:\nmain.f()\n\t/m.go:1\n\ngoroutine 2 [select] {a: \"b}:\nmain.g()\n\t/m.go:2\n",
        &[],
        "goroutine headers cannot be read",
    );
    // A goroutineleak profile cut short: a clear error, not a panic.
    let leak = std::fs::read(crate::common::testdata(
        "go/go1.27/leak-goroutineleak.pb.gz",
    ))
    .unwrap();
    let plain = leakdiff::formats::decompress::decompress(
        leak,
        "s",
        1 << 30,
        leakdiff::formats::decompress::Payload::Streamed,
    )
    .unwrap()
    .bytes;
    assert_clean_error(&plain[..plain.len() * 2 / 3], &[], "malformed pprof");
}
