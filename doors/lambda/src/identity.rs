//! The authorizer's identity sources, as the function is told them
//! (`TOLLGATE_IDENTITY_SOURCES`), and the credentials an event carries in
//! them.
//!
//! API Gateway caches an authorizer's answer under the values of its
//! identity sources and reuses it for every request with the same values.
//! A credential that decides must therefore be one of those values:
//! otherwise a valid token in, say, the `Authorization` header could earn
//! an Allow that is cached under a forged `X-Token` value, and later
//! requests carrying only the forged value would pass for the TTL. So the
//! token is read only from the configured header and query-string identity
//! sources, and a credential found elsewhere (an `Authorization` header that
//! is not an identity source) is reported to the module as
//! [`TokenSource::OutsideCacheKey`], without its value, so that no module
//! can decide on it (the default one refuses the request: `multiple-tokens`).
//! HTTP API events also list their identity-source values; a credential
//! that is not among them (the configuration does not mirror API Gateway's)
//! is outside the cache key too.
//!
//! REST TOKEN authorizers have one identity source, a header, whose value
//! is the event's `authorizationToken`: the setting does not apply to them.

use std::sync::atomic::AtomicBool;

use tollgate_host::model::TokenSource;

use crate::warn_once;

/// The variable that lists the identity sources.
pub const IDENTITY_SOURCES_ENV: &str = "TOLLGATE_IDENTITY_SOURCES";

/// The identity sources when none are configured: the `Authorization`
/// header, API Gateway's own default for REST and HTTP API authorizers.
pub const DEFAULT_IDENTITY_SOURCES: &str = "$request.header.Authorization";

/// One identity source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// A request header (name lower-cased: header names are case-insensitive).
    Header(String),
    /// A query-string parameter (name as written: case-sensitive).
    Query(String),
    /// A `$context` variable (e.g. `routeKey`): part of the cache key, never a credential.
    Context(String),
    /// A stage variable: part of the cache key, never a credential.
    StageVariable(String),
}

/// The authorizer's identity sources, in API Gateway's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySources(Vec<IdentitySource>);

impl Default for IdentitySources {
    fn default() -> Self {
        IdentitySources(vec![IdentitySource::Header("authorization".into())])
    }
}

impl IdentitySources {
    /// Parse a comma-separated list in either API Gateway spelling:
    /// HTTP APIs' `$request.header.NAME`, `$request.querystring.NAME`,
    /// `$context.NAME`, `$stageVariables.NAME`, or REST APIs'
    /// `method.request.header.NAME`, `method.request.querystring.NAME`,
    /// `context.NAME`, `stageVariables.NAME`. Blank: the default.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(IdentitySources::default());
        }
        let mut sources = Vec::new();
        for (index, entry) in text.split(',').map(str::trim).enumerate() {
            let source = parse_one(entry).ok_or_else(|| {
                format!(
                    "entry {} ({entry:?}) is not an identity source; write $request.header.NAME, $request.querystring.NAME, $context.NAME or $stageVariables.NAME (or the REST spellings method.request.header.NAME, method.request.querystring.NAME, context.NAME, stageVariables.NAME), separated by commas",
                    index + 1
                )
            })?;
            if sources.contains(&source) {
                return Err(format!("entry {} ({entry:?}) is listed twice", index + 1));
            }
            sources.push(source);
        }
        Ok(IdentitySources(sources))
    }

    /// The sources, in order.
    pub fn sources(&self) -> &[IdentitySource] {
        &self.0
    }

    /// Whether the header `name` (any case) is an identity source.
    pub fn has_header(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|s| matches!(s, IdentitySource::Header(h) if h.eq_ignore_ascii_case(name)))
    }
}

fn parse_one(entry: &str) -> Option<IdentitySource> {
    let named = |prefixes: &[&str]| {
        prefixes.iter().find_map(|prefix| {
            entry
                .strip_prefix(prefix)
                .filter(|name| !name.is_empty() && !name.contains(char::is_whitespace))
                .map(str::to_string)
        })
    };
    if let Some(name) = named(&["$request.header.", "method.request.header."]) {
        return Some(IdentitySource::Header(name.to_ascii_lowercase()));
    }
    if let Some(name) = named(&["$request.querystring.", "method.request.querystring."]) {
        return Some(IdentitySource::Query(name));
    }
    if let Some(name) = named(&["$context.", "context."]) {
        return Some(IdentitySource::Context(name));
    }
    if let Some(name) = named(&["$stageVariables.", "stageVariables."]) {
        return Some(IdentitySource::StageVariable(name));
    }
    None
}

/// What a REQUEST event carries where credentials can be.
#[derive(Debug, Clone, Copy)]
pub struct EventCredentials<'a> {
    /// Headers as (lower-case name, value), every copy.
    pub headers: &'a [(String, String)],
    /// Query parameters as (name, value), every copy.
    pub query: &'a [(String, String)],
    /// The identity-source values API Gateway computed the cache key from
    /// (HTTP APIs), when the event lists them.
    pub identity_values: Option<&'a [String]>,
}

/// The credentials of a REQUEST event under `sources`, for the module:
///
/// - every value of a header identity source named `Authorization` is an
///   [`TokenSource::AuthorizationHeader`];
/// - values of other header and query identity sources are bare tokens
///   ([`TokenSource::Raw`]) when shaped like a compact JWS (identity sources
///   often also hold a tenant or the route, for a finer cache key); when no
///   `Authorization` header is configured and none is token-shaped, all of
///   them go, so the module says what is wrong with them;
/// - every `Authorization` header that is not an identity source, and every
///   credential that is not among the event's identity-source values, is
///   [`TokenSource::OutsideCacheKey`], its value left out.
pub fn credentials(sources: &IdentitySources, event: EventCredentials<'_>) -> Vec<TokenSource> {
    let values_of_header = |name: &str| -> Vec<String> {
        event
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut keyed: Vec<TokenSource> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    for source in sources.sources() {
        match source {
            IdentitySource::Header(name) if name == "authorization" => {
                keyed.extend(
                    values_of_header(name)
                        .into_iter()
                        .map(TokenSource::AuthorizationHeader),
                );
            }
            IdentitySource::Header(name) => others.extend(values_of_header(name)),
            IdentitySource::Query(name) => others.extend(
                event
                    .query
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v.clone()),
            ),
            IdentitySource::Context(_) | IdentitySource::StageVariable(_) => {}
        }
    }
    let shaped: Vec<String> = others
        .iter()
        .filter(|v| looks_like_compact_jws(v))
        .cloned()
        .collect();
    if !shaped.is_empty() || sources.has_header("authorization") {
        keyed.extend(shaped.into_iter().map(TokenSource::Raw));
    } else {
        keyed.extend(others.into_iter().map(TokenSource::Raw));
    }
    if let Some(values) = event.identity_values.filter(|v| !v.is_empty()) {
        keyed = keyed
            .into_iter()
            .map(|source| match source {
                TokenSource::AuthorizationHeader(v) | TokenSource::Raw(v)
                    if !among(values, &v) =>
                {
                    warn_once(
                        &MISMATCH_WARNED,
                        "a credential from the configured identity sources is not among the event's identitySource values: TOLLGATE_IDENTITY_SOURCES does not mirror the authorizer's identity sources, so the credential is refused",
                    );
                    TokenSource::OutsideCacheKey
                }
                other => other,
            })
            .collect();
    }
    if !sources.has_header("authorization") {
        keyed.extend(
            values_of_header("authorization")
                .into_iter()
                .map(|_| TokenSource::OutsideCacheKey),
        );
    }
    keyed
}

/// Whether `value` is one of the identity-source values (HTTP API 1.0 joins
/// them with commas into one string; a value is compared trimmed).
fn among(values: &[String], value: &str) -> bool {
    let value = value.trim();
    values
        .iter()
        .any(|v| v.trim() == value || v.split(',').any(|part| part.trim() == value))
}

/// Three base64url segments separated by dots (the first two non-empty),
/// after an optional `Bearer ` scheme.
fn looks_like_compact_jws(value: &str) -> bool {
    let value = value.trim();
    let value = match (value.get(..7), value.get(7..)) {
        (Some(scheme), Some(rest)) if scheme.eq_ignore_ascii_case("bearer ") => rest.trim_start(),
        _ => value,
    };
    let mut segments = value.split('.');
    let first = segments.next().unwrap_or_default();
    let second = segments.next().unwrap_or_default();
    let third = segments.next();
    !first.is_empty()
        && !second.is_empty()
        && third.is_some()
        && segments.next().is_none()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

static MISMATCH_WARNED: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_parse_and_bad_entries_are_named() {
        let http = IdentitySources::parse(
            "$request.header.X-Token, $request.querystring.token, $context.routeKey, $stageVariables.tenant",
        )
        .unwrap();
        let rest = IdentitySources::parse(
            "method.request.header.X-Token,method.request.querystring.token,context.routeKey,stageVariables.tenant",
        )
        .unwrap();
        assert_eq!(http, rest);
        assert_eq!(
            http.sources(),
            [
                IdentitySource::Header("x-token".into()),
                IdentitySource::Query("token".into()),
                IdentitySource::Context("routeKey".into()),
                IdentitySource::StageVariable("tenant".into()),
            ]
        );
        assert_eq!(
            IdentitySources::parse("  ").unwrap(),
            IdentitySources::default()
        );
        assert_eq!(
            IdentitySources::parse(DEFAULT_IDENTITY_SOURCES).unwrap(),
            IdentitySources::default()
        );
        for bad in [
            "Authorization",
            "$request.header.",
            "$request.cookie.x",
            "$request.header.A,",
            "$request.header.a,$request.header.A",
        ] {
            let e = IdentitySources::parse(bad).unwrap_err();
            assert!(e.contains("entry"), "{bad}: {e}");
        }
    }

    #[test]
    fn jws_shapes() {
        assert!(looks_like_compact_jws("a.b.c"));
        assert!(looks_like_compact_jws("Bearer a.b.c"));
        assert!(looks_like_compact_jws("a.b."));
        assert!(!looks_like_compact_jws("a..c"));
        assert!(!looks_like_compact_jws("GET /request"));
        assert!(!looks_like_compact_jws("a.b.c.d"));
        assert!(!looks_like_compact_jws("Bearer"));
    }
}
