//! `leakdiff check`, the CI gate: thresholds from `leakdiff.toml` (a default and rules per site
//! pattern) applied to a two-snapshot diff or to the suspects of a series, with a baseline of
//! known growth in LeakSanitizer's `leak:PATTERN` syntax. Pure: the caller reads the files.
//!
//! May import: `diff`, `leaks`, `goroutines`, `trend`, `units`, and the suppression matcher of
//! `formats`.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::diff::DiffResult;
use crate::formats::heaptrack::suppress;
use crate::leaks::Report;
use crate::trend::Severity;

pub mod alerts;

/// JSON schema id of [`CheckResult`].
pub const SCHEMA: &str = "leakdiff.check/v1";

/// Errors in the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or fields of the wrong type.
    #[error("{source_name}: {message}")]
    Toml {
        /// The file.
        source_name: String,
        /// What the TOML parser said (with line and column).
        message: String,
    },
    /// A value that does not parse.
    #[error("{source_name}: {field}: {message}")]
    Value {
        /// The file.
        source_name: String,
        /// Where (`default.max_growth`, `rule[2].match`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_growth: Option<toml::Value>,
    max_count_growth: Option<f64>,
    max_growth_percent: Option<f64>,
    max_total_growth: Option<toml::Value>,
    fail_on_severity: Option<String>,
    max_rate: Option<String>,
    fail_on_proven_goroutine_leak: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    pattern: String,
    #[serde(default)]
    ignore: bool,
    #[serde(flatten)]
    limits: RawLimits,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// None when the file has no `[default]` table: the built-in defaults hold.
    default: Option<RawLimits>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
    #[serde(default)]
    watch: RawWatch,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    alert_after: Option<String>,
}

/// Thresholds; a rule's unset fields fall back to the default's.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Limits {
    /// A key (function, goroutine group) may grow by at most this, in the value's unit (two
    /// snapshots).
    pub max_growth: Option<f64>,
    /// The same for values that are counts (goroutine profiles, `--sample-index inuse_objects`).
    pub max_count_growth: Option<f64>,
    /// …and by at most this % of the base total.
    pub max_growth_percent: Option<f64>,
    /// The total may grow by at most this (two snapshots; the default's only).
    pub max_total_growth: Option<f64>,
    /// Suspects at or above this severity fail (a series).
    pub fail_on_severity: Option<Severity>,
    /// Suspects growing faster than this per hour fail (a series), in their unit.
    pub max_rate_per_hour: Option<f64>,
    /// A goroutine group the Go runtime proved leaked (a `goroutineleak` profile or `(leaked)`
    /// goroutines) fails (a series). Unset: true.
    pub fail_on_proven_goroutine_leak: Option<bool>,
}

impl Limits {
    fn or(&self, d: &Limits) -> Limits {
        Limits {
            max_growth: self.max_growth.or(d.max_growth),
            max_count_growth: self.max_count_growth.or(d.max_count_growth),
            max_growth_percent: self.max_growth_percent.or(d.max_growth_percent),
            max_total_growth: d.max_total_growth,
            fail_on_severity: self.fail_on_severity.or(d.fail_on_severity),
            max_rate_per_hour: self.max_rate_per_hour.or(d.max_rate_per_hour),
            fail_on_proven_goroutine_leak: self
                .fail_on_proven_goroutine_leak
                .or(d.fail_on_proven_goroutine_leak),
        }
    }
}

/// One rule: a regex on the key and frames, and its limits (or `ignore`).
#[derive(Clone, Debug)]
pub struct Rule {
    /// The pattern as written.
    pub pattern: String,
    /// Compiled.
    pub regex: Regex,
    /// Never fail on matching keys.
    pub ignore: bool,
    /// Its limits.
    pub limits: Limits,
}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Limits for keys no rule matches.
    pub default: Limits,
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
    /// `watch`: how long a key must stay over its limits before it alerts, in seconds
    /// (`[watch] alert_after`, [`ALERT_AFTER_SECS`] when unset).
    pub alert_after_secs: f64,
}

/// How long a key must stay over its limits before `watch` alerts when `[watch] alert_after` is
/// unset: a minute. A bounded cache still filling grows exactly as a leak does until it is full;
/// on a steady Go program whose 4 MiB cache filled over 30–80 s after the watch began, 5 of 12
/// watches paged on it with no wait, each suspect lasting 1–35 s before it read as a plateau. A
/// minute keeps those quiet and still pages on a 1 MiB/s leak within the 2 minutes `watch`
/// promises at 5 s rounds. Caches that take longer to fill need a longer `alert_after`.
pub const ALERT_AFTER_SECS: f64 = 60.0;

impl Default for Config {
    /// No file: any key growing by more than 1 MiB (or 16, for counts) between two snapshots
    /// fails, and any leak suspect of a series fails.
    fn default() -> Self {
        Config {
            default: Limits {
                max_growth: Some(1024.0 * 1024.0),
                max_count_growth: Some(16.0),
                fail_on_severity: Some(Severity::Low),
                ..Default::default()
            },
            rules: Vec::new(),
            alert_after_secs: ALERT_AFTER_SECS,
        }
    }
}

fn size_value(v: &toml::Value, source: &str, field: &str) -> Result<f64, ConfigError> {
    let bad = |m: String| ConfigError::Value {
        source_name: source.into(),
        field: field.into(),
        message: m,
    };
    match v {
        toml::Value::Integer(i) => Ok(*i as f64),
        toml::Value::Float(f) => Ok(*f),
        toml::Value::String(s) => crate::units::parse_size(s).map(|v| v as f64).map_err(bad),
        other => Err(bad(format!(
            "expected a size like \"10MiB\" or a number, got a {}",
            other.type_str()
        ))),
    }
}

fn severity(s: &str) -> Option<Severity> {
    match s {
        "critical" => Some(Severity::Critical),
        "high" => Some(Severity::High),
        "medium" => Some(Severity::Medium),
        "low" => Some(Severity::Low),
        _ => None,
    }
}

fn limits(raw: &RawLimits, source: &str, at: &str) -> Result<Limits, ConfigError> {
    let size = |v: &Option<toml::Value>, f: &str| {
        v.as_ref()
            .map(|v| size_value(v, source, &format!("{at}.{f}")))
            .transpose()
    };
    let fail_on_severity = raw
        .fail_on_severity
        .as_deref()
        .map(|s| {
            severity(s).ok_or_else(|| ConfigError::Value {
                source_name: source.into(),
                field: format!("{at}.fail_on_severity"),
                message: format!("`{s}`: one of critical, high, medium, low"),
            })
        })
        .transpose()?;
    let max_rate_per_hour = raw
        .max_rate
        .as_deref()
        .map(|s| {
            crate::units::parse_rate(s)
                .map(|per_second| per_second * 3600.0)
                .map_err(|m| ConfigError::Value {
                    source_name: source.into(),
                    field: format!("{at}.max_rate"),
                    message: m,
                })
        })
        .transpose()?;
    Ok(Limits {
        max_growth: size(&raw.max_growth, "max_growth")?,
        max_count_growth: raw.max_count_growth,
        max_growth_percent: raw.max_growth_percent,
        max_total_growth: size(&raw.max_total_growth, "max_total_growth")?,
        fail_on_severity,
        max_rate_per_hour,
        fail_on_proven_goroutine_leak: raw.fail_on_proven_goroutine_leak,
    })
}

impl Config {
    /// Parses `leakdiff.toml`.
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml {
            source_name: source.into(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        // A file with no `[default]` (only rules, or only `[watch]`) keeps the built-in limits
        // for the keys its rules do not match: without them nothing would be over its limits.
        let default = match &raw.default {
            Some(d) => limits(d, source, "default")?,
            None => Config::default().default,
        };
        let rules = raw
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let at = format!("rule[{i}]");
                Ok(Rule {
                    regex: Regex::new(&r.pattern).map_err(|e| ConfigError::Value {
                        source_name: source.into(),
                        field: format!("{at}.match"),
                        message: e.to_string(),
                    })?,
                    pattern: r.pattern.clone(),
                    ignore: r.ignore,
                    limits: limits(&r.limits, source, &at)?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let alert_after_secs = raw
            .watch
            .alert_after
            .as_deref()
            .map(|d| {
                // "0s" (or "0"): alert as soon as a key is over its limits for two rounds.
                let zero = d.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic());
                if zero.parse::<f64>() == Ok(0.0) {
                    return Ok(0);
                }
                crate::units::parse_duration_ms(d).map_err(|m| ConfigError::Value {
                    source_name: source.into(),
                    field: "watch.alert_after".into(),
                    message: m,
                })
            })
            .transpose()?
            .map_or(ALERT_AFTER_SECS, |ms| ms as f64 / 1e3);
        Ok(Config {
            default,
            rules,
            alert_after_secs,
        })
    }

    /// The rule for a key (with its frames), if any.
    fn rule_for(&self, key: &str, frames: &[&str]) -> Option<(usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.regex.is_match(key) || frames.iter().any(|f| r.regex.is_match(f)))
    }
}

/// A baseline of known growth: `leak:PATTERN` lines (LeakSanitizer's syntax: `*` wildcards,
/// `^`/`$` anchors, substring match), matched against a finding's key and frames.
#[derive(Clone, Debug, Default)]
pub struct Baseline {
    /// Patterns.
    pub patterns: Vec<String>,
}

impl Baseline {
    /// Parses a baseline; lines that are not `leak:…`, blank or `#` comments are errors (line
    /// numbers 1-based).
    pub fn parse(text: &str) -> Result<Baseline, (usize, String)> {
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match suppress::parse_line(line) {
                Ok(Some(p)) if !p.is_empty() => patterns.push(p),
                Ok(Some(_)) => return Err((i + 1, "empty pattern".into())),
                Ok(None) => {}
                Err(bad) => return Err((i + 1, format!("`{bad}` is not a `leak:PATTERN` line"))),
            }
        }
        Ok(Baseline { patterns })
    }

    fn suppresses(&self, key: &str, frames: &[&str]) -> Option<&str> {
        self.patterns
            .iter()
            .find(|p| suppress::matches(p, key) || frames.iter().any(|f| suppress::matches(p, f)))
            .map(String::as_str)
    }
}

/// What was checked.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Two snapshots.
    Diff,
    /// A series.
    Series,
}

/// One finding over a threshold.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// `heap`, `goroutine`, `process`, or `total`.
    pub kind: String,
    /// The key.
    pub key: String,
    /// What crossed what, in words.
    pub reason: String,
    /// Growth (two snapshots) or last value (series), in `unit`.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// The rule that set the limit (`default` or `rule[i] /regex/`).
    pub rule: String,
    /// Source file and line of the leaf frame, when known.
    pub file: Option<String>,
    /// Line.
    pub line: Option<u32>,
    /// The baseline pattern that suppresses it (then it does not fail).
    pub suppressed_by: Option<String>,
}

/// The verdict.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    /// `leakdiff.check/v1`.
    pub schema: &'static str,
    /// Two snapshots or a series.
    pub mode: Mode,
    /// What was compared, in words.
    pub subject: String,
    /// Keys looked at.
    pub checked: usize,
    /// Over a limit and not in the baseline: these fail the check.
    pub violations: Vec<Violation>,
    /// Over a limit, in the baseline.
    pub suppressed: Vec<Violation>,
    /// Keys a rule says to ignore.
    pub ignored: usize,
}

impl CheckResult {
    /// True when the check fails.
    pub fn failed(&self) -> bool {
        !self.violations.is_empty()
    }
}

fn human(v: f64, unit: &str) -> String {
    crate::units::human(v.round() as i64, unit)
}

fn rule_name(rule: Option<(usize, &Rule)>) -> String {
    match rule {
        Some((i, r)) => format!("rule[{i}] /{}/", r.pattern),
        None => "default".into(),
    }
}

fn split(mut all: Vec<Violation>) -> (Vec<Violation>, Vec<Violation>) {
    let suppressed: Vec<Violation> = all
        .iter()
        .filter(|v| v.suppressed_by.is_some())
        .cloned()
        .collect();
    all.retain(|v| v.suppressed_by.is_none());
    (all, suppressed)
}

/// A grown key of a diff, as checked.
struct Grown {
    key: String,
    /// Function names, leaf first.
    frames: Vec<String>,
    delta: i64,
    file: Option<String>,
    line: Option<u32>,
}

/// The rows that grew. Goroutine stacks (a diff by stack) are summed per the goroutine's own
/// function, the first frame outside the runtime and the standard library: a leaf is where the
/// runtime parked it (`runtime.gopark`), which says nothing.
fn keyed_rows(d: &DiffResult, goroutines: bool) -> Vec<Grown> {
    let grown = d.rows.iter().filter(|r| r.delta != 0).map(|r| {
        let leaf = r.frames.last().filter(|f| !f.file.is_empty());
        Grown {
            key: r.key.clone(),
            frames: r.frames.iter().rev().map(|f| f.function.clone()).collect(),
            delta: r.delta,
            file: leaf.map(|f| f.file.clone()),
            line: leaf.map(|f| f.line).filter(|l| *l > 0),
        }
    });
    if !(goroutines && d.by == crate::diff::Granularity::Stack) {
        return grown.filter(|g| g.delta > 0).collect();
    }
    let mut by_fn: Vec<Grown> = Vec::new();
    for mut g in grown {
        g.key = crate::goroutines::user_function(&g.frames);
        match by_fn.iter_mut().find(|x| x.key == g.key) {
            Some(x) => x.delta += g.delta,
            None => by_fn.push(g),
        }
    }
    by_fn.retain(|g| g.delta > 0);
    by_fn.sort_by(|a, b| b.delta.cmp(&a.delta).then_with(|| a.key.cmp(&b.key)));
    by_fn
}

/// Checks a two-snapshot diff (all rows; goroutine profiles diffed by stack).
pub fn check_diff(d: &DiffResult, config: &Config, baseline: &Baseline) -> CheckResult {
    let unit = d.unit.clone();
    let kind = if d.sample_type.kind.starts_with("goroutine") {
        "goroutine"
    } else {
        "heap"
    };
    let mut all = Vec::new();
    let mut ignored = 0;
    if let Some(max) = config.default.max_total_growth {
        if d.totals.delta as f64 > max {
            all.push(Violation {
                kind: "total".into(),
                key: "total".into(),
                reason: format!(
                    "total grew by {}, over max_total_growth {}",
                    human(d.totals.delta as f64, &unit),
                    human(max, &unit)
                ),
                value: d.totals.delta as f64,
                unit: unit.clone(),
                rule: "default".into(),
                file: None,
                line: None,
                suppressed_by: baseline.suppresses("total", &[]).map(String::from),
            });
        }
    }
    for row in keyed_rows(d, kind == "goroutine") {
        let frames: Vec<&str> = row.frames.iter().map(String::as_str).collect();
        let rule = config.rule_for(&row.key, &frames);
        if rule.is_some_and(|(_, r)| r.ignore) {
            ignored += 1;
            continue;
        }
        let limits = rule.map_or(config.default.clone(), |(_, r)| {
            r.limits.or(&config.default)
        });
        let delta = row.delta as f64;
        let mut reasons = Vec::new();
        let (max, name) = if unit == "bytes" {
            (limits.max_growth, "max_growth")
        } else {
            (limits.max_count_growth, "max_count_growth")
        };
        if let Some(max) = max {
            if delta > max {
                reasons.push(format!(
                    "grew by {}, over {name} {}",
                    human(delta, &unit),
                    human(max, &unit)
                ));
            }
        }
        if let (Some(max), true) = (limits.max_growth_percent, d.totals.base > 0) {
            let pct = delta * 100.0 / d.totals.base as f64;
            if pct > max {
                reasons.push(format!(
                    "grew by {pct:.1}% of the base total, over max_growth_percent {max}"
                ));
            }
        }
        if reasons.is_empty() {
            continue;
        }
        all.push(Violation {
            kind: kind.into(),
            suppressed_by: baseline.suppresses(&row.key, &frames).map(String::from),
            key: row.key,
            reason: reasons.join("; "),
            value: delta,
            unit: unit.clone(),
            rule: rule_name(rule),
            file: row.file,
            line: row.line,
        });
    }
    let (violations, suppressed) = split(all);
    CheckResult {
        schema: SCHEMA,
        mode: Mode::Diff,
        subject: format!(
            "{} → {} ({})",
            d.base.source, d.later.source, d.sample_type.kind
        ),
        checked: d.rows.len(),
        violations,
        suppressed,
        ignored,
    }
}

/// Checks the suspects of a series (heap, goroutine and process sections).
pub fn check_report(r: &Report, config: &Config, baseline: &Baseline) -> CheckResult {
    let mut all = Vec::new();
    let mut ignored = 0;
    let mut checked = 0;
    for (kind, suspects) in r.suspect_sections() {
        for s in suspects {
            checked += 1;
            let unit = r.unit_of(kind, &s.key).to_string();
            let frames: Vec<&str> = s.frames.iter().map(String::as_str).collect();
            let rule = config.rule_for(&s.key, &frames);
            if rule.is_some_and(|(_, r)| r.ignore) {
                ignored += 1;
                continue;
            }
            let limits = rule.map_or(config.default.clone(), |(_, r)| {
                r.limits.or(&config.default)
            });
            let mut reasons = Vec::new();
            if let Some(min) = limits.fail_on_severity {
                if s.severity <= min {
                    // A stepped key is admitted by its steps, not by the trend test (whose p
                    // for a late jump is weak whatever its size): say what admitted it.
                    let evidence = if s.pattern == crate::trend::Pattern::Stepped {
                        format!("{} step(s)", s.steps.len())
                    } else {
                        format!("p={:.1e}", s.p_value)
                    };
                    reasons.push(format!(
                        "{} leak suspect ({}, {}, {evidence}), fail_on_severity {}",
                        s.severity.name(),
                        s.pattern.name(),
                        crate::units::rate_over(s.slope_per_hour, &unit, r.span_hours_of(kind)),
                        min.name()
                    ));
                }
            }
            if let (Some(by), Some(n)) = (s.proven_by, s.proven_leaked) {
                if limits.fail_on_proven_goroutine_leak.unwrap_or(true) {
                    reasons.push(format!(
                        "proven leaked by the {by} detector ({} goroutine(s) blocked forever), fail_on_proven_goroutine_leak",
                        n.round() as i64
                    ));
                }
            }
            if let Some(max) = limits.max_rate_per_hour {
                if s.slope_per_hour > max {
                    reasons.push(format!(
                        "grows {}/h, over max_rate {}/h",
                        human(s.slope_per_hour, &unit),
                        human(max, &unit)
                    ));
                }
            }
            if reasons.is_empty() {
                continue;
            }
            all.push(Violation {
                kind: kind.into(),
                key: s.key.clone(),
                reason: reasons.join("; "),
                value: s.last,
                unit,
                rule: rule_name(rule),
                file: None,
                line: None,
                suppressed_by: baseline.suppresses(&s.key, &frames).map(String::from),
            });
        }
    }
    let (violations, suppressed) = split(all);
    let subject = match (r.snapshots.first(), r.snapshots.last()) {
        (Some(a), Some(b)) if r.gc_repeats > 0 => format!(
            "{} snapshots ({} distinct GC states), {} → {}",
            r.snapshots.len() + r.gc_repeats,
            r.snapshots.len(),
            a.time,
            b.time
        ),
        (Some(a), Some(b)) => format!("{} snapshots, {} → {}", r.snapshots.len(), a.time, b.time),
        _ => "goroutine and process snapshots".into(),
    };
    CheckResult {
        schema: SCHEMA,
        mode: Mode::Series,
        subject,
        checked,
        violations,
        suppressed,
        ignored,
    }
}

/// Baseline lines that suppress every current violation (for `--write-baseline`): each key
/// anchored, `leak:^KEY$`. A `*` in a key (Go's `(*T).Method`) stays: as LSan's wildcard it also
/// matches the `*` itself, so the line still matches just that key and keys like it.
pub fn baseline_lines(r: &CheckResult) -> String {
    let mut out = String::from(
        "# leakdiff baseline: known growth that `leakdiff check` does not fail on.\n# One `leak:PATTERN` per line (LeakSanitizer syntax: * wildcard, ^ and $ anchors, substring match).\n",
    );
    for v in r.violations.iter().chain(&r.suppressed) {
        let key = v.key.replace('\n', " ");
        let line = format!("leak:^{}$\n", key.trim());
        if !out.contains(&line) {
            out.push_str(&line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_names_bad_fields() {
        let c = Config::parse(
            r#"
[default]
max_growth = "10MiB"
fail_on_severity = "high"
max_rate = "1MB/h"

[[rule]]
match = "^cache\\."
max_growth = "100MiB"

[[rule]]
match = "bytes\\.growSlice"
ignore = true
"#,
            "leakdiff.toml",
        )
        .unwrap();
        assert_eq!(c.default.max_growth, Some(10.0 * 1024.0 * 1024.0));
        assert_eq!(c.default.fail_on_severity, Some(Severity::High));
        assert!((c.default.max_rate_per_hour.unwrap() - 1e6).abs() < 1e-6);
        assert_eq!(c.rules.len(), 2);
        assert!(c.rules[1].ignore);
        let (i, r) = c.rule_for("cache.Put", &[]).unwrap();
        assert_eq!(i, 0);
        assert_eq!(
            r.limits.or(&c.default).fail_on_severity,
            Some(Severity::High)
        );
        let e = Config::parse("[default]\nmax_growth = \"ten\"\n", "x.toml").unwrap_err();
        assert!(
            e.to_string().starts_with("x.toml: default.max_growth:"),
            "{e}"
        );
        let e = Config::parse("[default]\nmax_groth = 1\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("max_groth"), "{e}");
        let w = Config::parse("[watch]\nalert_after = \"5m\"\n", "x.toml").unwrap();
        assert_eq!(w.alert_after_secs, 300.0);
        // With no [default] table, the built-in limits hold (any leak suspect is over them).
        assert_eq!(
            w.default.fail_on_severity,
            Config::default().default.fail_on_severity
        );
        assert!(w.default.fail_on_severity.is_some());
        let unset = Config::parse("[default]\nmax_growth = 1\n", "x.toml").unwrap();
        assert_eq!(unset.alert_after_secs, ALERT_AFTER_SECS);
        assert_eq!(Config::default().alert_after_secs, ALERT_AFTER_SECS);
        let now = Config::parse("[watch]\nalert_after = \"0s\"\n", "x.toml").unwrap();
        assert_eq!(now.alert_after_secs, 0.0);
        let e = Config::parse("[watch]\nalert_after = \"soon\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("watch.alert_after"), "{e}");
        let e = Config::parse("[[rule]]\nmatch = \"(\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("rule[0].match"), "{e}");
    }

    #[test]
    fn baselines_parse_match_and_round_trip() {
        let b = Baseline::parse("# known\nleak:^main.cache$\n\nleak:grpc*Conn\n").unwrap();
        assert_eq!(b.suppresses("main.cache", &[]), Some("^main.cache$"));
        assert_eq!(
            b.suppresses("x", &["google.golang.org/grpc.(*Conn).Read"]),
            Some("grpc*Conn")
        );
        assert_eq!(b.suppresses("main.cacheFill", &[]), None);
        assert_eq!(Baseline::parse("oops\n").unwrap_err().0, 1);
        let r = CheckResult {
            schema: SCHEMA,
            mode: Mode::Diff,
            subject: String::new(),
            checked: 1,
            violations: vec![Violation {
                kind: "heap".into(),
                key: "main.(*T).Grow".into(),
                reason: String::new(),
                value: 1.0,
                unit: "bytes".into(),
                rule: "default".into(),
                file: None,
                line: None,
                suppressed_by: None,
            }],
            suppressed: Vec::new(),
            ignored: 0,
        };
        let text = baseline_lines(&r);
        let back = Baseline::parse(&text).unwrap();
        assert!(back.suppresses("main.(*T).Grow", &[]).is_some());
        assert!(back.suppresses("main.(*T).GrowMore", &[]).is_none());
    }
}
