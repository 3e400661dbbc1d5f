//! Writes the benchmark inputs: `cargo bench --bench gen_profiles -- DIR [STACKS]` writes
//! DIR/base.pb.gz and DIR/later.pb.gz with about STACKS (default 200000) distinct stacks each;
//! `-- DIR STACKS N` writes a series of N snapshots instead (DIR/snap-001.pb.gz, …).

#[path = "support/synth.rs"]
mod synth;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir =
        std::path::PathBuf::from(args.first().map(String::as_str).unwrap_or("testdata/bench"));
    let stacks: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    std::fs::create_dir_all(&dir).expect("create output dir");
    if let Some(n) = args.get(2).and_then(|s| s.parse::<usize>().ok()) {
        // A series: DIR/snap-001.pb.gz … for `leakdiff report`.
        for (k, bytes) in synth::series(stacks, n).enumerate() {
            let path = dir.join(format!("snap-{:03}.pb.gz", k + 1));
            std::fs::write(&path, &bytes).expect("write snapshot");
            eprintln!("wrote {} ({} B)", path.display(), bytes.len());
        }
        return;
    }
    let (base, later) = synth::pair(stacks);
    std::fs::write(dir.join("base.pb.gz"), &base).expect("write base");
    std::fs::write(dir.join("later.pb.gz"), &later).expect("write later");
    eprintln!(
        "wrote {} ({} B) and {} ({} B)",
        dir.join("base.pb.gz").display(),
        base.len(),
        dir.join("later.pb.gz").display(),
        later.len()
    );
}
