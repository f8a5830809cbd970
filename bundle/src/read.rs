//! Reading a bundle: every refusal of the format, then the accessors.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::digest::{BundleDigest, sha256_hex};
use crate::error::BundleError;
use crate::keys::{TrustedKeys, VerifiedBy, signature_key_id, signature_trusted_comment};
use crate::manifest::{
    BundleManifest, MANIFEST_PATH, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, PartKind,
    SIGNATURE_PATH, validate_manifest, validate_path,
};

/// The default size cap of a bundle: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Limits applied while reading a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// The largest bundle file accepted, in bytes (default 64 MiB).
    pub max_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// A bundle that passed every check of the format: each part is the one
/// the manifest lists, with its size and SHA-256. Whether it is signed by a
/// trusted key is a separate question: [`Bundle::verify`].
#[derive(Clone)]
pub struct Bundle {
    digest: BundleDigest,
    size: u64,
    manifest: BundleManifest,
    manifest_bytes: Vec<u8>,
    signature: Option<String>,
    /// The parts' bytes, in manifest order.
    contents: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("digest", &self.digest)
            .field("name", &self.manifest.name)
            .field("revision", &self.manifest.revision)
            .field("signed", &self.signature.is_some())
            .finish_non_exhaustive()
    }
}

fn not_tar(error: &io::Error) -> BundleError {
    BundleError::NotTar {
        detail: error.to_string(),
    }
}

fn entry_type_name(entry_type: tar::EntryType) -> String {
    match entry_type {
        tar::EntryType::Symlink => "symbolic link".to_owned(),
        tar::EntryType::Link => "hard link".to_owned(),
        tar::EntryType::Directory => "folder".to_owned(),
        tar::EntryType::Char => "character device".to_owned(),
        tar::EntryType::Block => "block device".to_owned(),
        tar::EntryType::Fifo => "FIFO".to_owned(),
        other => format!("tar entry of type {:?}", other.as_byte() as char),
    }
}

impl Bundle {
    /// Reads and checks a bundle.
    ///
    /// Refuses: more than `limits.max_bytes`; not a tar; a first entry other
    /// than `manifest.json`; an invalid manifest (unknown field, unknown
    /// `format`, invalid name or WIT version, a part outside its kind's
    /// folder, not exactly one module and one policy, an artifact without
    /// `target` and `engine`); entries that are not regular files; paths
    /// that are absolute or hold `..`, `.`, empty segments, `\` or NUL;
    /// duplicate, unlisted, misordered or missing entries; a size or
    /// SHA-256 that differs from the manifest's; a policy or test that is
    /// not UTF-8.
    pub fn read(bytes: &[u8], limits: &ReadLimits) -> Result<Bundle, BundleError> {
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > limits.max_bytes {
            return Err(BundleError::TooLarge {
                size,
                max: limits.max_bytes,
            });
        }
        let digest = BundleDigest::of(bytes);
        let mut archive = tar::Archive::new(bytes);
        let entries = archive.entries().map_err(|e| not_tar(&e))?;

        let mut manifest: Option<(BundleManifest, Vec<u8>, HashMap<String, usize>)> = None;
        let mut signature = None;
        let mut contents = Vec::new();
        for (position, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| not_tar(&e))?;
            let path = String::from_utf8(entry.path_bytes().into_owned()).map_err(|error| {
                BundleError::InvalidPath {
                    path: String::from_utf8_lossy(error.as_bytes()).into_owned(),
                    reason: "it is not UTF-8",
                }
            })?;
            validate_path(&path)?;
            let entry_type = entry.header().entry_type();
            if !entry_type.is_file() {
                return Err(BundleError::NotRegular {
                    path,
                    entry_type: entry_type_name(entry_type),
                });
            }
            let declared_size = entry.size();

            let Some((manifest, _, index)) = &manifest else {
                if path != MANIFEST_PATH {
                    return Err(BundleError::ManifestNotFirst { found: path });
                }
                if declared_size > MAX_MANIFEST_BYTES {
                    return Err(BundleError::ManifestInvalid {
                        detail: format!("it is larger than {MAX_MANIFEST_BYTES} bytes"),
                    });
                }
                let data = read_entry(&mut entry, &path, size)?;
                let parsed: BundleManifest =
                    serde_json::from_slice(&data).map_err(|e| BundleError::ManifestInvalid {
                        detail: e.to_string(),
                    })?;
                validate_manifest(&parsed)?;
                let index = parsed
                    .parts
                    .iter()
                    .enumerate()
                    .map(|(i, part)| (part.path.clone(), i))
                    .collect();
                manifest = Some((parsed, data, index));
                continue;
            };

            if path == MANIFEST_PATH {
                return Err(BundleError::DuplicateEntry { path });
            }
            if path == SIGNATURE_PATH {
                if position != 1 {
                    return Err(if signature.is_some() {
                        BundleError::DuplicateEntry { path }
                    } else {
                        BundleError::SignatureNotSecond
                    });
                }
                if declared_size > MAX_SIGNATURE_BYTES {
                    return Err(BundleError::BadSignature {
                        detail: format!(
                            "manifest.json.minisig is larger than {MAX_SIGNATURE_BYTES} bytes"
                        ),
                    });
                }
                let data = read_entry(&mut entry, &path, size)?;
                let text = String::from_utf8(data).map_err(|_| BundleError::BadSignature {
                    detail: "manifest.json.minisig is not UTF-8 text".to_owned(),
                })?;
                signature = Some(text);
                continue;
            }

            let next = contents.len();
            let Some(expected) = manifest.parts.get(next) else {
                return Err(match index.get(&path) {
                    Some(_) => BundleError::DuplicateEntry { path },
                    None => BundleError::ExtraEntry { path },
                });
            };
            if expected.path != path {
                return Err(match index.get(&path) {
                    Some(&at) if at < next => BundleError::DuplicateEntry { path },
                    Some(_) => BundleError::OutOfOrder {
                        path,
                        expected: expected.path.clone(),
                    },
                    None => BundleError::ExtraEntry { path },
                });
            }
            if declared_size != expected.size {
                return Err(BundleError::SizeMismatch {
                    path,
                    declared: expected.size,
                    actual: declared_size,
                });
            }
            let data = read_entry(&mut entry, &path, size)?;
            let actual = sha256_hex(&data);
            if actual != expected.sha256 {
                return Err(BundleError::DigestMismatch {
                    path,
                    declared: expected.sha256.clone(),
                    actual,
                });
            }
            if matches!(expected.kind, PartKind::Policy | PartKind::Test)
                && std::str::from_utf8(&data).is_err()
            {
                return Err(BundleError::NotUtf8 { path });
            }
            contents.push(data);
        }

        let Some((manifest, manifest_bytes, _)) = manifest else {
            return Err(BundleError::ManifestNotFirst {
                found: "nothing (an empty archive)".to_owned(),
            });
        };
        if let Some(missing) = manifest.parts.get(contents.len()) {
            return Err(BundleError::MissingPart {
                path: missing.path.clone(),
            });
        }
        Ok(Bundle {
            digest,
            size,
            manifest,
            manifest_bytes,
            signature,
            contents,
        })
    }

    /// The SHA-256 of the whole file as read.
    pub fn digest(&self) -> &BundleDigest {
        &self.digest
    }

    /// The size of the whole file as read, in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The manifest.
    pub fn manifest(&self) -> &BundleManifest {
        &self.manifest
    }

    /// The exact bytes of `manifest.json` (what the signature signs).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The text of `manifest.json.minisig`, if the bundle is signed.
    pub fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
    }

    /// The key id the signature names (16 upper-case hex digits, as
    /// minisign prints it), if the bundle is signed and the signature is
    /// well-formed. Says nothing about whether it verifies.
    pub fn signature_key_id(&self) -> Option<String> {
        self.signature
            .as_deref()
            .and_then(signature_key_id)
            .map(|key_id| key_id.to_string())
    }

    /// Verifies the signature of `manifest.json` with the trusted keys.
    ///
    /// Refuses with [`BundleError::NotSigned`] (no signature entry),
    /// [`BundleError::NoTrustedKeys`], [`BundleError::UntrustedKey`] (signed
    /// by a key that is not trusted, named by its id) or
    /// [`BundleError::BadSignature`] (malformed, or it does not match).
    /// Since the manifest holds the SHA-256 of every part and [`Bundle::read`]
    /// checked them, a verified manifest vouches for the whole bundle.
    pub fn verify(&self, keys: &TrustedKeys) -> Result<VerifiedBy, BundleError> {
        let signature = self.signature.as_deref().ok_or(BundleError::NotSigned)?;
        keys.verify(&self.manifest_bytes, signature)
    }

    fn parts_of(&self, kind: PartKind) -> impl Iterator<Item = (&str, &[u8])> {
        self.manifest
            .parts
            .iter()
            .zip(&self.contents)
            .filter(move |(part, _)| part.kind == kind)
            .map(|(part, data)| (part.path.as_str(), data.as_slice()))
    }

    /// Every part, in archive order: (path, kind, bytes).
    pub fn parts(&self) -> impl Iterator<Item = (&str, PartKind, &[u8])> {
        self.manifest
            .parts
            .iter()
            .zip(&self.contents)
            .map(|(part, data)| (part.path.as_str(), part.kind, data.as_slice()))
    }

    /// The module's bytes (a WebAssembly component, not yet validated).
    pub fn module(&self) -> &[u8] {
        self.parts_of(PartKind::Module)
            .next()
            .map_or(&[], |(_, data)| data)
    }

    /// The SHA-256 of the module (64 lower-case hex digits), as the
    /// manifest lists it.
    pub fn module_sha256(&self) -> &str {
        self.manifest
            .parts
            .iter()
            .find(|part| part.kind == PartKind::Module)
            .map_or("", |part| part.sha256.as_str())
    }

    /// The precompiled artifact for `target` whose engine fingerprint is
    /// exactly `engine`, if the bundle carries one.
    ///
    /// Deserializing it trusts it: only use it from a bundle whose
    /// signature verified with a trusted key.
    pub fn artifact_for(&self, target: &str, engine: &str) -> Option<&[u8]> {
        self.manifest
            .parts
            .iter()
            .zip(&self.contents)
            .find(|(part, _)| {
                part.kind == PartKind::Artifact
                    && part.target.as_deref() == Some(target)
                    && part.engine.as_deref() == Some(engine)
            })
            .map(|(_, data)| data.as_slice())
    }

    /// The artifacts: (target, engine fingerprint, bytes).
    pub fn artifacts(&self) -> impl Iterator<Item = (&str, &str, &[u8])> {
        self.manifest
            .parts
            .iter()
            .zip(&self.contents)
            .filter(|(part, _)| part.kind == PartKind::Artifact)
            .map(|(part, data)| {
                (
                    part.target.as_deref().unwrap_or(""),
                    part.engine.as_deref().unwrap_or(""),
                    data.as_slice(),
                )
            })
    }

    /// The policy document (`policy.toml`), checked to be UTF-8 at read.
    pub fn policy(&self) -> &str {
        self.parts_of(PartKind::Policy)
            .next()
            .and_then(|(_, data)| std::str::from_utf8(data).ok())
            .unwrap_or("")
    }

    /// The test files: (path in the bundle, e.g. `tests/orders.test.toml`,
    /// text), in archive order (sorted by path when built by
    /// [`crate::BundleBuilder`]).
    pub fn tests(&self) -> impl Iterator<Item = (&str, &str)> {
        self.parts_of(PartKind::Test)
            .filter_map(|(path, data)| std::str::from_utf8(data).ok().map(|text| (path, text)))
    }

    /// The files the policy may name: (path in the bundle, e.g.
    /// `files/keys/jwks.json`, which is also how the policy names it
    /// relative to its own folder, bytes).
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.parts_of(PartKind::File)
    }

    /// Writes `policy.toml`, `tests/…` and `files/…` (not the module, the
    /// artifacts nor the manifest) under `dir`, creating folders as needed,
    /// so that `tollgate test` runs on the result as on the build folder.
    ///
    /// Existing files are overwritten; a symlink or a folder in the way of
    /// a path is refused ([`BundleError::ExtractBlocked`]), so nothing is
    /// written outside `dir` (the paths themselves were checked at read).
    pub fn extract_to(&self, dir: &Path) -> Result<(), BundleError> {
        fs::create_dir_all(dir).map_err(|source| BundleError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        for (path, kind, data) in self.parts() {
            if matches!(kind, PartKind::Policy | PartKind::Test | PartKind::File) {
                extract_one(dir, path, data)?;
            }
        }
        Ok(())
    }

    /// A JSON description (for `tollgate bundle inspect --format json`):
    /// digest, size, name, revision, WIT, created, signature (key id and
    /// trusted comment, unverified), parts and declared changes.
    pub fn summary(&self) -> serde_json::Value {
        let signature = self.signature.as_deref().map(|text| {
            json!({
                "key_id": signature_key_id(text).map(|id| id.to_string()),
                "trusted_comment": signature_trusted_comment(text),
            })
        });
        json!({
            "digest": self.digest.to_string(),
            "size": self.size,
            "format": self.manifest.format,
            "name": self.manifest.name,
            "revision": self.manifest.revision,
            "wit": self.manifest.wit,
            "created": self.manifest.created,
            "signature": signature,
            "parts": self.manifest.parts,
            "declared_changes": self.manifest.declared_changes,
        })
    }

    /// A human description (for `tollgate bundle inspect`), several lines.
    pub fn describe(&self) -> String {
        let m = &self.manifest;
        let mut out = String::new();
        let _ = writeln!(out, "bundle {} revision {}", m.name, m.revision);
        let _ = writeln!(out, "  digest    {} ({} bytes)", self.digest, self.size);
        let _ = writeln!(out, "  format    {}, WIT {}", m.format, m.wit);
        let _ = writeln!(out, "  created   {}", m.created);
        match self.signature.as_deref() {
            Some(text) => {
                let key =
                    signature_key_id(text).map_or_else(|| "?".to_owned(), |id| id.to_string());
                let comment = signature_trusted_comment(text).unwrap_or("?");
                let _ = writeln!(out, "  signature minisign, key {key} (not verified here)");
                let _ = writeln!(out, "            trusted comment: {comment}");
            }
            None => {
                let _ = writeln!(out, "  signature none");
            }
        }
        let _ = writeln!(out, "  parts");
        for part in &m.parts {
            let _ = write!(
                out,
                "    {:<8} {}  {} bytes  sha256 {}",
                part.kind.as_str(),
                part.path,
                part.size,
                part.sha256
            );
            if let (Some(target), Some(engine)) = (&part.target, &part.engine) {
                let _ = write!(out, "  target {target}  engine {engine}");
            }
            out.push('\n');
        }
        if m.declared_changes.is_empty() {
            let _ = writeln!(out, "  declared changes: none");
        } else {
            let _ = writeln!(out, "  declared changes");
            for change in &m.declared_changes {
                let _ = write!(
                    out,
                    "    {} {} (was {})",
                    change.methods.join(","),
                    change.path,
                    change.from
                );
                if !change.note.is_empty() {
                    let _ = write!(out, ": {}", change.note);
                }
                out.push('\n');
            }
        }
        out
    }
}

/// Read one entry whole. `bundle_size` bounds what any entry may claim:
/// its size comes from the (not yet verified) tar header, so it is never
/// trusted for an allocation larger than the bundle itself.
fn read_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    path: &str,
    bundle_size: u64,
) -> Result<Vec<u8>, BundleError> {
    let expected = entry.size();
    if expected > bundle_size {
        return Err(BundleError::NotTar {
            detail: format!(
                "{path} claims {expected} bytes, more than the whole bundle ({bundle_size} bytes)"
            ),
        });
    }
    let mut data = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    entry
        .take(expected.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| BundleError::NotTar {
            detail: format!("cannot read {path}: {e}"),
        })?;
    if u64::try_from(data.len()).ok() != Some(expected) {
        return Err(BundleError::NotTar {
            detail: format!("{path} is truncated"),
        });
    }
    Ok(data)
}

fn extract_one(dir: &Path, path: &str, data: &[u8]) -> Result<(), BundleError> {
    validate_path(path)?;
    let mut target: PathBuf = dir.to_path_buf();
    let mut segments = path.split('/').peekable();
    while let Some(segment) = segments.next() {
        target.push(segment);
        let last = segments.peek().is_none();
        let blocked = |found: &str| BundleError::ExtractBlocked {
            path: path.to_owned(),
            found: format!("{found} at {}", target.display()),
        };
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(blocked("a symbolic link")),
            Ok(meta) if last && !meta.is_file() => {
                return Err(blocked("something that is not a file"));
            }
            Ok(meta) if !last && !meta.is_dir() => return Err(blocked("a file")),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if !last {
                    fs::create_dir(&target).map_err(|source| BundleError::Io {
                        action: "create",
                        path: target.clone(),
                        source,
                    })?;
                }
            }
            Err(source) => {
                return Err(BundleError::Io {
                    action: "inspect",
                    path: target.clone(),
                    source,
                });
            }
        }
    }
    fs::write(&target, data).map_err(|source| BundleError::Io {
        action: "write",
        path: target,
        source,
    })
}
