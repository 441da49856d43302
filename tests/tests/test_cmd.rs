//! `volatile test` end to end: inline examples, ast-grep test files, the summary line.

use volatile_tests::{run_in, stderr, stdout, temp_dir, write_files};

#[test]
fn counts_cases_and_fails_on_a_failing_case() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            ("pb/playbook.yml", "id: pb\nname: Test playbook\n"),
            (
                "pb/security/no-eval.yml",
                "id: no-eval\nlanguage: javascript\nrule:\n  pattern: eval($A)\nexamples:\n  valid: ['evaluate(x)', 'obj.eval']\n  invalid: ['eval(x)', 'eval(a + b)']\n",
            ),
            (
                "pb/style/bad-example.yml",
                "id: bad-example\nlanguage: python\nrule:\n  pattern: print($A)\nexamples:\n  valid: ['print(x)']\n  invalid: ['print(1)']\n",
            ),
            (
                "pb/tests/no-eval-test.yml",
                "id: no-eval\nvalid: ['x()']\ninvalid: ['eval(1)']\n",
            ),
            ("pb/tests/ghost-test.yml", "id: ghost\nvalid: ['x()']\n"),
        ],
    );
    let out = run_in(dir.path(), &["test", "pb"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL bad-example (valid #1)"), "{text}");
    assert!(text.ends_with("7 passed, 1 failed, 1 skipped\n"), "{text}");
    assert!(
        stderr(&out).contains("no rule with id `ghost`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_rule_that_does_not_compile_fails_its_cases() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[(
            "r.yml",
            "id: broken\nlanguage: javascript\nrule:\n  kind: no_such_kind\nexamples:\n  valid: ['a']\n  invalid: ['b']\n",
        )],
    );
    let out = run_in(dir.path(), &["test", "r.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).ends_with("0 passed, 2 failed\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_example_playbooks_pass() {
    let dir = temp_dir();
    let out = run_in(dir.path(), &["test"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

#[test]
fn rules_list_and_explain() {
    let dir = temp_dir();
    let out = run_in(dir.path(), &["rules", "list"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).lines().count() > 30);
    let first_id = stdout(&out)
        .lines()
        .next()
        .and_then(|l| l.split('\t').nth(2))
        .unwrap_or_default()
        .to_string();
    let out = run_in(dir.path(), &["rules", "explain", &first_id]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with(&first_id), "{}", stdout(&out));
    let out = run_in(dir.path(), &["rules", "explain", "no-such-rule"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_rule_file_that_does_not_load_counts_as_a_failure() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            (
                "pb/ok.yml",
                "id: ok\nlanguage: python\nrule:\n  pattern: print($A)\nexamples:\n  valid: ['x']\n  invalid: ['print(1)']\n",
            ),
            (
                "pb/dup.yml",
                "id: dup\nlanguage: python\nrule:\n  pattern: a\n  pattern: b\n",
            ),
        ],
    );
    let out = run_in(dir.path(), &["test", "pb"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL pb/dup.yml") || text.contains("dup.yml"),
        "{text}"
    );
    assert!(text.ends_with("2 passed, 1 failed\n"), "{text}");
}

#[test]
fn rules_list_into_a_pipe_closed_early_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let child = Command::new(volatile_tests::binary())
        .args(["rules", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!("cannot run volatile: {e}"),
    };
    // Read one line, then close the pipe, as `| head -1` does.
    let Some(out) = child.stdout.take() else {
        panic!("no stdout");
    };
    let mut first = String::new();
    let _ = BufReader::new(out).read_line(&mut first);
    assert!(first.contains('\t'), "{first}");
    let out = match child.wait_with_output() {
        Ok(out) => out,
        Err(e) => panic!("wait: {e}"),
    };
    assert_eq!(stderr(&out), "", "a closed pipe is not an internal error");
}
