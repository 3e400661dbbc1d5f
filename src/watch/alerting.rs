//! Where `watch`'s alerts go (a command, a webhook, Alertmanager's v2 API) and what is done once
//! when alerts fire for the first time (evidence fetched from the service, a command of the
//! user's), at most once per interval.

use std::io::Write;
use std::path::PathBuf;

use crate::check::alerts::{Alert, Status};

/// What is done once when alerts fire for the first time.
pub struct Actions {
    /// Where evidence folders go (`OUTPUT-evidence`); none: no evidence.
    pub evidence: Option<PathBuf>,
    /// The net/http/pprof folder evidence is fetched from.
    pub url: Option<crate::fetch::Url>,
    /// Headers of every request.
    pub headers: Vec<(String, String)>,
    /// `--on-alert`.
    pub on_alert: Option<String>,
    /// At most one gathering per this long (nanoseconds).
    pub every_ns: i64,
    /// When it last gathered.
    pub last: Option<i64>,
}

impl Actions {
    /// Whether anything is done on a first alert.
    pub fn any(&self) -> bool {
        self.evidence.is_some() || self.on_alert.is_some()
    }

    /// Acts on the alerts that fired for the first time this round, unless it acted less than
    /// `every` ago.
    pub fn act(&mut self, alerts: &[Alert], now: i64) {
        let first: Vec<&Alert> = alerts.iter().filter(|a| a.first).collect();
        if first.is_empty() || !self.any() {
            return;
        }
        if let Some(t) = self.last.filter(|t| now - t < self.every_ns) {
            eprintln!(
                "leakdiff: watch: {} new alert(s); evidence held back (gathered {} ago, --evidence-every)",
                first.len(),
                crate::units::format_duration_s((now - t) as f64 / 1e9)
            );
            return;
        }
        self.last = Some(now);
        let stamp = crate::units::rfc3339_utc(now).replace(':', "");
        let dir = match &self.evidence {
            Some(root) => root.join(&stamp),
            None => std::env::temp_dir().join(format!("leakdiff-alert-{stamp}")),
        };
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("leakdiff: watch: cannot create {}: {e}", dir.display());
            return;
        }
        let doc = serde_json::to_string_pretty(&first).unwrap_or_default();
        let _ = std::fs::write(dir.join("alerts.json"), &doc);
        if let (Some(_), Some(url)) = (&self.evidence, &self.url) {
            let g = crate::live::evidence::gather(
                url,
                &dir,
                &self.headers,
                std::time::Duration::from_secs(60),
            );
            for e in &g.errors {
                eprintln!("leakdiff: watch: evidence: {e}");
            }
            eprintln!(
                "leakdiff: watch: evidence for {} new alert(s) in {} ({} file(s))",
                first.len(),
                dir.display(),
                g.files.len()
            );
        }
        if let Some(cmd) = &self.on_alert {
            if let Err(e) = run_alert_cmd(cmd, doc.as_bytes(), Some(&dir)) {
                eprintln!("leakdiff: watch: --on-alert: {e}");
            }
        }
    }
}

/// Where alerts go.
pub struct Senders {
    /// The `service` of every alert.
    pub service: String,
    /// `--alert-cmd`.
    pub cmd: Option<String>,
    /// `--webhook`.
    pub webhook: Option<crate::fetch::Url>,
    /// Alertmanager's `api/v2/alerts`.
    pub alertmanager: Option<crate::fetch::Url>,
    /// Alertmanager forgets an alert not sent again by its `endsAt`: a few rounds from now.
    pub hold_ms: i64,
}

impl Senders {
    /// Whether any receiver is set.
    pub fn any(&self) -> bool {
        self.cmd.is_some() || self.webhook.is_some() || self.alertmanager.is_some()
    }

    /// Sends a round's alerts: to the command and the webhook those that fire for the first time
    /// or resolve; to Alertmanager every one (it wants firing alerts again before they expire).
    pub fn send(&self, alerts: &[Alert], now: i64) {
        let opts = crate::fetch::FetchOptions {
            timeout: std::time::Duration::from_secs(10),
            ..Default::default()
        };
        for a in alerts {
            if a.status == Status::Firing && !a.first {
                continue;
            }
            eprintln!(
                "leakdiff: watch: alert {} {} {}",
                if a.status == Status::Firing {
                    "firing:"
                } else {
                    "resolved:"
                },
                a.kind,
                crate::units::term_safe(&a.key)
            );
            let doc = serde_json::json!({ "service": self.service, "alert": a }).to_string();
            if let Some(cmd) = &self.cmd {
                if let Err(e) = run_alert_cmd(cmd, doc.as_bytes(), None) {
                    eprintln!("leakdiff: watch: --alert-cmd: {e}");
                }
            }
            if let Some(url) = &self.webhook {
                if let Err(e) = crate::fetch::post_json(url, doc.as_bytes(), &opts) {
                    eprintln!("leakdiff: watch: --webhook {url}: {e}");
                }
            }
        }
        if let Some(am) = &self.alertmanager {
            if alerts.is_empty() {
                return;
            }
            let body: Vec<serde_json::Value> = alerts
                .iter()
                .map(|a| alertmanager_alert(a, &self.service, now, self.hold_ms))
                .collect();
            let body = serde_json::Value::Array(body).to_string();
            if let Err(e) = crate::fetch::post_json(am, body.as_bytes(), &opts) {
                eprintln!("leakdiff: watch: --alertmanager {am}: {e}");
            }
        }
    }
}

/// Runs `cmd` under `sh -c` with `input` on its standard input; an error when it cannot run or
/// fails.
/// In `dir` when given, with it in $LEAKDIFF_EVIDENCE.
fn run_alert_cmd(cmd: &str, input: &[u8], dir: Option<&std::path::Path>) -> Result<(), String> {
    use std::process::{Command, Stdio};
    let mut c = Command::new("sh");
    c.arg("-c").arg(cmd).stdin(Stdio::piped());
    if let Some(d) = dir {
        c.current_dir(d).env("LEAKDIFF_EVIDENCE", d);
    }
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot run `sh -c {cmd}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{cmd}` exited with {status}"))
    }
}

/// One alert in Alertmanager's v2 form: labels that identify it (service, kind, key, severity),
/// annotations that explain it, `endsAt` now for a resolved one and a few rounds ahead for a
/// firing one.
fn alertmanager_alert(a: &Alert, service: &str, now: i64, hold_ms: i64) -> serde_json::Value {
    use crate::units::rfc3339_utc;
    let ends = match a.ended {
        Some(t) => t,
        None => now + hold_ms * 1_000_000,
    };
    let mut annotations = serde_json::json!({ "summary": a.reason });
    if let Some(r) = &a.rate {
        annotations["rate"] = r.clone().into();
    }
    if let Some(h) = a.hours_to_limit {
        annotations["time_to_limit"] = crate::units::format_duration_s(h * 3600.0).into();
    }
    serde_json::json!({
        "labels": {
            "alertname": "LeakSuspect",
            "service": service,
            "kind": a.kind,
            "key": a.key,
            "severity": a.severity.clone().unwrap_or_else(|| "none".into()),
        },
        "annotations": annotations,
        "startsAt": rfc3339_utc(a.since),
        "endsAt": rfc3339_utc(ends),
    })
}
