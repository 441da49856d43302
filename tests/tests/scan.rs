//! `volatile scan` end to end: exit codes, formats, walking, errors, fixes, threads.

use volatile_tests::{findings_of, json, run_in, stderr, stdout, temp_dir, write_files};

const RULES: &str = "id: no-eval
language: javascript
severity: error
message: eval of $A
note: eval runs arbitrary code
rule:
  pattern: eval($A)
fix: safeEval($A)
---
id: loose-null
languages: [javascript, typescript]
severity: warning
message: use === null
rule:
  pattern: $X == null
---
id: print-call
language: python
severity: info
message: print found
rule:
  pattern: print($$$)
";

fn project() -> tempfile::TempDir {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            ("rules.yml", RULES),
            ("src/a.js", "eval(x);\nif (y == null) {}\n"),
            ("src/b.ts", "const z = q == null;\n"),
            ("src/c.py", "print('é😀')\n"),
            ("src/ignored/d.js", "eval(hidden);\n"),
            (".gitignore", "src/ignored/\n"),
            ("src/.hidden.js", "eval(h);\n"),
            ("bin/tool", "#!/usr/bin/env python3\nprint(1)\n"),
            ("src/notes.txt", "eval(x)\n"),
        ],
    );
    // .gitignore applies inside a git repository, as in ripgrep and ast-grep.
    std::fs::create_dir_all(dir.path().join(".git")).unwrap_or_default();
    dir
}

#[test]
fn json_report_has_findings_errors_and_stats() {
    let dir = project();
    let out = run_in(
        dir.path(),
        &["scan", "--rules", "rules.yml", "--format", "json", "."],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let found = findings_of(&report);
    let want = [
        ("bin/tool", "print-call", 2),
        ("src/a.js", "no-eval", 1),
        ("src/a.js", "loose-null", 2),
        ("src/b.ts", "loose-null", 1),
        ("src/c.py", "print-call", 1),
    ];
    let want: Vec<(String, String, u64)> = want
        .iter()
        .map(|(p, r, l)| (p.to_string(), r.to_string(), *l))
        .collect();
    assert_eq!(found, want);
    let first = &report["findings"][1];
    assert_eq!(first["message"], "eval of x");
    assert_eq!(first["fix"]["text"], "safeEval(x)");
    assert_eq!(first["byte_range"]["start"], 0);
    assert_eq!(first["fingerprint"].as_str().map(str::len), Some(32));
    assert_eq!(report["stats"]["files"], 4);
    assert_eq!(report["stats"]["findings"], 5);
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(0));
}

#[test]
fn fail_on_decides_the_exit_code() {
    let dir = project();
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            "--rules",
            "rules.yml",
            "--format",
            "json",
            "src/c.py",
        ];
        args.extend_from_slice(extra);
        run_in(dir.path(), &args).status.code()
    };
    assert_eq!(
        scan(&[]),
        Some(0),
        "an info finding does not fail by default"
    );
    assert_eq!(scan(&["--fail-on", "info"]), Some(1));
    assert_eq!(scan(&["--fail-on", "warning"]), Some(0));
    assert_eq!(scan(&["--fail-on", "never"]), Some(0));
}

#[test]
fn rule_errors_exit_2_with_position() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            (
                "bad.yml",
                "id: x\nlanguage: js\nrule:\n  patern: eval($A)\n",
            ),
            ("a.js", "eval(1)\n"),
        ],
    );
    let out = run_in(dir.path(), &["scan", "--rules", "bad.yml", "a.js"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "bad.yml:4:3: rule `x`: rule: unknown key `patern` (did you mean `pattern`?)"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = temp_dir();
    assert_eq!(
        run_in(dir.path(), &["scan", "--format", "xml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run_in(dir.path(), &["scan", "no/such/path"]).status.code(),
        Some(2)
    );
}

#[test]
fn binary_files_are_skipped_and_bad_utf8_is_listed() {
    let dir = temp_dir();
    write_files(dir.path(), &[("rules.yml", RULES)]);
    std::fs::write(dir.path().join("bin.js"), b"eval(x);\0\0\x01").unwrap_or_default();
    std::fs::write(dir.path().join("latin1.js"), b"eval(\"caf\xe9\");\n").unwrap_or_default();
    std::fs::write(dir.path().join("ok.js"), "eval(y);\n").unwrap_or_default();
    let out = run_in(
        dir.path(),
        &[
            "scan",
            "--rules",
            "rules.yml",
            "--format",
            "json",
            "--fail-on",
            "never",
            ".",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["errors"][0]["path"], "latin1.js");
    assert_eq!(report["errors"][0]["code"], "not_utf8");
}

/// A file over 16 MiB is listed under `errors` without being read whole; the other files
/// still get their findings.
#[test]
fn files_over_the_size_limit_are_listed_and_the_rest_scanned() {
    let dir = temp_dir();
    write_files(dir.path(), &[("rules.yml", RULES), ("ok.js", "eval(y);\n")]);
    // Sparse: one byte over the limit without writing 16 MiB.
    let huge = std::fs::File::create(dir.path().join("huge.js"))
        .and_then(|f| f.set_len(16 * 1024 * 1024 + 1));
    assert!(huge.is_ok(), "{huge:?}");
    let out = run_in(
        dir.path(),
        &["scan", "--rules", "rules.yml", "--format", "json", "."],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(findings_of(&report).len(), 1);
    assert_eq!(report["findings"][0]["path"], "ok.js");
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["errors"][0]["path"], "huge.js");
    assert_eq!(report["errors"][0]["code"], "too_large");
    assert_eq!(
        report["errors"][0]["message"],
        "16777217 bytes is over the limit of 16777216"
    );
}

#[test]
fn sarif_output() {
    let dir = project();
    let out = run_in(
        dir.path(),
        &["scan", "--rules", "rules.yml", "--format", "sarif", "src"],
    );
    let sarif = json(&out);
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), 4);
    assert!(
        results
            .iter()
            .all(|r| r["partialFingerprints"]["volatile/v1"].is_string())
    );
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(rules.iter().any(|r| r["id"] == "no-eval"));
}

#[test]
fn text_output_has_code_frames_and_summary() {
    let dir = project();
    let out = run_in(
        dir.path(),
        &[
            "scan",
            "--rules",
            "rules.yml",
            "--color",
            "never",
            "src/a.js",
        ],
    );
    let text = stdout(&out);
    assert!(text.contains("error[no-eval]: eval of x"), "{text}");
    assert!(text.contains("src/a.js:1:1"), "{text}");
    assert!(text.contains("eval(x);"), "{text}");
    assert!(text.contains("^^^^^^^"), "{text}");
    assert!(text.contains("2 findings"), "{text}");
}

#[test]
fn fix_rewrites_files() {
    let dir = project();
    let out = run_in(
        dir.path(),
        &[
            "scan",
            "--rules",
            "rules.yml",
            "--fix",
            "--fail-on",
            "never",
            "src/a.js",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fixed = std::fs::read_to_string(dir.path().join("src/a.js")).unwrap_or_default();
    assert_eq!(fixed, "safeEval(x);\nif (y == null) {}\n");
}

#[test]
fn sequential_and_parallel_scans_agree() {
    let dir = temp_dir();
    write_files(dir.path(), &[("rules.yml", RULES)]);
    for i in 0..60 {
        let code = format!("eval(a{i});\nif (b{i} == null) {{ eval(c); }}\n");
        write_files(dir.path(), &[(&format!("src/m{i}/f{i}.js"), &code)]);
        write_files(
            dir.path(),
            &[(&format!("src/p{i}.py"), "print(1)\nprint(2)\n")],
        );
    }
    let scan = |threads: &str| {
        let out = run_in(
            dir.path(),
            &[
                "scan",
                "--rules",
                "rules.yml",
                "--format",
                "json",
                "--threads",
                threads,
                "src",
            ],
        );
        json(&out)["findings"].clone()
    };
    let one = scan("1");
    assert_eq!(one.as_array().map(Vec::len), Some(300));
    assert_eq!(one, scan("2"));
    assert_eq!(one, scan("8"));
}

#[test]
fn project_config_overrides_severity_and_excludes() {
    let dir = project();
    write_files(
        dir.path(),
        &[(
            "volatile.yml",
            "playbooks: [rules.yml]\nexclude: ['src/b.ts']\nseverity:\n  no-eval: warning\n  print-call: off\n",
        )],
    );
    let out = run_in(dir.path(), &["scan", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no error-level finding is left: {}",
        stderr(&out)
    );
    let report = json(&out);
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["rule_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["no-eval", "loose-null"]);
    assert_eq!(report["findings"][0]["severity"], "warning");
}

#[test]
fn default_rules_are_the_embedded_example_playbooks() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[("a.py", "try:\n    pass\nexcept:\n    pass\n")],
    );
    let out = run_in(
        dir.path(),
        &["scan", "--format", "json", "--fail-on", "never", "."],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert!(
        report["findings"]
            .as_array()
            .is_some_and(|a| a.iter().any(|f| f["playbook"] == "python")),
        "{report}"
    );
}

#[test]
fn stats_show_what_the_prefilter_skipped_and_findings_do_not_change() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            (
                "rules.yml",
                "id: no-eval\nlanguage: python\nseverity: error\nmessage: eval\nrule:\n  pattern: eval($A)\n",
            ),
            ("a.py", "eval(x)\n"),
            ("b.py", "print(x)\n"),
            ("c.py", "def f():\n    return eval\n"),
            ("d.py", "def f():\n    return evaluate(y)\n"),
        ],
    );
    let args = [
        "scan",
        "--rules",
        "rules.yml",
        "--format",
        "json",
        "--stats",
    ];
    let out = run_in(dir.path(), &[&args[..], &["."]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let printed = stderr(&out);
    // c.py has the token `eval`: the prefilter lets it through, the matcher rejects it.
    // `eval` in `evaluate` is no token of its own: d.py is not parsed, like b.py.
    assert!(printed.contains("files      4 ("), "{printed}");
    assert!(
        printed.contains("2 parsed, 2 not parsed"),
        "b.py and d.py lack the token `eval` and are not parsed: {printed}"
    );
    // The bytes of a.py and c.py against all four: the bound on skipping files.
    let (parsed, all) = (8 + 25, 8 + 9 + 25 + 32);
    let bound = format!(
        "({:.1}%): at best {:.2} x the throughput of parsing every file",
        100.0 * parsed as f64 / all as f64,
        all as f64 / parsed as f64
    );
    assert!(printed.contains(&bound), "{bound} in {printed}");
    assert!(
        printed.contains("/no-eval (python)"),
        "slowest rules: {printed}"
    );
    let with = json(&out)["findings"].clone();
    let out = run_in(dir.path(), &[&args[..], &["--no-prefilter", "."]].concat());
    let printed = stderr(&out);
    assert!(printed.contains("4 parsed, 0 not parsed"), "{printed}");
    assert_eq!(json(&out)["findings"], with);
    assert_eq!(with.as_array().map(Vec::len), Some(1));
}
