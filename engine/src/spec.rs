//! What a rule file says: serde types, unknown keys rejected.
//!
//! These types are a superset of ast-grep's rule format, so existing ast-grep rules
//! deserialize unchanged. They carry no meaning beyond shape: every semantic check happens
//! when a spec is compiled ([`crate::compile`]).
//!
//! One deliberate leniency, for compatibility: ast-grep ignores unknown keys inside
//! relational rules (`inside`, `has`, `precedes`, `follows`), so real-world rules contain
//! typos there (`nthchild: 1`) that ast-grep never reported. Those keys are removed with a
//! warning before deserialization ([`strip_relational_unknown_keys`]); everywhere else an
//! unknown key is an error that names the nearest valid key.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use volatile_grammars::Lang;

use crate::document::KeyPath;

/// One rule file document (several may share a file, separated by `---`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleFileSpec {
    /// Stable identifier, unique within its playbook.
    pub id: String,
    /// The language the rule applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Lang>,
    /// Volatile extension: several languages for one rule; its patterns must parse in each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<Lang>>,
    /// `hint` (default), `info`, `warning`, `error` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<SeveritySpec>,
    /// What is wrong; `$VAR` is replaced by the text the metavariable captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why it matters and how to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where to read more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Free-form data carried along with the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Globs: the rule applies only to paths matching one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
    /// Globs: the rule never applies to paths matching one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignores: Option<Vec<String>>,
    /// The rule object that finds the nodes to report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleSpec>,
    /// Volatile extension: a raw tree-sitter query instead of `rule`; `@match` is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Extra conditions on single metavariables, checked after `rule` matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<IndexMap<String, RuleSpec>>,
    /// Named rule objects usable through `matches` in this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utils: Option<IndexMap<String, RuleSpec>>,
    /// New metavariables computed from captured ones, usable in `fix` and `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<IndexMap<String, TransformSpec>>,
    /// Rules used by the `rewrite` transformation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewriters: Option<Vec<RewriterSpec>>,
    /// Labels on metavariables, for richer reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<IndexMap<String, LabelSpec>>,
    /// A replacement template for the matched node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixSpec>,
    /// Volatile extension: code the rule must (invalid) and must not (valid) report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<ExamplesSpec>,
}

/// A severity as written in a rule file, including `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeveritySpec {
    /// A suggestion.
    Hint,
    /// Worth knowing.
    Info,
    /// Should be fixed.
    Warning,
    /// Must be fixed.
    Error,
    /// The rule is disabled.
    Off,
}

/// A rule object: every key present must match (they are combined with `all`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    /// Code with metavariables, or `{context, selector, strictness}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<PatternSpec>,
    /// The node's tree-sitter kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A regular expression the node's whole text must match (Rust regex syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The node's position among its named siblings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth_child: Option<NthChildSpec>,
    /// The node's exact position in the file (0-based lines and character columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeSpec>,
    /// An ancestor must match this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside: Option<Box<RuleSpec>>,
    /// A descendant must match this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has: Option<Box<RuleSpec>>,
    /// A later sibling must match this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precedes: Option<Box<RuleSpec>>,
    /// An earlier sibling must match this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<Box<RuleSpec>>,
    /// Every rule of the list must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<RuleSpec>>,
    /// At least one rule of the list must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<RuleSpec>>,
    /// The rule must not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<RuleSpec>>,
    /// The util rule with this id must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// Only in relational rules: how far the search goes (`neighbor`, `end` or a rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_by: Option<StopBySpec>,
    /// Only in `inside`/`has`: the related node is in this field of its parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The keys of a rule object, for suggestions.
pub const RULE_KEYS: &[&str] = &[
    "pattern", "kind", "regex", "nthChild", "range", "inside", "has", "precedes", "follows", "all",
    "any", "not", "matches", "stopBy", "field",
];

/// The keys of a rule file, for suggestions.
pub const RULE_FILE_KEYS: &[&str] = &[
    "id",
    "language",
    "languages",
    "severity",
    "message",
    "note",
    "url",
    "metadata",
    "files",
    "ignores",
    "rule",
    "query",
    "constraints",
    "utils",
    "transform",
    "rewriters",
    "labels",
    "fix",
    "examples",
];

/// A pattern: a string, or an object with surrounding context.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PatternSpec {
    /// Code with metavariables.
    Str(String),
    /// Code with context, and the kind of the node within it that is the pattern.
    Object(PatternObject),
}

/// `pattern: {context, selector, strictness}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatternObject {
    /// Surrounding code that makes the pattern parse as intended.
    pub context: String,
    /// The kind of the node inside `context` that is the actual pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// How strictly nodes are compared (`smart` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strictness: Option<Strictness>,
}

/// How strictly a pattern is compared with code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strictness {
    /// Every node, named or not, must match.
    Cst,
    /// Unnamed nodes of the code may be skipped (the default).
    #[default]
    Smart,
    /// Only named nodes are compared.
    Ast,
    /// Named nodes except comments are compared.
    Relaxed,
    /// Like relaxed, and node text is ignored: only kinds are compared.
    Signature,
}

/// `nthChild`: a number, `An+B`, or `{position, reverse, ofRule}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NthChildSpec {
    /// A 1-based index.
    Index(u64),
    /// CSS-like `An+B`, `odd`, `even`.
    Formula(String),
    /// The full form.
    Object(NthChildObject),
}

/// `nthChild: {position, reverse, ofRule}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NthChildObject {
    /// A 1-based index or `An+B`.
    pub position: NthChildPosition,
    /// Count from the last sibling instead of the first.
    #[serde(default)]
    pub reverse: bool,
    /// Count only the siblings matching this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of_rule: Option<Box<RuleSpec>>,
}

/// The `position` of an `nthChild` object.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NthChildPosition {
    /// A 1-based index.
    Index(u64),
    /// CSS-like `An+B`.
    Formula(String),
}

/// `range: {start: {line, column}, end: {line, column}}`, 0-based, end exclusive.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// Start, inclusive.
    pub start: RangePoint,
    /// End, exclusive.
    pub end: RangePoint,
}

/// A 0-based line and character column.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangePoint {
    /// 0-based line.
    pub line: usize,
    /// 0-based column, in characters.
    pub column: usize,
}

/// `stopBy`: `neighbor`, `end`, or a rule object (inclusive).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StopBySpec {
    /// `neighbor` or `end`.
    Keyword(StopByKeyword),
    /// Stop at the first node matching this rule (after testing it).
    Rule(Box<RuleSpec>),
}

/// The keyword forms of `stopBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StopByKeyword {
    /// Only the immediate parent, child or sibling.
    Neighbor,
    /// All the way to the root, the leaves or the last sibling.
    End,
}

/// A fix: a template, or a template with a widened range.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FixSpec {
    /// A template with metavariables.
    Template(String),
    /// `{template, expandStart, expandEnd}`.
    Object(Box<FixObject>),
}

/// `fix: {template, expandStart, expandEnd}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FixObject {
    /// A template with metavariables.
    pub template: String,
    /// Widen the replaced range backwards over siblings matching this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand_start: Option<RuleSpec>,
    /// Widen the replaced range forwards over siblings matching this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand_end: Option<RuleSpec>,
}

/// A transformation producing a new metavariable.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TransformSpec {
    /// The string form: `substring($A, startChar=1)`, `replace(...)`, `convert(...)`.
    Str(String),
    /// The object form.
    Object(Box<TransformObject>),
}

/// The object form of a transformation: exactly one key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransformObject {
    /// Characters `[startChar, endChar)` of the source; negative counts from the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substring: Option<Substring>,
    /// Regex replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<Replace>,
    /// Case conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert: Option<Convert>,
    /// Rewrite captured nodes with rewriters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite>,
}

/// `substring: {source, startChar, endChar}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Substring {
    /// A metavariable: `$A`.
    pub source: String,
    /// First character (negative: from the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_char: Option<i64>,
    /// One past the last character (negative: from the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_char: Option<i64>,
}

/// `replace: {source, replace, by}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replace {
    /// A metavariable: `$A`.
    pub source: String,
    /// A regular expression.
    pub replace: String,
    /// The replacement; `$1` or `${name}` refer to regex groups.
    pub by: String,
}

/// `convert: {source, toCase, separatedBy}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Convert {
    /// A metavariable: `$A`.
    pub source: String,
    /// The target case.
    pub to_case: CaseSpec,
    /// Where words are split (default: every separator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separated_by: Option<Vec<Separator>>,
}

/// Target cases of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CaseSpec {
    /// `lowercase`.
    LowerCase,
    /// `UPPERCASE`.
    UpperCase,
    /// `Capitalize` the first letter.
    Capitalize,
    /// `camelCase`.
    CamelCase,
    /// `snake_case`.
    SnakeCase,
    /// `kebab-case`.
    KebabCase,
    /// `PascalCase`.
    PascalCase,
}

/// Word separators of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Separator {
    /// `-`
    Dash,
    /// `.`
    Dot,
    /// ` `
    Space,
    /// `/`
    Slash,
    /// `_`
    Underscore,
    /// A lowercase-to-uppercase change.
    CaseChange,
}

/// `rewrite: {source, rewriters, joinBy}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rewrite {
    /// A metavariable: `$A` or `$$$A`.
    pub source: String,
    /// Ids of rewriters, tried in order on every node below the source.
    pub rewriters: Vec<String>,
    /// What joins the rewritten nodes of a `$$$` source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_by: Option<String>,
}

/// A rewriter: a rule with a fix, used by the `rewrite` transformation.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RewriterSpec {
    /// Identifier referred to by `rewrite.rewriters`.
    pub id: String,
    /// The rule that finds the nodes to rewrite.
    pub rule: RuleSpec,
    /// The replacement.
    pub fix: FixSpec,
    /// Conditions on metavariables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<IndexMap<String, RuleSpec>>,
    /// Utils local to the rewriter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utils: Option<IndexMap<String, RuleSpec>>,
    /// Transformations local to the rewriter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<IndexMap<String, TransformSpec>>,
}

/// A label on a metavariable.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    /// `primary` or `secondary`.
    pub style: LabelStyle,
    /// What to say about the labelled node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The style of a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LabelStyle {
    /// The main point.
    Primary,
    /// Context.
    Secondary,
}

/// Inline examples: code the rule must not report (`valid`) and must report (`invalid`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExamplesSpec {
    /// Code without findings.
    #[serde(default)]
    pub valid: Vec<String>,
    /// Code with at least one finding each.
    #[serde(default)]
    pub invalid: Vec<String>,
}

/// An ast-grep test file: `{id, valid, invalid}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestCaseSpec {
    /// The rule under test.
    pub id: String,
    /// Code without findings.
    #[serde(default)]
    pub valid: Vec<String>,
    /// Code with at least one finding each.
    #[serde(default)]
    pub invalid: Vec<String>,
}

/// A playbook's `playbook.yml`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaybookMetaSpec {
    /// Identifier requests name the playbook by.
    pub id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the playbook is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An inline playbook: one JSON or YAML document with its rules.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlinePlaybookSpec {
    /// Identifier (default `inline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The rules, as rule file documents.
    #[schemars(with = "Vec<RuleFileSpec>")]
    pub rules: Vec<Value>,
}

/// ast-grep's project file, `sgconfig.yml`: the keys Volatile reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SgConfigSpec {
    /// Directories of rule files.
    #[serde(default)]
    pub rule_dirs: Vec<String>,
    /// Directories of global utils.
    #[serde(default)]
    pub util_dirs: Vec<String>,
    /// Directories of test files.
    #[serde(default)]
    pub test_configs: Vec<SgTestConfig>,
}

/// One entry of `sgconfig.yml`'s `testConfigs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SgTestConfig {
    /// Directory of test files.
    pub test_dir: String,
    /// Snapshot directory (Volatile does not use snapshots).
    #[serde(default)]
    pub snapshot_dir: Option<String>,
}

/// A key that was removed from a relational rule because ast-grep ignores it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKey {
    /// Where it was.
    pub path: KeyPath,
    /// The key.
    pub key: String,
    /// The nearest valid key, if one is close.
    pub suggestion: Option<&'static str>,
}

/// The nearest of `candidates` to `key`, if it is close enough to be a typo.
pub fn suggest(key: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

const RELATIONAL_KEYS: &[&str] = &["inside", "has", "precedes", "follows"];

/// Removes unknown keys from relational rule objects (where ast-grep ignores them) and
/// reports each. `value` is a rule object at `path`.
pub fn strip_relational_unknown_keys(value: &mut Value, path: &KeyPath) -> Vec<IgnoredKey> {
    let mut ignored = Vec::new();
    strip_rule(value, path, false, &mut ignored, 0);
    ignored
}

fn strip_rule(
    value: &mut Value,
    path: &KeyPath,
    relational: bool,
    out: &mut Vec<IgnoredKey>,
    depth: usize,
) {
    let Value::Object(map) = value else { return };
    if depth > 512 {
        return;
    }
    if relational {
        let unknown: Vec<String> = map
            .keys()
            .filter(|k| !RULE_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            map.shift_remove(&key);
            out.push(IgnoredKey {
                path: path.clone(),
                suggestion: suggest(&key, RULE_KEYS),
                key,
            });
        }
    }
    for (key, child) in map.iter_mut() {
        let child_path = path.key(key);
        match key.as_str() {
            k if RELATIONAL_KEYS.contains(&k) => {
                strip_rule(child, &child_path, true, out, depth + 1)
            }
            "not" | "stopBy" => strip_rule(child, &child_path, false, out, depth + 1),
            "all" | "any" => {
                if let Value::Array(items) = child {
                    for (i, item) in items.iter_mut().enumerate() {
                        strip_rule(item, &child_path.index(i), false, out, depth + 1);
                    }
                }
            }
            "nthChild" => {
                if let Some(of_rule) = child.get_mut("ofRule") {
                    strip_rule(of_rule, &child_path.key("ofRule"), false, out, depth + 1);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_typos() {
        assert_eq!(suggest("nthchild", RULE_KEYS), Some("nthChild"));
        assert_eq!(suggest("patern", RULE_KEYS), Some("pattern"));
        assert_eq!(suggest("stopby", RULE_KEYS), Some("stopBy"));
        assert_eq!(suggest("zzzzzz", RULE_KEYS), None);
    }

    #[test]
    fn unknown_keys_in_relations_are_stripped_and_reported() {
        let mut v = serde_json::json!({
            "kind": "a",
            "has": {"kind": "b", "nthchild": 1, "not": {"kind": "c"}},
            "all": [{"inside": {"kind": "d", "bogus": true}}]
        });
        let ignored = strip_relational_unknown_keys(&mut v, &KeyPath::root().key("rule"));
        assert_eq!(ignored.len(), 2);
        assert_eq!(ignored[0].key, "nthchild");
        assert_eq!(ignored[0].suggestion, Some("nthChild"));
        assert_eq!(ignored[0].path.to_string(), "rule.has");
        assert_eq!(ignored[1].path.to_string(), "rule.all[0].inside");
        assert!(v["has"].get("nthchild").is_none());
    }
}
