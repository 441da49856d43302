//! Playbooks: directories of rule files compiled into one shared value.
//!
//! A playbook's id is its `playbook.yml` `id`, or else the directory's name. Rule files are
//! found recursively (`*.yml`, `*.yaml`); a rule's *standard* is its subdirectory path
//! (`security`, `errors/async`). Files under a `utils/` directory are global util rules.
//! ast-grep projects (`sgconfig.yml`) load the same way from their `ruleDirs` and
//! `utilDirs`. Loading reads files into memory first, so embedded playbooks and files on
//! disk go through one code path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::compile::{CompiledRule, GlobalUtils, compile_rule};
use crate::document::{Document, parse_yaml};
use crate::error::{ErrorKind, RuleError, RuleWarning};
use crate::loader::{ParsedRule, parse_rule_document, parse_rule_text, syntax_error};
use crate::spec::{ExamplesSpec, InlinePlaybookSpec, PlaybookMetaSpec, SgConfigSpec, TestCaseSpec};

/// A compiled playbook.
#[derive(Debug)]
pub struct Playbook {
    /// Identifier.
    pub id: String,
    /// Human-readable name.
    pub name: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The rules, in file order.
    pub rules: Vec<Arc<CompiledRule>>,
    /// A hash of every rule text, to tell versions apart.
    pub hash: String,
    /// Keys ignored for compatibility, and similar notices.
    pub warnings: Vec<RuleWarning>,
}

/// A playbook and the rules that failed to compile (which are left out of it).
#[derive(Debug)]
pub struct LoadOutcome {
    /// The playbook, with every rule that compiled.
    pub playbook: Playbook,
    /// The errors of the others.
    pub errors: Vec<RuleError>,
    /// ast-grep test files found among the rule files: `(file, spec)`.
    pub tests: Vec<(String, TestCaseSpec)>,
    /// The inline examples of rules that failed to compile, by rule id: their cases fail.
    pub failed_examples: Vec<(String, ExamplesSpec)>,
}

/// One rule file read into memory: its path relative to the playbook root and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the root, with `/` separators.
    pub rel_path: String,
    /// Path to show in messages.
    pub display: String,
    /// Content.
    pub text: String,
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

/// Reads every YAML file under `dir`, sorted by path.
pub fn read_yaml_files(dir: &Path) -> Result<Vec<SourceFile>, RuleError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| io_error(&d, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&d, &e))?;
            let path = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if is_yaml(&path) {
                let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, &e))?;
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                out.push(SourceFile {
                    rel_path: rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                    display: path.display().to_string(),
                    text,
                });
            }
        }
    }
    out.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok(out)
}

fn io_error(path: &Path, e: &std::io::Error) -> RuleError {
    let mut err = RuleError::new(ErrorKind::Io(e.to_string()));
    err.file = Some(path.display().to_string());
    err
}

fn hash_files(files: &[SourceFile]) -> String {
    let mut hasher = Sha256::new();
    for f in files {
        hasher.update((f.rel_path.len() as u64).to_le_bytes());
        hasher.update(f.rel_path.as_bytes());
        hasher.update((f.text.len() as u64).to_le_bytes());
        hasher.update(f.text.as_bytes());
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// From this many rule files on, a playbook is read and compiled on rayon's threads.
const PARALLEL_FROM_FILES: usize = 128;
/// How many files a batch of parallel reading and compiling takes.
const PARALLEL_BATCH_FILES: usize = 64;

/// Builds a playbook from files in memory.
///
/// `rule_files` are `(standard, file)` pairs; `util_files` hold global utils.
pub fn build_playbook(
    meta: PlaybookMetaSpec,
    rule_files: Vec<(Option<String>, SourceFile)>,
    util_files: Vec<SourceFile>,
) -> LoadOutcome {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut globals = GlobalUtils::default();
    for file in &util_files {
        for parsed in parse_rule_text(&file.text, Some(&file.display)) {
            match parsed {
                Ok(p) => {
                    warnings.extend(p.warnings.iter().cloned());
                    if let Err(e) = globals.add(&p.spec) {
                        errors.push(p.place(e, Some(&file.display)));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
    }
    let playbook_id: Arc<str> = Arc::from(meta.id.as_str());
    // A large playbook's files are read (one YAML parse each) and its rules compiled on
    // rayon's threads, a batch at a time, its startup being mostly regex compilation; a
    // small one's on this thread, a file at a time, where a second thread would cost more
    // memory (its own heap of compilation garbage) than it saves time. A file's parsed
    // documents live only as long as its batch. Everything is gathered in file order, so
    // the playbook, its errors and its warnings do not depend on the threads.
    let parallel = rule_files.len() >= PARALLEL_FROM_FILES;
    let batch_size = if parallel { PARALLEL_BATCH_FILES } else { 1 };
    let mut built = Built {
        rules: Vec::new(),
        errors,
        warnings,
        tests: Vec::new(),
        failed_examples: Vec::new(),
        files: util_files,
        first_seen: HashMap::new(),
    };
    let mut rule_files = rule_files.into_iter();
    loop {
        let batch: Vec<(Option<String>, SourceFile)> =
            rule_files.by_ref().take(batch_size).collect();
        if batch.is_empty() {
            break;
        }
        built.add_batch(batch, parallel, &playbook_id, &globals);
    }
    let Built {
        rules,
        errors,
        warnings,
        tests,
        failed_examples,
        files: all_files,
        ..
    } = built;
    LoadOutcome {
        playbook: Playbook {
            id: meta.id,
            name: meta.name,
            description: meta.description,
            rules,
            hash: hash_files(&all_files),
            warnings,
        },
        errors,
        tests,
        failed_examples,
    }
}

/// What [`build_playbook`] has built so far.
struct Built {
    rules: Vec<Arc<CompiledRule>>,
    errors: Vec<RuleError>,
    warnings: Vec<RuleWarning>,
    tests: Vec<(String, TestCaseSpec)>,
    failed_examples: Vec<(String, ExamplesSpec)>,
    /// The files read, for the playbook's hash (test files left out).
    files: Vec<SourceFile>,
    /// Rule ids seen, with where: a later rule with the same id is an error.
    first_seen: HashMap<String, String>,
}

impl Built {
    /// Reads the rule files of a batch and compiles their rules (on rayon's threads when
    /// `parallel`), adding them in file order.
    fn add_batch(
        &mut self,
        batch: Vec<(Option<String>, SourceFile)>,
        parallel: bool,
        playbook_id: &Arc<str>,
        globals: &GlobalUtils,
    ) {
        let read_one = |(standard, file): (Option<String>, SourceFile)| {
            let content = read_rule_file(&file);
            (standard, file, content)
        };
        let read: Vec<(Option<String>, SourceFile, RuleFile)> = if parallel {
            batch.into_par_iter().map(read_one).collect()
        } else {
            batch.into_iter().map(read_one).collect()
        };
        // Which rules to compile: the first of each id, in file order.
        let mut steps = Vec::new();
        for (file_index, (_, file, content)) in read.iter().enumerate() {
            let RuleFile::Rules(parsed) = content else {
                continue;
            };
            for (doc_index, parsed) in parsed.iter().enumerate() {
                let Ok(parsed) = parsed else {
                    steps.push(Step::Failed(file_index, doc_index));
                    continue;
                };
                let origin = format!("{}:{}", file.display, parsed.location.line);
                match self.first_seen.get(&parsed.spec.id) {
                    Some(first) => {
                        steps.push(Step::Duplicate(file_index, doc_index, first.clone()))
                    }
                    None => {
                        self.first_seen
                            .insert(parsed.spec.id.clone(), origin.clone());
                        steps.push(Step::Compile(file_index, doc_index, origin));
                    }
                }
            }
        }
        let compile = |step: &Step| {
            let Step::Compile(file_index, doc_index, _) = step else {
                return None;
            };
            let (standard, _, RuleFile::Rules(parsed)) = &read[*file_index] else {
                return None;
            };
            let Some(Ok(parsed)) = parsed.get(*doc_index) else {
                return None;
            };
            Some(compile_rule(
                parsed.spec.clone(),
                playbook_id.clone(),
                standard.clone(),
                globals,
            ))
        };
        let compiled: Vec<Option<Result<CompiledRule, RuleError>>> = if parallel {
            steps.par_iter().map(compile).collect()
        } else {
            steps.iter().map(compile).collect()
        };

        let mut compiled = compiled.into_iter();
        let mut steps = steps.into_iter().peekable();
        for (file_index, (_, file, content)) in read.into_iter().enumerate() {
            let parsed = match content {
                RuleFile::Tests(found) => {
                    self.tests
                        .extend(found.into_iter().map(|t| (file.display.clone(), t)));
                    continue;
                }
                RuleFile::Rules(parsed) => parsed,
            };
            let mut parsed: Vec<Option<Result<ParsedRule, RuleError>>> =
                parsed.into_iter().map(Some).collect();
            while let Some(step) = steps.next_if(|s| s.file() == file_index) {
                let result = compiled.next().flatten();
                let Some(slot) = parsed.get_mut(step.doc()).and_then(Option::take) else {
                    continue;
                };
                let parsed = match slot {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        self.errors.push(e);
                        continue;
                    }
                };
                self.warnings.extend(parsed.warnings.iter().cloned());
                match (step, result) {
                    (Step::Duplicate(_, _, first), _) => {
                        let e = RuleError::new(ErrorKind::DuplicateId {
                            id: parsed.spec.id.clone(),
                            first,
                        });
                        self.errors.push(parsed.place(e, Some(&file.display)));
                    }
                    (Step::Compile(_, _, origin), Some(Ok(mut rule))) => {
                        for (path, message) in &rule.warnings {
                            self.warnings.push(RuleWarning {
                                file: Some(file.display.clone()),
                                location: Some(parsed.locate(path)),
                                rule_id: Some(rule.id.clone()),
                                message: format!("{path}: {message}"),
                            });
                        }
                        rule.origin = Some(origin);
                        self.rules.push(Arc::new(rule));
                    }
                    (Step::Compile(..), Some(Err(e))) => {
                        if let Some(examples) = &parsed.spec.examples {
                            self.failed_examples
                                .push((parsed.spec.id.clone(), examples.clone()));
                        }
                        self.errors.push(parsed.place(e, Some(&file.display)))
                    }
                    // A document that could not be read was reported above; every compile
                    // step has its result.
                    (Step::Failed(..), _) | (Step::Compile(..), None) => {}
                }
            }
            self.files.push(file);
        }
    }
}

/// What a rule file holds: the test cases of an ast-grep test file, or rule documents
/// (or why they could not be read).
enum RuleFile {
    Tests(Vec<TestCaseSpec>),
    Rules(Vec<Result<ParsedRule, RuleError>>),
}

/// Reads a rule file, parsing its YAML once.
fn read_rule_file(file: &SourceFile) -> RuleFile {
    match parse_yaml(&file.text) {
        Ok(docs) => match test_cases(&docs) {
            Some(tests) => RuleFile::Tests(tests),
            None => RuleFile::Rules(
                docs.into_iter()
                    .map(|doc| parse_rule_document(doc, Some(&file.display)))
                    .collect(),
            ),
        },
        Err(e) => RuleFile::Rules(vec![Err(syntax_error(e, Some(&file.display)))]),
    }
}

/// What becomes of one rule document of a playbook, by file and document index.
enum Step {
    /// It could not be read: its error is reported.
    Failed(usize, usize),
    /// Its id was taken by an earlier rule (at this origin).
    Duplicate(usize, usize, String),
    /// It is compiled; the rule's origin, `file:line`.
    Compile(usize, usize, String),
}

impl Step {
    fn file(&self) -> usize {
        match self {
            Step::Failed(f, _) | Step::Duplicate(f, _, _) | Step::Compile(f, _, _) => *f,
        }
    }

    fn doc(&self) -> usize {
        match self {
            Step::Failed(_, d) | Step::Duplicate(_, d, _) | Step::Compile(_, d, _) => *d,
        }
    }
}

/// The test cases of an ast-grep test file (`{id, valid, invalid}` documents without a
/// `rule`), or `None` if the file is not one.
pub fn read_test_file(file: &SourceFile) -> Option<Vec<TestCaseSpec>> {
    test_cases(&parse_yaml(&file.text).ok()?)
}

/// The test cases of a file's documents, if they are those of a test file.
fn test_cases(docs: &[Document]) -> Option<Vec<TestCaseSpec>> {
    let is_test = |v: &serde_json::Value| {
        v.get("rule").is_none()
            && v.get("query").is_none()
            && (v.get("valid").is_some() || v.get("invalid").is_some())
    };
    if docs.is_empty() || !docs.iter().all(|d| is_test(&d.value)) {
        return None;
    }
    docs.iter()
        .map(|d| serde_json::from_value(d.value.clone()).ok())
        .collect()
}

/// The standard of a rule file: its directory path inside the root, if any.
fn standard_of(rel_path: &str) -> Option<String> {
    rel_path.rsplit_once('/').map(|(dir, _)| dir.to_string())
}

fn dir_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "rules".to_string())
}

/// Builds a playbook from the files of a playbook directory (relative paths).
pub fn playbook_from_files(
    default_id: &str,
    files: Vec<SourceFile>,
) -> Result<LoadOutcome, RuleError> {
    let mut meta = PlaybookMetaSpec {
        id: default_id.to_string(),
        name: None,
        description: None,
    };
    let mut rule_files = Vec::new();
    let mut util_files = Vec::new();
    for file in files {
        if file.rel_path == "playbook.yml" || file.rel_path == "playbook.yaml" {
            meta = read_meta(&file)?;
        } else if file.rel_path.starts_with("utils/") {
            util_files.push(file);
        } else {
            rule_files.push((standard_of(&file.rel_path), file));
        }
    }
    Ok(build_playbook(meta, rule_files, util_files))
}

fn read_meta(file: &SourceFile) -> Result<PlaybookMetaSpec, RuleError> {
    let place = |kind: ErrorKind, loc| {
        let mut e = RuleError::new(kind);
        e.file = Some(file.display.clone());
        e.location = loc;
        e
    };
    let docs = parse_yaml(&file.text)
        .map_err(|e| place(ErrorKind::Syntax(e.message), Some(e.location)))?;
    let Some(doc) = docs.into_iter().next() else {
        return Err(place(ErrorKind::Missing("id"), None));
    };
    serde_json::from_value(doc.value).map_err(|e| place(ErrorKind::Invalid(e.to_string()), None))
}

/// Loads a playbook directory.
pub fn load_playbook_dir(dir: &Path) -> Result<LoadOutcome, RuleError> {
    let files = read_yaml_files(dir)?;
    playbook_from_files(&dir_name(dir), files)
}

/// Loads an ast-grep project from its `sgconfig.yml`.
pub fn load_sgconfig(config_path: &Path) -> Result<(LoadOutcome, Vec<PathBuf>), RuleError> {
    let text = std::fs::read_to_string(config_path).map_err(|e| io_error(config_path, &e))?;
    let root = config_path.parent().unwrap_or(Path::new("."));
    let config: SgConfigSpec = match parse_yaml(&text) {
        Ok(docs) => match docs.into_iter().next() {
            Some(doc) => serde_json::from_value(doc.value).map_err(|e| {
                let mut err = RuleError::new(ErrorKind::Invalid(e.to_string()));
                err.file = Some(config_path.display().to_string());
                err
            })?,
            None => SgConfigSpec::default(),
        },
        Err(e) => {
            let mut err = RuleError::new(ErrorKind::Syntax(e.message));
            err.file = Some(config_path.display().to_string());
            err.location = Some(e.location);
            return Err(err);
        }
    };
    let mut rule_files = Vec::new();
    for dir in &config.rule_dirs {
        for file in read_yaml_files(&root.join(dir))? {
            rule_files.push((standard_of(&file.rel_path), file));
        }
    }
    let mut util_files = Vec::new();
    for dir in &config.util_dirs {
        util_files.extend(read_yaml_files(&root.join(dir))?);
    }
    let meta = PlaybookMetaSpec {
        id: dir_name(root),
        name: None,
        description: None,
    };
    let test_dirs = config
        .test_configs
        .iter()
        .map(|t| root.join(&t.test_dir))
        .collect();
    Ok((build_playbook(meta, rule_files, util_files), test_dirs))
}

/// Loads a single rule file as a playbook named after the file.
pub fn load_rule_file(path: &Path) -> Result<LoadOutcome, RuleError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, &e))?;
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rules".into());
    let file = SourceFile {
        rel_path: path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        display: path.display().to_string(),
        text,
    };
    let meta = PlaybookMetaSpec {
        id,
        name: None,
        description: None,
    };
    Ok(build_playbook(meta, vec![(None, file)], Vec::new()))
}

/// Compiles an inline playbook `{id?, name?, rules: [...]}` (already parsed JSON/YAML).
pub fn inline_playbook(spec: InlinePlaybookSpec) -> LoadOutcome {
    let meta = PlaybookMetaSpec {
        id: spec.id.unwrap_or_else(|| "inline".into()),
        name: spec.name,
        description: None,
    };
    let mut files = Vec::with_capacity(spec.rules.len());
    let mut not_objects = Vec::new();
    for (i, rule) in spec.rules.iter().enumerate() {
        let display = format!("rules[{i}]");
        // A rule is one rule file document; `null` would read as an empty YAML file.
        if !rule.is_object() {
            not_objects.push(RuleError {
                file: Some(display),
                ..RuleError::new(ErrorKind::Invalid(
                    "a rule must be an object (one rule file document)".into(),
                ))
            });
            continue;
        }
        let file = SourceFile {
            rel_path: display.clone(),
            display,
            text: rule.to_string(),
        };
        files.push((None, file));
    }
    let mut outcome = build_playbook(meta, files, Vec::new());
    not_objects.append(&mut outcome.errors);
    outcome.errors = not_objects;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: String) -> SourceFile {
        SourceFile {
            rel_path: name.to_string(),
            display: name.to_string(),
            text,
        }
    }

    fn rule(id: &str) -> String {
        format!("id: {id}\nlanguage: python\nrule:\n  pattern: {id}_call($A)\n")
    }

    /// A playbook large enough to be read and compiled on rayon's threads, in batches:
    /// rules, errors and test files come out in file order, and a repeated id names where
    /// it was first defined, across batches; the same as a small playbook built file by
    /// file on this thread.
    #[test]
    fn a_parallel_build_keeps_file_order() {
        let files = |count: usize| -> Vec<SourceFile> {
            (0..count)
                .map(|i| {
                    let name = format!("r{i:03}.yml");
                    let text = match i {
                        // A repeat of an id from an earlier batch, then a broken file,
                        // then a compile error, then an ast-grep test file.
                        5 => rule("id_001"),
                        150 => rule("id_010"),
                        200 => "id: [unclosed\n".to_string(),
                        210 => "id: bad\nlanguage: python\nrule:\n  kind: no_such_kind\n".into(),
                        250 => "id: id_001\nvalid: ['x = 1']\ninvalid: ['id_001_call(1)']\n".into(),
                        _ => rule(&format!("id_{i:03}")),
                    };
                    file(&name, text)
                })
                .collect()
        };
        let big = files(300);
        assert!(big.len() >= PARALLEL_FROM_FILES && big.len() > 2 * PARALLEL_BATCH_FILES);
        let outcome = match playbook_from_files("big", big) {
            Ok(outcome) => outcome,
            Err(e) => panic!("{e}"),
        };
        let ids: Vec<&str> = outcome
            .playbook
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        let expected: Vec<String> = (0..300)
            .filter(|i| ![5, 150, 200, 210, 250].contains(i))
            .map(|i| format!("id_{i:03}"))
            .collect();
        assert_eq!(ids, expected);
        let origins: Vec<&str> = outcome
            .errors
            .iter()
            .filter_map(|e| e.file.as_deref())
            .collect();
        assert_eq!(origins, ["r005.yml", "r150.yml", "r200.yml", "r210.yml"]);
        let first = match outcome.errors[1].kind.as_ref() {
            ErrorKind::DuplicateId { first, .. } => first.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(first, "r010.yml:1");
        assert_eq!(outcome.tests.len(), 1);
        assert_eq!(outcome.tests[0].0, "r250.yml");

        // The same files but fewer, built one by one on this thread: the same order.
        let small = match playbook_from_files("small", files(PARALLEL_FROM_FILES - 1)) {
            Ok(outcome) => outcome,
            Err(e) => panic!("{e}"),
        };
        let small_ids: Vec<&str> = small.playbook.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(small_ids[..], ids[..small_ids.len()]);
    }
}
