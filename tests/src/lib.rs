//! Helpers shared by the end-to-end tests: finding the built `volatile` binary, running
//! it, and writing small projects to temporary directories.

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `volatile` binary built by `cargo test --workspace` (next to the test executables),
/// or the one named by `VOLATILE_BIN`.
///
/// Panics when it cannot be found: a test that cannot run the binary must fail, not pass.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("VOLATILE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/volatile
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("volatile{}", std::env::consts::EXE_SUFFIX)));
    match candidate {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "the volatile binary was not found next to {}; run `cargo test --workspace` or set VOLATILE_BIN",
            exe.display()
        ),
    }
}

/// Runs `volatile` with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    match Command::new(binary()).args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run volatile: {e}"),
    }
}

/// Writes `files` (relative path, content) under `dir`.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            panic!("mkdir {}: {e}", parent.display());
        }
        if let Err(e) = std::fs::write(&path, content) {
            panic!("write {}: {e}", path.display());
        }
    }
}

/// A fresh temporary directory.
pub fn temp_dir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    }
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout parsed as JSON.
pub fn json(out: &Output) -> serde_json::Value {
    match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout(out),
            stderr(out)
        ),
    }
}

/// `(path, rule_id, start line)` of every finding of a JSON scan report, in report order.
pub fn findings_of(report: &serde_json::Value) -> Vec<(String, String, u64)> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["path"].as_str().unwrap_or("").to_string(),
                        f["rule_id"].as_str().unwrap_or("").to_string(),
                        f["range"]["start"]["line"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
