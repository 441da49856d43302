//! The result of an analysis and the ways of writing it out.
//!
//! One [`Report`] value is what every front end gets; each format is a function of it and
//! nothing else: [`json`] is its serde shape (what the HTTP API answers), [`sarif`] is
//! SARIF 2.1.0 for code scanning services, [`github`] is GitHub Actions annotations,
//! [`gitlab`] is a GitLab Code Quality report, [`checkstyle`] is Checkstyle XML, and
//! [`text`] is for people at a terminal.
//! Formats that describe rules (SARIF) take [`RuleMeta`]s alongside, since a finding
//! carries only what concerns its own match.

pub mod checkstyle;
pub mod github;
pub mod gitlab;
pub mod json;
pub mod sarif;
pub mod text;

use serde::{Deserialize, Serialize};
use volatile_grammars::Lang;

use crate::finding::{FileError, Finding, Severity, Stats};

/// Everything one analysis found: `{"findings": [...], "errors": [...], "stats": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The findings, in report order (see [`Finding::sort_key`]).
    pub findings: Vec<Finding>,
    /// Files that could not be (fully) analysed.
    pub errors: Vec<FileError>,
    /// Counts and durations.
    pub stats: Stats,
}

impl Report {
    /// Puts findings in report order and errors in path order, so that output does not
    /// depend on the order threads finished in.
    pub fn sort(&mut self) {
        // In place: a stable sort would allocate a scratch copy of every finding at the
        // scan's end. Ties of the report order are broken by every other field, so the
        // order is total and the output the same whatever order the threads finished in.
        self.findings
            .sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()).then_with(|| a.cmp(b)));
        self.errors
            .sort_by(|a, b| (&a.path, a.code.as_str()).cmp(&(&b.path, b.code.as_str())));
    }

    /// How many findings have the given severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count()
    }
}

/// What a report says about a rule, whether or not it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMeta {
    /// The rule's id, unique within its playbook.
    pub id: String,
    /// The id of the playbook the rule belongs to.
    pub playbook: String,
    /// The rule's standard: its directory inside the playbook (e.g. `security`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<String>,
    /// The rule's severity.
    pub severity: Severity,
    /// The message template, metavariables not filled in.
    pub message: String,
    /// Why it matters and how to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where to read more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The languages the rule applies to.
    #[serde(default)]
    pub languages: Vec<Lang>,
    /// Free-form labels (e.g. `security`, `cwe-95`).
    #[serde(default)]
    pub tags: Vec<String>,
}

impl RuleMeta {
    /// What a report says about a compiled rule; `None` for a rule that is off.
    pub fn of(rule: &crate::compile::CompiledRule) -> Option<RuleMeta> {
        Some(RuleMeta {
            id: rule.id.clone(),
            playbook: rule.playbook.to_string(),
            standard: rule.standard.clone(),
            severity: rule.severity?,
            message: rule.message.as_str().to_string(),
            note: rule.note.clone(),
            url: rule.url.clone(),
            languages: rule.languages.clone(),
            tags: rule.standard.iter().cloned().collect(),
        })
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Findings and rules shared by the format tests.

    use super::*;
    use crate::finding::{ByteRange, FileErrorCode, Fix};
    use crate::fingerprint::fingerprint;
    use crate::position::LineIndex;

    /// A JavaScript file with a tab, a non-ASCII line and an emoji.
    pub const APP_JS: &str = "function run(input) {\n\tconst naïve = \"中文 😀\"; eval(input);\n  return eval(\n    input +\n      \"x\"\n  );\n}\n";

    /// A CRLF Python file with a long multi-line call.
    pub const TOOL_PY: &str =
        "import os\r\nos.system(\r\n  'a'\r\n  'b'\r\n  'c'\r\n  'd'\r\n  'e'\r\n)\r\nprint(1)\r\n";

    /// What a writer wrote into memory, as UTF-8 text; panics on an error.
    pub fn written(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
        let mut out = Vec::new();
        if let Err(err) = write(&mut out) {
            panic!("write: {err}");
        }
        match String::from_utf8(out) {
            Ok(text) => text,
            Err(err) => panic!("not UTF-8: {err}"),
        }
    }

    /// The source of a fixture path, as the text report asks for it.
    pub fn source(path: &str) -> Option<String> {
        match path {
            "src/app.js" => Some(APP_JS.to_string()),
            "tools/my tool.py" => Some(TOOL_PY.to_string()),
            _ => None,
        }
    }

    /// A finding of `rule_id` over the first occurrence (from `from`) of `needle`.
    #[allow(clippy::too_many_arguments)]
    pub fn finding(
        playbook: &str,
        rule_id: &str,
        severity: Severity,
        path: &str,
        language: Lang,
        source: &str,
        needle: &str,
        from: usize,
    ) -> Finding {
        let Some(offset) = source[from..].find(needle) else {
            panic!("{needle:?} is not in the fixture");
        };
        let start = from + offset;
        let byte_range = ByteRange {
            start,
            end: start + needle.len(),
        };
        Finding {
            rule_id: rule_id.to_string(),
            playbook: playbook.to_string(),
            standard: Some("security".to_string()),
            severity,
            message: format!("Do not call `{}`", needle.lines().next().unwrap_or("")),
            note: None,
            url: None,
            path: path.to_string(),
            language,
            range: LineIndex::new(source).range(byte_range),
            byte_range,
            fix: None,
            fingerprint: fingerprint(playbook, rule_id, path, needle),
        }
    }

    /// A report over both fixture files, a file without source, and two file errors.
    pub fn report() -> Report {
        let mut eval = finding(
            "acme",
            "no-eval",
            Severity::Error,
            "src/app.js",
            Lang::JavaScript,
            APP_JS,
            "eval(input)",
            0,
        );
        eval.note = Some("eval runs arbitrary code.\nPass data, not code.".to_string());
        eval.url = Some("https://example.invalid/rules/no-eval".to_string());
        eval.fix = Some(Fix {
            text: "JSON.parse(input)".to_string(),
            byte_range: eval.byte_range,
        });
        let multi = finding(
            "acme",
            "no-eval",
            Severity::Error,
            "src/app.js",
            Lang::JavaScript,
            APP_JS,
            "eval(\n    input +\n      \"x\"\n  )",
            0,
        );
        let naive = finding(
            "style",
            "ascii-identifiers",
            Severity::Info,
            "src/app.js",
            Lang::JavaScript,
            APP_JS,
            "naïve",
            0,
        );
        let system = finding(
            "acme",
            "no-system",
            Severity::Warning,
            "tools/my tool.py",
            Lang::Python,
            TOOL_PY,
            "os.system(\r\n  'a'\r\n  'b'\r\n  'c'\r\n  'd'\r\n  'e'\r\n)",
            0,
        );
        let print = finding(
            "style",
            "no-print",
            Severity::Hint,
            "tools/my tool.py",
            Lang::Python,
            TOOL_PY,
            "print",
            0,
        );
        let mut gone = finding(
            "style",
            "no-eval",
            Severity::Warning,
            "gone/deleted.js",
            Lang::JavaScript,
            APP_JS,
            "eval(input)",
            0,
        );
        gone.note = Some("This source is not available.".to_string());
        let mut report = Report {
            findings: vec![eval, multi, naive, system, print, gone],
            errors: vec![
                FileError {
                    path: "bin/blob.js".to_string(),
                    code: FileErrorCode::NotUtf8,
                    message: "the file is not valid UTF-8 (invalid byte at offset 12)".to_string(),
                },
                FileError {
                    path: "C:\\work\\huge file.ts".to_string(),
                    code: FileErrorCode::TooLarge,
                    message: "the file is larger than the 1 MiB limit".to_string(),
                },
            ],
            stats: Stats {
                files: 5,
                bytes: 1234,
                findings: 6,
                parse_ms: 3,
                match_ms: 2,
                total_ms: 7,
            },
        };
        report.sort();
        report
    }

    /// Rule descriptions for the fixture report; two playbooks share `no-eval`, and
    /// `no-print` is missing (a finding whose rule was not described).
    pub fn rules() -> Vec<RuleMeta> {
        vec![
            RuleMeta {
                id: "no-eval".to_string(),
                playbook: "acme".to_string(),
                standard: Some("security".to_string()),
                severity: Severity::Error,
                message: "Do not call `$FN`".to_string(),
                note: Some("eval runs arbitrary code.\nPass data, not code.".to_string()),
                url: Some("https://example.invalid/rules/no-eval".to_string()),
                languages: vec![Lang::JavaScript, Lang::TypeScript],
                tags: vec!["security".to_string(), "cwe-95".to_string()],
            },
            RuleMeta {
                id: "no-system".to_string(),
                playbook: "acme".to_string(),
                standard: None,
                severity: Severity::Warning,
                message: "Do not call `os.system`".to_string(),
                note: None,
                url: None,
                languages: vec![Lang::Python],
                tags: vec![],
            },
            RuleMeta {
                id: "no-eval".to_string(),
                playbook: "style".to_string(),
                standard: None,
                severity: Severity::Warning,
                message: "Avoid `eval` *entirely*".to_string(),
                note: None,
                url: None,
                languages: vec![Lang::JavaScript],
                tags: vec![],
            },
            RuleMeta {
                id: "ascii-identifiers".to_string(),
                playbook: "style".to_string(),
                standard: Some("naming".to_string()),
                severity: Severity::Info,
                message: "Identifiers should be ASCII".to_string(),
                note: None,
                url: None,
                languages: vec![Lang::JavaScript],
                tags: vec!["naming".to_string()],
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_has_three_keys() {
        let Ok(value) = serde_json::to_value(Report::default()) else {
            panic!("serialise");
        };
        assert_eq!(
            value,
            serde_json::json!({
                "findings": [],
                "errors": [],
                "stats": {
                    "files": 0, "bytes": 0, "findings": 0,
                    "parse_ms": 0, "match_ms": 0, "total_ms": 0
                }
            })
        );
    }

    #[test]
    fn round_trips_through_json() {
        let report = fixtures::report();
        let Ok(text) = serde_json::to_string(&report) else {
            panic!("serialise");
        };
        let back: Report = match serde_json::from_str(&text) {
            Ok(back) => back,
            Err(err) => panic!("deserialise: {err}"),
        };
        assert_eq!(back, report);
    }

    #[test]
    fn sort_orders_by_path_then_position() {
        let mut report = fixtures::report();
        report.findings.reverse();
        report.errors.reverse();
        report.sort();
        assert_eq!(report, fixtures::report());
        let paths: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "gone/deleted.js",
                "src/app.js",
                "src/app.js",
                "src/app.js",
                "tools/my tool.py",
                "tools/my tool.py"
            ]
        );
        assert_eq!(report.errors[0].path, "C:\\work\\huge file.ts");
    }

    #[test]
    fn counts_by_severity() {
        let report = fixtures::report();
        assert_eq!(report.count(Severity::Error), 2);
        assert_eq!(report.count(Severity::Warning), 2);
        assert_eq!(report.count(Severity::Info), 1);
        assert_eq!(report.count(Severity::Hint), 1);
    }

    #[test]
    fn rule_meta_round_trips() {
        let rules = fixtures::rules();
        let Ok(text) = serde_json::to_string(&rules) else {
            panic!("serialise");
        };
        let back: Vec<RuleMeta> = match serde_json::from_str(&text) {
            Ok(back) => back,
            Err(err) => panic!("deserialise: {err}"),
        };
        assert_eq!(back, rules);
    }
}
