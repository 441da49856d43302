//! Byte offsets to lines and columns.
//!
//! Tree-sitter speaks bytes; editors, review tools and SARIF speak 1-based lines and
//! UTF-16 columns; ast-grep's `range` rule speaks 0-based lines and character columns.
//! A [`LineIndex`] is built once per file in O(n) (it records where each line starts and
//! which lines are pure ASCII) and then answers each lookup with a binary search over the
//! line starts, plus, on a non-ASCII line only, a count over at most a kibibyte of it:
//! long non-ASCII lines get checkpoints, so that a minified file on one line does not make
//! each finding's column a count from the start of the file.
//!
//! Decisions, made once here so that every report agrees:
//! - Lines end at `\n`, at `\r\n` (the `\r` belongs to the line it ends) and at a lone
//!   `\r` (classic Mac OS line endings): whatever an editor would show as a line break.
//! - A file that ends with a line ending has one more, empty, line after it, as in an
//!   editor; the empty file has one empty line.
//! - A UTF-8 byte order mark is not a column: the first real character of line 1 is at
//!   column 1, while byte offsets still count the mark's 3 bytes.
//! - An offset past the end clamps to the end; an offset inside a multi-byte character
//!   rounds down to that character's first byte.

use crate::finding::{ByteRange, Position, Range};

/// The UTF-8 byte order mark.
pub(crate) const BOM: &str = "\u{feff}";

/// The length of `source`'s byte order mark (0 or 3) and the text after it: what is parsed.
pub(crate) fn strip_bom(source: &str) -> (usize, &str) {
    match source.strip_prefix(BOM) {
        Some(rest) => (BOM.len(), rest),
        None => (0, source),
    }
}

/// Where the lines of one text start, for turning byte offsets into positions.
#[derive(Debug, Clone)]
pub struct LineIndex<'s> {
    source: &'s str,
    table: LineTable,
}

/// A [`LineIndex`] without the text it indexes: what a holder of the text keeps.
#[derive(Debug, Clone)]
pub(crate) struct LineTable {
    /// Byte offset of the first byte of each line; never empty. The first line starts
    /// after the byte order mark, if there is one.
    line_starts: Vec<usize>,
    /// Whether each line (without its ending) is pure ASCII, so columns are byte counts.
    ascii: Vec<bool>,
    /// The checkpoints of every non-ASCII line longer than the spacing, in byte order.
    checkpoints: Vec<Checkpoint>,
}

/// Which line endings end a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// `\n`, `\r\n` and a lone `\r`, after a byte order mark: as an editor shows them.
    Editor,
    /// `\n` alone, from the first byte: as ast-grep's `range` rule counts them.
    NewlineOnly,
}

/// The spacing, in bytes, of the checkpoints on a long non-ASCII line.
const CHECKPOINT_EVERY: usize = 1024;

/// A character boundary on a long non-ASCII line, with the columns before it on its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checkpoint {
    byte: usize,
    utf16: usize,
    chars: usize,
}

impl<'s> LineIndex<'s> {
    /// Indexes the lines of `source`, in one pass over its bytes (and one more over its
    /// long non-ASCII lines).
    pub fn new(source: &'s str) -> LineIndex<'s> {
        LineIndex {
            source,
            table: LineTable::build(source, Lines::Editor, CHECKPOINT_EVERY),
        }
    }

    /// The text this index was built from.
    pub fn source(&self) -> &'s str {
        self.source
    }

    /// The number of lines: one more than the number of line endings.
    pub fn line_count(&self) -> usize {
        self.table.line_starts.len()
    }

    /// The 1-based line and UTF-16 column of a byte offset.
    pub fn position(&self, byte: usize) -> Position {
        let (line0, start, byte) = self.table.locate(self.source, byte);
        let column = if self.table.ascii[line0] {
            byte - start
        } else {
            let from = self.table.checkpoint(start, byte);
            from.utf16 + self.source[from.byte..byte].encode_utf16().count()
        };
        Position {
            line: to_u32(line0 + 1),
            column: to_u32(column + 1),
        }
    }

    /// The lines and UTF-16 columns of a span of bytes (`end` exclusive).
    pub fn range(&self, bytes: ByteRange) -> Range {
        Range {
            start: self.position(bytes.start),
            end: self.position(bytes.end),
        }
    }

    /// The 0-based line and 0-based column in characters (Unicode scalar values) of a
    /// byte offset.
    pub fn char_column_0based(&self, byte: usize) -> (usize, usize) {
        self.table.char_column_0based(self.source, byte)
    }

    /// The text of a 1-based line, without its line ending; empty for a line number
    /// that is out of range.
    pub fn line_text(&self, line: usize) -> &'s str {
        let Some(line0) = line.checked_sub(1) else {
            return "";
        };
        match self.line_bounds(line0) {
            Some((start, end)) => &self.source[start..end],
            None => "",
        }
    }

    /// The byte span of a 0-based line, without its line ending.
    pub fn line_bounds(&self, line0: usize) -> Option<(usize, usize)> {
        self.table.line_bounds(self.source, line0)
    }

    /// The byte offset of the start of a 0-based line.
    pub fn line_start(&self, line0: usize) -> Option<usize> {
        self.table.line_starts.get(line0).copied()
    }
}

impl LineTable {
    /// Indexes the lines of `source` as ast-grep's `range` rule counts them: only `\n`
    /// ends a line, and a byte order mark is a character like any other.
    pub(crate) fn newline_only(source: &str) -> LineTable {
        LineTable::build(source, Lines::NewlineOnly, CHECKPOINT_EVERY)
    }

    fn build(source: &str, lines: Lines, every: usize) -> LineTable {
        let first = if lines == Lines::Editor && source.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        let bytes = source.as_bytes();
        let mut line_starts = vec![first];
        let mut ascii = Vec::new();
        let mut start = first;
        // Line endings found a vector at a time; each line's ASCII check is one more.
        for at in memchr::memchr2_iter(b'\n', b'\r', bytes.get(first..).unwrap_or_default()) {
            let at = first + at;
            // `\r\n` ends its line at the `\n`; a lone `\r` ends one in an editor only.
            if bytes[at] == b'\r'
                && (lines == Lines::NewlineOnly || bytes.get(at + 1) == Some(&b'\n'))
            {
                continue;
            }
            ascii.push(bytes[start..at].is_ascii());
            start = at + 1;
            line_starts.push(start);
        }
        ascii.push(bytes[start..].is_ascii());
        let mut table = LineTable {
            line_starts,
            ascii,
            checkpoints: Vec::new(),
        };
        for line0 in 0..table.ascii.len() {
            if table.ascii[line0] {
                continue;
            }
            let Some((start, end)) = table.line_bounds(source, line0) else {
                continue;
            };
            if end - start <= every {
                continue;
            }
            let (mut utf16, mut chars, mut next) = (0, 0, start + every);
            for (at, c) in source[start..end].char_indices() {
                if start + at >= next {
                    table.checkpoints.push(Checkpoint {
                        byte: start + at,
                        utf16,
                        chars,
                    });
                    next = start + at + every;
                }
                utf16 += c.len_utf16();
                chars += 1;
            }
        }
        table
    }

    /// The 0-based line and 0-based column in characters of a byte offset of `source`,
    /// the text this table was built from.
    pub(crate) fn char_column_0based(&self, source: &str, byte: usize) -> (usize, usize) {
        let (line0, start, byte) = self.locate(source, byte);
        let column = if self.ascii[line0] {
            byte - start
        } else {
            let from = self.checkpoint(start, byte);
            from.chars + source[from.byte..byte].chars().count()
        };
        (line0, column)
    }

    /// The last checkpoint at or before `byte` on the line that starts at `start`, or the
    /// line's start (columns 0) when it has none there.
    fn checkpoint(&self, start: usize, byte: usize) -> Checkpoint {
        let after = self.checkpoints.partition_point(|c| c.byte <= byte);
        match after.checked_sub(1).map(|i| self.checkpoints[i]) {
            Some(c) if c.byte >= start => c,
            _ => Checkpoint {
                byte: start,
                utf16: 0,
                chars: 0,
            },
        }
    }

    /// The byte span of a 0-based line of `source`, without its line ending.
    fn line_bounds(&self, source: &str, line0: usize) -> Option<(usize, usize)> {
        let start = *self.line_starts.get(line0)?;
        let end = match self.line_starts.get(line0 + 1) {
            Some(&next) if source[..next].ends_with("\r\n") => next - 2,
            Some(&next) => next - 1,
            None => source.len(),
        };
        Some((start, end))
    }

    /// Clamps and rounds `byte`, and finds its 0-based line and that line's start.
    fn locate(&self, source: &str, byte: usize) -> (usize, usize, usize) {
        let mut byte = byte.min(source.len());
        while !source.is_char_boundary(byte) {
            byte -= 1;
        }
        // Only a byte order mark lies before the first line start: it rounds up to it.
        let line0 = self
            .line_starts
            .partition_point(|&start| start <= byte)
            .saturating_sub(1);
        let start = self.line_starts[line0];
        (line0, start, byte.max(start))
    }
}

/// Converts a count to `u32`, saturating (a file of 4 GiB is refused long before this).
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, column: u32) -> Position {
        Position { line, column }
    }

    #[test]
    fn ascii_lines_and_columns() {
        let index = LineIndex::new("ab\ncd\n");
        assert_eq!(index.position(0), pos(1, 1));
        assert_eq!(index.position(1), pos(1, 2));
        assert_eq!(index.position(2), pos(1, 3), "the newline is on its line");
        assert_eq!(index.position(3), pos(2, 1));
        assert_eq!(index.position(5), pos(2, 3));
        assert_eq!(index.position(6), pos(3, 1), "end of file after a newline");
        assert_eq!(index.line_count(), 3);
        assert_eq!(index.line_text(1), "ab");
        assert_eq!(index.line_text(2), "cd");
        assert_eq!(index.line_text(3), "");
        assert_eq!(index.line_text(0), "");
        assert_eq!(index.line_text(4), "");
    }

    #[test]
    fn utf16_columns_of_non_ascii() {
        // é is 2 bytes and 1 unit, 中 is 3 bytes and 1 unit, 😀 is 4 bytes and 2 units.
        let source = "é中😀x";
        let index = LineIndex::new(source);
        assert_eq!(index.position(0), pos(1, 1));
        assert_eq!(index.position(2), pos(1, 2));
        assert_eq!(index.position(5), pos(1, 3));
        assert_eq!(index.position(9), pos(1, 5));
        assert_eq!(index.position(10), pos(1, 6));
        assert_eq!(index.char_column_0based(9), (0, 3));
        assert_eq!(index.char_column_0based(10), (0, 4));
    }

    #[test]
    fn offsets_inside_a_char_round_down() {
        let index = LineIndex::new("a😀b");
        for byte in 1..5 {
            assert_eq!(index.position(byte), pos(1, 2), "byte {byte}");
            assert_eq!(index.char_column_0based(byte), (0, 1), "byte {byte}");
        }
        assert_eq!(index.position(5), pos(1, 4));
    }

    #[test]
    fn offsets_past_the_end_clamp() {
        let index = LineIndex::new("ab\nc");
        assert_eq!(index.position(4), pos(2, 2));
        assert_eq!(index.position(1000), pos(2, 2));
        assert_eq!(index.char_column_0based(1000), (1, 1));
    }

    #[test]
    fn empty_file() {
        let index = LineIndex::new("");
        assert_eq!(index.line_count(), 1);
        assert_eq!(index.position(0), pos(1, 1));
        assert_eq!(index.position(7), pos(1, 1));
        assert_eq!(index.line_text(1), "");
        assert_eq!(index.char_column_0based(0), (0, 0));
    }

    #[test]
    fn last_line_without_newline() {
        let index = LineIndex::new("one\ntwo");
        assert_eq!(index.line_count(), 2);
        assert_eq!(index.line_text(2), "two");
        assert_eq!(index.position(7), pos(2, 4));
    }

    #[test]
    fn byte_order_mark_is_not_a_column() {
        let source = "\u{feff}ab\ncd";
        let index = LineIndex::new(source);
        assert_eq!(index.position(3), pos(1, 1), "first real char");
        assert_eq!(index.position(4), pos(1, 2));
        assert_eq!(index.position(0), pos(1, 1), "inside the mark");
        assert_eq!(index.position(1), pos(1, 1), "inside the mark");
        assert_eq!(index.position(6), pos(2, 1));
        assert_eq!(index.line_text(1), "ab");
        assert_eq!(index.char_column_0based(4), (0, 1));
        let empty = LineIndex::new(BOM);
        assert_eq!(empty.line_count(), 1);
        assert_eq!(empty.position(3), pos(1, 1));
        assert_eq!(empty.line_text(1), "");
    }

    #[test]
    fn crlf_belongs_to_the_line_before() {
        let source = "ab\r\ncd\r\n";
        let index = LineIndex::new(source);
        assert_eq!(index.line_count(), 3);
        assert_eq!(index.position(2), pos(1, 3), "the \\r is on its line");
        assert_eq!(index.position(3), pos(1, 4), "so is the \\n");
        assert_eq!(
            index.position(4),
            pos(2, 1),
            "the \\r is not a column of line 2"
        );
        assert_eq!(index.position(8), pos(3, 1));
        assert_eq!(index.line_text(1), "ab");
        assert_eq!(index.line_text(2), "cd");
        assert_eq!(index.line_bounds(0), Some((0, 2)));
    }

    #[test]
    fn lone_cr_ends_a_line() {
        let index = LineIndex::new("ab\rcd\r\rx");
        assert_eq!(index.line_count(), 4);
        assert_eq!(index.position(3), pos(2, 1));
        assert_eq!(index.line_text(2), "cd");
        assert_eq!(index.line_text(3), "");
        assert_eq!(index.line_text(4), "x");
        assert_eq!(index.position(7), pos(4, 1));
    }

    #[test]
    fn mixed_ascii_and_non_ascii_lines() {
        let source = "plain\nnaïve 😀 ok\nplain again";
        let index = LineIndex::new(source);
        let Some(ok) = source.find("ok") else {
            panic!("no ok");
        };
        assert_eq!(index.position(ok), pos(2, 10));
        assert_eq!(index.char_column_0based(ok), (1, 8));
        let Some(again) = source.find("again") else {
            panic!("no again");
        };
        assert_eq!(index.position(again), pos(3, 7));
    }

    #[test]
    fn range_converts_both_ends() {
        let index = LineIndex::new("let x = 1;\nlet y = 2;\n");
        let range = index.range(ByteRange { start: 4, end: 16 });
        assert_eq!(range.start, pos(1, 5));
        assert_eq!(range.end, pos(2, 6));
    }

    #[test]
    fn agrees_with_a_naive_count() {
        let source = "a\r\nbé\r中😀\n\n\tx😀y\r\n";
        let index = LineIndex::new(source);
        for byte in 0..=source.len() + 2 {
            let mut clamped = byte.min(source.len());
            while !source.is_char_boundary(clamped) {
                clamped -= 1;
            }
            let before = &source[..clamped];
            // Naive: split what precedes the offset on line endings.
            let normalised = before.replace("\r\n", "\n").replace('\r', "\n");
            let line = normalised.matches('\n').count() + 1;
            let last = normalised.rsplit('\n').next().unwrap_or("");
            let expected = pos(
                u32::try_from(line).unwrap_or(0),
                u32::try_from(last.encode_utf16().count() + 1).unwrap_or(0),
            );
            // An offset on the \n of a \r\n is on the line of the \r.
            if before.ends_with('\r') && source[clamped..].starts_with('\n') {
                continue;
            }
            assert_eq!(index.position(byte), expected, "byte {byte}");
            assert_eq!(
                index.char_column_0based(byte),
                (line - 1, last.chars().count()),
                "byte {byte}"
            );
        }
    }

    /// The byte-at-a-time definition the vectorised scan must agree with: a line ends at
    /// `\n` or at a `\r` not followed by `\n`; a line is ASCII if its bytes are.
    fn lines_by_bytes(source: &str) -> (Vec<usize>, Vec<bool>) {
        let first = if source.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        let bytes = source.as_bytes();
        let (mut starts, mut ascii, mut line_ascii) = (vec![first], Vec::new(), true);
        for i in first..bytes.len() {
            match bytes[i] {
                b'\n' => {
                    ascii.push(line_ascii);
                    line_ascii = true;
                    starts.push(i + 1);
                }
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => {
                    ascii.push(line_ascii);
                    line_ascii = true;
                    starts.push(i + 1);
                }
                byte => line_ascii &= byte.is_ascii(),
            }
        }
        ascii.push(line_ascii);
        (starts, ascii)
    }

    proptest::proptest! {
        #[test]
        fn line_starts_agree_with_a_byte_at_a_time_scan(
            bom in proptest::bool::ANY,
            pieces in proptest::collection::vec(
                proptest::sample::select(vec!["a", "xyz", "\n", "\r", "\r\n", "é", "😀", "\t", "\u{feff}"]),
                0..64,
            ),
        ) {
            let source = format!("{}{}", if bom { BOM } else { "" }, pieces.concat());
            let index = LineIndex::new(&source);
            let (starts, ascii) = lines_by_bytes(&source);
            proptest::prop_assert_eq!(&index.table.line_starts, &starts);
            proptest::prop_assert_eq!(&index.table.ascii, &ascii);
        }

        /// Columns counted from checkpoints (every few bytes here, so that short inputs
        /// have many) are the columns counted from the start of the line.
        #[test]
        fn columns_from_checkpoints_are_columns_from_the_line_start(
            every in 1usize..8,
            lines in proptest::sample::select(vec![Lines::Editor, Lines::NewlineOnly]),
            pieces in proptest::collection::vec(
                proptest::sample::select(vec!["a", "xyz", "\n", "\r", "\r\n", "é", "😀", "\t", "\u{feff}"]),
                0..96,
            ),
        ) {
            let source = pieces.concat();
            let index = LineIndex {
                source: &source,
                table: LineTable::build(&source, lines, every),
            };
            let plain = LineIndex {
                source: &source,
                table: LineTable::build(&source, lines, usize::MAX),
            };
            proptest::prop_assert!(plain.table.checkpoints.is_empty());
            for byte in 0..=source.len() + 1 {
                if lines == Lines::Editor {
                    proptest::prop_assert_eq!(index.position(byte), plain.position(byte));
                }
                proptest::prop_assert_eq!(
                    index.char_column_0based(byte),
                    plain.char_column_0based(byte)
                );
                // ast-grep's count for `range`: lines split at `\n` only.
                if lines == Lines::NewlineOnly && source.is_char_boundary(byte) {
                    let before = &source[..byte];
                    let start = before.rfind('\n').map_or(0, |i| i + 1);
                    let naive = (before.matches('\n').count(), before[start..].chars().count());
                    proptest::prop_assert_eq!(index.char_column_0based(byte), naive);
                }
            }
        }
    }

    #[test]
    fn a_long_non_ascii_line_has_checkpoints_a_kibibyte_apart() {
        let line = format!("é{}", "ab".repeat(4000));
        let source = format!("x\n{line}\ny");
        let index = LineIndex::new(&source);
        assert_eq!(index.table.checkpoints.len(), 7);
        assert!(
            index
                .table
                .checkpoints
                .windows(2)
                .all(|w| w[1].byte - w[0].byte == CHECKPOINT_EVERY)
        );
        // Past the last checkpoint, on the line and on the next.
        assert_eq!(index.position(2 + 2 + 7999), pos(2, 8001));
        assert_eq!(index.position(source.len()), pos(3, 2));
        assert_eq!(index.char_column_0based(2 + 2 + 5000), (1, 5001));
        // Short and ASCII lines have none.
        assert!(
            LineIndex::new(&"ab".repeat(4000))
                .table
                .checkpoints
                .is_empty()
        );
        assert!(LineIndex::new("é\nab").table.checkpoints.is_empty());
    }
}
