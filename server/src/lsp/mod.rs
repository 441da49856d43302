//! `volatile lsp`: a language server over stdio that shows findings as diagnostics while
//! the code is typed, and rules' fixes as quick fixes.
//!
//! Findings come from the engine in this process (the playbooks `volatile scan` would
//! load, with the workspace's `volatile.yml`) or from a running service (`--server`). In
//! process, each open document keeps its syntax tree and is re-parsed incrementally as it
//! is edited. The rules are loaded at `initialize`, once the workspace root is known.
//!
//! - `session`: the protocol loop, debounce and the version check before publishing;
//! - `documents`: open documents, edits applied to their text and tree;
//! - `analysis`: the worker threads and the two backends;
//! - `convert`: positions in the negotiated encoding, findings as diagnostics;
//! - `actions`: quick fixes.
//!
//! stdout carries the protocol; logs go to stderr. Document text never reaches either
//! log or error messages: malformed messages are reported by kind, panics by location.

mod actions;
mod analysis;
mod convert;
mod documents;
mod session;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use lsp_server::Connection;
use tracing::{info, warn};
use volatile_engine::analyze::{RuleFilter, RuleSet};

use self::analysis::{Backend, Setup};
use self::session::Settings;
use crate::cli::project::ProjectConfig;
use crate::cli::{RemoteArgs, RulesArgs};
use crate::remote::Remote;
use crate::sources::RuleSources;

/// `volatile lsp`.
#[derive(Debug, Clone, Args)]
pub struct LspArgs {
    /// Rules, for the in-process engine.
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Only these rule ids (repeatable).
    #[arg(long = "rule", value_name = "ID")]
    pub only: Vec<String>,
    /// Analyse with a running Volatile service instead of in process.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Milliseconds of quiet after the last change before a document is analysed
    /// (`initializationOptions.debounceMs` overrides it).
    #[arg(long, value_name = "MS", default_value_t = 150)]
    pub debounce_ms: u64,
    /// Analysis threads (default: the cores, at most 4).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Accepted for clients that pass it; stdio is the only transport.
    #[arg(long, hide = true)]
    pub stdio: bool,
}

/// Runs the language server until the client says `exit`; returns the exit code.
pub fn run(args: &LspArgs) -> u8 {
    init_logging();
    if let Err(e) = crate::harden::disable_core_dumps(false) {
        warn!("cannot disable core dumps: {e}");
    }
    if args.remote.url.is_some() && !args.rules.rules.is_empty() {
        eprintln!(
            "volatile lsp: --rules and --server do not combine: the service has its playbooks \
             (choose one with --playbook)"
        );
        return 2;
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4)
    });
    let settings = Settings {
        debounce: Duration::from_millis(args.debounce_ms),
        threads,
    };
    let (connection, io_threads) = Connection::stdio();
    let code = session::serve(&connection, settings, |root| setup(args, root));
    drop(connection);
    // The transport's errors quote the message they could not read: report only the kind.
    if let Err(e) = io_threads.join() {
        warn!("the connection ended abnormally ({:?})", e.kind());
    }
    code
}

/// The backend and the excluded paths for the workspace at `root`: its `volatile.yml`
/// (playbooks, severity overrides, excludes) applies as it does to `volatile scan` there.
fn setup(args: &LspArgs, root: &Path) -> Result<Setup, String> {
    let project = ProjectConfig::find(root)?;
    if let Some((file, _)) = &project {
        info!("using {}", file.display());
    }
    let (overrides, exclude) = match &project {
        Some((_, config)) => (config.overrides(), config.exclude_set()?),
        None => (HashMap::new(), None),
    };
    if let Some(options) = args.remote.options() {
        let backend = Backend::Remote {
            remote: Box::new(Remote::new(options)?),
            rules: args.only.clone(),
            overrides,
        };
        return Ok(Setup { backend, exclude });
    }
    let rule_paths = ProjectConfig::rule_paths(&args.rules.rules, project.as_ref());
    let sources = RuleSources::load(&rule_paths).map_err(|e| e.to_string())?;
    for warning in &sources.warnings {
        warn!("{warning}");
    }
    if let Some(first) = sources.errors.first() {
        for error in &sources.errors {
            warn!("{error}");
        }
        return Err(format!(
            "{} rule(s) failed to compile; the first: {first}",
            sources.errors.len()
        ));
    }
    let mut filter = RuleFilter {
        severity_overrides: overrides,
        ..RuleFilter::default()
    };
    if !args.only.is_empty() {
        filter.only = Some(args.only.iter().cloned().collect());
    }
    let set = RuleSet::new(&sources.playbooks, &filter);
    if set.is_empty() {
        return Err("no rule to run (check --rules, --rule and volatile.yml)".into());
    }
    Ok(Setup {
        backend: Backend::Local(Arc::new(set)),
        exclude,
    })
}

/// Logs to stderr at `RUST_LOG` (default `warn`). The transport crate's own debug logs
/// print whole messages, document text included: they are dropped whatever `RUST_LOG`
/// says.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .finish()
        .with(tracing_subscriber::filter::filter_fn(|meta| {
            !meta.target().starts_with("lsp_server")
        }))
        .try_init();
}
