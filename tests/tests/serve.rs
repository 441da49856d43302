//! The real binary over TLS: a real client (reqwest + rustls) trusting the written dev
//! certificate, over HTTP/1.1 and HTTP/2; reloads; graceful shutdown.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use volatile_tests::server::{Server, free_port};
use volatile_tests::{binary, temp_dir, write_files};

fn start(dir: &Path, extra: &[&str]) -> Server {
    Server::start(dir, extra)
}

fn client(server: &Server, http1: bool) -> reqwest::blocking::Client {
    server.client(http1)
}

fn analyze(
    client: &reqwest::blocking::Client,
    server: &Server,
    body: &Value,
) -> (reqwest::Version, Value) {
    let resp = match client.post(server.url("/v1/analyze")).json(body).send() {
        Ok(r) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let version = resp.version();
    assert_eq!(resp.status().as_u16(), 200);
    (version, resp.json().unwrap_or(Value::Null))
}

#[test]
fn analyze_over_tls_with_http1_and_http2() {
    let dir = temp_dir();
    let server = start(dir.path(), &[]);
    let body = json!({"files": [{"path": "src/app.ts", "content": "function run(code: string) {\n  return eval(code);\n}\n"}]});
    for (http1, want) in [
        (true, reqwest::Version::HTTP_11),
        (false, reqwest::Version::HTTP_2),
    ] {
        let (version, answer) = analyze(&client(&server, http1), &server, &body);
        assert_eq!(version, want);
        let finding = &answer["files"][0]["findings"][0];
        assert_eq!(finding["rule_id"], "no-eval", "{answer}");
        assert_eq!(finding["range"]["start"]["line"], 2);
    }
}

#[test]
fn playbooks_reload_when_files_change_and_a_broken_one_keeps_the_old() {
    let dir = temp_dir();
    let rules = dir.path().join("playbooks");
    let rule = |id: &str, pattern: &str| {
        format!("id: {id}\nlanguage: python\nseverity: warning\nrule:\n  pattern: {pattern}\n")
    };
    write_files(
        &rules,
        &[
            ("team/playbook.yml", "id: team\n"),
            ("team/r.yml", &rule("no-print", "print($A)")),
        ],
    );
    let playbooks = rules.display().to_string();
    let server = start(dir.path(), &["--playbooks", &playbooks]);
    let http = client(&server, false);
    let body = json!({"files": [{"path": "a.py", "content": "print(1)\ninput()\n"}]});
    let ids = |answer: &Value| -> Vec<String> {
        answer["files"][0]["findings"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|f| f["rule_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ids(&analyze(&http, &server, &body).1), ["no-print"]);
    write_files(&rules, &[("team/r.yml", &rule("no-input", "input()"))]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        seen = ids(&analyze(&http, &server, &body).1);
        if seen == ["no-input"] {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(seen, ["no-input"], "the change was not picked up");
    write_files(
        &rules,
        &[(
            "team/r.yml",
            "id: broken\nlanguage: python\nrule:\n  kind: nope\n",
        )],
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        ids(&analyze(&http, &server, &body).1),
        ["no-input"],
        "a broken playbook must keep the old one"
    );
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let dir = temp_dir();
    let mut server = Server::start_logged(dir.path(), &[]);
    let pid = server.pid().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(status.is_ok_and(|s| s.success()));
    let deadline = Instant::now() + Duration::from_secs(35);
    loop {
        match server.child().try_wait() {
            Ok(Some(status)) => {
                assert_eq!(status.code(), Some(0));
                break;
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("the server did not exit after SIGTERM: {other:?}"),
        }
    }
    let mut log = String::new();
    if let Some(mut stderr) = server.child().stderr.take() {
        let _ = stderr.read_to_string(&mut log);
    }
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn plain_http_refuses_a_public_address() {
    let dir = temp_dir();
    let out = Command::new(binary())
        .args(["serve", "--plain-http", "--addr", "0.0.0.0:0"])
        .current_dir(dir.path())
        .output();
    let Ok(out) = out else { panic!("cannot run") };
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-plain-http-public"));
}

fn sha256_hex(text: &str) -> String {
    use std::fmt::Write as _;
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = out else {
        panic!("sha256sum")
    };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(text.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let mut s = String::new();
    let _ = write!(
        s,
        "{}",
        String::from_utf8_lossy(&output)
            .split_whitespace()
            .next()
            .unwrap_or("")
    );
    s
}

#[test]
fn api_keys_reload_on_sighup_and_metrics_move_to_their_own_address() {
    let dir = temp_dir();
    write_files(
        dir.path(),
        &[("keys.txt", &format!("# team A\n{}\n", sha256_hex("key-a")))],
    );
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let server = start(
        dir.path(),
        &["--api-keys", "keys.txt", "--metrics-addr", &metrics_addr],
    );
    let http = client(&server, false);
    let info = |key: &str| {
        http.get(server.url("/v1/info"))
            .bearer_auth(key)
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(info("key-a"), 200);
    assert_eq!(info("key-b"), 401);
    write_files(
        dir.path(),
        &[("keys.txt", &format!("{}\n", sha256_hex("key-b")))],
    );
    let pid = server.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .is_ok_and(|s| s.success())
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while info("key-b") != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(info("key-b"), 200);
    assert_eq!(info("key-a"), 401);
    // /metrics left the main address for the plain-HTTP metrics address.
    let main = http
        .get(server.url("/metrics"))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(main, 404);
    let plain = reqwest::blocking::get(format!("http://{metrics_addr}/metrics"));
    let text = plain.and_then(|r| r.text()).unwrap_or_default();
    assert!(text.contains("volatile_requests_total"), "{text}");
}

#[test]
fn serves_a_given_pem_certificate_and_key() {
    let dir = temp_dir();
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            // An end-entity certificate: webpki refuses a CA certificate as a server's.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .current_dir(dir.path())
        .output();
    assert!(
        made.is_ok_and(|o| o.status.success()),
        "openssl is needed to make a test certificate"
    );
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(binary())
        .args([
            "serve",
            "--addr",
            &addr,
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else { panic!("spawn") };
    // `attach` waits for `/healthz` over TLS, trusting the given certificate.
    let server = Server::attach(child, port, Some(dir.path().join("cert.pem")));
    assert!(server.healthy());
}
