//! The report as GitHub Actions workflow commands: one `::error`, `::warning` or
//! `::notice` line per finding, which GitHub shows as annotations on the pull request's
//! diff and the run's summary.
//!
//! Severities map `error` → `error`, `warning` → `warning`, `info` and `hint` → `notice`.
//! Lines and columns are 1-based, as in the report. A file that could not be analysed is
//! a `warning` on the file without a line. Values are escaped as the Actions runner
//! expects: `%`, CR and LF everywhere, and `:` and `,` inside properties too.

use std::io::Write;

use super::Report;
use crate::finding::{FileError, Finding, Severity};

/// Writes one workflow command per finding, then one per file error.
pub fn write<W: Write>(report: &Report, mut writer: W) -> std::io::Result<()> {
    for finding in &report.findings {
        writeln!(writer, "{}", annotation(finding))?;
    }
    for error in &report.errors {
        writeln!(writer, "{}", file_error(error))?;
    }
    Ok(())
}

fn annotation(finding: &Finding) -> String {
    let command = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Hint => "notice",
    };
    let range = finding.range;
    // GitHub reads `endColumn` as inclusive; the report's end is exclusive.
    let mut properties = format!(
        "file={},line={},endLine={}",
        property(&finding.path),
        range.start.line,
        range.end.line
    );
    if range.start.line == range.end.line {
        let end = range.end.column.saturating_sub(1).max(range.start.column);
        properties.push_str(&format!(",col={},endColumn={end}", range.start.column));
    } else {
        properties.push_str(&format!(",col={}", range.start.column));
    }
    let title = format!("{} ({})", finding.rule_id, finding.playbook);
    properties.push_str(&format!(",title={}", property(&title)));
    let mut message = finding.message.clone();
    if let Some(url) = &finding.url {
        message.push_str(&format!("\n{url}"));
    }
    format!("::{command} {properties}::{}", data(&message))
}

fn file_error(error: &FileError) -> String {
    let title = format!("volatile: {}", error.code.as_str());
    format!(
        "::warning file={},title={}::{}",
        property(&error.path),
        property(&title),
        data(&format!("not analysed: {}", error.message))
    )
}

/// Escapes a command's message.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
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
    fn one_command_per_line_whatever_the_text() {
        let text = render(&fixtures::report());
        let report = fixtures::report();
        assert_eq!(
            text.lines().count(),
            report.findings.len() + report.errors.len()
        );
        for line in text.lines() {
            assert!(
                ["::error ", "::warning ", "::notice "]
                    .iter()
                    .any(|p| line.starts_with(p)),
                "{line}"
            );
            // The properties end at the first `::` after the command.
            let Some((properties, _)) = line[2..].split_once("::") else {
                panic!("no message separator: {line}");
            };
            for pair in properties.split_once(' ').map_or("", |p| p.1).split(',') {
                assert!(pair.contains('='), "{pair} in {line}");
            }
        }
    }

    #[test]
    fn escapes_properties_and_data() {
        assert_eq!(property("C:\\a,b%\r\n"), "C%3A\\a%2Cb%25%0D%0A");
        assert_eq!(data("a: b, 100%\nnext"), "a: b, 100%25%0Anext");
    }

    #[test]
    fn severities_and_columns() {
        let report = fixtures::report();
        let Some(eval) = report
            .findings
            .iter()
            .find(|f| f.rule_id == "no-eval" && f.path == "src/app.js" && f.range.start.line == 2)
        else {
            panic!("fixture finding");
        };
        let line = annotation(eval);
        let want = format!(
            "::error file=src/app.js,line=2,endLine=2,col={},endColumn={},title=no-eval (acme)::",
            eval.range.start.column,
            eval.range.end.column - 1
        );
        assert!(line.starts_with(&want), "{line}\n{want}");
        let Some(print) = report.findings.iter().find(|f| f.rule_id == "no-print") else {
            panic!("fixture finding");
        };
        assert!(annotation(print).starts_with("::notice file=tools/my tool.py,"));
    }
}
