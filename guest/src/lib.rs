//! Tollgate's default policy module.
//!
//! All JWT verification and authorization logic lives here as plain Rust that
//! compiles natively (and is unit-tested natively) and for `wasm32-wasip2`,
//! where [`component`] exports it through the `tollgate:authorizer` WIT world.
//! The module does no I/O and no signature math: it asks the host's
//! [`KeyRing`] for keys and for verification.

pub mod config;
/// The types shared with the host (re-exported from `tollgate-model`).
pub use tollgate_model as model;

mod authorize;
mod claims;
mod token;

#[cfg(test)]
mod test_support;

pub use config::{IssuerPolicy, Limits, Policy, SecretPolicy, TokenUse};
pub use model::*;

#[cfg(target_arch = "wasm32")]
mod component;
