//! The `tollgate` command line, as a library: [`Cli`] parses, [`run`]
//! dispatches to one file per command under [`commands`]; `main.rs` is
//! thin. The commands share the decision's JSON form ([`output`]) and the
//! new-file writer.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin_client;
pub mod commands;
mod error;
pub mod output;

pub use error::CliError;

/// Exit code for an allow.
pub const EXIT_ALLOW: u8 = 0;
/// Exit code for a deny.
pub const EXIT_DENY: u8 = 1;
/// Exit code for a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the module or host failed (fail closed: never an allow).
pub const EXIT_INTERNAL: u8 = 3;
/// Exit code of `tollgate test` when a case failed (all passed: 0).
pub const EXIT_TEST_FAILED: u8 = 1;

/// Tollgate: a JWT authorizer whose policy is a WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the demo: the embedded policy module with a built-in demo key mints
    /// tokens and decides sample requests, printing each decision.
    Demo,
    /// Decide one request and print the decision as JSON (exit 0 allow, 1 deny,
    /// 2 usage or config error, 3 module or host failure).
    Check(commands::check::CheckArgs),
    /// Precompile a policy module for this host (same tollgate version and CPU),
    /// or with `--target` for an architecture's baseline CPU (e.g. Lambda).
    Compile(commands::compile::CompileArgs),
    /// Run policy tests (`*.test.toml`): each case's token is minted with
    /// throwaway keys and decided (exit 0 all passed, 1 a case failed, 2 usage,
    /// test file or policy error).
    Test(commands::test::TestArgs),
    /// Serve forward-auth decisions to edge proxies: nginx `auth_request`,
    /// Traefik ForwardAuth, Envoy `ext_authz` (HTTP and gRPC), with health,
    /// readiness and metrics on an admin port (`--demo` to try it).
    Serve(Box<commands::serve::ServeArgs>),
    /// Policy bundles: build, sign, verify, inspect, compare; a running
    /// server's bundle status, rollback and promotion.
    #[command(subcommand)]
    Bundle(commands::bundle::BundleCommand),
    /// Demo signing keys.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Demo tokens.
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
}

/// Run a parsed command line; the exit code follows [`EXIT_ALLOW`] and friends.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Demo => commands::demo::run().map(|()| EXIT_ALLOW),
        Command::Check(args) => commands::check::run(&args),
        Command::Compile(args) => commands::compile::run(&args).map(|()| EXIT_ALLOW),
        Command::Test(args) => commands::test::run(&args),
        Command::Serve(args) => commands::serve::run(&args).map(|()| EXIT_ALLOW),
        Command::Bundle(command) => commands::bundle::run(command),
        Command::Keys(command) => commands::keys::run(command).map(|()| EXIT_ALLOW),
        Command::Token(command) => commands::token::run(command).map(|()| EXIT_ALLOW),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("tollgate: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
