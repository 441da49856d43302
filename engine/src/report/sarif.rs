//! The report as SARIF 2.1.0, in the form GitHub code scanning accepts.
//!
//! Decisions:
//! - Every rule given is described in `tool.driver.rules`, matched or not, in the order
//!   given. A finding whose rule was not given gets a descriptor made from the finding
//!   itself (its filled-in message stands for the template), so every result has a
//!   `ruleIndex`.
//! - Rule ids are the plain rule ids, unless two playbooks share one: then each of the
//!   rules sharing it is named `playbook/rule-id`, so ids stay unique within the run.
//! - Columns are UTF-16 code units (`columnKind`), as in [`Finding::range`]; regions also
//!   give the byte offset and length.
//! - Artifact URIs are relative to `%SRCROOT%`, with `/` separators and everything but
//!   unreserved characters percent-encoded. Absolute paths become `file://` URIs.
//! - `partialFingerprints` carries [`Finding::fingerprint`] under `volatile/v1`.
//! - File errors are tool execution notifications of one successful invocation: a file
//!   that could not be read does not make the scan of the others fail.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Write;

use serde_json::{Value, json};

use super::{Report, RuleMeta};
use crate::finding::{ByteRange, FileError, Finding, Severity};

/// Where the `$schema` of the output points.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The tool's home page, as `tool.driver.informationUri`: the package's `repository`.
const INFORMATION_URI: &str = env!("CARGO_PKG_REPOSITORY");

/// The key of our fingerprint in `partialFingerprints`.
const FINGERPRINT_KEY: &str = "volatile/v1";

/// The base that relative artifact URIs are resolved against.
const SRCROOT: &str = "%SRCROOT%";

/// Builds the SARIF log of `report`, describing every rule in `rules`.
pub fn to_sarif(report: &Report, rules: &[RuleMeta], tool_version: &str) -> Value {
    let catalog = RuleCatalog::new(rules, &report.findings);
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| result(finding, &catalog))
        .collect();
    let mut invocation = json!({ "executionSuccessful": true });
    if !report.errors.is_empty() {
        let notifications: Vec<Value> = report.errors.iter().map(notification).collect();
        invocation["toolExecutionNotifications"] = Value::Array(notifications);
    }
    let mut driver = json!({ "name": "volatile", "version": tool_version });
    if !INFORMATION_URI.is_empty() {
        driver["informationUri"] = json!(INFORMATION_URI);
    }
    driver["rules"] = Value::Array(catalog.descriptors());
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver },
            "invocations": [invocation],
            "results": results,
            "columnKind": "utf16CodeUnits",
        }]
    })
}

/// Writes the SARIF log of `report`, pretty-printed, followed by a newline.
pub fn write<W: Write>(
    report: &Report,
    rules: &[RuleMeta],
    tool_version: &str,
    mut writer: W,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut writer, &to_sarif(report, rules, tool_version))?;
    writer.write_all(b"\n")
}

/// The rules of a run: those given, then those only findings name, with unique SARIF ids.
struct RuleCatalog<'a> {
    rules: Vec<RuleMeta>,
    ids: Vec<String>,
    index: HashMap<(&'a str, &'a str), usize>,
}

impl<'a> RuleCatalog<'a> {
    fn new(given: &'a [RuleMeta], findings: &'a [Finding]) -> RuleCatalog<'a> {
        let mut rules: Vec<RuleMeta> = Vec::new();
        let mut index = HashMap::new();
        let mut add = |key: (&'a str, &'a str), make: &dyn Fn() -> RuleMeta| {
            if let Entry::Vacant(slot) = index.entry(key) {
                slot.insert(rules.len());
                rules.push(make());
            }
        };
        for rule in given {
            add((&rule.playbook, &rule.id), &|| rule.clone());
        }
        for finding in findings {
            add((&finding.playbook, &finding.rule_id), &|| rule_of(finding));
        }
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for rule in &rules {
            *uses.entry(rule.id.as_str()).or_default() += 1;
        }
        let ids = rules
            .iter()
            .map(|rule| match uses.get(rule.id.as_str()) {
                Some(&n) if n > 1 => format!("{}/{}", rule.playbook, rule.id),
                _ => rule.id.clone(),
            })
            .collect();
        RuleCatalog { rules, ids, index }
    }

    /// The SARIF id and index of a finding's rule.
    fn lookup(&self, finding: &Finding) -> (&str, usize) {
        let key = (finding.playbook.as_str(), finding.rule_id.as_str());
        // Every finding's rule was added in `new`; the fallback is never taken.
        let index = self.index.get(&key).copied().unwrap_or(0);
        (self.ids.get(index).map_or("", String::as_str), index)
    }

    fn descriptors(&self) -> Vec<Value> {
        self.rules
            .iter()
            .zip(&self.ids)
            .map(|(rule, id)| descriptor(rule, id))
            .collect()
    }
}

/// A rule description made from a finding whose rule was not described.
fn rule_of(finding: &Finding) -> RuleMeta {
    RuleMeta {
        id: finding.rule_id.clone(),
        playbook: finding.playbook.clone(),
        standard: finding.standard.clone(),
        severity: finding.severity,
        message: finding.message.clone(),
        note: finding.note.clone(),
        url: finding.url.clone(),
        languages: vec![finding.language],
        tags: Vec::new(),
    }
}

/// One `reportingDescriptor`.
fn descriptor(rule: &RuleMeta, id: &str) -> Value {
    let mut text = rule.message.clone();
    // Rule authors write messages and notes in markdown (backticks around code).
    let mut markdown = format!("**{}**", rule.message);
    if let Some(note) = &rule.note {
        text.push_str("\n\n");
        text.push_str(note);
        markdown.push_str("\n\n");
        markdown.push_str(note);
    }
    if let Some(url) = &rule.url {
        text.push_str(&format!("\n\nSee {url}"));
        markdown.push_str(&format!("\n\n[More information]({url})"));
    }
    let mut properties = json!({
        "tags": rule.tags,
        "precision": "high",
        "problem.severity": problem_severity(rule.severity),
        "volatile/playbook": rule.playbook,
    });
    if let Some(standard) = &rule.standard {
        properties["volatile/standard"] = json!(standard);
    }
    properties["volatile/languages"] = json!(rule.languages);
    let mut value = json!({
        "id": id,
        "name": rule.id,
        "shortDescription": { "text": rule.message },
        "fullDescription": { "text": rule.note.as_deref().unwrap_or(&rule.message) },
        "help": { "text": text, "markdown": markdown },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": properties,
    });
    if let Some(url) = &rule.url {
        value["helpUri"] = json!(url);
    }
    value
}

/// One `result`.
fn result(finding: &Finding, catalog: &RuleCatalog<'_>) -> Value {
    let (rule_id, rule_index) = catalog.lookup(finding);
    let range = &finding.range;
    let mut region = json!({
        "startLine": range.start.line,
        "startColumn": range.start.column,
        "endLine": range.end.line,
        "endColumn": range.end.column,
    });
    add_bytes(&mut region, finding.byte_range);
    let mut value = json!({
        "ruleId": rule_id,
        "ruleIndex": rule_index,
        "level": level(finding.severity),
        "message": { "text": finding.message },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": artifact_location(&finding.path),
                "region": region,
            }
        }],
        "partialFingerprints": { FINGERPRINT_KEY: finding.fingerprint },
    });
    if let Some(fix) = &finding.fix {
        let mut deleted = json!({});
        add_bytes(&mut deleted, fix.byte_range);
        value["fixes"] = json!([{
            "artifactChanges": [{
                "artifactLocation": artifact_location(&finding.path),
                "replacements": [{
                    "deletedRegion": deleted,
                    "insertedContent": { "text": fix.text },
                }]
            }]
        }]);
    }
    value
}

/// Adds `byteOffset` and `byteLength` to a region.
fn add_bytes(region: &mut Value, bytes: ByteRange) {
    region["byteOffset"] = json!(bytes.start);
    region["byteLength"] = json!(bytes.end.saturating_sub(bytes.start));
}

/// One `notification` for a file that could not be (fully) analysed.
fn notification(error: &FileError) -> Value {
    json!({
        "level": "error",
        "message": { "text": format!("{} [{}]", error.message, error.code.as_str()) },
        "descriptor": { "id": error.code.as_str() },
        "locations": [{
            "physicalLocation": { "artifactLocation": artifact_location(&error.path) }
        }],
    })
}

/// The SARIF `level` of a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Hint => "note",
    }
}

/// GitHub's `problem.severity` of a severity.
fn problem_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Hint => "recommendation",
    }
}

/// An `artifactLocation` for a path as given: relative to `%SRCROOT%` unless absolute.
fn artifact_location(path: &str) -> Value {
    let slashed = path.replace('\\', "/");
    let bytes = slashed.as_bytes();
    let is_drive =
        bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'/';
    if is_drive {
        let (drive, rest) = slashed.split_at(2);
        json!({ "uri": format!("file:///{drive}{}", percent_encode(rest)) })
    } else if slashed.starts_with('/') {
        json!({ "uri": format!("file://{}", percent_encode(&slashed)) })
    } else {
        let mut relative = slashed.as_str();
        while let Some(rest) = relative.strip_prefix("./") {
            relative = rest;
        }
        json!({ "uri": percent_encode(relative), "uriBaseId": SRCROOT })
    }
}

/// Percent-encodes every byte but RFC 3986 unreserved characters and `/`.
fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &byte in path.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn sarif() -> Value {
        to_sarif(&fixtures::report(), &fixtures::rules(), "0.1.0")
    }

    #[test]
    fn snapshot() {
        insta::assert_json_snapshot!(sarif());
    }

    #[test]
    fn empty_report_is_still_a_valid_log() {
        let value = to_sarif(&Report::default(), &[], "0.1.0");
        assert_eq!(value["runs"][0]["results"], json!([]));
        assert_eq!(value["runs"][0]["tool"]["driver"]["rules"], json!([]));
        assert_valid(&value);
    }

    /// The SARIF 2.1.0 schema (OASIS), as shipped by the serde-sarif crate.
    const SCHEMA: &str = include_str!("../../tests/data/sarif-schema-2.1.0.json");

    fn assert_valid(value: &Value) {
        let schema: Value = match serde_json::from_str(SCHEMA) {
            Ok(schema) => schema,
            Err(err) => panic!("schema: {err}"),
        };
        let validator = match jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
        {
            Ok(validator) => validator,
            Err(err) => panic!("compile schema: {err}"),
        };
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|err| format!("{} at {}", err, err.instance_path()))
            .collect();
        assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n"));
    }

    #[test]
    fn validates_against_the_sarif_schema() {
        assert_valid(&sarif());
    }

    #[test]
    fn schema_rejects_a_broken_log() {
        let mut value = sarif();
        value["runs"][0]["results"][0]["level"] = json!("fatal");
        let Ok(schema) = serde_json::from_str::<Value>(SCHEMA) else {
            panic!("schema");
        };
        let Ok(validator) = jsonschema::validator_for(&schema) else {
            panic!("compile schema");
        };
        assert!(!validator.is_valid(&value));
    }

    #[test]
    fn deserialises_as_serde_sarif() {
        let value = sarif();
        if let Err(err) = serde_json::from_value::<serde_sarif::sarif::Sarif>(value) {
            panic!("serde-sarif rejects it: {err}");
        }
    }

    #[test]
    fn shared_rule_ids_are_prefixed_by_playbook() {
        let value = sarif();
        let rules = &value["runs"][0]["tool"]["driver"]["rules"];
        let ids: Vec<&str> = rules
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|rule| rule["id"].as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "acme/no-eval",
                "no-system",
                "style/no-eval",
                "ascii-identifiers",
                "no-print"
            ]
        );
    }

    #[test]
    fn every_result_points_at_its_rule() {
        let value = sarif();
        let run = &value["runs"][0];
        let rules = &run["tool"]["driver"]["rules"];
        let Some(results) = run["results"].as_array() else {
            panic!("no results");
        };
        assert_eq!(results.len(), fixtures::report().findings.len());
        for (result, finding) in results.iter().zip(&fixtures::report().findings) {
            let Some(index) = result["ruleIndex"].as_u64() else {
                panic!("no ruleIndex");
            };
            let rule = &rules[usize::try_from(index).unwrap_or(usize::MAX)];
            assert_eq!(result["ruleId"], rule["id"]);
            assert_eq!(rule["name"], json!(finding.rule_id));
            assert_eq!(
                rule["properties"]["volatile/playbook"],
                json!(finding.playbook)
            );
        }
    }

    #[test]
    fn levels() {
        assert_eq!(level(Severity::Error), "error");
        assert_eq!(level(Severity::Warning), "warning");
        assert_eq!(level(Severity::Info), "note");
        assert_eq!(level(Severity::Hint), "note");
    }

    #[test]
    fn artifact_uris() {
        assert_eq!(
            artifact_location("src/a b/ü.js"),
            json!({ "uri": "src/a%20b/%C3%BC.js", "uriBaseId": "%SRCROOT%" })
        );
        assert_eq!(
            artifact_location("./src\\win.ts"),
            json!({ "uri": "src/win.ts", "uriBaseId": "%SRCROOT%" })
        );
        assert_eq!(
            artifact_location("a:b#c?d%e.py"),
            json!({ "uri": "a%3Ab%23c%3Fd%25e.py", "uriBaseId": "%SRCROOT%" })
        );
        assert_eq!(
            artifact_location("/home/me/x y.py"),
            json!({ "uri": "file:///home/me/x%20y.py" })
        );
        assert_eq!(
            artifact_location("C:\\work\\x.py"),
            json!({ "uri": "file:///C:/work/x.py" })
        );
    }

    #[test]
    fn fixes_replace_bytes() {
        let value = sarif();
        let Some(results) = value["runs"][0]["results"].as_array() else {
            panic!("no results");
        };
        let with_fix: Vec<&Value> = results
            .iter()
            .filter(|r| r.get("fixes").is_some())
            .collect();
        assert_eq!(with_fix.len(), 1);
        let replacement = &with_fix[0]["fixes"][0]["artifactChanges"][0]["replacements"][0];
        assert_eq!(replacement["insertedContent"]["text"], "JSON.parse(input)");
        assert_eq!(replacement["deletedRegion"]["byteLength"], 11);
    }

    #[test]
    fn file_errors_are_notifications() {
        let value = sarif();
        let invocation = &value["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], true);
        let Some(notes) = invocation["toolExecutionNotifications"].as_array() else {
            panic!("no notifications");
        };
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[1]["descriptor"]["id"], "not_utf8");
        assert_eq!(
            notes[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "bin/blob.js"
        );
    }
}
