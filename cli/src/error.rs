//! What can go wrong on the command line.

use std::path::Path;

use tollgate_host::{AuthorizerError, ModuleError};

use crate::EXIT_USAGE;

/// What can go wrong on the command line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// Setting up the authorizer failed (config, module, keys).
    #[error(transparent)]
    Setup(#[from] AuthorizerError),
    /// Loading or compiling the module failed.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// Key or token minting failed.
    #[error(transparent)]
    Mint(#[from] tollgate_keys::mint::MintError),
    /// The async runtime for fetching remote keys could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        EXIT_USAGE
    }
}

/// An I/O error on `path`, as a [`CliError::Io`].
pub fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.display().to_string(),
        source,
    }
}
