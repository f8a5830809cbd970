//! The answer API Gateway gets for a decision.
//!
//! | decision | REST (TOKEN, REQUEST), HTTP 1.0, HTTP 2.0 with IAM policies | HTTP 2.0 simple responses |
//! |---|---|---|
//! | allow | `Allow` for exactly the granted routes, `Deny` for the exceptions carved out of them ([`crate::iam`]), `context` | `isAuthorized` = the grants allow the requested route (first match decides), `context` |
//! | deny 401 | function error `Unauthorized` | the same |
//! | deny 403 | explicit `Deny` of the requested route only, `principalId` the caller (`Unauthorized` when the route's ARN holds an IAM wildcard from the client) | `isAuthorized: false` |
//! | keys unavailable, module/host failure | function error (not `Unauthorized`): API Gateway answers 500 and caches nothing | the same |

use std::sync::atomic::AtomicBool;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerIamPolicyResponse, ApiGatewayV2CustomAuthorizerSimpleResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::{Map, Value};
use tollgate_host::model::grants::route_granted;
use tollgate_host::model::{Allow, Decision, DenyReason, Grant, Outcome};

use crate::arn::ExecuteApiArn;
use crate::event::{ApiGatewayRequest, EventKind};
use crate::iam::grant_statements;
use crate::{HandlerError, LambdaSettings, warn_once};

/// The `principalId` of a 403 answer whose deny names no principal (a
/// custom module's; the default module always names the caller).
pub const DENIED_PRINCIPAL: &str = ANONYMOUS_PRINCIPAL;

/// The `principalId` of an allow whose principal is empty: a caller without
/// a token on a public route (API Gateway needs a non-empty one).
pub const ANONYMOUS_PRINCIPAL: &str = "anonymous";

/// IAM policy language version.
pub const POLICY_VERSION: &str = "2012-10-17";

/// Build the answer for `decision` on `request`, which came as a `kind` event.
pub fn answer(
    kind: EventKind,
    request: &ApiGatewayRequest,
    decision: &Decision,
    settings: &LambdaSettings,
) -> Result<Value, HandlerError> {
    let simple = settings.simple_response && kind == EventKind::HttpV2;
    match decision.outcome() {
        Outcome::Allow(allow) => {
            if allow.request_dependent {
                warn_once(
                    &REQUEST_DEPENDENT_WARNED,
                    "the policy module's decision depends on more than the token: set the authorizer's result TTL to 0 or put the route in its identity sources, or API Gateway reuses it for other requests",
                );
            }
            let context = context_map(allow, settings.context_max_bytes);
            if simple {
                Ok(simple_allow(allow, request, context))
            } else {
                iam_allow(kind, allow, request, context, settings)
            }
        }
        Outcome::Unavailable(deny) => Err(HandlerError::KeysUnavailable(deny.detail.clone())),
        Outcome::Unauthenticated(deny) => Err(HandlerError::Unauthorized {
            reason: deny.reason,
        }),
        // A path the host refuses (`invalid-path`) is denied like a refused
        // route: only the requested route, cached by API Gateway at most for it.
        Outcome::Forbidden(deny) | Outcome::BadRequest(deny) => {
            let mut context = Map::new();
            context.insert("reason".into(), deny.reason.as_str().into());
            if simple {
                let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::<Value>::default();
                response.is_authorized = false;
                response.context = Value::Object(context);
                Ok(to_json(&response))
            } else {
                let arn = request.method_arn.as_deref().ok_or_else(no_arn)?;
                let route = literal_route(arn, deny.reason)?;
                Ok(iam_response(
                    kind,
                    deny.principal.as_deref().unwrap_or(DENIED_PRINCIPAL),
                    forbidden_statements(request, arn, route, &deny.grants),
                    context,
                    None,
                ))
            }
        }
        Outcome::Failed { reason, message } => Err(HandlerError::Internal {
            reason: reason.to_string(),
            message: message.to_string(),
        }),
    }
}

fn simple_allow(
    allow: &Allow,
    request: &ApiGatewayRequest,
    mut context: Map<String, Value>,
) -> Value {
    let (method, path) = routed(request);
    let granted = route_granted(&allow.grants, &method, &path);
    if !granted {
        tracing::info!(method = %request.method, path = %request.path, "valid token, but its grants do not allow the route");
    }
    context
        .entry("principalId")
        .or_insert_with(|| Value::String(principal_id(allow).to_string()));
    let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::<Value>::default();
    response.is_authorized = granted;
    response.context = Value::Object(context);
    to_json(&response)
}

/// The `principalId` for an allow: its principal, or [`ANONYMOUS_PRINCIPAL`]
/// when that is empty.
fn principal_id(allow: &Allow) -> &str {
    if allow.principal.is_empty() {
        ANONYMOUS_PRINCIPAL
    } else {
        &allow.principal
    }
}

fn iam_allow(
    kind: EventKind,
    allow: &Allow,
    request: &ApiGatewayRequest,
    context: Map<String, Value>,
    settings: &LambdaSettings,
) -> Result<Value, HandlerError> {
    let requested = request.method_arn.as_deref().ok_or_else(no_arn)?;
    // The ARN holds the client's path: it is never quoted in an error.
    let arn = ExecuteApiArn::parse(requested).ok_or_else(|| {
        HandlerError::InvalidEvent(
            "the event's methodArn/routeArn is not an execute-api ARN (arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<method>/<path>)".into(),
        )
    })?;
    let (method, path) = routed(request);
    let granted = grant_statements(&arn, requested, &method, &path, &allow.grants);
    if granted.default_route_per_path {
        tracing::warn!(
            "the $default route's ARN is the same for every path: this answer covers all of them while cached; set the authorizer's result TTL to 0 or put the route in its identity sources"
        );
    }
    if !granted.exact {
        let patterns: Vec<String> = granted
            .blocking
            .iter()
            .map(|g| format!("{:?} {} {}", g.effect, g.method, g.path))
            .collect();
        tracing::warn!(
            grants = ?patterns,
            "these grants have no exact form as IAM statements (in an execute-api ARN `*` also matches `/`, and an explicit Deny beats every Allow): only the requested route is allowed; set the authorizer's result TTL to 0 or put the route in its identity sources"
        );
    }
    if !route_granted(&allow.grants, &method, &path) {
        tracing::info!(method = %request.method, path = %request.path, "valid token, but its grants do not allow the route");
    }
    let statements = if granted.allow.is_empty() {
        // A valid token that may call nothing here: an explicit Deny of this
        // route only (never a blanket Deny, which a cache would apply to
        // every route).
        vec![statement(
            IamPolicyEffect::Deny,
            vec![literal_route(requested, DenyReason::Forbidden)?],
        )]
    } else {
        let mut statements = vec![statement(IamPolicyEffect::Allow, granted.allow)];
        if !granted.deny.is_empty() {
            statements.push(statement(IamPolicyEffect::Deny, granted.deny));
        }
        statements
    };
    let usage_key = if kind.is_rest() {
        usage_identifier_key(allow, settings.usage_identifier_claim.as_deref())
    } else {
        None
    };
    Ok(iam_response(
        kind,
        principal_id(allow),
        statements,
        context,
        usage_key,
    ))
}

/// A 403's statements: an explicit Deny of the requested route, and, when
/// the token may call other routes (the deny's grants) and IAM can say so
/// exactly, those routes too, so a cached answer refuses this route
/// without refusing the token's others. Without an exact form, the Deny of
/// this route alone (a cache then refuses the token's other routes until
/// it expires: set the TTL to 0 or put the route in the identity sources).
fn forbidden_statements(
    request: &ApiGatewayRequest,
    requested: &str,
    route: String,
    grants: &[Grant],
) -> Vec<IamPolicyStatement> {
    let mut deny = vec![route];
    let mut statements = Vec::new();
    if !grants.is_empty()
        && let Some(arn) = ExecuteApiArn::parse(requested)
    {
        let (method, path) = routed(request);
        let granted = grant_statements(&arn, requested, &method, &path, grants);
        if granted.exact && !granted.allow.is_empty() {
            statements.push(statement(IamPolicyEffect::Allow, granted.allow));
            deny.extend(granted.deny);
        } else if !granted.exact {
            tracing::warn!(
                "the token's other routes have no exact form as IAM statements: this 403 is cached as a refusal of them too; set the authorizer's result TTL to 0 or put the route in its identity sources"
            );
        }
    }
    deny.sort();
    deny.dedup();
    statements.push(statement(IamPolicyEffect::Deny, deny));
    statements
}

/// The route grants are matched against: the request's method and
/// canonical path, which the door took from the event's ARN (what API
/// Gateway evaluates an IAM policy against, relative to the stage) when it
/// names a route (see `event::route_and_client`): the route the module's
/// rules matched.
fn routed(request: &ApiGatewayRequest) -> (String, String) {
    (request.method.clone(), request.path.clone())
}

fn statement(effect: IamPolicyEffect, resources: Vec<String>) -> IamPolicyStatement {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = effect;
    statement.resource = resources;
    statement
}

fn iam_response(
    kind: EventKind,
    principal: &str,
    statements: Vec<IamPolicyStatement>,
    context: Map<String, Value>,
    usage_identifier_key: Option<String>,
) -> Value {
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some(POLICY_VERSION.into());
    policy.statement = statements;
    if kind.is_rest() {
        let mut response = ApiGatewayCustomAuthorizerResponse::<Value>::default();
        response.principal_id = Some(principal.to_string());
        response.policy_document = policy;
        response.context = Value::Object(context);
        response.usage_identifier_key = usage_identifier_key;
        let mut value = to_json(&response);
        if let Some(object) = value.as_object_mut()
            && object.get("usageIdentifierKey").is_some_and(Value::is_null)
        {
            object.remove("usageIdentifierKey");
        }
        value
    } else {
        let mut response = ApiGatewayV2CustomAuthorizerIamPolicyResponse::<Value>::default();
        response.principal_id = Some(principal.to_string());
        response.policy_document = policy;
        response.context = Value::Object(context);
        to_json(&response)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    // These types serialize infallibly (strings, maps, vectors).
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The requested route's ARN for an explicit Deny, which API Gateway caches
/// and applies to every later request of the same identity: it must cover
/// exactly that route. In a policy resource `*` and `?` are wildcards, and
/// a client can put them in its path (`GET /orders/*`), so an ARN holding
/// one cannot be denied literally: the answer is then `Unauthorized` (401),
/// which carries no policy to reuse.
fn literal_route(arn: &str, reason: DenyReason) -> Result<String, HandlerError> {
    if arn.contains(['*', '?']) {
        tracing::info!(
            reason = reason.as_str(),
            "the requested route's ARN holds an IAM wildcard from the client; answering Unauthorized instead of a Deny that would cover other routes"
        );
        return Err(HandlerError::Unauthorized { reason });
    }
    Ok(arn.to_string())
}

fn no_arn() -> HandlerError {
    HandlerError::InvalidEvent("the event has no methodArn/routeArn to build a policy from".into())
}

/// The value of the context claim `claim`, when it is a non-empty string.
fn usage_identifier_key(allow: &Allow, claim: Option<&str>) -> Option<String> {
    let claim = claim?;
    let (_, json) = allow.context.iter().find(|(name, _)| name == claim)?;
    match serde_json::from_str::<Value>(json) {
        Ok(Value::String(key)) if !key.is_empty() => Some(key),
        _ => None,
    }
}

/// The decision's context as API Gateway accepts it: string, number and
/// boolean values as they are; objects and arrays as their compact JSON
/// text; `null` left out. Entries are kept in order while the whole map,
/// as JSON, stays within `max_bytes`; the rest are dropped with a warning.
pub fn context_map(allow: &Allow, max_bytes: usize) -> Map<String, Value> {
    let mut map = Map::new();
    let mut size = 2; // `{}`
    let mut dropped = Vec::new();
    for (name, json) in &allow.context {
        let parsed =
            serde_json::from_str::<Value>(json).unwrap_or_else(|_| Value::String(json.clone()));
        if map.contains_key(name) {
            continue;
        }
        // No CR/LF (or other control character) ever reaches a backend,
        // whatever module wrote the context.
        if has_control(&parsed) || name.chars().any(char::is_control) {
            dropped.push(name.clone());
            continue;
        }
        let value = match parsed {
            Value::Null => continue,
            v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)) => v,
            other => Value::String(other.to_string()),
        };
        let entry = json_len(&Value::String(name.clone())) + 1 + json_len(&value);
        let added = if map.is_empty() { entry } else { entry + 1 };
        if size + added > max_bytes {
            dropped.push(name.clone());
            continue;
        }
        size += added;
        map.insert(name.clone(), value);
    }
    if !dropped.is_empty() {
        tracing::warn!(dropped = ?dropped, max_bytes, "context entries left out: over the context size limit, or holding a control character");
    }
    map
}

fn has_control(value: &Value) -> bool {
    match value {
        Value::String(s) => s.chars().any(char::is_control),
        Value::Array(items) => items.iter().any(has_control),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.chars().any(char::is_control) || has_control(v)),
        _ => false,
    }
}

fn json_len(value: &Value) -> usize {
    serde_json::to_string(value).map(|s| s.len()).unwrap_or(0)
}

static REQUEST_DEPENDENT_WARNED: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_host::model::{Grant, Request};

    /// A REST REQUEST authorizer's answer with the default settings.
    fn rest_answer(req: &ApiGatewayRequest, decision: &Decision) -> Value {
        answer(
            EventKind::RestRequest,
            req,
            decision,
            &LambdaSettings::default(),
        )
        .unwrap()
    }

    fn allow(context: &[(&str, &str)]) -> Allow {
        Allow {
            principal: "alice".into(),
            issuer: "https://issuer.example".into(),
            context: context
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            grants: vec![Grant::allow("*", "/*")],
            request_dependent: false,
            expires_at: None,
            rule: None,
        }
    }

    #[test]
    fn context_values_are_strings_numbers_or_booleans() {
        let map = context_map(
            &allow(&[
                ("email", "\"a@example.com\""),
                ("n", "42"),
                ("f", "1.5"),
                ("ok", "true"),
                ("none", "null"),
                ("groups", "[\"a\",\"b\"]"),
                ("obj", "{\"k\":{\"x\":1}}"),
                ("crlf", "\"a\\r\\nSet-Cookie: x\""),
                ("nested", "[\"ok\", \"b\\u0000\"]"),
                ("bad\nname", "1"),
            ]),
            8192,
        );
        assert_eq!(
            Value::Object(map),
            serde_json::json!({
                "email": "a@example.com",
                "n": 42,
                "f": 1.5,
                "ok": true,
                "groups": "[\"a\",\"b\"]",
                "obj": "{\"k\":{\"x\":1}}",
            })
        );
    }

    #[test]
    fn context_stays_within_its_size_limit_exactly() {
        // {"a":"xxxx"} is 12 bytes.
        let one = allow(&[("a", "\"xxxx\"")]);
        assert_eq!(context_map(&one, 12).len(), 1);
        assert_eq!(context_map(&one, 11).len(), 0);
        // {"a":"xxxx","b":1} is 18 bytes: the second entry needs all of them.
        let two = allow(&[("a", "\"xxxx\""), ("b", "1")]);
        assert_eq!(context_map(&two, 18).len(), 2);
        assert_eq!(context_map(&two, 17).len(), 1);
        let big = "\"".to_string() + &"x".repeat(10_000) + "\"";
        let mixed = allow(&[("big", big.as_str()), ("small", "1")]);
        let map = context_map(&mixed, 8192);
        assert_eq!(map.keys().collect::<Vec<_>>(), ["small"]);
        assert!(serde_json::to_string(&map).unwrap().len() <= 8192);
    }

    fn request(method: &str, path: &str, arn: Option<&str>) -> ApiGatewayRequest {
        ApiGatewayRequest {
            request: Request {
                method: method.into(),
                path: path.into(),
                ..Request::default()
            },
            method_arn: arn.map(str::to_string),
        }
    }

    #[test]
    fn grants_are_matched_against_the_request_route() {
        let mut a = allow(&[]);
        a.grants = vec![Grant::allow("GET", "/orders/*")];
        let settings = LambdaSettings {
            simple_response: true,
            ..LambdaSettings::default()
        };
        let arn = "arn:aws:execute-api:us-east-1:1:api/prod/GET/orders/42";
        // The door took the method and path from the ARN when it names a
        // route (`event::route_and_client`, pinned for every format by
        // tests/path_corpus.rs) and the host canonicalized the path: that
        // route is what the grants are matched against.
        let cases = [
            (request("GET", "/orders/42", Some(arn)), true),
            (request("POST", "/orders/42", Some(arn)), false),
            (request("get", "/orders/42", Some(arn)), false),
            (request("GET", "/orders/42", None), true),
            (
                request(
                    "GET",
                    "/users/1",
                    Some("arn:aws:execute-api:us-east-1:1:api/$default/$default"),
                ),
                false,
            ),
        ];
        for (req, want) in cases {
            let answer = answer(
                EventKind::HttpV2,
                &req,
                &Decision::Allow(a.clone()),
                &settings,
            )
            .unwrap();
            assert_eq!(answer["isAuthorized"], want, "{req:?}");
        }
    }

    #[test]
    fn errors_and_keys_unavailable_are_never_denies() {
        let settings = LambdaSettings::default();
        let req = request(
            "GET",
            "/",
            Some("arn:aws:execute-api:us-east-1:1:api/prod/GET/"),
        );
        let error = Decision::Error {
            reason: "internal-error".into(),
            message: "trap".into(),
        };
        for kind in [
            EventKind::RestToken,
            EventKind::RestRequest,
            EventKind::HttpV1,
            EventKind::HttpV2,
        ] {
            let got = answer(kind, &req, &error, &settings).unwrap_err();
            assert!(matches!(got, HandlerError::Internal { .. }), "{got:?}");
            assert_ne!(got.to_string(), "Unauthorized");
            let keys = Decision::Deny(tollgate_host::model::Deny::new(
                DenyReason::KeysUnavailable,
                "cold cache",
            ));
            let got = answer(kind, &req, &keys, &settings).unwrap_err();
            assert!(matches!(got, HandlerError::KeysUnavailable(_)), "{got:?}");
        }
    }

    #[test]
    fn an_allow_granting_nothing_here_denies_only_the_requested_route() {
        let mut a = allow(&[]);
        a.grants = vec![];
        let arn = "arn:aws:execute-api:us-east-1:1:api/prod/GET/orders/42";
        let answer = rest_answer(
            &request("GET", "/orders/42", Some(arn)),
            &Decision::Allow(a),
        );
        let statement = &answer["policyDocument"]["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(statement["Resource"], serde_json::json!([arn]));
    }

    /// A 403 cached per token must not refuse the token's other routes: it
    /// denies the requested route and allows what the deny's grants allow.
    #[test]
    fn a_forbidden_deny_keeps_the_tokens_other_routes() {
        let stage = "arn:aws:execute-api:us-east-1:1:api/prod";
        let mut deny = tollgate_host::model::Deny::new(DenyReason::Forbidden, "admins only")
            .with_principal("alice");
        deny.grants = vec![
            Grant::deny("GET", "/orders/admin"),
            Grant::allow("GET", "/orders/*"),
        ];
        let arn = format!("{stage}/GET/orders/admin");
        let req = request("GET", "/orders/admin", Some(&arn));
        let got = rest_answer(&req, &Decision::Deny(deny.clone()));
        assert_eq!(got["principalId"], "alice");
        assert_eq!(
            got["policyDocument"]["Statement"],
            serde_json::json!([
                {
                    "Action": ["execute-api:Invoke"],
                    "Effect": "Allow",
                    "Resource": [format!("{stage}/GET/orders/*")],
                },
                {
                    "Action": ["execute-api:Invoke"],
                    "Effect": "Deny",
                    "Resource": [format!("{stage}/GET/orders/admin")],
                },
            ])
        );
        // Without grants (the token may call nothing): the route alone.
        deny.grants.clear();
        let got = rest_answer(&req, &Decision::Deny(deny));
        assert_eq!(
            got["policyDocument"]["Statement"],
            serde_json::json!([{
                "Action": ["execute-api:Invoke"],
                "Effect": "Deny",
                "Resource": [arn],
            }])
        );
    }

    #[test]
    fn deny_grants_become_deny_statements_after_the_allow() {
        let mut a = allow(&[]);
        a.grants = vec![
            Grant::deny("GET", "/orders/admin"),
            Grant::allow("GET", "/orders/{id}"),
        ];
        let stage = "arn:aws:execute-api:us-east-1:1:api/prod";
        for (path, granted) in [("orders/42", true), ("orders/admin", false)] {
            let arn = format!("{stage}/GET/{path}");
            let req = request("GET", &format!("/{path}"), Some(&arn));
            let got = rest_answer(&req, &Decision::Allow(a.clone()));
            // The same policy whichever route was asked.
            assert_eq!(
                got["policyDocument"]["Statement"],
                serde_json::json!([
                    {
                        "Action": ["execute-api:Invoke"],
                        "Effect": "Allow",
                        "Resource": [format!("{stage}/GET/orders/*")],
                    },
                    {
                        "Action": ["execute-api:Invoke"],
                        "Effect": "Deny",
                        "Resource": [
                            format!("{stage}/GET/orders/"),
                            format!("{stage}/GET/orders/*/*"),
                            format!("{stage}/GET/orders/admin"),
                        ],
                    },
                ]),
                "{path}"
            );
            let simple = LambdaSettings {
                simple_response: true,
                ..LambdaSettings::default()
            };
            let got = answer(
                EventKind::HttpV2,
                &req,
                &Decision::Allow(a.clone()),
                &simple,
            )
            .unwrap();
            assert_eq!(got["isAuthorized"], granted, "{path}");
        }
    }

    #[test]
    fn a_fallback_allows_only_the_requested_route() {
        let mut a = allow(&[]);
        a.grants = vec![
            Grant::allow("GET", "/orders/{id}"),
            Grant::allow("GET", "/orders/{id}/items"),
        ];
        let arn = "arn:aws:execute-api:us-east-1:1:api/prod/GET/orders/42/items";
        let got = rest_answer(
            &request("GET", "/orders/42/items", Some(arn)),
            &Decision::Allow(a.clone()),
        );
        let statements = &got["policyDocument"]["Statement"];
        assert_eq!(statements.as_array().unwrap().len(), 1, "{got}");
        assert_eq!(statements[0]["Effect"], "Allow");
        assert_eq!(statements[0]["Resource"], serde_json::json!([arn]));
        // A route the grants refuse: a Deny of that route only.
        let arn = "arn:aws:execute-api:us-east-1:1:api/prod/GET/orders/42/x";
        let got = rest_answer(
            &request("GET", "/orders/42/x", Some(arn)),
            &Decision::Allow(a),
        );
        let statements = &got["policyDocument"]["Statement"];
        assert_eq!(statements.as_array().unwrap().len(), 1, "{got}");
        assert_eq!(statements[0]["Effect"], "Deny");
        assert_eq!(statements[0]["Resource"], serde_json::json!([arn]));
    }

    #[test]
    fn an_anonymous_allow_has_a_principal_id() {
        let mut a = allow(&[]);
        a.principal = String::new();
        let arn = "arn:aws:execute-api:us-east-1:1:api/prod/GET/health";
        let req = request("GET", "/health", Some(arn));
        for kind in [
            EventKind::RestToken,
            EventKind::RestRequest,
            EventKind::HttpV1,
            EventKind::HttpV2,
        ] {
            let got = answer(
                kind,
                &req,
                &Decision::Allow(a.clone()),
                &LambdaSettings::default(),
            )
            .unwrap();
            assert_eq!(got["principalId"], ANONYMOUS_PRINCIPAL, "{kind:?}");
        }
        let simple = LambdaSettings {
            simple_response: true,
            ..LambdaSettings::default()
        };
        let got = answer(EventKind::HttpV2, &req, &Decision::Allow(a), &simple).unwrap();
        assert_eq!(got["context"]["principalId"], ANONYMOUS_PRINCIPAL);
        assert_eq!(got["isAuthorized"], true);
    }

    #[test]
    fn usage_key_comes_from_a_string_claim_only() {
        let a = allow(&[("api_key", "\"k-123\""), ("n", "5")]);
        assert_eq!(
            usage_identifier_key(&a, Some("api_key")).as_deref(),
            Some("k-123")
        );
        assert_eq!(usage_identifier_key(&a, Some("n")), None);
        assert_eq!(usage_identifier_key(&a, Some("other")), None);
        assert_eq!(usage_identifier_key(&a, None), None);
    }
}
