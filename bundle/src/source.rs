//! The build folder `tollgate bundle build DIR` reads.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::build::{Artifact, BundleBuilder};
use crate::error::BundleError;
use crate::manifest::{
    DeclaredChange, PartKind, validate_declared_change, validate_name, validate_part_path,
    validate_target,
};
use crate::read::DEFAULT_MAX_BYTES;

/// `bundle.toml`: what the bundle is called and how it is built.
///
/// ```toml
/// name = "orders-api"
/// revision = 42
/// module = "target/wasm32-wasip2/release/orders_policy.wasm"   # optional
/// targets = ["x86_64", "aarch64"]                               # optional
///
/// [[declared_change]]
/// methods = ["GET"]
/// path = "/reports/*"
/// from = "forbidden"
/// note = "reports opened to all staff"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// The bundle's name.
    pub name: String,
    /// The revision (raise it for every bundle published).
    pub revision: u64,
    /// The module, relative to the folder; absent: the caller's default
    /// module.
    #[serde(default)]
    pub module: Option<String>,
    /// Targets to precompile the module for (the caller does that).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Declared widening changes (`[[declared_change]]`).
    #[serde(default, rename = "declared_change")]
    pub declared_changes: Vec<DeclaredChange>,
}

/// The contents of a build folder, read and checked: `bundle.toml`,
/// `policy.toml`, `tests/**/*.test.toml`, `files/**` and the module
/// `bundle.toml` names.
///
/// The caller adds what the folder does not hold (the default module, the
/// WIT version, precompiled artifacts, the creation time):
///
/// ```no_run
/// # fn main() -> Result<(), tollgate_bundle::BundleError> {
/// # let default_module: Vec<u8> = Vec::new();
/// use tollgate_bundle::BundleSource;
/// let source = BundleSource::from_dir("policy-bundle".as_ref())?;
/// let module = source.module().unwrap_or(&default_module).to_vec();
/// // ... precompile `module` for `source.config.targets` into artifacts ...
/// let builder = source.into_builder(Some(module), "0.5.0", Vec::new(), "2026-12-01T06:00:00Z")?;
/// let bytes = builder.to_bytes()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSource {
    /// The folder read.
    pub dir: PathBuf,
    /// `bundle.toml`.
    pub config: BundleConfig,
    /// The module `bundle.toml` names, if it names one.
    pub module: Option<Vec<u8>>,
    /// `policy.toml`.
    pub policy: String,
    /// The test files: (path in the bundle, `tests/….test.toml`, text),
    /// sorted by path.
    pub tests: Vec<(String, String)>,
    /// The files: (path in the bundle, `files/…`, bytes), sorted by path.
    pub files: Vec<(String, Vec<u8>)>,
}

/// How many bytes may still be read from the folder.
struct Budget {
    left: u64,
    max: u64,
}

impl Budget {
    fn read(&mut self, path: &Path) -> Result<Vec<u8>, BundleError> {
        regular_file(path)?;
        let file = fs::File::open(path).map_err(|source| BundleError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let mut data = Vec::new();
        file.take(self.left.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|source| BundleError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })?;
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if len > self.left {
            return Err(BundleError::SourceTooLarge { max: self.max });
        }
        self.left -= len;
        Ok(data)
    }

    fn read_text(&mut self, path: &Path) -> Result<String, BundleError> {
        String::from_utf8(self.read(path)?).map_err(|_| BundleError::NotUtf8 {
            path: path.display().to_string(),
        })
    }
}

/// Refuses a symlink or anything but a regular file at `path`.
fn regular_file(path: &Path) -> Result<(), BundleError> {
    let meta = fs::symlink_metadata(path).map_err(|source| BundleError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(BundleError::Symlink {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_file() {
        return Err(BundleError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Whether `path` exists (without following a symlink).
fn exists(path: &Path) -> Result<bool, BundleError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(BundleError::Io {
            action: "inspect",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Lists the regular files under `dir` (recursively), as bundle paths
/// starting with `prefix`, refusing symlinks and special files.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), BundleError> {
    let meta = fs::symlink_metadata(dir).map_err(|source| BundleError::Io {
        action: "read",
        path: dir.to_path_buf(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(BundleError::Symlink {
            path: dir.to_path_buf(),
        });
    }
    if !meta.is_dir() {
        return Err(BundleError::NotAFile {
            path: dir.to_path_buf(),
        });
    }
    let read_error = |source| BundleError::Io {
        action: "read",
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|name| BundleError::InvalidPath {
                path: name.to_string_lossy().into_owned(),
                reason: "its name is not UTF-8",
            })?;
        let bundle_path = format!("{prefix}/{name}");
        let file_type = entry.file_type().map_err(|source| BundleError::Io {
            action: "inspect",
            path: path.clone(),
            source,
        })?;
        if file_type.is_symlink() {
            return Err(BundleError::Symlink { path });
        } else if file_type.is_dir() {
            walk(&path, &bundle_path, out)?;
        } else if file_type.is_file() {
            out.push((bundle_path, path));
        } else {
            return Err(BundleError::NotAFile { path });
        }
    }
    Ok(())
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn toml_detail(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {}", error.message().trim())
        }
        None => error.message().trim().to_owned(),
    }
}

/// The `config` a test file at `bundle_path` may name: the relative path
/// from its folder to the bundle's `policy.toml`.
fn expected_config(bundle_path: &str) -> String {
    format!(
        "{}policy.toml",
        "../".repeat(bundle_path.matches('/').count())
    )
}

fn check_test_config(path: &Path, bundle_path: &str, text: &str) -> Result<(), BundleError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| BundleError::TestToml {
        path: path.to_path_buf(),
        detail: toml_detail(text, &e),
    })?;
    let expected = expected_config(bundle_path);
    match table.get("config") {
        None => Ok(()),
        Some(toml::Value::String(config)) if *config == expected => Ok(()),
        Some(other) => Err(BundleError::TestConfig {
            path: path.to_path_buf(),
            config: match other {
                toml::Value::String(config) => config.clone(),
                other => format!("a {} (not a string)", other.type_str()),
            },
            expected,
        }),
    }
}

impl BundleSource {
    /// Reads a build folder, with the default size cap (64 MiB, the
    /// default read limit of a bundle).
    pub fn from_dir(dir: &Path) -> Result<Self, BundleError> {
        Self::from_dir_with_limit(dir, DEFAULT_MAX_BYTES)
    }

    /// Reads a build folder, refusing more than `max_bytes` of module,
    /// policy, tests and files.
    ///
    /// Refuses: a missing or invalid `bundle.toml` (an unknown field is
    /// named), a missing `policy.toml`, symlinks and special files
    /// anywhere it reads, a file under `tests/` that does not end in
    /// `.test.toml`, a test file that is not TOML or whose `config` is
    /// other than absent or the relative path to the folder's
    /// `policy.toml` (`../policy.toml` for `tests/x.test.toml`), paths a
    /// bundle cannot hold, and more than `max_bytes`.
    pub fn from_dir_with_limit(dir: &Path, max_bytes: u64) -> Result<Self, BundleError> {
        let mut budget = Budget {
            left: max_bytes,
            max: max_bytes,
        };
        let config_path = dir.join("bundle.toml");
        if !exists(&config_path)? {
            return Err(BundleError::MissingFile {
                path: config_path,
                hint: "write name = \"...\" and revision = N (and optionally module, targets, [[declared_change]])",
            });
        }
        let config_text = budget.read_text(&config_path)?;
        let config: BundleConfig =
            toml::from_str(&config_text).map_err(|e| BundleError::BundleToml {
                path: config_path.clone(),
                detail: toml_detail(&config_text, &e),
            })?;
        validate_name(&config.name)?;
        for target in &config.targets {
            validate_target(target)?;
        }
        for (index, change) in config.declared_changes.iter().enumerate() {
            validate_declared_change(index, change).map_err(|e| BundleError::BundleToml {
                path: config_path.clone(),
                detail: format!("[[declared_change]] number {}: {e}", index + 1),
            })?;
        }

        let module = match &config.module {
            Some(module) => Some(budget.read(&dir.join(module))?),
            None => None,
        };

        let policy_path = dir.join("policy.toml");
        if !exists(&policy_path)? {
            return Err(BundleError::MissingFile {
                path: policy_path,
                hint: "the bundle's policy document",
            });
        }
        let policy = budget.read_text(&policy_path)?;

        let mut tests = Vec::new();
        let tests_dir = dir.join("tests");
        if exists(&tests_dir)? {
            let mut found = Vec::new();
            walk(&tests_dir, "tests", &mut found)?;
            found.sort();
            for (bundle_path, path) in found {
                if !bundle_path.ends_with(".test.toml") {
                    return Err(BundleError::NotATestFile { path });
                }
                validate_part_path(&bundle_path, PartKind::Test)?;
                let text = budget.read_text(&path)?;
                check_test_config(&path, &bundle_path, &text)?;
                tests.push((bundle_path, text));
            }
        }

        let mut files = Vec::new();
        let files_dir = dir.join("files");
        if exists(&files_dir)? {
            let mut found = Vec::new();
            walk(&files_dir, "files", &mut found)?;
            found.sort();
            for (bundle_path, path) in found {
                validate_part_path(&bundle_path, PartKind::File)?;
                files.push((bundle_path, budget.read(&path)?));
            }
        }

        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            module,
            policy,
            tests,
            files,
        })
    }

    /// The module `bundle.toml` names, if it names one (else the caller
    /// supplies the default module to [`BundleSource::into_builder`]).
    pub fn module(&self) -> Option<&[u8]> {
        self.module.as_deref()
    }

    /// The targets `bundle.toml` asks to precompile for.
    pub fn targets(&self) -> &[String] {
        &self.config.targets
    }

    /// The builder for this folder: the module is the folder's (named in
    /// `bundle.toml`) or else `default_module`
    /// ([`BundleError::ModuleMissing`] without either); `wit` is the WIT
    /// version the module targets, `artifacts` the precompiled module per
    /// target (made from [`BundleSource::module`] or the default), `created`
    /// the build time.
    pub fn into_builder(
        self,
        default_module: Option<Vec<u8>>,
        wit: &str,
        artifacts: Vec<Artifact>,
        created: &str,
    ) -> Result<BundleBuilder, BundleError> {
        let module = self
            .module
            .or(default_module)
            .ok_or(BundleError::ModuleMissing)?;
        let builder = BundleBuilder {
            name: self.config.name,
            revision: self.config.revision,
            wit: wit.to_owned(),
            created: created.to_owned(),
            module,
            artifacts,
            policy: self.policy,
            tests: self.tests,
            files: self.files,
            declared_changes: self.config.declared_changes,
        };
        builder.manifest()?;
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    #[test]
    fn expected_configs() {
        assert_eq!(expected_config("tests/a.test.toml"), "../policy.toml");
        assert_eq!(expected_config("tests/x/a.test.toml"), "../../policy.toml");
    }

    #[test]
    fn line_columns() {
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 0), (1, 1));
    }
}
