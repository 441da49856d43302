//! Analyses one file repeatedly on one thread with the server's default playbooks and
//! prints files per second: the in-process baseline of `benches/http.sh`.
//!
//! Usage: `engine-rate FILE [SECONDS]`

use std::time::{Duration, Instant};

use volatile_benches::example_playbooks;
use volatile_engine::analyze::{AnalyzeOptions, RuleFilter, RuleSet, analyze};
use volatile_grammars::Lang;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: engine-rate FILE [SECONDS]");
        std::process::exit(2);
    };
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let source = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("engine-rate: {path}: {e}");
            std::process::exit(2);
        }
    };
    let Some(lang) = Lang::detect(std::path::Path::new(&path), &source) else {
        eprintln!("engine-rate: {path}: unknown language");
        std::process::exit(2);
    };
    // The service's defaults: every example playbook but the team-conventions template.
    let playbooks: Vec<_> = example_playbooks()
        .into_iter()
        .filter(|p| p.id != "team-conventions")
        .collect();
    let set = RuleSet::new(&playbooks, &RuleFilter::default());
    let options = AnalyzeOptions::default();
    let started = Instant::now();
    let mut files = 0u64;
    let mut findings = 0usize;
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        findings = analyze(&set, &path, lang, &source, &options).findings.len();
        files += 1;
    }
    let rate = files as f64 / started.elapsed().as_secs_f64();
    println!("{rate:.1} files/s ({files} files, {findings} findings each)");
}
