//! Tollgate's verification keys.
//!
//! - [`VerificationKey`]: one JWK (or local HMAC secret), validated and parsed
//!   once into native aws-lc key objects, then used to verify JWS signatures.
//! - [`KeySet`]: the keys of one source (a JWK Set document or file).
//! - [`KeyStore`]: issuer -> keys, shared by all decisions; lookups never block on I/O.
//! - [`load_jwks_file`], [`load_secret`]: local key material.
//! - [`mint`]: demo/test key generation and token minting (not on the verification path).

#![warn(missing_docs)]

mod algorithm;
mod b64;
mod der;
mod error;
mod key;
mod local;
pub mod mint;
mod set;
mod store;

pub use error::KeyError;
pub use key::VerificationKey;
pub use local::{MAX_JWKS_FILE_BYTES, MAX_SECRET_FILE_BYTES, load_jwks_file, load_secret};
pub use set::{KeySet, SkippedKey};
pub use store::KeyStore;
/// The shared algorithm, key metadata and error types (from `tollgate-model`).
pub use tollgate_model::{Algorithm, KeyInfo, LookupError, VerifyError};

#[cfg(test)]
pub(crate) mod test_support;
