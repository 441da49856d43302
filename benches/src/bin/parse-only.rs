//! The parse floor: walks directories as `volatile scan` does (`.gitignore` honoured,
//! hidden files skipped), reads each file of the chosen languages and parses it with
//! tree-sitter, on N threads, and prints what it did. No rule runs. `benches/compare.sh`
//! measures Volatile and ast-grep against this.
//!
//! Usage: `parse-only [--threads N] [--lang NAME]... DIR...`

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use volatile_benches::corpus_files;
use volatile_engine::tree::parse_ts;
use volatile_grammars::Lang;

fn main() {
    let mut threads = 0usize;
    let mut langs: Vec<Lang> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--lang" => match args.next().as_deref().map(Lang::from_name) {
                Some(Ok(l)) => langs.push(l),
                _ => usage("unknown language"),
            },
            _ if arg.starts_with('-') => usage("unknown flag"),
            _ => dirs.push(PathBuf::from(arg)),
        }
    }
    if dirs.is_empty() {
        usage("no directory");
    }
    if langs.is_empty() {
        langs = Lang::ALL.to_vec();
    }
    let started = Instant::now();
    let files = corpus_files(&dirs, |lang| langs.contains(&lang));
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(p) => p,
        Err(e) => usage(&e.to_string()),
    };
    let bytes = AtomicU64::new(0);
    let nodes = AtomicU64::new(0);
    pool.install(|| {
        files.par_iter().for_each(|(path, lang)| {
            let Ok(source) = std::fs::read_to_string(path) else {
                return;
            };
            bytes.fetch_add(source.len() as u64, Ordering::Relaxed);
            if let Ok(tree) = parse_ts(*lang, &source, None) {
                nodes.fetch_add(
                    tree.root_node().descendant_count() as u64,
                    Ordering::Relaxed,
                );
            }
        })
    });
    println!(
        "{} files, {:.1} MB, {} nodes, {:.2} s",
        files.len(),
        bytes.load(Ordering::Relaxed) as f64 / 1e6,
        nodes.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

fn usage(why: &str) -> ! {
    eprintln!("parse-only: {why}\nusage: parse-only [--threads N] [--lang NAME]... DIR...");
    std::process::exit(2);
}
