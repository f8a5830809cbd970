//! The `tollgate` command line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tollgate::cli::Cli::parse();
    tollgate::logging::init("warn");
    tollgate::cli::run(cli)
}
