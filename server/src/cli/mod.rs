//! The command line: `volatile [serve]`, `scan`, `test`, `rules list|explain`.
//!
//! Exit codes: 0 success, 1 findings at or above `--fail-on` (scan) or failing cases
//! (test), 2 usage or rule errors.

mod catalog;
mod diff;
pub(crate) mod project;
mod rules;
mod scan;
mod schedule;
mod stats;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Volatile: a stateless code-compliance engine.
#[derive(Debug, Parser)]
#[command(name = "volatile", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS analysis service (the default).
    Serve(Box<crate::serve::ServeArgs>),
    /// Analyse files and directories against playbooks.
    Scan(ScanArgs),
    /// Run the rules' inline examples and ast-grep test files.
    Test(TestArgs),
    /// List or explain rules.
    Rules {
        /// What to show.
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Run a language server over stdio, for editors.
    Lsp(crate::lsp::LspArgs),
}

/// Where rules come from.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// A playbook directory, a rule file, or an ast-grep `sgconfig.yml` (repeatable;
    /// default: the embedded example playbooks, or those named in `volatile.yml`).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
}

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Code frames for people.
    Text,
    /// `{findings, errors, stats}`.
    Json,
    /// SARIF 2.1.0.
    Sarif,
    /// GitHub Actions workflow annotations (`::error file=...`).
    Github,
    /// GitLab Code Quality JSON (`artifacts:reports:codequality`).
    Gitlab,
    /// Checkstyle XML.
    Checkstyle,
}

/// The lowest severity that fails a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any finding.
    Hint,
    /// `info` and above.
    Info,
    /// `warning` and above.
    Warning,
    /// `error` only.
    Error,
    /// Never fail for findings.
    Never,
}

/// `volatile scan`.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Files and directories to scan (default: the current directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Rules.
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 1 when a finding reaches this severity.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Apply the rules' fixes to the files.
    #[arg(long)]
    pub fix: bool,
    /// Only these rule ids (repeatable).
    #[arg(long = "rule", value_name = "ID")]
    pub only: Vec<String>,
    /// Colours in text output: auto, always or never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Print where the time went to stderr: files and rules the prefilter skipped, read,
    /// parse and match time, the slowest rules.
    #[arg(long)]
    pub stats: bool,
    /// Run every rule on every file, even those lacking the rule's literals (to measure
    /// the prefilter; findings are the same).
    #[arg(long)]
    pub no_prefilter: bool,
    /// Only files changed between two git revisions, and only findings touching changed
    /// lines: `BASE` (the working tree against BASE; untracked files count as wholly
    /// changed), `BASE..HEAD`, or `BASE...HEAD` (against their merge base, as a pull
    /// request shows).
    #[arg(long, value_name = "BASE[..HEAD]")]
    pub diff: Option<String>,
    /// Leave out findings recorded in this baseline file (see --write-baseline).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Record every finding of this scan in a baseline file instead of reporting them.
    #[arg(long, value_name = "FILE", conflicts_with = "fix")]
    pub write_baseline: Option<PathBuf>,
    /// Send the files to a running Volatile service instead of analysing them here.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Where a remote service is, for `scan --server` and `lsp --server`.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// The service's base URL, e.g. `https://volatile.internal:8443`.
    #[arg(long = "server", value_name = "URL")]
    pub url: Option<String>,
    /// API key for the service (default: `$VOLATILE_API_KEY`).
    #[arg(long, value_name = "KEY", requires = "url")]
    pub api_key: Option<String>,
    /// A PEM certificate to trust besides the system roots (a private CA or dev cert).
    #[arg(long, value_name = "FILE", requires = "url")]
    pub ca_cert: Option<PathBuf>,
    /// The served playbook to apply (default: the service's default playbooks).
    #[arg(long, value_name = "ID", requires = "url")]
    pub playbook: Option<String>,
    /// Seconds one request to the service may take.
    #[arg(long, value_name = "SECS", default_value_t = 120, requires = "url")]
    pub timeout_secs: u64,
}

impl RemoteArgs {
    /// The client options, or `None` without `--server`.
    pub fn options(&self) -> Option<crate::remote::RemoteOptions> {
        let url = self.url.clone()?;
        let api_key = self
            .api_key
            .clone()
            .or_else(|| std::env::var("VOLATILE_API_KEY").ok())
            .filter(|k| !k.is_empty());
        Some(crate::remote::RemoteOptions {
            url,
            api_key,
            ca_cert: self.ca_cert.clone(),
            playbook: self.playbook.clone(),
            timeout: std::time::Duration::from_secs(self.timeout_secs.max(1)),
        })
    }
}

/// `volatile test`.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// Playbook directories, directories of playbooks, rule files or `sgconfig.yml`
    /// projects (default: the embedded example playbooks).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print every case, not only failures.
    #[arg(long, short)]
    pub verbose: bool,
}

/// `volatile rules`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List every rule, one per line: playbook, standard, id, severity, languages.
    List(RulesArgs),
    /// Print a Markdown catalogue of the playbooks, by playbook and standard.
    Catalog(RulesArgs),
    /// Show everything about one rule.
    Explain {
        /// The rule id.
        id: String,
        /// Rules.
        #[command(flatten)]
        rules: RulesArgs,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let default = || Command::Serve(Box::default());
    let code = match cli.command.unwrap_or_else(default) {
        Command::Serve(args) => crate::serve::run(*args),
        Command::Scan(args) => scan::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Lsp(args) => crate::lsp::run(&args),
        Command::Rules { command } => {
            crate::harden::quiet_on_closed_pipe();
            match command {
                RulesCommand::List(args) => rules::list(&args),
                RulesCommand::Catalog(args) => rules::catalog(&args),
                RulesCommand::Explain { id, rules } => rules::explain(&id, &rules),
            }
        }
    };
    ExitCode::from(code)
}
