//! Tollgate's host: a thin wasmtime runner for policy modules.
//!
//! - [`engine`]: compile, precompile and sandbox the module (deadline, memory cap);
//! - [`Authorizer`]: one configured module with its keys and warm instances;
//! - [`RequestLimits`]: sizes checked before a request reaches the module;
//! - [`Gate`]: the async entry point for front doors: an authorizer whose
//!   keys (local, `jwks_uri`, OIDC discovery) are fetched and kept fresh;
//! - [`cli`]: the `tollgate` command line, including the demo.
//!
//! The host holds I/O and signature math; the module decides.

pub mod authorizer;
mod bindings;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod gate;
pub mod logging;
pub mod request_limits;

pub use authorizer::{Authorizer, ConfigBase, SetupError};
pub use bindings::KeyMiss;
pub use engine::{Limits, PolicyEngine};
pub use gate::Gate;
pub use request_limits::RequestLimits;
/// Remote keys: settings, refresh modes, the key manager (`tollgate-jwks`).
pub use tollgate_jwks as jwks;
/// The request, decision and manifest types shared with the policy module.
pub use tollgate_model as model;
