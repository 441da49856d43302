//! `transform` (new metavariables computed from captured ones) and `rewriters`.

use std::sync::Arc;

use indexmap::IndexMap;
use regex::Regex;

use crate::compile::{RuleCompiler, compile_fix};
use crate::document::KeyPath;
use crate::error::{ErrorKind, RuleError};
use crate::matcher::{MatchCx, Rule};
use crate::metavar::{Binding, Env};
use crate::spec::{
    CaseSpec, Convert, Replace, Rewrite, RewriterSpec, Separator, Substring, TransformObject,
    TransformSpec,
};
use crate::template::Fixer;
use crate::tree::NodeId;

/// One transformation, binding its result to `name`.
#[derive(Debug)]
pub struct TransformStep {
    name: Arc<str>,
    source: String,
    op: Op,
}

#[derive(Debug)]
enum Op {
    Substring {
        start: Option<i64>,
        end: Option<i64>,
    },
    Replace {
        regex: Regex,
        by: String,
    },
    Convert {
        case: CaseSpec,
        separators: Option<Vec<Separator>>,
    },
    Rewrite {
        rewriters: Vec<usize>,
        join_by: Option<String>,
    },
}

/// A compiled rewriter.
#[derive(Debug)]
pub struct Rewriter {
    id: String,
    rule: Rule,
    utils: Vec<Rule>,
    constraints: Vec<(Arc<str>, Rule)>,
    transforms: Vec<TransformStep>,
    fix: Fixer,
}

fn source_name(source: &str) -> Result<String, String> {
    let name = source.trim_start_matches('$');
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if source.starts_with('$') && valid {
        Ok(name.to_string())
    } else {
        Err(format!("`{source}` is not a metavariable like `$A`"))
    }
}

/// Reads the string form `op($A, key=value, ...)` into the object form.
fn parse_string_form(text: &str) -> Result<TransformObject, String> {
    let text = text.trim();
    let open = text.find('(').ok_or("expected `name($VAR, ...)`")?;
    let inner = text[open + 1..]
        .strip_suffix(')')
        .ok_or("expected a closing `)`")?;
    let op = text[..open].trim();
    let mut args = split_args(inner).into_iter();
    let source = args.next().ok_or("missing the source metavariable")?;
    let mut kv = std::collections::HashMap::new();
    for arg in args {
        let (k, v) = arg
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got `{arg}`"))?;
        kv.insert(k.trim().to_string(), unquote(v.trim()));
    }
    let get = |k: &str| kv.get(k).cloned();
    let int = |k: &str| -> Result<Option<i64>, String> {
        get(k)
            .map(|v| v.parse().map_err(|_| format!("`{k}` must be an integer")))
            .transpose()
    };
    let mut obj = TransformObject {
        substring: None,
        replace: None,
        convert: None,
        rewrite: None,
    };
    match op {
        "substring" => {
            obj.substring = Some(Substring {
                source,
                start_char: int("startChar")?,
                end_char: int("endChar")?,
            })
        }
        "replace" => {
            obj.replace = Some(Replace {
                source,
                replace: get("replace").ok_or("missing `replace`")?,
                by: get("by").ok_or("missing `by`")?,
            })
        }
        "convert" => {
            let case = get("toCase").ok_or("missing `toCase`")?;
            let to_case = serde_json::from_value(serde_json::Value::String(case.clone()))
                .map_err(|_| format!("unknown case `{case}`"))?;
            obj.convert = Some(Convert {
                source,
                to_case,
                separated_by: None,
            })
        }
        "rewrite" => {
            let list = get("rewriters").ok_or("missing `rewriters`")?;
            let rewriters = list
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|s| unquote(s.trim()))
                .filter(|s| !s.is_empty())
                .collect();
            obj.rewrite = Some(Rewrite {
                source,
                rewriters,
                join_by: get("joinBy"),
            })
        }
        other => return Err(format!("unknown transformation `{other}`")),
    }
    Ok(obj)
}

fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c)
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c)
            }
            (None, '[') => {
                depth += 1;
                cur.push(c)
            }
            (None, ']') => {
                depth -= 1;
                cur.push(c)
            }
            (None, ',') if depth == 0 => out.push(std::mem::take(&mut cur).trim().to_string()),
            (None, c) => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    s.to_string()
}

/// Compiles `transform`, in order.
pub(crate) fn compile_transforms(
    specs: &IndexMap<String, TransformSpec>,
    rewriters: &[Rewriter],
) -> Result<Vec<TransformStep>, RuleError> {
    let mut out = Vec::with_capacity(specs.len());
    for (name, spec) in specs {
        let path = KeyPath::root().key("transform").key(name);
        let err = |m: String| RuleError::at(&path, ErrorKind::Transform(m));
        let obj = match spec {
            TransformSpec::Str(s) => parse_string_form(s).map_err(err)?,
            TransformSpec::Object(o) => (**o).clone(),
        };
        let count = [
            obj.substring.is_some(),
            obj.replace.is_some(),
            obj.convert.is_some(),
            obj.rewrite.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if count != 1 {
            return Err(err(
                "give exactly one of substring, replace, convert or rewrite".into(),
            ));
        }
        let (source, op) = if let Some(s) = obj.substring {
            (
                s.source,
                Op::Substring {
                    start: s.start_char,
                    end: s.end_char,
                },
            )
        } else if let Some(r) = obj.replace {
            let regex = Regex::new(&r.replace).map_err(|e| {
                RuleError::at(&path.key("replace"), ErrorKind::Regex(e.to_string()))
            })?;
            (r.source, Op::Replace { regex, by: r.by })
        } else if let Some(c) = obj.convert {
            (
                c.source,
                Op::Convert {
                    case: c.to_case,
                    separators: c.separated_by,
                },
            )
        } else if let Some(r) = obj.rewrite {
            let mut ids = Vec::with_capacity(r.rewriters.len());
            for id in &r.rewriters {
                let index = rewriters.iter().position(|w| &w.id == id).ok_or_else(|| {
                    RuleError::at(&path, ErrorKind::UndefinedRewriter(id.clone()))
                })?;
                ids.push(index);
            }
            (
                r.source,
                Op::Rewrite {
                    rewriters: ids,
                    join_by: r.join_by,
                },
            )
        } else {
            return Err(err("empty transformation".into()));
        };
        let source = source_name(&source).map_err(err)?;
        out.push(TransformStep {
            name: Arc::from(name.as_str()),
            source,
            op,
        });
    }
    Ok(out)
}

/// Compiles `rewriters`.
pub(crate) fn compile_rewriters(
    specs: &[RewriterSpec],
    cx: &mut RuleCompiler<'_>,
) -> Result<Vec<Rewriter>, RuleError> {
    let mut out: Vec<Rewriter> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let path = KeyPath::root().key("rewriters").index(i);
        // A rewriter sees the rule file's utils, and its own (which win on a clash).
        let mut scope = cx.locals().clone();
        scope.extend(
            spec.utils
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let mut own = cx.child(&scope);
        let rule = own.rule(&spec.rule, &path.key("rule"), false)?;
        let mut constraints = Vec::new();
        for (name, r) in spec.constraints.iter().flatten() {
            constraints.push((
                Arc::from(name.as_str()),
                own.rule(r, &path.key("constraints").key(name), false)?,
            ));
        }
        let fix = compile_fix(&spec.fix, &mut own, &path.key("fix"))?;
        let utils = own.finish()?;
        let transforms = match &spec.transform {
            Some(t) => compile_transforms(t, &out)?,
            None => Vec::new(),
        };
        out.push(Rewriter {
            id: spec.id.clone(),
            rule,
            utils,
            constraints,
            transforms,
            fix,
        });
    }
    Ok(out)
}

/// Whether the constraints hold for the bindings in `env`.
pub fn constraints_hold(constraints: &[(Arc<str>, Rule)], cx: &MatchCx<'_, '_>, env: &Env) -> bool {
    constraints
        .iter()
        .all(|(name, rule)| match env.single(name) {
            Some(node) => {
                let mut scratch = env.clone();
                rule.matches(cx, node, &mut scratch)
            }
            None => true,
        })
}

/// Applies `steps` in order, binding each result.
pub fn apply_transforms(
    steps: &[TransformStep],
    rewriters: &[Rewriter],
    cx: &MatchCx<'_, '_>,
    env: &mut Env,
) {
    for step in steps {
        let Some(text) = transform_one(step, rewriters, cx, env) else {
            continue;
        };
        env.bind_text(&step.name, text);
    }
}

fn transform_one(
    step: &TransformStep,
    rewriters: &[Rewriter],
    cx: &MatchCx<'_, '_>,
    env: &Env,
) -> Option<String> {
    if let Op::Rewrite {
        rewriters: ids,
        join_by,
    } = &step.op
    {
        let nodes: Vec<NodeId> = match env.get(&step.source)? {
            Binding::Single(n) => vec![*n],
            Binding::Multi(ns) => ns.clone(),
            Binding::Text(t) => return Some(t.clone()),
        };
        let chosen: Vec<&Rewriter> = ids.iter().filter_map(|&i| rewriters.get(i)).collect();
        let parts: Vec<String> = nodes
            .iter()
            .filter(|&&n| cx.tree.is_named(n) || join_by.is_none())
            .map(|&n| rewrite_node(n, &chosen, rewriters, cx))
            .collect();
        return Some(parts.join(join_by.as_deref().unwrap_or("")));
    }
    let text = env.text_of(&step.source, cx.tree)?;
    Some(match &step.op {
        Op::Substring { start, end } => substring(text, *start, *end),
        Op::Replace { regex, by } => regex.replace_all(text, by.as_str()).into_owned(),
        Op::Convert { case, separators } => convert_case(text, *case, separators.as_deref()),
        Op::Rewrite { .. } => return None,
    })
}

fn rewrite_node(
    node: NodeId,
    chosen: &[&Rewriter],
    all: &[Rewriter],
    cx: &MatchCx<'_, '_>,
) -> String {
    let tree = cx.tree;
    let base = tree.byte_range(node);
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut n = node;
    let end = tree.skip_subtree(node);
    while n < end {
        let mut replaced = false;
        for rw in chosen {
            let rcx = cx.with_utils(&rw.utils);
            let mut env = Env::new();
            if rw.rule.matches(&rcx, n, &mut env) && constraints_hold(&rw.constraints, &rcx, &env) {
                apply_transforms(&rw.transforms, all, &rcx, &mut env);
                let (text, range) = rw.fix.apply(&env, &rcx, n);
                edits.push((range, text));
                replaced = true;
                break;
            }
        }
        n = if replaced {
            tree.skip_subtree(n)
        } else {
            n + 1
        };
    }
    let source = tree.source();
    let mut out = String::new();
    let mut pos = base.start;
    for (range, text) in edits {
        if range.start < pos {
            continue;
        }
        out.push_str(&source[pos..range.start]);
        out.push_str(&text);
        pos = range.end;
    }
    out.push_str(&source[pos..base.end.max(pos)]);
    out
}

fn substring(text: &str, start: Option<i64>, end: Option<i64>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let len = chars.len() as i64;
    let resolve = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let s = resolve(start.unwrap_or(0));
    let e = resolve(end.unwrap_or(len));
    if s >= e {
        return String::new();
    }
    chars[s as usize..e as usize].iter().collect()
}

fn split_words(text: &str, separators: Option<&[Separator]>) -> Vec<String> {
    let all = [
        Separator::Dash,
        Separator::Dot,
        Separator::Space,
        Separator::Slash,
        Separator::Underscore,
        Separator::CaseChange,
    ];
    let seps = separators.unwrap_or(&all);
    let is_sep = |c: char| {
        seps.iter().any(|s| {
            matches!(
                (s, c),
                (Separator::Dash, '-')
                    | (Separator::Dot, '.')
                    | (Separator::Space, ' ')
                    | (Separator::Slash, '/')
                    | (Separator::Underscore, '_')
            )
        })
    };
    let case_change = seps.contains(&Separator::CaseChange);
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if is_sep(c) {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if case_change && c.is_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

fn convert_case(text: &str, case: CaseSpec, separators: Option<&[Separator]>) -> String {
    match case {
        CaseSpec::LowerCase => text.to_lowercase(),
        CaseSpec::UpperCase => text.to_uppercase(),
        CaseSpec::Capitalize => {
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        }
        CaseSpec::CamelCase => {
            let words = split_words(text, separators);
            words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i == 0 {
                        w.to_lowercase()
                    } else {
                        capitalize(w)
                    }
                })
                .collect()
        }
        CaseSpec::PascalCase => split_words(text, separators)
            .iter()
            .map(|w| capitalize(w))
            .collect(),
        CaseSpec::SnakeCase => split_words(text, separators)
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("_"),
        CaseSpec::KebabCase => split_words(text, separators)
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrings_count_characters_and_negative_ends() {
        assert_eq!(substring("'hello'", Some(1), Some(-1)), "hello");
        assert_eq!(substring("héllo", Some(1), Some(3)), "él");
        assert_eq!(substring("abc", Some(5), None), "");
    }

    #[test]
    fn case_conversion() {
        assert_eq!(
            convert_case("fooBar_baz", CaseSpec::SnakeCase, None),
            "foo_bar_baz"
        );
        assert_eq!(convert_case("foo_bar", CaseSpec::CamelCase, None), "fooBar");
        assert_eq!(
            convert_case("foo-bar", CaseSpec::PascalCase, None),
            "FooBar"
        );
        assert_eq!(convert_case("FooBar", CaseSpec::KebabCase, None), "foo-bar");
        assert_eq!(convert_case("abc", CaseSpec::UpperCase, None), "ABC");
    }

    #[test]
    fn string_form() {
        let Ok(obj) = parse_string_form("substring($A, startChar=1, endChar=-1)") else {
            panic!("parse")
        };
        assert!(
            obj.substring
                .is_some_and(|s| s.start_char == Some(1) && s.end_char == Some(-1))
        );
        let Ok(obj) = parse_string_form("replace($A, replace='a, b', by=\"c\")") else {
            panic!("parse")
        };
        assert!(
            obj.replace
                .is_some_and(|r| r.replace == "a, b" && r.by == "c")
        );
        assert!(parse_string_form("frobnicate($A)").is_err());
    }
}
