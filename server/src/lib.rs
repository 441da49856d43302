//! The `volatile` binary's library: the command line (`cli`), the HTTPS service (`http`,
//! started by `serve`), and what both share: the embedded example playbooks and the
//! loading of playbooks from disk (`sources`).
//!
//! The HTTP code and the command line never depend on each other; neither knows how a rule
//! matches.

pub mod cli;
pub mod embedded;
pub mod harden;
pub mod http;
pub mod listener;
pub mod lsp;
pub mod remote;
pub mod scrub;
pub mod serve;
pub mod sources;
pub mod stack_scrub;
