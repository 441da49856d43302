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
//! first two and last two lines around a `...`; of a line longer than
//! [`MAX_FRAME_COLUMNS`] characters, only a window around the span is shown, so that a
//! minified file's findings do not each print the whole file. Control characters and
//! bidirectional overrides in the source or the messages are shown as `�`, so a file
//! cannot drive the terminal.

use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::Report;
use crate::finding::{FileError, Finding, Severity};
use crate::position::LineIndex;

/// The most source lines a code frame shows (counting the `...`).
pub const MAX_FRAME_LINES: usize = 5;

/// The most characters a code frame shows of one line: a longer line (a minified file is
/// one) is shown as a window around the underlined span, `…` marking what is cut.
pub const MAX_FRAME_COLUMNS: usize = 160;

/// How many characters before the span a window of a long line keeps.
const WINDOW_LEAD: usize = 40;

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
        if end_line > start_line && end_col == 0 {
            // A span that ends with a line ending does not reach into the next line.
            end_line -= 1;
            end_col = line_chars(index, end_line);
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
                let line = index.line_text(line0 + 1);
                let length = line_chars(index, line0);
                // The first line is shown from a little before the span (found from the
                // span's byte), the others from their start.
                let (anchor, focus) = match index.line_start(line0) {
                    Some(line_start) if line0 == start_line => {
                        (bytes.start.saturating_sub(line_start), start_col)
                    }
                    _ => (0, 0),
                };
                let window = Window::of(length, focus);
                let text = window.text(line, anchor, focus);
                let indent = text.iter().take_while(|c| c.is_whitespace()).count();
                let from = if line0 == start_line {
                    window.column(start_col)
                } else {
                    indent
                };
                let to = if line0 == end_line {
                    window.column(end_col)
                } else {
                    window.column(length)
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

/// The length in characters of a 0-based line, without its ending.
fn line_chars(index: &LineIndex<'_>, line0: usize) -> usize {
    index
        .line_bounds(line0)
        .map_or(0, |(_, end)| index.char_column_0based(end).1)
}

/// The characters of a line that a frame shows: all of them, or, of a long line, at most
/// [`MAX_FRAME_COLUMNS`] from [`WINDOW_LEAD`] before the focus, with `…` for what is cut.
struct Window {
    /// The first and one past the last character column shown.
    first: usize,
    last: usize,
    /// Whether the line goes on before `first` and after `last`.
    cut_before: bool,
    cut_after: bool,
}

impl Window {
    fn of(length: usize, focus: usize) -> Window {
        if length <= MAX_FRAME_COLUMNS {
            return Window {
                first: 0,
                last: length,
                cut_before: false,
                cut_after: false,
            };
        }
        let first = focus
            .saturating_sub(WINDOW_LEAD)
            .min(length - MAX_FRAME_COLUMNS);
        let last = first + MAX_FRAME_COLUMNS;
        Window {
            first,
            last,
            cut_before: first > 0,
            cut_after: last < length,
        }
    }

    /// The shown characters of `line`, made safe to print, with the `…` marks. `anchor` is
    /// the byte in `line` at character column `anchor_column`, at or after the window's
    /// start: the window is found from there, without reading the rest of the line.
    fn text(&self, line: &str, anchor: usize, anchor_column: usize) -> Vec<char> {
        let mut anchor = anchor.min(line.len());
        while !line.is_char_boundary(anchor) {
            anchor -= 1;
        }
        let back = anchor_column.saturating_sub(self.first);
        let start = match back.checked_sub(1) {
            None => anchor,
            Some(skip) => line[..anchor]
                .char_indices()
                .rev()
                .nth(skip)
                .map_or(0, |(at, _)| at),
        };
        let shown: String = line[start..].chars().take(self.last - self.first).collect();
        let mut text = Vec::with_capacity(self.last - self.first + 2);
        if self.cut_before {
            text.push('…');
        }
        text.extend(clean_line(&shown).chars());
        if self.cut_after {
            text.push('…');
        }
        text
    }

    /// Where character column `column` of the line is in the shown text (clamped to it).
    fn column(&self, column: usize) -> usize {
        let shown = column.clamp(self.first, self.last) - self.first;
        shown + usize::from(self.cut_before)
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

    /// The text and caret lines of a one-line frame.
    fn shown(frame: &str) -> (String, String) {
        let lines: Vec<&str> = frame.lines().collect();
        let strip = |l: &str| {
            l.split_once("| ")
                .map_or(String::new(), |(_, r)| r.to_string())
        };
        (strip(lines[1]), strip(lines[2]))
    }

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_span() {
        let line: String = (0..1000)
            .map(|i| if i % 2 == 0 { 'é' } else { 'x' })
            .collect();
        // In the middle: 40 characters before the span, 160 shown, cut on both sides.
        let source = format!("{}bad(){}\n", &line, &line);
        let (text, carets) = shown(&frame_of(&source, "bad()"));
        let expected: String = std::iter::once('…')
            .chain(line.chars().skip(1000 - WINDOW_LEAD))
            .chain("bad()".chars())
            .chain(line.chars().take(MAX_FRAME_COLUMNS - WINDOW_LEAD - 5))
            .chain(std::iter::once('…'))
            .collect();
        assert_eq!(text, expected);
        assert_eq!(carets, format!("{}^^^^^", " ".repeat(1 + WINDOW_LEAD)));
        // Near the start: from the first character, cut after.
        let (text, carets) = shown(&frame_of(&format!("ab bad() {line}"), "bad()"));
        assert!(text.starts_with("ab bad() ") && text.ends_with('…'));
        assert_eq!(text.chars().count(), MAX_FRAME_COLUMNS + 1);
        assert_eq!(carets, "   ^^^^^");
        // Near the end: up to the last character, cut before.
        let (text, carets) = shown(&frame_of(&format!("{line} bad() z"), "bad()"));
        assert!(text.starts_with('…') && text.ends_with(" bad() z"));
        assert_eq!(text.chars().count(), MAX_FRAME_COLUMNS + 1);
        assert_eq!(
            carets,
            format!("{}^^^^^", " ".repeat(1 + MAX_FRAME_COLUMNS - 7))
        );
        // A span longer than the window is underlined to the window's end.
        let (text, carets) = shown(&frame_of(&format!("a = [{line}];"), &format!("[{line}]")));
        assert_eq!(text.chars().count(), MAX_FRAME_COLUMNS + 1);
        assert_eq!(carets, format!("    {}", "^".repeat(MAX_FRAME_COLUMNS - 4)));
    }

    #[test]
    fn the_later_lines_of_a_span_are_shown_from_their_start() {
        let long = "y".repeat(500);
        let frame = frame_of(
            &format!("f(\n{long},\n  b)\n"),
            &format!("f(\n{long},\n  b)"),
        );
        let lines: Vec<&str> = frame.lines().collect();
        assert_eq!(lines[3], format!("2 | {}…", "y".repeat(MAX_FRAME_COLUMNS)));
        assert_eq!(lines[4], format!("  | {}", "^".repeat(MAX_FRAME_COLUMNS)));
        assert_eq!(lines[6], "  |   ^^");
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
