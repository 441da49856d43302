//! Finding and loading playbooks for the command line and the service: `--rules` /
//! `--playbooks` paths (playbook directories, directories of playbooks, rule files,
//! ast-grep projects), or the embedded example playbooks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use volatile_engine::error::{RuleError, RuleWarning};
use volatile_engine::playbook::{
    LoadOutcome, Playbook, SourceFile, load_playbook_dir, load_rule_file, load_sgconfig,
    read_test_file, read_yaml_files,
};
use volatile_engine::spec::{ExamplesSpec, TestCaseSpec};

use crate::embedded::load_embedded;

/// Everything loaded: compiled playbooks, the rules that failed, and test files.
#[derive(Debug, Default)]
pub struct RuleSources {
    /// The playbooks, each with the rules that compiled.
    pub playbooks: Vec<Arc<Playbook>>,
    /// Rules that did not compile.
    pub errors: Vec<RuleError>,
    /// Notices.
    pub warnings: Vec<RuleWarning>,
    /// ast-grep test files: (file, spec).
    pub tests: Vec<(String, TestCaseSpec)>,
    /// Inline examples of rules that failed to compile.
    pub failed_examples: Vec<(String, ExamplesSpec)>,
}

impl RuleSources {
    fn add(&mut self, outcome: LoadOutcome) {
        self.errors.extend(outcome.errors);
        self.warnings
            .extend(outcome.playbook.warnings.iter().cloned());
        self.tests.extend(outcome.tests);
        self.failed_examples.extend(outcome.failed_examples);
        self.playbooks.push(Arc::new(outcome.playbook));
    }

    /// Loads each path (see the module docs); no path means the embedded playbooks.
    pub fn load(paths: &[PathBuf]) -> Result<RuleSources, RuleError> {
        let mut out = RuleSources::default();
        if paths.is_empty() {
            for outcome in load_embedded()? {
                out.add(outcome);
            }
            return Ok(out);
        }
        for path in paths {
            out.load_path(path)?;
        }
        Ok(out)
    }

    fn load_path(&mut self, path: &Path) -> Result<(), RuleError> {
        let is_sgconfig = |p: &Path| {
            matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("sgconfig.yml" | "sgconfig.yaml")
            )
        };
        if path.is_file() {
            if is_sgconfig(path) {
                return self.load_sg(path);
            }
            self.add(load_rule_file(path)?);
            return Ok(());
        }
        for name in ["sgconfig.yml", "sgconfig.yaml"] {
            let config = path.join(name);
            if config.is_file() {
                return self.load_sg(&config);
            }
        }
        if path.join("playbook.yml").is_file() || path.join("playbook.yaml").is_file() {
            self.add(load_playbook_dir(path)?);
            return Ok(());
        }
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.join("playbook.yml").is_file() || p.join("playbook.yaml").is_file()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if children.is_empty() {
            self.add(load_playbook_dir(path)?);
            return Ok(());
        }
        children.sort();
        for child in children {
            self.add(load_playbook_dir(&child)?);
        }
        Ok(())
    }

    fn load_sg(&mut self, config: &Path) -> Result<(), RuleError> {
        let (outcome, test_dirs) = load_sgconfig(config)?;
        self.add(outcome);
        for dir in test_dirs {
            for file in read_yaml_files(&dir)? {
                self.add_test_file(&file);
            }
        }
        Ok(())
    }

    fn add_test_file(&mut self, file: &SourceFile) {
        if let Some(specs) = read_test_file(file) {
            self.tests
                .extend(specs.into_iter().map(|s| (file.display.clone(), s)));
        }
    }
}
