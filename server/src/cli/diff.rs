//! `scan --diff BASE[..HEAD]`: which files and lines changed, asked of `git`.
//!
//! `git` runs as a child process with an argument vector, never through a shell, and every
//! revision the user gives is checked not to look like an option and resolved with
//! `rev-parse --verify` before use. Diff output is read with the prefixes, quoting and
//! colours pinned on the command line, so user configuration cannot change its shape;
//! hunks are consumed by their line counts, so an added line that reads `+++ b/x` is
//! content, not a header.
//!
//! Forms: `BASE` (the working tree against BASE, untracked files counting as wholly
//! changed), `BASE..HEAD` (two revisions) and `BASE...HEAD` (HEAD against its merge base
//! with BASE, what a pull request shows).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffSpec {
    /// The old side.
    pub base: String,
    /// The new side; `None` for the working tree.
    pub head: Option<String>,
    /// Compare against the merge base of `base` and `head` (`...`).
    pub merge_base: bool,
}

impl DiffSpec {
    /// Parses `BASE`, `BASE..HEAD` or `BASE...HEAD`.
    pub fn parse(spec: &str) -> Result<DiffSpec, String> {
        let (base, head, merge_base) = if let Some((b, h)) = spec.split_once("...") {
            (b, Some(h), true)
        } else if let Some((b, h)) = spec.split_once("..") {
            (b, Some(h), false)
        } else {
            (spec, None, false)
        };
        let check = |rev: &str, side: &str| {
            if rev.is_empty() {
                Err(format!("--diff {spec}: the {side} revision is empty"))
            } else if rev.starts_with('-') {
                Err(format!("--diff {spec}: a revision cannot start with `-`"))
            } else {
                Ok(rev.to_string())
            }
        };
        Ok(DiffSpec {
            base: check(base, "base")?,
            head: head.map(|h| check(h, "head")).transpose()?,
            merge_base,
        })
    }
}

/// A changed file: its path relative to the repository root, and the lines of its new
/// version that changed (`None`: all of them, as for an untracked file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// 1-based inclusive ranges of added or modified lines.
    pub lines: Option<Vec<(u32, u32)>>,
}

/// The changes to scan.
#[derive(Debug)]
pub struct Changes {
    /// The repository's top-level directory.
    pub root: PathBuf,
    /// The commit to read files from; `None` for the working tree.
    pub head: Option<String>,
    /// Changed files with changed lines, in path order.
    pub files: Vec<ChangedFile>,
}

/// Asks git, in the repository containing `dir`, what changed according to `spec`.
pub fn changes(dir: &Path, spec: &DiffSpec) -> Result<Changes, String> {
    let root = git_text(dir, &["rev-parse", "--show-toplevel"])
        .map_err(|e| format!("--diff needs a git checkout: {e}"))?;
    let root = PathBuf::from(root.trim_end_matches(['\n', '\r']));
    let base = resolve(&root, &spec.base)?;
    let head = spec
        .head
        .as_deref()
        .map(|h| resolve(&root, h))
        .transpose()?;
    let base = match (&head, spec.merge_base) {
        (Some(head), true) => {
            let out = git_text(&root, &["merge-base", &base, head])
                .map_err(|e| format!("--diff: no merge base: {e}"))?;
            out.trim().to_string()
        }
        _ => base,
    };
    let mut args = vec![
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-relative",
        "--find-renames",
        "--diff-filter=ACMRT",
        "--unified=0",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "--ignore-submodules",
        base.as_str(),
    ];
    if let Some(head) = &head {
        args.push(head);
    }
    let text = git_text(&root, &args)?;
    let mut files = parse_unified(&text);
    if head.is_none() {
        let untracked = git_bytes(
            &root,
            &["ls-files", "--others", "--exclude-standard", "-z"],
            None,
        )?;
        for path in untracked.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            files.push(ChangedFile {
                path: String::from_utf8_lossy(path).into_owned(),
                lines: None,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    Ok(Changes { root, head, files })
}

/// The contents of `paths` at commit `rev` (`None` for a path that is not a blob there),
/// read through one `git cat-file --batch`.
pub fn read_at(root: &Path, rev: &str, paths: &[&str]) -> Result<Vec<Option<Vec<u8>>>, String> {
    let mut input = Vec::new();
    for path in paths {
        // The batch protocol is line-based: a path with a newline cannot be asked for.
        if !path.contains('\n') {
            input.extend_from_slice(format!("{rev}:{path}").as_bytes());
        }
        input.push(b'\n');
    }
    let out = git_bytes(root, &["cat-file", "--batch"], Some(input))?;
    let mut rest = out.as_slice();
    let mut contents = Vec::with_capacity(paths.len());
    for _ in paths {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err("git cat-file: the answer ended early".into());
        };
        let header = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 1..];
        let mut fields = header.split(' ');
        let (_, kind, size) = (fields.next(), fields.next(), fields.next());
        match (kind, size.and_then(|s| s.parse::<usize>().ok())) {
            (Some("blob"), Some(size)) if rest.len() > size => {
                contents.push(Some(rest[..size].to_vec()));
                rest = &rest[size + 1..];
            }
            (Some("missing" | "ambiguous"), _) | (None, _) => contents.push(None),
            (Some(_), Some(size)) if rest.len() > size => {
                contents.push(None);
                rest = &rest[size + 1..];
            }
            _ => return Err("git cat-file: an answer I cannot read".into()),
        }
    }
    Ok(contents)
}

/// Resolves a user-given revision to a commit id.
fn resolve(root: &Path, rev: &str) -> Result<String, String> {
    let spec = format!("{rev}^{{commit}}");
    git_text(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
    )
    .map(|s| s.trim().to_string())
    .map_err(|_| format!("--diff: `{rev}` is not a commit of this repository"))
}

fn git_text(dir: &Path, args: &[&str]) -> Result<String, String> {
    git_bytes(dir, args, None).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Runs `git -C dir args...`, feeding `input` to its stdin; its stdout, or its stderr's
/// first line as the error.
fn git_bytes(dir: &Path, args: &[&str], input: Option<Vec<u8>>) -> Result<Vec<u8>, String> {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(["-c", "core.quotePath=false"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    // Feed stdin from a thread so that a large answer cannot dead-lock against it.
    let feeder = match (input, child.stdin.take()) {
        (Some(bytes), Some(mut stdin)) => Some(std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        })),
        _ => None,
    };
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)
            .map_err(|e| format!("git: cannot read its output: {e}"))?;
    }
    let mut stderr = Vec::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_end(&mut stderr);
    }
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    let status = child.wait().map_err(|e| format!("git: {e}"))?;
    if status.success() {
        Ok(stdout)
    } else {
        let message = String::from_utf8_lossy(&stderr);
        let first = message
            .lines()
            .next()
            .unwrap_or("failed")
            .trim()
            .to_string();
        Err(format!("git {}: {first}", args.first().unwrap_or(&"")))
    }
}

/// The new-side paths and added lines of a `--unified=0` diff.
fn parse_unified(text: &str) -> Vec<ChangedFile> {
    let mut files: Vec<ChangedFile> = Vec::new();
    let mut lines = text.lines();
    let mut current: Option<ChangedFile> = None;
    while let Some(line) = lines.next() {
        if line.starts_with("diff --git ") {
            files.extend(
                current
                    .take()
                    .filter(|f| f.lines.as_ref().is_some_and(|l| !l.is_empty())),
            );
            current = Some(ChangedFile {
                path: String::new(),
                lines: Some(Vec::new()),
            });
        } else if let Some(path) = line.strip_prefix("+++ ") {
            if let Some(file) = current.as_mut() {
                file.path = unquote(path)
                    .strip_prefix("b/")
                    .map(str::to_string)
                    .unwrap_or_default();
            }
        } else if let Some(header) = line.strip_prefix("@@ ") {
            let Some((old, new)) = hunk_counts(header) else {
                continue;
            };
            if let (Some(file), (start, count)) = (current.as_mut(), new)
                && count > 0
                && let Some(ranges) = file.lines.as_mut()
            {
                ranges.push((start, start.saturating_add(count - 1)));
            }
            // Skip the hunk's body by its counts: its lines are content, whatever they say.
            for _ in 0..(old.1 as u64 + new.1 as u64) {
                if lines.next().is_none() {
                    break;
                }
            }
        }
    }
    files.extend(current.filter(|f| f.lines.as_ref().is_some_and(|l| !l.is_empty())));
    files.retain(|f| !f.path.is_empty());
    files
}

/// `-a,b +c,d @@ ...` → `((a, b), (c, d))`, a count defaulting to 1.
fn hunk_counts(header: &str) -> Option<((u32, u32), (u32, u32))> {
    let mut parts = header.split(' ');
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let range = |s: &str| -> Option<(u32, u32)> {
        match s.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((s.parse().ok()?, 1)),
        }
    };
    Some((range(old)?, range(new)?))
}

/// Undoes git's C-style quoting of a path (`"a\tb\303\251"`); unquoted paths pass as is.
fn unquote(path: &str) -> String {
    let Some(inner) = path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) else {
        return path.to_string();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.bytes().peekable();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match chars.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'r') => bytes.push(b'\r'),
            Some(b'a') => bytes.push(7),
            Some(b'b') => bytes.push(8),
            Some(b'f') => bytes.push(12),
            Some(b'v') => bytes.push(11),
            Some(d @ b'0'..=b'7') => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&next @ b'0'..=b'7') = chars.peek() {
                        value = value * 8 + u32::from(next - b'0');
                        chars.next();
                    }
                }
                bytes.push(u8::try_from(value).unwrap_or(b'?'));
            }
            Some(other) => bytes.push(other),
            None => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let parse = DiffSpec::parse;
        assert_eq!(
            parse("main"),
            Ok(DiffSpec {
                base: "main".into(),
                head: None,
                merge_base: false
            })
        );
        assert_eq!(
            parse("v1..HEAD~2"),
            Ok(DiffSpec {
                base: "v1".into(),
                head: Some("HEAD~2".into()),
                merge_base: false
            })
        );
        assert_eq!(
            parse("origin/main...HEAD"),
            Ok(DiffSpec {
                base: "origin/main".into(),
                head: Some("HEAD".into()),
                merge_base: true
            })
        );
        for bad in ["", "..HEAD", "main..", "--output=x", "main..-p"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unified_diffs() {
        let text = "\
diff --git a/src/a.ts b/src/a.ts
index 1..2 100644
--- a/src/a.ts
+++ b/src/a.ts
@@ -3 +3 @@ fn
-old
+new
@@ -10,0 +11,3 @@
+++ b/looks/like/a/header
+diff --git a/x b/x
+@@ -1 +1 @@
@@ -20,2 +23,0 @@
-gone
-gone
diff --git a/del.ts b/del.ts
index 1..2 100644
--- a/del.ts
+++ b/del.ts
@@ -1 +0,0 @@
-only deletions
diff --git \"a/sp ace\\tx.py\" \"b/sp ace\\tx.py\"
new file mode 100644
--- /dev/null
+++ \"b/sp ace\\tx.py\"
@@ -0,0 +1,2 @@
+a
+b
diff --git a/bin.png b/bin.png
Binary files a/bin.png and b/bin.png differ
";
        assert_eq!(
            parse_unified(text),
            [
                ChangedFile {
                    path: "src/a.ts".into(),
                    lines: Some(vec![(3, 3), (11, 13)])
                },
                ChangedFile {
                    path: "sp ace\tx.py".into(),
                    lines: Some(vec![(1, 2)])
                },
            ]
        );
    }

    #[test]
    fn quoted_paths() {
        assert_eq!(unquote("plain/path.ts"), "plain/path.ts");
        assert_eq!(unquote("\"b/\\303\\251t\\\"\\\\.py\""), "b/ét\"\\.py");
    }
}
