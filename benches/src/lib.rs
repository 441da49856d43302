//! Shared setup for the criterion benchmarks: the example playbooks and a body of code
//! per language to analyse.
//!
//! The code is the example playbooks' own `valid` and `invalid` snippets, repeated to a
//! realistic file size: real code in every language, with findings at a realistic rate,
//! and no corpus to fetch. Benchmarks over the large real-world corpora are driven by the
//! comparison scripts instead; [`corpus_files`] lists a corpus's files for the binaries
//! they run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use volatile_engine::analyze::{RuleFilter, RuleSet};
use volatile_engine::playbook::{Playbook, load_playbook_dir};
use volatile_grammars::Lang;

/// The example playbooks, loaded from `rules-examples/`.
pub fn example_playbooks() -> Vec<Arc<Playbook>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules-examples");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.iter()
        .filter_map(|d| load_playbook_dir(d).ok())
        .map(|o| Arc::new(o.playbook))
        .collect()
}

/// The example playbooks indexed for analysis.
pub fn example_rule_set() -> RuleSet {
    RuleSet::new(&example_playbooks(), &RuleFilter::default())
}

/// About `target_bytes` of code in `lang`, made of the examples written for it, each
/// snippet on its own so that one bad snippet cannot swallow the rest.
pub fn sample_source(lang: Lang, target_bytes: usize) -> String {
    let mut snippets = Vec::new();
    for playbook in example_playbooks() {
        for rule in &playbook.rules {
            if rule.languages.first() != Some(&lang) {
                continue;
            }
            snippets.extend(rule.examples.valid.iter().cloned());
            snippets.extend(rule.examples.invalid.iter().cloned());
        }
    }
    let mut out = String::new();
    if snippets.is_empty() {
        return out;
    }
    while out.len() < target_bytes {
        for s in &snippets {
            out.push_str(s);
            out.push('\n');
        }
    }
    out
}

/// The files under `dirs` of the languages `wanted` accepts, walked as `volatile scan`
/// walks them (`.gitignore` honoured, hidden files skipped), with their languages.
pub fn corpus_files(dirs: &[PathBuf], wanted: impl Fn(Lang) -> bool) -> Vec<(PathBuf, Lang)> {
    let mut files = Vec::new();
    for dir in dirs {
        for entry in ignore::WalkBuilder::new(dir).build().flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            if let Some(lang) = Lang::from_path(entry.path())
                && wanted(lang)
            {
                files.push((entry.into_path(), lang));
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_benchmarked_language_has_sample_code_and_rules() {
        let set = example_rule_set();
        for lang in [Lang::TypeScript, Lang::Python, Lang::Java] {
            let source = sample_source(lang, 4096);
            assert!(source.len() >= 4096, "{lang}");
            assert!(!set.rules(lang).is_empty(), "{lang}");
        }
    }
}
