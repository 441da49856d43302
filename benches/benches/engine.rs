//! Parse and match throughput per language, in bytes per second, measured separately:
//! `parse` is tree-sitter plus the flat copy, `analyze` is the whole per-file analysis with
//! the example playbooks (parse + match), so `analyze - parse` is the cost of matching.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use volatile_benches::{example_rule_set, sample_source};
use volatile_engine::analyze::{AnalyzeOptions, analyze};
use volatile_engine::tree::SyntaxTree;
use volatile_grammars::Lang;

const FILE_BYTES: usize = 64 * 1024;

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
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench
}
criterion_main!(benches);
