//! Plain-Rust mirrors of the WIT types (`wit/types.wit`, `wit/keys.wit`),
//! shared by the policy module (which compiles and is unit-tested natively),
//! the keys crate and the host. Each side's component layer converts between
//! these and its generated bindings (`tollgate-sdk`'s `wit_conversions!`).
//!
//! Also what every front door needs to read a decision: [`grants`] (does an
//! allow cover this route) and [`Decision::outcome`] (what a decision means
//! at a door: one place, so `keys-unavailable` is the host's failure at
//! every door).

use std::fmt;

pub mod grants;

/// The canonical path form and its options (the `tollgate-canonical-path`
/// crate), re-exported for the host, the doors and modules.
pub use tollgate_canonical_path as canonical_path;
pub use tollgate_canonical_path::{
    DotSegments, EncodedDelimiters, PathCase, PathOptions, PathParameters, PathRefusal,
    TrailingSlash,
};

/// A JWS signature algorithm (RFC 7518). `none` is deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// ECDSA P-521 with SHA-512.
    Es512,
    /// EdDSA (Ed25519).
    EdDsa,
    /// HMAC SHA-256.
    Hs256,
    /// HMAC SHA-384.
    Hs384,
    /// HMAC SHA-512.
    Hs512,
}

impl Algorithm {
    /// Every supported algorithm, in a stable order.
    pub const ALL: [Algorithm; 13] = [
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::EdDsa,
        Algorithm::Hs256,
        Algorithm::Hs384,
        Algorithm::Hs512,
    ];

    /// The JOSE name, e.g. `RS256`, `EdDSA`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Hs256 => "HS256",
            Algorithm::Hs384 => "HS384",
            Algorithm::Hs512 => "HS512",
        }
    }

    /// Parse a JOSE name exactly (case-sensitive, as RFC 7515 requires).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// True for the HMAC algorithms, which need a locally configured secret.
    pub fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512)
    }

    /// The JWK `kty` a key must have to verify this algorithm.
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => "RSA",
            Algorithm::Es256 | Algorithm::Es384 | Algorithm::Es512 => "EC",
            Algorithm::EdDsa => "OKP",
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => "oct",
        }
    }

    /// The JWK `crv` a key must have, for curve-based algorithms.
    pub fn curve(self) -> Option<&'static str> {
        match self {
            Algorithm::Es256 => Some("P-256"),
            Algorithm::Es384 => Some("P-384"),
            Algorithm::Es512 => Some("P-521"),
            Algorithm::EdDsa => Some("Ed25519"),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the request carried a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The full value of an `Authorization` header.
    AuthorizationHeader(String),
    /// A bare token.
    Raw(String),
    /// The request also carried a credential outside the front door's cache
    /// key (an `Authorization` header that is not one of API Gateway's
    /// identity sources); its value is not passed on.
    OutsideCacheKey,
}

/// The request to decide on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Every credential the front door found.
    pub token_sources: Vec<TokenSource>,
    /// HTTP method as sent (a case-sensitive token: `GET`, never folded);
    /// empty when unknown.
    pub method: String,
    /// Request path without query; empty when unknown. A front door puts
    /// the path as it received it here; the host replaces it with its
    /// canonical form ([`canonical_path`], `docs/paths.md`) before the
    /// module sees it, keeping the door's in `raw_path`.
    pub path: String,
    /// The path as the front door received it (set by the host when it
    /// canonicalizes `path`; a door leaves it empty). For custom modules
    /// that need the exact spelling; rules never match it.
    pub raw_path: String,
    /// Headers as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    /// Query parameters as (name, value).
    pub query: Vec<(String, String)>,
    /// Client IP, when known.
    pub source_ip: Option<String>,
    /// Current time, unix seconds.
    pub now: i64,
}

/// Why a request was denied (see `wit/types.wit` for each meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// No credential.
    MissingToken,
    /// More than one credential.
    MultipleTokens,
    /// Not a well-formed compact JWS.
    Malformed,
    /// `alg` is none, unknown or not allowed.
    DisallowedAlgorithm,
    /// Header names its own key or an unsupported critical extension.
    UntrustedHeader,
    /// `typ` does not match the pinned one.
    WrongType,
    /// No key with this `kid`.
    UnknownKey,
    /// Key does not fit the algorithm.
    KeyMismatch,
    /// Signature does not verify.
    BadSignature,
    /// Payload not a JSON object, or a claim of the wrong type.
    InvalidClaims,
    /// A needed claim is absent.
    MissingClaim,
    /// `exp` passed.
    Expired,
    /// `nbf` in the future.
    NotYetValid,
    /// `iat` in the future.
    IssuedInFuture,
    /// Lifetime above the configured maximum.
    LifetimeTooLong,
    /// `iss` not configured.
    WrongIssuer,
    /// `aud` not accepted.
    WrongAudience,
    /// `client_id` not accepted.
    WrongClient,
    /// Cognito `token_use` not accepted.
    WrongTokenUse,
    /// Required scope missing.
    InsufficientScope,
    /// Valid token, request not allowed.
    Forbidden,
    /// Keys could not be loaded.
    KeysUnavailable,
    /// The path (or method) cannot be decided safely (the host refuses it;
    /// 400).
    InvalidPath,
}

impl DenyReason {
    /// Every deny reason, in the order `wit/types.wit` lists them.
    pub const ALL: [DenyReason; 23] = [
        DenyReason::MissingToken,
        DenyReason::MultipleTokens,
        DenyReason::Malformed,
        DenyReason::DisallowedAlgorithm,
        DenyReason::UntrustedHeader,
        DenyReason::WrongType,
        DenyReason::UnknownKey,
        DenyReason::KeyMismatch,
        DenyReason::BadSignature,
        DenyReason::InvalidClaims,
        DenyReason::MissingClaim,
        DenyReason::Expired,
        DenyReason::NotYetValid,
        DenyReason::IssuedInFuture,
        DenyReason::LifetimeTooLong,
        DenyReason::WrongIssuer,
        DenyReason::WrongAudience,
        DenyReason::WrongClient,
        DenyReason::WrongTokenUse,
        DenyReason::InsufficientScope,
        DenyReason::Forbidden,
        DenyReason::KeysUnavailable,
        DenyReason::InvalidPath,
    ];

    /// The kebab-case name used in WIT and in JSON output (`bad-signature`).
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::MissingToken => "missing-token",
            DenyReason::MultipleTokens => "multiple-tokens",
            DenyReason::Malformed => "malformed",
            DenyReason::DisallowedAlgorithm => "disallowed-algorithm",
            DenyReason::UntrustedHeader => "untrusted-header",
            DenyReason::WrongType => "wrong-type",
            DenyReason::UnknownKey => "unknown-key",
            DenyReason::KeyMismatch => "key-mismatch",
            DenyReason::BadSignature => "bad-signature",
            DenyReason::InvalidClaims => "invalid-claims",
            DenyReason::MissingClaim => "missing-claim",
            DenyReason::Expired => "expired",
            DenyReason::NotYetValid => "not-yet-valid",
            DenyReason::IssuedInFuture => "issued-in-future",
            DenyReason::LifetimeTooLong => "lifetime-too-long",
            DenyReason::WrongIssuer => "wrong-issuer",
            DenyReason::WrongAudience => "wrong-audience",
            DenyReason::WrongClient => "wrong-client",
            DenyReason::WrongTokenUse => "wrong-token-use",
            DenyReason::InsufficientScope => "insufficient-scope",
            DenyReason::Forbidden => "forbidden",
            DenyReason::KeysUnavailable => "keys-unavailable",
            DenyReason::InvalidPath => "invalid-path",
        }
    }

    /// The status a front door should use: 403 only for an authenticated
    /// caller the policy refuses, and for a path refused before any token
    /// is looked at (never a 401 a door may cache per credential; its
    /// [`Outcome`] is [`Outcome::BadRequest`]); everything else is 401.
    pub fn status(self) -> DenyStatus {
        match self {
            DenyReason::InsufficientScope | DenyReason::Forbidden | DenyReason::InvalidPath => {
                DenyStatus::Forbidden
            }
            _ => DenyStatus::Unauthenticated,
        }
    }
}

/// 401 or 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyStatus {
    /// Not authenticated (401).
    Unauthenticated,
    /// Authenticated but refused (403).
    Forbidden,
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    /// Machine-readable reason.
    pub reason: DenyReason,
    /// 401 or 403.
    pub status: DenyStatus,
    /// Human-readable detail; never contains the token.
    pub detail: String,
    /// The caller, for a 403 (valid token, request refused); `None` otherwise.
    pub principal: Option<String>,
    /// The policy rule that refused, when one did (`route[3]` or its name).
    pub rule: Option<String>,
    /// For `insufficient-scope`: the scopes that would have allowed it.
    pub required_scopes: Vec<String>,
    /// For a valid token refused by the policy's rules: every route it may
    /// call (as an allow's grants), so a per-token cache answers its other
    /// routes right. Empty otherwise.
    pub grants: Vec<Grant>,
}

impl Deny {
    /// A deny whose status follows from its reason, naming no principal.
    pub fn new(reason: DenyReason, detail: impl Into<String>) -> Self {
        Deny {
            reason,
            status: reason.status(),
            detail: detail.into(),
            principal: None,
            rule: None,
            required_scopes: Vec::new(),
            grants: Vec::new(),
        }
    }

    /// This deny naming the (authenticated) caller it refuses.
    pub fn with_principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// This deny naming the policy rule that refused.
    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }
}

/// Whether a grant lets its routes through or keeps them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The principal may call the routes it matches.
    Allow,
    /// The principal may not (an exclusion from a less specific allow).
    Deny,
}

/// A method and path pattern, and whether the principal may call it. In a
/// list of grants the first that matches a route decides it
/// ([`grants::route_granted`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Allow or deny.
    pub effect: Effect,
    /// HTTP method or `*`.
    pub method: String,
    /// Path pattern (`/orders/*`, `/*`).
    pub path: String,
}

/// An allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    /// The caller.
    pub principal: String,
    /// The issuer that vouched for it.
    pub issuer: String,
    /// (name, JSON-encoded value) pairs to forward.
    pub context: Vec<(String, String)>,
    /// Routes this principal may call, independent of the route asked;
    /// ordered, the first match decides ([`grants::route_granted`]).
    pub grants: Vec<Grant>,
    /// True when more than the token decided the outcome.
    pub request_dependent: bool,
    /// The token's `exp`.
    pub expires_at: Option<i64>,
    /// The policy rule that decided, when one did.
    pub rule: Option<String>,
}

/// The outcome of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let it through.
    Allow(Allow),
    /// Refuse it.
    Deny(Deny),
    /// The module's own failure (fail closed).
    Error {
        /// Machine-readable reason (`internal-error`, `not-configured`).
        reason: String,
        /// Detail for logs.
        message: String,
    },
}

impl Decision {
    /// What this decision means at a front door.
    pub fn outcome(&self) -> Outcome<'_> {
        match self {
            Decision::Allow(allow) => Outcome::Allow(allow),
            Decision::Deny(deny) => Outcome::of_deny(deny),
            Decision::Error { reason, message } => Outcome::Failed { reason, message },
        }
    }
}

/// What a decision means at a front door: the one place that says so, so
/// every door answers a reason alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Let the request through (for the routes its grants cover).
    Allow(&'a Allow),
    /// The client is not authenticated: 401, API Gateway `Unauthorized`.
    /// A door may cache it per credential.
    Unauthenticated(&'a Deny),
    /// The client is authenticated but refused: 403, an explicit Deny of
    /// the requested route only.
    Forbidden(&'a Deny),
    /// The request's path or method cannot be decided safely (`invalid-path`,
    /// refused by the host before the module): 400 at the edge; in Lambda
    /// an explicit Deny of the requested route only. Never an allow.
    BadRequest(&'a Deny),
    /// The host could not get the issuer's keys (`keys-unavailable`): the
    /// host's trouble, not the client's. 503, a Lambda error API Gateway
    /// does not cache; never cached by any door.
    Unavailable(&'a Deny),
    /// The module failed (a module error): 500, never cached.
    Failed {
        /// Machine-readable reason (`internal-error`, `not-configured`).
        reason: &'a str,
        /// Detail for logs.
        message: &'a str,
    },
}

impl<'a> Outcome<'a> {
    /// The outcome of a deny: its status, except `keys-unavailable`.
    pub fn of_deny(deny: &'a Deny) -> Self {
        match (deny.reason, deny.status) {
            (DenyReason::KeysUnavailable, _) => Outcome::Unavailable(deny),
            (DenyReason::InvalidPath, _) => Outcome::BadRequest(deny),
            (_, DenyStatus::Unauthenticated) => Outcome::Unauthenticated(deny),
            (_, DenyStatus::Forbidden) => Outcome::Forbidden(deny),
        }
    }

    /// The HTTP status a server front door answers.
    pub fn http_status(&self) -> u16 {
        match self {
            Outcome::Allow(_) => 200,
            Outcome::Unauthenticated(_) => 401,
            Outcome::Forbidden(_) => 403,
            Outcome::BadRequest(_) => 400,
            Outcome::Unavailable(_) => 503,
            Outcome::Failed { .. } => 500,
        }
    }
}

/// A key's JWK metadata, as the host reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInfo {
    /// `kid`.
    pub kid: Option<String>,
    /// `kty`.
    pub kty: String,
    /// `crv`.
    pub crv: Option<String>,
    /// `alg`.
    pub alg: Option<String>,
    /// `use`.
    pub key_use: Option<String>,
    /// `key_ops`.
    pub key_ops: Option<Vec<String>>,
    /// Size in bits.
    pub bits: u32,
}

/// Why a key lookup found nothing usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No keys were ever set for this issuer.
    #[error("the issuer is not configured")]
    UnknownIssuer,
    /// No key in the issuer's set has the token's `kid` (or the set is empty).
    #[error("no key of the issuer matches the token's kid")]
    UnknownKey,
    /// The issuer is known but its keys could not be loaded (cold cache, source down).
    #[error("the issuer's keys are currently unavailable")]
    KeysUnavailable,
}

/// Why a verification refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The key fits the algorithm but the signature does not verify.
    #[error("the signature does not verify with this key")]
    BadSignature,
    /// The key cannot be used with the algorithm (kty, curve, `alg`, `use`, `key_ops`).
    #[error("this key cannot be used with the token's algorithm")]
    KeyMismatch,
}

/// One verification key held by the host.
pub trait VerificationKey {
    /// The key's JWK metadata.
    fn info(&self) -> KeyInfo;
    /// Verify `signature` over `message` with `alg`.
    fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), VerifyError>;
}

/// The host's key cache, as the module sees it.
pub trait KeyRing {
    /// The key handle type.
    type Key: VerificationKey;
    /// Keys of `issuer` with this `kid` (all of the issuer's keys when `kid` is `None`).
    fn lookup(&self, issuer: &str, kid: Option<&str>) -> Result<Vec<Self::Key>, LookupError>;
}

/// Where the host loads an issuer's keys from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A local JWK Set file (path as written in the config).
    JwksFile(String),
    /// A remote JWK Set URL.
    JwksUri(String),
    /// OIDC discovery from this issuer URL.
    Discovery(String),
    /// A local HMAC secret.
    Secret(SecretSource),
}

/// A local symmetric secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// The `kid` tokens carry for it.
    pub kid: Option<String>,
    /// A file path (relative to the config's folder) or `env:NAME`.
    pub location: String,
    /// `raw`, `base64` or `base64url`.
    pub encoding: String,
    /// The HMAC algorithm.
    pub algorithm: Algorithm,
}

/// What the module needs for one issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerNeeds {
    /// Exact `iss`.
    pub issuer: String,
    /// Key sources.
    pub key_sources: Vec<KeySource>,
    /// Allowed algorithms.
    pub algorithms: Vec<Algorithm>,
}

/// The module's answer to `configure`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Trusted issuers.
    pub issuers: Vec<IssuerNeeds>,
    /// Every rule of the policy, in document order, as decisions name them.
    pub rules: Vec<String>,
    /// What the host should tell the operator at load.
    pub warnings: Vec<String>,
    /// How the host canonicalizes request paths for this policy.
    pub paths: PathOptions,
}

/// A configuration the module refuses: which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config error at `{field}`: {message}")]
pub struct ConfigError {
    /// Path to the field, e.g. `issuer[0].algorithms`.
    pub field: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(deny: Deny) -> u16 {
        Outcome::of_deny(&deny).http_status()
    }

    #[test]
    fn http_status_follows_the_reason() {
        assert_eq!(status(Deny::new(DenyReason::BadSignature, "")), 401);
        assert_eq!(status(Deny::new(DenyReason::InsufficientScope, "")), 403);
        assert_eq!(status(Deny::new(DenyReason::Forbidden, "")), 403);
        assert_eq!(status(Deny::new(DenyReason::KeysUnavailable, "")), 503);
    }

    #[test]
    fn algorithm_names_round_trip_and_none_is_absent() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::from_name("es256"), None);
    }
}
