//! The `volatile` binary starts and knows its commands.
//!
//! Besides checking that, this integration test makes `cargo test --workspace` build the
//! binary (cargo builds a package's binaries for its integration tests), which the
//! end-to-end tests of the `tests/` crate then run.

use std::process::Command;

fn volatile(args: &[&str]) -> std::process::Output {
    match Command::new(env!("CARGO_BIN_EXE_volatile"))
        .args(args)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!("cannot run volatile: {e}"),
    }
}

#[test]
fn version_and_help() {
    let out = volatile(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("volatile {}", env!("CARGO_PKG_VERSION"))
    );
    let out = volatile(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "scan", "test", "rules"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = volatile(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
