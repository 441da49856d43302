//! Rule documents: YAML or JSON text turned into `serde_json::Value`s plus a source map.
//!
//! Every rule file, whether YAML from disk or JSON posted to the service, goes through one
//! representation: a [`serde_json::Value`] for serde to deserialize the spec from, and a
//! [`SourceMap`] from key paths (`rule.all[2].has.regex`) to the line and column where each
//! value starts. Deserialization errors and compile errors both carry a key path, so both
//! can point at the line of the rule file that is wrong.

use std::collections::HashMap;

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};
use serde_json::{Map, Number, Value};

/// A line and column in a rule file, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A key path into a document: `rule.all[2].has.regex`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    /// The path of the document root.
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    /// This path extended by a mapping key.
    pub fn key(&self, key: &str) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_string()));
        KeyPath(segments)
    }

    /// This path extended by a sequence index.
    pub fn index(&self, index: usize) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }

    /// Whether this is the root path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last mapping key of the path, if the path ends in one.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// The path without its last segment.
    pub fn parent(&self) -> KeyPath {
        let mut segments = self.0.clone();
        segments.pop();
        KeyPath(segments)
    }

    /// Converts a `serde_path_to_error` path.
    pub fn from_serde(path: &serde_path_to_error::Path) -> KeyPath {
        use serde_path_to_error::Segment as S;
        let segments = path
            .iter()
            .filter_map(|s| match s {
                S::Map { key } => Some(Segment::Key(key.clone())),
                S::Seq { index } => Some(Segment::Index(*index)),
                S::Enum { variant } => Some(Segment::Key(variant.clone())),
                S::Unknown => None,
            })
            .collect();
        KeyPath(segments)
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Where each value of a document starts.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    values: HashMap<KeyPath, Location>,
    keys: HashMap<KeyPath, Location>,
}

impl SourceMap {
    /// The location of the key `path` ends in (where an unknown key is reported).
    pub fn locate_key(&self, path: &KeyPath) -> Option<Location> {
        self.keys.get(path).copied().or_else(|| self.locate(path))
    }

    /// The location of the value at `path`, or of its nearest ancestor that has one.
    pub fn locate(&self, path: &KeyPath) -> Option<Location> {
        let mut path = path.clone();
        loop {
            if let Some(loc) = self.values.get(&path).or_else(|| self.keys.get(&path)) {
                return Some(*loc);
            }
            if path.is_root() {
                return None;
            }
            path = path.parent();
        }
    }
}

/// One document of a file: its value and where its parts are.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document's content.
    pub value: Value,
    /// Where each value starts.
    pub source_map: SourceMap,
}

/// Why a document could not be read at all.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub location: Location,
    /// What the parser said.
    pub message: String,
}

/// Parses YAML text (which includes JSON) into its documents, separated by `---`.
///
/// Empty documents (a trailing `---`, comments only) are skipped.
pub fn parse_yaml(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|e| SyntaxError {
        location: Location {
            line: e.marker().line(),
            column: e.marker().col() + 1,
        },
        message: e.info().to_string(),
    })?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        if matches!(doc.data, YamlDataOwned::Value(ScalarOwned::Null)) {
            continue;
        }
        let mut source_map = SourceMap::default();
        let value = convert(&doc, &KeyPath::root(), &mut source_map, 0)?;
        out.push(Document { value, source_map });
    }
    Ok(out)
}

/// Nesting deeper than this is refused rather than risk the stack.
const MAX_DEPTH: usize = 256;

fn location(node: &MarkedYamlOwned) -> Location {
    Location {
        line: node.span.start.line(),
        column: node.span.start.col() + 1,
    }
}

fn convert(
    node: &MarkedYamlOwned,
    path: &KeyPath,
    map: &mut SourceMap,
    depth: usize,
) -> Result<Value, SyntaxError> {
    let here = location(node);
    if depth > MAX_DEPTH {
        return Err(SyntaxError {
            location: here,
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    map.values.insert(path.clone(), here);
    let value = match &node.data {
        YamlDataOwned::Value(scalar) => scalar_value(scalar),
        YamlDataOwned::Representation(text, _, _) => Value::String(text.clone()),
        YamlDataOwned::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(convert(item, &path.index(i), map, depth + 1)?);
            }
            Value::Array(out)
        }
        YamlDataOwned::Mapping(entries) => {
            let mut out = Map::new();
            for (key, item) in entries {
                let key_text = match &key.data {
                    YamlDataOwned::Value(ScalarOwned::String(s)) => s.clone(),
                    YamlDataOwned::Value(scalar) => match scalar_value(scalar) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    },
                    _ => {
                        return Err(SyntaxError {
                            location: location(key),
                            message: "mapping keys must be plain scalars".into(),
                        });
                    }
                };
                let child = path.key(&key_text);
                map.keys.insert(child.clone(), location(key));
                if out.contains_key(&key_text) {
                    return Err(SyntaxError {
                        location: location(key),
                        message: format!("duplicate key `{key_text}`"),
                    });
                }
                let v = convert(item, &child, map, depth + 1)?;
                out.insert(key_text, v);
            }
            Value::Object(out)
        }
        YamlDataOwned::Tagged(_, inner) => convert(inner, path, map, depth + 1)?,
        YamlDataOwned::Alias(_) => {
            return Err(SyntaxError {
                location: here,
                message: "YAML aliases are not supported in rule files".into(),
            });
        }
        YamlDataOwned::BadValue => {
            return Err(SyntaxError {
                location: here,
                message: "value cannot be read".into(),
            });
        }
    };
    Ok(value)
}

fn scalar_value(scalar: &ScalarOwned) -> Value {
    match scalar {
        ScalarOwned::Null => Value::Null,
        ScalarOwned::Boolean(b) => Value::Bool(*b),
        ScalarOwned::Integer(i) => Value::Number(Number::from(*i)),
        ScalarOwned::FloatingPoint(f) => Number::from_f64(f.into_inner())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ScalarOwned::String(s) => Value::String(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_locations() {
        let docs =
            parse_yaml("id: a\nrule:\n  all:\n    - kind: x\n    - regex: 'y'\n---\nid: b\n")
                .unwrap_or_default();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["rule"]["all"][1]["regex"], "y");
        let path = KeyPath::root().key("rule").key("all").index(1).key("regex");
        assert_eq!(path.to_string(), "rule.all[1].regex");
        assert_eq!(
            docs[0].source_map.locate(&path),
            Some(Location {
                line: 5,
                column: 14
            })
        );
        assert_eq!(docs[1].value["id"], "b");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse_yaml("id: a\nrule: [\n").err();
        assert!(err.is_some_and(|e| e.location.line >= 2));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse_yaml("id: a\nid: b\n").err();
        assert!(err.is_some_and(|e| e.location.line == 2 && e.message.contains("duplicate")));
    }
}
