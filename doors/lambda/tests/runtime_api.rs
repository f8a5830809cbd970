//! End to end through a real Lambda Runtime API: `cargo lambda watch
//! --only-lambda-apis` serves the Runtime and invoke APIs on 127.0.0.1;
//! the test starts the already-built `bootstrap` against it, as Lambda
//! would (Lambda variables, a policy file, a module precompiled for this
//! architecture's baseline CPU), and invokes every event format with `cargo lambda
//! invoke` and with the HTTP invoke endpoint.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::runtime::Lambda;
use common::*;
use serde_json::{Value, json};

fn policy_resources(answer: &Value) -> Value {
    answer["policyDocument"]["Statement"][0]["Resource"].clone()
}

#[test]
fn bootstrap_answers_every_format_through_the_runtime_api() {
    let mut lambda = Lambda::start();
    let bearer = format!("Bearer {}", good_token());
    let stages = [
        (
            "rest-token",
            "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/*/*",
        ),
        (
            "rest-request",
            "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/*/*",
        ),
        (
            "http-1.0",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*/*",
        ),
        (
            "http-2.0",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*/*",
        ),
    ];

    // Allow: the IAM policy for the granted routes, with the context.
    for ((name, event), (_, resource)) in all_formats(&bearer).into_iter().zip(stages) {
        let answer = lambda
            .invoke(&event)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", lambda.logs()));
        assert_eq!(answer["principalId"], "alice", "{name}: {answer}");
        assert_eq!(
            answer["policyDocument"]["Statement"][0]["Effect"], "Allow",
            "{name}"
        );
        assert_eq!(policy_resources(&answer), json!([resource]), "{name}");
        assert_eq!(answer["context"], expected_context(), "{name}");
    }

    // 403: an explicit Deny of the requested route.
    let mut claims = good_claims(now());
    claims["scope"] = json!("profile");
    let no_scope = format!("Bearer {}", mint("ed-1", &claims));
    let answer = lambda.invoke(&rest_request_event(&no_scope)).unwrap();
    assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        policy_resources(&answer),
        json!(["arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/GET/request"])
    );

    // 401: the function error `Unauthorized`, in every format.
    let mut claims = good_claims(now() - 1000);
    claims["exp"] = json!(now() - 10);
    let expired = format!("Bearer {}", mint("rsa-1", &claims));
    for (name, event) in all_formats(&expired) {
        let error = lambda.invoke(&event).expect_err(name);
        assert!(error.contains("Unauthorized"), "{name}: {error}");
        let (status, body) = lambda.invoke_http(event.to_string().as_bytes());
        assert_ne!(status, 200, "{name}");
        assert_eq!(
            body,
            json!({"errorType": "Unauthorized", "errorMessage": "Unauthorized"}),
            "{name}"
        );
    }
}

#[test]
fn a_bad_event_is_an_error_and_the_function_keeps_serving() {
    let mut lambda = Lambda::start();
    let bearer = format!("Bearer {}", good_token());
    assert!(
        lambda.invoke(&token_event(&bearer)).is_ok(),
        "{}",
        lambda.logs()
    );

    // Not an authorizer event: a function error that is not `Unauthorized`.
    let (status, body) = lambda.invoke_http(br#"{"hello": "world"}"#);
    assert_ne!(status, 200);
    assert_eq!(body["errorType"], "InvalidEvent", "{body}");
    assert_ne!(body["errorMessage"], "Unauthorized");
    // Not even JSON: the runtime's own deserialization error.
    let (status, body) = lambda.invoke_http(b"this is not json");
    assert_ne!(status, 200, "{body}");
    assert_ne!(body["errorMessage"], "Unauthorized");

    // Still serving, every format.
    for (name, event) in all_formats(&bearer) {
        let answer = lambda
            .invoke(&event)
            .unwrap_or_else(|e| panic!("{name} after bad events: {e}\n{}", lambda.logs()));
        assert_eq!(answer["principalId"], "alice", "{name}");
    }
    lambda.function.assert_running();

    // One process served them all, from one init.
    let log = std::fs::read_to_string(lambda.scratch.path("function.err")).unwrap();
    assert_eq!(log.matches("loading the policy").count(), 1, "{log}");
    assert!(log.matches("\"outcome\":\"allow\"").count() >= 5, "{log}");
}
