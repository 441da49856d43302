//! Volatile's engine: the rule language, the matcher and the reports.
//!
//! Rules go through two stages. A serde *spec* ([`spec`]) is what a YAML or JSON rule file
//! says, with unknown keys rejected; one fallible compile step turns it into an immutable
//! [`compile::CompiledRule`], where every semantic check lives (a pattern that does not parse,
//! a bad regex, an undefined or cyclic util, a kind the grammar does not have). Compiled
//! rules are grouped into an `Arc`-shared [`playbook::Playbook`] and shared read-only by
//! every thread.
//!
//! Analysis ([`analyze`]) parses a file once, walks its tree once, and runs at each node
//! only the rules whose root can match that node's kind. An editor that keeps a document's
//! tree and re-parses it as it is edited ([`incremental`]) hands the tree to
//! [`analyze::analyze_parsed`] instead.
//!
//! The engine knows nothing of HTTP or of the file system layout of a scan: it takes text
//! and gives back [`finding::Finding`]s.

pub mod analyze;
pub mod baseline;
pub mod compile;
pub mod document;
pub mod error;
pub mod finding;
pub mod fingerprint;
pub mod incremental;
pub mod kinds;
pub mod lexical;
pub mod literal_scan;
pub mod loader;
pub mod matcher;
pub mod memo;
pub mod metavar;
pub mod pattern;
pub mod playbook;
pub mod position;
pub mod prefilter;
pub mod query;
pub mod report;
pub mod spec;
pub mod template;
pub mod testing;
pub mod transform;
pub mod tree;
