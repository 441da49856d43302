//! Reading rule documents into specs, with every error placed at its line.

use serde_json::Value;

use crate::document::{Document, KeyPath, Location, SyntaxError, parse_yaml};
use crate::error::{ErrorKind, RuleError, RuleWarning};
use crate::spec::{
    RULE_FILE_KEYS, RULE_KEYS, RuleFileSpec, strip_relational_unknown_keys, suggest,
};

/// A rule document read into its spec.
#[derive(Debug, Clone)]
pub struct ParsedRule {
    /// The spec.
    pub spec: RuleFileSpec,
    /// Where the document starts.
    pub location: Location,
    /// Keys ignored for compatibility with ast-grep.
    pub warnings: Vec<RuleWarning>,
    document: Document,
}

impl ParsedRule {
    /// The line and column of a key path of this document.
    pub fn locate(&self, path: &KeyPath) -> Location {
        self.document
            .source_map
            .locate(path)
            .unwrap_or(self.location)
    }

    /// Places a compile error: adds the file, the line of its key path and the rule id.
    pub fn place(&self, mut error: RuleError, file: Option<&str>) -> RuleError {
        error.file = file.map(str::to_string);
        error.location = self
            .document
            .source_map
            .locate(&error.key_path)
            .or(Some(self.location));
        if error.rule_id.is_none() {
            error.rule_id = Some(self.spec.id.clone());
        }
        error
    }
}

/// Parses every rule document of a YAML (or JSON) text. Each document succeeds or fails
/// on its own.
pub fn parse_rule_text(text: &str, file: Option<&str>) -> Vec<Result<ParsedRule, RuleError>> {
    match parse_yaml(text) {
        Ok(docs) => docs
            .into_iter()
            .map(|doc| parse_rule_document(doc, file))
            .collect(),
        Err(e) => vec![Err(syntax_error(e, file))],
    }
}

/// A rule file that is not YAML (or JSON), as a rule error.
pub(crate) fn syntax_error(e: SyntaxError, file: Option<&str>) -> RuleError {
    RuleError {
        file: file.map(str::to_string),
        location: Some(e.location),
        rule_id: None,
        key_path: KeyPath::root(),
        kind: Box::new(ErrorKind::Syntax(e.message)),
    }
}

/// Reads one document (a JSON or YAML value with its source map) into a rule spec.
pub fn parse_rule_document(mut doc: Document, file: Option<&str>) -> Result<ParsedRule, RuleError> {
    let location = doc.source_map.locate(&KeyPath::root()).unwrap_or_default();
    let id = doc
        .value
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut ignored = Vec::new();
    if let Value::Object(map) = &mut doc.value {
        for (key, value) in map.iter_mut() {
            let path = KeyPath::root().key(key);
            match key.as_str() {
                "rule" => ignored.extend(strip_relational_unknown_keys(value, &path)),
                "utils" | "constraints" => {
                    if let Value::Object(items) = value {
                        for (name, rule) in items.iter_mut() {
                            ignored.extend(strip_relational_unknown_keys(rule, &path.key(name)));
                        }
                    }
                }
                "rewriters" => {
                    if let Value::Array(items) = value {
                        for (i, item) in items.iter_mut().enumerate() {
                            if let Some(rule) = item.get_mut("rule") {
                                let p = path.index(i).key("rule");
                                ignored.extend(strip_relational_unknown_keys(rule, &p));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let warnings = ignored
        .into_iter()
        .map(|k| RuleWarning {
            file: file.map(str::to_string),
            location: doc.source_map.locate_key(&k.path.key(&k.key)),
            rule_id: id.clone(),
            message: format!(
                "{}: unknown key `{}` ignored, as ast-grep ignores it{}",
                k.path,
                k.key,
                k.suggestion
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default()
            ),
        })
        .collect();
    let spec: RuleFileSpec = serde_path_to_error::deserialize(&doc.value).map_err(|e| {
        let path = KeyPath::from_serde(e.path());
        let kind = describe_serde_error(&e.inner().to_string(), &path);
        // An unknown key is placed at the key, and named in the message, not the path.
        let (shown, located) = match &kind {
            ErrorKind::UnknownKey { key, .. } if path.last_key() == Some(key.as_str()) => {
                (path.parent(), doc.source_map.locate_key(&path))
            }
            ErrorKind::UnknownKey { key, .. } => {
                (path.clone(), doc.source_map.locate_key(&path.key(key)))
            }
            _ => (path.clone(), doc.source_map.locate(&path)),
        };
        let mut error = RuleError::at(&shown, kind);
        error.file = file.map(str::to_string);
        error.location = located.or(Some(location));
        error.rule_id = id.clone();
        error
    })?;
    Ok(ParsedRule {
        spec,
        location,
        warnings,
        document: doc,
    })
}

/// Turns serde's message into one a rule author can act on.
fn describe_serde_error(message: &str, path: &KeyPath) -> ErrorKind {
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        let key = &rest[..end];
        let candidates =
            if path.is_root() || path.parent().is_root() && path.last_key() == Some(key) {
                RULE_FILE_KEYS
            } else {
                RULE_KEYS
            };
        return ErrorKind::UnknownKey {
            key: key.to_string(),
            suggestion: suggest(key, candidates).map(str::to_string),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some(end) = rest.find('`')
    {
        let field = &rest[..end];
        let known = [
            "id",
            "rule",
            "fix",
            "position",
            "context",
            "source",
            "template",
            "style",
            "start",
            "end",
            "line",
            "column",
            "replace",
            "by",
            "toCase",
            "rewriters",
        ];
        if let Some(k) = known.iter().find(|k| **k == field) {
            return ErrorKind::Missing(k);
        }
    }
    let untagged = [
        (
            "PatternSpec",
            "expected a pattern string or {context, selector, strictness}",
        ),
        (
            "NthChildSpec",
            "expected a number, `An+B`, or {position, reverse, ofRule}",
        ),
        ("NthChildPosition", "expected a number or `An+B`"),
        ("StopBySpec", "expected `neighbor`, `end` or a rule object"),
        (
            "FixSpec",
            "expected a template string or {template, expandStart, expandEnd}",
        ),
        (
            "TransformSpec",
            "expected a string like `substring($A, startChar=1)` or {substring|replace|convert|rewrite: ...}",
        ),
    ];
    for (name, help) in untagged {
        if message.contains(name) {
            return ErrorKind::Invalid(format!("invalid value: {help}"));
        }
    }
    if message.contains("unsupported language") {
        let lang = message.split('`').nth(1).unwrap_or_default().to_string();
        return ErrorKind::UnsupportedLanguage(lang);
    }
    ErrorKind::Invalid(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(text: &str) -> String {
        match parse_rule_text(text, Some("r.yml")).into_iter().next() {
            Some(Err(e)) => e.to_string(),
            Some(Ok(_)) => "ok".into(),
            None => "none".into(),
        }
    }

    #[test]
    fn unknown_keys_are_errors_with_suggestions() {
        let e = first_error("id: a\nlanguage: js\nrule:\n  kind: x\n  patern: y\n");
        assert_eq!(
            e,
            "r.yml:5:3: rule `a`: rule: unknown key `patern` (did you mean `pattern`?)"
        );
        let e = first_error("id: a\nlanguage: js\nmesage: hi\nrule:\n  kind: x\n");
        assert_eq!(
            e,
            "r.yml:3:1: rule `a`: unknown key `mesage` (did you mean `message`?)"
        );
    }

    #[test]
    fn unsupported_language_is_named() {
        let e = first_error("id: a\nlanguage: cobol\nrule:\n  kind: x\n");
        assert!(
            e.starts_with("r.yml:2:11: rule `a`: language: unsupported language `cobol`"),
            "{e}"
        );
    }

    #[test]
    fn relational_unknown_keys_become_warnings() {
        let parsed = parse_rule_text(
            "id: a\nlanguage: java\nrule:\n  kind: x\n  has:\n    kind: y\n    nthchild: 1\n",
            Some("r.yml"),
        );
        let Some(Ok(rule)) = parsed.into_iter().next() else {
            panic!("should parse")
        };
        assert_eq!(rule.warnings.len(), 1);
        assert_eq!(
            rule.warnings[0].to_string(),
            "r.yml:7:5: rule `a`: rule.has: unknown key `nthchild` ignored, as ast-grep ignores it (did you mean `nthChild`?)"
        );
    }

    #[test]
    fn several_documents_fail_independently() {
        let results = parse_rule_text(
            "id: a\nlanguage: js\nrule: {kind: x}\n---\nid: b\nlanguage: js\nrule: 3\n",
            None,
        );
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        assert!(results[1].is_err());
    }
}
