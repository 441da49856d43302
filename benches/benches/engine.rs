//! Parse and match throughput per language, in bytes per second, measured separately:
//! `tree-sitter` is tree-sitter's parse alone, `copy` the one-pass flat copy of its tree
//! (`copy-cursor` the same copy by a `TreeCursor` walk, what it replaced), `parse` both,
//! and `analyze` the whole per-file analysis with the example playbooks (parse + match),
//! so `analyze - parse` is the cost of matching. `<lang>-large/copy` is the copy of an
//! 8 MiB file's tree, far larger than the caches, as a corpus's bundled files are.
//! `<lang>-literals` is the prefilter's pass over the 8 MiB file, looking for every literal
//! of the example playbooks' rules in that language: `laned` as the engine does it, and
//! `one-run` as `aho-corasick`'s own overlapping search over the same DFA did it before,
//! the baseline in the same run.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::collections::BTreeSet;
use std::hint::black_box;
use std::ops::ControlFlow;

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use volatile_benches::{example_playbooks, example_rule_set, sample_source};
use volatile_engine::analyze::{AnalyzeOptions, analyze};
use volatile_engine::literal_scan::LiteralScan;
use volatile_engine::prefilter::{RegexClauses, local_requirement, requirement};
use volatile_engine::tree::{SyntaxTree, parse_ts};
use volatile_grammars::Lang;

const FILE_BYTES: usize = 64 * 1024;
const LARGE_FILE_BYTES: usize = 8 * 1024 * 1024;

fn bench(c: &mut Criterion) {
    let set = example_rule_set();
    for (lang, path) in [
        (Lang::TypeScript, "bench.ts"),
        (Lang::Python, "bench.py"),
        (Lang::Java, "Bench.java"),
    ] {
        let source = sample_source(lang, FILE_BYTES);
        let mut group = c.benchmark_group(lang.name());
        group.throughput(Throughput::Bytes(source.len() as u64));
        group.bench_function("tree-sitter", |b| {
            b.iter(|| parse_ts(lang, black_box(&source), None).map(|t| t.root_node().end_byte()))
        });
        let Ok(tree) = parse_ts(lang, &source, None) else {
            panic!("{lang:?}: the sample does not parse")
        };
        group.bench_function("copy", |b| {
            b.iter(|| SyntaxTree::from_ts(lang, &source, black_box(&tree)).len())
        });
        group.bench_function("copy-cursor", |b| {
            b.iter(|| {
                SyntaxTree::from_ts_by_cursor(lang, &source, black_box(&tree), &[], &mut Vec::new())
                    .len()
            })
        });
        group.bench_function("parse", |b| {
            b.iter(|| SyntaxTree::parse(lang, black_box(&source)).map(|t| t.len()))
        });
        group.bench_function("analyze", |b| {
            b.iter(|| {
                analyze(
                    &set,
                    path,
                    lang,
                    black_box(&source),
                    &AnalyzeOptions::default(),
                )
                .findings
                .len()
            })
        });
        group.finish();
    }
    // A file whose tree (about 100 bytes a node) is far larger than the caches, as the
    // bundled sources of a corpus are: the copy is bound by reading tree-sitter's subtrees.
    for lang in [Lang::TypeScript, Lang::Python, Lang::Java] {
        let source = sample_source(lang, LARGE_FILE_BYTES);
        let Ok(tree) = parse_ts(lang, &source, None) else {
            panic!("{lang:?}: the large sample does not parse")
        };
        let mut group = c.benchmark_group(format!("{}-large", lang.name()));
        group.throughput(Throughput::Bytes(source.len() as u64));
        group.sample_size(10);
        group.bench_function("copy", |b| {
            b.iter(|| SyntaxTree::from_ts(lang, &source, black_box(&tree)).len())
        });
        group.finish();

        let literals = example_literals(lang);
        let Some(laned) = LiteralScan::new(&literals) else {
            panic!("{lang:?}: no literals in the example rules")
        };
        let one_run = match AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .build(&literals)
        {
            Ok(automaton) => automaton,
            Err(e) => panic!("{lang:?}: {e}"),
        };
        let mut group = c.benchmark_group(format!("{}-literals", lang.name()));
        group.throughput(Throughput::Bytes(source.len() as u64));
        group.sample_size(20);
        group.bench_function("laned", |b| {
            b.iter(|| {
                let mut found = 0usize;
                laned.for_each(black_box(source.as_bytes()), |_, _| {
                    found += 1;
                    ControlFlow::Continue(())
                });
                found
            })
        });
        group.bench_function("one-run", |b| {
            b.iter(|| one_run.find_overlapping_iter(black_box(&source)).count())
        });
        group.finish();
    }
}

/// Every literal the prefilter looks for in `lang` with the example playbooks, in lower
/// case as it keeps them.
fn example_literals(lang: Lang) -> Vec<String> {
    let regexes = RegexClauses::new();
    let mut literals = BTreeSet::new();
    for playbook in example_playbooks() {
        for rule in &playbook.rules {
            let Some(lang_rule) = rule.for_lang(lang) else {
                continue;
            };
            for req in [
                requirement(lang_rule, &regexes),
                local_requirement(lang_rule, &regexes),
            ] {
                for literal in req.clauses.iter().flatten() {
                    literals.insert(literal.text.to_ascii_lowercase());
                }
            }
        }
    }
    literals.into_iter().collect()
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench
}
criterion_main!(benches);
