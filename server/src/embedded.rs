//! The example playbooks compiled into the binary.

use std::collections::BTreeMap;

use volatile_engine::error::RuleError;
use volatile_engine::playbook::{LoadOutcome, SourceFile, playbook_from_files};

include!(concat!(env!("OUT_DIR"), "/embedded_playbooks.rs"));

/// The playbooks the service applies when a request names none: every embedded playbook
/// except the team-conventions example, which is a template to copy.
pub const NOT_DEFAULT: &[&str] = &["team-conventions"];

/// Loads every embedded playbook, in directory order.
pub fn load_embedded() -> Result<Vec<LoadOutcome>, RuleError> {
    let mut by_dir: BTreeMap<&str, Vec<SourceFile>> = BTreeMap::new();
    for (dir, rel, text) in EMBEDDED_FILES {
        by_dir.entry(dir).or_default().push(SourceFile {
            rel_path: rel.to_string(),
            display: format!("<embedded>/{dir}/{rel}"),
            text: text.to_string(),
        });
    }
    by_dir
        .into_iter()
        .map(|(dir, mut files)| {
            files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
            playbook_from_files(dir, files)
        })
        .collect()
}
