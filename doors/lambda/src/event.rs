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
//! Headers (`headers`, `multiValueHeaders`) are taken out of the event and
//! read as the JSON they are, every copy of every spelling of a name kept:
//! the typed header maps fold names differing in case, refuse control
//! characters, and panic past 32,768 entries. The rest is deserialized into
//! the typed events; when that fails, the error names the field, never its
//! value (event values can carry credentials).
//!
//! Credentials: the TOKEN event's `authorizationToken` (a bare token or
//! `Bearer …`); for the other formats, only what the authorizer's identity
//! sources hold (see [`crate::identity`]). Nothing is merged or cleaned up:
//! two headers, or HTTP API 2.0's comma-joined duplicates, reach the policy
//! module as they came, and it refuses them (`multiple-tokens`).

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayV2CustomAuthorizerV1Request, ApiGatewayV2CustomAuthorizerV2Request,
};
use std::collections::HashSet;

use serde_json::Value;
use tollgate_host::model::{Request, TokenSource};

use crate::arn::ExecuteApiArn;
use crate::identity::{self, EventCredentials, IdentitySources};

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
            "unsupported authorizer payload version ({}); expected \"1.0\" or \"2.0\"",
            other.map_or_else(
                || version.map(json_type).unwrap_or("?").to_string(),
                |v| format!("a string of {} characters", v.chars().count())
            )
        ))),
        (Some(other), _) => Err(EventError(format!(
            "unsupported authorizer event type (a string of {} characters); expected \"TOKEN\" or \"REQUEST\"",
            other.chars().count()
        ))),
        (None, _) => Err(EventError(
            "not an API Gateway authorizer event: no string member `type` (TOKEN or REQUEST)"
                .into(),
        )),
    }
}

/// An authorizer event read from its JSON: the typed event (without its
/// headers) and what a credential can be in, as sent.
#[derive(Debug, Clone)]
pub struct Event {
    /// The typed event; its header maps are empty (see [`Event::headers`]).
    pub typed: AuthorizerEvent,
    /// Headers as sorted (lower-case name, value) pairs: each value of
    /// `multiValueHeaders` for the names it has, else of `headers`.
    pub headers: Vec<(String, String)>,
    /// Query parameters as sorted (name, value) pairs: every value of
    /// `multiValueQueryStringParameters`, else `queryStringParameters`.
    pub query: Vec<(String, String)>,
}

impl Event {
    /// Detect the format of `payload` and read it.
    pub fn read(mut payload: Value) -> Result<Event, EventError> {
        let kind = detect(&payload)?;
        let object = payload
            .as_object_mut()
            .ok_or_else(|| EventError("not a JSON object".into()))?;
        let multi = object.remove("multiValueHeaders");
        let single = object.remove("headers");
        let headers = raw_headers(multi.as_ref(), single.as_ref());
        let query = sorted(raw_query(&payload));
        let typed = AuthorizerEvent::typed(kind, &payload).map_err(|e| {
            EventError(format!(
                "invalid {} authorizer event: {}",
                kind.as_str(),
                field_problem(&e)
            ))
        })?;
        Ok(Event {
            typed,
            headers,
            query,
        })
    }

    /// The format.
    pub fn kind(&self) -> EventKind {
        self.typed.kind()
    }

    /// The request this event asks about, decided at `now` (unix seconds),
    /// its credentials read from the identity `sources` (REQUEST events).
    /// The event's headers and query move into the request.
    pub fn into_request(self, sources: &IdentitySources, now: i64) -> ApiGatewayRequest {
        let credentials = |identity_values: Option<&[String]>| {
            identity::credentials(
                sources,
                EventCredentials {
                    headers: &self.headers,
                    query: &self.query,
                    identity_values,
                },
            )
        };
        let token_sources = match &self.typed {
            // The TOKEN authorizer's identity source (a header) as sent: a
            // bare token or `Bearer …`. Absent or empty: no credential.
            AuthorizerEvent::RestToken(e) => e
                .authorization_token
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| TokenSource::Raw(t.clone()))
                .collect(),
            // REST events do not list their identity-source values.
            AuthorizerEvent::RestRequest(_) => credentials(None),
            AuthorizerEvent::HttpV1(e) => {
                credentials(e.identity_source.as_ref().map(std::slice::from_ref))
            }
            AuthorizerEvent::HttpV2(e) => credentials(e.identity_source.as_deref()),
        };
        let method_arn = self.typed.arn().map(str::to_string);
        let mut request = Request {
            now,
            token_sources,
            headers: self.headers,
            query: self.query,
            ..Request::default()
        };
        route_and_client(&mut request, self.typed);
        ApiGatewayRequest {
            request,
            method_arn,
        }
    }
}

/// The request an event means, and what only this door reads: the
/// module sees [`Request`] (door-independent); the answer is built from the
/// event's ARN, which the door keeps. Dereferences to the [`Request`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiGatewayRequest {
    /// What the module decides on.
    pub request: Request,
    /// API Gateway's `methodArn` (REST, HTTP 1.0) or `routeArn` (HTTP 2.0).
    pub method_arn: Option<String>,
}

impl std::ops::Deref for ApiGatewayRequest {
    type Target = Request;

    fn deref(&self) -> &Request {
        &self.request
    }
}

/// Which field a deserialization error is about, and whether it is missing
/// or wrong: never the value (serde's own message quotes it, and a header,
/// query or identity value can be the whole token).
fn field_problem(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = safe_path(error.path());
    let message = error.inner().to_string();
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        // The name comes from the event type's definition, not the event.
        let full = if path == "." {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        return format!("field `{full}` is missing");
    }
    format!("field `{path}` has the wrong type or an invalid value")
}

/// Maps whose keys come from the client: their keys are not repeated.
const CLIENT_MAPS: [&str; 6] = [
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "cookies",
    "identitySource",
];

fn safe_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    let mut parent_is_client_map = false;
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                let plain = key.len() <= 40
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
                if !out.is_empty() {
                    out.push('.');
                }
                if plain && !parent_is_client_map {
                    out.push_str(key);
                } else {
                    out.push_str("<name>");
                }
                parent_is_client_map = CLIENT_MAPS.contains(&key.as_str());
                continue;
            }
            Segment::Unknown => out.push_str(".?"),
        }
        parent_is_client_map = false;
    }
    if out.is_empty() { ".".into() } else { out }
}

/// Headers from the raw `multiValueHeaders` / `headers` members: names
/// lower-cased, every spelling and copy kept, `multiValueHeaders` winning
/// for the names it has; values that are not strings are left out.
fn raw_headers(multi: Option<&Value>, single: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut from_multi: HashSet<String> = HashSet::new();
    let push = |out: &mut Vec<(String, String)>, name: &str, value: &Value| match value {
        Value::String(v) => out.push((name.to_string(), v.clone())),
        Value::Array(items) => out.extend(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|v| (name.to_string(), v.to_string())),
        ),
        _ => {}
    };
    if let Some(map) = multi.and_then(Value::as_object) {
        for (name, value) in map {
            let name = name.to_ascii_lowercase();
            push(&mut out, &name, value);
            from_multi.insert(name);
        }
    }
    if let Some(map) = single.and_then(Value::as_object) {
        for (name, value) in map {
            let name = name.to_ascii_lowercase();
            if !from_multi.contains(&name) {
                push(&mut out, &name, value);
            }
        }
    }
    out.sort();
    out
}

impl AuthorizerEvent {
    fn typed(
        kind: EventKind,
        payload: &Value,
    ) -> Result<Self, serde_path_to_error::Error<serde_json::Error>> {
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

fn from_value<T: serde::de::DeserializeOwned>(
    payload: &Value,
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize(payload)
}

/// The method and path the rules match, and the source IP, `typed`
/// carries (payload 2.0: its cookies back as a `cookie` header).
///
/// **Every format matches the same field: the method and path of the
/// event's ARN** (`methodArn`, or payload 2.0's `routeArn`): the route
/// relative to the stage, without the stage or a custom domain's base
/// path, which is what API Gateway evaluates the answer's IAM policy
/// against, so the module's rules and the policy agree by construction.
/// Only when the ARN names no route (an HTTP API's `$default` route, whose
/// ARN ends in `$default` for every path, or a console test's `*`) is the
/// request's own path taken: REST `path`, HTTP 1.0 `path`, HTTP 2.0
/// `rawPath`, without a named stage's `/<stage>` prefix. Methods are
/// passed as sent (case-sensitive). The host then canonicalizes the path.
fn route_and_client(request: &mut Request, typed: AuthorizerEvent) {
    let routed = typed
        .arn()
        .and_then(ExecuteApiArn::parse)
        .filter(|arn| arn.method != "$default" && arn.method != "*");
    let (method, path) = match typed {
        AuthorizerEvent::RestToken(_) => (String::new(), String::new()),
        AuthorizerEvent::RestRequest(e) => {
            request.source_ip = e.request_context.identity.and_then(|i| i.source_ip);
            (
                e.http_method
                    .as_ref()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
                e.path.unwrap_or_default(),
            )
        }
        AuthorizerEvent::HttpV1(e) => {
            request.source_ip = e.request_context.identity.source_ip;
            (
                e.http_method.as_str().to_string(),
                without_stage(
                    e.path.as_deref().unwrap_or_default(),
                    e.request_context.stage.as_deref(),
                ),
            )
        }
        AuthorizerEvent::HttpV2(e) => {
            // Payload 2.0 moves cookies out of the headers; put them back.
            if !e.cookies.is_empty() && !request.headers.iter().any(|(name, _)| name == "cookie") {
                request
                    .headers
                    .push(("cookie".into(), e.cookies.join("; ")));
                request.headers.sort();
            }
            request.source_ip = e.request_context.http.source_ip;
            (
                e.request_context.http.method.as_str().to_string(),
                without_stage(
                    e.raw_path
                        .as_deref()
                        .or(e.request_context.http.path.as_deref())
                        .unwrap_or_default(),
                    e.request_context.stage.as_deref(),
                ),
            )
        }
    };
    (request.method, request.path) = match routed {
        Some(arn) => (arn.method, arn.path),
        None => (method, path),
    };
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
