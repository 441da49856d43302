//! The prefilter's lexical knowledge against tree-sitter over real code: for every file
//! under the directories, every token (leaf) must start and end where `may_split`
//! allows; for JavaScript and TypeScript files, every range the lexer calls a comment
//! must be a comment node of tree-sitter's tree, and every token must start and end
//! where the lexer's strings allow (within a string's text, only at its ends and next to
//! escape sequences). Prints how many tokens and ranges were not (on files tree-sitter
//! parses without errors, and on files with errors, where nothing is promised), how much
//! of tree-sitter's comment text the lexer found, how much string text it found, and how
//! fast it lexes. Exits 1 when a token or range of an error-free file breaks a rule.
//!
//! Usage: `lexical-check [--threads N] DIR...`

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use volatile_benches::corpus_files;
use volatile_engine::kinds::LangInfo;
use volatile_engine::lexical::{self, Lexed, may_split};
use volatile_engine::tree::parse_ts;
use volatile_grammars::Lang;

#[derive(Default)]
struct Totals {
    files: u64,
    bytes: u64,
    files_with_errors: u64,
    comment_bytes: u64,
    found_bytes: u64,
    string_bytes: u64,
    lex_seconds: f64,
    unsound: Vec<(PathBuf, u32, u32, String)>,
    unsound_in_errors: Vec<(PathBuf, u32, u32, String)>,
    tokens: u64,
    split_tokens: Vec<(PathBuf, usize, String)>,
    split_tokens_in_errors: u64,
}

fn main() {
    let mut threads = 0usize;
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            _ if arg.starts_with('-') => usage("unknown flag"),
            _ => dirs.push(PathBuf::from(arg)),
        }
    }
    if dirs.is_empty() {
        usage("no directory");
    }
    let files = corpus_files(&dirs, |_| true);
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(p) => p,
        Err(e) => usage(&e.to_string()),
    };
    let totals = Mutex::new(Totals::default());
    pool.install(|| {
        files.par_iter().for_each(|(path, lang)| {
            let Ok(source) = std::fs::read_to_string(path) else {
                return;
            };
            let Ok(tree) = parse_ts(*lang, &source, None) else {
                return;
            };
            let started = Instant::now();
            let lexed = Lexed::of(*lang, source.as_bytes());
            let lex_seconds = started.elapsed().as_secs_f64();
            let TreeFacts {
                comments: truth,
                tokens,
                mut split,
                in_strings,
            } = tree_facts(*lang, &tree, source.as_bytes(), &lexed);
            split.extend(in_strings);
            let has_error = tree.root_node().has_error();
            // Each range that is not a comment, with what tree-sitter has there.
            let wrong: Vec<(PathBuf, u32, u32, String)> = lexed
                .comments()
                .iter()
                .filter(|r| truth.binary_search(r).is_err())
                .map(|&(s, e)| {
                    let at = tree
                        .root_node()
                        .descendant_for_byte_range(s as usize, s as usize)
                        .map(|n| {
                            let parent = n.parent().map_or("", |p| p.kind());
                            format!("{} in {parent}", n.kind())
                        })
                        .unwrap_or_default();
                    (path.clone(), s, e, at)
                })
                .collect();
            let Ok(mut t) = totals.lock() else { return };
            t.files += 1;
            t.tokens += tokens;
            if has_error {
                t.split_tokens_in_errors += split.len() as u64;
            } else {
                t.split_tokens
                    .extend(split.into_iter().map(|(at, kind)| (path.clone(), at, kind)));
            }
            t.bytes += source.len() as u64;
            t.lex_seconds += lex_seconds;
            if lexical::lexed(*lang) {
                t.comment_bytes += truth.iter().map(|(s, e)| u64::from(e - s)).sum::<u64>();
            }
            let bytes =
                |ranges: &[(u32, u32)]| ranges.iter().map(|(s, e)| u64::from(e - s)).sum::<u64>();
            t.found_bytes += bytes(lexed.comments());
            t.string_bytes += bytes(lexed.strings());
            if has_error {
                t.files_with_errors += 1;
                t.unsound_in_errors.extend(wrong);
            } else {
                t.unsound.extend(wrong);
            }
        })
    });
    let t = match totals.into_inner() {
        Ok(t) => t,
        Err(e) => e.into_inner(),
    };
    println!(
        "{} files, {:.1} MB ({} with syntax errors); comments: tree-sitter {:.1} MB, lexer {:.1} MB ({:.1}%); strings' text: {:.1} MB; lexed at {:.0} MB/s",
        t.files,
        t.bytes as f64 / 1e6,
        t.files_with_errors,
        t.comment_bytes as f64 / 1e6,
        t.found_bytes as f64 / 1e6,
        100.0 * t.found_bytes as f64 / (t.comment_bytes.max(1)) as f64,
        t.string_bytes as f64 / 1e6,
        t.bytes as f64 / 1e6 / t.lex_seconds.max(1e-9),
    );
    println!(
        "ranges not comments: {} in files without errors, {} in files with errors",
        t.unsound.len(),
        t.unsound_in_errors.len()
    );
    println!(
        "tokens starting or ending where may_split or the strings say none can, and nodes starting in a string's text that are no part of it: {} (of {} tokens) in files without errors, {} in files with errors",
        t.split_tokens.len(),
        t.tokens,
        t.split_tokens_in_errors
    );
    for (path, at, kind) in t.split_tokens.iter().take(20) {
        println!("  {}: {kind} at {at}", path.display());
    }
    let mut kinds: std::collections::BTreeMap<(&str, &PathBuf), usize> = Default::default();
    for (path, _, _, at) in t.unsound.iter().chain(&t.unsound_in_errors) {
        *kinds.entry((at.as_str(), path)).or_default() += 1;
    }
    for ((at, path), count) in kinds {
        println!(
            "  {count} in {}, where tree-sitter has {at}",
            path.display()
        );
    }
    if !t.unsound.is_empty() || !t.split_tokens.is_empty() {
        std::process::exit(1);
    }
}

/// What one file's tree holds: its comments' byte ranges, in order; how many tokens
/// (non-empty leaves); the offset and kind of the tokens that start or end where
/// `may_split` or the lexed strings say none can; and those of the nodes that start in
/// a lexed string's text but are no part of one (no fragment or escape sequence, or in a
/// field).
struct TreeFacts {
    comments: Vec<(u32, u32)>,
    tokens: u64,
    split: Vec<(usize, String)>,
    in_strings: Vec<(usize, String)>,
}

/// The [`TreeFacts`] of `tree`, a tree of `text` in `lang`, which lexed as `lexed`.
fn tree_facts(lang: Lang, tree: &tree_sitter::Tree, text: &[u8], lexed: &Lexed) -> TreeFacts {
    let info = LangInfo::of(lang);
    let mut facts = TreeFacts {
        comments: Vec::new(),
        tokens: 0,
        split: Vec::new(),
        in_strings: Vec::new(),
    };
    let mut cursor = tree.walk();
    'walk: loop {
        let node = cursor.node();
        let (start, end) = (node.start_byte(), node.end_byte());
        if node.kind().contains("comment") {
            facts.comments.push((start as u32, end as u32));
        }
        if node.child_count() == 0 && start < end {
            facts.tokens += 1;
            let edge = |at: usize| may_split(text, at) && lexed.may_split(text, at);
            if !(edge(start) && edge(end)) {
                facts.split.push((start, node.kind().to_string()));
            }
        }
        // A node that starts in a string's text is part of that text, in no field.
        if start < end
            && lexed.in_string(start as u32)
            && (!info.may_be_string_text(node.kind_id()) || cursor.field_name().is_some())
        {
            facts.in_strings.push((start, node.kind().to_string()));
        }
        if cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    facts.comments.sort_unstable();
    facts
}

fn usage(why: &str) -> ! {
    eprintln!("lexical-check: {why}\nusage: lexical-check [--threads N] DIR...");
    std::process::exit(2);
}
