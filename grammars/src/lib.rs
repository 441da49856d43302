//! The five grammars Volatile understands, behind one closed [`Lang`] enum.
//!
//! A closed enum rather than a `Language` trait: the set of grammars is part of the
//! product, every `match` over it is checked for exhaustiveness by the compiler, and
//! adding a grammar is one variant plus one row in each table below.
//!
//! This crate knows names, file extensions, shebangs and the tree-sitter
//! [`tree_sitter::Language`] of each grammar; nothing about rules or matching.

pub mod alloc;
pub mod scrub;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A language Volatile can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// TypeScript (`.ts`, `.mts`, `.cts`, `.d.ts`), without JSX.
    TypeScript,
    /// TypeScript with JSX (`.tsx`).
    Tsx,
    /// JavaScript, including JSX (`.js`, `.mjs`, `.cjs`, `.jsx`).
    JavaScript,
    /// Python 3 (`.py`, `.pyi`).
    Python,
    /// Java (`.java`).
    Java,
}

/// The error for a language name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLang(pub String);

impl fmt::Display for UnknownLang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unsupported language `{}` (supported: {})",
            self.0,
            Lang::ALL.map(Lang::name).join(", ")
        )
    }
}

impl std::error::Error for UnknownLang {}

impl Lang {
    /// Every language, in a fixed order.
    pub const ALL: [Lang; 5] = [
        Lang::TypeScript,
        Lang::Tsx,
        Lang::JavaScript,
        Lang::Python,
        Lang::Java,
    ];

    /// The canonical, lowercase name (`typescript`, `tsx`, `javascript`, `python`, `java`).
    pub const fn name(self) -> &'static str {
        match self {
            Lang::TypeScript => "typescript",
            Lang::Tsx => "tsx",
            Lang::JavaScript => "javascript",
            Lang::Python => "python",
            Lang::Java => "java",
        }
    }

    /// The tree-sitter grammar.
    pub fn ts_language(self) -> tree_sitter::Language {
        match self {
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
        }
    }

    /// The character that stands for `$` in patterns of this language.
    ///
    /// Where `$` cannot start an identifier (Python), a metavariable such as `$A` would not
    /// parse as one node, so patterns are rewritten to use this character instead before
    /// parsing. It must be a valid identifier character of the language.
    pub const fn expando_char(self) -> char {
        match self {
            Lang::Python => 'µ',
            Lang::TypeScript | Lang::Tsx | Lang::JavaScript | Lang::Java => '$',
        }
    }

    /// The line-comment prefix, used to recognise suppression comments.
    pub const fn line_comment(self) -> &'static str {
        match self {
            Lang::Python => "#",
            Lang::TypeScript | Lang::Tsx | Lang::JavaScript | Lang::Java => "//",
        }
    }

    /// Parses a language name: canonical names, ast-grep's spellings and aliases, any case.
    pub fn from_name(name: &str) -> Result<Lang, UnknownLang> {
        let lower = name.trim().to_ascii_lowercase();
        let lang = match lower.as_str() {
            "typescript" | "ts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "javascript" | "js" | "jsx" => Lang::JavaScript,
            "python" | "py" => Lang::Python,
            "java" => Lang::Java,
            _ => return Err(UnknownLang(name.to_string())),
        };
        Ok(lang)
    }

    /// The language of a path by its extension (`.d.ts` counts as `.ts`).
    pub fn from_path(path: &Path) -> Option<Lang> {
        let ext = path.extension()?.to_str()?;
        Lang::from_extension(ext)
    }

    /// The language of a file extension, without the dot; case-sensitive like file systems.
    pub fn from_extension(ext: &str) -> Option<Lang> {
        let lang = match ext {
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "js" | "mjs" | "cjs" | "jsx" => Lang::JavaScript,
            "py" | "pyi" => Lang::Python,
            "java" => Lang::Java,
            _ => return None,
        };
        Some(lang)
    }

    /// The language named by a shebang on the first line (`#!/usr/bin/env python3`,
    /// `#!/usr/bin/node`, `#!/usr/bin/env -S deno run`...), if any.
    pub fn from_shebang(source: &str) -> Option<Lang> {
        let first = source.strip_prefix('\u{feff}').unwrap_or(source);
        let line = first.strip_prefix("#!")?.lines().next()?;
        let mut words = line.split_whitespace();
        let mut program = words.next()?.rsplit('/').next()?;
        if program == "env" {
            program = words.find(|w| !w.starts_with('-'))?.rsplit('/').next()?;
        }
        let lang = match program {
            p if p.starts_with("python") || p == "pypy" || p == "pypy3" => Lang::Python,
            "node" | "nodejs" | "bun" => Lang::JavaScript,
            "deno" | "ts-node" | "tsx" => Lang::TypeScript,
            _ => return None,
        };
        Some(lang)
    }

    /// The language of a file: its extension first, then its shebang.
    pub fn detect(path: &Path, source: &str) -> Option<Lang> {
        Lang::from_path(path).or_else(|| Lang::from_shebang(source))
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Lang {
    type Err = UnknownLang;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lang::from_name(s)
    }
}

impl Serialize for Lang {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl schemars::JsonSchema for Lang {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Language".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A language: canonical lowercase names, ast-grep's spellings and aliases; any case is accepted.",
            "type": "string",
            "enum": [
                "typescript", "ts", "tsx", "javascript", "js", "jsx", "python", "py", "java",
                "TypeScript", "Tsx", "JavaScript", "Python", "Java"
            ]
        })
    }
}

impl<'de> Deserialize<'de> for Lang {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Lang::from_name(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lang: Lang, src: &str) -> tree_sitter::Tree {
        let mut parser = tree_sitter::Parser::new();
        assert!(parser.set_language(&lang.ts_language()).is_ok());
        match parser.parse(src, None) {
            Some(tree) => tree,
            None => panic!("parser returned no tree for {lang}"),
        }
    }

    /// Whether a node of `kind` exists anywhere in the tree.
    fn has_kind(tree: &tree_sitter::Tree, kind: &str) -> bool {
        let mut cursor = tree.walk();
        loop {
            if cursor.node().kind() == kind {
                return true;
            }
            if cursor.goto_first_child() || cursor.goto_next_sibling() {
                continue;
            }
            loop {
                if !cursor.goto_parent() {
                    return false;
                }
                if cursor.goto_next_sibling() {
                    break;
                }
            }
        }
    }

    #[test]
    fn each_grammar_parses_its_language_and_rejects_another() {
        let cases = [
            (
                Lang::TypeScript,
                "let x: number = 1;",
                "type_annotation",
                "def f(): pass",
            ),
            (
                Lang::Tsx,
                "const a = <div>{x}</div>;",
                "jsx_element",
                "def f(): pass",
            ),
            (
                Lang::JavaScript,
                "const a = <b/>;",
                "jsx_self_closing_element",
                "fn main() {}",
            ),
            (
                Lang::Python,
                "def f(x):\n    return x\n",
                "function_definition",
                "int x = 1;",
            ),
            (
                Lang::Java,
                "class A { void f() {} }",
                "method_declaration",
                "def f(): pass",
            ),
        ];
        for (lang, good, kind, bad) in cases {
            let tree = parse(lang, good);
            assert!(
                !tree.root_node().has_error(),
                "{lang} failed on its own code"
            );
            assert!(has_kind(&tree, kind), "{lang}: no {kind} in {good}");
            let tree = parse(lang, bad);
            assert!(
                tree.root_node().has_error() || !has_kind(&tree, kind),
                "{lang} accepted foreign code"
            );
        }
    }

    #[test]
    fn names_and_aliases_are_case_insensitive() {
        for lang in Lang::ALL {
            assert_eq!(Lang::from_name(lang.name()), Ok(lang));
            assert_eq!(Lang::from_name(&lang.name().to_uppercase()), Ok(lang));
        }
        assert_eq!(Lang::from_name("TypeScript"), Ok(Lang::TypeScript));
        assert_eq!(Lang::from_name("ts"), Ok(Lang::TypeScript));
        assert_eq!(Lang::from_name("JS"), Ok(Lang::JavaScript));
        assert_eq!(Lang::from_name("jsx"), Ok(Lang::JavaScript));
        assert_eq!(Lang::from_name("Py"), Ok(Lang::Python));
        let err = Lang::from_name("cobol").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "unsupported language `cobol` (supported: typescript, tsx, javascript, python, java)"
            )
        );
    }

    #[test]
    fn extension_table() {
        let cases = [
            ("a.ts", Some(Lang::TypeScript)),
            ("a.mts", Some(Lang::TypeScript)),
            ("a.cts", Some(Lang::TypeScript)),
            ("types/index.d.ts", Some(Lang::TypeScript)),
            ("a.tsx", Some(Lang::Tsx)),
            ("a.js", Some(Lang::JavaScript)),
            ("a.mjs", Some(Lang::JavaScript)),
            ("a.cjs", Some(Lang::JavaScript)),
            ("a.jsx", Some(Lang::JavaScript)),
            ("a.py", Some(Lang::Python)),
            ("a.pyi", Some(Lang::Python)),
            ("A.java", Some(Lang::Java)),
            ("a.rs", None),
            ("Makefile", None),
        ];
        for (path, want) in cases {
            assert_eq!(Lang::from_path(Path::new(path)), want, "{path}");
        }
    }

    #[test]
    fn shebang_decides_for_extensionless_files() {
        let cases = [
            ("#!/usr/bin/env python3\nprint(1)\n", Some(Lang::Python)),
            ("#!/usr/bin/python\n", Some(Lang::Python)),
            (
                "#!/usr/bin/env node\nconsole.log(1)\n",
                Some(Lang::JavaScript),
            ),
            ("#!/usr/local/bin/node --harmony\n", Some(Lang::JavaScript)),
            ("#!/usr/bin/env -S deno run\n", Some(Lang::TypeScript)),
            ("\u{feff}#!/usr/bin/env python3\n", Some(Lang::Python)),
            ("#!/bin/sh\necho\n", None),
            ("print(1)\n", None),
        ];
        for (src, want) in cases {
            assert_eq!(Lang::detect(Path::new("bin/tool"), src), want, "{src:?}");
        }
        // The extension wins over the shebang.
        assert_eq!(
            Lang::detect(Path::new("x.js"), "#!/usr/bin/env python3\n"),
            Some(Lang::JavaScript)
        );
    }
}
