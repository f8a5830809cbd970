//! Tollgate's remote keys: JWK Sets fetched from a `jwks_uri` or found
//! through OIDC discovery, cached, refreshed and rate-limited into a
//! [`tollgate_keys::KeyStore`].
//!
//! The policy module never waits on I/O: it reads the store. This crate keeps
//! the store filled:
//!
//! - [`KeyManager`]: per issuer, local keys plus an optional [`RemoteSource`];
//!   prefetch at start, TTL from `Cache-Control` within bounds, background or
//!   inline (Lambda) refresh, one refetch on an unknown `kid` behind a
//!   per-URL penalty box, single flight, stale serving during outages.
//! - [`KeyFetchSettings`]: every limit, with documented defaults.
//! - [`RemoteUrl`]: `https://`, or `http://` on loopback only.
//! - `testing` (feature `test-server`): a real HTTP server on 127.0.0.1 for
//!   tests and benchmarks.

mod error;
mod fetch;
mod manager;
mod settings;
mod slot;
#[cfg(feature = "test-server")]
pub mod testing;
mod url;

pub use error::{FetchError, KeyManagerError};
pub use manager::{IssuerKeys, IssuerStatus, KeyManager, RemoteSource};
pub use settings::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_INLINE_BUDGET, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_STALE, DEFAULT_MAX_TTL, DEFAULT_MIN_TTL,
    DEFAULT_PENALTY_WINDOW, DEFAULT_REQUEST_TIMEOUT, ENV_VARS, EnvVar, KeyFetchSettings,
    RefreshMode, parse_max_age,
};
pub use url::{RemoteUrl, UrlError};
