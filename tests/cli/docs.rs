//! The shell examples of the README and the manual (`doc/*.md`) that are marked ```` ```sh
//! runnable ```` run as written, so they cannot rot: each block under `bash -euo pipefail`, with
//! the built `leakdiff` first on `PATH`, in a scratch folder where `testdata` is the repository's.

use std::path::{Path, PathBuf};

/// Every runnable block: (file, line of its fence, the block's text).
fn runnable_blocks() -> Vec<(String, usize, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("doc"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut blocks = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.strip_prefix(root).unwrap().display().to_string();
        let mut open: Option<(usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            match &mut open {
                None if line.trim_end() == "```sh runnable" => open = Some((i + 1, String::new())),
                None => {}
                Some(_) if line.starts_with("```") => {
                    let (at, body) = open.take().unwrap();
                    blocks.push((name.clone(), at, body));
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
        assert!(open.is_none(), "{name}: a runnable block is not closed");
    }
    blocks
}

#[test]
fn runnable_examples_in_the_docs_run_as_written() {
    let blocks = runnable_blocks();
    assert!(blocks.len() >= 10, "only {} runnable blocks", blocks.len());
    let bin = assert_cmd::cargo::cargo_bin("leakdiff");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (file, line, body) in &blocks {
        let dir = crate::common::scratch();
        let out = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", body])
            .current_dir(&dir)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &dir)
            .env("TMPDIR", &dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}:{line}: exit {:?}\n{body}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
