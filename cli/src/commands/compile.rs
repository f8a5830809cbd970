//! `tollgate compile`: precompile a policy module to a `.cwasm`.

use std::path::PathBuf;

use clap::Args;
use tollgate_host::module::{self, DEFAULT_MODULE, Target};

use crate::CliError;
use crate::error::io_error;

/// `tollgate compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The component to precompile; default: the embedded module.
    pub module: Option<PathBuf>,
    /// Where to write the `.cwasm`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Precompile for this architecture's baseline CPU (a deployment target
    /// such as Lambda) instead of this machine and its CPU features.
    #[arg(long, value_enum)]
    pub target: Option<CompileTarget>,
}

/// `tollgate compile --target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompileTarget {
    /// x86_64 Linux, baseline features (Lambda x86_64).
    #[value(name = "x86_64")]
    X86_64,
    /// aarch64 Linux, baseline features (Lambda arm64).
    #[value(name = "aarch64")]
    Aarch64,
}

impl From<CompileTarget> for Target {
    fn from(target: CompileTarget) -> Self {
        match target {
            CompileTarget::X86_64 => Target::X86_64,
            CompileTarget::Aarch64 => Target::Aarch64,
        }
    }
}

/// Run `tollgate compile`.
pub fn run(args: &CompileArgs) -> Result<(), CliError> {
    let wasm = match &args.module {
        Some(path) => std::fs::read(path).map_err(io_error(path))?,
        None => DEFAULT_MODULE.to_vec(),
    };
    let cwasm = module::precompile_for(&wasm, args.target.map(Into::into))?;
    std::fs::write(&args.output, &cwasm).map_err(io_error(&args.output))?;
    eprintln!(
        "tollgate: wrote {} ({} bytes) from a {}-byte component",
        args.output.display(),
        cwasm.len(),
        wasm.len()
    );
    Ok(())
}
