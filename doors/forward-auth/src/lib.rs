//! Tollgate as a forward-auth server for edge proxies (`tollgate serve`):
//! the same policy module and policy document as the Lambda door, asked by
//! nginx `auth_request`, Traefik ForwardAuth, and Envoy `ext_authz` over
//! HTTP and gRPC. Each listener speaks one proxy's dialect.
//!
//! - [`settings`]: listeners, identity headers, RFC 9728 metadata, limits;
//! - [`dialect`]: each proxy's decision request as the module's request
//!   (where the original method, URI and host are; a missing or repeated
//!   forwarding header is a 400);
//! - [`grpc`]: Envoy's `Authorization/Check`;
//! - [`answer`]: a decision as 200 + identity headers, 401/403 + RFC 6750
//!   challenge, or 503 — the same for every dialect;
//! - [`door`]: the shared state and the one place a request is decided
//!   (limits, deadline, metrics);
//! - [`http`], [`admin`], [`server`]: listeners, health, readiness, metrics,
//!   graceful shutdown.
//!
//! The door never decides: the module does, through the host's
//! [`tollgate_host::Gate`] (keys, token cache).

pub mod admin;
pub mod answer;
pub mod dialect;
pub mod door;
pub mod grpc;
pub mod http;
pub mod limiter;
pub mod metrics;
pub mod server;
pub mod settings;

pub use server::{ServeError, Server};
pub use settings::{
    Dialect, IdentityHeaders, Listen, ResourceMetadata, ServeLimits, ServeSettings, SettingsError,
};
