//! `volatile serve`: flags, TLS, the CPU pool, reloads, graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware::from_fn, web};
use clap::Args;
use tracing::{error, info, warn};

use crate::http::auth::{ApiKeys, RateLimiter, parse_rate};
use crate::http::metrics::Metrics;
use crate::http::registry::{PlaybookSource, Registry};
use crate::http::state::{AppState, Limits};
use crate::http::{configure, middleware, tls};

/// `volatile serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub addr: SocketAddr,
    /// PEM certificate chain (with --tls-key). Default: an ephemeral self-signed certificate
    /// for localhost and 127.0.0.1.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Write the generated certificate (never the key) here, for clients to trust.
    #[arg(long, value_name = "PATH")]
    pub write_dev_cert: Option<PathBuf>,
    /// Serve plain HTTP, for running behind a TLS-terminating proxy.
    #[arg(long)]
    pub plain_http: bool,
    /// Allow --plain-http on a non-loopback address.
    #[arg(long)]
    pub allow_plain_http_public: bool,
    /// Serve this directory of playbooks instead of the embedded examples (reloaded on
    /// SIGHUP and when its files change).
    #[arg(long, value_name = "DIR")]
    pub playbooks: Option<PathBuf>,
    /// Playbooks applied when a request names none (repeatable; default: the language
    /// playbooks, not the team-conventions example).
    #[arg(long = "default-playbook", value_name = "ID")]
    pub default_playbooks: Vec<String>,
    /// File of accepted API keys: one SHA-256 hex digest per line (reloaded on SIGHUP).
    /// `VOLATILE_API_KEYS` adds comma-separated digests.
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// Per-key rate limit, e.g. `20/s`.
    #[arg(long, value_name = "N/s")]
    pub rate_limit: Option<String>,
    /// Serve /metrics on this separate plain-HTTP address instead (for an in-cluster scraper).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Largest request body in bytes, after decompression.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most files per request.
    #[arg(long, default_value_t = 1_000)]
    pub max_files: usize,
    /// Largest file in bytes.
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    pub max_file_bytes: usize,
    /// Per-request deadline in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub deadline_ms: u64,
    /// Most findings per file; more set `truncated`.
    #[arg(long, default_value_t = 10_000)]
    pub max_findings_per_file: usize,
    /// Most analysis requests in flight; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = 64)]
    pub max_inflight: usize,
    /// Seconds a request body may take to arrive (408 after).
    #[arg(long, default_value_t = 10)]
    pub body_timeout_secs: u64,
    /// CPU threads for analysis (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Close idle keep-alive connections after this many seconds.
    #[arg(long, default_value_t = 5)]
    pub keep_alive_secs: u64,
    /// Abort a connection whose client has not taken sent data for this many seconds
    /// (a client that stops reading its answer).
    #[arg(long, default_value_t = 20)]
    pub write_timeout_secs: u64,
    /// Leave the process dumpable (core dumps stay off); for debugging and memory tests.
    #[arg(long)]
    pub keep_dumpable: bool,
    /// Lock all memory in RAM (mlockall) so that source is never swapped out.
    #[arg(long)]
    pub lock_memory: bool,
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs {
            addr: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls_cert: None,
            tls_key: None,
            write_dev_cert: None,
            plain_http: false,
            allow_plain_http_public: false,
            playbooks: None,
            default_playbooks: Vec::new(),
            api_keys: None,
            rate_limit: None,
            metrics_addr: None,
            max_body_bytes: 8 * 1024 * 1024,
            max_files: 1_000,
            max_file_bytes: 2 * 1024 * 1024,
            deadline_ms: 10_000,
            max_findings_per_file: 10_000,
            max_inflight: 64,
            body_timeout_secs: 10,
            threads: None,
            keep_alive_secs: 5,
            write_timeout_secs: 20,
            keep_dumpable: false,
            lock_memory: false,
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the service until SIGTERM/SIGINT; returns the process exit code.
pub fn run(args: ServeArgs) -> u8 {
    init_logging();
    match actix_web::rt::System::new().block_on(serve(args)) {
        Ok(()) => 0,
        Err(message) => {
            error!("{message}");
            eprintln!("volatile: {message}");
            2
        }
    }
}

fn build_state(args: &ServeArgs, source: &PlaybookSource) -> Result<AppState, String> {
    let registry = Registry::load(source, &args.default_playbooks)
        .map_err(|errors| format!("the playbooks do not compile:\n  {}", errors.join("\n  ")))?;
    let env_keys = std::env::var("VOLATILE_API_KEYS").ok();
    let keys = ApiKeys::load(args.api_keys.as_deref(), env_keys.as_deref())?;
    let rate = args
        .rate_limit
        .as_deref()
        .map(parse_rate)
        .transpose()?
        .map(RateLimiter::new);
    if rate.is_some() && !keys.enabled() {
        warn!("--rate-limit is per API key and no keys are configured: it has no effect");
    }
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_files: args.max_files,
        max_file_bytes: args.max_file_bytes,
        deadline: Duration::from_millis(args.deadline_ms),
        max_findings_per_file: args.max_findings_per_file,
        max_inflight: args.max_inflight.max(1),
        body_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .thread_name(|i| format!("volatile-cpu-{i}"))
        .stack_size(16 * 1024 * 1024)
        .build()
        .map_err(|e| format!("cannot start the CPU pool: {e}"))?;
    let metrics = Metrics::new().map_err(|e| format!("metrics: {e}"))?;
    let mut state = AppState::new(registry, limits, metrics, pool, keys, rate);
    state.metrics_elsewhere = args.metrics_addr.is_some();
    Ok(state)
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let dumpable = crate::harden::disable_core_dumps(args.keep_dumpable)?;
    info!(dumpable, "core dumps disabled (RLIMIT_CORE=0)");
    if args.lock_memory {
        match crate::harden::lock_memory() {
            Ok(()) => info!("memory locked: source is never swapped out"),
            Err(e) => warn!("--lock-memory: cannot lock memory ({e}); source may be swapped out"),
        }
    }
    tls::install_provider();
    if args.plain_http && !args.addr.ip().is_loopback() && !args.allow_plain_http_public {
        return Err(format!(
            "refusing plain HTTP on the non-loopback address {}: add --allow-plain-http-public if a TLS-terminating proxy is in front",
            args.addr
        ));
    }
    let source = match &args.playbooks {
        Some(dir) => PlaybookSource::Dir(dir.clone()),
        None => PlaybookSource::Embedded,
    };
    let state = web::Data::new(build_state(&args, &source)?);
    {
        let registry = state.registry.load();
        info!(
            playbooks = registry.playbooks().len(),
            defaults = %registry.defaults().join(","),
            "playbooks compiled"
        );
    }
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(from_fn(middleware))
            .configure(configure)
    })
    .keep_alive(Duration::from_secs(args.keep_alive_secs))
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(2))
    .shutdown_timeout(30)
    .disable_signals();
    let listener = crate::listener::bind(args.addr, Duration::from_secs(args.write_timeout_secs))
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let server = if args.plain_http {
        warn!(addr = %args.addr, "serving plain HTTP: only run this behind a TLS-terminating proxy");
        server.listen(listener)
    } else {
        let identity = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => tls::load_identity(cert, key)?,
            _ => {
                let identity = tls::self_signed()?;
                info!(
                    sha256 = %tls::fingerprint(&identity),
                    "generated an ephemeral self-signed certificate for localhost and 127.0.0.1"
                );
                identity
            }
        };
        if let Some(path) = &args.write_dev_cert {
            std::fs::write(path, &identity.cert_pem)
                .map_err(|e| format!("{}: cannot write the certificate: {e}", path.display()))?;
            info!(path = %path.display(), "wrote the certificate (not the key)");
        }
        let config = tls::server_config(identity)?;
        server.listen_rustls_0_23(listener, config)
    }
    .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let server = server.run();
    let handle = server.handle();
    info!(addr = %args.addr, tls = !args.plain_http, "listening");

    let metrics_server = match args.metrics_addr {
        Some(addr) => {
            let metrics_state = state.clone();
            let s = HttpServer::new(move || {
                App::new()
                    .app_data(metrics_state.clone())
                    .route("/metrics", web::get().to(crate::http::routes::metrics_text))
            })
            .workers(1)
            .disable_signals()
            .bind(addr)
            .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?
            .run();
            info!(addr = %addr, "metrics on a separate plain-HTTP address");
            Some(s)
        }
        None => None,
    };

    tokio::spawn(watch_signals(
        state.clone(),
        source.clone(),
        args.clone(),
        handle.clone(),
        metrics_server.as_ref().map(|s| s.handle()),
    ));
    if let PlaybookSource::Dir(dir) = &source {
        spawn_file_watcher(state.clone(), source.clone(), args.clone(), dir.clone());
    }
    if let Some(m) = metrics_server {
        tokio::spawn(m);
    }
    server.await.map_err(|e| format!("server error: {e}"))?;
    info!("stopped");
    Ok(())
}

/// Recompiles the playbooks and swaps them in; a broken playbook keeps the old ones.
fn reload(state: &AppState, source: &PlaybookSource, args: &ServeArgs, why: &str) {
    match Registry::load(source, &args.default_playbooks) {
        Ok(registry) => {
            let count = registry.playbooks().len();
            state.swap_registry(registry);
            state.metrics.reloads.with_label_values(&["ok"]).inc();
            info!(reason = why, playbooks = count, "playbooks reloaded");
        }
        Err(errors) => {
            state.metrics.reloads.with_label_values(&["failed"]).inc();
            for e in &errors {
                error!(
                    reason = why,
                    "playbook reload failed, keeping the previous playbooks: {e}"
                );
            }
        }
    }
    let env_keys = std::env::var("VOLATILE_API_KEYS").ok();
    match ApiKeys::load(args.api_keys.as_deref(), env_keys.as_deref()) {
        Ok(keys) => state.keys.store(Arc::new(keys)),
        Err(e) => error!("API key reload failed, keeping the previous keys: {e}"),
    }
}

#[cfg(unix)]
async fn watch_signals(
    state: web::Data<AppState>,
    source: PlaybookSource,
    args: ServeArgs,
    handle: actix_web::dev::ServerHandle,
    metrics: Option<actix_web::dev::ServerHandle>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let (state, source, args) = (state.clone(), source.clone(), args.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&state, &source, &args, "SIGHUP")).await;
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    info!("shutting down: not ready, draining requests in flight");
    state.set_draining();
    if let Some(m) = metrics {
        m.stop(true).await;
    }
    handle.stop(true).await;
}

#[cfg(not(unix))]
async fn watch_signals(
    state: web::Data<AppState>,
    _source: PlaybookSource,
    _args: ServeArgs,
    handle: actix_web::dev::ServerHandle,
    _metrics: Option<actix_web::dev::ServerHandle>,
) {
    let _ = tokio::signal::ctrl_c().await;
    state.set_draining();
    handle.stop(true).await;
}

/// Reloads when files under `dir` change (debounced).
fn spawn_file_watcher(
    state: web::Data<AppState>,
    source: PlaybookSource,
    args: ServeArgs,
    dir: PathBuf,
) {
    use notify::{RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            warn!("cannot watch the playbooks directory (reload with SIGHUP instead): {e}");
            return;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::Recursive) {
        warn!("cannot watch the playbooks directory (reload with SIGHUP instead): {e}");
        return;
    }
    tokio::spawn(async move {
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            // Debounce: editors write several events per save.
            tokio::time::sleep(Duration::from_millis(300)).await;
            while rx.try_recv().is_ok() {}
            let (state, source, args) = (state.clone(), source.clone(), args.clone());
            let _ = tokio::task::spawn_blocking(move || {
                reload(&state, &source, &args, "files changed")
            })
            .await;
        }
    });
}
