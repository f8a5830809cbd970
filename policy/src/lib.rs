//! Tollgate's verification core and default rules, in plain Rust.
//!
//! Everything the default policy module decides lives here, and compiles
//! natively (unit-tested natively) as well as for `wasm32-wasip2`, where
//! `guest/` exports it through `tollgate-sdk`. It does no I/O and no
//! signature math: it asks a [`KeyRing`](tollgate_model::KeyRing) for keys
//! and for verification.
//!
//! Where each check is:
//!
//! - [`config`]: the policy document (TOML) read into a [`Policy`], one file
//!   per section (limits, issuers, secrets, key URLs);
//! - `token`: the credential (one, `Bearer` scheme), the compact JWS and its
//!   header (algorithm pinning, `typ`, untrusted header fields);
//! - `authorize`: the pipeline, issuer and key selection, the signature;
//! - `base64url`: strict base64url decoding of a token's segments;
//! - `json`: a token's header and payload read into a borrowed tree (few
//!   allocations), with unique top-level member names;
//! - `claims`: time claims, issuer, audience, client, token use, scopes,
//!   principal and context;
//! - [`routes`]: the `[[route]]` rules (a segment trie, most specific rule
//!   wins), their requirements, and the grants of an allow.

pub mod config;
/// The JSON crate verified claims are held in.
pub use serde_json;
/// The types shared with the host (re-exported from `tollgate-model`).
pub use tollgate_model as model;
/// The TOML crate the policy document is read with (`[module]` settings
/// reach custom modules as a [`toml::Table`]).
pub use toml;

mod authorize;
mod base64url;
mod claims;
mod json;
#[cfg(any(test, all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes;
pub mod routes;
mod token;

#[cfg(test)]
mod test_support;

pub use authorize::VerifiedToken;
pub use config::{IssuerPolicy, Policy, SecretPolicy, TokenLimits, TokenUse};
