//! Baselines: the findings a team has accepted, so that adopting a playbook on legacy code
//! reports only what is new.
//!
//! A baseline is a multiset of [`Finding::fingerprint`]s, written as JSON
//! `{"version": 1, "fingerprints": {"<fingerprint>": <count>, ...}}` with sorted keys, so
//! that it diffs well in review. Fingerprints ignore lines and indentation, so findings
//! that only moved stay suppressed. Counts matter: with two identical `eval(x)` calls in a
//! file in the baseline, a third is reported.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::Finding;

/// The version of the baseline file format this build writes and reads.
pub const VERSION: u32 = 1;

/// Accepted findings, by fingerprint, with how many of each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The file format's version.
    pub version: u32,
    /// How many findings of each fingerprint are accepted.
    pub fingerprints: BTreeMap<String, u32>,
}

/// Why a baseline file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Not the JSON of a baseline.
    #[error("not a Volatile baseline: {0}")]
    Format(#[from] serde_json::Error),
    /// Written by a newer format.
    #[error("baseline format version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
}

impl Baseline {
    /// The baseline accepting exactly `findings`.
    pub fn of(findings: &[Finding]) -> Baseline {
        let mut fingerprints = BTreeMap::new();
        for finding in findings {
            *fingerprints.entry(finding.fingerprint.clone()).or_default() += 1;
        }
        Baseline {
            version: VERSION,
            fingerprints,
        }
    }

    /// Reads a baseline from its JSON.
    pub fn from_json(text: &str) -> Result<Baseline, BaselineError> {
        let baseline: Baseline = serde_json::from_str(text)?;
        if baseline.version != VERSION {
            return Err(BaselineError::Version(baseline.version));
        }
        Ok(baseline)
    }

    /// The baseline as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Removes from `findings` those the baseline accepts, each fingerprint at most as many
    /// times as it was accepted (earliest in report order first). Returns how many were
    /// removed.
    pub fn suppress(&self, findings: &mut Vec<Finding>) -> usize {
        let mut left = self.fingerprints.clone();
        let before = findings.len();
        findings.retain(|finding| match left.get_mut(&finding.fingerprint) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        });
        before - findings.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn suppresses_what_it_accepted_and_reports_the_rest() {
        let report = fixtures::report();
        let baseline = Baseline::of(&report.findings[..3]);
        let mut findings = report.findings.clone();
        assert_eq!(baseline.suppress(&mut findings), 3);
        assert_eq!(findings, report.findings[3..]);
    }

    #[test]
    fn counts_duplicates() {
        let report = fixtures::report();
        let Some(one) = report.findings.first().cloned() else {
            panic!("fixture findings");
        };
        let baseline = Baseline::of(&[one.clone(), one.clone()]);
        let mut findings = vec![one.clone(), one.clone(), one.clone()];
        assert_eq!(baseline.suppress(&mut findings), 2);
        assert_eq!(findings.len(), 1);
    }

    #[test]
    fn round_trips_and_checks_its_version() {
        let baseline = Baseline::of(&fixtures::report().findings);
        let text = baseline.to_json();
        assert!(text.starts_with("{\n  \"version\": 1,\n  \"fingerprints\": {"));
        assert!(matches!(Baseline::from_json(&text), Ok(b) if b == baseline));
        assert!(matches!(
            Baseline::from_json("{\"version\": 2, \"fingerprints\": {}}"),
            Err(BaselineError::Version(2))
        ));
        assert!(matches!(
            Baseline::from_json("[1, 2]"),
            Err(BaselineError::Format(_))
        ));
    }
}
