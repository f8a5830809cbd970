//! Policy tests (`tollgate test`): host-side unit tests for a policy module
//! and its policy document, with no token pasted and no network.
//!
//! A test file (`<name>.test.toml`, [`TestFile`]) names a policy document
//! and lists cases: a request, the token as claims and header fields (or a
//! literal credential, or none), and what the decision must be. The runner
//! ([`run`]) configures the module once per policy document with
//! throwaway keys bound to its issuers in place of their real key sources,
//! mints each case's token with them, decides it through
//! [`tollgate_host::Authorizer::authorize`] and compares the decision with
//! the case's [`Expect`]. The [`Report`] has a result per case, totals, the
//! rules each case reached (coverage) and the manifest's warnings, as text
//! or JSON. The format and the output: `docs/testing.md`.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tollgate_policy_test::{RunOptions, TestFile, discover, run};
//! let module = tollgate_host::PolicyModule::default_module(Default::default())?;
//! let files = discover(&["policies".into()])?
//!     .iter()
//!     .map(|path| TestFile::load(path))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let report = run(&module, &files, &RunOptions::default())?;
//! print!("{}", report.to_text(true));
//! # Ok(())
//! # }
//! ```

mod error;
mod expect;
mod fields;
mod file;
mod keys;
mod report;
mod run;

use std::path::{Path, PathBuf};

pub use error::TestError;
pub use expect::{DecisionKind, Expect};
pub use file::{ABSENT, Case, Credential, TEST_FILE_SUFFIX, TestFile, TokenSpec};
pub use keys::{DEFAULT_LIFETIME_SECONDS, KID_PREFIX};
pub use report::{CaseResult, Coverage, Got, Report, RuleCount, Warning};
pub use run::{RunOptions, run};

/// The test files `paths` name: a file as given, a folder searched
/// recursively for `*.test.toml` (skipping hidden folders and `target`),
/// sorted within each folder; each file once, in the order found. No test
/// file at all is an error.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TestError> {
    let mut found = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|source| TestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if metadata.is_dir() {
            search(path, &mut found)?;
        } else if !found.contains(path) {
            found.push(path.clone());
        }
    }
    if found.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(TestError::NoTestFiles {
            paths: names.join(", "),
        });
    }
    Ok(found)
}

fn search(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), TestError> {
    let unreadable = |source| TestError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                search(&path, found)?;
            }
        } else if name.ends_with(TEST_FILE_SUFFIX) && !found.contains(&path) {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn discover_searches_folders_and_keeps_files_as_given() {
        let root = std::env::temp_dir().join(format!("tollgate-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let scratch = Scratch(root.clone());
        for dir in ["a/b", "a/.hidden", "a/target"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [
            "a/z.test.toml",
            "a/b/y.test.toml",
            "a/policy.toml",
            "a/.hidden/x.test.toml",
            "a/target/w.test.toml",
            "a/other.toml",
        ] {
            std::fs::write(root.join(file), "").unwrap();
        }
        let found = discover(&[
            root.join("a"),
            root.join("a/other.toml"),
            root.join("a/z.test.toml"),
        ])
        .unwrap();
        assert_eq!(
            found,
            vec![
                root.join("a/b/y.test.toml"),
                root.join("a/z.test.toml"),
                root.join("a/other.toml")
            ]
        );
        let err = discover(&[root.join("a/b/..").join("missing")]).unwrap_err();
        assert!(err.to_string().starts_with("cannot read "), "{err}");
        std::fs::create_dir_all(root.join("empty")).unwrap();
        let err = discover(&[root.join("empty")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no test files under {}; name test files `<name>.test.toml` or pass each file's path",
                root.join("empty").display()
            )
        );
        drop(scratch);
    }
}
