//! `leakdiff`: thin entry point. Parses arguments, runs, maps the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;

// mimalloc: the parsers allocate and free many small vectors per profile; glibc's malloc spent
// about 8 % of a 100-snapshot report in malloc/free/consolidate (see doc/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = leakdiff::cli::Cli::parse_from(leakdiff::cli::pprof_style(std::env::args_os()));
    match leakdiff::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if leakdiff::cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let line = format!("{e:#}").replace('\n', " ");
            eprintln!("leakdiff: error: {line}");
            ExitCode::from(leakdiff::cli::EXIT_ERROR)
        }
    }
}
