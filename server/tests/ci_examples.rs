//! The CI examples in `docs/ci/` are valid YAML, and every `volatile` command in them is
//! one the command line accepts, so that the documentation cannot drift from the flags.

use std::path::Path;

use clap::Parser;
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use volatile_server::cli::{Cli, Command};

/// Every string scalar of a document, keys and values, depth first.
fn strings<'a>(node: &'a Yaml<'a>, out: &mut Vec<String>) {
    match node {
        Yaml::Value(Scalar::String(s)) => out.push(s.to_string()),
        Yaml::Sequence(items) => items.iter().for_each(|i| strings(i, out)),
        Yaml::Mapping(map) => {
            for (k, v) in map {
                strings(k, out);
                strings(v, out);
            }
        }
        _ => {}
    }
}

/// Splits a shell command line into words: double quotes group, CI expressions and
/// variables become a placeholder, and a `> file` redirection ends the command.
fn words(command: &str) -> Vec<String> {
    let mut text = command.to_string();
    while let (Some(start), Some(end)) = (text.find("${{"), text.find("}}")) {
        if end < start {
            break;
        }
        text.replace_range(start..end + 2, "placeholder");
    }
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '$' => {
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    chars.next();
                }
                word.push_str("placeholder");
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            '>' if !quoted => break,
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn every_volatile_command_in_the_ci_examples_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ci");
    let mut commands = 0;
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let text = match std::fs::read_to_string(dir.join(name)) {
            Ok(t) => t,
            Err(e) => panic!("{name}: {e}"),
        };
        let docs = match Yaml::load_from_str(&text) {
            Ok(d) => d,
            Err(e) => panic!("{name} is not YAML: {e}"),
        };
        let mut all = Vec::new();
        docs.iter().for_each(|d| strings(d, &mut all));
        for s in all
            .iter()
            .filter(|s| s.trim_start().starts_with("volatile "))
        {
            let argv = words(s.trim());
            match Cli::try_parse_from(&argv) {
                Ok(Cli {
                    command: Some(Command::Scan(_)),
                }) => commands += 1,
                Ok(other) => panic!("{name}: `{s}` is not a scan: {other:?}"),
                Err(e) => panic!("{name}: `{s}` does not parse:\n{e}"),
            }
        }
    }
    assert!(commands >= 5, "only {commands} volatile commands found");
}

#[test]
fn the_word_splitter_handles_what_the_examples_use() {
    assert_eq!(
        words(
            "volatile scan --diff \"origin/${{ github.base_ref }}...HEAD\" --format sarif > out.sarif"
        ),
        [
            "volatile",
            "scan",
            "--diff",
            "origin/placeholder...HEAD",
            "--format",
            "sarif"
        ]
    );
    assert_eq!(
        words("volatile scan --diff \"origin/$CI_BRANCH...HEAD\""),
        ["volatile", "scan", "--diff", "origin/placeholder...HEAD"]
    );
}
