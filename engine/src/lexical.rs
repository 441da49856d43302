//! What a file's text says without parsing it: where its comments and the text of its
//! string literals surely are, and where no token can start or end.
//!
//! The prefilter counts a literal that only code can contain (an identifier of a pattern,
//! say) only where it occurs outside comments: documentation that mentions
//! `console.log` or `fetch` does not make a file worth parsing. Inside the text of a
//! string literal, tree-sitter's only tokens are string fragments and escape sequences,
//! so a literal that a match has at a node's edge counts there only at the ends of that
//! text or next to an escape: `fetch(` inside a string holding minified code does not
//! count for `fetch($URL)`. That is only sound if every range called a comment (a
//! string's text) here is one for tree-sitter too, so the lexer is deliberately partial:
//! it follows the language's lexical grammar (strings, template literals and their
//! substitutions, regular-expression literals) and, at the first place where it cannot
//! be sure what tree-sitter would see, it stops. Everything from there on counts as
//! code, which can only make the prefilter keep more.
//!
//! The places it stops at, for JavaScript and TypeScript:
//! - a `/` that could start a regular expression or be a division, as after `)` (the end
//!   of `if (x)` or of `f(x)`), `}` (a block or an object), `++`, a word that may be an
//!   identifier or a keyword (`yield`, `await`, `of`, `let`), a non-ASCII character
//!   (Unicode spaces are whitespace there), or any token followed by a line break (where
//!   automatic semicolon insertion may end a statement, as after a type annotation);
//! - where JSX may start (`<` where an expression may, in JavaScript and TSX): JSX text
//!   is not JavaScript, and `//` in it is not a comment;
//! - HTML-like comments (`<!--`, `-->`), a `\` outside a literal, and anything
//!   unterminated (a string, a regular expression, a template, a block comment).
//!
//! In every language, a literal that a match has where a node's text starts (a
//! pattern's terminal, a regex's prefix after `^`) counts only where a token may start:
//! not between two letters, digits or `_` ([`may_split`]), unless an escape sequence
//! (`"\nfetch"` has a string fragment `fetch`) or a number (Python's `1if`) may end
//! there. One a match has where a node's text ends, only where a token may end.
//!
//! On a file that tree-sitter parses without errors, the ranges are its comments' (or
//! within them), the strings' texts are where its string fragments and escape sequences
//! are, and tokens start and end as said. Only there: tree-sitter's error recovery may
//! read a broken file's tokens differently. Languages without a lexer here ([`lexed`]:
//! Python and Java) report no comments and no strings, so their literals count in
//! comments and anywhere in strings too.

use volatile_grammars::Lang;

/// Whether `lang`'s texts are lexed here (JavaScript, TypeScript and TSX): only then
/// does [`Lexed::of`] find any comments or strings.
pub fn lexed(lang: Lang) -> bool {
    matches!(lang, Lang::TypeScript | Lang::Tsx | Lang::JavaScript)
}

/// A letter, digit or `_`. No token ends with one right before another (maximal
/// munch) unless an escape sequence or a number ends there. `$` is left out, as a
/// template's text may end at `${`, and so are non-ASCII letters (an edge may lie next
/// to one).
pub fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// How far before a token an escape sequence ending there may start: Python's
/// `\U0001F600` (10 bytes) is the longest of fixed length; those of any length end with
/// `}` (`\u{1F600}`, `\N{DASH}`), which no token edge after them needs.
const ESCAPE_REACH: usize = 10;

/// Whether a token may start or end at byte `at` of `text` (a boundary between tokens
/// may lie before it), in any of our languages' files: not between two letters, digits
/// or `_`, unless an escape sequence may end there (`"\u0041bc"` is an escape sequence
/// and a string fragment `bc`) or the run of them before `at` starts with a digit (a
/// number, which Python lets a keyword follow: `1if x else 2`, `0x1for`).
pub fn may_split(text: &[u8], at: usize) -> bool {
    let before = text.get(..at).unwrap_or_default();
    let joined =
        before.last().is_some_and(|&b| word_byte(b)) && text.get(at).is_some_and(|&b| word_byte(b));
    if !joined {
        return true;
    }
    let escaped = before
        .get(at.saturating_sub(ESCAPE_REACH)..)
        .is_some_and(|window| window.contains(&b'\\'));
    let run = before.iter().rev().take_while(|&&b| word_byte(b));
    let number = run.last().is_some_and(u8::is_ascii_digit);
    escaped || number
}

/// What lexing a text found before the end or the first place it was unsure: the byte
/// ranges that are surely comments, and those that are surely the text of a string or
/// template literal (between its quotes, or between a template's `` ` ``, `}` and `${`),
/// each in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lexed {
    comments: Vec<(u32, u32)>,
    strings: Vec<(u32, u32)>,
}

impl Lexed {
    /// Lexes `text` in `lang`. Texts of 4 GiB or more, and languages without a lexer
    /// here, have no comments and no strings.
    pub fn of(lang: Lang, text: &[u8]) -> Lexed {
        if text.len() >= u32::MAX as usize {
            return Lexed::default();
        }
        match lang {
            Lang::TypeScript => Lexer::new(text, false).run(),
            Lang::Tsx | Lang::JavaScript => Lexer::new(text, true).run(),
            Lang::Python | Lang::Java => Lexed::default(),
        }
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.comments.is_empty() && self.strings.is_empty()
    }

    /// Whether the byte at `offset` lies in a comment.
    pub fn in_comment(&self, offset: u32) -> bool {
        containing(&self.comments, offset).is_some_and(|(_, end)| offset < end)
    }

    /// Whether the byte at `offset` lies in a string's text.
    pub fn in_string(&self, offset: u32) -> bool {
        containing(&self.strings, offset).is_some_and(|(_, end)| offset < end)
    }

    /// The comment ranges, `[start, end)` in bytes, in order.
    pub fn comments(&self) -> &[(u32, u32)] {
        &self.comments
    }

    /// The ranges of the strings' texts, `[start, end)` in bytes, in order.
    pub fn strings(&self) -> &[(u32, u32)] {
        &self.strings
    }

    /// Whether a token may start or end at byte `at` of `text` (the text lexed), as far
    /// as the strings tell: anywhere outside their texts, and within one only at its ends
    /// and where an escape sequence may start or end (see [`string_may_split`]).
    pub fn may_split(&self, text: &[u8], at: usize) -> bool {
        let Ok(offset) = u32::try_from(at) else {
            return true;
        };
        match containing(&self.strings, offset) {
            Some((start, end)) if start < offset && offset < end => {
                string_may_split(text, start as usize, at)
            }
            _ => true,
        }
    }
}

/// The last of `ranges` (in order) that starts at or before `offset`.
fn containing(ranges: &[(u32, u32)], offset: u32) -> Option<(u32, u32)> {
    let after = ranges.partition_point(|&(start, _)| start <= offset);
    after.checked_sub(1).and_then(|i| ranges.get(i).copied())
}

/// Whether a token may start or end at `at`, strictly inside the text of a string
/// literal that starts at `start`. tree-sitter reads that text as string fragments (each
/// as long as it can be) and escape sequences, so only where an escape sequence starts
/// (a `\`) or may end: within [`ESCAPE_REACH`] bytes after a `\`, or after a `}`
/// (`\u{1F600}`).
fn string_may_split(text: &[u8], start: usize, at: usize) -> bool {
    let window = text
        .get(at.saturating_sub(ESCAPE_REACH).max(start)..at)
        .unwrap_or_default();
    text.get(at) == Some(&b'\\') || window.last() == Some(&b'}') || window.contains(&b'\\')
}

/// What the previous token says a `/` after it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// An operand ended: `/` divides.
    Operand,
    /// An operator or the start of a statement: `/` starts a regular expression, `<` may
    /// start JSX.
    Operator,
    /// Either; the lexer stops at a `/` or `<` here.
    Unsure,
}

/// Words after which an expression (so a regular expression) surely follows.
const EXPRESSION_KEYWORDS: &[&[u8]] = &[
    b"return",
    b"typeof",
    b"instanceof",
    b"in",
    b"new",
    b"delete",
    b"void",
    b"throw",
    b"case",
    b"do",
    b"else",
    b"extends",
    b"default",
];

/// Words that are identifiers in some places and keywords in others.
const UNSURE_KEYWORDS: &[&[u8]] = &[
    b"yield",
    b"await",
    b"of",
    b"let",
    b"break",
    b"continue",
    b"debugger",
];

/// A lexer for JavaScript and TypeScript that stops where it is unsure.
struct Lexer<'t> {
    text: &'t [u8],
    /// JSX may occur (JavaScript and TSX).
    jsx: bool,
    at: usize,
    before: Before,
    /// A line break since the last token.
    line_break: bool,
    /// The last token was a `.` (so a word after it is a property name).
    after_dot: bool,
    /// Open braces, and for each open template substitution the brace count it began at.
    braces: u32,
    substitutions: Vec<u32>,
    comments: Vec<(u32, u32)>,
    strings: Vec<(u32, u32)>,
}

/// Why lexing stopped early.
struct Unsure;

impl<'t> Lexer<'t> {
    fn new(text: &'t [u8], jsx: bool) -> Lexer<'t> {
        Lexer {
            text,
            jsx,
            at: 0,
            before: Before::Operator,
            line_break: false,
            after_dot: false,
            braces: 0,
            substitutions: Vec::new(),
            comments: Vec::new(),
            strings: Vec::new(),
        }
    }

    /// The comments and strings found before the end or the first unsure place.
    fn run(mut self) -> Lexed {
        // Whatever was found before stopping is sure; what follows counts as code.
        let _ = self.tokens();
        Lexed {
            comments: self.comments,
            strings: self.strings,
        }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.text.get(at).copied()
    }

    fn starts_with(&self, at: usize, what: &[u8]) -> bool {
        self.text
            .get(at..)
            .is_some_and(|rest| rest.starts_with(what))
    }

    /// Whether a line terminator starts at `at`: `\n`, `\r`, U+2028 or U+2029.
    fn line_terminator(&self, at: usize) -> bool {
        matches!(self.byte(at), Some(b'\n' | b'\r'))
            || self.starts_with(at, "\u{2028}".as_bytes())
            || self.starts_with(at, "\u{2029}".as_bytes())
    }

    fn tokens(&mut self) -> Result<(), Unsure> {
        if self.starts_with(0, b"#!") {
            self.at = self.line_end(0);
        }
        while let Some(b) = self.byte(self.at) {
            match b {
                b'\n' | b'\r' => {
                    self.line_break = true;
                    self.at += 1;
                }
                b' ' | b'\t' | 0x0b | 0x0c => self.at += 1,
                b'/' => self.slash()?,
                b'\'' | b'"' => {
                    self.string(b)?;
                    self.token(Before::Operand);
                }
                b'`' => {
                    self.at += 1;
                    self.template()?;
                }
                b'{' => {
                    self.braces += 1;
                    self.at += 1;
                    self.token(Before::Operator);
                }
                b'}' => {
                    self.at += 1;
                    if self.substitutions.last() == Some(&self.braces) {
                        self.substitutions.pop();
                        self.template()?;
                    } else {
                        self.braces = self.braces.checked_sub(1).ok_or(Unsure)?;
                        self.token(Before::Unsure);
                    }
                }
                b')' => {
                    self.at += 1;
                    self.token(Before::Unsure);
                }
                b']' => {
                    self.at += 1;
                    self.token(Before::Operand);
                }
                b'+' | b'-' if self.byte(self.at + 1) == Some(b) => {
                    if b == b'-' && self.byte(self.at + 2) == Some(b'>') {
                        return Err(Unsure); // `-->` may be an HTML-like comment
                    }
                    self.at += 2;
                    self.token(Before::Unsure);
                }
                b'<' => {
                    if self.starts_with(self.at, b"<!--") {
                        return Err(Unsure);
                    }
                    if self.jsx && self.regex_may_start()? {
                        return Err(Unsure); // JSX may start here
                    }
                    self.at += 1;
                    self.token(Before::Operator);
                }
                b'.' if self.byte(self.at + 1).is_some_and(|d| d.is_ascii_digit()) => {
                    self.word();
                    self.token(Before::Operand);
                }
                b'.' if !self.starts_with(self.at, b"...") => {
                    self.at += 1;
                    self.token(Before::Operator);
                    self.after_dot = true;
                }
                b'0'..=b'9' => {
                    self.word();
                    self.token(Before::Operand);
                }
                b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'$' | b'#' => {
                    let start = self.at;
                    self.word();
                    let word = self.text.get(start..self.at).unwrap_or_default();
                    let before = if self.after_dot {
                        Before::Operand
                    } else if EXPRESSION_KEYWORDS.contains(&word) {
                        Before::Operator
                    } else if UNSURE_KEYWORDS.contains(&word) {
                        Before::Unsure
                    } else {
                        Before::Operand
                    };
                    self.token(before);
                }
                b'!' if self.byte(self.at + 1) != Some(b'=') => {
                    // After an operand, TypeScript's non-null assertion (`x! / 2`).
                    self.at += 1;
                    let before = self.before;
                    self.token(match before {
                        Before::Operand if !self.line_break => Before::Operand,
                        Before::Operand | Before::Unsure => Before::Unsure,
                        Before::Operator => Before::Operator,
                    });
                }
                b'>' => {
                    // `>=` is an operator; a lone `>` may close type arguments
                    // (`x as Array<T> / 2`) or compare.
                    if self.byte(self.at + 1) == Some(b'=') {
                        self.at += 2;
                        self.token(Before::Operator);
                    } else {
                        self.at += 1;
                        self.token(Before::Unsure);
                    }
                }
                b'\\' => return Err(Unsure),
                0x80.. => {
                    // A Unicode space or part of an identifier: unsure either way.
                    self.at += 1;
                    while self.byte(self.at).is_some_and(|c| c & 0xc0 == 0x80) {
                        self.at += 1;
                    }
                    self.token(Before::Unsure);
                }
                // Punctuators after which an expression may start.
                _ => {
                    self.at += 1;
                    self.token(Before::Operator);
                }
            }
        }
        Ok(())
    }

    /// A token ended; `before` is what it says of a `/` after it.
    fn token(&mut self, before: Before) {
        self.before = before;
        self.line_break = false;
        self.after_dot = false;
    }

    /// Whether a regular expression (or JSX) may start here; unsure is an error.
    fn regex_may_start(&self) -> Result<bool, Unsure> {
        match self.before {
            Before::Operator => Ok(true),
            Before::Operand if !self.line_break => Ok(false),
            Before::Operand | Before::Unsure => Err(Unsure),
        }
    }

    /// Identifier characters, digits and dots: a word, a member chain or a number
    /// (`1.5e3`, `0x1fn`); whichever, a `/` after it divides.
    fn word(&mut self) {
        while self
            .byte(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'#' | b'.'))
        {
            self.at += 1;
        }
    }

    /// The offset of the line terminator ending the line that `from` is on (or the end).
    fn line_end(&self, from: usize) -> usize {
        let mut at = from;
        while at < self.text.len() && !self.line_terminator(at) {
            at += 1;
        }
        at
    }

    // Offsets fit: texts of 4 GiB or more are not lexed.
    fn comment(&mut self, start: usize, end: usize) {
        self.comments.push((start as u32, end as u32));
    }

    /// The text of a string, or a template's text between its delimiters.
    fn string_text(&mut self, start: usize, end: usize) {
        if start < end {
            self.strings.push((start as u32, end as u32));
        }
    }

    /// A comment, a regular expression or a division.
    fn slash(&mut self) -> Result<(), Unsure> {
        let start = self.at;
        match self.byte(start + 1) {
            Some(b'/') => {
                let end = self.line_end(start + 2);
                self.comment(start, end);
                self.at = end;
            }
            Some(b'*') => {
                let body = self.text.get(start + 2..).ok_or(Unsure)?;
                let close = body.windows(2).position(|w| w == b"*/").ok_or(Unsure)?;
                let end = start + 2 + close + 2;
                let inside = body.get(..close).unwrap_or_default();
                if inside.iter().any(|&c| c == b'\n' || c == b'\r')
                    || inside
                        .windows(3)
                        .any(|w| w == "\u{2028}".as_bytes() || w == "\u{2029}".as_bytes())
                {
                    self.line_break = true;
                }
                self.comment(start, end);
                self.at = end;
            }
            _ if self.regex_may_start()? => {
                self.regex()?;
                self.token(Before::Operand);
            }
            _ => {
                self.at += 1;
                self.token(Before::Operator);
            }
        }
        Ok(())
    }

    /// A regular expression literal from its opening `/`, with its flags.
    fn regex(&mut self) -> Result<(), Unsure> {
        let mut at = self.at + 1;
        let mut class = false;
        loop {
            if self.line_terminator(at) {
                return Err(Unsure);
            }
            match self.byte(at).ok_or(Unsure)? {
                b'\\' => {
                    if self.line_terminator(at + 1) {
                        return Err(Unsure);
                    }
                    at += 2;
                    continue;
                }
                b'[' => class = true,
                b']' => class = false,
                b'/' if !class => break,
                _ => {}
            }
            at += 1;
        }
        self.at = at + 1;
        while self
            .byte(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$'))
        {
            self.at += 1;
        }
        Ok(())
    }

    /// A string literal from its opening quote.
    fn string(&mut self, quote: u8) -> Result<(), Unsure> {
        let mut at = self.at + 1;
        loop {
            match self.byte(at).ok_or(Unsure)? {
                b'\\' => {
                    // A line continuation may be `\` and `\r\n`.
                    at += if self.starts_with(at + 1, b"\r\n") {
                        3
                    } else {
                        2
                    };
                }
                b'\n' | b'\r' => return Err(Unsure),
                c if c == quote => break,
                _ => at += 1,
            }
        }
        self.string_text(self.at + 1, at);
        self.at = at + 1;
        Ok(())
    }

    /// The rest of a template literal, from after its `` ` `` or the `}` closing a
    /// substitution, up to its end or the next substitution's `${`.
    fn template(&mut self) -> Result<(), Unsure> {
        let mut at = self.at;
        loop {
            match self.byte(at).ok_or(Unsure)? {
                b'\\' => at += 2,
                b'`' => {
                    self.string_text(self.at, at);
                    self.at = at + 1;
                    self.token(Before::Operand);
                    return Ok(());
                }
                b'$' if self.byte(at + 1) == Some(b'{') => {
                    self.string_text(self.at, at);
                    self.at = at + 2;
                    self.substitutions.push(self.braces);
                    self.token(Before::Operator);
                    return Ok(());
                }
                _ => at += 1,
            }
        }
    }
}
