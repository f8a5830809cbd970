//! Writing a bundle: deterministic bytes from the same inputs.

use crate::digest::sha256_hex;
use crate::error::BundleError;
use crate::keys::signature_key_id;
use crate::manifest::{
    BundleManifest, DeclaredChange, FORMAT, MANIFEST_PATH, MODULE_PATH, POLICY_PATH, Part,
    PartKind, SIGNATURE_PATH, validate_manifest, validate_target,
};
use crate::read::{Bundle, ReadLimits};

/// A precompiled module for one target and engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The target it was compiled for (e.g. `x86_64-unknown-linux-gnu`);
    /// the part is stored at `artifacts/<target>.cwasm`.
    pub target: String,
    /// The engine fingerprint it was compiled with; a host loads it only
    /// when its own fingerprint is exactly this.
    pub engine: String,
    /// The precompiled bytes.
    pub bytes: Vec<u8>,
}

/// Everything a bundle holds, to be written with [`BundleBuilder::to_bytes`].
///
/// The same inputs always give the same bytes: every tar entry has mtime 0,
/// uid and gid 0, mode 0644 and no owner names; the parts are written
/// module, artifacts, policy, tests, files, each kind sorted by path; the
/// manifest is pretty-printed JSON in a fixed field order. Only `created`
/// (given by the caller) changes from one build to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleBuilder {
    /// The bundle's name (`[a-z0-9][a-z0-9._-]{0,63}`).
    pub name: String,
    /// The revision.
    pub revision: u64,
    /// The WIT version the module targets (`major.minor.patch`).
    pub wit: String,
    /// When it was built (RFC 3339 by convention, e.g.
    /// `2026-12-01T06:00:00Z`).
    pub created: String,
    /// The module (a WebAssembly component).
    pub module: Vec<u8>,
    /// Precompiled artifacts (at most one per target).
    pub artifacts: Vec<Artifact>,
    /// The policy document.
    pub policy: String,
    /// Test files: (path in the bundle, `tests/….test.toml`, text).
    pub tests: Vec<(String, String)>,
    /// Files the policy names: (path in the bundle, `files/…`, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    /// Declared widening changes, in the order given.
    pub declared_changes: Vec<DeclaredChange>,
}

impl BundleBuilder {
    /// A bundle of a module and a policy, without artifacts, tests, files
    /// or declared changes yet.
    pub fn new(
        name: impl Into<String>,
        revision: u64,
        wit: impl Into<String>,
        created: impl Into<String>,
        module: Vec<u8>,
        policy: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            revision,
            wit: wit.into(),
            created: created.into(),
            module,
            artifacts: Vec::new(),
            policy: policy.into(),
            tests: Vec::new(),
            files: Vec::new(),
            declared_changes: Vec::new(),
        }
    }

    /// Adds a precompiled artifact.
    #[must_use]
    pub fn artifact(mut self, artifact: Artifact) -> Self {
        self.artifacts.push(artifact);
        self
    }

    /// Adds a test file at `path` (`tests/….test.toml`).
    #[must_use]
    pub fn test(mut self, path: impl Into<String>, text: impl Into<String>) -> Self {
        self.tests.push((path.into(), text.into()));
        self
    }

    /// Adds a file at `path` (`files/…`).
    #[must_use]
    pub fn file(mut self, path: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.files.push((path.into(), bytes));
        self
    }

    /// Adds a declared change.
    #[must_use]
    pub fn declared_change(mut self, change: DeclaredChange) -> Self {
        self.declared_changes.push(change);
        self
    }

    /// The parts in archive order: (manifest entry, bytes).
    fn ordered_parts(&self) -> Result<Vec<(Part, &[u8])>, BundleError> {
        let part = |path: String, kind, bytes: &[u8]| Part {
            path,
            kind,
            target: None,
            engine: None,
            sha256: sha256_hex(bytes),
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        };
        let mut parts = vec![(
            part(MODULE_PATH.to_owned(), PartKind::Module, &self.module),
            self.module.as_slice(),
        )];
        let mut artifacts: Vec<&Artifact> = self.artifacts.iter().collect();
        artifacts.sort_by(|a, b| a.target.cmp(&b.target));
        for artifact in artifacts {
            validate_target(&artifact.target)?;
            let mut entry = part(
                format!("artifacts/{}.cwasm", artifact.target),
                PartKind::Artifact,
                &artifact.bytes,
            );
            entry.target = Some(artifact.target.clone());
            entry.engine = Some(artifact.engine.clone());
            parts.push((entry, artifact.bytes.as_slice()));
        }
        parts.push((
            part(
                POLICY_PATH.to_owned(),
                PartKind::Policy,
                self.policy.as_bytes(),
            ),
            self.policy.as_bytes(),
        ));
        let mut tests: Vec<(&str, &[u8])> = self
            .tests
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_bytes()))
            .collect();
        tests.sort_unstable();
        for (path, bytes) in tests {
            parts.push((part(path.to_owned(), PartKind::Test, bytes), bytes));
        }
        let mut files: Vec<(&str, &[u8])> = self
            .files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
            .collect();
        files.sort_unstable();
        for (path, bytes) in files {
            parts.push((part(path.to_owned(), PartKind::File, bytes), bytes));
        }
        Ok(parts)
    }

    /// The manifest these inputs give (checked as [`crate::Bundle::read`]
    /// checks it).
    pub fn manifest(&self) -> Result<BundleManifest, BundleError> {
        let parts = self.ordered_parts()?;
        let manifest = BundleManifest {
            format: FORMAT,
            name: self.name.clone(),
            revision: self.revision,
            wit: self.wit.clone(),
            created: self.created.clone(),
            parts: parts.into_iter().map(|(part, _)| part).collect(),
            declared_changes: self.declared_changes.clone(),
        };
        validate_manifest(&manifest)?;
        Ok(manifest)
    }

    /// The bundle file (unsigned): checks everything [`crate::Bundle::read`]
    /// checks about the manifest, then writes the tar.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BundleError> {
        let manifest = self.manifest()?;
        let manifest_bytes = manifest_json(&manifest)?;
        let parts = self.ordered_parts()?;
        let entries: Vec<(&str, &[u8])> = parts
            .iter()
            .map(|(part, bytes)| (part.path.as_str(), *bytes))
            .collect();
        write_archive(&manifest_bytes, None, &entries)
    }
}

/// The bytes of `manifest.json` for a manifest: pretty-printed JSON and a
/// final newline.
pub(crate) fn manifest_json(manifest: &BundleManifest) -> Result<Vec<u8>, BundleError> {
    let mut bytes = serde_json::to_vec_pretty(manifest).map_err(|e| BundleError::Write {
        detail: format!("cannot serialize the manifest: {e}"),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes the archive: manifest, optional signature, then the parts in the
/// order given, each a regular file with mtime 0, uid/gid 0, mode 0644.
pub(crate) fn write_archive(
    manifest: &[u8],
    signature: Option<&str>,
    parts: &[(&str, &[u8])],
) -> Result<Vec<u8>, BundleError> {
    let mut builder = tar::Builder::new(Vec::new());
    append(&mut builder, MANIFEST_PATH, manifest)?;
    if let Some(signature) = signature {
        append(&mut builder, SIGNATURE_PATH, signature.as_bytes())?;
    }
    for (path, bytes) in parts {
        append(&mut builder, path, bytes)?;
    }
    builder.into_inner().map_err(|e| BundleError::Write {
        detail: e.to_string(),
    })
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    bytes: &[u8],
) -> Result<(), BundleError> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
    builder
        .append_data(&mut header, path, bytes)
        .map_err(|e| BundleError::Write {
            detail: format!("{path}: {e}"),
        })
}

/// Puts `signature` (the text of a minisign signature of the bundle's
/// `manifest.json`, e.g. made with `minisign -Sm manifest.json`) into the
/// bundle as `manifest.json.minisig`, replacing any signature there, and
/// returns the new bundle file. The signature's shape is checked, not
/// whether it verifies (that needs the trusted keys: [`Bundle::verify`]).
pub fn attach_signature(bundle: &[u8], signature: &str) -> Result<Vec<u8>, BundleError> {
    let bundle = Bundle::read(
        bundle,
        &ReadLimits {
            max_bytes: u64::MAX,
        },
    )?;
    minisign_verify::Signature::decode(signature).map_err(|e| BundleError::BadSignature {
        detail: format!("not a minisign signature ({e})"),
    })?;
    if signature_key_id(signature).is_none() {
        return Err(BundleError::BadSignature {
            detail: "not a minisign signature (no key id)".to_owned(),
        });
    }
    let mut text = signature.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    rewrite(&bundle, Some(&text))
}

/// Writes `bundle` again with `signature` (or none) and the same manifest
/// bytes and parts.
pub(crate) fn rewrite(bundle: &Bundle, signature: Option<&str>) -> Result<Vec<u8>, BundleError> {
    let entries: Vec<(&str, &[u8])> = bundle
        .parts()
        .map(|(path, _, bytes)| (path, bytes))
        .collect();
    write_archive(bundle.manifest_bytes(), signature, &entries)
}
