//! A decision as a forward-auth answer, the same for every dialect (the
//! gRPC door writes the same status, headers and body into its
//! `CheckResponse`):
//!
//! | decision | status | headers |
//! |---|---|---|
//! | allow | 200 | every identity header (empty when there is no value) |
//! | deny, no token | 401 | `WWW-Authenticate: Bearer` (no `error`, RFC 6750 §3.1) |
//! | deny, bad token | 401 | `Bearer error="invalid_token", error_description="<fixed text>"` |
//! | deny, missing scope | 403 | `Bearer error="insufficient_scope", error_description=…, scope="…"` |
//! | deny, refused by the rules | 403 | none |
//! | keys unavailable, module failure, overload, deadline | 503 | `Retry-After` |
//! | forwarding header missing or repeated | 400 | none |
//!
//! The error description is fixed text per deny reason: the deny's detail
//! may quote token strings and never leaves the server. Challenges carry
//! `resource_metadata` (RFC 9728) when the resource is configured.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};
use tollgate_host::model::{Decision, Deny, DenyReason, DenyStatus, Outcome};

use crate::settings::{IdentityHeaders, ResourceMetadata, is_scope_token};

/// What the door sends back, whatever its wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status the proxy should give the client (200: let it through).
    pub status: StatusCode,
    /// Headers: identity headers on an allow, a challenge on a deny.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A small JSON body on a refusal (empty on an allow).
    pub body: Bytes,
    /// For logs and metrics: `allow`, `deny`, `error`, `bad-request`, `overloaded`.
    pub outcome: &'static str,
    /// For logs and metrics: the deny reason, or why the host failed.
    pub reason: &'static str,
}

/// The door's view of a configured server: what every answer needs.
#[derive(Debug, Clone)]
pub struct AnswerStyle {
    /// The identity headers.
    pub identity: IdentityHeaders,
    /// The `resource_metadata` URL for challenges, when configured.
    pub metadata_url: Option<String>,
}

impl AnswerStyle {
    /// The style for these identity headers and this (optional) resource.
    pub fn new(identity: IdentityHeaders, resource: Option<&ResourceMetadata>) -> Self {
        AnswerStyle {
            identity,
            metadata_url: resource.map(ResourceMetadata::metadata_url),
        }
    }
}

/// The answer to a decision.
pub fn answer(decision: &Decision, style: &AnswerStyle) -> Answer {
    match decision.outcome() {
        Outcome::Allow(allow) => {
            let identity = &style.identity;
            let mut headers = Vec::with_capacity(2 + identity.context.len());
            headers.push((identity.principal.clone(), header_text(&allow.principal)));
            let issuer = if allow.principal.is_empty() {
                ""
            } else {
                allow.issuer.as_str()
            };
            headers.push((identity.issuer.clone(), header_text(issuer)));
            for (name, header) in &identity.context {
                let value = allow
                    .context
                    .iter()
                    .find(|(key, _)| key == name)
                    .map_or_else(
                        || HeaderValue::from_static(""),
                        |(_, json)| header_json(json),
                    );
                headers.push((header.clone(), value));
            }
            Answer {
                status: StatusCode::OK,
                headers,
                body: Bytes::new(),
                outcome: "allow",
                reason: "",
            }
        }
        Outcome::Unauthenticated(deny) => refusal(StatusCode::UNAUTHORIZED, deny, style),
        Outcome::Forbidden(deny) => refusal(StatusCode::FORBIDDEN, deny, style),
        Outcome::BadRequest(deny) => invalid_path(description(deny.reason)),
        Outcome::Unavailable(_) => unavailable("keys-unavailable"),
        Outcome::Failed { .. } => unavailable("module-failed"),
    }
}

/// A 503 for the host's own trouble (`keys-unavailable`, `module-failed`,
/// `overloaded`, `deadline`): never an allow, retry soon.
pub fn unavailable(reason: &'static str) -> Answer {
    Answer {
        status: StatusCode::SERVICE_UNAVAILABLE,
        headers: vec![
            (header::RETRY_AFTER, HeaderValue::from_static("1")),
            json_type(),
            no_store(),
        ],
        body: Bytes::from(format!(
            "{{\"error\":\"temporarily_unavailable\",\"reason\":\"{reason}\"}}"
        )),
        outcome: if reason == "overloaded" {
            "overloaded"
        } else {
            "error"
        },
        reason,
    }
}

/// A 400 for a path that cannot be decided safely (`invalid-path`,
/// `docs/paths.md`): the body says what is wrong with it (the host's fixed
/// text per refusal), never quoting it.
pub fn invalid_path(why: &str) -> Answer {
    let body = serde_json::json!({
        "error": "invalid_request",
        "error_description": why,
    });
    Answer {
        status: StatusCode::BAD_REQUEST,
        headers: vec![json_type(), no_store()],
        body: Bytes::from(body.to_string()),
        outcome: "bad-request",
        reason: "invalid-path",
    }
}

/// A 400: the proxy did not send the forwarding headers its dialect needs
/// (or sent one twice). `why` names the header, never its value.
pub fn bad_request(why: &str) -> Answer {
    let body = serde_json::json!({ "error": "invalid_request", "error_description": why });
    Answer {
        status: StatusCode::BAD_REQUEST,
        headers: vec![json_type(), no_store()],
        body: Bytes::from(body.to_string()),
        outcome: "bad-request",
        reason: "forwarding-headers",
    }
}

fn no_store() -> (HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

fn json_type() -> (HeaderName, HeaderValue) {
    (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )
}

fn refusal(status: StatusCode, deny: &Deny, style: &AnswerStyle) -> Answer {
    let (error, challenge) = challenge(deny, style.metadata_url.as_deref());
    let mut headers = vec![json_type(), no_store()];
    if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.push((header::WWW_AUTHENTICATE, challenge));
    }
    let body = match error {
        Some(error) => serde_json::json!({
            "error": error,
            "error_description": description(deny.reason),
        }),
        None => serde_json::json!({ "error": "unauthorized" }),
    };
    Answer {
        status,
        headers,
        body: Bytes::from(body.to_string()),
        outcome: "deny",
        reason: deny.reason.as_str(),
    }
}

/// The RFC 6750 error code and `WWW-Authenticate` challenge for a deny:
/// no `error` when the request carried no token; `insufficient_scope` with
/// the scopes needed; `invalid_request` for more than one credential;
/// `invalid_token` for every other 401. A 403 from the rules other than a
/// missing scope has no challenge (another token would not help).
pub fn challenge(
    deny: &Deny,
    metadata_url: Option<&str>,
) -> (Option<&'static str>, Option<String>) {
    let mut params: Vec<String> = Vec::new();
    // The status decides the kind of challenge (a 401 always has one,
    // RFC 7235), the reason only its details.
    let error = match (deny.status, deny.reason) {
        (DenyStatus::Forbidden, DenyReason::InsufficientScope) => Some("insufficient_scope"),
        (DenyStatus::Forbidden, _) => return (Some("forbidden"), None),
        (DenyStatus::Unauthenticated, DenyReason::MissingToken) => None,
        (DenyStatus::Unauthenticated, DenyReason::MultipleTokens) => Some("invalid_request"),
        (DenyStatus::Unauthenticated, _) => Some("invalid_token"),
    };
    if let Some(error) = error {
        params.push(format!("error=\"{error}\""));
        params.push(format!(
            "error_description=\"{}\"",
            description(deny.reason)
        ));
    }
    if deny.reason == DenyReason::InsufficientScope {
        let scopes: Vec<&str> = deny
            .required_scopes
            .iter()
            .map(String::as_str)
            .filter(|scope| is_scope_token(scope))
            .collect();
        if !scopes.is_empty() {
            params.push(format!("scope=\"{}\"", scopes.join(" ")));
        }
    }
    if let Some(url) = metadata_url {
        params.push(format!("resource_metadata=\"{url}\""));
    }
    let challenge = if params.is_empty() {
        "Bearer".to_string()
    } else {
        format!("Bearer {}", params.join(", "))
    };
    (error, Some(challenge))
}

/// Fixed text per deny reason for `error_description`: what is wrong with
/// the token, never anything read from it.
pub fn description(reason: DenyReason) -> &'static str {
    match reason {
        DenyReason::MissingToken => "no bearer token was sent",
        DenyReason::MultipleTokens => "more than one credential was sent",
        DenyReason::Malformed => "the token is not a well-formed JWT",
        DenyReason::DisallowedAlgorithm => "the token's signing algorithm is not accepted",
        DenyReason::UntrustedHeader => "the token's header is not accepted",
        DenyReason::WrongType => "the token's type is not accepted",
        DenyReason::UnknownKey => "the token's signing key is not known",
        DenyReason::KeyMismatch | DenyReason::BadSignature => "the token's signature is invalid",
        DenyReason::InvalidClaims => "the token's claims are invalid",
        DenyReason::MissingClaim => "the token lacks a required claim",
        DenyReason::Expired => "the token has expired",
        DenyReason::NotYetValid => "the token is not valid yet",
        DenyReason::IssuedInFuture => "the token is issued in the future",
        DenyReason::LifetimeTooLong => "the token's lifetime is too long",
        DenyReason::WrongIssuer => "the token's issuer is not accepted",
        DenyReason::WrongAudience => "the token's audience is not accepted",
        DenyReason::WrongClient => "the token's client is not accepted",
        DenyReason::WrongTokenUse => "the token's use is not accepted",
        DenyReason::InsufficientScope => "the token lacks a scope this request needs",
        DenyReason::Forbidden => "the token does not allow this request",
        DenyReason::KeysUnavailable => "the signing keys are unavailable",
        DenyReason::InvalidPath => "the request's path or method cannot be decided safely",
    }
}

/// A context value (its JSON encoding) as a header value: a string as
/// itself ([`header_text`]), an array of strings comma-joined when every
/// item is printable ASCII without space, comma or quote, `null` as empty,
/// anything else as compact JSON.
pub fn header_json(json: &str) -> HeaderValue {
    use serde_json::Value;
    match serde_json::from_str::<Value>(json) {
        Ok(Value::String(text)) => header_text(&text),
        Ok(Value::Null) => HeaderValue::from_static(""),
        Ok(Value::Array(items))
            if items
                .iter()
                .all(|item| item.as_str().is_some_and(list_item)) =>
        {
            let joined = items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",");
            // Every item checked: the commas are the list's own.
            HeaderValue::from_str(&joined).unwrap_or_else(|_| HeaderValue::from_static(""))
        }
        // Compact JSON: serde_json escapes every control character but DEL.
        Ok(other) => HeaderValue::from_str(&other.to_string().replace('\u{7f}', "\\u007f"))
            .unwrap_or_else(|_| HeaderValue::from_static("")),
        Err(_) => header_text(json),
    }
}

/// An array item that can be written bare in a comma-joined list.
fn list_item(item: &str) -> bool {
    !item.is_empty()
        && item
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b',' && b != b'"')
}

/// Text as a header value that reaches the upstream unchanged: text holding
/// a control character (CR, LF, NUL, DEL), a leading or trailing space or
/// tab (which proxies trim), a comma (which would read as a list) or a
/// double quote (which would read as JSON) is
/// sent as its JSON string encoding, quotes included, which escapes them.
pub fn header_text(text: &str) -> HeaderValue {
    let clean = |text: &str| {
        !text
            .bytes()
            .any(|b| b < 0x20 || b == 0x7f || b == b',' || b == b'"')
            && text.trim_matches([' ', '\t']).len() == text.len()
    };
    let escaped;
    let text = if clean(text) {
        text
    } else {
        escaped = serde_json::Value::String(text.to_string())
            .to_string()
            .replace('\u{7f}', "\\u007f");
        &escaped
    };
    HeaderValue::from_str(text)
        .or_else(|_| HeaderValue::from_bytes(text.as_bytes()))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_host::model::{Allow, Effect, Grant};

    fn style(metadata: Option<&str>) -> AnswerStyle {
        AnswerStyle {
            identity: IdentityHeaders::new("x-auth-", &["email".into(), "groups".into()])
                .expect("valid"),
            metadata_url: metadata.map(str::to_string),
        }
    }

    fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
        answer
            .headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    fn allow(principal: &str, context: &[(&str, &str)]) -> Decision {
        Decision::Allow(Allow {
            principal: principal.into(),
            issuer: "https://issuer.test".into(),
            context: context
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            grants: vec![Grant {
                effect: Effect::Allow,
                method: "*".into(),
                path: "/*".into(),
            }],
            request_dependent: false,
            expires_at: Some(1),
            rule: None,
        })
    }

    #[test]
    fn an_allow_sets_every_identity_header_even_when_absent() {
        let answer = answer(
            &allow("alice", &[("groups", r#"["staff","ops"]"#)]),
            &style(None),
        );
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(header(&answer, "x-auth-principal"), Some("alice"));
        assert_eq!(
            header(&answer, "x-auth-issuer"),
            Some("https://issuer.test")
        );
        assert_eq!(header(&answer, "x-auth-email"), Some(""));
        assert_eq!(header(&answer, "x-auth-groups"), Some("staff,ops"));
    }

    #[test]
    fn a_public_allow_clears_the_identity_headers() {
        let answer = answer(&allow("", &[]), &style(None));
        for name in [
            "x-auth-principal",
            "x-auth-issuer",
            "x-auth-email",
            "x-auth-groups",
        ] {
            assert_eq!(header(&answer, name), Some(""), "{name}");
        }
    }

    #[test]
    fn header_values_never_carry_control_characters() {
        for json in [
            r#""a\r\nX-Evil: 1""#,
            r#""nul\u0000""#,
            r#""del\u007f""#,
            r#"{"a":"b\nc"}"#,
            r#"["x\ny"]"#,
        ] {
            let value = header_json(json);
            assert!(
                !value.as_bytes().iter().any(|b| *b < 0x20 || *b == 0x7f),
                "{json} gave {value:?}"
            );
            assert!(!value.is_empty(), "{json}");
        }
        assert_eq!(header_json(r#""é""#).as_bytes(), "é".as_bytes());
        assert_eq!(header_json(r#"{"a":1}"#), r#"{"a":1}"#);
        assert_eq!(header_json(r#"["a,b","c"]"#), r#"["a,b","c"]"#);
        assert_eq!(header_json("7"), "7");
        assert_eq!(header_json("null"), "");
        assert_eq!(header_text("bob\r\n"), r#""bob\r\n""#);
        // What a proxy would trim or read as a list is quoted.
        assert_eq!(header_text(" admin"), r#"" admin""#);
        assert_eq!(header_text("admin\t"), r#""admin\t""#);
        assert_eq!(header_json(r#""a,admins""#), r#""a,admins""#);
        assert_eq!(header_json(r#"["a","admins"]"#), "a,admins");
        assert_eq!(header_json(r#"["a b","c"]"#), r#"["a b","c"]"#);
        assert_eq!(header_text("Doe John"), "Doe John");
    }

    #[test]
    fn no_token_gets_a_challenge_without_error() {
        let deny = Decision::Deny(Deny::new(DenyReason::MissingToken, "no token"));
        let answer = answer(&deny, &style(None));
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(header(&answer, "www-authenticate"), Some("Bearer"));
        let with_metadata = super::answer(
            &deny,
            &style(Some(
                "https://a.example/.well-known/oauth-protected-resource",
            )),
        );
        assert_eq!(
            header(&with_metadata, "www-authenticate"),
            Some(
                r#"Bearer resource_metadata="https://a.example/.well-known/oauth-protected-resource""#
            )
        );
    }

    #[test]
    fn a_bad_token_gets_fixed_text_never_the_detail() {
        for reason in DenyReason::ALL {
            let deny = Deny::new(reason, "detail quoting eyJhbGciOi the token");
            let answer = answer(&Decision::Deny(deny), &style(None));
            let challenge = header(&answer, "www-authenticate").unwrap_or_default();
            let body = std::str::from_utf8(&answer.body).expect("utf-8");
            assert!(
                !challenge.contains("eyJ") && !body.contains("eyJ"),
                "{reason:?}"
            );
            match reason {
                DenyReason::KeysUnavailable => {
                    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE)
                }
                DenyReason::InvalidPath => {
                    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
                    assert_eq!(answer.reason, "invalid-path");
                    assert_eq!(challenge, "");
                }
                DenyReason::Forbidden => {
                    assert_eq!(answer.status, StatusCode::FORBIDDEN);
                    assert_eq!(challenge, "");
                }
                DenyReason::InsufficientScope => {
                    assert_eq!(answer.status, StatusCode::FORBIDDEN);
                    assert!(challenge.starts_with(r#"Bearer error="insufficient_scope""#));
                }
                DenyReason::MissingToken => assert_eq!(challenge, "Bearer"),
                DenyReason::MultipleTokens => {
                    assert!(challenge.starts_with(r#"Bearer error="invalid_request""#))
                }
                _ => {
                    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
                    assert_eq!(
                        challenge,
                        format!(
                            r#"Bearer error="invalid_token", error_description="{}""#,
                            description(reason)
                        )
                    );
                }
            }
        }
    }

    #[test]
    fn a_missing_scope_names_the_scopes() {
        let mut deny = Deny::new(DenyReason::InsufficientScope, "");
        deny.required_scopes = vec!["orders.write".into(), "bad\"scope".into(), "admin".into()];
        let answer = answer(&Decision::Deny(deny), &style(None));
        assert_eq!(
            header(&answer, "www-authenticate"),
            Some(
                r#"Bearer error="insufficient_scope", error_description="the token lacks a scope this request needs", scope="orders.write admin""#
            )
        );
    }

    #[test]
    fn host_failures_are_503_never_an_allow() {
        let failed = Decision::Error {
            reason: "internal-error".into(),
            message: "trap".into(),
        };
        let answer = answer(&failed, &style(None));
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&answer, "retry-after"), Some("1"));
        assert!(!String::from_utf8_lossy(&answer.body).contains("trap"));
    }
}
