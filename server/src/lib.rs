//! The `volatile` binary's library: the command line (`cli`) and, apart from it, the
//! embedded example playbooks both the command line and the service serve by default.
//!
//! The HTTP service is built in its own module tree; the command line never depends on it.

pub mod cli;
pub mod embedded;
pub mod sources;
