//! Stable identities for findings, so that a finding can be tracked across runs.
//!
//! A fingerprint hashes what identifies a finding to a person — which rule of which
//! playbook matched which code in which file — and leaves out what changes when unrelated
//! code moves: the line, the column and the indentation. Code scanning services use it
//! (SARIF `partialFingerprints`) to tell a new finding from an old one that moved.
//!
//! It is a SHA-256 hash, so it reveals nothing of the matched source. Each field is
//! prefixed by its length, so that no two different field lists hash the same bytes
//! (`"ab", "c"` and `"a", "bc"` differ). The matched text is normalised first: every run
//! of whitespace becomes one space and the ends are trimmed, so re-indenting, re-wrapping
//! or switching between CRLF and LF endings keeps the fingerprint.

use sha2::{Digest, Sha256};

/// How many hex digits of the digest are kept: 128 bits, plenty against collisions.
const HEX_LEN: usize = 32;

/// The fingerprint of a finding: 32 lowercase hex digits.
///
/// `path` is hashed as given: callers pass paths relative to the scan root, so that
/// checkouts in different directories agree.
pub fn fingerprint(playbook: &str, rule_id: &str, path: &str, matched_text: &str) -> String {
    let normalised = normalise_whitespace(matched_text);
    let mut hasher = Sha256::new();
    for field in [playbook, rule_id, path, normalised.as_str()] {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    hex_prefix(&hasher.finalize())
}

/// The first 128 bits of a digest as 32 lowercase hex digits.
pub(crate) fn hex_prefix(digest: &[u8]) -> String {
    let mut hex = String::with_capacity(HEX_LEN);
    for byte in digest.iter().take(HEX_LEN / 2) {
        hex.push(hex_digit(byte >> 4));
        hex.push(hex_digit(byte & 0x0f));
    }
    hex
}

/// Collapses each run of whitespace to one space and trims both ends.
fn normalise_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_stable_across_releases() {
        // If this changes, every stored fingerprint changes: that is a breaking change.
        assert_eq!(
            fingerprint("acme", "no-eval", "src/app.js", "eval(input)"),
            // Computed independently: SHA-256 over (u64 LE length, bytes) per field.
            "d9a9ae295de107c76ab843f427f12a0e"
        );
    }

    #[test]
    fn is_32_lowercase_hex_digits() {
        let fp = fingerprint("", "", "", "");
        assert_eq!(fp.len(), 32);
        assert!(
            fp.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "{fp}"
        );
    }

    #[test]
    fn ignores_whitespace_changes() {
        let base = fingerprint("p", "r", "a.py", "foo(a, b)\n    bar()");
        assert_eq!(base, fingerprint("p", "r", "a.py", "foo(a, b)\r\n\tbar()"));
        assert_eq!(
            base,
            fingerprint("p", "r", "a.py", "  foo(a,  b) bar()  \n")
        );
        assert_ne!(base, fingerprint("p", "r", "a.py", "foo(a,b) bar()"));
    }

    #[test]
    fn depends_on_every_field() {
        let base = fingerprint("p", "r", "a.py", "x");
        assert_ne!(base, fingerprint("q", "r", "a.py", "x"));
        assert_ne!(base, fingerprint("p", "s", "a.py", "x"));
        assert_ne!(base, fingerprint("p", "r", "b.py", "x"));
        assert_ne!(base, fingerprint("p", "r", "a.py", "y"));
    }

    #[test]
    fn field_boundaries_cannot_be_confused() {
        assert_ne!(
            fingerprint("ab", "c", "p", "t"),
            fingerprint("a", "bc", "p", "t")
        );
        assert_ne!(
            fingerprint("p", "r", "ab", ""),
            fingerprint("p", "r", "a", "b")
        );
        assert_ne!(fingerprint("", "ab", "", ""), fingerprint("ab", "", "", ""));
    }

    #[test]
    fn does_not_contain_the_source() {
        let fp = fingerprint("p", "r", "a.py", "secret");
        assert!(!fp.contains("secret"));
    }
}
