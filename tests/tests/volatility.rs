//! Submitted code leaves no trace: canaries in file contents, paths and inline rules, over
//! successful and failing requests, must not appear in
//! anything the process printed (at `RUST_LOG=trace`), in `/metrics`, in files under the
//! working directory, `TMPDIR` or `HOME`, or — once the connections are closed — anywhere
//! in the process's memory.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use volatile_tests::server::{client_trusting, free_port};
use volatile_tests::{binary, temp_dir};

struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir` with its modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<SystemTime>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let meta = entry.metadata().ok();
            if meta.as_ref().is_some_and(|m| m.is_dir()) {
                stack.push(path.clone());
            }
            out.insert(path, meta.and_then(|m| m.modified().ok()));
        }
    }
    out
}

/// Occurrences of `needle` in every readable mapping of process `pid`.
fn scan_memory(pid: u32, needles: &[&str]) -> Vec<(String, String)> {
    let maps = match std::fs::read_to_string(format!("/proc/{pid}/maps")) {
        Ok(m) => m,
        Err(e) => panic!("cannot read /proc/{pid}/maps: {e}"),
    };
    let mut mem = match std::fs::File::open(format!("/proc/{pid}/mem")) {
        Ok(f) => f,
        Err(e) => panic!("cannot open /proc/{pid}/mem: {e}"),
    };
    let mut found = Vec::new();
    let mut scanned = 0usize;
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
            continue;
        };
        let name = parts.nth(3).unwrap_or("").to_string();
        if !perms.starts_with('r') {
            continue;
        }
        // Kernel-provided pages hold no process data and cannot be read through mem.
        if matches!(name.as_str(), "[vvar]" | "[vvar_vclock]" | "[vsyscall]") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        let mut buf = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() {
            panic!("cannot seek to {range} ({name})");
        }
        if mem.read_exact(&mut buf).is_err() {
            // The server goes on serving while it is scanned, so a mapping can be unmapped
            // or shrunk between reading the map and reading the memory (a large block
            // freed, a heap trimmed): read page by page, leaving out only the pages that
            // are no longer readable.
            read_pages(&mut mem, pid, start, &mut buf);
        }
        scanned += buf.len();
        for needle in needles {
            if let Some(at) = buf
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
            {
                // How far below the mapping's top: a thread's stack grows down from there.
                let below_top = buf.len() - at;
                found.push((
                    needle.to_string(),
                    format!("{range} {perms} {name} ({below_top} bytes below its top)"),
                ));
            }
        }
    }
    assert!(scanned > 1 << 20, "scanned only {scanned} bytes");
    found
}

/// Whether `address` lies in a readable mapping of process `pid` now.
fn readable_now(pid: u32, address: u64) -> bool {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    maps.lines().any(|line| {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
            return false;
        };
        let Some((a, b)) = range.split_once('-') else {
            return false;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            return false;
        };
        perms.starts_with('r') && a <= address && address < b
    })
}

/// Reads the mapping at `start` into `buf` a page at a time; a page that cannot be read
/// must have stopped being a readable mapping since (it is left out), else the scan fails.
fn read_pages(mem: &mut std::fs::File, pid: u32, start: u64, buf: &mut [u8]) {
    const PAGE: usize = 4096;
    for (i, page) in buf.chunks_mut(PAGE).enumerate() {
        let address = start + (i * PAGE) as u64;
        let read = |mem: &mut std::fs::File, page: &mut [u8]| {
            mem.seek(SeekFrom::Start(address))
                .and_then(|_| mem.read_exact(page))
        };
        if read(mem, page).is_ok() || !readable_now(pid, address) {
            continue;
        }
        if let Err(e) = read(mem, page) {
            panic!("cannot read page {address:x}, still mapped readable: {e}");
        }
    }
}

fn client(cert: &Path) -> reqwest::blocking::Client {
    client_trusting(cert, false)
}

/// Announces a body, sends half of it (canaries included), then fails the upload: the
/// client drops the connection mid-body.
fn cut_off_mid_body(http: &reqwest::blocking::Client, url: &str, canary: &str) {
    struct HalfThenFail {
        data: Vec<u8>,
        at: usize,
    }
    impl Read for HalfThenFail {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let half = self.data.len() / 2;
            if self.at >= half {
                return Err(std::io::Error::other("client gave up"));
            }
            let n = buf.len().min(half - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    let code = format!("function {canary}() {{ return '{canary}'; }}\n").repeat(2_000);
    let data = json!({"files": [{"path": format!("{canary}.ts"), "content": code}]})
        .to_string()
        .into_bytes();
    let len = data.len() as u64;
    let sent = http
        .post(url)
        .header("content-type", "application/json")
        .body(reqwest::blocking::Body::sized(
            HalfThenFail { data, at: 0 },
            len,
        ))
        .send();
    assert!(sent.is_err(), "the cut-off upload got an answer: {sent:?}");
}

#[test]
fn submitted_code_leaves_no_trace() {
    let tag = format!(
        "{:x}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(7)
    );
    let in_content = format!("CANARYSRC{tag}");
    let in_path = format!("CANARYPATH{tag}");
    let in_rule = format!("CANARYRULE{tag}");
    // The cut-off request has canaries of its own, so a leak there is told apart.
    let in_cut = format!("CANARYCUT{tag}");
    let canaries = [
        in_content.as_str(),
        in_path.as_str(),
        in_rule.as_str(),
        in_cut.as_str(),
    ];

    let work = temp_dir();
    let home = temp_dir();
    let tmp = temp_dir();
    let outside = temp_dir();
    let cert = outside.path().join("cert.pem");
    let log_path = outside.path().join("server.log");
    let port = free_port();
    let log = match std::fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let before = [
        snapshot(work.path()),
        snapshot(home.path()),
        snapshot(tmp.path()),
    ];
    let child = Command::new(binary())
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--write-dev-cert",
            &cert.display().to_string(),
            "--keep-dumpable",
            "--max-file-bytes",
            "200000",
            "--max-body-bytes",
            "16000000",
            "--deadline-ms",
            "30",
            "--keep-alive-secs",
            "1",
            "--body-timeout-secs",
            "1",
        ])
        .current_dir(work.path())
        .env("RUST_LOG", "trace")
        .env("HOME", home.path())
        .env("TMPDIR", tmp.path())
        .stdout(log.try_clone().map(Stdio::from).unwrap_or(Stdio::null()))
        .stderr(Stdio::from(log))
        .spawn();
    let Ok(child) = child else { panic!("spawn") };
    let server = Running { child };
    let pid = server.child.id();
    let url = |p: &str| format!("https://localhost:{port}{p}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(cert.is_file() && client(&cert).get(url("/healthz")).send().is_ok()) {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    {
        let http = client(&cert);
        let post = |body: Vec<u8>| {
            http.post(url("/v1/analyze"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .map(|r| {
                    (
                        r.status().as_u16(),
                        r.json::<Value>().unwrap_or(Value::Null),
                    )
                })
                .unwrap_or((0, Value::Null))
        };
        let code = format!("function {in_content}(x) {{ return eval(x + '{in_content}'); }}\n");
        let ok = json!({"files": [{"path": format!("src/{in_path}.ts"), "content": code}]});
        let (status, answer) = post(ok.to_string().into_bytes());
        assert_eq!(status, 200);
        assert!(
            answer.to_string().contains(&in_content),
            "the client gets its findings back"
        );
        // Bad JSON, with canaries in it.
        assert_eq!(
            post(
                format!("{{\"files\": [{{\"path\": \"{in_path}\", \"content\": \"{in_content}")
                    .into_bytes()
            )
            .0,
            400
        );
        // Unknown language.
        let unknown = json!({"files": [{"path": format!("{in_path}.cob"), "content": in_content}]});
        assert_eq!(
            post(unknown.to_string().into_bytes()).1["files"][0]["error"]["code"],
            "unknown_language"
        );
        // Too large.
        let big = json!({"files": [{"path": format!("{in_path}.py"), "content": format!("x = '{in_content}'\n").repeat(20_000)}]});
        assert_eq!(
            post(big.to_string().into_bytes()).1["files"][0]["error"]["code"],
            "too_large"
        );
        // Deadline exceeded.
        let file = format!("def f():\n    return '{in_content}'\n").repeat(4_000);
        let files: Vec<Value> = (0..20)
            .map(|i| json!({"path": format!("{in_path}{i}.py"), "content": file}))
            .collect();
        let (_, answer) = post(json!({"files": files}).to_string().into_bytes());
        assert!(
            answer.to_string().contains("deadline_exceeded"),
            "no file ran out of time"
        );
        // An inline rule that does not compile.
        let bad_rule = json!({"playbook": {"rules": [{"id": in_rule, "language": "python", "rule": {"regex": format!("({in_rule}")}}]}, "files": []});
        assert_eq!(post(bad_rule.to_string().into_bytes()).0, 422);
        // An inline rule that works.
        let good_rule = json!({"playbook": {"rules": [{"id": in_rule, "language": "python", "message": in_rule, "rule": {"pattern": "print($A)"}}]}, "files": [{"path": "a.py", "content": format!("print('{in_content}')\n")}]});
        assert_eq!(post(good_rule.to_string().into_bytes()).0, 200);
    }
    // A request cut off mid-body: the client sends half of what it announced, then fails.
    cut_off_mid_body(&client(&cert), &url("/v1/analyze"), &in_cut);
    // Metrics carry no canary.
    let metrics = client(&cert)
        .get(url("/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    assert!(metrics.contains("volatile_requests_total"));
    for c in canaries {
        assert!(!metrics.contains(c), "canary {c} in /metrics");
    }
    // Let every connection close: the clients are gone and idle keep-alive is 1 s.
    std::thread::sleep(Duration::from_secs(4));
    let leaks = scan_memory(pid, &canaries);
    assert!(
        leaks.is_empty(),
        "canaries left in the server's memory: {leaks:?}"
    );
    // The same scan while other clients keep the server busy on other connections.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let others: Vec<_> = (0..3)
        .map(|i| {
            let (stop, served, http, url) = (
                stop.clone(),
                served.clone(),
                client(&cert),
                url("/v1/analyze"),
            );
            std::thread::spawn(move || {
                let code = format!("def other{i}(x):\n    return eval(x)\n").repeat(200);
                let body = json!({"files": [{"path": "other.py", "content": code}]}).to_string();
                while !stop.load(Ordering::Relaxed) {
                    let ok = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let busy = Instant::now();
    while served.load(Ordering::Relaxed) < 10 {
        assert!(
            busy.elapsed() < Duration::from_secs(30),
            "the other clients got no answers"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let leaks = scan_memory(pid, &canaries);
    let during = served.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for t in others {
        let _ = t.join();
    }
    assert!(
        leaks.is_empty(),
        "canaries in the server's memory while it served others: {leaks:?}"
    );
    assert!(
        served.load(Ordering::Relaxed) > during,
        "the server stopped serving during the scan"
    );

    drop(server);
    let printed = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        printed.contains("TRACE") || printed.contains("trace"),
        "the log level was not trace"
    );
    for c in canaries {
        assert!(!printed.contains(c), "canary {c} in the server's output");
    }
    let after = [
        snapshot(work.path()),
        snapshot(home.path()),
        snapshot(tmp.path()),
    ];
    assert_eq!(
        before, after,
        "files were created or modified under the working directory, HOME or TMPDIR"
    );
}

/// The uid of the process running this test.
fn own_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX)
}

/// Starts `volatile serve` as an unprivileged user: itself when the test is not root,
/// `nobody` (through `setpriv`) when it is, since root's `/proc` files are root's either way.
/// Returns the server, the uid it runs as and its log path.
fn serve_unprivileged(extra: &[&str], dir: &Path) -> (Running, u32, PathBuf) {
    let port = free_port();
    let log_path = dir.join("log");
    let log = match std::fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--plain-http", "--addr", &addr];
    args.extend_from_slice(extra);
    let (mut cmd, uid) = if own_uid() == 0 {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(binary());
        (cmd, 65534)
    } else {
        (Command::new(binary()), own_uid())
    };
    let child = cmd
        .args(&args)
        .current_dir("/")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => panic!("cannot start the server: {e}"),
    };
    let server = Running { child };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert!(Instant::now() < deadline, "server did not start: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, uid, log_path)
}

/// The owner of `/proc/<pid>`'s files: the process's own uid when it is dumpable, root
/// when it is not (proc(5)).
fn proc_owner(pid: u32) -> u32 {
    match std::fs::metadata(format!("/proc/{pid}/status")) {
        Ok(m) => std::os::unix::fs::MetadataExt::uid(&m),
        Err(e) => panic!("cannot stat /proc/{pid}/status: {e}"),
    }
}

#[test]
fn core_dumps_are_off_by_default() {
    let dir = temp_dir();
    let (server, uid, log_path) = serve_unprivileged(&[], dir.path());
    let pid = server.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let core: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        core.get(4..6),
        Some(&["0", "0"][..]),
        "soft and hard core limits: {core:?}"
    );
    assert_ne!(uid, 0, "the server must run unprivileged for this check");
    assert_eq!(
        proc_owner(pid),
        0,
        "the server (uid {uid}) is dumpable: its /proc files are not root's"
    );
    drop(server);
    let printed = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(printed.contains("dumpable=false"), "{printed}");

    // The control: with --keep-dumpable the same check sees the server's own uid.
    let dir = temp_dir();
    let (server, uid, _) = serve_unprivileged(&["--keep-dumpable"], dir.path());
    assert_eq!(proc_owner(server.child.id()), uid);
}
