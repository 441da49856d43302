//! The report as a GitLab Code Quality report: the JSON array a CI job uploads as
//! `artifacts:reports:codequality`, shown in merge request widgets and diffs.
//!
//! Each issue has `description`, `check_name` (the rule id), `fingerprint`, `severity`
//! and `location.path` / `location.lines.begin`, the fields GitLab requires, plus
//! `location.lines.end`, `categories` and `content.body` (the rule's note and link).
//! Severities map `hint` → `info`, `info` → `minor`, `warning` → `major`, `error` →
//! `critical`.
//!
//! GitLab tells issues apart by fingerprint, so two findings of one rule on the same
//! code in one file (same [`Finding::fingerprint`]) get their occurrence number mixed in.
//! A file that could not be analysed is an `info` issue on its first line, with
//! `check_name` `volatile/<error code>`.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Report;
use crate::finding::{FileError, Finding, Severity};

/// Builds the Code Quality issues of `report`.
pub fn to_gitlab(report: &Report) -> Value {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut issues: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let n = seen.entry(finding.fingerprint.as_str()).or_default();
            *n += 1;
            issue(finding, *n)
        })
        .collect();
    issues.extend(report.errors.iter().map(file_issue));
    Value::Array(issues)
}

/// Writes the issues, pretty-printed, followed by a newline.
pub fn write<W: Write>(report: &Report, mut writer: W) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut writer, &to_gitlab(report))?;
    writer.write_all(b"\n")
}

fn issue(finding: &Finding, occurrence: u32) -> Value {
    let severity = match finding.severity {
        Severity::Hint => "info",
        Severity::Info => "minor",
        Severity::Warning => "major",
        Severity::Error => "critical",
    };
    let mut body = String::new();
    if let Some(note) = &finding.note {
        body.push_str(note);
    }
    if let Some(url) = &finding.url {
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(url);
    }
    let mut issue = json!({
        "type": "issue",
        "description": finding.message,
        "check_name": finding.rule_id,
        "fingerprint": unique(&finding.fingerprint, occurrence),
        "severity": severity,
        "categories": [category(finding)],
        "location": {
            "path": finding.path,
            "lines": { "begin": finding.range.start.line, "end": finding.range.end.line },
        },
    });
    if !body.is_empty() {
        issue["content"] = json!({ "body": body });
    }
    issue
}

fn file_issue(error: &FileError) -> Value {
    let check = format!("volatile/{}", error.code.as_str());
    json!({
        "type": "issue",
        "description": format!("not analysed: {}", error.message),
        "check_name": check,
        "fingerprint": unique(&format!("{check}\u{0}{}", error.path), 1),
        "severity": "info",
        "categories": ["Bug Risk"],
        "location": { "path": error.path, "lines": { "begin": 1 } },
    })
}

/// A Code Climate category: security rules are `Security`, the rest `Style`.
fn category(finding: &Finding) -> &'static str {
    match finding.standard.as_deref() {
        Some("security") => "Security",
        Some("correctness" | "bugs" | "reliability") => "Bug Risk",
        Some("performance") => "Performance",
        _ => "Style",
    }
}

/// The fingerprint of the `occurrence`-th finding sharing `fingerprint` (1: unchanged).
fn unique(fingerprint: &str, occurrence: u32) -> String {
    if occurrence == 1 {
        return fingerprint.to_string();
    }
    crate::fingerprint::hex_prefix(&Sha256::digest(format!("{fingerprint}#{occurrence}")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::report::fixtures;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(fixtures::written(|out| write(&fixtures::report(), out)));
    }

    #[test]
    fn every_issue_has_the_required_fields_and_a_unique_fingerprint() {
        let mut report = fixtures::report();
        // The same finding twice, as two calls on identical code would give.
        let Some(first) = report.findings.first().cloned() else {
            panic!("fixture findings");
        };
        report.findings.push(first);
        let Value::Array(issues) = to_gitlab(&report) else {
            panic!("not an array");
        };
        assert_eq!(issues.len(), report.findings.len() + report.errors.len());
        let mut fingerprints = HashSet::new();
        for issue in &issues {
            for key in ["description", "check_name", "fingerprint", "severity"] {
                assert!(issue[key].is_string(), "{key} in {issue}");
            }
            assert!(issue["location"]["path"].is_string(), "{issue}");
            assert!(
                issue["location"]["lines"]["begin"]
                    .as_u64()
                    .is_some_and(|l| l >= 1)
            );
            let severity = issue["severity"].as_str().unwrap_or("");
            assert!(
                ["info", "minor", "major", "critical", "blocker"].contains(&severity),
                "{severity}"
            );
            assert!(
                fingerprints.insert(issue["fingerprint"].as_str().unwrap_or("").to_string()),
                "duplicate fingerprint in {issue}"
            );
        }
    }
}
