//! Helpers shared by the integration tests.

use std::sync::Arc;

use volatile_engine::analyze::{RuleFilter, RuleSet};
use volatile_engine::playbook::{SourceFile, playbook_from_files};

/// Compiles `rule_yaml` as a one-file playbook; panics on any load or compile error.
pub fn rule_set(rule_yaml: &str) -> RuleSet {
    let files = vec![SourceFile {
        rel_path: "rule.yml".into(),
        display: "rule.yml".into(),
        text: rule_yaml.into(),
    }];
    let outcome = match playbook_from_files("test", files) {
        Ok(o) => o,
        Err(e) => panic!("load: {e}"),
    };
    if let Some(e) = outcome.errors.first() {
        panic!("compile: {e}");
    }
    RuleSet::new(&[Arc::new(outcome.playbook)], &RuleFilter::default())
}
