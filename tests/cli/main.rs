//! The one integration-test binary (each extra one would re-link the whole dependency tree).
//! Modules: reference comparisons against go tool pprof, legacy parser goldens, CLI behaviour,
//! hostile inputs and property tests.

mod c_golden;
mod cli_diff;
mod common;
mod docs;
mod export_check;
mod fleet;
mod go127;
mod goroutine_golden;
mod goroutines_cmd;
mod heapdump;
mod heaptrack_golden;
mod hostile;
mod house;
mod layering;
mod legacy_golden;
mod live;
mod native_names;
mod newcomer;
mod outputs;
mod pprof_golden;
mod pprof_user;
mod props;
mod real_corpus;
mod report;
mod sessionleak;
mod simulate;
mod thirdparty;
mod verdicts;
