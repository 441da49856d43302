//! `volatile`: the code-compliance service and its command line.

use std::process::ExitCode;

use clap::Parser;
use volatile_grammars::alloc::Freed;
use volatile_server::cli::{Cli, run};

/// Every heap block is zeroed when freed, so submitted source does not linger in memory
/// (the `plain-alloc` feature turns this off, for the benchmark that measures its cost);
/// tree-sitter's blocks, on a heap of their own, are zeroed there.
#[cfg(not(feature = "plain-alloc"))]
#[global_allocator]
static ALLOCATOR: volatile_server::scrub::ScrubbingAllocator =
    volatile_server::scrub::ScrubbingAllocator::system();

fn main() -> ExitCode {
    volatile_grammars::alloc::route_tree_sitter_to_own_heap(if cfg!(feature = "plain-alloc") {
        Freed::AsIs
    } else {
        Freed::Scrubbed
    });
    volatile_server::scrub::return_freed_memory_promptly();
    volatile_server::harden::withhold_panic_messages();
    let cli = Cli::parse();
    run(cli)
}
