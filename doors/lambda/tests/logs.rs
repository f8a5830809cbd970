//! Issue 7, items 2, 3 and 12: the built `bootstrap`, run through a real
//! Runtime API at every log level (and with filters that enable other
//! crates at `trace`), never writes a token, a signature or a secret to its
//! logs or its answers, and logs the same with `TOLLGATE_LOG=info` as with
//! the default.
//!
//! Before: at `trace`, `lambda_runtime` logged every raw event (the whole
//! token); an unreadable event's error quoted serde's message, which quoted
//! the header value; and an explicit `info` made `lambda_runtime` log every
//! 401 at `error`.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::runtime::Lambda;
use common::*;
use serde_json::{Value, json};
use tollgate_keys::Algorithm;
use tollgate_keys::mint::SigningKey;

/// The HS256 secret of the log tests' policy (48 random-looking bytes).
const SECRET: &[u8] = b"k3Yq8vLr0Zc2Wx9Tn4Bf6Hs1Jd7Pm5Ua-log-test-secret";

/// The test policy plus an HS256 issuer whose secret is [`SECRET`].
fn write_policy_with_secret(dir: &Path) -> PathBuf {
    let path = write_policy(dir);
    std::fs::write(dir.join("hs.secret"), SECRET).expect("write the secret");
    let mut text = std::fs::read_to_string(&path).expect("read the policy");
    text.push_str(
        r#"
[[issuer]]
issuer = "urn:example:batch"
algorithms = ["HS256"]
audiences = ["orders-api"]

[[issuer.secrets]]
kid = "hs"
file = "hs.secret"
algorithm = "HS256"
"#,
    );
    std::fs::write(&path, text).expect("write the policy");
    path
}

fn hs_token() -> String {
    let key = SigningKey::from_secret(Algorithm::Hs256, "hs", SECRET).expect("HS256 key");
    let now = now();
    key.sign_jwt(
        &json!({"iss": "urn:example:batch", "sub": "batch", "aud": AUDIENCE, "iat": now, "exp": now + 300}),
        None,
    )
    .expect("sign")
}

/// What must never be printed: each token, its signature, and the secret
/// in the forms it could be printed in.
fn forbidden(tokens: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for token in tokens {
        out.push(("a token".into(), token.clone()));
        let signature = token.rsplit('.').next().unwrap_or_default();
        if signature.len() >= 16 {
            out.push(("a signature".into(), signature.to_string()));
        }
    }
    out.push((
        "the secret".into(),
        String::from_utf8_lossy(SECRET).into_owned(),
    ));
    out.push((
        "the secret (base64url)".into(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET),
    ));
    out.push((
        "the secret (base64)".into(),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(SECRET),
    ));
    out.push((
        "the secret (hex)".into(),
        SECRET.iter().map(|b| format!("{b:02x}")).collect(),
    ));
    out
}

/// Every invocation the log tests make: allows, 401s, a 403, a forged
/// identity source, an unreadable event holding the token, too many
/// headers, not even JSON. Returns the tokens used.
fn exercise(lambda: &mut Lambda) -> (Vec<String>, Vec<String>) {
    let es = good_token();
    let hs = hs_token();
    let mut claims = good_claims(now());
    claims["scope"] = json!("profile");
    let no_scope = mint("rsa-1", &claims);
    let bad_signature = mint("attacker-rsa", &good_claims(now()));
    let tokens = vec![
        es.clone(),
        hs.clone(),
        no_scope.clone(),
        bad_signature.clone(),
    ];
    let mut bodies = Vec::new();
    let mut send = |lambda: &mut Lambda, event: Value| {
        let (_, body) = lambda.invoke_http(event.to_string().as_bytes());
        bodies.push(body.to_string());
    };
    for token in [&es, &hs, &no_scope, &bad_signature] {
        for (_, event) in all_formats(&format!("Bearer {token}")) {
            send(lambda, event);
        }
    }
    // An HS token in the identity source only, and one beside a forged value.
    let mut event = http_v2_event(&format!("Bearer {hs}"));
    event["identitySource"] = json!(["forged.value.here"]);
    send(lambda, event);
    // Unreadable: a NUL in the Authorization value and a bad method.
    let mut event = rest_request_event(&format!("Bearer {es}\u{0}"));
    event["httpMethod"] = json!("G ET");
    send(lambda, event);
    // The token where a number belongs, in a client-controlled map.
    let mut event = http_v2_event(&format!("Bearer {hs}"));
    event["queryStringParameters"] = json!({ hs.clone(): 1 });
    send(lambda, event);
    // Too many headers.
    let mut event = rest_request_event(&format!("Bearer {es}"));
    let headers = event["headers"].as_object_mut().expect("headers");
    for i in 0..2000 {
        headers.insert(format!("x-h{i}"), json!(hs));
    }
    send(lambda, event);
    // Not even JSON, holding a token.
    let (_, body) = lambda.invoke_http(format!("not json {es}").as_bytes());
    bodies.push(body.to_string());
    lambda.function.assert_running();
    (tokens, bodies)
}

/// The function's log lines after [`exercise`], as JSON.
fn run_at(level: Option<&str>) -> (Vec<Value>, String, Vec<String>, Vec<String>) {
    let mut lambda = Lambda::start_with(&write_policy_with_secret, &[("TOLLGATE_LOG", level)]);
    let (tokens, bodies) = exercise(&mut lambda);
    // One more allow, answered only after everything before it was logged.
    let answer = lambda
        .invoke(&token_event(&good_token()))
        .unwrap_or_else(|e| panic!("{e}\n{}", lambda.logs()));
    assert_eq!(answer["principalId"], "alice");
    let text = std::fs::read_to_string(lambda.scratch.path("function.err")).expect("function log");
    let lines = text
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{level:?}: not a JSON log line ({e}): {line}"))
        })
        .collect();
    (lines, text, tokens, bodies)
}

#[test]
fn no_token_signature_or_secret_reaches_the_logs_at_any_level() {
    for level in [
        Some("error"),
        Some("warn"),
        Some("info"),
        Some("debug"),
        Some("trace"),
        Some("lambda_runtime=trace"),
        Some(
            "trace,lambda_runtime=trace,lambda_runtime_api_client=trace,hyper=trace,hyper_util=trace,h2=trace,tonic=trace,reqwest=trace,rustls=trace,tokio=trace",
        ),
        None,
    ] {
        let (lines, text, tokens, bodies) = run_at(level);
        for (what, needle) in forbidden(&tokens) {
            assert!(
                !text.contains(&needle),
                "{level:?}: {what} in the logs:\n{text}"
            );
            for body in &bodies {
                assert!(
                    !body.contains(&needle),
                    "{level:?}: {what} in an answer: {body}"
                );
            }
        }
        for line in &lines {
            let target = line["target"].as_str().unwrap_or_default();
            let severity = line["level"].as_str().unwrap_or_default();
            assert!(
                tollgate_host::logging::is_own_target(target)
                    || severity == "WARN"
                    || severity == "ERROR",
                "{level:?}: another crate logged below warn: {line}"
            );
            assert!(
                !target.starts_with("lambda_runtime::layers::panic"),
                "{level:?}: lambda_runtime reported a handler error: {line}"
            );
        }
        // Not vacuous: at info and below, the answers are logged.
        if matches!(level, Some("info" | "debug" | "trace") | None) {
            assert!(
                lines
                    .iter()
                    .filter(|l| l["fields"]["message"] == "answered")
                    .count()
                    >= 16,
                "{level:?}: answers missing from the logs:\n{text}"
            );
        }
    }
}

/// Item 12: `TOLLGATE_LOG=info` (the documented default) and no setting
/// log the same lines; neither logs each 401 at `error`.
#[test]
fn an_explicit_info_logs_exactly_what_the_default_does() {
    let shape = |lines: &[Value]| {
        let mut shape: Vec<String> = lines
            .iter()
            .map(|l| {
                format!(
                    "{} {} {}",
                    l["level"].as_str().unwrap_or_default(),
                    l["target"].as_str().unwrap_or_default(),
                    l["fields"]["message"].as_str().unwrap_or_default()
                )
            })
            .collect();
        shape.sort();
        shape
    };
    let (default, default_text, ..) = run_at(None);
    let (info, info_text, ..) = run_at(Some("info"));
    assert_eq!(
        shape(&default),
        shape(&info),
        "default:\n{default_text}\ninfo:\n{info_text}"
    );
    // The two unreadable events and the body that is not JSON are errors;
    // no 401 is.
    let mut errors: Vec<(String, String)> = info
        .iter()
        .filter(|l| l["level"] == "ERROR")
        .map(|l| {
            (
                l["target"].as_str().unwrap_or_default().to_string(),
                l["fields"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    errors.sort();
    let unreadable = (
        "tollgate_lambda".to_string(),
        "cannot read the invocation event".to_string(),
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
    // Sorted: lambda_runtime's report of the body that is not JSON first.
    assert_eq!(
        errors[0].0, "lambda_runtime::layers::api_response",
        "{errors:#?}"
    );
    assert_eq!(errors[1..], [unreadable.clone(), unreadable], "{errors:#?}");
}
