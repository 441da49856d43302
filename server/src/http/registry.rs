//! The served playbooks: compiled once, indexed once, swapped atomically on reload.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use volatile_engine::analyze::{RuleFilter, RuleSet};
use volatile_engine::playbook::Playbook;

use crate::embedded::NOT_DEFAULT;
use crate::sources::RuleSources;

/// Where the served playbooks come from.
#[derive(Debug, Clone)]
pub enum PlaybookSource {
    /// The example playbooks compiled into the binary.
    Embedded,
    /// A directory of playbooks (`--playbooks DIR`).
    Dir(PathBuf),
}

/// The playbooks being served, with their rule sets indexed for analysis.
#[derive(Debug)]
pub struct Registry {
    playbooks: BTreeMap<String, Arc<Playbook>>,
    defaults: Vec<String>,
    default_set: Arc<RuleSet>,
    default_hash: String,
    sets: HashMap<String, Arc<RuleSet>>,
}

impl Registry {
    /// Loads and compiles every playbook of `source`. Any rule error fails the whole load,
    /// naming each broken rule by file, position and id.
    pub fn load(source: &PlaybookSource, defaults: &[String]) -> Result<Registry, Vec<String>> {
        let paths = match source {
            PlaybookSource::Embedded => Vec::new(),
            PlaybookSource::Dir(dir) => vec![dir.clone()],
        };
        let sources = RuleSources::load(&paths).map_err(|e| vec![e.to_string()])?;
        if !sources.errors.is_empty() {
            return Err(sources.errors.iter().map(ToString::to_string).collect());
        }
        Registry::new(sources.playbooks, defaults)
    }

    /// Indexes compiled playbooks. `defaults` empty means every playbook except the
    /// team-conventions template.
    pub fn new(list: Vec<Arc<Playbook>>, defaults: &[String]) -> Result<Registry, Vec<String>> {
        let mut playbooks = BTreeMap::new();
        for p in list {
            if playbooks.insert(p.id.clone(), p.clone()).is_some() {
                return Err(vec![format!("two playbooks have the id `{}`", p.id)]);
            }
        }
        let defaults: Vec<String> = if defaults.is_empty() {
            playbooks
                .keys()
                .filter(|id| !NOT_DEFAULT.contains(&id.as_str()))
                .cloned()
                .collect()
        } else {
            defaults.to_vec()
        };
        let unknown: Vec<String> = defaults
            .iter()
            .filter(|id| !playbooks.contains_key(*id))
            .map(|id| format!("--default-playbook `{id}` is not a served playbook"))
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let filter = RuleFilter::default();
        let chosen: Vec<Arc<Playbook>> = defaults
            .iter()
            .filter_map(|id| playbooks.get(id).cloned())
            .collect();
        let default_set = Arc::new(RuleSet::new(&chosen, &filter));
        let default_hash = combined_hash(&chosen);
        let sets = playbooks
            .iter()
            .map(|(id, p)| {
                (
                    id.clone(),
                    Arc::new(RuleSet::new(std::slice::from_ref(p), &filter)),
                )
            })
            .collect();
        Ok(Registry {
            playbooks,
            defaults,
            default_set,
            default_hash,
            sets,
        })
    }

    /// Every served playbook, by id.
    pub fn playbooks(&self) -> &BTreeMap<String, Arc<Playbook>> {
        &self.playbooks
    }

    /// The ids applied when a request names none.
    pub fn defaults(&self) -> &[String] {
        &self.defaults
    }

    /// A served playbook.
    pub fn get(&self, id: &str) -> Option<&Arc<Playbook>> {
        self.playbooks.get(id)
    }

    /// The default playbooks' rule set and hash.
    pub fn default_set(&self) -> (Arc<RuleSet>, String) {
        (self.default_set.clone(), self.default_hash.clone())
    }

    /// The default playbooks themselves.
    pub fn default_playbooks(&self) -> Vec<Arc<Playbook>> {
        self.defaults
            .iter()
            .filter_map(|id| self.playbooks.get(id).cloned())
            .collect()
    }

    /// One playbook's precomputed rule set.
    pub fn set_of(&self, id: &str) -> Option<Arc<RuleSet>> {
        self.sets.get(id).cloned()
    }
}

/// A hash naming a combination of playbooks.
pub fn combined_hash(playbooks: &[Arc<Playbook>]) -> String {
    match playbooks {
        [one] => one.hash.clone(),
        many => {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for p in many {
                h.update(p.id.as_bytes());
                h.update([0]);
                h.update(p.hash.as_bytes());
                h.update([0]);
            }
            h.finalize()
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_playbooks_are_the_language_ones_unless_named() {
        let Ok(all) = Registry::load(&PlaybookSource::Embedded, &[]) else {
            panic!("embedded playbooks must compile")
        };
        assert_eq!(all.defaults(), ["java", "python", "typescript"]);
        let Ok(one) = Registry::load(&PlaybookSource::Embedded, &["team-conventions".to_string()])
        else {
            panic!("team-conventions is served")
        };
        assert_eq!(one.defaults(), ["team-conventions"]);
        assert_eq!(
            one.default_set().1,
            one.get("team-conventions")
                .map(|p| p.hash.clone())
                .unwrap_or_default()
        );
        let unknown = Registry::load(&PlaybookSource::Embedded, &["nope".to_string()]).err();
        assert_eq!(
            unknown,
            Some(vec![
                "--default-playbook `nope` is not a served playbook".to_string()
            ])
        );
    }
}
