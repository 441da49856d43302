//! Positions and findings in the protocol's terms.
//!
//! The engine counts in bytes (and, for people, 1-based lines and UTF-16 columns); the
//! protocol counts 0-based lines and columns in the encoding negotiated at `initialize`
//! (UTF-16 unless the client offers another). A [`LineMap`] converts both ways over one
//! version of a document's text, with the protocol's line endings (`\n`, `\r\n`, `\r`)
//! and its clamping: a column past the end of its line means the end of the line, a line
//! past the end of the text means the end of the text.

use lsp_types::{
    CodeDescription, Diagnostic, DiagnosticSeverity, NumberOrString, Position,
    PositionEncodingKind, Range, TextEdit, Uri,
};
use volatile_engine::finding::{ByteRange, Finding, Severity};

/// How columns are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Bytes of UTF-8.
    Utf8,
    /// UTF-16 code units: the protocol's default, which every client supports.
    Utf16,
    /// Unicode scalar values.
    Utf32,
}

impl Encoding {
    /// The encoding to use: the first the client lists that we support, else UTF-16.
    pub fn negotiate(offered: Option<&[PositionEncodingKind]>) -> Encoding {
        offered
            .unwrap_or_default()
            .iter()
            .find_map(Encoding::from_kind)
            .unwrap_or(Encoding::Utf16)
    }

    fn from_kind(kind: &PositionEncodingKind) -> Option<Encoding> {
        match kind.as_str() {
            "utf-8" => Some(Encoding::Utf8),
            "utf-16" => Some(Encoding::Utf16),
            "utf-32" => Some(Encoding::Utf32),
            _ => None,
        }
    }

    /// The protocol's name for it.
    pub fn kind(self) -> PositionEncodingKind {
        match self {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
            Encoding::Utf32 => PositionEncodingKind::UTF32,
        }
    }

    fn units(self, c: char) -> usize {
        match self {
            Encoding::Utf8 => c.len_utf8(),
            Encoding::Utf16 => c.len_utf16(),
            Encoding::Utf32 => 1,
        }
    }

    fn count(self, text: &str) -> usize {
        if text.is_ascii() {
            return text.len();
        }
        match self {
            Encoding::Utf8 => text.len(),
            Encoding::Utf16 => text.encode_utf16().count(),
            Encoding::Utf32 => text.chars().count(),
        }
    }
}

/// Where the lines of one text start.
#[derive(Debug)]
pub struct LineMap<'t> {
    text: &'t str,
    /// Byte offset of the first byte of each line; never empty.
    starts: Vec<usize>,
}

impl<'t> LineMap<'t> {
    /// Indexes the lines of `text`.
    pub fn new(text: &'t str) -> LineMap<'t> {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' => starts.push(i + 1),
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(i + 1),
                _ => {}
            }
        }
        LineMap { text, starts }
    }

    /// The position of a byte offset (clamped to the text, rounded down to a character).
    pub fn position(&self, byte: usize, encoding: Encoding) -> Position {
        let mut byte = byte.min(self.text.len());
        while !self.text.is_char_boundary(byte) {
            byte -= 1;
        }
        let line = self
            .starts
            .partition_point(|&s| s <= byte)
            .saturating_sub(1);
        let start = self.starts[line];
        Position {
            line: saturate(line),
            character: saturate(encoding.count(&self.text[start..byte])),
        }
    }

    /// The byte offset of a position, clamped as the protocol says; a column inside a
    /// character (half a surrogate pair) rounds down to the character's start.
    pub fn offset(&self, position: Position, encoding: Encoding) -> usize {
        let line = position.line as usize;
        let Some(&start) = self.starts.get(line) else {
            return self.text.len();
        };
        let content = self.line_content(line, start);
        let wanted = position.character as usize;
        let mut units = 0;
        for (i, c) in content.char_indices() {
            let next = units + encoding.units(c);
            if next > wanted {
                return start + i;
            }
            units = next;
        }
        start + content.len()
    }

    /// The text of a line without its line ending.
    fn line_content(&self, line: usize, start: usize) -> &'t str {
        let end = self.starts.get(line + 1).map_or(self.text.len(), |&next| {
            let mut end = next;
            if self.text[..end].ends_with('\n') {
                end -= 1;
            }
            if self.text[..end].ends_with('\r') {
                end -= 1;
            }
            end
        });
        &self.text[start..end.max(start)]
    }

    /// The range of a span of bytes.
    pub fn range(&self, bytes: ByteRange, encoding: Encoding) -> Range {
        Range {
            start: self.position(bytes.start, encoding),
            end: self.position(bytes.end, encoding),
        }
    }

    /// Whether `bytes` is a span of this text on character boundaries.
    fn fits(&self, bytes: ByteRange) -> bool {
        bytes.start <= bytes.end
            && bytes.end <= self.text.len()
            && self.text.is_char_boundary(bytes.start)
            && self.text.is_char_boundary(bytes.end)
    }

    /// The range of a finding: from its bytes, or, should they not fit this text, from
    /// its 1-based lines and UTF-16 columns.
    pub fn finding_range(&self, finding: &Finding, encoding: Encoding) -> Range {
        if self.fits(finding.byte_range) {
            return self.range(finding.byte_range, encoding);
        }
        let at = |p: volatile_engine::finding::Position| {
            let utf16 = Position {
                line: p.line.saturating_sub(1),
                character: p.column.saturating_sub(1),
            };
            self.position(self.offset(utf16, Encoding::Utf16), encoding)
        };
        Range {
            start: at(finding.range.start),
            end: at(finding.range.end),
        }
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The protocol's severity of a finding's.
pub fn severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    }
}

/// A finding as a diagnostic, and its fix, if it has one, as an edit of the same text.
pub fn diagnostic(
    finding: &Finding,
    lines: &LineMap<'_>,
    encoding: Encoding,
) -> (Diagnostic, Option<TextEdit>) {
    let href = finding
        .url
        .as_deref()
        .and_then(|url| url.parse::<Uri>().ok());
    let diagnostic = Diagnostic {
        range: lines.finding_range(finding, encoding),
        severity: Some(severity(finding.severity)),
        code: Some(NumberOrString::String(finding.rule_id.clone())),
        code_description: href.map(|href| CodeDescription { href }),
        source: Some("volatile".into()),
        message: finding.message.clone(),
        related_information: None,
        tags: None,
        data: None,
    };
    let fix = finding
        .fix
        .as_ref()
        .filter(|fix| lines.fits(fix.byte_range))
        .map(|fix| TextEdit {
            range: lines.range(fix.byte_range, encoding),
            new_text: fix.text.clone(),
        });
    (diagnostic, fix)
}

/// Whether two ranges share a position (touching counts: a cursor at the end of a
/// diagnostic is on it).
pub fn touches(a: &Range, b: &Range) -> bool {
    let key = |p: &Position| (p.line, p.character);
    key(&a.start) <= key(&b.end) && key(&b.start) <= key(&a.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    #[test]
    fn utf16_columns_count_surrogate_pairs_twice() {
        // 😀 is 4 bytes, 2 UTF-16 units, 1 scalar; é is 2 bytes, 1 unit.
        let text = "a😀é x\nb";
        let lines = LineMap::new(text);
        let x = 8;
        assert_eq!(&text[x..x + 1], "x");
        assert_eq!(lines.position(x, Encoding::Utf16), pos(0, 5));
        assert_eq!(lines.position(x, Encoding::Utf8), pos(0, 8));
        assert_eq!(lines.position(x, Encoding::Utf32), pos(0, 4));
        for encoding in [Encoding::Utf8, Encoding::Utf16, Encoding::Utf32] {
            assert_eq!(lines.offset(lines.position(x, encoding), encoding), x);
        }
        assert_eq!(lines.position(10, Encoding::Utf16), pos(1, 0));
    }

    #[test]
    fn a_column_inside_a_surrogate_pair_rounds_down() {
        let lines = LineMap::new("a😀b");
        assert_eq!(lines.offset(pos(0, 1), Encoding::Utf16), 1);
        assert_eq!(lines.offset(pos(0, 2), Encoding::Utf16), 1);
        assert_eq!(lines.offset(pos(0, 3), Encoding::Utf16), 5);
        assert_eq!(lines.position(3, Encoding::Utf16), pos(0, 1));
    }

    #[test]
    fn positions_past_the_end_clamp() {
        let text = "ab\r\ncd\n";
        let lines = LineMap::new(text);
        assert_eq!(
            lines.offset(pos(0, 99), Encoding::Utf16),
            2,
            "before \\r\\n"
        );
        assert_eq!(lines.offset(pos(1, 1), Encoding::Utf16), 5);
        assert_eq!(lines.offset(pos(2, 0), Encoding::Utf16), 7);
        assert_eq!(lines.offset(pos(2, 5), Encoding::Utf16), 7);
        assert_eq!(lines.offset(pos(9, 0), Encoding::Utf16), 7);
        assert_eq!(lines.position(99, Encoding::Utf16), pos(2, 0));
    }

    #[test]
    fn lone_carriage_returns_end_lines() {
        let lines = LineMap::new("a\rb\r\rc");
        assert_eq!(lines.position(2, Encoding::Utf16), pos(1, 0));
        assert_eq!(lines.position(5, Encoding::Utf16), pos(3, 0));
        assert_eq!(lines.offset(pos(3, 0), Encoding::Utf16), 5);
    }

    #[test]
    fn negotiation_takes_the_clients_first_supported() {
        let kinds = |names: &[&str]| -> Vec<PositionEncodingKind> {
            names
                .iter()
                .map(|n| PositionEncodingKind::from(n.to_string()))
                .collect()
        };
        assert_eq!(Encoding::negotiate(None), Encoding::Utf16);
        assert_eq!(Encoding::negotiate(Some(&kinds(&[]))), Encoding::Utf16);
        assert_eq!(
            Encoding::negotiate(Some(&kinds(&["utf-7", "utf-8", "utf-16"]))),
            Encoding::Utf8
        );
        assert_eq!(
            Encoding::negotiate(Some(&kinds(&["utf-32"]))),
            Encoding::Utf32
        );
        assert_eq!(
            Encoding::negotiate(Some(&kinds(&["ebcdic"]))),
            Encoding::Utf16
        );
    }

    fn finding(text: &str, start: usize, end: usize) -> Finding {
        let byte_range = ByteRange { start, end };
        Finding {
            rule_id: "r".into(),
            playbook: "p".into(),
            standard: None,
            severity: Severity::Warning,
            message: "m".into(),
            note: None,
            url: Some("https://example.com/r".into()),
            path: "a.ts".into(),
            language: volatile_grammars::Lang::TypeScript,
            range: volatile_engine::position::LineIndex::new(text).range(byte_range),
            byte_range,
            fix: Some(volatile_engine::finding::Fix {
                text: "safe(x)".into(),
                byte_range,
            }),
            fingerprint: String::new(),
        }
    }

    #[test]
    fn findings_convert_from_bytes_or_from_their_utf16_range() {
        let text = "x\nlet s = \"😀é\"; eval(x);\n";
        let Some(start) = text.find("eval") else {
            panic!("no eval")
        };
        let mut f = finding(text, start, start + 7);
        let lines = LineMap::new(text);
        let (d, fix) = diagnostic(&f, &lines, Encoding::Utf16);
        let want = Range {
            start: pos(1, 15),
            end: pos(1, 22),
        };
        assert_eq!(d.range, want);
        assert_eq!(d.severity, Some(DiagnosticSeverity::WARNING));
        assert_eq!(d.code, Some(NumberOrString::String("r".into())));
        assert_eq!(
            d.code_description.map(|c| c.href.as_str().to_string()),
            Some("https://example.com/r".to_string())
        );
        assert_eq!(
            fix.map(|e| (e.range, e.new_text)),
            Some((want, "safe(x)".into()))
        );
        // The engine's 1-based UTF-16 range agrees, and serves when the bytes do not fit.
        assert_eq!(
            (f.range.start.line, f.range.start.column),
            (want.start.line + 1, want.start.character + 1)
        );
        f.byte_range = ByteRange {
            start: 1000,
            end: 1007,
        };
        assert_eq!(lines.finding_range(&f, Encoding::Utf16), want);
        assert_eq!(
            lines.finding_range(&f, Encoding::Utf8),
            Range {
                start: pos(1, start as u32 - 2),
                end: pos(1, start as u32 + 5),
            }
        );
    }

    #[test]
    fn touching_ranges() {
        let r = |a: (u32, u32), b: (u32, u32)| Range {
            start: pos(a.0, a.1),
            end: pos(b.0, b.1),
        };
        assert!(touches(&r((0, 2), (0, 5)), &r((0, 5), (0, 5))));
        assert!(touches(&r((0, 2), (0, 5)), &r((0, 0), (3, 0))));
        assert!(!touches(&r((0, 2), (0, 5)), &r((0, 6), (0, 7))));
        assert!(!touches(&r((1, 2), (1, 5)), &r((0, 0), (0, 9))));
    }
}
