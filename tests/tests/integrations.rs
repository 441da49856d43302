//! `volatile scan` where pull requests and CI meet it: `--diff` against git revisions,
//! baselines, the upload formats, and `--server` (the engine kept remote).

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use volatile_tests::server::Server;
use volatile_tests::{findings_of, json, run_in, stderr, stdout, temp_dir, write_files};

const RULES: &str = "id: no-eval
language: javascript
severity: error
message: eval of $A
rule:
  pattern: eval($A)
fix: safeEval($A)
---
id: print-call
language: python
severity: warning
message: print found
rule:
  pattern: print($$$)
";

/// Runs git in `dir`, failing the test if it fails.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => panic!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!("cannot run git: {e}"),
    }
}

fn owned(want: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
    want.iter()
        .map(|(p, r, l)| (p.to_string(), r.to_string(), *l))
        .collect()
}

/// A repository with two commits (`first`, then `second`), uncommitted edits and an
/// untracked file. Returns the directory and the two commit ids.
fn repository() -> (tempfile::TempDir, String, String) {
    let dir = temp_dir();
    let root = dir.path();
    git(root, &["init", "-q"]);
    write_files(
        root,
        &[
            ("rules.yml", RULES),
            ("src/a.js", "eval(one);\nok();\neval(two);\n"),
            ("src/b.js", "eval(untouched);\n"),
            ("tool.py", "print(1)\n"),
        ],
    );
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "first"]);
    let first = git(root, &["rev-parse", "HEAD"]);
    // The second commit adds a call on a new line 3 of a.js and renames b.js.
    write_files(
        root,
        &[("src/a.js", "eval(one);\nok();\neval(added);\neval(two);\n")],
    );
    git(root, &["mv", "src/b.js", "src/moved b.js"]);
    git(root, &["commit", "-q", "-am", "second"]);
    let second = git(root, &["rev-parse", "HEAD"]);
    // Working tree: an edit of tool.py's line 2 and a new, untracked file.
    write_files(
        root,
        &[
            ("tool.py", "print(1)\nprint(2)\n"),
            ("src/new.js", "eval(fresh);\nok();\n"),
        ],
    );
    (dir, first, second)
}

fn scan(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["scan", "--rules", "rules.yml", "--format", "json"];
    all.extend_from_slice(args);
    run_in(dir, &all)
}

#[test]
fn diff_between_revisions_reports_only_changed_lines() {
    let (dir, first, second) = repository();
    let out = scan(dir.path(), &["--diff", &format!("{first}..{second}")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Only the added line of a.js; the renamed file has no changed line; the working
    // tree (tool.py, new.js) is not part of a revision range.
    assert_eq!(
        findings_of(&json(&out)),
        owned(&[("src/a.js", "no-eval", 3)])
    );
    // `...` compares against the merge base: the same here.
    let out = scan(dir.path(), &["--diff", &format!("{first}...HEAD")]);
    assert_eq!(
        findings_of(&json(&out)),
        owned(&[("src/a.js", "no-eval", 3)])
    );
}

#[test]
fn diff_reads_files_at_the_head_revision_not_the_working_tree() {
    let (dir, first, second) = repository();
    // Change a.js in the working tree so that line 3 no longer has a finding there.
    write_files(dir.path(), &[("src/a.js", "x();\ny();\nz();\nw();\n")]);
    let out = scan(dir.path(), &["--diff", &format!("{first}..{second}")]);
    assert_eq!(
        findings_of(&json(&out)),
        owned(&[("src/a.js", "no-eval", 3)])
    );
}

#[test]
fn diff_against_the_working_tree_counts_untracked_files_whole() {
    let (dir, _, second) = repository();
    let out = scan(dir.path(), &["--diff", &second]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        findings_of(&json(&out)),
        owned(&[("src/new.js", "no-eval", 1), ("tool.py", "print-call", 2)])
    );
    // Paths given limit the scan to changed files under them.
    let out = scan(dir.path(), &["--diff", &second, "src"]);
    assert_eq!(
        findings_of(&json(&out)),
        owned(&[("src/new.js", "no-eval", 1)])
    );
    // From a subdirectory, paths are relative to it, as in a plain scan.
    let sub = dir.path().join("src");
    let out = run_in(
        &sub,
        &[
            "scan",
            "--rules",
            "../rules.yml",
            "--format",
            "json",
            "--diff",
            &second,
        ],
    );
    assert_eq!(findings_of(&json(&out)), owned(&[("new.js", "no-eval", 1)]));
}

#[test]
fn bad_diff_arguments_exit_2_with_a_message() {
    let (dir, _, _) = repository();
    // An option smuggled in as a revision must not reach git.
    let leak = dir.path().join("leak");
    let smuggled = format!("--output={}", leak.display());
    for (spec, says) in [
        ("no-such-branch", "is not a commit"),
        (smuggled.as_str(), "cannot start with `-`"),
        ("HEAD..", "empty"),
        ("HEAD..--output=x", "cannot start with `-`"),
    ] {
        let out = scan(dir.path(), &[&format!("--diff={spec}")]);
        assert_eq!(out.status.code(), Some(2), "{spec}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{spec}: {}", stderr(&out));
    }
    assert!(!leak.exists(), "git ran with a smuggled option");
    let plain = temp_dir();
    write_files(
        plain.path(),
        &[("rules.yml", RULES), ("a.js", "eval(x);\n")],
    );
    let out = scan(plain.path(), &["--diff", "HEAD"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs a git checkout"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn baselines_hide_accepted_findings_and_report_new_ones() {
    let dir = temp_dir();
    let root = dir.path();
    write_files(
        root,
        &[
            ("rules.yml", RULES),
            ("a.js", "eval(x);\neval(x);\neval(y);\n"),
        ],
    );
    let out = run_in(
        root,
        &[
            "scan",
            "--rules",
            "rules.yml",
            "--write-baseline",
            "baseline.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("recorded 3 finding(s)"),
        "{}",
        stderr(&out)
    );
    let out = scan(root, &["--baseline", "baseline.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(findings_of(&json(&out)), []);
    // Code moves down two lines and gains one more `eval(x)`: only one is new.
    write_files(
        root,
        &[("a.js", "\n\neval(x);\neval(y);\n  eval(x);\neval(x);\n")],
    );
    let out = scan(root, &["--baseline", "baseline.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(findings_of(&json(&out)), owned(&[("a.js", "no-eval", 6)]));
    // A broken baseline is a usage error.
    write_files(root, &[("bad.json", "{\"version\": 1}")]);
    let out = scan(root, &["--baseline", "bad.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.json"), "{}", stderr(&out));
}

#[test]
fn upload_formats() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            ("rules.yml", RULES),
            ("src/a.js", "ok();\neval(\"a,b\");\n"),
            ("t.py", "print(1)\n"),
        ],
    );
    let run = |format: &str| {
        let out = run_in(
            dir.path(),
            &["scan", "--rules", "rules.yml", "--format", format],
        );
        assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
        stdout(&out)
    };
    let github = run("github");
    assert_eq!(
        github.lines().collect::<Vec<_>>(),
        [
            "::error file=src/a.js,line=2,endLine=2,col=1,endColumn=11,title=no-eval (rules)::eval of \"a,b\"",
            "::warning file=t.py,line=1,endLine=1,col=1,endColumn=8,title=print-call (rules)::print found",
        ]
    );
    let gitlab: Value = match serde_json::from_str(&run("gitlab")) {
        Ok(v) => v,
        Err(e) => panic!("gitlab: {e}"),
    };
    assert_eq!(gitlab[0]["check_name"], "no-eval");
    assert_eq!(gitlab[0]["severity"], "critical");
    assert_eq!(gitlab[0]["location"]["path"], "src/a.js");
    assert_eq!(gitlab[0]["location"]["lines"]["begin"], 2);
    assert_eq!(gitlab[1]["severity"], "major");
    let checkstyle = run("checkstyle");
    assert!(checkstyle.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<checkstyle"));
    assert!(checkstyle.contains(
        "<file name=\"src/a.js\">\n    <error line=\"2\" column=\"1\" severity=\"error\" message=\"eval of &quot;a,b&quot;\" source=\"volatile.rules.no-eval\"/>"
    ), "{checkstyle}");
}

/// A served playbook directory holding [`RULES`] as playbook `acme`.
fn served(dir: &Path) {
    write_files(
        dir,
        &[
            ("served/acme/playbook.yml", "id: acme\nname: Acme\n"),
            ("served/acme/security/rules.yml", RULES),
        ],
    );
}

#[test]
fn server_mode_gives_the_same_findings_as_a_local_scan() {
    let dir = temp_dir();
    served(dir.path());
    let mut files = Vec::new();
    for i in 0..7 {
        files.push((format!("src/f{i}.js"), format!("ok();\neval(v{i});\n")));
    }
    files.push(("src/t.py".into(), "print('é😀')\n".into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    write_files(dir.path(), &refs);
    // Three files per request: the client has to batch.
    let server = Server::start(dir.path(), &["--playbooks", "served", "--max-files", "3"]);
    let cert = dir.path().join("dev-cert.pem");
    let cert = cert.to_string_lossy();
    let url = format!("https://localhost:{}", server.port());
    let local = run_in(
        dir.path(),
        &["scan", "--rules", "served/acme", "--format", "json", "src"],
    );
    let remote = run_in(
        dir.path(),
        &[
            "scan",
            "--server",
            &url,
            "--ca-cert",
            &cert,
            "--playbook",
            "acme",
            "--format",
            "json",
            "src",
        ],
    );
    assert_eq!(remote.status.code(), Some(1), "{}", stderr(&remote));
    let (local, remote) = (json(&local), json(&remote));
    assert_eq!(local["findings"], remote["findings"]);
    assert_eq!(local["findings"].as_array().map(Vec::len), Some(8));
    assert_eq!(remote["stats"]["files"], 8);
}

#[test]
fn server_mode_with_diff_sends_changed_lines_and_needs_its_key() {
    let (dir, _, second) = repository();
    served(dir.path());
    // The API key's SHA-256 digest, as the server expects it.
    let key = "k3y-for-tests";
    let digest = "0853de07a6466ab08016d6f9d3bd43cb1ff5358203f3f92fc6f86b79b80e5891";
    write_files(dir.path(), &[("keys.txt", &format!("{digest}\n"))]);
    let server = Server::start(
        dir.path(),
        &["--playbooks", "served", "--api-keys", "keys.txt"],
    );
    let cert = dir
        .path()
        .join("dev-cert.pem")
        .to_string_lossy()
        .into_owned();
    let url = format!("https://localhost:{}", server.port());
    let args = |key: Option<&str>| {
        let mut a = vec![
            "scan".to_string(),
            "--server".into(),
            url.clone(),
            "--ca-cert".into(),
            cert.clone(),
            "--playbook".into(),
            "acme".into(),
            "--format".into(),
            "json".into(),
            "--diff".into(),
            second.clone(),
        ];
        if let Some(k) = key {
            a.extend(["--api-key".into(), k.to_string()]);
        }
        a
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        run_in(dir.path(), &refs)
    };
    let denied = run(args(None));
    assert_eq!(denied.status.code(), Some(2), "{}", stderr(&denied));
    assert!(stderr(&denied).contains("401"), "{}", stderr(&denied));
    let out = run(args(Some(key)));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        findings_of(&json(&out)),
        owned(&[("src/new.js", "no-eval", 1), ("tool.py", "print-call", 2)])
    );
}
