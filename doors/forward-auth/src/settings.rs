//! The forward-auth door's own settings: where it listens (one proxy
//! dialect per listener), which identity headers it answers, the OAuth
//! protected-resource metadata it publishes, and its limits. The policy
//! document is the module's; none of this decides anything.

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderName;

/// A listener's proxy dialect: how the original request reaches tollgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// nginx `auth_request`: a GET subrequest; the original method and URI
    /// come from `X-Original-Method` and `X-Original-URI` (and optionally
    /// `X-Original-Host`), which the nginx config sets.
    Nginx,
    /// Traefik ForwardAuth: `X-Forwarded-Method`, `X-Forwarded-Uri`,
    /// `X-Forwarded-Host` (and `X-Forwarded-Proto`).
    Traefik,
    /// Envoy `ext_authz` in HTTP mode: the check request keeps the original
    /// method, its path is the original path behind a configured prefix.
    EnvoyHttp,
    /// Envoy `ext_authz` in gRPC mode (`envoy.service.auth.v3.Authorization/Check`).
    EnvoyGrpc,
}

impl Dialect {
    /// The name used in flags, logs and metrics (`nginx`, `envoy-grpc`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Nginx => "nginx",
            Dialect::Traefik => "traefik",
            Dialect::EnvoyHttp => "envoy-http",
            Dialect::EnvoyGrpc => "envoy-grpc",
        }
    }
}

/// Where the server listens. Each decision listener speaks one dialect; the
/// admin listener (health, readiness, metrics) is never a decision port.
/// After [`crate::Server::start`], the bound addresses (port 0 resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listen {
    /// nginx `auth_request` listener.
    pub nginx: Option<SocketAddr>,
    /// Traefik ForwardAuth listener.
    pub traefik: Option<SocketAddr>,
    /// Envoy `ext_authz` HTTP listener.
    pub envoy_http: Option<SocketAddr>,
    /// Envoy `ext_authz` gRPC listener.
    pub envoy_grpc: Option<SocketAddr>,
    /// Admin listener: `/healthz`, `/readyz`, `/metrics`.
    pub admin: Option<SocketAddr>,
}

impl Listen {
    /// The decision listeners, with their dialects.
    pub fn decision_listeners(&self) -> Vec<(Dialect, SocketAddr)> {
        [
            (Dialect::Nginx, self.nginx),
            (Dialect::Traefik, self.traefik),
            (Dialect::EnvoyHttp, self.envoy_http),
            (Dialect::EnvoyGrpc, self.envoy_grpc),
        ]
        .into_iter()
        .filter_map(|(dialect, addr)| addr.map(|addr| (dialect, addr)))
        .collect()
    }
}

/// Default prefix of the identity headers.
pub const DEFAULT_HEADER_PREFIX: &str = "x-auth-";

/// The identity headers every decision answer carries: `<prefix>principal`,
/// `<prefix>issuer` and `<prefix><name>` for each configured context name
/// (`_` written as `-`). All of them are always set, empty when the decision
/// has no value (a public route, an absent claim), so a proxy that copies
/// them overwrites any copy the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// The principal header.
    pub principal: HeaderName,
    /// The issuer header.
    pub issuer: HeaderName,
    /// (context name, header) for each forwarded context entry.
    pub context: Vec<(String, HeaderName)>,
}

impl IdentityHeaders {
    /// Headers under `prefix` for the principal, the issuer and each context
    /// name. A prefix or name that makes no valid header name, or two names
    /// that make the same header, is an error naming it.
    pub fn new(prefix: &str, context_names: &[String]) -> Result<Self, SettingsError> {
        let header = |suffix: &str| -> Result<HeaderName, SettingsError> {
            let name = format!("{prefix}{}", suffix.replace('_', "-")).to_ascii_lowercase();
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| SettingsError::HeaderName(name))
        };
        let principal = header("principal")?;
        let issuer = header("issuer")?;
        let mut context = Vec::with_capacity(context_names.len());
        let mut seen = vec![principal.clone(), issuer.clone()];
        for name in context_names {
            let header = header(name)?;
            if seen.contains(&header) {
                return Err(SettingsError::DuplicateHeader(header.to_string()));
            }
            seen.push(header.clone());
            context.push((name.clone(), header));
        }
        Ok(IdentityHeaders {
            principal,
            issuer,
            context,
        })
    }

    /// Every identity header name, principal and issuer first.
    pub fn names(&self) -> impl Iterator<Item = &HeaderName> {
        [&self.principal, &self.issuer]
            .into_iter()
            .chain(self.context.iter().map(|(_, header)| header))
    }
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            principal: HeaderName::from_static("x-auth-principal"),
            issuer: HeaderName::from_static("x-auth-issuer"),
            context: Vec::new(),
        }
    }
}

/// OAuth 2.0 Protected Resource Metadata (RFC 9728) the server publishes
/// and points to from its `WWW-Authenticate` challenges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetadata {
    /// The resource identifier (`https://api.example.com`): an `https` URL
    /// (`http` only for `localhost` and loopback addresses), no fragment, no query.
    pub resource: url::Url,
    /// The identifier exactly as configured: what the metadata's `resource`
    /// says (RFC 9728 §3.3 wants it identical to the one the client used).
    pub resource_text: String,
    /// Authorization servers that issue tokens for it; empty: the policy's
    /// configured issuers.
    pub authorization_servers: Vec<String>,
    /// Scopes a client may request.
    pub scopes_supported: Vec<String>,
}

impl ResourceMetadata {
    /// Check and hold a resource identifier.
    pub fn new(
        resource: &str,
        authorization_servers: Vec<String>,
        scopes_supported: Vec<String>,
    ) -> Result<Self, SettingsError> {
        let bad = |why: &str| SettingsError::Resource(format!("{resource:?}: {why}"));
        let url = url::Url::parse(resource).map_err(|e| bad(&e.to_string()))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(domain)) => domain == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(bad("must be an https URL (http only for localhost)")),
        }
        if url.fragment().is_some() || url.query().is_some() {
            return Err(bad("must have no query and no fragment"));
        }
        if url.host().is_none() {
            return Err(bad("must name a host"));
        }
        for scope in &scopes_supported {
            if !is_scope_token(scope) {
                return Err(SettingsError::Resource(format!(
                    "scope {scope:?} is not an RFC 6749 scope token (printable ASCII, no space, quote or backslash)"
                )));
            }
        }
        Ok(ResourceMetadata {
            resource: url,
            resource_text: resource.to_string(),
            authorization_servers,
            scopes_supported,
        })
    }

    /// The path the metadata is served at (RFC 9728 §3.1): the well-known
    /// prefix, then the resource's path when it has one.
    pub fn well_known_path(&self) -> String {
        let path = self.resource.path().trim_end_matches('/');
        format!("{WELL_KNOWN_PATH}{path}")
    }

    /// The metadata's URL, for `resource_metadata` in challenges: the
    /// resource's origin, then [`ResourceMetadata::well_known_path`].
    pub fn metadata_url(&self) -> String {
        format!(
            "{}{}",
            self.resource.origin().ascii_serialization(),
            self.well_known_path()
        )
    }
}

/// The RFC 9728 well-known path prefix.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// An RFC 6749 scope token: `%x21 / %x23-5B / %x5D-7E`, at least one.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Default [`ServeLimits::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// Default [`ServeLimits::max_queue`].
pub const DEFAULT_MAX_QUEUE: usize = 4096;
/// Default [`ServeLimits::queue_timeout`].
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_millis(100);
/// Default [`ServeLimits::deadline`].
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2);
/// Default [`ServeLimits::max_header_bytes`].
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Smallest [`ServeLimits::max_header_bytes`] (hyper's own floor).
pub const MIN_MAX_HEADER_BYTES: usize = 8192;
/// Default [`ServeLimits::max_headers`].
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Default [`ServeLimits::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Limits that keep an overloaded or attacked server answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeLimits {
    /// Decisions running at once, all listeners together.
    pub max_in_flight: usize,
    /// Decisions waiting for a slot; beyond it a request gets 503 at once.
    pub max_queue: usize,
    /// Longest wait for a slot before a 503.
    pub queue_timeout: Duration,
    /// Longest a decision may take (key refetch included) before a 503.
    pub deadline: Duration,
    /// Largest request head (request line and headers) in bytes; beyond it
    /// the connection gets 431.
    pub max_header_bytes: usize,
    /// Most header lines per request; beyond it 431.
    pub max_headers: usize,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_queue: DEFAULT_MAX_QUEUE,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl ServeLimits {
    /// Check the limits are usable.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |name: &'static str, why: String| SettingsError::Limit { name, why };
        if self.max_in_flight == 0 {
            return Err(bad("max_in_flight", "must be at least 1".into()));
        }
        if self.deadline.is_zero() {
            return Err(bad("deadline", "must be above zero".into()));
        }
        if self.max_header_bytes < MIN_MAX_HEADER_BYTES {
            return Err(bad(
                "max_header_bytes",
                format!("must be at least {MIN_MAX_HEADER_BYTES}"),
            ));
        }
        if self.max_headers == 0 {
            return Err(bad("max_headers", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Default path prefix Envoy's HTTP `ext_authz` puts before the original path.
pub const DEFAULT_ENVOY_PATH_PREFIX: &str = "/ext-authz";

/// Everything `tollgate serve` needs besides the configured policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    /// Listeners.
    pub listen: Listen,
    /// Identity headers of the answers.
    pub identity: IdentityHeaders,
    /// RFC 9728 metadata, when the resource is named.
    pub resource: Option<ResourceMetadata>,
    /// Limits.
    pub limits: ServeLimits,
    /// The prefix Envoy's HTTP `ext_authz` puts before the original path
    /// (its `path_prefix`); empty for none.
    pub envoy_path_prefix: String,
    /// Whether the admin port takes the bundle actions that change what
    /// answers (`POST /bundle/rollback`, `POST /bundle/promote`); off by
    /// default (`tollgate serve --admin-bundle-actions`).
    pub admin_bundle_actions: bool,
}

/// The header every admin bundle action must carry, naming the action
/// (`X-Tollgate-Action: rollback`): a browser cannot send it across sites
/// without a preflight the admin port never grants.
pub const ADMIN_ACTION_HEADER: &str = "x-tollgate-action";

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            listen: Listen::default(),
            identity: IdentityHeaders::default(),
            resource: None,
            limits: ServeLimits::default(),
            envoy_path_prefix: DEFAULT_ENVOY_PATH_PREFIX.to_string(),
            admin_bundle_actions: false,
        }
    }
}

impl ServeSettings {
    /// Check the settings before binding anything.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.listen.decision_listeners().is_empty() {
            return Err(SettingsError::NoListener);
        }
        let prefix = &self.envoy_path_prefix;
        if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.ends_with('/')) {
            return Err(SettingsError::EnvoyPathPrefix(prefix.clone()));
        }
        self.limits.validate()
    }
}

/// Settings that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// No decision listener.
    #[error(
        "no decision listener: give at least one of --nginx, --traefik, --envoy-http, --envoy-grpc"
    )]
    NoListener,
    /// An identity header name that HTTP does not allow.
    #[error(
        "identity header {0:?} is not a valid header name: use letters, digits, `-` and `_` in --header-prefix and --context-header"
    )]
    HeaderName(String),
    /// Two identity entries map to one header.
    #[error(
        "identity header {0:?} is named twice (principal, issuer and each --context-header must differ)"
    )]
    DuplicateHeader(String),
    /// A bad resource identifier or scope.
    #[error("--resource {0}")]
    Resource(String),
    /// A limit out of range.
    #[error("limit {name} {why}")]
    Limit {
        /// The limit.
        name: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A bad Envoy path prefix.
    #[error("--envoy-path-prefix {0:?} must start with `/` and not end with one (or be empty)")]
    EnvoyPathPrefix(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_follow_the_prefix_and_reject_collisions() {
        let headers =
            IdentityHeaders::new("X-Auth-", &["email".into(), "tenant_id".into()]).expect("valid");
        let names: Vec<_> = headers.names().map(|h| h.as_str().to_string()).collect();
        assert_eq!(
            names,
            [
                "x-auth-principal",
                "x-auth-issuer",
                "x-auth-email",
                "x-auth-tenant-id"
            ]
        );
        assert_eq!(
            IdentityHeaders::new("x-auth-", &["principal".into()]),
            Err(SettingsError::DuplicateHeader("x-auth-principal".into()))
        );
        assert!(matches!(
            IdentityHeaders::new("x auth ", &[]),
            Err(SettingsError::HeaderName(_))
        ));
    }

    #[test]
    fn resource_metadata_path_follows_rfc_9728() {
        let root = ResourceMetadata::new("https://api.example.com", vec![], vec![]).expect("ok");
        assert_eq!(
            root.well_known_path(),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            root.metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        let pathed =
            ResourceMetadata::new("https://api.example.com/orders", vec![], vec![]).expect("ok");
        assert_eq!(
            pathed.metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource/orders"
        );
        assert!(ResourceMetadata::new("http://api.example.com", vec![], vec![]).is_err());
        assert!(ResourceMetadata::new("http://127.0.0.1:8000", vec![], vec![]).is_ok());
        assert!(ResourceMetadata::new("https://a.example/#x", vec![], vec![]).is_err());
        assert!(ResourceMetadata::new("https://a.example", vec![], vec!["a b".into()]).is_err());
    }

    #[test]
    fn limits_at_their_edges() {
        let mut limits = ServeLimits::default();
        assert!(limits.validate().is_ok());
        limits.max_header_bytes = MIN_MAX_HEADER_BYTES;
        assert!(limits.validate().is_ok());
        limits.max_header_bytes = MIN_MAX_HEADER_BYTES - 1;
        assert!(limits.validate().is_err());
        let zero = ServeLimits {
            max_in_flight: 0,
            ..ServeLimits::default()
        };
        assert!(zero.validate().is_err());
        assert_eq!(
            ServeSettings::default().validate(),
            Err(SettingsError::NoListener)
        );
    }
}
