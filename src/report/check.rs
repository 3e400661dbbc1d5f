//! `leakdiff check` outputs: text, Markdown (a pull-request comment), JUnit XML, SARIF 2.1.0 and
//! `leakdiff.check/v1` JSON.

use std::io::{self, Write};

use crate::check::{CheckResult, Violation};

fn value(v: &Violation) -> String {
    if v.unit == "bytes" {
        crate::units::human(v.value as i64, "bytes")
    } else {
        format!("{}", v.value)
    }
}

/// Terminal text.
pub fn write_check_text<W: Write>(r: &CheckResult, out: W) -> io::Result<()> {
    let mut out = crate::units::TermSafe(out);
    writeln!(
        out,
        "leakdiff check: {} — {} ({} checked, {} over a limit, {} in the baseline, {} ignored by rules)",
        if r.failed() { "FAIL" } else { "PASS" },
        r.subject,
        r.checked,
        r.violations.len(),
        r.suppressed.len(),
        r.ignored
    )?;
    for v in &r.violations {
        writeln!(
            out,
            "FAIL  {:<9} {}: {} [{}]",
            v.kind, v.key, v.reason, v.rule
        )?;
    }
    for v in &r.suppressed {
        writeln!(
            out,
            "known {:<9} {}: {} (baseline `leak:{}`)",
            v.kind,
            v.key,
            v.reason,
            v.suppressed_by.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

fn md(s: &str) -> String {
    crate::report::flamegraph::escape(s)
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('\n', " ")
}

/// GitHub-flavoured Markdown for a pull-request comment (symbol names escaped: they are data).
pub fn write_check_markdown<W: Write>(r: &CheckResult, mut out: W) -> io::Result<()> {
    writeln!(
        out,
        "### leakdiff check: {}\n",
        if r.failed() { "**failed**" } else { "passed" }
    )?;
    writeln!(
        out,
        "{}: {} checked, {} over a limit, {} known (baseline), {} ignored.\n",
        md(&r.subject),
        r.checked,
        r.violations.len(),
        r.suppressed.len(),
        r.ignored
    )?;
    if r.violations.is_empty() && r.suppressed.is_empty() {
        return Ok(());
    }
    writeln!(out, "| | kind | key | value | why | rule |")?;
    writeln!(out, "|---|---|---|---:|---|---|")?;
    for (v, mark) in r
        .violations
        .iter()
        .map(|v| (v, "❌"))
        .chain(r.suppressed.iter().map(|v| (v, "⚪ known")))
    {
        writeln!(
            out,
            "| {mark} | {} | <code>{}</code> | {} | {} | {} |",
            v.kind,
            md(&v.key),
            value(v),
            md(&v.reason),
            md(&v.rule)
        )?;
    }
    Ok(())
}

use crate::report::flamegraph::escape as xml;

/// JUnit XML: one test case per finding over a limit (failed, or skipped when in the baseline),
/// and one for everything else (passed).
pub fn write_check_junit<W: Write>(r: &CheckResult, mut out: W) -> io::Result<()> {
    let tests = r.violations.len() + r.suppressed.len() + 1;
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<testsuites name=\"leakdiff\" tests=\"{tests}\" failures=\"{}\" skipped=\"{}\">",
        r.violations.len(),
        r.suppressed.len()
    )?;
    writeln!(
        out,
        "  <testsuite name=\"leakdiff check\" tests=\"{tests}\" failures=\"{}\" skipped=\"{}\" errors=\"0\">",
        r.violations.len(),
        r.suppressed.len()
    )?;
    writeln!(
        out,
        "    <properties><property name=\"subject\" value=\"{}\"/></properties>",
        xml(&r.subject)
    )?;
    for v in &r.violations {
        writeln!(
            out,
            "    <testcase classname=\"leakdiff.{}\" name=\"{}\">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
            xml(&v.kind),
            xml(&v.key),
            xml(&v.reason),
            xml(&v.rule),
            xml(&format!("{}: {} ({})", v.key, v.reason, v.rule))
        )?;
    }
    for v in &r.suppressed {
        writeln!(
            out,
            "    <testcase classname=\"leakdiff.{}\" name=\"{}\">\n      <skipped message=\"in the baseline: leak:{}\"/>\n    </testcase>",
            xml(&v.kind),
            xml(&v.key),
            xml(v.suppressed_by.as_deref().unwrap_or(""))
        )?;
    }
    writeln!(
        out,
        "    <testcase classname=\"leakdiff\" name=\"{} other keys within their limits\"/>",
        r.checked
            .saturating_sub(r.violations.len() + r.suppressed.len() + r.ignored)
    )?;
    writeln!(out, "  </testsuite>\n</testsuites>")
}

/// SARIF 2.1.0: one result per finding over a limit; baseline ones carry an external
/// suppression. Locations are the leaf frame's file and line when the profile has them, and the
/// function as a logical location. Paths under one of `srcroots` (prefixes) are written relative
/// to it, against `%SRCROOT%`, so code scanning can place the alert on the line.
pub fn write_check_sarif<W: Write>(
    r: &CheckResult,
    srcroots: &[String],
    mut out: W,
) -> io::Result<()> {
    use serde_json::json;
    let result = |v: &Violation| {
        let mut loc = json!({
            "logicalLocations": [{ "fullyQualifiedName": v.key, "kind": "function" }]
        });
        if let Some(file) = &v.file {
            let mut phys = json!({ "artifactLocation": sarif_artifact(file, srcroots) });
            if let Some(line) = v.line {
                phys["region"] = json!({ "startLine": line });
            }
            loc["physicalLocation"] = phys;
        }
        let mut res = json!({
            "ruleId": if v.kind == "total" || r.mode == crate::check::Mode::Diff { "leakdiff/growth" } else { "leakdiff/leak-suspect" },
            "level": "error",
            "message": { "text": format!("{} ({}): {} [{}]", v.key, v.kind, v.reason, v.rule) },
            "locations": [loc],
            "properties": { "kind": v.kind, "value": v.value, "unit": v.unit },
        });
        if let Some(p) = &v.suppressed_by {
            res["suppressions"] =
                json!([{ "kind": "external", "justification": format!("baseline: leak:{p}") }]);
        }
        res
    };
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "leakdiff",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://crates.io/crates/leakdiff",
                "rules": [
                    { "id": "leakdiff/growth", "shortDescription": { "text": "Memory or goroutines grew between two snapshots beyond a leakdiff.toml limit" } },
                    { "id": "leakdiff/leak-suspect", "shortDescription": { "text": "A series of snapshots shows a leak pattern at or above the configured severity or rate" } }
                ]
            }},
            "results": r.violations.iter().chain(&r.suppressed).map(result).collect::<Vec<_>>(),
        }]
    });
    serde_json::to_writer_pretty(&mut out, &doc)?;
    writeln!(out)
}

/// A SARIF artifact location for a source path: relative to the first (longest) matching root
/// with `uriBaseId` `%SRCROOT%`, else a `file://` URI for an absolute path, else the path as is.
pub fn sarif_artifact(file: &str, srcroots: &[String]) -> serde_json::Value {
    let mut roots: Vec<&String> = srcroots.iter().filter(|r| !r.is_empty()).collect();
    roots.sort_by_key(|r| std::cmp::Reverse(r.len()));
    let encode = |s: &str| {
        let mut o = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                ' ' => o.push_str("%20"),
                '%' => o.push_str("%25"),
                '#' => o.push_str("%23"),
                '?' => o.push_str("%3F"),
                c if c.is_control() => {}
                c => o.push(c),
            }
        }
        o
    };
    for root in roots {
        let root = root.trim_end_matches('/');
        if let Some(rest) = file.strip_prefix(root).filter(|r| r.starts_with('/')) {
            return serde_json::json!({ "uri": encode(rest.trim_start_matches('/')), "uriBaseId": "%SRCROOT%" });
        }
    }
    if file.starts_with('/') {
        serde_json::json!({ "uri": format!("file://{}", encode(file)) })
    } else {
        serde_json::json!({ "uri": encode(file), "uriBaseId": "%SRCROOT%" })
    }
}

/// `leakdiff.check/v1` JSON.
pub fn write_check_json<W: Write>(r: &CheckResult, mut out: W) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, r)?;
    writeln!(out)
}
