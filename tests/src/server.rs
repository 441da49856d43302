//! A running `volatile serve` for the end-to-end tests: started on a free loopback port,
//! healthy before it is handed out, killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::binary;

/// A free loopback port (bound and released; the server binds it next).
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// A blocking HTTPS client trusting the PEM certificate at `cert`.
pub fn client_trusting(cert: &Path, http1: bool) -> reqwest::blocking::Client {
    let pem = std::fs::read(cert).unwrap_or_default();
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .https_only(true)
        .timeout(Duration::from_secs(60));
    if let Ok(cert) = reqwest::Certificate::from_pem(&pem) {
        builder = builder.add_root_certificate(cert);
    }
    if http1 {
        builder = builder.http1_only();
    }
    match builder.build() {
        Ok(c) => c,
        Err(e) => panic!("client: {e}"),
    }
}

/// A running `volatile serve`, killed when dropped.
pub struct Server {
    child: Child,
    port: u16,
    /// The dev certificate the server wrote; `None` for plain HTTP.
    cert: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `volatile serve` over TLS in `dir` with `extra` flags, once `/healthz` answers.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Server::spawn(dir, extra, true, Stdio::null())
    }

    /// [`Server::start`] with stderr piped, for a short test that reads the log after the
    /// process exits ([`Server::child`]).
    pub fn start_logged(dir: &Path, extra: &[&str]) -> Server {
        Server::spawn(dir, extra, true, Stdio::piped())
    }

    /// `volatile serve --plain-http` on loopback, for tests that speak raw HTTP/1.1 over a
    /// socket (the timeouts they test are below TLS).
    pub fn start_plain(dir: &Path, extra: &[&str]) -> Server {
        Server::spawn(dir, extra, false, Stdio::null())
    }

    fn spawn(dir: &Path, extra: &[&str], tls: bool, stderr: Stdio) -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let cert = tls.then(|| dir.join("dev-cert.pem"));
        let cert_arg = cert.as_ref().map(|c| c.display().to_string());
        let mut args = vec!["serve", "--addr", &addr];
        match &cert_arg {
            Some(c) => args.extend(["--write-dev-cert", c]),
            None => args.push("--plain-http"),
        }
        args.extend_from_slice(extra);
        let child = match Command::new(binary())
            .args(&args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!("cannot start volatile serve: {e}"),
        };
        Server::attach(child, port, cert)
    }

    /// Adopts a `volatile serve` started by the caller on `port` (TLS with the certificate
    /// at `cert`, or plain HTTP), once `/healthz` answers.
    pub fn attach(child: Child, port: u16, cert: Option<PathBuf>) -> Server {
        let mut server = Server { child, port, cert };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if server.healthy() {
                return server;
            }
            if server.exited() {
                panic!("the server exited before it became healthy");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not become healthy within 30 s");
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.cert.is_some() { "https" } else { "http" };
        let host = if self.cert.is_some() {
            "localhost"
        } else {
            "127.0.0.1"
        };
        format!("{scheme}://{host}:{}{path}", self.port)
    }

    /// A client for this server (trusting its certificate), optionally HTTP/1.1 only.
    pub fn client(&self, http1: bool) -> reqwest::blocking::Client {
        match &self.cert {
            Some(cert) => client_trusting(cert, http1),
            None => match reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
            {
                Ok(c) => c,
                Err(e) => panic!("client: {e}"),
            },
        }
    }

    /// Whether `/healthz` answers 200 (and the process is still running).
    pub fn healthy(&self) -> bool {
        if self.cert.as_ref().is_some_and(|c| !c.is_file()) {
            return false;
        }
        self.client(false)
            .get(self.url("/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .is_ok_and(|r| r.status().as_u16() == 200)
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The child process, for signals and waiting.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}
