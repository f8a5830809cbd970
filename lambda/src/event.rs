//! API Gateway authorizer events: which format a payload is (detected from
//! the payload itself), and the [`Request`] it means.
//!
//! The four formats are deserialized into the `aws_lambda_events` types:
//!
//! | format | shape | type |
//! |---|---|---|
//! | REST API, TOKEN authorizer | `"type": "TOKEN"` | [`ApiGatewayCustomAuthorizerRequest`] |
//! | REST API, REQUEST authorizer | `"type": "REQUEST"`, no `version` | [`ApiGatewayCustomAuthorizerRequestTypeRequest`] |
//! | HTTP API, payload 1.0 | `"type": "REQUEST"`, `"version": "1.0"` | [`ApiGatewayV2CustomAuthorizerV1Request`] |
//! | HTTP API, payload 2.0 | `"type": "REQUEST"`, `"version": "2.0"` | [`ApiGatewayV2CustomAuthorizerV2Request`] |
//!
//! Credentials: the TOKEN event's `authorizationToken` (a bare token or
//! `Bearer …`); for the other formats every `Authorization` header value
//! (any case, every copy), and only when there is none, the identity
//! sources. Nothing is merged or cleaned up: two headers, or HTTP API 2.0's
//! comma-joined duplicates, reach the policy module as they came, and it
//! refuses them (`multiple-tokens`).

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV1Request, ApiGatewayV2CustomAuthorizerV2Request,
};
use aws_lambda_events::http::{HeaderMap, HeaderName};
use serde_json::Value;
use tollgate::model::{Request, TokenSource};

use crate::arn::ExecuteApiArn;

/// The authorizer event formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// REST API, TOKEN authorizer.
    RestToken,
    /// REST API, REQUEST authorizer (also WebSocket APIs).
    RestRequest,
    /// HTTP API, payload format 1.0.
    HttpV1,
    /// HTTP API, payload format 2.0.
    HttpV2,
}

impl EventKind {
    /// A short name for logs: `rest-token`, `rest-request`, `http-1.0`, `http-2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RestToken => "rest-token",
            EventKind::RestRequest => "rest-request",
            EventKind::HttpV1 => "http-1.0",
            EventKind::HttpV2 => "http-2.0",
        }
    }

    /// Whether API Gateway accepts a `usageIdentifierKey` (REST API usage plans).
    pub fn is_rest(self) -> bool {
        matches!(self, EventKind::RestToken | EventKind::RestRequest)
    }
}

/// An event this function cannot read: not an API Gateway authorizer event,
/// or one whose fields do not fit its format. API Gateway builds these
/// events itself (clients cannot change their shape), so this is a
/// deployment problem, answered as a function error (API Gateway: 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

/// A parsed authorizer event.
#[derive(Debug, Clone)]
pub enum AuthorizerEvent {
    /// REST API TOKEN.
    RestToken(ApiGatewayCustomAuthorizerRequest),
    /// REST API REQUEST.
    RestRequest(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
    /// HTTP API payload 1.0.
    HttpV1(Box<ApiGatewayV2CustomAuthorizerV1Request>),
    /// HTTP API payload 2.0.
    HttpV2(Box<ApiGatewayV2CustomAuthorizerV2Request>),
}

/// Which format `payload` is, from its `type` and `version` members.
pub fn detect(payload: &Value) -> Result<EventKind, EventError> {
    let Some(object) = payload.as_object() else {
        return Err(EventError(format!(
            "not an API Gateway authorizer event: expected a JSON object, got {}",
            json_type(payload)
        )));
    };
    let kind = object.get("type").and_then(Value::as_str);
    let version = object.get("version").filter(|v| !v.is_null());
    match (kind, version.map(|v| v.as_str())) {
        (Some("TOKEN"), _) => Ok(EventKind::RestToken),
        (Some("REQUEST"), None) => Ok(EventKind::RestRequest),
        (Some("REQUEST"), Some(Some("1.0"))) => Ok(EventKind::HttpV1),
        (Some("REQUEST"), Some(Some("2.0"))) => Ok(EventKind::HttpV2),
        (Some("REQUEST"), Some(other)) => Err(EventError(format!(
            "unsupported authorizer payload version {}; expected \"1.0\" or \"2.0\"",
            other.map_or_else(
                || version.map(json_type).unwrap_or("?").to_string(),
                |v| format!("{:?}", cut(v))
            )
        ))),
        (Some(other), _) => Err(EventError(format!(
            "unsupported authorizer event type {:?}; expected \"TOKEN\" or \"REQUEST\"",
            cut(other)
        ))),
        (None, _) => Err(EventError(
            "not an API Gateway authorizer event: no string member `type` (TOKEN or REQUEST)"
                .into(),
        )),
    }
}

impl AuthorizerEvent {
    /// Detect the format of `payload` and deserialize it.
    pub fn parse(payload: &Value) -> Result<Self, EventError> {
        let kind = detect(payload)?;
        let bad = |e: serde_json::Error| {
            EventError(format!("invalid {} authorizer event: {e}", kind.as_str()))
        };
        match Self::typed(kind, payload) {
            Ok(event) => Ok(event),
            // Header values are the one part a client controls that the
            // typed header maps can refuse (control characters): retry with
            // those characters replaced, so odd client input is a deny, not
            // a function error. Credentials are still counted in the raw event.
            Err(e) => match sanitized_headers(payload) {
                Some(clean) => Self::typed(kind, &clean).map_err(|_| bad(e)),
                None => Err(bad(e)),
            },
        }
    }

    fn typed(kind: EventKind, payload: &Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            EventKind::RestToken => AuthorizerEvent::RestToken(from_value(payload)?),
            EventKind::RestRequest => AuthorizerEvent::RestRequest(Box::new(from_value(payload)?)),
            EventKind::HttpV1 => AuthorizerEvent::HttpV1(Box::new(from_value(payload)?)),
            EventKind::HttpV2 => AuthorizerEvent::HttpV2(Box::new(from_value(payload)?)),
        })
    }

    /// The format.
    pub fn kind(&self) -> EventKind {
        match self {
            AuthorizerEvent::RestToken(_) => EventKind::RestToken,
            AuthorizerEvent::RestRequest(_) => EventKind::RestRequest,
            AuthorizerEvent::HttpV1(_) => EventKind::HttpV1,
            AuthorizerEvent::HttpV2(_) => EventKind::HttpV2,
        }
    }

    /// The method ARN (REST, HTTP 1.0) or route ARN (HTTP 2.0) as sent.
    pub fn arn(&self) -> Option<&str> {
        match self {
            AuthorizerEvent::RestToken(e) => e.method_arn.as_deref(),
            AuthorizerEvent::RestRequest(e) => e.method_arn.as_deref(),
            AuthorizerEvent::HttpV1(e) => e.method_arn.as_deref(),
            AuthorizerEvent::HttpV2(e) => e.route_arn.as_deref(),
        }
    }
}

/// A copy of `payload` whose `headers` / `multiValueHeaders` hold only what
/// an HTTP header map accepts: control characters in values replaced by
/// U+FFFD, entries with impossible names dropped. `None` when nothing changed.
fn sanitized_headers(payload: &Value) -> Option<Value> {
    let bad_char = |c: char| c.is_ascii_control() && c != '\t';
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if bad_char(c) { '\u{FFFD}' } else { c })
            .collect()
    };
    let mut copy = payload.clone();
    let mut changed = false;
    for member in ["headers", "multiValueHeaders"] {
        let Some(object) = copy.get_mut(member).and_then(Value::as_object_mut) else {
            continue;
        };
        let before = object.len();
        object.retain(|name, _| HeaderName::from_bytes(name.as_bytes()).is_ok());
        changed |= object.len() != before;
        for value in object.values_mut() {
            let strings: Vec<&mut Value> = match value {
                Value::Array(items) => items.iter_mut().collect(),
                other => vec![other],
            };
            for item in strings {
                if let Value::String(s) = item
                    && s.chars().any(bad_char)
                {
                    *s = clean(s);
                    changed = true;
                }
            }
        }
    }
    changed.then_some(copy)
}

fn from_value<T: serde::de::DeserializeOwned>(payload: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(payload)
}

/// The request `event` asks about, decided at `now` (unix seconds).
///
/// `raw` is the event as received: the typed header maps fold header names
/// that differ only in case into one entry (and may keep only one of their
/// values), so `Authorization` values are also counted in the raw JSON and
/// the longer list wins — a second credential is never lost.
pub fn to_request(event: &AuthorizerEvent, raw: &Value, now: i64) -> Request {
    let mut request = Request {
        now,
        method_arn: event.arn().map(str::to_string),
        ..Request::default()
    };
    match event {
        AuthorizerEvent::RestToken(e) => {
            // The TOKEN authorizer's identity source (a header) as sent: a
            // bare token or `Bearer …`. Absent or empty: no credential.
            if let Some(token) = e.authorization_token.as_deref().filter(|t| !t.is_empty()) {
                request
                    .token_sources
                    .push(TokenSource::Raw(token.to_string()));
            }
            // No method or path in a TOKEN event: they are in the method ARN.
            if let Some(arn) = e.method_arn.as_deref().and_then(ExecuteApiArn::parse) {
                request.method = arn.method.to_ascii_uppercase();
                request.path = arn.path;
            }
        }
        AuthorizerEvent::RestRequest(e) => {
            let multi = header_values(&e.multi_value_headers, "authorization");
            let typed = if multi.is_empty() {
                header_values(&e.headers, "authorization")
            } else {
                multi
            };
            request.token_sources = authorization_sources(typed, raw, &[]);
            request.method = e
                .http_method
                .as_ref()
                .map(|m| m.as_str().to_ascii_uppercase())
                .unwrap_or_default();
            request.path = e.path.clone().unwrap_or_default();
            request.headers = merged_headers(&e.headers, &e.multi_value_headers);
            // Read from the raw event: `QueryMap::iter` panics on a
            // parameter with an empty list of values (query_map 0.7).
            request.query = sorted(raw_query(raw));
            request.source_ip = e
                .request_context
                .identity
                .as_ref()
                .and_then(|i| i.source_ip.clone());
        }
        AuthorizerEvent::HttpV1(e) => {
            let identity: Vec<String> = e
                .identity_source
                .clone()
                .or_else(|| e.authorization_token.clone())
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
            request.token_sources =
                authorization_sources(header_values(&e.headers, "authorization"), raw, &identity);
            request.method = e.http_method.as_str().to_ascii_uppercase();
            request.path = without_stage(
                e.path.as_deref().unwrap_or_default(),
                e.request_context.stage.as_deref(),
            );
            request.headers = merged_headers(&e.headers, &HeaderMap::new());
            request.query = sorted(
                e.query_string_parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            request.source_ip = e.request_context.identity.source_ip.clone();
        }
        AuthorizerEvent::HttpV2(e) => {
            let identity: Vec<String> = e
                .identity_source
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
            request.token_sources =
                authorization_sources(header_values(&e.headers, "authorization"), raw, &identity);
            request.method = e.request_context.http.method.as_str().to_ascii_uppercase();
            request.path = without_stage(
                e.raw_path
                    .as_deref()
                    .or(e.request_context.http.path.as_deref())
                    .unwrap_or_default(),
                e.request_context.stage.as_deref(),
            );
            let mut headers = merged_headers(&e.headers, &HeaderMap::new());
            // Payload 2.0 moves cookies out of the headers; put them back.
            if !e.cookies.is_empty() && !headers.iter().any(|(name, _)| name == "cookie") {
                headers.push(("cookie".into(), e.cookies.join("; ")));
                headers.sort();
            }
            request.headers = headers;
            request.query = sorted(
                e.query_string_parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            request.source_ip = e.request_context.http.source_ip.clone();
        }
    }
    request
}

/// An HTTP API path as routed: with a named stage (not `$default`), HTTP
/// APIs put `/<stage>` in front of `path` / `rawPath`; routes (and the
/// route ARN) do not have it.
fn without_stage(path: &str, stage: Option<&str>) -> String {
    if let Some(stage) = stage.filter(|s| !s.is_empty() && *s != "$default")
        && let Some(rest) = path.strip_prefix('/').and_then(|p| p.strip_prefix(stage))
        && (rest.is_empty() || rest.starts_with('/'))
    {
        return if rest.is_empty() {
            "/".into()
        } else {
            rest.into()
        };
    }
    path.to_string()
}

/// REST query parameters: every value of `multiValueQueryStringParameters`,
/// else `queryStringParameters`.
fn raw_query(raw: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if let Some(multi) = raw
        .get("multiValueQueryStringParameters")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    {
        for (name, values) in multi {
            match values {
                Value::Array(items) => pairs.extend(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|v| (name.clone(), v.to_string())),
                ),
                Value::String(v) => pairs.push((name.clone(), v.clone())),
                _ => {}
            }
        }
    } else if let Some(single) = raw.get("queryStringParameters").and_then(Value::as_object) {
        for (name, value) in single {
            if let Some(v) = value.as_str() {
                pairs.push((name.clone(), v.to_string()));
            }
        }
    }
    pairs
}

/// Every value of header `name` (lower case) in `map`, in order.
fn header_values(map: &HeaderMap, name: &str) -> Vec<String> {
    map.get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// The credentials: the `Authorization` header values (typed or raw,
/// whichever list is longer), else the identity sources as bare tokens.
fn authorization_sources(typed: Vec<String>, raw: &Value, identity: &[String]) -> Vec<TokenSource> {
    let raw_values = raw_authorization_values(raw);
    let headers = if raw_values.len() > typed.len() {
        raw_values
    } else {
        typed
    };
    if !headers.is_empty() {
        return headers
            .into_iter()
            .map(TokenSource::AuthorizationHeader)
            .collect();
    }
    identity_tokens(identity)
        .into_iter()
        .map(TokenSource::Raw)
        .collect()
}

/// The credentials among an authorizer's identity-source values when there
/// is no `Authorization` header (a token from a query string or another
/// header). Identity sources often also carry the route
/// (`$context.routeKey`, `context.resourcePath`) to make caching per route
/// safe, and payload 1.0 joins all values with commas, so: values are split
/// at commas (a JWS never holds one), and those shaped like a compact JWS
/// (three base64url segments) are the credentials. When none is, all values
/// go to the module, which says what is wrong with them.
fn identity_tokens(identity: &[String]) -> Vec<String> {
    let values: Vec<String> = identity
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_string)
        .collect();
    let tokens: Vec<String> = values
        .iter()
        .filter(|value| looks_like_compact_jws(value))
        .cloned()
        .collect();
    if tokens.is_empty() { values } else { tokens }
}

/// Three base64url segments separated by dots (the first two non-empty),
/// after an optional `Bearer ` scheme.
fn looks_like_compact_jws(value: &str) -> bool {
    let value = match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => value[7..].trim_start(),
        _ => value,
    };
    let segments: Vec<&str> = value.split('.').collect();
    segments.len() == 3
        && !segments[0].is_empty()
        && !segments[1].is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `Authorization` values in the raw event's `multiValueHeaders` (if any),
/// else its `headers`, matching the name in any case; arrays count each item.
fn raw_authorization_values(raw: &Value) -> Vec<String> {
    let collect = |member: &str| -> Vec<String> {
        let mut values = Vec::new();
        if let Some(object) = raw.get(member).and_then(Value::as_object) {
            for (name, value) in object {
                if !name.eq_ignore_ascii_case("authorization") {
                    continue;
                }
                match value {
                    Value::String(s) => values.push(s.clone()),
                    Value::Array(items) => {
                        values.extend(items.iter().filter_map(Value::as_str).map(str::to_string))
                    }
                    _ => {}
                }
            }
        }
        values
    };
    let multi = collect("multiValueHeaders");
    if multi.is_empty() {
        collect("headers")
    } else {
        multi
    }
}

/// Headers as sorted (lower-case name, value) pairs; each value of
/// `multi` (when it has the name) else of `single`.
fn merged_headers(single: &HeaderMap, multi: &HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in multi.keys() {
        for value in multi.get_all(name) {
            out.push((
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
        }
    }
    for name in single.keys() {
        if multi.contains_key(name) {
            continue;
        }
        for value in single.get_all(name) {
            out.push((
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
        }
    }
    // `HeaderMap` names are already lower case; sorted for determinism.
    out.sort();
    out
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.sort();
    pairs
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An untrusted string cut to 64 characters for messages.
fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_stages_are_taken_off_http_api_paths() {
        assert_eq!(without_stage("/prod/orders/1", Some("prod")), "/orders/1");
        assert_eq!(without_stage("/prod", Some("prod")), "/");
        assert_eq!(without_stage("/prod/", Some("prod")), "/");
        assert_eq!(
            without_stage("/production/x", Some("prod")),
            "/production/x"
        );
        assert_eq!(without_stage("/orders/1", Some("prod")), "/orders/1");
        assert_eq!(
            without_stage("/$default/x", Some("$default")),
            "/$default/x"
        );
        assert_eq!(without_stage("/x", None), "/x");
        assert_eq!(without_stage("", Some("prod")), "");
    }

    #[test]
    fn detection_needs_an_object_with_a_known_type_and_version() {
        use serde_json::json;
        assert_eq!(detect(&json!({"type": "TOKEN"})), Ok(EventKind::RestToken));
        assert_eq!(
            detect(&json!({"type": "REQUEST", "version": "2.0"})),
            Ok(EventKind::HttpV2)
        );
        assert!(detect(&json!({"type": "token"})).is_err());
        assert!(detect(&json!({"type": "REQUEST", "version": 2})).is_err());
        assert!(detect(&json!({"type": "REQUEST", "version": "3.0"})).is_err());
        assert_eq!(
            detect(&json!({"type": "REQUEST", "version": null})),
            Ok(EventKind::RestRequest)
        );
        assert!(detect(&json!(null)).is_err());
    }
}
