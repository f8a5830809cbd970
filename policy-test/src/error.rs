//! What stops a test run before any case is decided: a usage or
//! configuration problem, never a failing case.

use tollgate_host::AuthorizerError;
use tollgate_host::model::Algorithm;

/// Why test files could not be found, read, configured or run. A failing
/// case is not an error: it is a [`crate::CaseResult`] that did not pass.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The paths given hold no test file.
    #[error(
        "no test files under {paths}; name test files `<name>.test.toml` or pass each file's path"
    )]
    NoTestFiles {
        /// The paths searched, comma-separated.
        paths: String,
    },
    /// A test file is not what the format allows.
    #[error("invalid test file {path}: `{field}`: {message}")]
    Invalid {
        /// The test file.
        path: String,
        /// The offending field, as a path (`case[2].expect.reason`).
        field: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// A test file names no policy document and none was given.
    #[error(
        "test file {path} names no policy document; write `config = \"policy.toml\"` (relative to the test file) at its top, or pass --config"
    )]
    NoConfig {
        /// The test file.
        path: String,
    },
    /// The policy document a test file names could not be read.
    #[error(
        "test file {path}: cannot read policy document {config}: {source}; fix `config` (relative to the test file) or pass --config"
    )]
    ReadConfig {
        /// The test file.
        path: String,
        /// The policy document.
        config: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The module refused the policy document (or could not run).
    #[error("test file {path}: {source}")]
    Policy {
        /// The test file.
        path: String,
        /// Why the module refused it.
        source: AuthorizerError,
    },
    /// A throwaway key could not be made or used.
    #[error("cannot make or use a throwaway {alg} key for issuer {issuer}: {reason}")]
    Mint {
        /// The issuer the key signs for.
        issuer: String,
        /// Its algorithm.
        alg: Algorithm,
        /// What failed.
        reason: String,
    },
}

/// A problem at one field of a test file (the file is added by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn in_file(self, path: &std::path::Path) -> TestError {
        TestError::Invalid {
            path: path.display().to_string(),
            field: self.field,
            message: self.message,
        }
    }
}
