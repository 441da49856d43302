//! The JSON Schemas of rule and playbook files are generated from the spec types (one
//! source of truth) and committed under `schemas/` for editors. This test fails when a
//! committed schema is stale; `UPDATE_SCHEMAS=1 cargo test -p volatile-engine --test
//! schemas` rewrites them.

use std::path::{Path, PathBuf};

use schemars::{JsonSchema, schema_for};
use volatile_engine::document::parse_yaml;
use volatile_engine::spec::{InlinePlaybookSpec, PlaybookMetaSpec, RuleFileSpec, TestCaseSpec};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn render<T: JsonSchema>(title: &str) -> String {
    let mut schema = schema_for!(T);
    schema.insert("title".into(), title.into());
    match serde_json::to_string_pretty(&schema) {
        Ok(s) => s + "\n",
        Err(e) => panic!("{e}"),
    }
}

fn schemas() -> Vec<(&'static str, String)> {
    vec![
        (
            "rule.schema.json",
            render::<RuleFileSpec>("Volatile rule file"),
        ),
        (
            "playbook.schema.json",
            render::<PlaybookMetaSpec>("Volatile playbook.yml"),
        ),
        (
            "inline-playbook.schema.json",
            render::<InlinePlaybookSpec>("Volatile inline playbook"),
        ),
        (
            "test-case.schema.json",
            render::<TestCaseSpec>("ast-grep test file"),
        ),
    ]
}

#[test]
fn committed_schemas_are_current() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for (name, content) in schemas() {
        let path = repo().join("schemas").join(name);
        if update {
            if let Err(e) = std::fs::write(&path, &content) {
                panic!("write {}: {e}", path.display());
            }
            continue;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas {stale:?}: run `UPDATE_SCHEMAS=1 cargo test -p volatile-engine --test schemas` and commit schemas/"
    );
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_example_rule_validates_against_the_schema() {
    let (_, rule_schema) = &schemas()[0];
    let (_, meta_schema) = &schemas()[1];
    let compile = |text: &str| {
        let schema: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        match jsonschema::validator_for(&schema) {
            Ok(v) => v,
            Err(e) => panic!("schema does not compile: {e}"),
        }
    };
    let rules = compile(rule_schema);
    let meta = compile(meta_schema);
    let mut files = Vec::new();
    yaml_files(&repo().join("rules-examples"), &mut files);
    assert!(files.len() > 40);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let docs = match parse_yaml(&text) {
            Ok(d) => d,
            Err(e) => panic!("{}: {e}", file.display()),
        };
        let validator = if file.ends_with("playbook.yml") {
            &meta
        } else {
            &rules
        };
        for doc in docs {
            let errors: Vec<String> = validator
                .iter_errors(&doc.value)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        }
    }
}

#[test]
fn the_schema_rejects_an_unknown_key() {
    let (_, rule_schema) = &schemas()[0];
    let schema: serde_json::Value = serde_json::from_str(rule_schema).unwrap_or_default();
    let Ok(validator) = jsonschema::validator_for(&schema) else {
        panic!("compile")
    };
    let good =
        serde_json::json!({"id": "a", "language": "python", "rule": {"pattern": "print($A)"}});
    let bad = serde_json::json!({"id": "a", "language": "python", "rule": {"patern": "print($A)"}});
    assert!(validator.is_valid(&good));
    assert!(!validator.is_valid(&bad));
}

#[test]
fn every_example_rule_is_complete() {
    let mut files = Vec::new();
    yaml_files(&repo().join("rules-examples"), &mut files);
    let mut checked = 0;
    for file in files.iter().filter(|f| !f.ends_with("playbook.yml")) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for parsed in volatile_engine::loader::parse_rule_text(&text, None) {
            let rule = match parsed {
                Ok(r) => r.spec,
                Err(e) => panic!("{}: {e}", file.display()),
            };
            let name = format!("{} ({})", rule.id, file.display());
            assert!(rule.severity.is_some(), "{name}: no severity");
            assert!(
                rule.message.as_deref().is_some_and(|m| m.len() > 10),
                "{name}: no message"
            );
            assert!(
                rule.note.as_deref().is_some_and(|n| n.len() > 40),
                "{name}: no note on why and how"
            );
            let examples = rule.examples.clone().unwrap_or_default();
            assert!(
                examples.valid.len() >= 2,
                "{name}: fewer than two valid examples"
            );
            assert!(
                examples.invalid.len() >= 2,
                "{name}: fewer than two invalid examples"
            );
            checked += 1;
        }
    }
    assert!(checked >= 3 * 40, "only {checked} rules");
}
