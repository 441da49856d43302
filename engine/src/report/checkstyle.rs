//! The report as Checkstyle XML, which Jenkins (warnings-ng), reviewdog, SonarQube and
//! many CI systems import.
//!
//! One `<file>` per path in report order, one `<error>` per finding with `line`,
//! `column` (1-based, UTF-16 code units), `severity` (`error`, `warning`, or `info` for
//! `info` and `hint`), `message` and `source` (`volatile.<playbook>.<rule id>`). A file
//! that could not be analysed gets one `<error>` at line 0, with `source`
//! `volatile.file-error.<code>`. Text is escaped for XML attributes; characters XML 1.0
//! cannot carry at all (most control characters) become U+FFFD.

use std::collections::BTreeMap;
use std::io::Write;

use super::Report;
use crate::finding::{FileError, Finding, Severity};

/// The checkstyle format version written in the root element.
const VERSION: &str = "4.3";

/// Writes the Checkstyle XML document.
pub fn write<W: Write>(report: &Report, mut writer: W) -> std::io::Result<()> {
    writeln!(writer, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(writer, "<checkstyle version=\"{VERSION}\">")?;
    // Findings and errors grouped by path, paths sorted; findings keep report order.
    let mut files: BTreeMap<&str, (Vec<&Finding>, Vec<&FileError>)> = BTreeMap::new();
    for finding in &report.findings {
        files.entry(&finding.path).or_default().0.push(finding);
    }
    for error in &report.errors {
        files.entry(&error.path).or_default().1.push(error);
    }
    for (path, (findings, errors)) in files {
        writeln!(writer, "  <file name=\"{}\">", escape(path))?;
        for finding in findings {
            let severity = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info | Severity::Hint => "info",
            };
            writeln!(
                writer,
                "    <error line=\"{}\" column=\"{}\" severity=\"{severity}\" message=\"{}\" source=\"volatile.{}.{}\"/>",
                finding.range.start.line,
                finding.range.start.column,
                escape(&finding.message),
                escape(&finding.playbook),
                escape(&finding.rule_id),
            )?;
        }
        for error in errors {
            writeln!(
                writer,
                "    <error line=\"0\" severity=\"error\" message=\"{}\" source=\"volatile.file-error.{}\"/>",
                escape(&format!("not analysed: {}", error.message)),
                error.code.as_str(),
            )?;
        }
        writeln!(writer, "  </file>")?;
    }
    writeln!(writer, "</checkstyle>")
}

/// Escapes text for a double-quoted XML attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Attribute values normalise raw whitespace; references keep it.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 allows `c` in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn render(report: &Report) -> String {
        fixtures::written(|out| write(report, out))
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&fixtures::report()));
    }

    #[test]
    fn is_well_formed_xml_with_every_finding() {
        let mut report = fixtures::report();
        if let Some(f) = report.findings.first_mut() {
            f.message = "a <b> & \"c\" 'd'\n\u{1}\u{7}\ttab 😀".to_string();
        }
        let text = render(&report);
        let doc = match roxmltree::Document::parse(&text) {
            Ok(doc) => doc,
            Err(err) => panic!("not XML: {err}\n{text}"),
        };
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "checkstyle");
        let errors: Vec<_> = root
            .descendants()
            .filter(|n| n.has_tag_name("error"))
            .collect();
        assert_eq!(errors.len(), report.findings.len() + report.errors.len());
        // The message survives the round trip, control characters replaced.
        assert!(errors.iter().any(|e| {
            e.attribute("message") == Some("a <b> & \"c\" 'd'\n\u{FFFD}\u{FFFD}\ttab 😀")
        }));
        let files: Vec<_> = root
            .children()
            .filter(|n| n.has_tag_name("file"))
            .filter_map(|n| n.attribute("name"))
            .collect();
        let mut sorted = files.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(files, sorted, "one <file> per path, in order");
    }
}
