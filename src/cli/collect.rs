//! `leakdiff collect`: the flags of the collect engine (`live::collect`), and its outcome as an
//! exit status.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::{EXIT_ERROR, EXIT_OK};
use crate::live::collect::{self, CollectOptions, Endpoint, Flow, Outcome, Sink};
use crate::units::{parse_duration_ms, parse_size};

#[derive(Args, Debug)]
pub(super) struct CollectArgs {
    /// The net/http/pprof base URL: http:// or https:// (e.g. http://127.0.0.1:6060/debug/pprof/).
    #[arg(long, value_name = "URL", required_unless_present = "pid")]
    url: Option<String>,
    /// Send this header with every request (`Authorization: Bearer …`). Repeatable.
    #[arg(long = "header", short = 'H', value_name = "'NAME: VALUE'", value_parser = crate::fetch::parse_header)]
    headers: Vec<(String, String)>,
    /// Also sample /proc/PID each round: RSS, open fds by kind, TCP connections by state,
    /// threads, memory mappings.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Time between rounds.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "30s")]
    interval: u64,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    duration: Option<u64>,
    /// Stop after N rounds.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Folder to write to (created if missing). With --dataset and no -o, files wait in
    /// DATASET/_collect/SERVICE until their rows are in, then are removed.
    #[arg(
        long,
        short = 'o',
        value_name = "DIR",
        required_unless_present = "dataset"
    )]
    output: Option<PathBuf>,
    /// Also append each round to this fleet dataset (see `leakdiff ingest`).
    #[arg(long, value_name = "DATASET", requires = "service")]
    dataset: Option<PathBuf>,
    /// The service name the rounds are stored under in --dataset.
    #[arg(long, value_name = "NAME", requires = "dataset")]
    service: Option<String>,
    /// What to fetch from the endpoint, comma-separated. Default for `collect`: heap,
    /// goroutine, goroutine-debug2, goroutineleak. Default for `watch`: heap, goroutine — the
    /// text dump stops the world while it formats every stack (0.34–0.39 s of the service's CPU
    /// per dump with 6,000 goroutines: +1.3 % of a core at 30 s) and goroutineleak runs a
    /// collection; both come with the evidence of the first alert instead.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PROFILES")]
    profiles: Option<Vec<Endpoint>>,
    /// Deadline of one request.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "20s")]
    timeout: u64,
    /// Refuse answers larger than this.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "512MiB")]
    max_profile_size: i64,
    /// Hold at most this much fetched data in memory while writes fail (disk full); beyond it,
    /// rounds are skipped until writing works again.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "256MiB")]
    max_pending: i64,
    /// Only errors on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Ask for `heap?gc=1`: the Go runtime runs a full garbage collection before each heap
    /// profile, so every snapshot is the heap as of that moment. Without it, a heap profile is
    /// the heap as of the last collection the runtime ran on its own, and snapshots taken between
    /// two collections repeat it (the report folds those repeats; where the program serves
    /// expvar's /debug/vars, by the NumGC collect writes into each profile). Costs one extra
    /// collection per round: measured on a 400 MB heap under Go 1.27, 0.31 s of CPU each (6 % of
    /// a core at a 5 s interval, 1 % at 30 s), pauses under 1 ms, each heap request answered
    /// after it (0.4 s); on Debian's Prometheus (Go 1.19, 370 MB live) 0.5 s each (10 % of a core
    /// at 5 s, 1.7 % at 30 s), pauses under 0.4 ms (doc/guide.md, "Fresh heap snapshots").
    #[arg(long)]
    gc: bool,
}

impl CollectArgs {
    /// The folder the files go to, and whether they are removed once in the dataset.
    pub(super) fn output_dir(&self) -> Result<(PathBuf, bool)> {
        match (&self.output, &self.dataset, &self.service) {
            (Some(o), _, _) => Ok((o.clone(), false)),
            (None, Some(d), Some(s)) => {
                crate::dataset::check_service(s)?;
                Ok((d.join("_collect").join(s), true))
            }
            _ => anyhow::bail!("give -o DIR, or --dataset DATASET --service NAME"),
        }
    }

    /// The net/http/pprof folder, when one is watched.
    pub(super) fn pprof_url(&self) -> Option<crate::fetch::Url> {
        self.url
            .as_deref()
            .and_then(|u| crate::fetch::Url::parse(u).ok())
    }

    /// Headers sent with every request.
    pub(super) fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Time between rounds, in milliseconds.
    pub(super) fn interval_ms(&self) -> u64 {
        self.interval
    }

    /// What is watched, in words: the URL's host and port, else the process.
    pub(super) fn target(&self) -> String {
        match (
            self.url
                .as_deref()
                .and_then(|u| crate::fetch::Url::parse(u).ok()),
            self.pid,
        ) {
            (Some(u), _) => format!("{}:{}", u.host, u.port),
            (None, Some(pid)) => format!("pid {pid}"),
            (None, None) => String::new(),
        }
    }
}

/// What `collect` fetches unless told: everything a later analysis can use.
pub(super) const COLLECT_PROFILES: &[Endpoint] = &[
    Endpoint::Heap,
    Endpoint::Goroutine,
    Endpoint::GoroutineDebug2,
    Endpoint::Goroutineleak,
];

pub(super) fn run_collect(args: CollectArgs) -> Result<u8> {
    Ok(match collect_with(args, COLLECT_PROFILES, None)? {
        Outcome::Done => EXIT_OK,
        Outcome::NothingCollected | Outcome::Lost(_) => EXIT_ERROR,
    })
}

/// Collects as `args` say (fetching `default_profiles` unless `--profiles` is given), handing
/// each round's files to `judge` (`watch`) before the dataset takes them (which may remove them).
pub(super) fn collect_with(
    args: CollectArgs,
    default_profiles: &[Endpoint],
    mut judge: Option<Sink>,
) -> Result<Outcome> {
    let (output, remove) = args.output_dir()?;
    if let Some(s) = &args.service {
        crate::dataset::check_service(s)?;
    }
    let mut ingest = match (&args.dataset, &args.service) {
        (Some(d), Some(s)) => Some(super::ingest::round_sink(d.clone(), s.clone(), remove)),
        _ => None,
    };
    let options = CollectOptions {
        url: args.url,
        pid: args.pid,
        interval: args.interval,
        duration: args.duration,
        count: args.count,
        output,
        profiles: args.profiles.unwrap_or_else(|| default_profiles.to_vec()),
        timeout: args.timeout,
        max_profile_size: args.max_profile_size,
        max_pending: args.max_pending,
        headers: args.headers,
        quiet: args.quiet,
        gc: args.gc,
    };
    let mut both = |files: &[PathBuf]| -> Result<Flow, String> {
        let flow = match judge.as_mut() {
            Some(j) => j(files)?,
            None => Flow::Go,
        };
        if let Some(i) = ingest.as_mut() {
            i(files)?;
        }
        Ok(flow)
    };
    let sink: Option<Sink> = Some(&mut both);
    Ok(collect::run_with(options, sink)?)
}
