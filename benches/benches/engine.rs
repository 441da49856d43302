//! Parse and match throughput per language, in bytes per second, measured separately:
//! `tree-sitter` is tree-sitter's parse alone, `copy` the one-pass flat copy of its tree
//! (`copy-cursor` the same copy by a `TreeCursor` walk, what it replaced), `parse` both,
//! and `analyze` the whole per-file analysis with the example playbooks (parse + match),
//! so `analyze - parse` is the cost of matching. `<lang>-large/copy` is the copy of an
//! 8 MiB file's tree, far larger than the caches, as a corpus's bundled files are.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use volatile_benches::{example_rule_set, sample_source};
use volatile_engine::analyze::{AnalyzeOptions, analyze};
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
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench
}
criterion_main!(benches);
