//! Shared helpers: test data paths, loading, parsing pprof's text outputs, golden files.

use std::path::{Path, PathBuf};

use leakdiff::diff::{self, DiffOptions, DiffResult};
use leakdiff::formats::ReadOptions;
use leakdiff::model::{Interner, Profile, ProfileBuilder};

thread_local! {
    /// The scratch folders of the commands the current test made, removed when it ends (each
    /// test runs on a thread of its own).
    static SCRATCH: std::cell::RefCell<Vec<tempfile::TempDir>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A scratch folder for one command, with `testdata` linked into it (so the relative paths the
/// tests give still name the repository's files), removed when the test ends.
pub fn scratch() -> PathBuf {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"),
        dir.path().join("testdata"),
    )
    .unwrap();
    let path = dir.path().to_path_buf();
    SCRATCH.with(|s| s.borrow_mut().push(dir));
    path
}

/// The leakdiff binary, run in a fresh scratch folder ([`scratch`]) with a clean environment:
/// `PATH` only, and `HOME` and `TMPDIR` in the scratch folder. Nothing of the machine running
/// the tests reaches it: no `leakdiff.toml` or `leakdiff.baseline` of the working folder, no
/// `NO_COLOR`, `TERM` or `LEAKDIFF_*` variable.
pub fn leakdiff_cmd() -> assert_cmd::Command {
    let dir = scratch();
    let mut c = assert_cmd::Command::cargo_bin("leakdiff").unwrap();
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .env("TMPDIR", &dir)
        .current_dir(&dir);
    c
}

/// Runs leakdiff ([`leakdiff_cmd`]): exit status, stdout, stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = leakdiff_cmd().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The files of `dir` whose names start with `prefix`, in name order.
pub fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    out.sort();
    out
}

/// Asserts that `text` holds each of `parts`, one after another, in that order.
pub fn assert_in_order(text: &str, parts: &[&str]) {
    let mut at = 0;
    for part in parts {
        let i = text[at..]
            .find(part)
            .unwrap_or_else(|| panic!("{part}\n{text}"));
        at += i + part.len();
    }
}

pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

pub fn load(rel: &str) -> (Interner, Profile) {
    let mut i = Interner::new();
    let p = leakdiff::input::load_profile(&testdata(rel), &mut i, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    (i, p)
}

pub fn load_two(a: &str, b: &str) -> (Interner, Profile, Profile) {
    leakdiff::input::load_pair(&testdata(a), &testdata(b), &ReadOptions::default()).unwrap()
}

/// A profile with the same value types and no samples.
pub fn empty_like(p: &Profile, i: &Interner) -> Profile {
    ProfileBuilder::new(p.format, p.value_types().to_vec())
        .finish(i)
        .unwrap()
}

/// Every function of one profile, as `go tool pprof -top` would list it (a diff against nothing).
pub fn top(i: &Interner, p: &Profile, sample: &str) -> DiffResult {
    let empty = empty_like(p, i);
    let opts = DiffOptions {
        sample: Some(sample.into()),
        ..Default::default()
    };
    diff::diff(&empty, p, i, &opts).unwrap()
}

/// One row of `go tool pprof -top`.
#[derive(Debug, Clone)]
pub struct TopRow {
    pub flat: String,
    pub cum: String,
    pub name: String,
}

/// Parses `go tool pprof -top` output: the rows and the "Showing nodes accounting for" line.
pub fn parse_top(text: &str) -> Vec<TopRow> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.trim_start().starts_with("flat") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 6 {
            continue;
        }
        let name = parts[5..].join(" ");
        let name = name.strip_suffix(" (inline)").unwrap_or(&name).to_string();
        rows.push(TopRow {
            flat: parts[0].into(),
            cum: parts[3].into(),
            name,
        });
    }
    rows
}

/// The unit suffix pprof used in a `-top` table (B, kB, MB, GB…), from any non-zero cell.
pub fn top_unit(rows: &[TopRow]) -> String {
    rows.iter()
        .flat_map(|r| [&r.flat, &r.cum])
        .find(|v| v.as_str() != "0")
        .map(|v| {
            v.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-')
                .to_string()
        })
        .unwrap_or_default()
}

/// Asserts that leakdiff's exact value prints as pprof printed it.
pub fn assert_pprof_value(ours: i64, theirs: &str, unit: &str, what: &str) {
    // Counts (goroutine profiles) print as plain integers.
    let shown = if unit.is_empty() {
        ours.to_string()
    } else {
        leakdiff::units::pprof_scaled(ours, unit).unwrap()
    };
    assert_eq!(
        shown, theirs,
        "{what}: leakdiff {ours} shows as {shown}, pprof printed {theirs}"
    );
}

/// Compares `actual` with a committed golden file; `LEAKDIFF_BLESS=1` rewrites it.
pub fn assert_golden(rel: &str, actual: &str) {
    let path = testdata(rel);
    if std::env::var_os("LEAKDIFF_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {rel}; run with LEAKDIFF_BLESS=1 to create it"));
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(10)
            .map(|(n, (a, b))| format!("line {}:\n- {a}\n+ {b}", n + 1))
            .collect();
        panic!(
            "{rel} differs from the golden ({} vs {} lines); LEAKDIFF_BLESS=1 rewrites it\n{}",
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

/// The three leaks planted in testdata/go/leakgen, largest first.
pub const PLANTED: [&str; 3] = [
    "main.cacheSession",
    "main.registerListener",
    "main.appendAudit",
];

/// Keys of the first `n` rows.
pub fn top_keys(r: &DiffResult, n: usize) -> Vec<&str> {
    r.rows.iter().take(n).map(|r| r.key.as_str()).collect()
}

/// Each row's (flat delta, cumulative delta) by key.
pub fn by_name(r: &DiffResult) -> std::collections::HashMap<String, (i64, i64)> {
    r.rows
        .iter()
        .map(|row| {
            (
                row.key.clone(),
                (row.delta, row.cum.as_ref().map_or(row.delta, |c| c.delta)),
            )
        })
        .collect()
}

/// Headless Chromium's flags for tests on this closed network: no background connections, no
/// first-run or sync, software rendering.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The `key` of every element of a JSON array (suspects, rows).
pub fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap().to_string())
        .collect()
}

/// A tool a test needs (Chromium, Go, promtool, Spark): `found` when it is there. When it is not,
/// the test fails with the command that installs it, unless the user opted out of it by name
/// (`LEAKDIFF_SKIP=chromium,spark`, or `all`): then one line goes straight to the terminal (not
/// to the captured output), so a skip is seen, and the test returns early.
pub fn tool<T>(name: &str, found: Option<T>, install: &str) -> Option<T> {
    if found.is_some() {
        return found;
    }
    let skip = std::env::var("LEAKDIFF_SKIP").unwrap_or_default();
    let opted_out = skip
        .split(',')
        .map(str::trim)
        .any(|s| s == name || s == "all");
    assert!(
        opted_out,
        "this test needs {name}, which is missing: {install} (`.ci/run` installs every tool the tests use), or opt out with LEAKDIFF_SKIP={name}"
    );
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(
        std::io::stderr(),
        "leakdiff tests: SKIPPED the {name} part of {test} (LEAKDIFF_SKIP={skip})"
    );
    None
}

/// Writes six pprof snapshots `s0.pb` … `s5.pb`, 30 s apart, of one stack (root first: function,
/// file, line) growing by `step` bytes and one object each.
pub fn pprof_series(dir: &Path, root_first: &[(&str, &str, u32)], step: i64) {
    pprof_series_of(dir, &[(root_first, step)]);
}

/// Frames root first: function, file, line.
pub type RootFirst<'a> = &'a [(&'a str, &'a str, u32)];

/// [`pprof_series`] of several stacks, each growing by its own step.
pub fn pprof_series_of(dir: &Path, stacks: &[(RootFirst, i64)]) {
    use leakdiff::model::{Format, ProfileBuilder, ValueType};
    let mut interner = Interner::new();
    let ids: Vec<_> = stacks
        .iter()
        .map(|(root_first, step)| {
            let frames: Vec<_> = root_first
                .iter()
                .map(|(f, file, line)| interner.symbol_frame(f, file, *line))
                .collect();
            (interner.stack_from_root(frames), *step)
        })
        .collect();
    for k in 0..6i64 {
        let mut b = ProfileBuilder::new(
            Format::Pprof,
            vec![
                ValueType::new("inuse_objects", "count"),
                ValueType::new("inuse_space", "bytes"),
            ],
        );
        b.meta_mut().time_nanos = Some(1_700_000_000_000_000_000 + k * 30_000_000_000);
        for (stack, step) in &ids {
            b.add_sample(*stack, &[k + 1, (k + 1) * step], &[]);
        }
        let p = b.finish(&interner).unwrap();
        let bytes = leakdiff::formats::pprof::encode::encode(&p, &interner);
        std::fs::write(dir.join(format!("s{k}.pb")), bytes).unwrap();
    }
}
