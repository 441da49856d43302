//! The one fallible step from a rule spec to an immutable compiled rule.
//!
//! All semantic checks live here: patterns must parse in every language of the rule,
//! kinds and fields must exist in the grammar, regexes must compile, `matches` must name a
//! util, utils must not refer to each other in a cycle that never moves in the tree, and
//! the rule must be able to match at least one node kind.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use indexmap::IndexMap;
use regex::Regex;
use volatile_grammars::Lang;

use crate::document::KeyPath;
use crate::error::{ErrorKind, RuleError};
use crate::finding::Severity;
use crate::kinds::LangInfo;
use crate::matcher::{NthChild, RangeRule, Relation, Rule, StopBy, potential_kinds};
use crate::pattern::Pattern;
use crate::query::QueryRule;
use crate::spec::{
    ExamplesSpec, FixSpec, NthChildObject, NthChildPosition, NthChildSpec, PatternSpec,
    RuleFileSpec, RuleSpec, SeveritySpec, StopByKeyword, StopBySpec, Strictness,
};
use crate::template::{Fixer, Template};
use crate::transform::{Rewriter, TransformStep, compile_transforms};

/// Global utils, by language: rule files `{id, language(s), rule, utils?}`.
#[derive(Debug, Clone, Default)]
pub struct GlobalUtils {
    utils: HashMap<String, GlobalUtil>,
}

#[derive(Debug, Clone)]
struct GlobalUtil {
    languages: Vec<Lang>,
    rule: RuleSpec,
}

impl GlobalUtils {
    /// Adds a global util from its rule file spec.
    pub fn add(&mut self, spec: &RuleFileSpec) -> Result<(), RuleError> {
        let languages = languages_of(spec)?;
        let rule = spec
            .rule
            .clone()
            .ok_or_else(|| RuleError::new(ErrorKind::Missing("rule")))?;
        for (name, rule) in spec.utils.iter().flatten() {
            self.utils.entry(name.clone()).or_insert(GlobalUtil {
                languages: languages.clone(),
                rule: rule.clone(),
            });
        }
        self.utils
            .insert(spec.id.clone(), GlobalUtil { languages, rule });
        Ok(())
    }

    fn get(&self, name: &str, lang: Lang) -> Option<&RuleSpec> {
        self.utils
            .get(name)
            .filter(|u| u.languages.contains(&lang))
            .map(|u| &u.rule)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.utils.is_empty()
    }
}

/// What finds the nodes of a rule in one language.
#[derive(Debug)]
pub enum Finder {
    /// A rule object.
    Rule(Rule),
    /// A raw tree-sitter query.
    Query(QueryRule),
}

/// A rule compiled for one language.
#[derive(Debug)]
pub struct LangRule {
    /// The language.
    pub lang: Lang,
    /// What finds the nodes.
    pub finder: Finder,
    /// The utils `Rule::Matches` refers to.
    pub utils: Vec<Rule>,
    /// Conditions on captured metavariables.
    pub constraints: Vec<(Arc<str>, Rule)>,
    /// The kinds the rule can match (`None`: any).
    pub kinds: Option<Vec<u16>>,
    /// New metavariables, in order.
    pub transforms: Vec<TransformStep>,
    /// Rewriters for `rewrite` transformations.
    pub rewriters: Vec<Rewriter>,
    /// The fix, if any.
    pub fix: Option<Fixer>,
}

/// A rule's `files` and `ignores` globs, as written.
pub type PathGlobs<'a> = (&'a Option<Vec<String>>, &'a Option<Vec<String>>);

/// A compiled rule: immutable, shared by every thread.
#[derive(Debug)]
pub struct CompiledRule {
    /// Identifier, unique in its playbook.
    pub id: String,
    /// The playbook's id.
    pub playbook: Arc<str>,
    /// The standard (subdirectory in the playbook).
    pub standard: Option<String>,
    /// Severity, `None` when the rule is `off`.
    pub severity: Option<Severity>,
    /// The message template.
    pub message: Template,
    /// Note.
    pub note: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<serde_json::Value>,
    /// Languages, in the order given.
    pub languages: Vec<Lang>,
    files: Option<GlobSet>,
    ignores: Option<GlobSet>,
    /// One compiled form per language.
    pub per_lang: Vec<LangRule>,
    /// Inline examples.
    pub examples: ExamplesSpec,
    /// The spec it was compiled from.
    pub spec: RuleFileSpec,
    /// Where it came from (`file:line`), for messages.
    pub origin: Option<String>,
    /// Things to know that did not stop it compiling: (key path, message).
    pub warnings: Vec<(KeyPath, String)>,
}

impl CompiledRule {
    /// The compiled form for `lang`.
    pub fn for_lang(&self, lang: Lang) -> Option<&LangRule> {
        self.per_lang.iter().find(|r| r.lang == lang)
    }

    /// Whether `files`/`ignores` let the rule apply to `path`.
    pub fn applies_to_path(&self, path: &str) -> bool {
        let path = path.strip_prefix("./").unwrap_or(path);
        if let Some(files) = &self.files
            && !files.is_match(path)
        {
            return false;
        }
        if let Some(ignores) = &self.ignores
            && ignores.is_match(path)
        {
            return false;
        }
        true
    }

    /// The `files` and `ignores` globs as written, which [`CompiledRule::applies_to_path`]
    /// matches: rules with the same globs apply to the same paths.
    pub fn path_globs(&self) -> PathGlobs<'_> {
        (&self.spec.files, &self.spec.ignores)
    }

    /// Whether the rule runs at all.
    pub fn enabled(&self) -> bool {
        self.severity.is_some()
    }
}

fn languages_of(spec: &RuleFileSpec) -> Result<Vec<Lang>, RuleError> {
    match (&spec.language, &spec.languages) {
        (Some(lang), None) => Ok(vec![*lang]),
        (None, Some(langs)) if !langs.is_empty() => {
            let mut out = langs.clone();
            out.dedup();
            Ok(out)
        }
        _ => Err(RuleError::new(ErrorKind::LanguageOrLanguages)),
    }
}

fn glob_set(globs: &Option<Vec<String>>, key: &str) -> Result<Option<GlobSet>, RuleError> {
    let Some(globs) = globs else { return Ok(None) };
    let mut builder = GlobSetBuilder::new();
    for (i, g) in globs.iter().enumerate() {
        let glob = Glob::new(g).map_err(|e| {
            RuleError::at(
                &KeyPath::root().key(key).index(i),
                ErrorKind::Glob {
                    glob: g.clone(),
                    message: e.kind().to_string(),
                },
            )
        })?;
        builder.add(glob);
    }
    let set = builder.build().map_err(|e| {
        RuleError::at(
            &KeyPath::root().key(key),
            ErrorKind::Glob {
                glob: globs.join(", "),
                message: e.to_string(),
            },
        )
    })?;
    Ok(Some(set))
}

/// Compiles one rule file document. `playbook` and `standard` are recorded in the result.
pub fn compile_rule(
    spec: RuleFileSpec,
    playbook: Arc<str>,
    standard: Option<String>,
    globals: &GlobalUtils,
) -> Result<CompiledRule, RuleError> {
    let with_id = |mut e: RuleError| {
        e.rule_id = Some(spec.id.clone());
        e
    };
    let languages = languages_of(&spec).map_err(with_id)?;
    if spec.rule.is_some() == spec.query.is_some() {
        return Err(with_id(RuleError::new(ErrorKind::RuleOrQuery)));
    }
    let mut per_lang = Vec::with_capacity(languages.len());
    let mut warnings = Vec::new();
    let regexes = Regexes::default();
    for &lang in &languages {
        per_lang.push(
            compile_for_lang(&spec, lang, globals, &regexes, &mut warnings).map_err(with_id)?,
        );
    }
    warnings.dedup();
    let severity = match spec.severity.unwrap_or(SeveritySpec::Hint) {
        SeveritySpec::Hint => Some(Severity::Hint),
        SeveritySpec::Info => Some(Severity::Info),
        SeveritySpec::Warning => Some(Severity::Warning),
        SeveritySpec::Error => Some(Severity::Error),
        SeveritySpec::Off => None,
    };
    Ok(CompiledRule {
        id: spec.id.clone(),
        playbook,
        standard,
        severity,
        message: Template::new(spec.message.as_deref().unwrap_or(&spec.id)),
        note: spec.note.clone(),
        url: spec.url.clone(),
        metadata: spec.metadata.clone(),
        files: glob_set(&spec.files, "files").map_err(with_id)?,
        ignores: glob_set(&spec.ignores, "ignores").map_err(with_id)?,
        languages,
        per_lang,
        examples: spec.examples.clone().unwrap_or_default(),
        spec,
        origin: None,
        warnings,
    })
}

fn compile_for_lang(
    spec: &RuleFileSpec,
    lang: Lang,
    globals: &GlobalUtils,
    regexes: &Regexes,
    warnings: &mut Vec<(KeyPath, String)>,
) -> Result<LangRule, RuleError> {
    let empty = IndexMap::new();
    let mut cx = RuleCompiler::new(
        lang,
        spec.utils.as_ref().unwrap_or(&empty),
        globals,
        regexes,
    );
    let finder = match (&spec.rule, &spec.query) {
        (Some(rule), _) => Finder::Rule(cx.rule(rule, &KeyPath::root().key("rule"), false)?),
        (None, Some(query)) => Finder::Query(QueryRule::new(query, lang)?),
        (None, None) => return Err(RuleError::new(ErrorKind::RuleOrQuery)),
    };
    let mut constraints = Vec::new();
    for (name, rule) in spec.constraints.iter().flatten() {
        let path = KeyPath::root().key("constraints").key(name);
        constraints.push((Arc::from(name.as_str()), cx.rule(rule, &path, false)?));
    }
    let rewriters = match &spec.rewriters {
        Some(list) => crate::transform::compile_rewriters(list, &mut cx)?,
        None => Vec::new(),
    };
    let transforms = match &spec.transform {
        Some(t) => compile_transforms(t, &rewriters)?,
        None => Vec::new(),
    };
    let fix = match &spec.fix {
        Some(fix) => Some(compile_fix(fix, &mut cx, &KeyPath::root().key("fix"))?),
        None => None,
    };
    warnings.append(&mut cx.warnings);
    let utils = cx.finish()?;
    let kinds = match &finder {
        Finder::Rule(rule) => {
            let kinds = potential_kinds(rule, &utils, 0);
            if kinds.as_ref().is_some_and(|k| k.is_empty()) {
                return Err(RuleError::at(
                    &KeyPath::root().key("rule"),
                    ErrorKind::NoPossibleKind,
                ));
            }
            kinds
        }
        Finder::Query(_) => None,
    };
    Ok(LangRule {
        lang,
        finder,
        utils,
        constraints,
        kinds,
        transforms,
        rewriters,
        fix,
    })
}

pub(crate) fn compile_fix(
    fix: &FixSpec,
    cx: &mut RuleCompiler<'_>,
    path: &KeyPath,
) -> Result<Fixer, RuleError> {
    Ok(match fix {
        FixSpec::Template(t) => Fixer::new(t, None, None),
        FixSpec::Object(obj) => {
            let start = match &obj.expand_start {
                Some(r) => Some(cx.rule(r, &path.key("expandStart"), false)?),
                None => None,
            };
            let end = match &obj.expand_end {
                Some(r) => Some(cx.rule(r, &path.key("expandEnd"), false)?),
                None => None,
            };
            Fixer::new(&obj.template, start, end)
        }
    })
}

/// Where a util comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum UtilKey {
    Local(String),
    Global(String),
}

impl UtilKey {
    fn name(&self) -> &str {
        match self {
            UtilKey::Local(n) | UtilKey::Global(n) => n,
        }
    }
}

/// Compiles rule objects of one language, resolving `matches` to util indices.
/// The regexes of one rule file, compiled once: a rule for several languages has the
/// same regexes in each (a compiled `Regex` is shared by cloning).
#[derive(Default)]
pub(crate) struct Regexes(RefCell<HashMap<String, Regex>>);

impl Regexes {
    fn compile(&self, pattern: &str) -> Result<Regex, regex::Error> {
        if let Some(re) = self.0.borrow().get(pattern) {
            return Ok(re.clone());
        }
        let re = Regex::new(pattern)?;
        self.0.borrow_mut().insert(pattern.to_owned(), re.clone());
        Ok(re)
    }
}

pub(crate) struct RuleCompiler<'a> {
    lang: Lang,
    info: &'static LangInfo,
    locals: &'a IndexMap<String, RuleSpec>,
    globals: &'a GlobalUtils,
    regexes: &'a Regexes,
    index: HashMap<UtilKey, usize>,
    compiled: Vec<Option<Rule>>,
    /// For each util: the utils it reaches without moving in the tree.
    direct: Vec<Vec<usize>>,
    /// Which util is being compiled, innermost last (for cycle edges).
    current: Vec<usize>,
    /// Patterns that tree-sitter had to repair.
    pub(crate) warnings: Vec<(KeyPath, String)>,
}

impl<'a> RuleCompiler<'a> {
    pub(crate) fn new(
        lang: Lang,
        locals: &'a IndexMap<String, RuleSpec>,
        globals: &'a GlobalUtils,
        regexes: &'a Regexes,
    ) -> Self {
        RuleCompiler {
            lang,
            info: LangInfo::of(lang),
            locals,
            globals,
            regexes,
            index: HashMap::new(),
            compiled: Vec::new(),
            direct: Vec::new(),
            current: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The local utils in scope.
    pub(crate) fn locals(&self) -> &'a IndexMap<String, RuleSpec> {
        self.locals
    }

    /// A compiler for a nested scope (a rewriter) with its own local utils.
    pub(crate) fn child<'b>(&self, locals: &'b IndexMap<String, RuleSpec>) -> RuleCompiler<'b>
    where
        'a: 'b,
    {
        RuleCompiler::new(self.lang, locals, self.globals, self.regexes)
    }

    /// The util table, after checking for cycles.
    pub(crate) fn finish(self) -> Result<Vec<Rule>, RuleError> {
        let names: Vec<String> = {
            let mut names = vec![String::new(); self.compiled.len()];
            for (key, &i) in &self.index {
                names[i] = key.name().to_string();
            }
            names
        };
        // Depth-first search for a cycle in the "reaches without moving" graph.
        let n = self.direct.len();
        let mut state = vec![0u8; n];
        for start in 0..n {
            if state[start] != 0 {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            state[start] = 1;
            while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
                if let Some(&next) = self.direct[node].get(*edge) {
                    *edge += 1;
                    match state[next] {
                        0 => {
                            state[next] = 1;
                            stack.push((next, 0));
                        }
                        1 => {
                            let pos = stack.iter().position(|(u, _)| *u == next).unwrap_or(0);
                            let mut cycle: Vec<&str> = stack[pos..]
                                .iter()
                                .map(|(u, _)| names[*u].as_str())
                                .collect();
                            cycle.push(&names[next]);
                            return Err(RuleError::at(
                                &KeyPath::root().key("utils"),
                                ErrorKind::CyclicUtil(cycle.join(" -> ")),
                            ));
                        }
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
        Ok(self
            .compiled
            .into_iter()
            .map(|r| r.unwrap_or(Rule::Any(Vec::new())))
            .collect())
    }

    fn util(&mut self, name: &str, path: &KeyPath, moved: bool) -> Result<usize, RuleError> {
        let (key, spec, util_path) = if let Some(spec) = self.locals.get(name) {
            (
                UtilKey::Local(name.to_string()),
                spec,
                KeyPath::root().key("utils").key(name),
            )
        } else if let Some(spec) = self.globals.get(name, self.lang) {
            (UtilKey::Global(name.to_string()), spec, path.clone())
        } else {
            return Err(RuleError::at(
                path,
                ErrorKind::UndefinedUtil(name.to_string()),
            ));
        };
        let index = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.compiled.len();
                self.index.insert(key, i);
                self.compiled.push(None);
                self.direct.push(Vec::new());
                self.current.push(i);
                let compiled = self.rule(spec, &util_path, false);
                self.current.pop();
                self.compiled[i] = Some(compiled?);
                i
            }
        };
        if !moved && let Some(&from) = self.current.last() {
            self.direct[from].push(index);
        }
        Ok(index)
    }

    fn kind(&self, name: &str, path: &KeyPath) -> Result<Vec<u16>, RuleError> {
        self.info.kinds_for(name).ok_or_else(|| {
            RuleError::at(
                path,
                ErrorKind::UnknownKind {
                    kind: name.to_string(),
                    lang: self.lang,
                    similar: self
                        .info
                        .similar_kinds(name)
                        .into_iter()
                        .map(String::from)
                        .collect(),
                },
            )
        })
    }

    fn field(&self, name: &str, path: &KeyPath) -> Result<u16, RuleError> {
        self.info.field(name).ok_or_else(|| {
            RuleError::at(
                path,
                ErrorKind::UnknownField {
                    field: name.to_string(),
                    lang: self.lang,
                },
            )
        })
    }

    /// Compiles a rule object. `moved` is true below a relational key (the tree position
    /// changes there, so util recursion through it terminates).
    pub(crate) fn rule(
        &mut self,
        spec: &RuleSpec,
        path: &KeyPath,
        moved: bool,
    ) -> Result<Rule, RuleError> {
        if spec.stop_by.is_some() {
            return Err(RuleError::at(
                &path.key("stopBy"),
                ErrorKind::RelationalKeyOutside("stopBy"),
            ));
        }
        if spec.field.is_some() {
            return Err(RuleError::at(
                &path.key("field"),
                ErrorKind::RelationalKeyOutside("field"),
            ));
        }
        self.rule_body(spec, path, moved)
    }

    fn rule_body(
        &mut self,
        spec: &RuleSpec,
        path: &KeyPath,
        moved: bool,
    ) -> Result<Rule, RuleError> {
        let mut rules = Vec::new();
        // Atomic.
        if let Some(pattern) = &spec.pattern {
            let p = path.key("pattern");
            let compiled = match pattern {
                PatternSpec::Str(s) => Pattern::new(s, self.lang, Strictness::Smart),
                PatternSpec::Object(o) => Pattern::contextual(
                    &o.context,
                    o.selector.as_deref(),
                    self.lang,
                    o.strictness.unwrap_or_default(),
                    self.info,
                ),
            };
            let compiled = compiled.map_err(|e| RuleError::at(&p, ErrorKind::Pattern(e)))?;
            if compiled.has_syntax_error() {
                self.warnings.push((
                    p,
                    format!(
                        "the pattern has a syntax error in {}; it matches as tree-sitter repaired it, as in ast-grep",
                        self.lang
                    ),
                ));
            }
            rules.push(Rule::Pattern(compiled));
        }
        if let Some(kind) = &spec.kind {
            rules.push(Rule::Kind(self.kind(kind, &path.key("kind"))?));
        }
        if let Some(regex) = &spec.regex {
            let re = self
                .regexes
                .compile(regex)
                .map_err(|e| RuleError::at(&path.key("regex"), ErrorKind::Regex(e.to_string())))?;
            rules.push(Rule::Regex(re));
        }
        if let Some(nth) = &spec.nth_child {
            rules.push(Rule::NthChild(Box::new(
                self.nth_child(nth, &path.key("nthChild"))?,
            )));
        }
        if let Some(range) = &spec.range {
            rules.push(Rule::Range(RangeRule {
                start: (range.start.line, range.start.column),
                end: (range.end.line, range.end.column),
            }));
        }
        // Composite.
        if let Some(all) = &spec.all {
            let p = path.key("all");
            let mut inner = Vec::with_capacity(all.len());
            for (i, r) in all.iter().enumerate() {
                inner.push(self.rule(r, &p.index(i), moved)?);
            }
            rules.push(Rule::All(inner));
        }
        if let Some(any) = &spec.any {
            let p = path.key("any");
            let mut inner = Vec::with_capacity(any.len());
            for (i, r) in any.iter().enumerate() {
                inner.push(self.rule(r, &p.index(i), moved)?);
            }
            rules.push(Rule::Any(inner));
        }
        if let Some(not) = &spec.not {
            rules.push(Rule::Not(Box::new(self.rule(
                not,
                &path.key("not"),
                moved,
            )?)));
        }
        if let Some(name) = &spec.matches {
            rules.push(Rule::Matches(self.util(
                name,
                &path.key("matches"),
                moved,
            )?));
        }
        // Relational, last: they test the node the keys above decided on.
        if let Some(r) = &spec.inside {
            rules.push(Rule::Inside(Box::new(self.relation(
                r,
                &path.key("inside"),
                true,
            )?)));
        }
        if let Some(r) = &spec.has {
            rules.push(Rule::Has(Box::new(self.relation(
                r,
                &path.key("has"),
                true,
            )?)));
        }
        if let Some(r) = &spec.precedes {
            rules.push(Rule::Precedes(Box::new(self.relation(
                r,
                &path.key("precedes"),
                false,
            )?)));
        }
        if let Some(r) = &spec.follows {
            rules.push(Rule::Follows(Box::new(self.relation(
                r,
                &path.key("follows"),
                false,
            )?)));
        }
        match rules.len() {
            0 => Err(RuleError::at(path, ErrorKind::EmptyRule)),
            1 => Ok(rules.pop().unwrap_or(Rule::Any(Vec::new()))),
            _ => Ok(Rule::All(rules)),
        }
    }

    fn relation(
        &mut self,
        spec: &RuleSpec,
        path: &KeyPath,
        field_allowed: bool,
    ) -> Result<Relation, RuleError> {
        let field = match &spec.field {
            Some(_) if !field_allowed => {
                return Err(RuleError::at(
                    &path.key("field"),
                    ErrorKind::FieldNotAllowed,
                ));
            }
            Some(f) => Some(self.field(f, &path.key("field"))?),
            None => None,
        };
        let stop_by = match &spec.stop_by {
            None | Some(StopBySpec::Keyword(StopByKeyword::Neighbor)) => StopBy::Neighbor,
            Some(StopBySpec::Keyword(StopByKeyword::End)) => StopBy::End,
            Some(StopBySpec::Rule(r)) => StopBy::Rule(self.rule(r, &path.key("stopBy"), true)?),
        };
        let rule = self.rule_body(spec, path, true)?;
        Ok(Relation {
            rule,
            stop_by,
            field,
            env_free: std::sync::OnceLock::new(),
            reads: std::sync::OnceLock::new(),
            anchor: std::sync::OnceLock::new(),
        })
    }

    fn nth_child(&mut self, spec: &NthChildSpec, path: &KeyPath) -> Result<NthChild, RuleError> {
        let (position, reverse, of_rule) = match spec {
            NthChildSpec::Index(i) => (NthChildPosition::Index(*i), false, None),
            NthChildSpec::Formula(f) => (NthChildPosition::Formula(f.clone()), false, None),
            NthChildSpec::Object(NthChildObject {
                position,
                reverse,
                of_rule,
            }) => (position.clone(), *reverse, of_rule.as_deref()),
        };
        let (step, offset) = match &position {
            NthChildPosition::Index(0) => {
                return Err(RuleError::at(path, ErrorKind::NthChild("0".into())));
            }
            NthChildPosition::Index(i) => (0, *i as i64),
            NthChildPosition::Formula(f) => parse_an_plus_b(f)
                .ok_or_else(|| RuleError::at(path, ErrorKind::NthChild(f.clone())))?,
        };
        let of_rule = match of_rule {
            Some(r) => Some(self.rule(r, &path.key("ofRule"), true)?),
            None => None,
        };
        Ok(NthChild {
            step,
            offset,
            reverse,
            of_rule,
        })
    }
}

/// Parses CSS `An+B` (`2n+1`, `-n+3`, `n`, `3`, `odd`, `even`).
fn parse_an_plus_b(text: &str) -> Option<(i64, i64)> {
    let s: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.to_ascii_lowercase();
    match s.as_str() {
        "odd" => return Some((2, 1)),
        "even" => return Some((2, 0)),
        _ => {}
    }
    let Some(npos) = s.find('n') else {
        let b: i64 = s.parse().ok()?;
        return (b > 0).then_some((0, b));
    };
    let (a, b) = s.split_at(npos);
    let a = match a {
        "" | "+" => 1,
        "-" => -1,
        a => a.parse().ok()?,
    };
    let b = &b[1..];
    let b = if b.is_empty() { 0 } else { b.parse().ok()? };
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_plus_b() {
        assert_eq!(parse_an_plus_b("2n+1"), Some((2, 1)));
        assert_eq!(parse_an_plus_b("-n + 3"), Some((-1, 3)));
        assert_eq!(parse_an_plus_b("n"), Some((1, 0)));
        assert_eq!(parse_an_plus_b("3"), Some((0, 3)));
        assert_eq!(parse_an_plus_b("even"), Some((2, 0)));
        assert_eq!(parse_an_plus_b("x"), None);
        assert_eq!(parse_an_plus_b("0"), None);
    }
}
