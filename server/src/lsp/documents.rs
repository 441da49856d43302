//! The open documents: their text at the latest version the client sent, and, for the
//! in-process engine, their syntax tree with every edit since the last parse recorded in
//! it, so that the next parse is incremental.
//!
//! Text is shared with queued analyses through an `Arc`: an edit copies it only while an
//! analysis still holds the previous version.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lsp_types::{Diagnostic, TextDocumentContentChangeEvent, TextEdit, Uri};
use volatile_engine::incremental::{Tree, edit_tree};
use volatile_grammars::Lang;

use super::convert::{Encoding, LineMap};

/// One open document.
#[derive(Debug)]
pub struct Document {
    /// The client's version of the text.
    pub version: i32,
    /// The text at `version`.
    pub text: Arc<String>,
    /// Its language, when it is one Volatile reads.
    pub lang: Option<Lang>,
    /// The path the rules see (relative to the workspace folder holding it, if any).
    pub path: String,
    /// The last parse, with every edit since recorded; `None` to parse afresh.
    pub tree: Option<Tree>,
    /// Set to stop the analysis in flight, once it is outdated.
    pub cancel: Arc<AtomicBool>,
    /// The version last handed to an analysis.
    pub submitted: Option<i32>,
    /// The ticket of that analysis: only its outcome is published.
    pub ticket: u64,
    /// The diagnostics last published, and their fixes.
    pub published: Option<Published>,
}

/// The diagnostics published for one version of a document.
#[derive(Debug, Clone)]
pub struct Published {
    /// The version they are about.
    pub version: i32,
    /// Each diagnostic with its fix.
    pub items: Vec<(Diagnostic, Option<TextEdit>)>,
}

impl Document {
    /// Marks the analysis in flight, if any, as outdated.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Applies the client's changes in order, moving to `version`.
    pub fn change(
        &mut self,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
        encoding: Encoding,
    ) {
        self.cancel();
        self.version = version;
        self.submitted = None;
        for change in changes {
            match change.range {
                Some(range) => {
                    let lines = LineMap::new(&self.text);
                    let a = lines.offset(range.start, encoding);
                    let b = lines.offset(range.end, encoding);
                    self.replace(a.min(b), a.max(b), &change.text);
                }
                None => self.replace_all(&change.text),
            }
        }
    }

    /// Replaces the whole text, recording in the tree only the span that differs (a
    /// client that sends whole texts still gets incremental parses).
    fn replace_all(&mut self, new: &str) {
        let old = self.text.as_str();
        let limit = old.len().min(new.len());
        let mut prefix = old
            .bytes()
            .zip(new.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !(old.is_char_boundary(prefix) && new.is_char_boundary(prefix)) {
            prefix -= 1;
        }
        let mut suffix = old
            .bytes()
            .rev()
            .zip(new.bytes().rev())
            .take(limit - prefix)
            .take_while(|(a, b)| a == b)
            .count();
        while !(old.is_char_boundary(old.len() - suffix)
            && new.is_char_boundary(new.len() - suffix))
        {
            suffix -= 1;
        }
        let inserted = new[prefix..new.len() - suffix].to_string();
        let end = old.len() - suffix;
        self.replace(prefix, end, &inserted);
    }

    fn replace(&mut self, start: usize, end: usize, inserted: &str) {
        if let Some(tree) = &mut self.tree
            && !edit_tree(tree, &self.text, start, end, inserted)
        {
            self.tree = None;
        }
        Arc::make_mut(&mut self.text).replace_range(start..end, inserted);
    }
}

/// The open documents, by URI.
#[derive(Debug, Default)]
pub struct Documents {
    open: HashMap<Uri, Document>,
    /// Workspace folders, to make paths relative.
    roots: Vec<PathBuf>,
}

impl Documents {
    /// No document open yet; paths are made relative to the first of `roots` that holds
    /// them.
    pub fn new(roots: Vec<PathBuf>) -> Documents {
        Documents {
            open: HashMap::new(),
            roots,
        }
    }

    /// Opens (or reopens) a document.
    pub fn open(&mut self, uri: Uri, language_id: &str, version: i32, text: String) -> &Document {
        let file = file_path(&uri);
        let path = match &file {
            Some(file) => relative(file, &self.roots),
            None => uri.path().as_str().to_string(),
        };
        let lang = file
            .as_deref()
            .and_then(Lang::from_path)
            .or_else(|| lang_of_id(language_id))
            .or_else(|| Lang::from_shebang(&text));
        if let Some(old) = self.open.get(&uri) {
            old.cancel();
        }
        let document = Document {
            version,
            text: Arc::new(text),
            lang,
            path,
            tree: None,
            cancel: Arc::new(AtomicBool::new(false)),
            submitted: None,
            ticket: 0,
            published: None,
        };
        self.open.entry(uri).insert_entry(document).into_mut()
    }

    /// The document at `uri`, if open.
    pub fn get(&self, uri: &Uri) -> Option<&Document> {
        self.open.get(uri)
    }

    /// The document at `uri`, if open, to change.
    pub fn get_mut(&mut self, uri: &Uri) -> Option<&mut Document> {
        self.open.get_mut(uri)
    }

    /// Closes a document, stopping its analysis.
    pub fn close(&mut self, uri: &Uri) -> Option<Document> {
        let document = self.open.remove(uri)?;
        document.cancel();
        Some(document)
    }

    /// Stops every analysis (at shutdown).
    pub fn cancel_all(&self) {
        for document in self.open.values() {
            document.cancel();
        }
    }
}

/// The language of a client's `languageId`.
fn lang_of_id(id: &str) -> Option<Lang> {
    match id {
        "typescriptreact" => Some(Lang::Tsx),
        "javascriptreact" => Some(Lang::JavaScript),
        other => Lang::from_name(other).ok(),
    }
}

/// The file a `file:` URI names.
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    // Skip the authority (empty, or `localhost`).
    let path = &rest[rest.find('/')?..];
    let decoded = percent_decode(path);
    // `/C:/dir` names `C:/dir` on Windows.
    let bytes = decoded.as_bytes();
    if cfg!(windows) && bytes.len() > 2 && bytes[2] == b':' && bytes[1].is_ascii_alphabetic() {
        return Some(PathBuf::from(&decoded[1..]));
    }
    Some(PathBuf::from(decoded))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `file` relative to the first root that holds it, with `/` separators; else as is.
fn relative(file: &Path, roots: &[PathBuf]) -> String {
    let shown = roots
        .iter()
        .find_map(|root| file.strip_prefix(root).ok())
        .unwrap_or(file);
    shown.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use lsp_types::{Position, Range};

    use super::*;

    fn uri(text: &str) -> Uri {
        match Uri::from_str(text) {
            Ok(uri) => uri,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn change(
        range: Option<((u32, u32), (u32, u32))>,
        text: &str,
    ) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: range.map(|(a, b)| Range {
                start: Position {
                    line: a.0,
                    character: a.1,
                },
                end: Position {
                    line: b.0,
                    character: b.1,
                },
            }),
            range_length: None,
            text: text.into(),
        }
    }

    #[test]
    fn paths_are_relative_to_the_workspace_and_decoded() {
        let mut docs = Documents::new(vec![PathBuf::from("/work/my app")]);
        let doc = docs.open(
            uri("file:///work/my%20app/src/a%C3%A9.ts"),
            "plaintext",
            1,
            String::new(),
        );
        assert_eq!(doc.path, "src/aé.ts");
        assert_eq!(doc.lang, Some(Lang::TypeScript));
        let doc = docs.open(uri("file:///elsewhere/b.py"), "python", 1, String::new());
        assert_eq!(doc.path, "/elsewhere/b.py");
        let doc = docs.open(
            uri("untitled:Untitled-1"),
            "typescriptreact",
            1,
            String::new(),
        );
        assert_eq!(doc.lang, Some(Lang::Tsx));
        let doc = docs.open(
            uri("untitled:Untitled-2"),
            "plaintext",
            1,
            "#!/usr/bin/env python3\n".into(),
        );
        assert_eq!(doc.lang, Some(Lang::Python));
    }

    #[test]
    fn incremental_changes_apply_in_utf16() {
        let mut docs = Documents::new(Vec::new());
        let u = uri("file:///a.ts");
        docs.open(
            u.clone(),
            "typescript",
            1,
            "const s = \"😀\"; eval(x);\n".into(),
        );
        let Some(doc) = docs.get_mut(&u) else {
            panic!("not open")
        };
        // `eval` starts at UTF-16 column 16 (the emoji counts twice).
        doc.change(
            2,
            vec![change(Some(((0, 16), (0, 20))), "safe")],
            Encoding::Utf16,
        );
        assert_eq!(doc.text.as_str(), "const s = \"😀\"; safe(x);\n");
        doc.change(
            3,
            vec![
                change(Some(((1, 0), (1, 0))), "b\n"),
                change(Some(((0, 0), (0, 6))), ""),
            ],
            Encoding::Utf16,
        );
        assert_eq!(doc.text.as_str(), "s = \"😀\"; safe(x);\nb\n");
        assert_eq!(doc.version, 3);
        doc.change(4, vec![change(None, "whole\n")], Encoding::Utf16);
        assert_eq!(doc.text.as_str(), "whole\n");
    }

    #[test]
    fn whole_text_changes_keep_the_tree_in_step() {
        let mut docs = Documents::new(Vec::new());
        let u = uri("file:///a.ts");
        docs.open(
            u.clone(),
            "typescript",
            1,
            "let a = \"é\";\nlet b = 2;\n".into(),
        );
        let Some(doc) = docs.get_mut(&u) else {
            panic!("not open")
        };
        let mut reparser = volatile_engine::incremental::Reparser::new();
        let parse = |reparser: &mut volatile_engine::incremental::Reparser,
                     text: &str,
                     old: Option<&Tree>| {
            match reparser.parse(Lang::TypeScript, text, old, &AtomicBool::new(false)) {
                Ok(t) => t,
                Err(e) => panic!("{e}"),
            }
        };
        doc.tree = Some(parse(&mut reparser, &doc.text, None));
        for (version, text) in [
            "let a = \"è\";\nlet b = 2;\n",
            "let a = \"è\";\nlet bb = 2;\nx\n",
            "let a = 1;\n",
            "",
            "let z = 0;",
        ]
        .into_iter()
        .enumerate()
        {
            doc.change(
                version as i32 + 2,
                vec![change(None, text)],
                Encoding::Utf16,
            );
            assert_eq!(doc.text.as_str(), text);
            let Some(tree) = doc.tree.take() else {
                panic!("the tree was dropped")
            };
            let incremental = parse(&mut reparser, &doc.text, Some(&tree));
            let fresh = parse(&mut reparser, &doc.text, None);
            assert_eq!(
                incremental.root_node().to_sexp(),
                fresh.root_node().to_sexp()
            );
            doc.tree = Some(incremental);
        }
    }

    #[test]
    fn a_change_cancels_the_analysis_in_flight() {
        let mut docs = Documents::new(Vec::new());
        let u = uri("file:///a.ts");
        docs.open(u.clone(), "typescript", 1, "x".into());
        let Some(doc) = docs.get_mut(&u) else {
            panic!("not open")
        };
        let token = doc.cancel.clone();
        doc.submitted = Some(1);
        doc.change(2, vec![change(None, "y")], Encoding::Utf16);
        assert!(token.load(Ordering::Relaxed));
        assert_eq!(doc.submitted, None);
    }
}
