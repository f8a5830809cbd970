//! Tollgate's verification keys.
//!
//! - [`NativeKey`] (named apart from the model's `VerificationKey` trait, the
//!   module's view of a host key): one JWK (or local HMAC secret), validated and parsed
//!   once into native aws-lc key objects, then used to verify JWS signatures.
//! - [`KeySet`]: the keys of one source (a JWK Set document or file).
//! - [`KeyStore`]: issuer -> keys, shared by all decisions; lookups never block on I/O.
//! - [`load_jwks_file`], [`load_secret`]: local key material.
//! - `mint` (feature `mint`): demo/test key generation and token minting (not on the verification path).

mod algorithm;
mod b64;
mod der;
mod error;
mod key;
mod local;
/// Key generation and token minting: the CLI, demos and tests only (feature
/// `mint`; the Lambda `bootstrap` does not enable it).
#[cfg(any(test, feature = "mint"))]
pub mod mint;
mod ring;
mod set;
mod store;

pub use error::KeyError;
pub use key::NativeKey;
pub use local::{MAX_JWKS_FILE_BYTES, MAX_SECRET_FILE_BYTES, load_jwks_file, load_secret};
pub use ring::{StoreKey, StoreRing};
pub use set::{KeySet, SkippedKey};
pub use store::KeyStore;
/// The shared algorithm, key metadata and error types (from `tollgate-model`).
pub use tollgate_model::{Algorithm, KeyInfo, LookupError, VerifyError};

#[cfg(test)]
pub(crate) mod test_support;
