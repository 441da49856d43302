//! Per-language tables of node kinds and fields, computed once per process.

use std::collections::HashMap;
use std::sync::OnceLock;

use volatile_grammars::Lang;

/// tree-sitter's built-in kind id of error nodes.
pub const ERROR_KIND: u16 = u16::MAX;

/// Kind and field names of one grammar.
#[derive(Debug)]
pub struct LangInfo {
    lang: Lang,
    named_kinds: HashMap<String, u16>,
    kind_names: Vec<String>,
    comment_kinds: Vec<bool>,
    fields: HashMap<String, u16>,
    supertypes: HashMap<u16, Vec<u16>>,
    kind_count: usize,
}

impl LangInfo {
    /// The table of `lang`.
    pub fn of(lang: Lang) -> &'static LangInfo {
        static TABLES: OnceLock<Vec<LangInfo>> = OnceLock::new();
        let tables = TABLES.get_or_init(|| Lang::ALL.iter().map(|&l| LangInfo::build(l)).collect());
        // `Lang::ALL` lists every variant, so the position always exists.
        let index = Lang::ALL.iter().position(|&l| l == lang).unwrap_or(0);
        &tables[index]
    }

    fn build(lang: Lang) -> LangInfo {
        let ts = lang.ts_language();
        let count = ts.node_kind_count();
        let mut named_kinds = HashMap::new();
        let mut kind_names = Vec::with_capacity(count);
        let mut comment_kinds = Vec::with_capacity(count);
        for id in 0..count as u16 {
            let name = ts.node_kind_for_id(id).unwrap_or("");
            kind_names.push(name.to_string());
            comment_kinds.push(name.contains("comment"));
            if ts.node_kind_is_named(id) && ts.node_kind_is_visible(id) {
                // The public id of a name is what nodes report as their kind.
                named_kinds
                    .entry(name.to_string())
                    .or_insert(ts.id_for_node_kind(name, true));
            }
        }
        named_kinds.insert("ERROR".to_string(), ERROR_KIND);
        let mut fields = HashMap::new();
        for id in 1..=ts.field_count() as u16 {
            if let Some(name) = ts.field_name_for_id(id) {
                fields.insert(name.to_string(), id);
            }
        }
        let mut supertypes = HashMap::new();
        for &st in ts.supertypes() {
            supertypes.insert(st, ts.subtypes_for_supertype(st).to_vec());
            // Supertypes are hidden kinds; `kind: expression` still names them.
            if let Some(name) = ts.node_kind_for_id(st) {
                named_kinds.entry(name.to_string()).or_insert(st);
            }
        }
        LangInfo {
            lang,
            named_kinds,
            kind_names,
            comment_kinds,
            fields,
            supertypes,
            kind_count: count,
        }
    }

    /// The language of this table.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The id of a named kind, if the grammar has it (`ERROR` included).
    pub fn named_kind(&self, name: &str) -> Option<u16> {
        self.named_kinds.get(name).copied()
    }

    /// The kinds a `kind:` name matches: itself, or every subtype of a supertype
    /// (`expression`, `statement`...).
    pub fn kinds_for(&self, name: &str) -> Option<Vec<u16>> {
        let id = self.named_kind(name)?;
        match self.supertypes.get(&id) {
            Some(subtypes) => {
                let mut out = vec![id];
                let mut stack: Vec<u16> = subtypes.clone();
                while let Some(k) = stack.pop() {
                    if out.contains(&k) {
                        continue;
                    }
                    out.push(k);
                    if let Some(more) = self.supertypes.get(&k) {
                        stack.extend(more);
                    }
                }
                Some(out)
            }
            None => Some(vec![id]),
        }
    }

    /// The name of a kind id.
    pub fn kind_name(&self, id: u16) -> &str {
        if id == ERROR_KIND {
            return "ERROR";
        }
        self.kind_names.get(id as usize).map_or("", String::as_str)
    }

    /// Whether a node of the kind may lie within the text of a string literal: string
    /// fragments and contents, escape sequences, character references, and errors (which
    /// may be anything).
    pub fn may_be_string_text(&self, id: u16) -> bool {
        let name = self.kind_name(id);
        id == ERROR_KIND
            || name.is_empty()
            || [
                "fragment",
                "escape",
                "string_content",
                "character_reference",
            ]
            .iter()
            .any(|part| name.contains(part))
    }

    /// Whether the kind is a comment.
    pub fn is_comment_kind(&self, id: u16) -> bool {
        self.comment_kinds
            .get(id as usize)
            .copied()
            .unwrap_or(false)
    }

    /// The id of a field name.
    pub fn field(&self, name: &str) -> Option<u16> {
        self.fields.get(name).copied()
    }

    /// The number of kind ids (the size of a kind-indexed table).
    pub fn kind_count(&self) -> usize {
        self.kind_count
    }

    /// Some named kinds close to `name`, for "did you mean" messages.
    pub fn similar_kinds(&self, name: &str) -> Vec<&str> {
        let mut scored: Vec<(f64, &str)> = self
            .named_kinds
            .keys()
            .map(|k| (strsim::jaro_winkler(name, k), k.as_str()))
            .filter(|(s, _)| *s > 0.85)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        scored.into_iter().take(3).map(|(_, k)| k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_fields_and_supertypes() {
        let js = LangInfo::of(Lang::JavaScript);
        assert!(js.named_kind("call_expression").is_some());
        assert!(js.named_kind("no_such_kind").is_none());
        assert_eq!(js.named_kind("ERROR"), Some(ERROR_KIND));
        assert!(js.field("arguments").is_some());
        let exprs = js.kinds_for("expression").unwrap_or_default();
        assert!(exprs.len() > 10);
        assert!(
            js.named_kind("call_expression")
                .is_some_and(|k| exprs.contains(&k))
        );
        assert_eq!(
            js.similar_kinds("call_expresion").first(),
            Some(&"call_expression")
        );
        let py = LangInfo::of(Lang::Python);
        assert!(
            py.named_kind("comment")
                .is_some_and(|k| py.is_comment_kind(k))
        );
    }
}
