//! Detection accuracy on truth-labelled series: `leakdiff eval`. The caller runs the detectors and
//! hands over what they flagged, at the end of each series and at each shorter prefix; this module
//! scores that against the truth (true and false positive rates, latency) and groups the scores
//! by leak type and pattern.
//!
//! May import: `lab::simulate` (the truth's types). No I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// JSON schema id of [`EvalReport`].
pub const SCHEMA: &str = "leakdiff.eval/v1";

/// What one detector said about one series.
#[derive(Clone, Debug, Default)]
pub struct Detection {
    /// Names flagged as leaks on the whole series.
    pub flagged: BTreeSet<String>,
    /// For each truth leak flagged on some prefix: the number of snapshots of the shortest one.
    pub first_flagged: BTreeMap<String, usize>,
    /// Names the detector judged (keys with data, goroutine groups): positives and negatives.
    pub judged: BTreeSet<String>,
    /// Names flagged high or critical on the whole series.
    pub strong: BTreeSet<String>,
    /// Snapshots in the series.
    pub snapshots: usize,
}

/// The score of one series for one detector.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    /// Folder.
    pub dir: String,
    /// `memory`, `goroutine` or `cycle`.
    #[serde(rename = "type")]
    pub leak_type: String,
    /// The truth's pattern (`mixed` when it has none).
    pub pattern: String,
    /// Snapshots.
    pub snapshots: usize,
    /// Truth leaks.
    pub leaks: Vec<String>,
    /// Truth leaks flagged.
    pub detected: Vec<String>,
    /// Truth leaks not flagged.
    pub missed: Vec<String>,
    /// Flagged, but not leaks.
    pub false_positives: Vec<String>,
    /// Names judged that are not leaks.
    pub negatives: usize,
    /// Snapshots needed for each detected leak.
    pub latency: Vec<usize>,
}

/// Scores one detection against the truth's leaks. Names in `related` (grown by the cause, not
/// required) count neither way: flagged, they are no false positive; missed, no miss.
pub fn score(
    dir: &str,
    leak_type: &str,
    pattern: &str,
    leaks: &[String],
    related: &[String],
    d: &Detection,
) -> ScenarioResult {
    let truth: BTreeSet<&str> = leaks.iter().chain(related).map(String::as_str).collect();
    let detected: Vec<String> = leaks
        .iter()
        .filter(|l| d.flagged.contains(*l))
        .cloned()
        .collect();
    let missed = leaks
        .iter()
        .filter(|l| !d.flagged.contains(*l))
        .cloned()
        .collect();
    let false_positives = d
        .flagged
        .iter()
        .filter(|f| !truth.contains(f.as_str()))
        .cloned()
        .collect();
    let negatives = d
        .judged
        .iter()
        .filter(|j| !truth.contains(j.as_str()))
        .count();
    let latency = detected
        .iter()
        .map(|l| d.first_flagged.get(l).copied().unwrap_or(d.snapshots))
        .collect();
    ScenarioResult {
        dir: dir.to_string(),
        leak_type: leak_type.to_string(),
        pattern: pattern.to_string(),
        snapshots: d.snapshots,
        leaks: leaks.to_vec(),
        detected,
        missed,
        false_positives,
        negatives,
        latency,
    }
}

/// Scores of a group of series.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Leak type (`all` for the total).
    #[serde(rename = "type")]
    pub leak_type: String,
    /// Pattern (`all` for a type's total).
    pub pattern: String,
    /// Series.
    pub scenarios: usize,
    /// Series with no leak planted.
    pub leak_free: usize,
    /// Leak-free series with any finding.
    pub leak_free_with_findings: usize,
    /// Truth leaks.
    pub leaks: usize,
    /// Of which flagged.
    pub detected: usize,
    /// detected / leaks.
    pub tpr: Option<f64>,
    /// Judged names that are not leaks.
    pub negatives: usize,
    /// Of which flagged.
    pub false_positives: usize,
    /// false_positives / negatives.
    pub fpr: Option<f64>,
    /// Mean snapshots until a leak is first flagged.
    pub latency_mean: Option<f64>,
    /// Median.
    pub latency_median: Option<f64>,
    /// Largest.
    pub latency_max: Option<usize>,
}

fn row(leak_type: &str, pattern: &str, rs: &[&ScenarioResult]) -> Row {
    let leaks: usize = rs.iter().map(|r| r.leaks.len()).sum();
    let detected: usize = rs.iter().map(|r| r.detected.len()).sum();
    let negatives: usize = rs.iter().map(|r| r.negatives).sum();
    let fps: usize = rs.iter().map(|r| r.false_positives.len()).sum();
    let mut lat: Vec<usize> = rs.iter().flat_map(|r| r.latency.iter().copied()).collect();
    lat.sort_unstable();
    let leak_free: Vec<&&ScenarioResult> = rs.iter().filter(|r| r.leaks.is_empty()).collect();
    Row {
        leak_type: leak_type.to_string(),
        pattern: pattern.to_string(),
        scenarios: rs.len(),
        leak_free: leak_free.len(),
        leak_free_with_findings: leak_free
            .iter()
            .filter(|r| !r.false_positives.is_empty())
            .count(),
        leaks,
        detected,
        tpr: (leaks > 0).then(|| detected as f64 / leaks as f64),
        negatives,
        false_positives: fps,
        fpr: (negatives > 0).then(|| fps as f64 / negatives as f64),
        latency_mean: (!lat.is_empty())
            .then(|| lat.iter().sum::<usize>() as f64 / lat.len() as f64),
        latency_median: (!lat.is_empty()).then(|| {
            let m = lat.len() / 2;
            if lat.len() % 2 == 1 {
                lat[m] as f64
            } else {
                (lat[m - 1] + lat[m]) as f64 / 2.0
            }
        }),
        latency_max: lat.last().copied(),
    }
}

/// A folder that could not be evaluated.
#[derive(Clone, Debug, Serialize)]
pub struct EvalFailure {
    /// Folder.
    pub dir: String,
    /// Why.
    pub message: String,
}

/// Everything `leakdiff eval` says.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// `leakdiff.eval/v1`.
    pub schema: &'static str,
    /// Per type and pattern, then per type (`all`).
    pub rows: Vec<Row>,
    /// Every series together.
    pub overall: Row,
    /// Leak-free series that had a finding.
    pub leak_free_with_findings: Vec<String>,
    /// Every series' score.
    pub scenarios: Vec<ScenarioResult>,
    /// Folders that could not be evaluated.
    pub failures: Vec<EvalFailure>,
}

/// Groups the scores by type and pattern.
pub fn summarize(mut scenarios: Vec<ScenarioResult>, failures: Vec<EvalFailure>) -> EvalReport {
    scenarios.sort_by(|a, b| {
        (a.leak_type.as_str(), a.pattern.as_str(), a.dir.as_str()).cmp(&(
            b.leak_type.as_str(),
            b.pattern.as_str(),
            b.dir.as_str(),
        ))
    });
    let mut groups: BTreeMap<(String, String), Vec<&ScenarioResult>> = BTreeMap::new();
    let mut types: BTreeMap<String, Vec<&ScenarioResult>> = BTreeMap::new();
    for s in &scenarios {
        groups
            .entry((s.leak_type.clone(), s.pattern.clone()))
            .or_default()
            .push(s);
        types.entry(s.leak_type.clone()).or_default().push(s);
    }
    let mut rows: Vec<Row> = groups.iter().map(|((t, p), rs)| row(t, p, rs)).collect();
    if types.len() > 1 || groups.len() > types.len() {
        rows.extend(types.iter().map(|(t, rs)| row(t, "all", rs)));
    }
    let all: Vec<&ScenarioResult> = scenarios.iter().collect();
    let overall = row("all", "all", &all);
    let leak_free_with_findings = scenarios
        .iter()
        .filter(|s| s.leaks.is_empty() && !s.false_positives.is_empty())
        .map(|s| s.dir.clone())
        .collect();
    EvalReport {
        schema: SCHEMA,
        rows,
        overall,
        leak_free_with_findings,
        scenarios,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(flagged: &[&str], judged: &[&str], first: &[(&str, usize)]) -> Detection {
        Detection {
            flagged: flagged.iter().map(|s| s.to_string()).collect(),
            judged: judged.iter().map(|s| s.to_string()).collect(),
            strong: BTreeSet::new(),
            first_flagged: first.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
            snapshots: 12,
        }
    }

    #[test]
    fn rates_and_latency() {
        let leaks = vec!["a".to_string(), "b".to_string()];
        let r1 = score(
            "x",
            "memory",
            "linear",
            &leaks,
            &["e".to_string()],
            &det(
                &["a", "c", "e"],
                &["a", "b", "c", "d", "e", "f"],
                &[("a", 5)],
            ),
        );
        assert_eq!(r1.detected, vec!["a"]);
        assert_eq!(r1.missed, vec!["b"]);
        assert_eq!(r1.false_positives, vec!["c"]);
        assert_eq!(r1.negatives, 3);
        assert_eq!(r1.latency, vec![5]);
        // A related name ("e") is neither a false positive nor a negative.
        let r2 = score(
            "y",
            "memory",
            "plateau",
            &[],
            &[],
            &det(&[], &["p", "q"], &[]),
        );
        let rep = summarize(vec![r1, r2], Vec::new());
        assert_eq!(rep.overall.leaks, 2);
        assert_eq!(rep.overall.tpr, Some(0.5));
        assert_eq!(rep.overall.negatives, 5);
        assert_eq!(rep.overall.fpr, Some(0.2));
        assert_eq!(rep.overall.leak_free, 1);
        assert_eq!(rep.overall.leak_free_with_findings, 0);
        assert_eq!(rep.rows.len(), 3, "two patterns and the type total");
        assert_eq!(rep.overall.latency_median, Some(5.0));
    }
}
