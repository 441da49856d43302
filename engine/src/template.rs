//! Templates with metavariables: rule messages and fixes.

use std::ops::Range;

use crate::matcher::{MatchCx, Rule};
use crate::metavar::Env;
use crate::tree::NodeId;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    /// `$A`, `$$A` or `$$$A`; the name without sigils.
    Var(String, String),
}

/// A string with `$VAR` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
    source: String,
}

impl Template {
    /// Parses a template: `$NAME`, `$$NAME` and `$$$NAME` are placeholders (NAME is
    /// uppercase letters, digits and `_`); everything else is literal.
    pub fn new(text: &str) -> Template {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$' {
                let sigils = bytes[i..].iter().take_while(|&&b| b == b'$').count().min(3);
                let start = i + sigils;
                let len = bytes[start..]
                    .iter()
                    .enumerate()
                    .take_while(|&(k, &b)| {
                        b.is_ascii_uppercase() || b == b'_' || (k > 0 && b.is_ascii_digit())
                    })
                    .count();
                if len > 0 {
                    if !literal.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut literal)));
                    }
                    let raw = &text[i..start + len];
                    segments.push(Segment::Var(
                        text[start..start + len].to_string(),
                        raw.to_string(),
                    ));
                    i = start + len;
                    continue;
                }
            }
            // Copy one whole character.
            let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
            literal.push_str(&text[i..i + ch_len]);
            i += ch_len;
        }
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Template {
            segments,
            source: text.to_string(),
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The metavariable names used.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var(name, _) => Some(name.as_str()),
            Segment::Text(_) => None,
        })
    }

    /// Fills in the placeholders; an unbound one is left as written.
    pub fn render(&self, env: &Env, cx: &MatchCx<'_, '_>) -> String {
        self.render_indented(env, cx, "")
    }

    /// Fills in the placeholders, indenting every line after the first by `indent`.
    pub fn render_indented(&self, env: &Env, cx: &MatchCx<'_, '_>, indent: &str) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => {
                    if indent.is_empty() {
                        out.push_str(t);
                    } else {
                        out.push_str(&t.replace('\n', &format!("\n{indent}")));
                    }
                }
                Segment::Var(name, raw) => match env.text_of(name, cx.tree) {
                    Some(text) => out.push_str(text),
                    None => out.push_str(raw),
                },
            }
        }
        out
    }
}

/// A compiled `fix`.
#[derive(Debug)]
pub struct Fixer {
    template: Template,
    expand_start: Option<Rule>,
    expand_end: Option<Rule>,
}

impl Fixer {
    /// A fix from its template and optional range expansions.
    pub fn new(template: &str, expand_start: Option<Rule>, expand_end: Option<Rule>) -> Fixer {
        Fixer {
            template: Template::new(template),
            expand_start,
            expand_end,
        }
    }

    /// The replacement text and the byte range it replaces.
    pub fn apply(&self, env: &Env, cx: &MatchCx<'_, '_>, node: NodeId) -> (String, Range<usize>) {
        let tree = cx.tree;
        let mut range = tree.byte_range(node);
        if let Some(rule) = &self.expand_start {
            let mut n = node;
            while let Some(prev) = tree.prev_sibling(n) {
                if !rule.test(cx, prev) {
                    break;
                }
                range.start = tree.byte_range(prev).start;
                n = prev;
            }
        }
        if let Some(rule) = &self.expand_end {
            let mut n = node;
            while let Some(next) = tree.next_sibling(n) {
                if !rule.test(cx, next) {
                    break;
                }
                range.end = tree.byte_range(next).end;
                n = next;
            }
        }
        let source = tree.source();
        let line_start = source[..range.start].rfind('\n').map_or(0, |i| i + 1);
        let indent: String = source[line_start..range.start]
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        (self.template.render_indented(env, cx, &indent), range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_parsed() {
        let t = Template::new("use $NEW instead of $$$ARGS ($_X, $a, $, €$B1)");
        let vars: Vec<&str> = t.vars().collect();
        assert_eq!(vars, ["NEW", "ARGS", "_X", "B1"]);
        assert_eq!(t.as_str(), "use $NEW instead of $$$ARGS ($_X, $a, $, €$B1)");
    }
}
