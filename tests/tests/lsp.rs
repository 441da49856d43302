//! `volatile lsp` end to end: a real language-server session with the built binary over
//! stdio (Content-Length framing): diagnostics with UTF-16 ranges, quick fixes, incremental
//! changes, debounce and outdated versions, position encodings, the remote mode, and no
//! document text in the logs.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use volatile_tests::server::Server;
use volatile_tests::{binary, temp_dir, write_files};

/// Found in every test document and never allowed in the server's logs.
const CANARY: &str = "CANARY-5f1e";

const URI: &str = "file:///work/project/src/app.ts";

/// How long to wait for an answer that should come.
const WAIT: Duration = Duration::from_secs(30);

/// A `volatile lsp` process and the messages it sent that were not consumed yet.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    pending: VecDeque<Value>,
    stderr: Option<JoinHandle<String>>,
    next_id: i64,
}

impl Client {
    /// Starts `volatile lsp` with `args` and logs at `trace` (the strictest check that no
    /// text reaches them).
    fn start(args: &[&str]) -> Result<Client, String> {
        Client::start_with_env(args, &[])
    }

    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Result<Client, String> {
        let mut child = Command::new(binary())
            .arg("lsp")
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "trace,lsp_server::msg=trace")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start volatile lsp: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stderr = child.stderr.take().ok_or("no stderr")?;
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Ok(Some(message)) = read_message(&mut reader) {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Ok(Client {
            stdin: child.stdin.take(),
            child,
            incoming,
            pending: VecDeque::new(),
            stderr: Some(stderr),
            next_id: 1,
        })
    }

    fn send(&mut self, message: &Value) -> Result<(), String> {
        let body = message.to_string();
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to the server: {e}"))
    }

    fn notify(&mut self, method: &str, params: Value) -> Result<(), String> {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    /// Sends a request and waits for its answer; messages meanwhile are kept.
    fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        let deadline = Instant::now() + WAIT;
        loop {
            let message = self.receive(deadline)?;
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                if let Some(error) = message.get("error") {
                    return Err(format!("{method} failed: {error}"));
                }
                return Ok(message.get("result").cloned().unwrap_or(Value::Null));
            }
            self.pending.push_back(message);
        }
    }

    fn receive(&mut self, deadline: Instant) -> Result<Value, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.incoming.recv_timeout(left) {
            Ok(message) => Ok(message),
            Err(RecvTimeoutError::Timeout) => Err("no message from the server in time".into()),
            Err(RecvTimeoutError::Disconnected) => Err("the server closed stdout".into()),
        }
    }

    /// The next notification `method`, waiting up to `wait`; `None` if none came.
    fn next_notification(&mut self, method: &str, wait: Duration) -> Result<Option<Value>, String> {
        if let Some(i) = self.pending.iter().position(|m| m["method"] == method) {
            return Ok(self.pending.remove(i).map(|m| m["params"].clone()));
        }
        let deadline = Instant::now() + wait;
        loop {
            let message = match self.receive(deadline) {
                Ok(message) => message,
                Err(e) if e.contains("in time") => return Ok(None),
                Err(e) => return Err(e),
            };
            if message["method"] == method {
                return Ok(Some(message["params"].clone()));
            }
            self.pending.push_back(message);
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Result<Value, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.next_notification("textDocument/publishDiagnostics", wait)? {
                Some(params) if params["uri"] == uri => return Ok(params),
                Some(_) => {}
                None => return Err(format!("no diagnostics for {uri} in time")),
            }
        }
    }

    fn initialize(&mut self, capabilities: Value, options: Value) -> Result<Value, String> {
        self.initialize_in("file:///work/project", capabilities, options)
    }

    fn initialize_in(
        &mut self,
        root: &str,
        capabilities: Value,
        options: Value,
    ) -> Result<Value, String> {
        let result = self.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": root,
                "capabilities": capabilities,
                "initializationOptions": options,
            }),
        )?;
        self.notify("initialized", json!({}))?;
        Ok(result)
    }

    fn open(&mut self, uri: &str, version: i64, text: &str) -> Result<(), String> {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {
                "uri": uri, "languageId": "typescript", "version": version, "text": text,
            }}),
        )
    }

    fn change(&mut self, uri: &str, version: i64, changes: Value) -> Result<(), String> {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}),
        )
    }

    /// `shutdown`, `exit`, and the exit status and stderr of the process.
    /// Shuts down, and checks the server exited 0 without any document text in its log.
    fn shut_down_cleanly(self) -> Result<(), String> {
        let (status, stderr) = self.finish()?;
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert_no_text_in(&stderr);
        Ok(())
    }

    /// Checks that no further diagnostics arrive within half a second.
    fn expect_no_more_diagnostics(&mut self) -> Result<(), String> {
        let more = self.next_notification(
            "textDocument/publishDiagnostics",
            Duration::from_millis(500),
        )?;
        assert!(more.is_none(), "unexpected: {more:?}");
        Ok(())
    }

    fn finish(mut self) -> Result<(ExitStatus, String), String> {
        self.request("shutdown", Value::Null)?;
        self.notify("exit", Value::Null)?;
        drop(self.stdin.take());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => return Err("the server did not exit after `exit`".into()),
                Err(e) => return Err(format!("wait: {e}")),
            }
        };
        let stderr = match self.stderr.take().map(JoinHandle::join) {
            Some(Ok(text)) => text,
            _ => return Err("cannot read stderr".into()),
        };
        Ok((status, stderr))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one Content-Length framed message; `None` at the end of the stream.
fn read_message(reader: &mut impl BufRead) -> Result<Option<Value>, String> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            length = Some(value.parse::<usize>().map_err(|e| e.to_string())?);
        }
    }
    let mut body = vec![0; length.ok_or("a message without Content-Length")?];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The byte offset of a UTF-16 position, computed independently of the server.
fn offset(text: &str, position: &Value) -> Result<usize, String> {
    let line = position["line"].as_u64().ok_or("no line")? as usize;
    let character = position["character"].as_u64().ok_or("no character")? as usize;
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let mut units = 0;
    for (i, c) in text[start..].char_indices() {
        if units >= character || c == '\n' {
            return Ok(start + i);
        }
        units += c.len_utf16();
    }
    Ok(text.len())
}

/// `text` with a protocol edit (`{range, newText}`) applied.
fn apply(text: &str, edit: &Value) -> Result<String, String> {
    let start = offset(text, &edit["range"]["start"])?;
    let end = offset(text, &edit["range"]["end"])?;
    let new_text = edit["newText"].as_str().ok_or("no newText")?;
    Ok(format!("{}{new_text}{}", &text[..start], &text[end..]))
}

/// A protocol edit (`{range, newText}`) as an incremental change (`{range, text}`).
fn as_change(edit: &Value) -> Value {
    json!({"range": edit["range"], "text": edit["newText"]})
}

fn range(start: (u64, u64), end: (u64, u64)) -> Value {
    json!({
        "start": {"line": start.0, "character": start.1},
        "end": {"line": end.0, "character": end.1},
    })
}

/// (code, range, severity) of each diagnostic.
fn summary(params: &Value) -> Vec<(String, Value, u64)> {
    params["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["range"].clone(),
                d["severity"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn assert_no_text_in(stderr: &str) {
    assert!(
        !stderr.contains(CANARY),
        "document text reached the logs:\n{stderr}"
    );
}

/// An emoji (two UTF-16 units, four bytes) precedes each problem on its line.
fn document() -> String {
    format!(
        "const face = \"😀\"; eval(face);\nfunction f() {{\n  const s = \"🚀\"; throw \"{CANARY}\";\n}}\n"
    )
}

#[test]
fn diagnostics_quick_fixes_and_incremental_changes() -> Result<(), String> {
    let mut client = Client::start(&[])?;
    let init = client.initialize(
        json!({"workspace": {"workspaceEdit": {"documentChanges": true}}}),
        Value::Null,
    )?;
    let caps = &init["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental sync");
    assert_eq!(
        caps["codeActionProvider"]["codeActionKinds"],
        json!(["quickfix"])
    );

    let text = document();
    client.open(URI, 1, &text)?;
    let published = client.diagnostics(URI)?;
    assert_eq!(published["version"], 1);
    // `eval` starts at UTF-16 column 19 (byte 21): the emoji counts two units.
    let throw_range = range((2, 18), (2, 27 + CANARY.len() as u64));
    assert_eq!(
        summary(&published),
        vec![
            ("no-eval".to_string(), range((0, 19), (0, 29)), 1),
            ("no-throw-literal".to_string(), throw_range.clone(), 2),
        ],
        "{published}"
    );
    let throw = &published["diagnostics"][1];
    assert_eq!(throw["source"], "volatile");
    assert_eq!(
        throw["message"],
        format!("A string is thrown instead of an Error: \"{CANARY}\"")
    );
    assert!(
        throw.get("codeDescription").is_none(),
        "the rule has no url"
    );

    // No fix for eval.
    let none = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": range((0, 20), (0, 20)),
               "context": {"diagnostics": [published["diagnostics"][0]]}}),
    )?;
    assert_eq!(none, json!([]));
    // The throw's fix, as a versioned edit.
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": range((2, 20), (2, 20)),
               "context": {"diagnostics": [throw]}}),
    )?;
    let [action] = actions.as_array().map(Vec::as_slice).unwrap_or_default() else {
        panic!("one action expected: {actions}");
    };
    assert_eq!(action["kind"], "quickfix");
    assert_eq!(action["isPreferred"], true);
    assert_eq!(action["diagnostics"][0]["code"], "no-throw-literal");
    let change = &action["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["uri"], URI);
    assert_eq!(change["textDocument"]["version"], 1);
    let edit = &change["edits"][0];
    assert_eq!(edit["range"], throw_range);
    let fixed = apply(&text, edit)?;
    assert_eq!(
        fixed,
        text.replace(
            &format!("throw \"{CANARY}\";"),
            &format!("throw new Error(\"{CANARY}\");")
        )
    );

    // The client applies the fix and deletes the eval call: incremental changes, in order.
    client.change(
        URI,
        2,
        json!([as_change(edit), {"range": range((0, 19), (0, 30)), "text": ""}]),
    )?;
    let published = client.diagnostics(URI)?;
    assert_eq!(published["version"], 2);
    assert_eq!(published["diagnostics"], json!([]), "{published}");
    let stale = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": range((2, 20), (2, 20)),
               "context": {"diagnostics": []}}),
    )?;
    assert_eq!(stale, json!([]), "no fix once the problem is gone");

    // A new problem after the emoji, typed into the re-parsed document.
    client.change(
        URI,
        3,
        json!([{"range": range((0, 19), (0, 19)), "text": "eval(1);"}]),
    )?;
    let published = client.diagnostics(URI)?;
    assert_eq!(published["version"], 3);
    assert_eq!(
        summary(&published),
        vec![("no-eval".to_string(), range((0, 19), (0, 26)), 1)]
    );

    // Closing clears the document's diagnostics.
    client.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": URI}}),
    )?;
    let closed = client.diagnostics(URI)?;
    assert_eq!(closed["diagnostics"], json!([]));

    client.shut_down_cleanly()
}

#[test]
fn only_the_last_of_rapid_changes_is_published() -> Result<(), String> {
    let mut client = Client::start(&[])?;
    client.initialize(json!({}), json!({"debounceMs": 1000}))?;
    let mut text = format!("let a = \"{CANARY}\";\n");
    client.open(URI, 1, &text)?;
    let first = client.diagnostics(URI)?;
    assert_eq!(first["version"], 1);
    assert_eq!(first["diagnostics"], json!([]));
    for version in 2..=8 {
        let line = text.lines().count() as u64;
        client.change(
            URI,
            version,
            json!([{"range": range((line, 0), (line, 0)), "text": "eval(x);\n"}]),
        )?;
        text.push_str("eval(x);\n");
    }
    let published = client.diagnostics(URI)?;
    assert_eq!(published["version"], 8, "{published}");
    let lines: Vec<u64> = summary(&published)
        .iter()
        .map(|(_, r, _)| r["start"]["line"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(lines, (1..=7).collect::<Vec<u64>>());
    // Nothing else follows: the intermediate versions were never analysed.
    let more =
        client.next_notification("textDocument/publishDiagnostics", Duration::from_secs(1))?;
    assert!(more.is_none(), "unexpected: {more:?}");
    client.shut_down_cleanly()
}

#[test]
fn outdated_versions_are_never_published() -> Result<(), String> {
    // No debounce: every version is analysed at once and then overtaken by the next; a
    // large document makes the analyses long enough to overlap the changes.
    let mut client = Client::start(&[])?;
    client.initialize(json!({}), json!({"debounceMs": 0}))?;
    let base = format!("let a = \"{CANARY}\";\n").repeat(3000);
    client.open(URI, 1, &base)?;
    let last = 25;
    let mut published = Vec::new();
    for version in 2..=last {
        client.change(
            URI,
            version,
            json!([{"range": range((0, 0), (0, 0)), "text": "eval(x);\n"}]),
        )?;
    }
    loop {
        let params = client.diagnostics(URI)?;
        let version = params["version"].as_i64().ok_or("no version")?;
        published.push((version, summary(&params).len() as i64));
        if version == last {
            break;
        }
    }
    // Each published version carries that version's findings (version v has v - 1 evals),
    // versions only go up, and the last one is published.
    for pair in published.windows(2) {
        assert!(pair[0].0 < pair[1].0, "{published:?}");
    }
    for (version, count) in &published {
        assert_eq!(*count, version - 1, "{published:?}");
    }
    client.expect_no_more_diagnostics()?;
    client.shut_down_cleanly()
}

#[test]
fn a_reopened_document_never_gets_the_old_texts_diagnostics() -> Result<(), String> {
    // The first text's analysis is slow and still running when the document is closed and
    // reopened at the same version number with another text.
    let mut client = Client::start(&[])?;
    client.initialize(json!({}), json!({"debounceMs": 0}))?;
    let slow = format!("eval(\"{CANARY}\");\n").repeat(3000);
    client.open(URI, 1, &slow)?;
    client.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": URI}}),
    )?;
    client.open(URI, 1, "let quiet = 1;\n")?;
    let mut closed = false;
    loop {
        let published = client.diagnostics(URI)?;
        if published["version"].is_null() {
            closed = true;
            continue;
        }
        if closed {
            assert_eq!(published["version"], 1);
            assert_eq!(
                published["diagnostics"],
                json!([]),
                "the old text's findings"
            );
            break;
        }
    }
    client.expect_no_more_diagnostics()?;
    client.shut_down_cleanly()
}

#[test]
fn utf8_positions_when_the_client_prefers_them() -> Result<(), String> {
    let mut client = Client::start(&[])?;
    let init = client.initialize(
        json!({"general": {"positionEncodings": ["utf-8", "utf-16"]}}),
        Value::Null,
    )?;
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-8");
    client.open(URI, 1, &document())?;
    let published = client.diagnostics(URI)?;
    let eval = summary(&published)
        .into_iter()
        .next()
        .ok_or("no diagnostic")?;
    assert_eq!(eval.0, "no-eval");
    assert_eq!(eval.1, range((0, 21), (0, 31)), "byte columns");
    // And changes are read in bytes too.
    client.change(
        URI,
        2,
        json!([{"range": range((0, 21), (0, 32)), "text": ""}]),
    )?;
    let published = client.diagnostics(URI)?;
    assert_eq!(
        summary(&published).first().map(|d| d.0.clone()),
        Some("no-throw-literal".to_string()),
        "{published}"
    );
    let (status, _) = client.finish()?;
    assert_eq!(status.code(), Some(0));
    Ok(())
}

#[test]
fn rule_files_urls_and_severities() -> Result<(), String> {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[(
            "rules/no-alert.yml",
            "id: no-alert\nlanguage: typescript\nseverity: hint\nmessage: alert($$$A)\nurl: https://example.com/rules/no-alert\nrule:\n  pattern: alert($$$A)\nfix: notify($$$A)\n",
        )],
    );
    let rules = dir.path().join("rules");
    let rules = rules.to_string_lossy();
    let mut client = Client::start(&["--rules", &rules])?;
    client.initialize(json!({}), Value::Null)?;
    // eval is not flagged: only the given rules run.
    client.open(URI, 1, "eval(x); /* 😀 */ alert(\"hi\");\n")?;
    let published = client.diagnostics(URI)?;
    assert_eq!(
        summary(&published),
        vec![("no-alert".to_string(), range((0, 18), (0, 29)), 4)]
    );
    let diagnostic = &published["diagnostics"][0];
    assert_eq!(
        diagnostic["codeDescription"]["href"],
        "https://example.com/rules/no-alert"
    );
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": range((0, 18), (0, 29)),
               "context": {"diagnostics": [diagnostic]}}),
    )?;
    // Without versioned-edit support, a plain `changes` map.
    let edits = &actions[0]["edit"]["changes"][URI];
    assert_eq!(edits[0]["newText"], "notify(\"hi\")");
    let (status, _) = client.finish()?;
    assert_eq!(status.code(), Some(0));
    Ok(())
}

#[test]
fn the_workspace_volatile_yml_applies() -> Result<(), String> {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[
            (
                "volatile.yml",
                "playbooks: [rules]\nseverity:\n  no-alert: error\nexclude: [\"generated/**\"]\n",
            ),
            (
                "rules/no-alert.yml",
                "id: no-alert\nlanguage: typescript\nseverity: hint\nmessage: alert\nrule:\n  pattern: alert($$$A)\n",
            ),
        ],
    );
    let root = format!("file://{}", dir.path().display());
    let mut client = Client::start(&[])?;
    client.initialize_in(&root, json!({}), Value::Null)?;
    let text = "eval(x);\nalert(1);\n";
    let app = format!("{root}/src/app.ts");
    let generated = format!("{root}/generated/api.ts");
    client.open(&generated, 1, text)?;
    client.open(&app, 1, text)?;
    // The project's playbooks only (no eval rule), at the project's severity.
    let published = client.diagnostics(&app)?;
    assert_eq!(
        summary(&published),
        vec![("no-alert".to_string(), range((1, 0), (1, 8)), 1)]
    );
    // Excluded paths are not analysed.
    let more =
        client.next_notification("textDocument/publishDiagnostics", Duration::from_secs(1))?;
    assert!(more.is_none(), "unexpected: {more:?}");
    let (status, _) = client.finish()?;
    assert_eq!(status.code(), Some(0));
    Ok(())
}

#[test]
fn rules_that_do_not_compile_fail_initialize() -> Result<(), String> {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[(
            "rules/bad.yml",
            "id: bad\nlanguage: typescript\nrule:\n  kind: no_such_kind\n",
        )],
    );
    let rules = dir.path().join("rules");
    let mut client = Client::start(&["--rules", &rules.to_string_lossy()])?;
    let refused = client.initialize(json!({}), Value::Null);
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("bad")),
        "{refused:?}"
    );
    Ok(())
}

#[test]
fn exit_without_shutdown_is_an_error_and_requests_before_initialize_are_refused()
-> Result<(), String> {
    let mut client = Client::start(&[])?;
    let refused = client.request("textDocument/codeAction", json!({}));
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("-32002")),
        "{refused:?}"
    );
    client.initialize(json!({}), Value::Null)?;
    client.notify("exit", Value::Null)?;
    drop(client.stdin.take());
    let deadline = Instant::now() + WAIT;
    loop {
        match client.child.try_wait() {
            Ok(Some(status)) => {
                assert_eq!(status.code(), Some(1));
                return Ok(());
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            other => return Err(format!("the server did not exit: {other:?}")),
        }
    }
}

#[test]
fn remote_mode_gets_findings_from_a_running_service() -> Result<(), String> {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[]);
    let cert = dir.path().join("dev-cert.pem");
    let cert = cert.to_string_lossy();
    let url = server.url("");
    let mut client = Client::start(&["--server", &url, "--ca-cert", &cert])?;
    client.initialize(
        json!({"workspace": {"workspaceEdit": {"documentChanges": true}}}),
        Value::Null,
    )?;
    let text = document();
    client.open(URI, 1, &text)?;
    let published = client.diagnostics(URI)?;
    assert_eq!(published["version"], 1);
    let throw_range = range((2, 18), (2, 27 + CANARY.len() as u64));
    assert_eq!(
        summary(&published),
        vec![
            ("no-eval".to_string(), range((0, 19), (0, 29)), 1),
            ("no-throw-literal".to_string(), throw_range.clone(), 2),
        ],
        "{published}"
    );
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": throw_range,
               "context": {"diagnostics": []}}),
    )?;
    let edit = &actions[0]["edit"]["documentChanges"][0]["edits"][0];
    assert_eq!(
        apply(&text, edit)?,
        text.replace(
            &format!("throw \"{CANARY}\";"),
            &format!("throw new Error(\"{CANARY}\");")
        )
    );
    client.change(URI, 2, json!([as_change(edit)]))?;
    let published = client.diagnostics(URI)?;
    assert_eq!(published["version"], 2);
    assert_eq!(
        summary(&published),
        vec![("no-eval".to_string(), range((0, 19), (0, 29)), 1)]
    );
    client.shut_down_cleanly()
}

#[test]
fn remote_mode_sends_the_api_key_from_the_environment() -> Result<(), String> {
    let dir = temp_dir();
    // SHA-256 of `lsp-test-key`.
    write_files(
        dir.path(),
        &[(
            "keys.txt",
            "7d3e6bfcb06578971d1d43cf61775462ef00b2aa312f95769c1a0307304d1340\n",
        )],
    );
    let server = Server::start(dir.path(), &["--api-keys", "keys.txt"]);
    let cert = dir.path().join("dev-cert.pem");
    let cert = cert.to_string_lossy();
    let url = server.url("");
    let args = ["--server", url.as_str(), "--ca-cert", &cert];

    let mut refused = Client::start_with_env(&args, &[("VOLATILE_API_KEY", "")])?;
    refused.initialize(json!({}), Value::Null)?;
    refused.open(URI, 1, &document())?;
    let shown = refused
        .next_notification("window/showMessage", WAIT)?
        .ok_or("no message shown")?;
    assert!(
        shown["message"].as_str().is_some_and(|m| m.contains("401")),
        "{shown}"
    );
    refused.finish()?;

    let mut client = Client::start_with_env(&args, &[("VOLATILE_API_KEY", "lsp-test-key")])?;
    client.initialize(json!({}), Value::Null)?;
    client.open(URI, 1, &document())?;
    let published = client.diagnostics(URI)?;
    assert_eq!(summary(&published).len(), 2, "{published}");
    let (status, stderr) = client.finish()?;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("lsp-test-key"), "the key reached the logs");
    assert_no_text_in(&stderr);
    Ok(())
}

#[test]
fn rules_and_server_do_not_combine() {
    let dir = temp_dir();
    let out = volatile_tests::run_in(
        dir.path(),
        &["lsp", "--server", "https://localhost:1", "--rules", "rules"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(volatile_tests::stderr(&out).contains("do not combine"));
}

#[test]
fn an_unreachable_service_is_reported_not_fatal() -> Result<(), String> {
    let port = volatile_tests::server::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut client = Client::start(&["--server", &url])?;
    client.initialize(json!({}), Value::Null)?;
    client.open(URI, 1, &document())?;
    let shown = client
        .next_notification("window/showMessage", WAIT)?
        .ok_or("no message shown")?;
    let message = shown["message"].as_str().unwrap_or_default();
    assert!(message.contains("could not analyse"), "{message}");
    assert!(!message.contains(CANARY));
    let published = client.diagnostics(URI)?;
    assert_eq!(published["diagnostics"], json!([]));
    client.shut_down_cleanly()
}
