//! `leakdiff check` and `watch`: what the CI gate reads (`leakdiff.toml`, the baseline) and the
//! gate over two snapshots.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::output::{warn_inputs, warn_order};
use crate::check::{self, Baseline, CheckResult, Config};
use crate::diff::{self, DiffOptions};
use crate::input::Loader;
use crate::model::Kind;

/// The file named by a flag, else `default` in the working folder when it exists, read whole.
fn read_optional(flag: Option<&Path>, default: &str) -> Result<Option<(String, String)>> {
    let path = match flag {
        Some(p) => p,
        None if Path::new(default).is_file() => Path::new(default),
        None => return Ok(None),
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some((path.display().to_string(), text)))
}

/// `leakdiff.toml`: the file `--config` names, else the working folder's, else no limits.
pub fn read_config(path: Option<&Path>) -> Result<Config> {
    match read_optional(path, "leakdiff.toml")? {
        Some((name, text)) => Ok(Config::parse(&text, &name)?),
        None => Ok(Config::default()),
    }
}

/// The baseline: the file `--baseline` names, else the working folder's `leakdiff.baseline`,
/// else none.
pub fn read_baseline(path: Option<&Path>) -> Result<Baseline> {
    match read_optional(path, "leakdiff.baseline")? {
        Some((name, text)) => {
            Baseline::parse(&text).map_err(|(line, m)| anyhow::anyhow!("{name}: line {line}: {m}"))
        }
        None => Ok(Baseline::default()),
    }
}

/// Two snapshots, `(base, later)`, diffed by function (by whole stack for goroutines, judged per
/// the function they run) in the value type `sample` (None: the default), against the limits.
pub fn check_pair(
    loader: &Loader,
    (base, later): (&PathBuf, &PathBuf),
    sample: Option<&str>,
    config: &Config,
    baseline: &Baseline,
) -> Result<CheckResult> {
    let (interner, b, l) = loader.load_pair(base, later)?;
    warn_inputs(loader, [&b, &l]);
    warn_order(&b, &l);
    let goroutines = Kind::of(&l) == Some(Kind::Goroutine);
    let options = DiffOptions {
        sample: sample.map(str::to_string),
        top: None,
        // Goroutines are judged per the function they run, found from whole stacks.
        by: if goroutines {
            diff::Granularity::Stack
        } else {
            diff::Granularity::Function
        },
        ..Default::default()
    };
    let d = diff::diff(&b, &l, &interner, &options)?;
    Ok(check::check_diff(&d, config, baseline))
}
