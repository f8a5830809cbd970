//! Tollgate's host: a thin wasmtime runner for policy modules. It holds I/O
//! and signature math; the module decides; front doors (`doors/`) translate.
//!
//! - [`runtime`]: the process's one wasmtime engine and epoch ticker;
//! - [`module`]: a policy module loaded (compiled, or a precompiled `.cwasm`),
//!   its sandbox limits, precompiling, the WIT versions this host runs;
//! - [`Authorizer`]: one module configured with one policy document, with
//!   its keys and warm instances;
//! - [`key_sources`]: where an issuer's keys come from (local files and
//!   secrets loaded here; remote sources handed to `tollgate-jwks`);
//! - [`Gate`]: the async entry point for front doors: an authorizer whose
//!   keys (local, `jwks_uri`, OIDC discovery) are fetched and kept fresh;
//! - [`LiveGate`]: the live bundle behind an atomic swap (doors hold an
//!   `Arc<LiveGate>`): previous bundle for rollback, failures, status;
//! - [`shadow`]: a candidate bundle deciding beside the live one before it
//!   is promoted;
//! - [`artifact_cache`]: the private on-disk cache of compiled modules;
//! - [`RequestLimits`]: sizes checked before a request reaches the module;
//! - [`token_cache`]: the verified-token cache: a repeated token decided
//!   without the module (opt-in: [`Authorizer::with_token_cache`]);
//! - [`logging`]: the log allowlist every binary installs.
//!
//! The `compiler` feature (on by default) brings wasmtime's Cranelift
//! compiler: without it (a lean Lambda build) only precompiled modules load.

pub mod artifact_cache;
pub mod authorizer;
mod bindings;
pub mod clock;
pub mod gate;
pub mod key_sources;
pub mod live;
pub mod logging;
pub mod module;
pub mod request_limits;
pub mod runtime;
pub mod shadow;
pub mod token_cache;

/// The private on-disk cache of compiled modules.
pub use artifact_cache::{ArtifactCache, ArtifactCacheError};
pub use authorizer::{Authorizer, AuthorizerError};
pub use bindings::KeyMiss;
pub use gate::Gate;
pub use key_sources::ConfigBase;
/// The live bundle behind an atomic swap, and what its status tells.
pub use live::{Active, BundleInfo, LiveError, LiveGate, SwapFailure, SwapStatus, SwapStep};
pub use module::{ModuleDigest, ModuleError, PolicyModule, SandboxLimits, engine_fingerprint};
pub use request_limits::RequestLimits;
pub use runtime::Runtime;
/// The shadow run: its settings, declared widenings and counts.
pub use shadow::{DeclaredWidening, ShadowSettings, ShadowStatus};
pub use token_cache::{TokenCache, TokenCacheSettings, TokenCacheStats};
/// Remote keys: settings, refresh modes, the key manager (`tollgate-jwks`).
pub use tollgate_jwks as jwks;
/// The request, decision and manifest types shared with the policy module.
pub use tollgate_model as model;
