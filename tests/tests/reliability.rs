//! Hostile input against the real server: every malformed or odd request gets a clear
//! answer (a 4xx with a JSON error for a problem of the envelope, the file's `error` for a
//! problem of one file, a normal answer where the input is merely odd), other files of the
//! same request keep their findings, and the server stays healthy after each.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use volatile_tests::server::Server;
use volatile_tests::temp_dir;

/// What a case must get back.
enum Want {
    /// An error answer with this status and `error.code`.
    Error(u16, &'static str),
    /// 200, with a check of the answer.
    Ok(fn(&Value) -> Result<(), String>),
}

/// A file of the request with a known finding (`no-eval`), to show that other files of a
/// request with a bad file still get theirs.
fn good_file() -> Value {
    json!({"path": "good.ts", "content": "function run(code: string) {\n  return eval(code);\n}\n"})
}

fn good_file_has_its_finding(answer: &Value) -> Result<(), String> {
    let files = answer["files"].as_array().ok_or("no files array")?;
    let good = files
        .iter()
        .find(|f| f["path"] == "good.ts")
        .ok_or("good.ts missing")?;
    if good["findings"][0]["rule_id"] == "no-eval" && good.get("error").is_none() {
        Ok(())
    } else {
        Err(format!("good.ts lost its finding: {good}"))
    }
}

/// The answer of the first file has this error code, and good.ts (second) its finding.
fn first_file_error(answer: &Value, code: &str) -> Result<(), String> {
    let got = &answer["files"][0]["error"]["code"];
    if got != code {
        return Err(format!("files[0].error.code is {got}, want {code}"));
    }
    if answer["files"][0]["findings"]
        .as_array()
        .is_none_or(|f| !f.is_empty())
    {
        return Err("a failed file has findings".into());
    }
    good_file_has_its_finding(answer)
}

/// `n` lines of one identifier each: with a rule on `identifier`, `n` findings.
fn identifiers(n: usize) -> String {
    (0..n).map(|i| format!("v{i};\n")).collect()
}

fn request(files: Vec<Value>) -> Vec<u8> {
    json!({ "files": files }).to_string().into_bytes()
}

fn inline(rules: Value) -> Vec<u8> {
    json!({"playbook": {"rules": rules}, "files": [good_file()]})
        .to_string()
        .into_bytes()
}

/// An inline playbook whose first rule is an array nested `depth` levels.
fn deep_json(depth: usize) -> Vec<u8> {
    let mut body = String::from("{\"files\": [], \"playbook\": {\"rules\": [");
    body.push_str(&"[".repeat(depth));
    body.push_str(&"]".repeat(depth));
    body.push_str("]}}");
    body.into_bytes()
}

/// Posts `body` as JSON; returns the status and the parsed answer (`Null` when not JSON).
fn post(server: &Server, http: &reqwest::blocking::Client, body: Vec<u8>) -> (u16, Value) {
    let sent = http
        .post(server.url("/v1/analyze"))
        .header("content-type", "application/json")
        .body(body)
        .send();
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.json().unwrap_or(Value::Null))
        }
        Err(e) => panic!("no answer: {e}"),
    }
}

fn check(name: &str, status: u16, answer: &Value, want: &Want) -> Result<(), String> {
    match want {
        Want::Error(code, error) => {
            if status != *code || answer["error"]["code"] != *error {
                return Err(format!(
                    "{name}: got {status} {answer}, want {code} with error.code {error}"
                ));
            }
            let message = answer["error"]["message"].as_str().unwrap_or("");
            if message.is_empty() {
                return Err(format!("{name}: the error has no message"));
            }
            Ok(())
        }
        Want::Ok(check) => {
            if status != 200 {
                return Err(format!("{name}: got {status} {answer}, want 200"));
            }
            check(answer).map_err(|e| format!("{name}: {e}"))
        }
    }
}

/// The bad-input matrix, each case answered as it should be, the server healthy after each.
#[test]
fn every_bad_input_gets_a_clear_answer_and_the_server_stays_healthy() {
    let dir = temp_dir();
    let server = Server::start(
        dir.path(),
        &[
            "--max-files",
            "20",
            "--max-body-bytes",
            "4194304",
            "--max-findings-per-file",
            "1000",
        ],
    );
    let http = server.client(false);
    // 2,097,014 bytes: just under the 2 MiB file limit, on one line.
    let one_line = format!("const x = [{}];\n", "1, ".repeat(699_000));
    let nested = |open: &str, close: &str, prefix: &str, suffix: &str| {
        format!(
            "{prefix}{}1{}{suffix}",
            open.repeat(100_000),
            close.repeat(100_000)
        )
    };
    let cases: Vec<(&str, Vec<u8>, Want)> = vec![
        ("empty body", Vec::new(), Want::Error(400, "invalid_json")),
        ("invalid JSON", b"{\"files\": [".to_vec(), Want::Error(400, "invalid_json")),
        ("JSON nested 100,000 levels", deep_json(100_000), Want::Error(400, "invalid_json")),
        ("wrong type", b"{\"files\": 7}".to_vec(), Want::Error(400, "invalid_request")),
        (
            "wrong type in a file",
            br#"{"files": [{"path": 1, "content": "x"}]}"#.to_vec(),
            Want::Error(400, "invalid_request"),
        ),
        ("unknown field", b"{\"files\": [], \"flies\": 1}".to_vec(), Want::Error(400, "invalid_request")),
        ("missing files", b"{}".to_vec(), Want::Error(400, "invalid_request")),
        (
            "zero files",
            request(vec![]),
            Want::Ok(|a| {
                if a["files"].as_array().is_some_and(Vec::is_empty) {
                    Ok(())
                } else {
                    Err(format!("want no files: {a}"))
                }
            }),
        ),
        (
            "more files than the limit",
            request((0..21).map(|i| json!({"path": format!("{i}.py"), "content": ""})).collect()),
            Want::Error(413, "too_many_files"),
        ),
        (
            "a file over the byte limit (2 MiB + 1)",
            request(vec![
                json!({"path": "big.py", "content": "#".repeat(2 * 1024 * 1024 + 1)}),
                good_file(),
            ]),
            Want::Ok(|a| first_file_error(a, "too_large")),
        ),
        (
            "content that is not UTF-8 (a lone surrogate escape)",
            br#"{"files": [{"path": "a.ts", "content": "let s = '\ud800';"}, {"path": "good.ts", "content": "function run(code: string) {\n  return eval(code);\n}\n"}]}"#.to_vec(),
            Want::Ok(|a| first_file_error(a, "not_utf8")),
        ),
        (
            "content that is not UTF-8 (raw bytes)",
            {
                let mut body = br#"{"files": [{"path": "a.ts", "content": "let s = '"#.to_vec();
                body.extend_from_slice(&[0xff, 0xfe]);
                body.extend_from_slice(br#"';"}, {"path": "good.ts", "content": "function run(code: string) {\n  return eval(code);\n}\n"}]}"#);
                body
            },
            Want::Ok(|a| first_file_error(a, "not_utf8")),
        ),
        (
            "NUL bytes in the content",
            request(vec![json!({"path": "nul.ts", "content": "let a = 1;\u{0}\u{0}eval(a);\u{0}"}), good_file()]),
            Want::Ok(|a| {
                if a["files"][0].get("error").is_some() {
                    return Err(format!("NUL bytes are odd, not an error: {a}"));
                }
                good_file_has_its_finding(a)
            }),
        ),
        (
            "an unknown language",
            request(vec![json!({"path": "a.cobol", "language": "cobol", "content": "x"}), good_file()]),
            Want::Ok(|a| first_file_error(a, "unknown_language")),
        ),
        (
            "no language and an unknown extension",
            request(vec![json!({"path": "README", "content": "x"}), good_file()]),
            Want::Ok(|a| first_file_error(a, "unknown_language")),
        ),
        (
            "paths with .. and absolute paths are labels",
            request(vec![
                json!({"path": "../../etc/passwd.ts", "content": "eval(x);\n"}),
                json!({"path": "/etc/shadow.ts", "content": "eval(y);\n"}),
                good_file(),
            ]),
            Want::Ok(|a| {
                for (i, path) in [(0, "../../etc/passwd.ts"), (1, "/etc/shadow.ts")] {
                    let f = &a["files"][i];
                    if f["path"] != path || f["findings"][0]["rule_id"] != "no-eval" {
                        return Err(format!("files[{i}] was not analysed as a label: {f}"));
                    }
                }
                good_file_has_its_finding(a)
            }),
        ),
        (
            "changed_lines reversed",
            request(vec![json!({"path": "a.ts", "content": "eval(x);\n", "changed_lines": [[5, 2]]}), good_file()]),
            Want::Ok(|a| first_file_error(a, "invalid_changed_lines")),
        ),
        (
            "changed_lines starting at line 0",
            request(vec![json!({"path": "a.ts", "content": "eval(x);\n", "changed_lines": [[0, 2]]}), good_file()]),
            Want::Ok(|a| first_file_error(a, "invalid_changed_lines")),
        ),
        (
            "changed_lines past the largest line number",
            request(vec![json!({"path": "a.ts", "content": "eval(x);\n", "changed_lines": [[1, 9_091_263_692_377u64]]}), good_file()]),
            Want::Ok(|a| first_file_error(a, "invalid_changed_lines")),
        ),
        (
            "changed_lines below line 1",
            request(vec![json!({"path": "a.ts", "content": "eval(x);\n", "changed_lines": [[-4, 2]]}), good_file()]),
            Want::Ok(|a| first_file_error(a, "invalid_changed_lines")),
        ),
        (
            "changed_lines that are not integer pairs (the schema refuses them)",
            request(vec![json!({"path": "a.ts", "content": "eval(x);\n", "changed_lines": [[null, 2]]}), good_file()]),
            Want::Error(400, "invalid_request"),
        ),
        (
            "changed_lines past the end of the file",
            request(vec![
                json!({"path": "a.ts", "content": "eval(x);\n", "changed_lines": [[1000, 2000]]}),
                good_file(),
            ]),
            Want::Ok(|a| {
                if a["files"][0]["findings"].as_array().is_some_and(Vec::is_empty) {
                    good_file_has_its_finding(a)
                } else {
                    Err(format!("no finding touches lines 1000-2000: {a}"))
                }
            }),
        ),
        (
            "an inline rule with a bad regex",
            inline(json!([{"id": "r", "language": "typescript", "rule": {"regex": "a(b"}}])),
            Want::Error(422, "invalid_playbook"),
        ),
        (
            "an inline rule whose pattern does not parse",
            inline(json!([{"id": "r", "language": "typescript", "rule": {"pattern": "if ((("}}])),
            Want::Error(422, "invalid_playbook"),
        ),
        (
            "an inline rule with a cyclic util",
            inline(json!([{"id": "r", "language": "typescript",
                "utils": {"a": {"matches": "b"}, "b": {"matches": "a"}},
                "rule": {"matches": "a"}}])),
            Want::Error(422, "invalid_playbook"),
        ),
        (
            "an inline query with a syntax error",
            inline(json!([{"id": "r", "language": "typescript", "query": "(call_expression"}])),
            Want::Error(422, "invalid_playbook"),
        ),
        (
            "a rule that matches every node is capped with `truncated`",
            json!({"playbook": {"rules": [{"id": "every", "language": "typescript", "rule": {"kind": "identifier"}}]},
                   "files": [{"path": "many.ts", "content": identifiers(5_000)}]})
            .to_string()
            .into_bytes(),
            Want::Ok(|a| {
                let f = &a["files"][0];
                let n = f["findings"].as_array().map_or(0, Vec::len);
                if n == 1000 && f["truncated"] == true {
                    Ok(())
                } else {
                    Err(format!("want 1000 findings and truncated, got {n} and {}", f["truncated"]))
                }
            }),
        ),
        (
            "source nested 100,000 levels deep, in every language",
            request(vec![
                json!({"path": "deep.py", "content": nested("[", "]", "x = ", "\n")}),
                json!({"path": "deep.ts", "content": nested("(", ")", "let x = ", ";\n")}),
                json!({"path": "deep.js", "content": nested("{a:", "}", "x = ", ";\n")}),
                json!({"path": "deep.tsx", "content": nested("<a>", "</a>", "const x = ", ";\n")}),
                json!({"path": "Deep.java", "content": nested("(", ")", "class A { int x = ", "; }\n")}),
                good_file(),
            ]),
            Want::Ok(|a| {
                for i in 0..5 {
                    let f = &a["files"][i];
                    if let Some(error) = f.get("error")
                        && error["code"] != "deadline_exceeded"
                    {
                        return Err(format!("files[{i}]: {error}"));
                    }
                }
                good_file_has_its_finding(a)
            }),
        ),
        (
            "a 2 MiB single-line file",
            request(vec![json!({"path": "line.ts", "content": one_line}), good_file()]),
            Want::Ok(|a| {
                if let Some(error) = a["files"][0].get("error") {
                    return Err(format!("a long line is odd, not an error: {error}"));
                }
                good_file_has_its_finding(a)
            }),
        ),
    ];
    let mut failures = Vec::new();
    for (name, body, want) in cases {
        let (status, answer) = post(&server, &http, body);
        if let Err(e) = check(name, status, &answer, &want) {
            failures.push(e);
        }
        if !server.healthy() {
            failures.push(format!("{name}: the server is not healthy afterwards"));
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A body over the limit, announced by Content-Length or sent chunked without one: 413,
/// and the server keeps serving.
#[test]
fn bodies_over_the_limit_are_refused_announced_or_chunked() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &["--max-body-bytes", "100000"]);
    let http = server.client(true);
    let big = request(vec![
        json!({"path": "a.py", "content": "x".repeat(200_000)}),
    ]);
    let announced = post(&server, &http, big.clone());
    assert_eq!(announced.0, 413, "{}", announced.1);
    assert_eq!(announced.1["error"]["code"], "body_too_large");
    let chunked = http
        .post(server.url("/v1/analyze"))
        .header("content-type", "application/json")
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(big)))
        .send();
    let Ok(chunked) = chunked else {
        panic!("no answer to the chunked body")
    };
    assert_eq!(chunked.status().as_u16(), 413);
    let answer: Value = chunked.json().unwrap_or(Value::Null);
    assert_eq!(answer["error"]["code"], "body_too_large");
    assert!(server.healthy());
}

/// A file far too large to parse within a short deadline: it answers `deadline_exceeded`
/// within the deadline plus a margin, and the server's CPU thread is free again at once.
#[test]
fn the_deadline_holds_inside_parsing_and_matching() {
    let dir = temp_dir();
    let server = Server::start(
        dir.path(),
        &[
            "--deadline-ms",
            "300",
            "--threads",
            "1",
            "--max-file-bytes",
            "8000000",
        ],
    );
    let http = server.client(false);
    // Large enough that parsing alone takes well over 300 ms (6.6 MB).
    let big = "def f(a):\n    return [g(a) for g in h if a]\n".repeat(150_000);
    let started = Instant::now();
    let (status, answer) = post(
        &server,
        &http,
        request(vec![json!({"path": "big.py", "content": big})]),
    );
    let took = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["files"][0]["error"]["code"], "deadline_exceeded",
        "{answer}"
    );
    // The deadline runs from the request's arrival; reading and decoding 6.6 MB come first.
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    let started = Instant::now();
    let (status, answer) = post(&server, &http, request(vec![good_file()]));
    assert_eq!(status, 200);
    assert!(good_file_has_its_finding(&answer).is_ok(), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the worker was still busy"
    );
}

fn raw_connect(server: &Server) -> TcpStream {
    match TcpStream::connect(("127.0.0.1", server.port())) {
        Ok(s) => s,
        Err(e) => panic!("connect: {e}"),
    }
}

fn head(len: usize) -> String {
    format!(
        "POST /v1/analyze HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// Reads an HTTP/1.1 answer's status, giving up after `within`.
fn status_of(stream: &mut TcpStream, within: Duration) -> Option<u16> {
    let _ = stream.set_read_timeout(Some(within));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// A client that sends its body one byte a second gets 408 when the body timeout passes;
/// one that vanishes mid-body is dropped; meanwhile everyone else is served.
#[test]
fn slow_and_vanishing_clients_release_the_server() {
    let dir = temp_dir();
    let server = Server::start_plain(
        dir.path(),
        &[
            "--body-timeout-secs",
            "2",
            "--threads",
            "1",
            "--max-inflight",
            "2",
        ],
    );
    let http = server.client(false);
    let body = request(vec![good_file()]);
    // Vanishing: half a body, then the socket closes.
    for _ in 0..4 {
        let mut gone = raw_connect(&server);
        let _ = gone.write_all(head(body.len()).as_bytes());
        let _ = gone.write_all(&body[..body.len() / 2]);
        drop(gone);
    }
    // Slow: one byte a second, in the background.
    let slow_started = Instant::now();
    let mut slow = raw_connect(&server);
    let _ = slow.write_all(head(body.len()).as_bytes());
    let drip = {
        let Ok(mut writer) = slow.try_clone() else {
            panic!("clone")
        };
        let body = body.clone();
        std::thread::spawn(move || {
            for byte in body.iter().take(6) {
                if writer.write_all(&[*byte]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    // Others are served while the slow client drips (admission allows 2 in flight: the
    // vanished ones must not hold permits).
    for _ in 0..5 {
        let (status, answer) = post(&server, &http, body.clone());
        assert_eq!(status, 200, "{answer}");
    }
    let status = status_of(&mut slow, Duration::from_secs(10));
    let waited = slow_started.elapsed();
    assert_eq!(status, Some(408), "the slow client was not timed out");
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(5),
        "408 after {waited:?}, want about 2 s"
    );
    let _ = drip.join();
    assert!(server.healthy());
}

/// The listening socket's connections carry the stalled-write bound: a client that never
/// reads a large answer is cut off once its window has been shut for the timeout, and the
/// server keeps serving others meanwhile.
#[test]
fn a_client_that_never_reads_its_answer_is_cut_off() {
    let dir = temp_dir();
    let server = Server::start_plain(
        dir.path(),
        &[
            "--write-timeout-secs",
            "2",
            "--max-findings-per-file",
            "20000",
        ],
    );
    // An answer of tens of megabytes: every identifier of 8 files is a finding.
    let content = identifiers(20_000);
    let files: Vec<Value> = (0..8)
        .map(|i| json!({"path": format!("f{i}.ts"), "content": content}))
        .collect();
    let body = json!({"playbook": {"rules": [{"id": "every", "language": "typescript",
        "message": "an identifier", "rule": {"kind": "identifier"}}]}, "files": files})
    .to_string();
    let stuck = {
        let Ok(socket) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        else {
            panic!("socket")
        };
        // A small receive window, so the server's writes stall early.
        let _ = socket.set_recv_buffer_size(4096);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.port()));
        if let Err(e) = socket.connect(&addr.into()) {
            panic!("connect: {e}");
        }
        TcpStream::from(socket)
    };
    let mut writer = match stuck.try_clone() {
        Ok(w) => w,
        Err(e) => panic!("clone: {e}"),
    };
    let _ = writer.write_all(head(body.len()).as_bytes());
    let _ = writer.write_all(body.as_bytes());
    // Never read; the server is free for others meanwhile.
    std::thread::sleep(Duration::from_secs(1));
    let http = server.client(false);
    let (status, _) = post(&server, &http, request(vec![good_file()]));
    assert_eq!(status, 200);
    // Past the timeout, the connection is gone: reading now ends (reset or EOF) long
    // before the whole answer arrives.
    std::thread::sleep(Duration::from_secs(8));
    let mut reader = stuck;
    let _ = reader.set_read_timeout(Some(Duration::from_secs(5)));
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = loop {
        match reader.read(&mut buf) {
            Ok(0) => break "eof",
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break "still open",
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break "still open",
            Err(_) => break "reset",
        }
    };
    assert_ne!(
        ended, "still open",
        "the stalled connection was not cut off"
    );
    assert!(
        total < 10_000_000,
        "{total} bytes arrived: the answer was not cut off"
    );
    assert!(server.healthy());
}

/// Concurrent requests with different inline playbooks and different files never see
/// each other's findings: each answer is checked exactly.
#[test]
fn concurrent_requests_never_mix_findings() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[]);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let http = server.client(t % 2 == 0);
            let url = server.url("/v1/analyze");
            std::thread::spawn(move || -> Result<usize, String> {
                for round in 0..25 {
                    let id = format!("rule-{t}-{round}");
                    let name = format!("call_{t}_{round}");
                    // The file calls this thread's function on lines 2, 4, ...; and another
                    // thread's, which this playbook does not look for.
                    let lines = 1 + (t + round) % 5;
                    let mut content = String::new();
                    for i in 0..lines {
                        content.push_str(&format!("other_{t}({i})\n{name}({i})\n"));
                    }
                    let body = json!({
                        "playbook": {"id": format!("p{t}"), "rules": [{
                            "id": id, "language": "python", "severity": "warning",
                            "message": format!("{name} is called"),
                            "rule": {"pattern": format!("{name}($A)")}}]},
                        "files": [{"path": format!("t{t}/r{round}.py"), "content": content}]
                    });
                    let resp = http
                        .post(&url)
                        .json(&body)
                        .send()
                        .map_err(|e| format!("request: {e}"))?;
                    let answer: Value = resp.json().map_err(|e| format!("answer: {e}"))?;
                    let file = &answer["files"][0];
                    if file["path"] != format!("t{t}/r{round}.py") {
                        return Err(format!("wrong file in the answer: {}", file["path"]));
                    }
                    let findings = file["findings"].as_array().cloned().unwrap_or_default();
                    let got: Vec<(String, u64)> = findings
                        .iter()
                        .map(|f| {
                            (
                                f["rule_id"].as_str().unwrap_or("").to_string(),
                                f["range"]["start"]["line"].as_u64().unwrap_or(0),
                            )
                        })
                        .collect();
                    let want: Vec<(String, u64)> =
                        (0..lines).map(|i| (id.clone(), 2 * i as u64 + 2)).collect();
                    if got != want {
                        return Err(format!("thread {t} round {round}: {got:?} != {want:?}"));
                    }
                }
                Ok(25)
            })
        })
        .collect();
    let mut done = 0;
    for t in threads {
        match t.join() {
            Ok(Ok(n)) => done += n,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("a client thread panicked"),
        }
    }
    assert_eq!(done, 200);
}
