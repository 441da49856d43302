//! Errors of loading and compiling rules.
//!
//! Every error names where it is: the file, the line and column, the rule id and the key
//! path inside the rule, so that a user can go straight to the line that is wrong.

use std::fmt;

use volatile_grammars::Lang;

use crate::document::{KeyPath, Location};
use crate::pattern::PatternError;

/// What is wrong with a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The YAML or JSON does not parse.
    #[error("{0}")]
    Syntax(String),
    /// A key that the format does not have.
    #[error("unknown key `{key}`{}", did_you_mean(.suggestion.as_deref()))]
    UnknownKey {
        /// The key.
        key: String,
        /// The nearest valid key.
        suggestion: Option<String>,
    },
    /// A value of the wrong shape.
    #[error("{0}")]
    Invalid(String),
    /// A required key is absent.
    #[error("missing key `{0}`")]
    Missing(&'static str),
    /// Neither `rule` nor `query`, or both.
    #[error("a rule needs exactly one of `rule` or `query`")]
    RuleOrQuery,
    /// Neither `language` nor `languages`, or both.
    #[error("a rule needs exactly one of `language` or `languages`")]
    LanguageOrLanguages,
    /// A language the engine does not support.
    #[error("unsupported language `{0}` (supported: typescript, tsx, javascript, python, java)")]
    UnsupportedLanguage(String),
    /// A rule object without any key.
    #[error("the rule object is empty: give it at least one of pattern, kind, regex, ...")]
    EmptyRule,
    /// A pattern that cannot be compiled.
    #[error("{0}")]
    Pattern(PatternError),
    /// A kind the grammar does not have.
    #[error("`{kind}` is not a node kind of {lang}{}", similar_list(.similar))]
    UnknownKind {
        /// The kind.
        kind: String,
        /// The language.
        lang: Lang,
        /// Close kind names.
        similar: Vec<String>,
    },
    /// A field the grammar does not have.
    #[error("`{field}` is not a field of {lang}")]
    UnknownField {
        /// The field.
        field: String,
        /// The language.
        lang: Lang,
    },
    /// A regular expression that does not compile.
    #[error("bad regex: {0}")]
    Regex(String),
    /// `field` where only `inside`/`has` allow it.
    #[error("`field` is only allowed in `inside` and `has`")]
    FieldNotAllowed,
    /// `stopBy`/`field` outside a relational rule.
    #[error("`{0}` is only allowed inside `inside`, `has`, `precedes` or `follows`")]
    RelationalKeyOutside(&'static str),
    /// A `matches` that names no util.
    #[error("`matches: {0}` names no util rule (define it under `utils` or in a utils directory)")]
    UndefinedUtil(String),
    /// Utils that refer to each other without ever moving in the tree.
    #[error("util rules refer to each other in a cycle: {0}")]
    CyclicUtil(String),
    /// A rule whose conditions exclude every node kind.
    #[error("the rule can match no node kind: its conditions require different kinds at once")]
    NoPossibleKind,
    /// A bad `nthChild`.
    #[error("bad nthChild `{0}`: expected a positive number or `An+B`")]
    NthChild(String),
    /// A bad tree-sitter query.
    #[error("bad query: {0}")]
    Query(String),
    /// A query without `@match`.
    #[error("the query has no `@match` capture to report")]
    QueryWithoutMatch,
    /// A bad glob in `files`/`ignores`.
    #[error("bad glob `{glob}`: {message}")]
    Glob {
        /// The glob.
        glob: String,
        /// Why.
        message: String,
    },
    /// A bad transformation.
    #[error("bad transform: {0}")]
    Transform(String),
    /// A `rewrite` naming no rewriter.
    #[error("`{0}` names no rewriter of this rule")]
    UndefinedRewriter(String),
    /// Two rules of one playbook with the same id.
    #[error("duplicate rule id `{id}` (first defined in {first})")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first defined.
        first: String,
    },
    /// A file that cannot be read.
    #[error("cannot read: {0}")]
    Io(String),
}

fn did_you_mean(s: Option<&str>) -> String {
    s.map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

fn similar_list(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(
            " (did you mean {}?)",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// An error with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file, if the rule came from one.
    pub file: Option<String>,
    /// Line and column in the file.
    pub location: Option<Location>,
    /// The rule's id, if known.
    pub rule_id: Option<String>,
    /// The key path inside the rule document.
    pub key_path: KeyPath,
    /// What is wrong.
    pub kind: Box<ErrorKind>,
}

impl RuleError {
    /// An error at the root of a document.
    pub fn new(kind: ErrorKind) -> RuleError {
        RuleError {
            file: None,
            location: None,
            rule_id: None,
            key_path: KeyPath::root(),
            kind: Box::new(kind),
        }
    }

    /// An error at a key path.
    pub fn at(path: &KeyPath, kind: ErrorKind) -> RuleError {
        RuleError {
            key_path: path.clone(),
            ..RuleError::new(kind)
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.location) {
            (Some(file), Some(loc)) => write!(f, "{file}:{loc}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(loc)) => write!(f, "line {}, column {}: ", loc.line, loc.column)?,
            (None, None) => {}
        }
        if let Some(id) = &self.rule_id {
            write!(f, "rule `{id}`: ")?;
        }
        if !self.key_path.is_root() {
            write!(f, "{}: ", self.key_path)?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for RuleError {}

/// A problem that does not stop a rule from loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleWarning {
    /// The file, if any.
    pub file: Option<String>,
    /// Line and column.
    pub location: Option<Location>,
    /// The rule's id.
    pub rule_id: Option<String>,
    /// What to know.
    pub message: String,
}

impl fmt::Display for RuleWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.location) {
            (Some(file), Some(loc)) => write!(f, "{file}:{loc}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            _ => {}
        }
        if let Some(id) = &self.rule_id {
            write!(f, "rule `{id}`: ")?;
        }
        f.write_str(&self.message)
    }
}
