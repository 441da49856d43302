//! The one shape of a result, shared by the command line and the HTTP API.
//!
//! Positions are given twice: `range` in 1-based lines and UTF-16 columns (what editors,
//! review tools and SARIF count in, `end` exclusive) and `byte_range` in 0-based bytes of
//! the submitted text, so that a client can slice its own buffer without re-counting.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use volatile_grammars::Lang;

/// How much a finding matters. Ordered: `Hint < Info < Warning < Error`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A suggestion; the default of a rule that names none.
    Hint,
    /// Worth knowing.
    Info,
    /// Should be fixed.
    Warning,
    /// Must be fixed.
    Error,
}

impl Severity {
    /// The lowercase name, as written in rule files.
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Hint => "hint",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// Parses a severity name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Severity> {
        match name.to_ascii_lowercase().as_str() {
            "hint" => Some(Severity::Hint),
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A line and column, both 1-based; the column counts UTF-16 code units.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Position {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in UTF-16 code units.
    pub column: u32,
}

/// A span of lines and columns, `end` exclusive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Range {
    /// First position of the span.
    pub start: Position,
    /// Position just after the span.
    pub end: Position,
}

/// A span of bytes of the submitted text: 0-based, `end` exclusive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct ByteRange {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl ByteRange {
    /// Whether the two spans share at least one byte, or touch at an empty span.
    pub fn overlaps(&self, other: &ByteRange) -> bool {
        self.start < other.end && other.start < self.end
            || (self.start == self.end && other.start <= self.start && self.start <= other.end)
    }
}

/// A replacement proposed by a rule's `fix`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Fix {
    /// The text that replaces `byte_range`.
    pub text: String,
    /// The bytes replaced (may be wider than the finding, see `expandStart`/`expandEnd`).
    pub byte_range: ByteRange,
}

/// One place where one rule matched. Ordered field by field, a total order that only
/// breaks the ties of [`Finding::sort_key`], the order findings are reported in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// The rule's id, unique within its playbook.
    pub rule_id: String,
    /// The id of the playbook the rule belongs to.
    pub playbook: String,
    /// The rule's standard: its directory inside the playbook (e.g. `security`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<String>,
    /// How much it matters.
    pub severity: Severity,
    /// The rule's message, with captured metavariables filled in.
    pub message: String,
    /// Why it matters and how to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where to read more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The file's path, as given.
    pub path: String,
    /// The file's language.
    pub language: Lang,
    /// Lines and UTF-16 columns of the matched node.
    pub range: Range,
    /// Bytes of the matched node.
    pub byte_range: ByteRange,
    /// The rule's fix applied to this match, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// A stable hash of (playbook, rule id, path, normalised matched text).
    pub fingerprint: String,
}

impl Finding {
    /// The order findings are reported in: path, byte start, byte end, rule id (then
    /// playbook, so that the order is total).
    pub fn sort_key(&self) -> (&str, usize, usize, &str, &str) {
        (
            &self.path,
            self.byte_range.start,
            self.byte_range.end,
            &self.rule_id,
            &self.playbook,
        )
    }

    /// Whether the finding's lines meet one of `ranges` (1-based, inclusive): what
    /// `changed_lines` and `scan --diff` keep.
    pub fn touches_lines(&self, ranges: &[(u32, u32)]) -> bool {
        let (first, last) = (self.range.start.line, self.range.end.line);
        ranges.iter().any(|&(s, e)| first <= e && s <= last)
    }
}

/// A machine-readable reason why a file was not (fully) analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileErrorCode {
    /// The content is not valid UTF-8.
    NotUtf8,
    /// The file could not be read.
    Unreadable,
    /// No language was given and none could be told from the path or a shebang.
    UnknownLanguage,
    /// The file is larger than the byte limit.
    TooLarge,
    /// The deadline passed before the file was finished.
    DeadlineExceeded,
    /// The file's `changed_lines` are not a list of 1-based `[start, end]` with start <= end.
    InvalidChangedLines,
    /// A bug: the analysis of this file panicked. Other files are unaffected.
    Internal,
}

impl FileErrorCode {
    /// The snake_case code, as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            FileErrorCode::NotUtf8 => "not_utf8",
            FileErrorCode::Unreadable => "unreadable",
            FileErrorCode::UnknownLanguage => "unknown_language",
            FileErrorCode::TooLarge => "too_large",
            FileErrorCode::DeadlineExceeded => "deadline_exceeded",
            FileErrorCode::InvalidChangedLines => "invalid_changed_lines",
            FileErrorCode::Internal => "internal",
        }
    }
}

/// A file-level problem. The message never quotes the file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileError {
    /// The file's path, as given.
    pub path: String,
    /// What went wrong, for machines.
    pub code: FileErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

/// Counts and durations of one analysis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    /// Files analysed (including those that ended in an error).
    pub files: u64,
    /// Bytes of source analysed.
    pub bytes: u64,
    /// Findings reported.
    pub findings: u64,
    /// Time spent parsing, summed over threads, in milliseconds.
    pub parse_ms: u64,
    /// Time spent matching, summed over threads, in milliseconds.
    pub match_ms: u64,
    /// Wall-clock time of the whole analysis, in milliseconds.
    pub total_ms: u64,
}
