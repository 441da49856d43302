//! The report for people at a terminal, in the style of compiler diagnostics.
//!
//! ```text
//! error[no-eval]: Do not call `eval`
//!  --> src/app.js:2:18
//!   |
//! 2 |     const x = 1; eval(input);
//!   |                  ^^^^^^^^^^^
//!   = note: eval runs arbitrary code.
//!   = help: fix available
//! ```
//!
//! The location line gives the finding's own line and UTF-16 column (what editors jump
//! to); the code frame is drawn from the file's current text, in characters, so a wide
//! character gets one caret and a tab is shown as a tab (the caret line repeats it, so
//! carets stay aligned). A finding spanning more than [`MAX_FRAME_LINES`] lines shows its
//! first two and last two lines around a `...`. Control characters and bidirectional
//! overrides in the source or the messages are shown as `�`, so a file cannot drive the
//! terminal.

use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::Report;
use crate::finding::{FileError, Finding, Severity};
use crate::position::LineIndex;

/// The most source lines a code frame shows (counting the `...`).
pub const MAX_FRAME_LINES: usize = 5;

/// Writes `report`: each finding with a code frame, then the file errors, then a summary.
///
/// `sources` gives the current text of a path; when it gives `None`, a finding is shown
/// without a code frame. It is asked once per run of consecutive findings of one path.
pub fn write<W: Write>(
    report: &Report,
    sources: &dyn Fn(&str) -> Option<String>,
    color: bool,
    mut writer: W,
) -> std::io::Result<()> {
    let paint = Paint { color };
    for group in report.findings.chunk_by(|a, b| a.path == b.path) {
        let source = group.first().and_then(|finding| sources(&finding.path));
        let index = source.as_deref().map(LineIndex::new);
        for finding in group {
            write_finding(&mut writer, &paint, finding, index.as_ref())?;
            writeln!(writer)?;
        }
    }
    for error in &report.errors {
        write_error(&mut writer, &paint, error)?;
    }
    if !report.errors.is_empty() {
        writeln!(writer)?;
    }
    writeln!(writer, "{}", paint.bold(&summary(report)))
}

/// The closing line: `N findings (E errors, W warnings, I info, H hints) in F files`.
pub fn summary(report: &Report) -> String {
    let mut line = format!(
        "{} ({}, {}, {} info, {}) in {}",
        plural(report.findings.len(), "finding"),
        plural(report.count(Severity::Error), "error"),
        plural(report.count(Severity::Warning), "warning"),
        report.count(Severity::Info),
        plural(report.count(Severity::Hint), "hint"),
        plural(
            usize::try_from(report.stats.files).unwrap_or(usize::MAX),
            "file"
        ),
    );
    if !report.errors.is_empty() {
        line.push_str(&format!(", {}", plural(report.errors.len(), "file error")));
    }
    line
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn write_finding<W: Write>(
    w: &mut W,
    paint: &Paint,
    finding: &Finding,
    index: Option<&LineIndex<'_>>,
) -> std::io::Result<()> {
    let frame = index.map(|index| Frame::new(index, finding));
    let width = frame.as_ref().map_or(1, Frame::gutter_width);
    let pad = " ".repeat(width);
    let style = severity_style(finding.severity);
    writeln!(
        w,
        "{}: {}",
        paint.apply(
            style,
            &format!("{}[{}]", finding.severity, clean_line(&finding.rule_id))
        ),
        paint.bold(&clean_line(&finding.message))
    )?;
    writeln!(
        w,
        "{pad}{} {}:{}:{}",
        paint.gutter("-->"),
        clean_line(&finding.path),
        finding.range.start.line,
        finding.range.start.column
    )?;
    if let Some(frame) = &frame {
        frame.write(w, paint, style, width)?;
    }
    if let Some(note) = &finding.note {
        let mut lines = note.lines();
        let first = lines.next().unwrap_or("");
        writeln!(w, "{pad} {} note: {}", paint.gutter("="), clean_line(first))?;
        for line in lines {
            writeln!(w, "{pad}         {}", clean_line(line))?;
        }
    }
    if finding.fix.is_some() {
        writeln!(w, "{pad} {} help: fix available", paint.gutter("="))?;
    }
    Ok(())
}

fn write_error<W: Write>(w: &mut W, paint: &Paint, error: &FileError) -> std::io::Result<()> {
    writeln!(
        w,
        "{}: {}: {} [{}]",
        paint.apply(severity_style(Severity::Error), "error"),
        clean_line(&error.path),
        clean_line(&error.message),
        error.code.as_str()
    )
}

/// The source lines of one finding, with the character columns to underline.
struct Frame {
    /// The lines shown; `None` stands for the `...` between the first and last lines.
    rows: Vec<Option<Row>>,
}

/// One source line of a frame.
struct Row {
    /// 1-based line number.
    line: usize,
    /// The line's characters, made safe to print.
    text: Vec<char>,
    /// The characters to underline: `from..to`.
    from: usize,
    to: usize,
}

impl Frame {
    fn new(index: &LineIndex<'_>, finding: &Finding) -> Frame {
        let bytes = finding.byte_range;
        let (start_line, start_col) = index.char_column_0based(bytes.start);
        let (mut end_line, mut end_col) = index.char_column_0based(bytes.end.max(bytes.start));
        let chars = |line0: usize| -> Vec<char> {
            clean_line(index.line_text(line0 + 1)).chars().collect()
        };
        if end_line > start_line && end_col == 0 {
            // A span that ends with a line ending does not reach into the next line.
            end_line -= 1;
            end_col = chars(end_line).len();
        }
        let lines: Vec<Option<usize>> = if end_line - start_line < MAX_FRAME_LINES {
            (start_line..=end_line).map(Some).collect()
        } else {
            vec![
                Some(start_line),
                Some(start_line + 1),
                None,
                Some(end_line - 1),
                Some(end_line),
            ]
        };
        let rows = lines
            .into_iter()
            .map(|line0| {
                let line0 = line0?;
                let text = chars(line0);
                let indent = text.iter().take_while(|c| c.is_whitespace()).count();
                let from = if line0 == start_line {
                    start_col
                } else {
                    indent
                };
                let to = if line0 == end_line {
                    end_col
                } else {
                    text.len()
                };
                // An empty span, or one that starts at a line's end, still gets a caret.
                let to = if line0 == start_line {
                    to.max(from + 1)
                } else {
                    to
                };
                Some(Row {
                    line: line0 + 1,
                    text,
                    from,
                    to,
                })
            })
            .collect();
        Frame { rows }
    }

    fn gutter_width(&self) -> usize {
        let last = self
            .rows
            .iter()
            .flatten()
            .map(|row| row.line)
            .max()
            .unwrap_or(1);
        last.to_string().len()
    }

    fn write<W: Write>(
        &self,
        w: &mut W,
        paint: &Paint,
        style: Style,
        width: usize,
    ) -> std::io::Result<()> {
        let pad = " ".repeat(width);
        let bar = paint.gutter("|");
        writeln!(w, "{pad} {bar}")?;
        for row in &self.rows {
            let Some(Row {
                line,
                text,
                from,
                to,
            }) = row
            else {
                writeln!(w, "{}", paint.gutter("..."))?;
                continue;
            };
            let number = paint.gutter(&format!("{line:>width$}"));
            let shown: String = text.iter().collect();
            if shown.is_empty() {
                writeln!(w, "{number} {bar}")?;
            } else {
                writeln!(w, "{number} {bar} {shown}")?;
            }
            if to > from {
                let lead: String = (0..*from)
                    .map(|i| {
                        if text.get(i) == Some(&'\t') {
                            '\t'
                        } else {
                            ' '
                        }
                    })
                    .collect();
                let carets = "^".repeat(to - from);
                writeln!(w, "{pad} {bar} {lead}{}", paint.apply(style, &carets))?;
            }
        }
        Ok(())
    }
}

/// Replaces what a terminal would interpret, keeping one character for one (so columns
/// stay aligned): control characters other than tab, and bidirectional overrides. Line
/// breaks (in a message) become spaces.
fn clean_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' => ' ',
            '\t' => '\t',
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                '\u{fffd}'
            }
            c => c,
        })
        .collect()
}

fn severity_style(severity: Severity) -> Style {
    let color = match severity {
        Severity::Error => AnsiColor::Red,
        Severity::Warning => AnsiColor::Yellow,
        Severity::Info => AnsiColor::Cyan,
        Severity::Hint => AnsiColor::Green,
    };
    Style::new().bold().fg_color(Some(color.into()))
}

/// Colours text, or not.
struct Paint {
    color: bool,
}

impl Paint {
    fn apply(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.apply(Style::new().bold(), text)
    }

    fn gutter(&self, text: &str) -> String {
        self.apply(
            Style::new().bold().fg_color(Some(AnsiColor::Blue.into())),
            text,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{FileErrorCode, Stats};
    use crate::report::fixtures;
    use volatile_grammars::Lang;

    fn render(report: &Report, color: bool) -> String {
        fixtures::written(|out| write(report, &fixtures::source, color, out))
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&fixtures::report(), false));
    }

    #[test]
    fn empty_report_is_only_a_summary() {
        assert_eq!(
            render(&Report::default(), false),
            "0 findings (0 errors, 0 warnings, 0 info, 0 hints) in 0 files\n"
        );
    }

    #[test]
    fn summary_counts_and_file_errors() {
        let report = fixtures::report();
        assert_eq!(
            summary(&report),
            "6 findings (2 errors, 2 warnings, 1 info, 1 hint) in 5 files, 2 file errors"
        );
        let one = Report {
            findings: vec![report.findings[0].clone()],
            errors: vec![FileError {
                path: "x".to_string(),
                code: FileErrorCode::Unreadable,
                message: "m".to_string(),
            }],
            stats: Stats {
                files: 1,
                ..Stats::default()
            },
        };
        assert!(
            summary(&one).starts_with("1 finding ("),
            "{}",
            summary(&one)
        );
        assert!(summary(&one).ends_with("in 1 file, 1 file error"));
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = render(&fixtures::report(), false);
        assert!(!plain.contains('\u{1b}'));
        let coloured = render(&fixtures::report(), true);
        assert!(
            coloured.contains("\u{1b}[1m\u{1b}[31merror[no-eval]\u{1b}[0m"),
            "{coloured}"
        );
    }

    #[test]
    fn missing_source_gives_header_and_location_only() {
        let text = render(&fixtures::report(), false);
        let Some(start) = text.find("warning[no-eval]") else {
            panic!("{text}");
        };
        let block: Vec<&str> = text[start..].lines().take(4).collect();
        assert_eq!(
            block,
            [
                "warning[no-eval]: Do not call `eval(input)`",
                " --> gone/deleted.js:2:25",
                "  = note: This source is not available.",
                ""
            ]
        );
    }

    #[test]
    fn long_spans_are_elided() {
        let text = render(&fixtures::report(), false);
        assert!(text.contains("\n...\n"), "{text}");
    }

    /// A finding of `needle` in `source`, shown with that source.
    fn frame_of(source: &str, needle: &str) -> String {
        let finding = fixtures::finding(
            "p",
            "r",
            Severity::Warning,
            "f.js",
            Lang::JavaScript,
            source,
            needle,
            0,
        );
        let index = LineIndex::new(source);
        let mut out = Vec::new();
        let frame = Frame::new(&index, &finding);
        let width = frame.gutter_width();
        if let Err(err) = frame.write(&mut out, &Paint { color: false }, Style::new(), width) {
            panic!("{err}");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn carets_count_characters() {
        assert_eq!(
            frame_of("é中😀 bad()", "bad()"),
            "  |\n1 | é中😀 bad()\n  |     ^^^^^\n"
        );
        assert_eq!(
            frame_of("x = 中文", "中文"),
            "  |\n1 | x = 中文\n  |     ^^\n"
        );
    }

    #[test]
    fn tabs_are_kept_and_aligned() {
        assert_eq!(
            frame_of("\tx\tbad", "bad"),
            "  |\n1 | \tx\tbad\n  | \t \t^^^\n"
        );
    }

    #[test]
    fn empty_span_gets_one_caret() {
        assert_eq!(frame_of("ab", ""), "  |\n1 | ab\n  | ^\n");
    }

    #[test]
    fn span_ending_with_a_newline_stays_on_its_line() {
        assert_eq!(frame_of("ab\ncd\n", "cd\n"), "  |\n2 | cd\n  | ^^\n");
    }

    #[test]
    fn multi_line_spans_underline_each_line() {
        let frame = frame_of("f(\n  a,\n\n  b)\n", "f(\n  a,\n\n  b)");
        assert_eq!(
            frame,
            "  |\n1 | f(\n  | ^^\n2 |   a,\n  |   ^^\n3 |\n4 |   b)\n  |   ^^\n"
        );
    }

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(
            clean_line("a\u{1b}[31mb\u{202e}c\td"),
            "a\u{fffd}[31mb\u{fffd}c\td"
        );
        assert_eq!(clean_line("one\ntwo\r\n"), "one two  ");
    }
}
