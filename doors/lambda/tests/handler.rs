//! The handler on the published sample events (REST TOKEN, REST REQUEST,
//! HTTP API payload 1.0 and 2.0) with real tokens put in: allow, 401, 403,
//! context, exact policy resources, simple responses, function errors, and
//! the request each event maps to.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};
use tollgate_host::model::{DenyReason, TokenSource};
use tollgate_lambda::event::{Event, EventKind, detect};
use tollgate_lambda::identity::IdentitySources;
use tollgate_lambda::{HandlerError, LambdaSettings, handle};

const REST_TOKEN_STAGE: &str = "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*";
const REST_REQUEST_STAGE: &str = "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test";
const HTTP_STAGE: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test";

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn call(state: &tollgate_lambda::State, event: Value) -> Result<Value, HandlerError> {
    block_on(handle(state, event))
}

fn allow_policy(principal: &str, resources: &[&str], context: Value) -> Value {
    json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": ["execute-api:Invoke"],
                "Effect": "Allow",
                "Resource": resources,
            }],
        },
        "context": context,
    })
}

#[test]
fn every_format_is_detected_from_the_payload() {
    let cases = [
        (
            "example-apigw-custom-auth-request.json",
            EventKind::RestToken,
        ),
        (
            "example-apigw-custom-auth-request-type-request.json",
            EventKind::RestRequest,
        ),
        (
            "example-apigw-v2-custom-authorizer-v1-request.json",
            EventKind::HttpV1,
        ),
        (
            "example-apigw-v2-custom-authorizer-v2-request.json",
            EventKind::HttpV2,
        ),
        (
            "example-apigw-v2-custom-authorizer-v2-request-without-cookies.json",
            EventKind::HttpV2,
        ),
        (
            "example-apigw-v2-custom-authorizer-v2-request-null-maps.json",
            EventKind::HttpV2,
        ),
        (
            "example-apigw-v2-custom-authorizer-v2-request-without-identity-source.json",
            EventKind::HttpV2,
        ),
    ];
    for (file, kind) in cases {
        let event = fixture(file);
        assert_eq!(detect(&event), Ok(kind), "{file}");
        let parsed = Event::read(event).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(parsed.kind(), kind, "{file}");
    }
}

#[test]
fn allow_answers_an_iam_policy_for_exactly_the_granted_routes() {
    let state = state(LambdaSettings::default());
    let token = good_token();
    // The module grants `* /*` (every route): the whole stage of the event's
    // own API, whichever route was asked, so a cached answer fits every route.
    let cases = [
        (
            "rest-token",
            token_event(&format!("Bearer {token}")),
            REST_TOKEN_STAGE,
        ),
        ("rest-token raw", token_event(&token), REST_TOKEN_STAGE),
        (
            "rest-request",
            rest_request_event(&format!("Bearer {token}")),
            REST_REQUEST_STAGE,
        ),
        (
            "http-1.0",
            http_v1_event(&format!("Bearer {token}")),
            HTTP_STAGE,
        ),
        (
            "http-2.0",
            http_v2_event(&format!("Bearer {token}")),
            HTTP_STAGE,
        ),
    ];
    for (name, event, stage) in cases {
        let answer = call(&state, event).unwrap_or_else(|e| panic!("{name}: {e}"));
        let resource = format!("{stage}/*/*");
        assert_eq!(
            answer,
            allow_policy("alice", &[&resource], expected_context()),
            "{name}"
        );
    }
}

#[test]
fn a_warm_container_answers_a_repeated_token_from_its_token_cache() {
    let warm = state(LambdaSettings::default());
    let event = token_event(&format!("Bearer {}", good_token()));
    let first = call(&warm, event.clone()).unwrap();
    let stats = warm
        .active()
        .gate
        .token_cache_stats()
        .expect("on by default");
    assert_eq!((stats.hits, stats.misses, stats.stores), (0, 1, 1));
    let second = call(&warm, event.clone()).unwrap();
    assert_eq!(second, first);
    let stats = warm.active().gate.token_cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.stores), (1, 1, 1));
    assert_eq!(stats.entries, 1);

    // TOLLGATE_TOKEN_CACHE_ENTRIES=0: no cache, the same answers.
    let settings = LambdaSettings::from_lookup(&|name| {
        (name == "TOLLGATE_TOKEN_CACHE_ENTRIES").then(|| "0".to_string())
    })
    .unwrap();
    let uncached = state(settings);
    assert_eq!(call(&uncached, event.clone()).unwrap(), first);
    assert_eq!(call(&uncached, event).unwrap(), first);
    assert_eq!(uncached.active().gate.token_cache_stats(), None);
}

#[test]
fn the_answer_has_the_published_iam_response_shape() {
    let published = fixture("example-apigw-custom-auth-response.json");
    let state = state(LambdaSettings {
        usage_identifier_claim: Some("api_key".into()),
        ..LambdaSettings::default()
    });
    let answer = call(&state, token_event(&good_token())).unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&answer), keys(&published));
    assert_eq!(
        keys(&answer["policyDocument"]),
        keys(&published["policyDocument"])
    );
    assert_eq!(
        keys(&answer["policyDocument"]["Statement"][0]),
        keys(&published["policyDocument"]["Statement"][0])
    );
    assert_eq!(answer["usageIdentifierKey"], "usage-key-alice");
    // And it reads back as the aws_lambda_events response type.
    let typed: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerResponse =
        serde_json::from_value(answer).unwrap();
    assert_eq!(typed.principal_id.as_deref(), Some("alice"));
}

#[test]
fn usage_identifier_key_only_for_rest_apis() {
    let state = state(LambdaSettings {
        usage_identifier_claim: Some("api_key".into()),
        ..LambdaSettings::default()
    });
    let bearer = format!("Bearer {}", good_token());
    for (name, event) in all_formats(&bearer) {
        let answer = call(&state, event).unwrap();
        let has_key = answer.get("usageIdentifierKey").is_some();
        assert_eq!(has_key, name.starts_with("rest"), "{name}: {answer}");
    }
    // Without the setting, no usageIdentifierKey at all (not even null).
    let plain = state_default();
    let answer = call(&plain, token_event(&bearer)).unwrap();
    assert!(answer.get("usageIdentifierKey").is_none(), "{answer}");
}

/// The request `event` means under the default identity sources.
fn to_request(event: &Value, now: i64) -> tollgate_lambda::event::ApiGatewayRequest {
    Event::read(event.clone())
        .expect("a readable event")
        .into_request(&IdentitySources::default(), now)
}

fn state_default() -> tollgate_lambda::State {
    state(LambdaSettings::default())
}

#[test]
fn http_v2_simple_response_when_configured() {
    let state = state(LambdaSettings {
        simple_response: true,
        ..LambdaSettings::default()
    });
    let bearer = format!("Bearer {}", good_token());
    let answer = call(&state, http_v2_event(&bearer)).unwrap();
    let mut context = expected_context();
    context["principalId"] = json!("alice");
    assert_eq!(answer, json!({"isAuthorized": true, "context": context}));

    // Only payload 2.0 has simple responses: the others still get policies.
    for (name, event) in all_formats(&bearer) {
        if name == "http-2.0" {
            continue;
        }
        let answer = call(&state, event).unwrap();
        assert!(answer.get("policyDocument").is_some(), "{name}: {answer}");
    }

    // 403: isAuthorized false (API Gateway answers 403).
    let mut claims = good_claims(now());
    claims["scope"] = json!("orders.write");
    let answer = call(
        &state,
        http_v2_event(&format!("Bearer {}", mint("ec-1", &claims))),
    )
    .unwrap();
    assert_eq!(
        answer,
        json!({"isAuthorized": false, "context": {"reason": "insufficient-scope"}})
    );
    // 401 is still the Unauthorized error.
    let err = call(&state, http_v2_event("Bearer nope.nope.nope")).unwrap_err();
    assert_eq!(err.to_string(), "Unauthorized");
}

#[test]
fn unauthenticated_is_exactly_the_unauthorized_error_in_every_format() {
    let state = state_default();
    let now = now();
    let mut expired = good_claims(now - 1000);
    expired["exp"] = json!(now - 1);
    let mut wrong_audience = good_claims(now);
    wrong_audience["aud"] = json!("other-api");
    let good = good_token();
    let (head, _) = good.rsplit_once('.').unwrap();
    let forged = format!(
        "{head}.{}",
        good.rsplit_once('.').unwrap().1.replace('A', "B")
    );
    let cases = [
        ("expired", mint("ec-1", &expired), DenyReason::Expired),
        (
            "bad signature",
            mint("attacker-rsa", &good_claims(now)),
            DenyReason::BadSignature,
        ),
        (
            "wrong audience",
            mint("ed-1", &wrong_audience),
            DenyReason::WrongAudience,
        ),
        ("malformed", "not-a-jwt".to_string(), DenyReason::Malformed),
    ];
    for (what, token, reason) in cases {
        for (name, event) in all_formats(&format!("Bearer {token}")) {
            let err = call(&state, event).unwrap_err();
            assert_eq!(
                err,
                HandlerError::Unauthorized { reason },
                "{what} / {name}"
            );
            let diagnostic = Diagnostic::from(err);
            assert_eq!(diagnostic.error_message, "Unauthorized", "{what} / {name}");
        }
    }
    if forged != good {
        for (name, event) in all_formats(&format!("Bearer {forged}")) {
            let err = call(&state, event).unwrap_err();
            assert_eq!(err.to_string(), "Unauthorized", "forged / {name}");
        }
    }
}

#[test]
fn the_samples_as_published_are_unauthorized() {
    // The published samples carry placeholder credentials ("allow",
    // "user1,123", ["user1", "123"]) or none: 401, never an error or a 500.
    let state = state_default();
    for file in [
        "example-apigw-custom-auth-request.json",
        "example-apigw-custom-auth-request-type-request.json",
        "example-apigw-v2-custom-authorizer-v1-request.json",
        "example-apigw-v2-custom-authorizer-v2-request.json",
        "example-apigw-v2-custom-authorizer-v2-request-without-cookies.json",
        "example-apigw-v2-custom-authorizer-v2-request-null-maps.json",
        "example-apigw-v2-custom-authorizer-v2-request-without-identity-source.json",
    ] {
        let err = call(&state, fixture(file)).unwrap_err();
        assert!(
            matches!(err, HandlerError::Unauthorized { .. }),
            "{file}: {err:?}"
        );
    }
    let reason = |file: &str| match call(&state, fixture(file)).unwrap_err() {
        HandlerError::Unauthorized { reason } => reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reason("example-apigw-v2-custom-authorizer-v2-request-without-identity-source.json"),
        DenyReason::MissingToken
    );
    // The identity sources are the Authorization header by default, which
    // the samples lack: no credential (their identitySource values are not
    // read by themselves).
    assert_eq!(
        reason("example-apigw-v2-custom-authorizer-v2-request.json"),
        DenyReason::MissingToken
    );
    assert_eq!(
        reason("example-apigw-v2-custom-authorizer-v1-request.json"),
        DenyReason::MissingToken
    );
}

#[test]
fn forbidden_is_an_explicit_deny_of_the_requested_route_only() {
    let state = state_default();
    let mut claims = good_claims(now());
    claims["scope"] = json!("orders.write");
    let token = mint("rsa-1", &claims);
    let expected = [
        (
            "rest-token",
            "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/GET/",
        ),
        (
            "rest-request",
            "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/GET/request",
        ),
        (
            "http-1.0",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request",
        ),
        (
            "http-2.0",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request",
        ),
    ];
    for ((name, mut event), (_, arn)) in all_formats(&format!("Bearer {token}"))
        .into_iter()
        .zip(expected)
    {
        if name == "rest-token" {
            // The published sample's stage is `*`, a wildcard: see below.
            event["methodArn"] = json!(arn);
        }
        let answer = call(&state, event).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            answer,
            json!({
                "principalId": "alice",
                "policyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Action": ["execute-api:Invoke"],
                        "Effect": "Deny",
                        "Resource": [arn],
                    }],
                },
                "context": {"reason": "insufficient-scope"},
            }),
            "{name}"
        );
    }
}

#[test]
fn duplicate_credentials_reach_the_module_and_are_refused() {
    let state = state_default();
    let bearer = format!("Bearer {}", good_token());
    let multiple = |event: Value, what: &str| {
        assert_eq!(
            call(&state, event).unwrap_err(),
            HandlerError::Unauthorized {
                reason: DenyReason::MultipleTokens
            },
            "{what}"
        );
    };
    // REST: the same header twice (multiValueHeaders).
    let mut event = rest_request_event(&bearer);
    event["multiValueHeaders"]["Authorization"] = json!([bearer, bearer]);
    multiple(event, "rest multiValueHeaders");
    // REST: two spellings of the name, which a header map folds into one.
    let mut event = rest_request_event(&bearer);
    event["headers"]["authorization"] = json!(bearer);
    event.as_object_mut().unwrap().remove("multiValueHeaders");
    multiple(event, "rest headers differing in case");
    // HTTP 1.0 likewise.
    let mut event = http_v1_event(&bearer);
    event["headers"]["AUTHORIZATION"] = json!(bearer);
    multiple(event, "http-1.0 headers differing in case");
    // HTTP 2.0 joins duplicates with commas; they arrive as one value.
    let joined = format!("{bearer},{bearer}");
    multiple(http_v2_event(&joined), "http-2.0 comma-joined");
    multiple(http_v1_event(&joined), "http-1.0 comma-joined");
}

/// A state on the test policy whose identity sources are `sources`.
fn state_with_sources(sources: &str) -> tollgate_lambda::State {
    state(LambdaSettings {
        identity_sources: IdentitySources::parse(sources).expect("identity sources"),
        ..LambdaSettings::default()
    })
}

fn unauthorized(reason: DenyReason) -> HandlerError {
    HandlerError::Unauthorized { reason }
}

/// Issue 7, item 5: with identity sources other than the Authorization
/// header, an event with a valid `Authorization: Bearer` header and an
/// unsigned token in `identitySource` was allowed, and API Gateway cached
/// that Allow under the forged value. The credential that decides is now
/// always one the cache key holds.
#[test]
fn the_credential_that_decides_is_always_part_of_the_cache_key() {
    let bearer = format!("Bearer {}", good_token());
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.";
    let multiple = unauthorized(DenyReason::MultipleTokens);

    // Default identity sources (the Authorization header), but API Gateway
    // keyed the answer on another value: the header is outside the key.
    let state = state_default();
    let mut event = http_v2_event(&bearer);
    event["identitySource"] = json!([forged]);
    assert_eq!(call(&state, event).unwrap_err(), multiple, "http-2.0");
    let mut event = http_v1_event(&bearer);
    event["identitySource"] = json!(forged);
    assert_eq!(call(&state, event).unwrap_err(), multiple, "http-1.0");

    // X-Token configured (HTTP API spelling): the token comes from it only.
    let state = state_with_sources("$request.header.X-Token");
    let with_x_token = |mut event: Value, value: &str, identity: Value| {
        event["headers"]["X-Token"] = json!(value);
        event["identitySource"] = identity;
        event
    };
    // The attack: a valid Authorization header, a forged X-Token.
    let event = with_x_token(http_v2_event(&bearer), forged, json!([forged]));
    assert_eq!(call(&state, event).unwrap_err(), multiple);
    let event = with_x_token(http_v1_event(&bearer), forged, json!(forged));
    assert_eq!(call(&state, event).unwrap_err(), multiple);
    // The forged value alone is what it is: not a valid token.
    let event = with_x_token(
        without_authorization(http_v2_event(&bearer)),
        forged,
        json!([forged]),
    );
    assert!(matches!(
        call(&state, event).unwrap_err(),
        HandlerError::Unauthorized { reason } if reason != DenyReason::MultipleTokens
    ));
    // A valid X-Token alone is allowed; beside an Authorization header, refused.
    let event = with_x_token(
        without_authorization(http_v2_event(&bearer)),
        &bearer,
        json!([bearer]),
    );
    assert!(call(&state, event).is_ok());
    let event = with_x_token(
        without_authorization(http_v1_event(&bearer)),
        &bearer,
        json!(bearer),
    );
    assert!(call(&state, event).is_ok());
    let event = with_x_token(http_v2_event(&bearer), &bearer, json!([bearer]));
    assert_eq!(call(&state, event).unwrap_err(), multiple);

    // REST REQUEST events list no identity-source values: the
    // configuration alone says where the token is (REST spelling here).
    let state = state_with_sources("method.request.querystring.token");
    let with_query = |mut event: Value, value: &str| {
        event["queryStringParameters"] = json!({ "token": value });
        event["multiValueQueryStringParameters"] = json!({ "token": [value] });
        event
    };
    let event = with_query(rest_request_event(&bearer), forged);
    assert_eq!(call(&state, event).unwrap_err(), multiple);
    let mut event = with_query(rest_request_event(&bearer), &good_token());
    event["headers"]
        .as_object_mut()
        .unwrap()
        .remove("Authorization");
    event["multiValueHeaders"]
        .as_object_mut()
        .unwrap()
        .remove("Authorization");
    assert!(call(&state, event).is_ok());
    // The configured source missing and only an Authorization header: it
    // is never decided on.
    let event = rest_request_event(&bearer);
    assert_eq!(call(&state, event).unwrap_err(), multiple);
}

#[test]
fn identity_sources_that_are_not_credentials_are_not_taken_for_one() {
    let bearer = format!("Bearer {}", good_token());
    let token = good_token();
    // The route in the identity sources (a per-route cache key).
    let state = state_with_sources("$request.header.Authorization, $context.routeKey");
    let mut event = http_v2_event(&bearer);
    event["identitySource"] = json!([bearer, "GET /request"]);
    assert!(call(&state, event).is_ok());
    let mut event = http_v1_event(&bearer);
    event["identitySource"] = json!(format!("{bearer},GET /request"));
    assert!(call(&state, event).is_ok());
    // A tenant header beside a token in the query string: the token-shaped
    // value is the credential.
    let state = state_with_sources("$request.header.X-Tenant, $request.querystring.access_token");
    let mut event = without_authorization(http_v2_event(&bearer));
    event["headers"]["x-tenant"] = json!("blue");
    event["queryStringParameters"] = json!({ "access_token": token });
    event["identitySource"] = json!(["blue", token]);
    assert!(call(&state, event).is_ok());
    // Two token-shaped values are still two credentials.
    let mut event = without_authorization(http_v2_event(&bearer));
    event["headers"]["x-tenant"] = json!(token);
    event["queryStringParameters"] = json!({ "access_token": token });
    event["identitySource"] = json!([token, token]);
    assert_eq!(
        call(&state, event).unwrap_err(),
        unauthorized(DenyReason::MultipleTokens)
    );
    // Default sources: identitySource values alone are no credential.
    let state = state_default();
    let mut event = without_authorization(http_v2_event(&bearer));
    event["identitySource"] = json!([bearer]);
    assert_eq!(
        call(&state, event).unwrap_err(),
        unauthorized(DenyReason::MissingToken)
    );
}

/// Issue 7, item 6: a 403 copied client-controlled wildcards from the
/// `methodArn` into its Deny (`…/prod/GET/*`, `?`, a `*` stage), which API
/// Gateway caches and applies to other routes. Such a route gets
/// `Unauthorized`, never a Deny with a wildcard; an explicit Deny names the
/// literal route only.
#[test]
fn a_deny_never_carries_a_wildcard_from_the_client() {
    let state = state_default();
    let mut claims = good_claims(now());
    claims["scope"] = json!("orders.write");
    let no_scope = format!("Bearer {}", mint("ec-1", &claims));
    for arn in [
        "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/prod/GET/*",
        "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/prod/GET/orders/?",
        "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/*/GET/orders",
        "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/prod/*/orders",
    ] {
        for (name, mut event) in all_formats(&no_scope) {
            let member = if name == "http-2.0" {
                "routeArn"
            } else {
                "methodArn"
            };
            event[member] = json!(arn);
            let got = call(&state, event);
            // A `?` cannot be in a canonical path: the host refuses the
            // route itself; `*` is a path character, and the scope decides.
            let reason = if arn.ends_with('?') {
                DenyReason::InvalidPath
            } else {
                DenyReason::InsufficientScope
            };
            assert_eq!(got, Err(unauthorized(reason)), "{name} {arn}");
        }
    }
    // The literal route still gets its explicit Deny.
    let literal = "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/prod/GET/orders";
    let mut event = rest_request_event(&no_scope);
    event["methodArn"] = json!(literal);
    let answer = call(&state, event).unwrap();
    assert_eq!(
        answer["policyDocument"]["Statement"][0]["Resource"],
        json!([literal])
    );
}

/// Issue 7, item 7: a 403 Deny carried `principalId: "anonymous"` although
/// the caller authenticated.
#[test]
fn a_forbidden_answer_names_the_authenticated_principal() {
    let state = state_default();
    let mut claims = good_claims(now());
    claims["scope"] = json!("profile");
    claims["sub"] = json!("bob");
    let bearer = format!("Bearer {}", mint("ed-1", &claims));
    for (name, mut event) in all_formats(&bearer) {
        if name == "rest-token" {
            event["methodArn"] =
                json!("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/GET/x");
        }
        let answer = call(&state, event).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(answer["principalId"], "bob", "{name}: {answer}");
        assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Deny");
    }
}

/// Issue 7, item 9: a REST REQUEST event with more than 32,768 headers
/// panicked inside the `http` crate (caught, a 500 and a non-JSON line on
/// stderr). Odd input is a malformed request, never a panic.
#[test]
fn an_event_with_too_many_headers_is_a_malformed_request() {
    let state = state_default();
    let bearer = format!("Bearer {}", good_token());
    for count in [40_000, 32_769, 1_025] {
        for (name, mut event) in all_formats(&bearer) {
            if name == "rest-token" {
                continue;
            }
            let headers = event["headers"].as_object_mut().unwrap();
            for i in 0..count {
                headers.insert(format!("x-h{i}"), json!("v"));
            }
            if name == "rest-request" {
                let multi = event["multiValueHeaders"].as_object_mut().unwrap();
                for i in 0..count {
                    multi.insert(format!("x-m{i}"), json!(["v"]));
                }
            }
            assert_eq!(
                call(&state, event),
                Err(unauthorized(DenyReason::Malformed)),
                "{name} with {count} extra headers"
            );
        }
    }
    // Within the limit: decided as usual.
    let mut event = rest_request_event(&bearer);
    let headers = event["headers"].as_object_mut().unwrap();
    for i in 0..500 {
        headers.insert(format!("x-h{i}"), json!("v"));
    }
    assert!(call(&state, event).is_ok());
}

/// Issue 7, item 10, in the Lambda door: a credential over the host's
/// limit is a malformed request (401) the module never sees, not a module
/// failure (500), in every format.
#[test]
fn an_oversized_credential_is_a_malformed_request() {
    let state = state_default();
    let limit = tollgate_host::request_limits::DEFAULT_MAX_CREDENTIAL_BYTES;
    let huge = format!("Bearer {}", "A".repeat(limit));
    for (name, event) in all_formats(&huge) {
        assert_eq!(
            call(&state, event),
            Err(unauthorized(DenyReason::Malformed)),
            "{name}"
        );
    }
    let huge = "A".repeat(8 * 1024 * 1024);
    assert_eq!(
        call(&state, token_event(&huge)),
        Err(unauthorized(DenyReason::Malformed))
    );
}

/// The method ARN left the request (WIT 0.3.0) but still counts towards the
/// request's text: a valid token with an ARN that takes the event over
/// `max_request_bytes` is a malformed request, never sent to the module.
#[test]
fn an_oversized_arn_counts_towards_the_request_limit() {
    let state = state_default();
    let limit = tollgate_host::request_limits::DEFAULT_MAX_REQUEST_BYTES;
    let bearer = format!("Bearer {}", good_token());
    let mut event = token_event(&bearer);
    let arn = format!(
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/{}",
        "a".repeat(limit)
    );
    event["methodArn"] = json!(arn);
    assert_eq!(
        call(&state, event),
        Err(unauthorized(DenyReason::Malformed))
    );
    // The same token with an ordinary ARN is allowed.
    assert!(call(&state, token_event(&bearer)).is_ok());
}

/// Issue 7, item 3: an event that failed to parse twice (an Authorization
/// value holding a NUL, `httpMethod` "G ET") gave an error log line and a
/// Lambda `errorMessage` quoting serde's error, which quoted the header
/// value: the whole token. Errors now name the field, never its value.
#[test]
fn an_unreadable_event_error_names_the_field_never_its_value() {
    let state = state_default();
    let token = good_token();
    let signature = token.rsplit('.').next().unwrap().to_string();
    let mut event = rest_request_event(&format!("Bearer {token}\u{0}"));
    event["httpMethod"] = json!("G ET");
    let err = call(&state, event).unwrap_err();
    let message = Diagnostic::from(err.clone()).error_message;
    assert!(matches!(err, HandlerError::InvalidEvent(_)), "{err:?}");
    assert_eq!(
        message,
        "invalid event: invalid rest-request authorizer event: field `httpMethod` has the wrong type or an invalid value"
    );
    assert!(
        !message.contains(&signature) && !message.contains("G ET"),
        "{message}"
    );
    // A value of the wrong type in a client-controlled map: its name is not
    // repeated either.
    let mut event = http_v2_event(&format!("Bearer {token}"));
    event["queryStringParameters"] = json!({ token.clone(): 5 });
    match call(&state, event) {
        Err(HandlerError::InvalidEvent(message)) => {
            assert!(!message.contains(&signature), "{message}");
            assert_eq!(
                message,
                "invalid http-2.0 authorizer event: field `queryStringParameters.<name>` has the wrong type or an invalid value"
            );
        }
        other => panic!("{other:?}"),
    }
    // A header value with control characters is no reason to fail: denied.
    let event = rest_request_event(&format!("Bearer {token}\u{0}"));
    assert!(matches!(
        call(&state, event),
        Err(HandlerError::Unauthorized { .. })
    ));
}

#[test]
fn keys_unavailable_and_module_failures_are_errors_not_unauthorized() {
    let state = state_default();
    state
        .active()
        .gate
        .authorizer()
        .keys()
        .mark_unavailable(ISSUER);
    for (name, event) in all_formats(&format!("Bearer {}", good_token())) {
        let err = call(&state, event).unwrap_err();
        assert!(
            matches!(err, HandlerError::KeysUnavailable(_)),
            "{name}: {err:?}"
        );
        let diagnostic = Diagnostic::from(err);
        assert_ne!(diagnostic.error_message, "Unauthorized");
        assert_eq!(diagnostic.error_type, "KeysUnavailable");
    }
}

#[test]
fn events_this_function_cannot_read_are_invalid_event_errors() {
    let state = state_default();
    let mut no_context = http_v1_event("Bearer x");
    no_context.as_object_mut().unwrap().remove("requestContext");
    let mut bad_arn = http_v2_event(&format!("Bearer {}", good_token()));
    bad_arn["routeArn"] = json!("arn:aws:lambda:us-east-1:1:function:f");
    let mut no_arn = token_event(&good_token());
    no_arn.as_object_mut().unwrap().remove("methodArn");
    for (what, event) in [
        ("empty object", json!({})),
        ("array", json!([1, 2])),
        ("string", json!("hello")),
        ("other type", json!({"type": "WEBHOOK"})),
        (
            "other version",
            json!({"type": "REQUEST", "version": "3.0"}),
        ),
        ("sqs", json!({"Records": []})),
        ("http 1.0 without requestContext", no_context),
        ("not an execute-api ARN", bad_arn),
        ("TOKEN without methodArn", no_arn),
    ] {
        let err = call(&state, event).unwrap_err();
        assert!(
            matches!(err, HandlerError::InvalidEvent(_)),
            "{what}: {err:?}"
        );
        assert_ne!(err.to_string(), "Unauthorized", "{what}");
    }
}

#[test]
fn odd_client_input_is_never_a_500() {
    let state = state_default();
    let token = good_token();
    let long = "a".repeat(100_000);
    let commas = ",".repeat(1000);
    let values = [
        String::new(),
        " ".into(),
        "Bearer".into(),
        "Bearer ".into(),
        "Basic dXNlcjpwYXNz".into(),
        format!("Bearer {long}"),
        format!("Bearer {commas}"),
        "Bearer ünïcödé.☃.💥".into(),
        format!("bearer    {token}   "),
        format!("Bearer {token}.x"),
        "Bearer \u{7f}".into(),
    ];
    for value in values {
        for (name, event) in all_formats(&value) {
            match call(&state, event) {
                Ok(_) | Err(HandlerError::Unauthorized { .. }) => {}
                Err(e) => panic!(
                    "{name} with {:?}: {e:?}",
                    value.chars().take(40).collect::<String>()
                ),
            }
        }
    }
    // Odd but valid headers, query strings, paths and cookies.
    let bearer = format!("Bearer {token}");
    let mut event = http_v2_event(&bearer);
    event["headers"]["x-ünïcode"] = json!("välue ☃");
    event["headers"]["x-empty"] = json!("");
    event["rawPath"] = json!("/a b/%2F/ü");
    event["cookies"] = json!(["a=b", "c=ü"]);
    event["queryStringParameters"] = json!({"q": "ü,☃", "": ""});
    assert!(call(&state, event).is_ok());
    let mut event = rest_request_event(&bearer);
    event["multiValueQueryStringParameters"] = json!({"a": ["1", "2"], "b": []});
    event["queryStringParameters"] = json!(null);
    event["headers"]["X-Weird"] = json!("tab\there");
    assert!(call(&state, event).is_ok());
}

#[test]
fn partition_account_api_and_default_stage_come_from_the_event() {
    let state = state_default();
    let bearer = format!("Bearer {}", good_token());
    let mut event = http_v2_event(&bearer);
    event["routeArn"] =
        json!("arn:aws-cn:execute-api:cn-north-1:111122223333:xyz789/$default/POST/orders");
    let answer = call(&state, event).unwrap();
    assert_eq!(
        answer["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws-cn:execute-api:cn-north-1:111122223333:xyz789/$default/*/*"])
    );
    let mut event = token_event(&bearer);
    event["methodArn"] =
        json!("arn:aws-us-gov:execute-api:us-gov-west-1:444455556666:gov1/prod/DELETE/orders/42");
    let answer = call(&state, event).unwrap();
    assert_eq!(
        answer["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws-us-gov:execute-api:us-gov-west-1:444455556666:gov1/prod/*/*"])
    );
}

/// An HTTP API's `$default` route has one route ARN for every path
/// (`…/<stage>/$default`), which no `…/<METHOD>/<path>` resource matches:
/// the Allow names it too.
#[test]
fn the_default_route_arn_is_allowed_when_the_grants_cover_the_request() {
    let state = state_default();
    let bearer = format!("Bearer {}", good_token());
    for (stage, path) in [("$default", "/anything/at/all"), ("prod", "/prod/x")] {
        let mut event = http_v2_event(&bearer);
        let route_arn = format!("arn:aws:execute-api:eu-west-1:111122223333:api1/{stage}/$default");
        event["routeArn"] = json!(route_arn);
        event["routeKey"] = json!("$default");
        event["rawPath"] = json!(path);
        event["requestContext"]["stage"] = json!(stage);
        let answer = call(&state, event).unwrap();
        assert_eq!(
            answer["policyDocument"]["Statement"][0]["Effect"],
            json!("Allow"),
            "{answer}"
        );
        assert_eq!(
            answer["policyDocument"]["Statement"][0]["Resource"],
            json!([
                format!("arn:aws:execute-api:eu-west-1:111122223333:api1/{stage}/$default"),
                format!("arn:aws:execute-api:eu-west-1:111122223333:api1/{stage}/*/*"),
            ]),
            "{answer}"
        );
    }
}

#[test]
fn each_event_maps_to_the_request_it_means() {
    let bearer = "Bearer abc.def.ghi".to_string();
    let now = 1_700_000_000;

    // TOKEN: credential raw, method and path from the method ARN.
    let mut event = token_event(&bearer);
    event["methodArn"] =
        json!("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/POST/orders/42/items");
    let request = to_request(&event, now);
    assert_eq!(request.token_sources, [TokenSource::Raw(bearer.clone())]);
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/orders/42/items")
    );
    assert_eq!(request.method_arn.as_deref(), event["methodArn"].as_str());
    assert_eq!(request.now, now);
    assert!(request.headers.is_empty() && request.source_ip.is_none());

    // REST REQUEST: headers lower-cased, query, source IP, method ARN.
    let event = rest_request_event(&bearer);
    let request = to_request(&event, now);
    assert_eq!(
        request.token_sources,
        [TokenSource::AuthorizationHeader(bearer.clone())]
    );
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/request")
    );
    assert!(
        request
            .headers
            .contains(&("headerauth1".into(), "headerValue1".into()))
    );
    assert!(
        request
            .headers
            .contains(&("authorization".into(), bearer.clone()))
    );
    assert!(
        request
            .headers
            .iter()
            .all(|(n, _)| *n == n.to_ascii_lowercase())
    );
    assert_eq!(
        request.query,
        [("QueryString1".to_string(), "queryValue1".to_string())]
    );
    assert_eq!(request.source_ip.as_deref(), Some("..."));
    assert_eq!(
        request.method_arn.as_deref(),
        Some("arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/GET/request")
    );

    // HTTP 1.0.
    let event = http_v1_event(&bearer);
    let request = to_request(&event, now);
    assert_eq!(
        request.token_sources,
        [TokenSource::AuthorizationHeader(bearer.clone())]
    );
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/request")
    );
    assert!(
        request
            .headers
            .contains(&("user-agent".into(), "...".into()))
    );
    assert_eq!(
        request.query,
        [("QueryString1".to_string(), "queryValue1".to_string())]
    );
    assert_eq!(request.source_ip.as_deref(), Some("..."));

    // HTTP 2.0: method and path from the route ARN (not the request
    // context and rawPath, which here say POST /my/path), cookies back as a
    // header.
    let event = http_v2_event(&bearer);
    let request = to_request(&event, now);
    assert_eq!(
        request.token_sources,
        [TokenSource::AuthorizationHeader(bearer.clone())]
    );
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/request")
    );
    assert!(
        request
            .headers
            .contains(&("header1".into(), "value1".into()))
    );
    assert!(
        request
            .headers
            .contains(&("cookie".into(), "cookie1; cookie2".into()))
    );
    assert_eq!(
        request.query,
        [
            ("parameter1".to_string(), "value1,value2".to_string()),
            ("parameter2".to_string(), "value".to_string())
        ]
    );
    assert_eq!(request.source_ip.as_deref(), Some("IP"));
    assert_eq!(
        request.method_arn.as_deref(),
        Some("arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request")
    );

    // HTTP 2.0 with null maps and no identity source: no credential, no query.
    let event = fixture("example-apigw-v2-custom-authorizer-v2-request-null-maps.json");
    let request = to_request(&event, now);
    assert!(request.query.is_empty());
    let event =
        fixture("example-apigw-v2-custom-authorizer-v2-request-without-identity-source.json");
    let request = to_request(&event, now);
    assert!(request.token_sources.is_empty());
}

#[test]
fn decisions_follow_the_clock() {
    // `handle` decides as of now: a token that expired a second ago is 401,
    // one expiring in a minute is allowed.
    let state = state_default();
    let now = now();
    let mut claims = good_claims(now - 600);
    claims["exp"] = json!(now - 1);
    let expired = mint("ec-1", &claims);
    claims["exp"] = json!(now + 60);
    let fresh = mint("ec-1", &claims);
    assert!(call(&state, token_event(&expired)).is_err());
    assert!(call(&state, token_event(&fresh)).is_ok());
    // The same expired token decided earlier is fine: `now` is what moved.
    let answer = block_on(tollgate_lambda::handle_at(
        &state,
        token_event(&expired),
        now - 10,
    ));
    assert!(answer.is_ok());
}

#[test]
fn http_api_paths_are_as_routed_without_a_named_stage() {
    // The ARN decides whenever it names a route, whatever the path fields say.
    let mut event = http_v2_event("Bearer x");
    event["requestContext"]["stage"] = json!("prod");
    event["routeArn"] = json!("arn:aws:execute-api:us-east-1:1:api/prod/GET/orders/42");
    event["rawPath"] = json!("/prod/public/1");
    assert_eq!(to_request(&event, 0).path, "/orders/42");
    // The `$default` route's ARN names no path: HTTP APIs put a named stage
    // in front of `rawPath` (2.0) and `path` (1.0); routes do not have it.
    event["routeArn"] = json!("arn:aws:execute-api:us-east-1:1:api/prod/$default");
    event["rawPath"] = json!("/prod/orders/42");
    let request = to_request(&event, 0);
    assert_eq!(request.path, "/orders/42");
    let mut event = http_v1_event("Bearer x");
    event["requestContext"]["stage"] = json!("prod");
    event["methodArn"] = json!("arn:aws:execute-api:us-east-1:1:api/prod/$default");
    event["path"] = json!("/prod/orders/42");
    let request = to_request(&event, 0);
    assert_eq!(request.path, "/orders/42");
    // REST API paths never carry the stage: left alone (a console test's
    // `*` ARN names no route, so `path` decides).
    let mut event = rest_request_event("Bearer x");
    event["requestContext"]["stage"] = json!("prod");
    event["methodArn"] = json!("arn:aws:execute-api:us-east-1:1:api/prod/*/*");
    event["path"] = json!("/prod/orders/42");
    let request = to_request(&event, 0);
    assert_eq!(request.path, "/prod/orders/42");
}

/// A path the host refuses (docs/paths.md) is an explicit Deny of exactly
/// the requested route for every format, with the reason in the context,
/// decided before the module; a simple response says `isAuthorized: false`.
/// Dot segments are refused too by default; a spelling that only merges
/// (`//request/`) is decided as the route it is.
#[test]
fn a_path_that_cannot_be_decided_safely_is_a_deny_of_that_route() {
    let policies = state_default();
    let bearer = format!("Bearer {}", good_token());
    let refused =
        "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/prod/GET/public/..%2Forders";
    for (name, mut event) in all_formats(&bearer) {
        let member = if name == "http-2.0" {
            "routeArn"
        } else {
            "methodArn"
        };
        event[member] = json!(refused);
        let answer = call(&policies, event).unwrap_or_else(|e| panic!("{name}: {e}"));
        let statement = &answer["policyDocument"]["Statement"][0];
        assert_eq!(statement["Effect"], "Deny", "{name}: {answer}");
        assert_eq!(statement["Resource"], json!([refused]), "{name}");
        assert_eq!(answer["context"]["reason"], "invalid-path", "{name}");
    }
    let simple = state(LambdaSettings {
        simple_response: true,
        ..LambdaSettings::default()
    });
    let mut event = http_v2_event(&bearer);
    event["routeArn"] = json!(refused);
    let answer = call(&simple, event).unwrap();
    assert_eq!(answer["isAuthorized"], false);
    assert_eq!(answer["context"]["reason"], "invalid-path");
    let dots = "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/prod/GET/x/../request";
    let mut event = rest_request_event(&bearer);
    event["methodArn"] = json!(dots);
    let answer = call(&state_default(), event).unwrap();
    let statement = &answer["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Deny", "{answer}");
    assert_eq!(statement["Resource"], json!([dots]));
    assert_eq!(answer["context"]["reason"], "invalid-path");
    // The same token on another spelling of an allowed route: allowed.
    let mut event = rest_request_event(&bearer);
    event["methodArn"] =
        json!("arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/prod/GET//request/");
    let answer = call(&state_default(), event).unwrap();
    assert_eq!(
        answer["policyDocument"]["Statement"][0]["Effect"], "Allow",
        "{answer}"
    );
}
