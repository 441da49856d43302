//! `volatile`: the code-compliance service and its command line.

use std::process::ExitCode;

use clap::Parser;
use volatile_server::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(cli)
}
