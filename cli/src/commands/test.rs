//! `tollgate test`: run policy test files (`*.test.toml`) and print the
//! report; the runner is `tollgate-policy-test`, this file only reads the
//! arguments and prints.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use tollgate_policy_test::{RunOptions, TestError, TestFile, discover, run as run_tests};

use super::check::{LimitArgs, load_module};
use crate::{CliError, EXIT_ALLOW, EXIT_TEST_FAILED};

/// `tollgate test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files, or folders searched recursively for `*.test.toml`;
    /// default: the current folder.
    pub paths: Vec<PathBuf>,
    /// A policy module (.wasm component or .cwasm); default: the embedded one.
    #[arg(long)]
    pub module: Option<PathBuf>,
    /// The policy document for every test file, instead of each file's `config`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How to print the report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also print, per policy, how many cases reached each rule and which
    /// rules none reached (always in the JSON).
    #[arg(long)]
    pub coverage: bool,
    #[command(flatten)]
    /// Sandbox limits.
    pub limits: LimitArgs,
}

/// `tollgate test --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A line per case, then `N passed, M failed`.
    Text,
    /// The whole report as one JSON document.
    Json,
}

/// Run `tollgate test`: exit 0 when every case passed, 1 when one failed.
pub fn run(args: &TestArgs) -> Result<u8, CliError> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let files = discover(&paths)
        .and_then(|found| {
            found
                .iter()
                .map(|p| TestFile::load(p))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(usage)?;
    let module = load_module(args.module.as_deref(), args.limits.limits())?;
    let options = RunOptions {
        config: args.config.clone(),
    };
    let report = run_tests(&module, &files, &options).map_err(usage)?;
    let output = match args.format {
        Format::Text => report.to_text(args.coverage),
        Format::Json => report.to_json() + "\n",
    };
    // A reader that stops early (`| head`) is not an error of the tests.
    let _ = std::io::stdout().lock().write_all(output.as_bytes());
    Ok(if report.all_passed() {
        EXIT_ALLOW
    } else {
        EXIT_TEST_FAILED
    })
}

/// A test file or policy that cannot be run is a usage error (exit 2).
fn usage(error: TestError) -> CliError {
    CliError::Usage(error.to_string())
}
