//! What `watch` spends judging one round as its series grows:
//! `cargo bench --bench watch_round -- DIR [MAX_POINTS]` feeds DIR's snapshots (in name order, shorter names first,
//! for example `leakdiff simulate --snapshots 10000`) to a watcher one round at a time, each
//! round's changes of verdict printed to standard output as `watch` prints them, and writes to
//! standard error, every 500 rounds, the mean and the largest time a round took over those 500
//! (reading the file, holding the series, judging it), and at the end the last round's.

use std::path::PathBuf;
use std::time::Instant;

use leakdiff::check::{Baseline, Config};
use leakdiff::watch::alerting::{Actions, Senders};
use leakdiff::watch::{Format, WatchOptions, Watcher};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = PathBuf::from(args.first().expect("give the folder of snapshots"));
    let max_points: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(leakdiff::store::DEFAULT_MAX_POINTS);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read the folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "gz"))
        .collect();
    // heap-999 before heap-1000: shorter names first, then by name.
    files.sort_by_key(|p| (p.as_os_str().len(), p.clone()));
    let mut w = Watcher::new(WatchOptions {
        frames: Default::default(),
        sample_index: None,
        max_points,
        analyze: Default::default(),
        format: Format::Json,
        exit_on: None,
        config: Config::default(),
        baseline: Baseline::default(),
        senders: Senders {
            service: "bench".into(),
            cmd: None,
            webhook: None,
            alertmanager: None,
            hold_ms: 0,
        },
        actions: Actions {
            evidence: None,
            url: None,
            headers: Vec::new(),
            on_alert: None,
            every_ns: 0,
            last: None,
        },
        log: None,
    });
    eprintln!(
        "{} snapshots from {}, --max-points {max_points}",
        files.len(),
        dir.display()
    );
    eprintln!("rounds       mean ms   max ms");
    let (mut sum, mut max) = (0.0_f64, 0.0_f64);
    let mut last = 0.0;
    for (i, f) in files.iter().enumerate() {
        let t = Instant::now();
        w.round(std::slice::from_ref(f)).expect("round");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        sum += ms;
        max = max.max(ms);
        last = ms;
        if (i + 1) % 500 == 0 {
            eprintln!("{:>6}  {:>12.1} {:>8.1}", i + 1, sum / 500.0, max);
            sum = 0.0;
            max = 0.0;
        }
    }
    eprintln!("last round: {last:.1} ms");
}
