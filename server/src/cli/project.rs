//! A project's `volatile.yml`: the playbooks, excludes and severity overrides of a scan.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use volatile_engine::finding::Severity;

/// A project's `volatile.yml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Playbook paths, relative to the file.
    #[serde(default)]
    pub playbooks: Vec<PathBuf>,
    /// Globs of paths not to scan.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Per rule id: a severity or `off`.
    #[serde(default)]
    pub severity: HashMap<String, String>,
}

impl ProjectConfig {
    /// Reads `volatile.yml` from `root`, if there is one.
    pub fn find(root: &Path) -> Result<Option<(PathBuf, ProjectConfig)>, String> {
        let path = root.join("volatile.yml");
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let docs = volatile_engine::document::parse_yaml(&text)
            .map_err(|e| format!("{}:{e}", path.display()))?;
        let value = docs
            .into_iter()
            .next()
            .map(|d| d.value)
            .unwrap_or(serde_json::Value::Null);
        if value.is_null() {
            return Ok(Some((path, ProjectConfig::default())));
        }
        let config: ProjectConfig =
            serde_json::from_value(value).map_err(|e| format!("{}: {e}", path.display()))?;
        for level in config.severity.values() {
            if level != "off" && Severity::from_name(level).is_none() {
                return Err(format!(
                    "{}: severity `{level}` is not one of hint, info, warning, error, off",
                    path.display()
                ));
            }
        }
        Ok(Some((path, config)))
    }

    /// The rule paths a command runs: those given (`--rules`), else the playbooks the
    /// project's `volatile.yml` names (relative to it), else none (the embedded examples).
    pub fn rule_paths(
        explicit: &[PathBuf],
        project: Option<&(PathBuf, ProjectConfig)>,
    ) -> Vec<PathBuf> {
        match project {
            _ if !explicit.is_empty() => explicit.to_vec(),
            Some((file, config)) if !config.playbooks.is_empty() => {
                let base = file.parent().unwrap_or(Path::new("."));
                config.playbooks.iter().map(|p| base.join(p)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The `exclude` globs as one set; `None` when there are none.
    pub fn exclude_set(&self) -> Result<Option<GlobSet>, String> {
        if self.exclude.is_empty() {
            return Ok(None);
        }
        let mut builder = GlobSetBuilder::new();
        for g in &self.exclude {
            let glob =
                Glob::new(g).map_err(|e| format!("volatile.yml: bad exclude glob `{g}`: {e}"))?;
            builder.add(glob);
        }
        builder.build().map(Some).map_err(|e| e.to_string())
    }

    /// The severity overrides in the engine's form.
    pub fn overrides(&self) -> HashMap<String, Option<Severity>> {
        self.severity
            .iter()
            .map(|(id, level)| (id.clone(), Severity::from_name(level)))
            .collect()
    }
}
