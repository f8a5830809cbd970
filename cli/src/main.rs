//! The `tollgate` command line (see the library, `tollgate`, for each command).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tollgate::Cli::parse();
    tollgate_host::logging::init("warn");
    tollgate::run(cli)
}
