//! The tollgate policy bundle: one file holding a policy module, its
//! policy document, its test cases, the files the policy names and,
//! optionally, precompiled artifacts, with a manifest of their digests and
//! an optional minisign signature of the manifest.
//!
//! # Format 1
//!
//! A bundle is an uncompressed POSIX (ustar) tar archive. Its entries, in
//! this order, are all regular files:
//!
//! 1. `manifest.json`: the [`BundleManifest`], JSON (unknown fields are
//!    refused):
//!    ```json
//!    {"format": 1, "name": "orders-api", "revision": 42, "wit": "0.5.0",
//!     "created": "2026-12-01T06:00:00Z",
//!     "parts": [
//!       {"path": "module.wasm", "kind": "module", "sha256": "<64 hex>", "size": 123},
//!       {"path": "artifacts/x86_64-unknown-linux-gnu.cwasm", "kind": "artifact",
//!        "target": "x86_64-unknown-linux-gnu", "engine": "<engine fingerprint>",
//!        "sha256": "...", "size": 456},
//!       {"path": "policy.toml", "kind": "policy", "sha256": "...", "size": 789},
//!       {"path": "tests/orders.test.toml", "kind": "test", "sha256": "...", "size": 10},
//!       {"path": "files/keys/jwks.json", "kind": "file", "sha256": "...", "size": 11}],
//!     "declared_changes": [{"methods": ["GET"], "path": "/reports/*",
//!                           "from": "forbidden", "note": "reports opened to all staff"}]}
//!    ```
//! 2. `manifest.json.minisig` (optional): a minisign signature of the exact
//!    bytes of `manifest.json`, in minisign's text format (an `untrusted
//!    comment:` line, the base64 signature, a `trusted comment:` line, the
//!    base64 global signature), prehashed Ed25519. Since the manifest holds
//!    the SHA-256 of every part, it signs the whole bundle; `minisign -Vm
//!    manifest.json -P <key>` verifies an extracted manifest.
//! 3. The parts, in manifest order: exactly one module at `module.wasm`;
//!    artifacts under `artifacts/` (each with `target` and `engine`, at
//!    most one per target); exactly one policy at `policy.toml`; test files
//!    under `tests/` ending `.test.toml`; files under `files/`.
//!
//! [`Bundle::read`] refuses anything else: a file over the size cap
//! ([`ReadLimits`]), not a tar, a first entry other than the manifest,
//! unknown, duplicate, unlisted, misordered or missing entries,
//! non-regular entries (symlinks, hard links, devices, folders), paths
//! that are absolute or hold `..`, `.`, empty segments, `\`, NUL or other
//! control characters, a part outside its kind's folder, a size or digest
//! mismatch, not exactly one module and one policy, an unknown `format`,
//! an invalid name (`[a-z0-9][a-z0-9._-]{0,63}`), a `wit` that is not
//! `major.minor.patch`, a policy or test that is not UTF-8. Each refusal
//! is its own [`BundleError`] variant.
//!
//! A bundle is named by its [`BundleDigest`], the SHA-256 of the whole file
//! as read.
//!
//! # Building
//!
//! [`BundleBuilder`] writes the same bytes for the same inputs (entries
//! with mtime 0, uid/gid 0, mode 0644, parts sorted by path within each
//! kind); only `created`, given by the caller, changes between builds.
//! [`BundleSource::from_dir`] reads a build folder (`bundle.toml`,
//! `policy.toml`, `tests/**/*.test.toml`, `files/**`).
//!
//! # Signing and verifying
//!
//! Keys and signatures are minisign's own formats: a key made by
//! `minisign -G` signs bundles, and a public key is trusted as its base64
//! line (`RW…`) or its `.pub` file ([`TrustedKeys::parse`]; several keys may
//! be trusted for rotation). [`Bundle::verify`] needs only the small
//! `minisign-verify` crate; signing (`sign`) and key generation
//! (`generate_keypair`) use the `minisign` crate behind the `sign`
//! feature. [`attach_signature`] puts a signature made elsewhere (e.g.
//! `minisign -Sm manifest.json`) into a bundle.

#![forbid(unsafe_code)]

mod build;
mod digest;
mod error;
mod keys;
mod manifest;
mod read;
#[cfg(feature = "sign")]
mod sign;
mod source;

pub use build::{Artifact, BundleBuilder, attach_signature};
pub use digest::{BundleDigest, ParseDigestError, sha256_hex};
pub use error::BundleError;
pub use keys::{TrustedKeys, VerifiedBy};
pub use manifest::{
    BundleManifest, DeclaredChange, FORMAT, MANIFEST_PATH, MAX_PATH_BYTES, MODULE_PATH,
    POLICY_PATH, Part, PartKind, SIGNATURE_PATH, validate_name, validate_path, validate_wit,
};
pub use read::{Bundle, DEFAULT_MAX_BYTES, ReadLimits};
#[cfg(feature = "sign")]
pub use sign::{GeneratedKeyPair, SigningKey, generate_keypair, sign};
pub use source::{BundleConfig, BundleSource};
