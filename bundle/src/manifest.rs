//! The manifest (`manifest.json`), its checks, and the path rules.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::BundleError;

/// The bundle format this crate writes and reads.
pub const FORMAT: u32 = 1;

/// The path of the manifest entry (always the first entry).
pub const MANIFEST_PATH: &str = "manifest.json";

/// The path of the signature entry (right after the manifest, if present).
pub const SIGNATURE_PATH: &str = "manifest.json.minisig";

/// The path of the module part.
pub const MODULE_PATH: &str = "module.wasm";

/// The path of the policy part.
pub const POLICY_PATH: &str = "policy.toml";

/// The longest path a bundle entry may have, in bytes.
pub const MAX_PATH_BYTES: usize = 255;

/// The largest `manifest.json` read, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// The largest `manifest.json.minisig` read, in bytes.
pub const MAX_SIGNATURE_BYTES: u64 = 4096;

/// The manifest: what the bundle is and the digest of every part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// The bundle format ([`FORMAT`]).
    pub format: u32,
    /// The bundle's name (`[a-z0-9][a-z0-9._-]{0,63}`); a host only
    /// activates bundles of the name it is configured with.
    pub name: String,
    /// The revision; a host never activates a lower revision than the
    /// active one (except by an explicit rollback).
    pub revision: u64,
    /// The version of the `tollgate:policy` WIT world the module targets
    /// (`major.minor.patch`).
    pub wit: String,
    /// When the bundle was built, as the builder wrote it (RFC 3339 by
    /// convention; not interpreted).
    pub created: String,
    /// The parts, in archive order.
    pub parts: Vec<Part>,
    /// Changes that widen access on purpose (the shadow run does not hold
    /// them against automatic promotion).
    #[serde(default)]
    pub declared_changes: Vec<DeclaredChange>,
}

/// One part of a bundle: a file after the manifest (and signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// The path in the archive.
    pub path: String,
    /// What the part is.
    pub kind: PartKind,
    /// For an artifact: the target it was compiled for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// For an artifact: the engine fingerprint it was compiled with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The SHA-256 of the part's bytes, 64 lower-case hex digits.
    pub sha256: String,
    /// The part's size in bytes.
    pub size: u64,
}

/// What a part is; each kind lives at a fixed place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartKind {
    /// The policy module (a WebAssembly component), at `module.wasm`.
    Module,
    /// A precompiled module for one target and engine, under `artifacts/`.
    Artifact,
    /// The policy document, at `policy.toml`.
    Policy,
    /// A test file (`tollgate test` cases), under `tests/`, ending
    /// `.test.toml`.
    Test,
    /// A file the policy names (e.g. a JWKS), under `files/`.
    File,
}

impl PartKind {
    /// The kind's name as the manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PartKind::Module => "module",
            PartKind::Artifact => "artifact",
            PartKind::Policy => "policy",
            PartKind::Test => "test",
            PartKind::File => "file",
        }
    }
}

impl fmt::Display for PartKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change that widens access on purpose: requests matching `methods`
/// and `path` that the live bundle denied with reason `from` may be
/// allowed by this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredChange {
    /// The methods (upper case), or `"*"` for every method.
    pub methods: Vec<String>,
    /// The path pattern, in grant syntax (e.g. `/reports/*`).
    pub path: String,
    /// The deny reason the live bundle gave (e.g. `forbidden`).
    pub from: String,
    /// Why (for people reading the manifest and the logs).
    #[serde(default)]
    pub note: String,
}

/// Checks a bundle name: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn validate_name(name: &str) -> Result<(), BundleError> {
    let bytes = name.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if first_ok && rest_ok && bytes.len() <= 64 {
        Ok(())
    } else {
        Err(BundleError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// Checks a WIT version: `major.minor.patch`, each a decimal number
/// without leading zeros.
pub fn validate_wit(wit: &str) -> Result<(), BundleError> {
    let mut count = 0;
    let all_ok = wit.split('.').all(|piece| {
        count += 1;
        !piece.is_empty()
            && piece.len() <= 9
            && piece.bytes().all(|b| b.is_ascii_digit())
            && (piece == "0" || !piece.starts_with('0'))
    });
    if all_ok && count == 3 {
        Ok(())
    } else {
        Err(BundleError::InvalidWit {
            wit: wit.to_owned(),
        })
    }
}

/// Checks that a precompilation target or artifact target is a plain name
/// (`[A-Za-z0-9._-]`, 1 to 64 characters).
pub fn validate_target(target: &str) -> Result<(), BundleError> {
    let ok = !target.is_empty()
        && target.len() <= 64
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !target.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(BundleError::InvalidTarget {
            target: target.to_owned(),
        })
    }
}

/// Checks that `path` is a safe relative bundle path: not empty, at most
/// [`MAX_PATH_BYTES`], not absolute, no `\`, NUL or other control
/// character, no empty, `.` or `..` segment.
pub fn validate_path(path: &str) -> Result<(), BundleError> {
    let refuse = |reason| {
        Err(BundleError::InvalidPath {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return refuse("it is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return refuse("it is longer than 255 bytes");
    }
    if path.starts_with('/') {
        return refuse("it is absolute");
    }
    if path.contains('\\') {
        return refuse("it holds a backslash");
    }
    if path.contains('\0') {
        return refuse("it holds a NUL byte");
    }
    if path.chars().any(char::is_control) {
        return refuse("it holds a control character");
    }
    for segment in path.split('/') {
        match segment {
            "" => return refuse("it has an empty segment ('//' or a trailing '/')"),
            "." => return refuse("it has a '.' segment"),
            ".." => return refuse("it has a '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks that a part of `kind` lives where that kind lives.
pub fn validate_part_path(path: &str, kind: PartKind) -> Result<(), BundleError> {
    validate_path(path)?;
    let (ok, rule) = match kind {
        PartKind::Module => (path == MODULE_PATH, "the module is at module.wasm"),
        PartKind::Policy => (path == POLICY_PATH, "the policy is at policy.toml"),
        PartKind::Artifact => (
            path.starts_with("artifacts/"),
            "artifacts live under artifacts/",
        ),
        PartKind::Test => (
            path.strip_prefix("tests/")
                .and_then(|rest| rest.strip_suffix(".test.toml"))
                .is_some_and(|stem| !stem.is_empty() && !stem.ends_with('/')),
            "test files live under tests/ and end in .test.toml",
        ),
        PartKind::File => (path.starts_with("files/"), "files live under files/"),
    };
    if ok {
        Ok(())
    } else {
        Err(BundleError::WrongFolder {
            path: path.to_owned(),
            kind: kind.to_string(),
            rule,
        })
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn validate_free_text(field: String, text: &str, max: usize) -> Result<(), BundleError> {
    if text.len() > max {
        return Err(BundleError::InvalidField {
            field,
            detail: format!("longer than {max} bytes"),
        });
    }
    if text.chars().any(char::is_control) {
        return Err(BundleError::InvalidField {
            field,
            detail: "holds a control character (a line break?)".to_owned(),
        });
    }
    Ok(())
}

/// The live deny reasons a declared change may turn into an allow: route
/// decisions (`forbidden`, `insufficient-scope`) and a route opened to
/// callers without a token (`missing-token`). Never a refused token
/// (`bad-signature`, `expired`, `wrong-audience` …).
pub const DECLARABLE_REASONS: [&str; 3] = ["forbidden", "insufficient-scope", "missing-token"];

/// Checks a declared change (as in bundle.toml or the manifest).
pub fn validate_declared_change(index: usize, change: &DeclaredChange) -> Result<(), BundleError> {
    let field = |name: &str| format!("declared_changes[{index}].{name}");
    if change.methods.is_empty() {
        return Err(BundleError::InvalidField {
            field: field("methods"),
            detail: "empty: list the methods (e.g. [\"GET\"]) or [\"*\"] for all".to_owned(),
        });
    }
    for method in &change.methods {
        let token = !method.is_empty()
            && method.len() <= 32
            && method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
        if !(token || method == "*") {
            return Err(BundleError::InvalidField {
                field: field("methods"),
                detail: format!("{method:?} is not an upper-case method name or \"*\""),
            });
        }
    }
    if !change.path.starts_with('/') {
        return Err(BundleError::InvalidField {
            field: field("path"),
            detail: format!(
                "{:?} does not start with '/': write a path pattern such as \"/reports/*\"",
                change.path
            ),
        });
    }
    validate_free_text(field("path"), &change.path, 1024)?;
    if change.methods.iter().any(|m| m == "*") && change.path == "/*" {
        return Err(BundleError::InvalidField {
            field: field("path"),
            detail: "every method on every path declares nothing: name the routes that change"
                .to_owned(),
        });
    }
    if !DECLARABLE_REASONS.contains(&change.from.as_str()) {
        return Err(BundleError::InvalidField {
            field: field("from"),
            detail: format!(
                "{:?} cannot be declared: a change may only turn an authorization refusal into an allow ({}); a token the live bundle refuses as invalid must stay refused",
                change.from,
                DECLARABLE_REASONS.join(", ")
            ),
        });
    }
    validate_free_text(field("from"), &change.from, 128)?;
    validate_free_text(field("note"), &change.note, 1024)?;
    Ok(())
}

/// Checks everything a manifest says that does not need the parts' bytes:
/// format, name, WIT version, paths and kinds, digests' shape, one module
/// and one policy, artifact fields, no duplicate paths or artifact targets.
pub fn validate_manifest(manifest: &BundleManifest) -> Result<(), BundleError> {
    if manifest.format != FORMAT {
        return Err(BundleError::UnknownFormat {
            format: manifest.format,
            supported: FORMAT,
        });
    }
    validate_name(&manifest.name)?;
    validate_wit(&manifest.wit)?;
    validate_free_text("created".to_owned(), &manifest.created, 64)?;
    for (kind, name) in [(PartKind::Module, "module"), (PartKind::Policy, "policy")] {
        let count = manifest
            .parts
            .iter()
            .filter(|part| part.kind == kind)
            .count();
        if count != 1 {
            return Err(BundleError::PartCount { kind: name, count });
        }
    }
    let mut paths = HashSet::new();
    let mut targets = HashSet::new();
    for (index, part) in manifest.parts.iter().enumerate() {
        validate_part_path(&part.path, part.kind)?;
        if !paths.insert(part.path.as_str()) {
            return Err(BundleError::DuplicateEntry {
                path: part.path.clone(),
            });
        }
        if !is_sha256_hex(&part.sha256) {
            return Err(BundleError::InvalidField {
                field: format!("parts[{index}].sha256"),
                detail: "not 64 lower-case hex digits".to_owned(),
            });
        }
        if part.kind == PartKind::Artifact {
            let (Some(target), Some(engine)) = (&part.target, &part.engine) else {
                return Err(BundleError::ArtifactFields {
                    path: part.path.clone(),
                    detail: "an artifact needs both `target` and `engine` (the engine fingerprint it was compiled with)",
                });
            };
            validate_target(target)?;
            if engine.is_empty() {
                return Err(BundleError::ArtifactFields {
                    path: part.path.clone(),
                    detail: "an artifact's `engine` is empty",
                });
            }
            validate_free_text(format!("parts[{index}].engine"), engine, 256)?;
            if !targets.insert(target.as_str()) {
                return Err(BundleError::DuplicateArtifact {
                    target: target.clone(),
                });
            }
        } else if part.target.is_some() || part.engine.is_some() {
            return Err(BundleError::ArtifactFields {
                path: part.path.clone(),
                detail: "only artifacts carry `target` and `engine`",
            });
        }
    }
    for (index, change) in manifest.declared_changes.iter().enumerate() {
        validate_declared_change(index, change)?;
    }
    Ok(())
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
    fn declared_changes_only_open_authorization_refusals() {
        let change = |methods: &[&str], path: &str, from: &str| DeclaredChange {
            methods: methods.iter().map(|m| m.to_string()).collect(),
            path: path.to_string(),
            from: from.to_string(),
            note: String::new(),
        };
        for from in DECLARABLE_REASONS {
            assert!(validate_declared_change(0, &change(&["GET"], "/reports/*", from)).is_ok());
        }
        for from in [
            "bad-signature",
            "expired",
            "wrong-audience",
            "unknown-key",
            "anything",
        ] {
            let error = validate_declared_change(0, &change(&["GET"], "/reports/*", from))
                .expect_err(from)
                .to_string();
            assert!(error.contains("cannot be declared"), "{error}");
        }
        let error = validate_declared_change(0, &change(&["*"], "/*", "forbidden"))
            .expect_err("everything")
            .to_string();
        assert!(error.contains("declares nothing"), "{error}");
        assert!(validate_declared_change(0, &change(&["GET"], "/*", "forbidden")).is_ok());
    }

    #[test]
    fn names() {
        for ok in ["a", "orders-api", "0.x_y-z", &"a".repeat(64)] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "-a", ".a", "A", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(
                matches!(validate_name(bad), Err(BundleError::InvalidName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn wit_versions() {
        for ok in ["0.5.0", "1.22.333", "0.0.0"] {
            validate_wit(ok).unwrap();
        }
        for bad in [
            "",
            "0.5",
            "0.5.0.1",
            "v0.5.0",
            "0.05.0",
            "0..0",
            "0.5.x",
            "0.5.0-rc1",
        ] {
            assert!(
                matches!(validate_wit(bad), Err(BundleError::InvalidWit { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths() {
        for ok in [
            "module.wasm",
            "files/keys/jwks.json",
            "tests/a.test.toml",
            "files/..x",
        ] {
            validate_path(ok).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "files/../x",
            "files//x",
            "files/x/",
            "files/./x",
            "files\\x",
            "files/\0",
            "files/\nx",
            ".",
        ] {
            assert!(
                matches!(validate_path(bad), Err(BundleError::InvalidPath { .. })),
                "{bad:?}"
            );
        }
        assert!(validate_path(&"a".repeat(256)).is_err());
    }

    #[test]
    fn part_folders() {
        validate_part_path("module.wasm", PartKind::Module).unwrap();
        validate_part_path("tests/a/b.test.toml", PartKind::Test).unwrap();
        validate_part_path("artifacts/x.cwasm", PartKind::Artifact).unwrap();
        validate_part_path("files/a", PartKind::File).unwrap();
        for (path, kind) in [
            ("files/module.wasm", PartKind::Module),
            ("tests/a.toml", PartKind::Test),
            ("tests/.test.toml", PartKind::Test),
            ("files/a.test.toml", PartKind::Test),
            ("policy.toml", PartKind::File),
            ("x.cwasm", PartKind::Artifact),
            ("files/policy.toml", PartKind::Policy),
            ("manifest.json", PartKind::File),
        ] {
            assert!(
                matches!(
                    validate_part_path(path, kind),
                    Err(BundleError::WrongFolder { .. })
                ),
                "{path} {kind}"
            );
        }
    }

    #[test]
    fn manifest_json_shape() {
        let text = r#"{"format":1,"name":"orders-api","revision":42,"wit":"0.5.0",
            "created":"2026-12-01T06:00:00Z",
            "parts":[{"path":"module.wasm","kind":"module","sha256":"00000000000000000000000000000000000000000000000000000000000000aa","size":1},
                     {"path":"policy.toml","kind":"policy","sha256":"00000000000000000000000000000000000000000000000000000000000000bb","size":2}],
            "declared_changes":[{"methods":["GET"],"path":"/reports/*","from":"forbidden","note":"n"}]}"#;
        let manifest: BundleManifest = serde_json::from_str(text).unwrap();
        validate_manifest(&manifest).unwrap();
        let unknown = text.replace("\"created\"", "\"extra\":1,\"created\"");
        let error = serde_json::from_str::<BundleManifest>(&unknown).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `extra`"),
            "{error}"
        );
    }
}
