//! Errors: setting up the key manager, and one failed fetch.

use std::time::Duration;

use crate::url::UrlError;

/// The key manager could not be set up (before any fetch).
#[derive(Debug, thiserror::Error)]
pub enum KeyManagerError {
    /// An issuer's key source URL is not acceptable.
    #[error("issuer {issuer}: {source}")]
    Url {
        /// The issuer.
        issuer: String,
        /// What is wrong with the URL.
        source: UrlError,
    },
    /// A setting is out of range.
    #[error("remote key setting `{field}` {reason}")]
    Settings {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built (TLS roots, …).
    #[error("cannot build the HTTP client for remote keys: {0}")]
    Client(String),
    /// Background refresh needs a tokio runtime, and there is none.
    #[error(
        "background key refresh needs a tokio runtime; start the key manager from within one, or use the inline (Lambda) refresh mode"
    )]
    NoRuntime,
    /// The same issuer is listed twice.
    #[error("issuer {0} is listed twice")]
    DuplicateIssuer(String),
}

/// One fetch of a JWK Set or discovery document failed.
///
/// Messages name the URL and never contain response bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The whole fetch took longer than `request_timeout`.
    #[error("{url}: no complete response within {after:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        after: Duration,
    },
    /// No connection (refused, DNS, TLS, connect timeout).
    #[error("{url}: cannot connect: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A redirect to another origin (or too many redirects) was refused.
    #[error("{url}: redirect refused: {reason}")]
    Redirect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Any other transport failure (connection reset mid-body, …).
    #[error("{url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with another status than 200.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body (or its declared length) exceeds `max_response_bytes`.
    #[error("{url}: response larger than {limit} bytes refused")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The body is not a usable JWK Set or discovery document.
    #[error("{url}: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The JWK Set holds no key tollgate accepts (empty, or every key skipped).
    #[error("{url}: JWK Set has no usable key ({skipped} skipped as invalid)")]
    NoUsableKeys {
        /// The URL.
        url: String,
        /// How many keys were skipped.
        skipped: usize,
    },
    /// The discovery document's `issuer` is not the configured issuer.
    #[error(
        "{url}: discovery document names issuer {found:?}, not the configured {expected:?}; refusing its keys"
    )]
    IssuerMismatch {
        /// The URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// What the document says.
        found: String,
    },
    /// The discovery document's `jwks_uri` is not acceptable.
    #[error("{url}: discovery document's jwks_uri: {source}")]
    JwksUri {
        /// The discovery URL.
        url: String,
        /// What is wrong with the `jwks_uri`.
        source: UrlError,
    },
}
